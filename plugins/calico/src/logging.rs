//! Calico's plugin logging: to stderr (never stdout, which carries the result) and, with
//! `log_file_path`, to that file (parent made 0755, file 0644) with size rotation in the spirit
//! of lumberjack: past `log_file_max_size` MB the file is renamed `<name>-<unix seconds>` and
//! only the newest `log_file_max_count` such backups are kept.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::NetConf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 0,
    Info = 1,
    Debug = 2,
}

struct Logger {
    level: Level,
    file: Option<fs::File>,
}

static LOGGER: Mutex<Option<Logger>> = Mutex::new(None);

/// `debug`, `info`, `error` (any case); anything else is info, as in Calico.
pub fn parse_level(s: &str) -> Level {
    match s.to_ascii_lowercase().as_str() {
        "debug" => Level::Debug,
        "error" => Level::Error,
        _ => Level::Info,
    }
}

pub fn init(conf: &NetConf) {
    let level = parse_level(&conf.log_level);
    let file = if conf.log_file_path.is_empty() {
        None
    } else {
        open(conf)
    };
    if let Ok(mut g) = LOGGER.lock() {
        *g = Some(Logger { level, file });
    }
}

fn open(conf: &NetConf) -> Option<fs::File> {
    let path = Path::new(&conf.log_file_path);
    if let Some(parent) = path.parent() {
        let _ = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent);
    }
    let max_mb = if conf.log_file_max_size > 0 {
        conf.log_file_max_size
    } else {
        100
    };
    if fs::metadata(path).is_ok_and(|m| m.len() >= (max_mb as u64) << 20) {
        rotate(path, conf);
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .open(path)
        .ok()
}

fn rotate(path: &Path, conf: &NetConf) {
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
    let max_count = if conf.log_file_max_count > 0 {
        conf.log_file_max_count as usize
    } else {
        10
    };
    let max_age = if conf.log_file_max_age > 0 {
        conf.log_file_max_age as u64
    } else {
        30
    } * 86_400;
    let mut backups: Vec<(u64, std::path::PathBuf)> = fs::read_dir(dir)
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
        if i >= max_count || now.saturating_sub(*ts) > max_age {
            let _ = fs::remove_file(p);
        }
    }
}

pub fn log(level: Level, msg: &str) {
    let Ok(mut g) = LOGGER.lock() else { return };
    let Some(logger) = g.as_mut() else { return };
    if level > logger.level {
        return;
    }
    let tag = match level {
        Level::Error => "ERROR",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
    };
    let ts = datastore::time::rfc3339(SystemTime::now());
    let line = format!("{ts} [{tag}][{}] calico: {msg}\n", std::process::id());
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Some(f) = logger.file.as_mut() {
        let _ = f.write_all(line.as_bytes());
    }
}

macro_rules! info {
    ($($t:tt)*) => { $crate::logging::log($crate::logging::Level::Info, &format!($($t)*)) };
}
macro_rules! debug {
    ($($t:tt)*) => { $crate::logging::log($crate::logging::Level::Debug, &format!($($t)*)) };
}
macro_rules! warning {
    ($($t:tt)*) => { $crate::logging::log($crate::logging::Level::Error, &format!($($t)*)) };
}
pub(crate) use {debug, info, warning};
