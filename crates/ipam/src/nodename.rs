//! Which Calico node this host is, as the Calico plugins decide it (`DetermineNodename`):
//! `nodename` → the contents of `nodename_file` (default `/var/lib/calico/nodename`, read
//! verbatim) → `hostname` (deprecated) → the OS host name, lower-cased and trimmed.

use std::path::Path;

use serde::Deserialize;

pub const DEFAULT_NODENAME_FILE: &str = "/var/lib/calico/nodename";
const NODENAME_FILE_LIMIT: u64 = 64 << 10;

/// The NetConf keys that name the node (decode with `libcni::ci` for Go's key matching).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NodenameConf {
    #[serde(default)]
    pub nodename: String,
    #[serde(default)]
    pub nodename_file: String,
    #[serde(default)]
    pub hostname: String,
}

pub fn determine(conf: &NodenameConf) -> String {
    if !conf.nodename.is_empty() {
        return conf.nodename.clone();
    }
    let file = if conf.nodename_file.is_empty() {
        DEFAULT_NODENAME_FILE
    } else {
        &conf.nodename_file
    };
    // Bounded: a node name is at most 253 bytes; a file far larger (or endless) is no name.
    if let Ok(bytes) = libcni::fs::read_bounded(Path::new(file), NODENAME_FILE_LIMIT) {
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    if !conf.hostname.is_empty() {
        return conf.hostname.clone();
    }
    os_hostname().trim().to_lowercase()
}

/// `uname -n`.
pub fn os_hostname() -> String {
    // SAFETY: utsname is plain data; uname fills it.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut uts) } != 0 {
        return String::new();
    }
    let bytes: Vec<u8> = uts
        .nodename
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nodename");
        std::fs::write(&file, "from-file").unwrap();
        let mut c = NodenameConf {
            nodename: "explicit".into(),
            nodename_file: file.display().to_string(),
            hostname: "deprecated".into(),
        };
        assert_eq!(determine(&c), "explicit");
        c.nodename.clear();
        assert_eq!(determine(&c), "from-file");
        c.nodename_file = dir.path().join("absent").display().to_string();
        assert_eq!(determine(&c), "deprecated");
        c.hostname.clear();
        assert_eq!(determine(&c), os_hostname().trim().to_lowercase());
    }
}
