//! The administrator's sysctl allowlist, `/etc/cni/tuning/allowlist.conf`.
//!
//! Each trimmed, non-empty line is a regular expression matched anywhere in the raw key (as
//! written in the config, before `IFNAME` is replaced); every key must match one of them.
//! No file allows everything. Checked on ADD only.
//!
//! The path is a constant on purpose: an override (environment variable, flag) would let
//! whoever writes a plugin's environment lift the administrator's restriction. The tests run
//! the binary in a private mount namespace instead, where a scratch /etc holds their list.

use std::path::Path;

use libcni::CniError;

pub const PATH: &str = "/etc/cni/tuning/allowlist.conf";

/// The most of the list we read (Go reads any amount: `/dev/zero` there never ends). A list
/// is a handful of patterns.
const MAX_SIZE: u64 = 1 << 20;

/// Refuses the first key no line matches, with Go's text.
pub fn check<'a>(keys: impl IntoIterator<Item = &'a str>) -> Result<(), CniError> {
    let Some(lines) = read(Path::new(PATH))? else {
        return Ok(());
    };
    for key in keys {
        if !matches_any(key, &lines)? {
            return Err(CniError::internal(format!(
                "Sysctl {key} is not allowed. Only the following sysctls are allowed: [{}]",
                lines.join(" ")
            )));
        }
    }
    Ok(())
}

/// The list's lines, or None when there is no file. Any other failure to read is an error,
/// and so is a file over [`MAX_SIZE`]; reading never blocks (`libcni::fs`).
fn read(path: &Path) -> Result<Option<Vec<String>>, CniError> {
    let bytes = match libcni::fs::read_bounded(path, MAX_SIZE) {
        Ok(bytes) => bytes,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(CniError::internal(e.to_string())),
    };
    Ok(Some(
        String::from_utf8_lossy(&bytes)
            .split('\n')
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(String::from)
            .collect(),
    ))
}

/// Patterns are compiled in order and only until one matches, like Go's loop of
/// `regexp.MatchString`: a bad pattern after a matching one is never noticed.
fn matches_any(key: &str, patterns: &[String]) -> Result<bool, CniError> {
    for pattern in patterns {
        let re = crate::regex::Regex::new(pattern)
            .map_err(|e| CniError::internal(format!("error parsing regexp: {e}")))?;
        if re.is_match(key) {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn patterns_are_unanchored_and_tried_in_order() {
        let l = list(&[r"^net\.ipv4\.conf\.all\.[a-z_]*$", "somaxconn"]);
        assert!(matches_any("net.ipv4.conf.all.log_martians", &l).unwrap());
        assert!(matches_any("net.core.somaxconn", &l).unwrap());
        assert!(!matches_any("net.ipv4.conf.other.log_martians", &l).unwrap());
        // Stops at the first match: the broken pattern behind it is never compiled.
        assert!(matches_any("net.core.somaxconn", &list(&["somaxconn", "("])).unwrap());
        let err = matches_any("net.x", &list(&["somaxconn", "("])).unwrap_err();
        assert_eq!(err.msg, "error parsing regexp: missing closing ): `(`");
    }

    #[test]
    fn reads_trimmed_non_empty_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allowlist.conf");
        assert_eq!(read(&path).unwrap(), None);
        std::fs::write(&path, "  a \n\n\tb\r\n   \n").unwrap();
        assert_eq!(read(&path).unwrap(), Some(list(&["a", "b"])));
        let err = read(dir.path()).unwrap_err();
        assert_eq!(
            err.msg,
            format!("read {}: is a directory", dir.path().display())
        );
    }
}
