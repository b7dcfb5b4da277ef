//! Size rotation in the spirit of lumberjack (Calico's log file writer), checked once when a
//! plugin starts: a file of `log_file_max_size` MB or more is renamed `<name>-<unix seconds>`,
//! and of those backups only the newest `log_file_max_count`, none older than
//! `log_file_max_age` days, are kept.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::Settings;

pub(crate) fn if_full(path: &Path, settings: &Settings) {
    if fs::metadata(path).is_ok_and(|m| m.len() >= settings.max_bytes()) {
        rotate(path, settings);
    }
}

fn rotate(path: &Path, settings: &Settings) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let backup = format!("{}-{now}", path.display());
    if fs::rename(path, &backup).is_err() {
        return;
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!("{}-", name.to_string_lossy());
    let mut backups: Vec<(u64, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let ts = n.strip_prefix(&prefix)?.parse::<u64>().ok()?;
            Some((ts, e.path()))
        })
        .collect();
    backups.sort_by_key(|b| std::cmp::Reverse(b.0));
    for (i, (ts, p)) in backups.iter().enumerate() {
        if i >= settings.max_count() || now.saturating_sub(*ts) > settings.max_age_secs() {
            let _ = fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_is_renamed_and_old_backups_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("cni.log");
        let settings = Settings {
            log_file_max_size: 1,
            log_file_max_count: 2,
            ..Settings::default()
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        // Two recent backups (one too many once a third comes) and one past 30 days.
        for age in [10, 20, 31 * 86_400] {
            fs::write(dir.path().join(format!("cni.log-{}", now - age)), b"old").unwrap();
        }
        fs::write(&log, vec![b'x'; (1 << 20) - 1]).unwrap();
        if_full(&log, &settings);
        assert!(log.exists(), "under the size: kept");
        fs::write(&log, vec![b'x'; 1 << 20]).unwrap();
        if_full(&log, &settings);
        assert!(!log.exists());
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left.contains(&format!("cni.log-{}", now - 10)), "{left:?}");
        assert!(!left.contains(&format!("cni.log-{}", now - 20)), "{left:?}");
    }
}
