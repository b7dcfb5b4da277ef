//! Kernel parameters under `/proc/sys`.
//!
//! `/proc/sys/net/*` shows the network namespace of the thread that *opens*
//! the file. To read or write a container's knobs, call these inside
//! `ns.run(|| sysctl_set(..))`; called elsewhere they act on the host.
//!
//! These are plain reads and writes of `/proc/sys` (as netavark does) rather
//! than the `sysctl` crate, because on Linux that crate:
//! - turns every `/` of a key into `.` and back, so a key naming an
//!   interface with a dot (`net/ipv4/conf/eth0.100/forwarding`) cannot be
//!   expressed;
//! - opens the file for reading before any write and re-reads it after, so
//!   write-only knobs (`net.ipv4.route.flush`) fail;
//! - trims all surrounding whitespace from values.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use libcni::fs::ReadError;

use crate::{NetkitError, Result};

const PROC_SYS: &str = "/proc/sys";

/// Maps a sysctl key to its file under `/proc/sys`.
///
/// Keys use the sysctl(8) convention, also used by the Go plugins: the
/// first separator decides. With dots (`net.ipv4.conf.eth0/100.forwarding`)
/// dots separate and a `/` stands for a literal dot; with slashes
/// (`net/ipv4/conf/eth0.100/forwarding`) slashes separate and dots are
/// literal. A full `/proc/sys/...` path is accepted too.
pub fn sysctl_path(key: &str) -> Result<PathBuf> {
    let invalid = || NetkitError::InvalidSysctlKey {
        key: key.to_string(),
    };
    let relative = match key.strip_prefix(PROC_SYS) {
        Some(rest) => rest.strip_prefix('/').ok_or_else(invalid)?,
        None => key,
    };

    let dotted = relative.find(['.', '/']).map(|i| relative.as_bytes()[i]) == Some(b'.');
    let normal: String = if dotted {
        relative
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect()
    } else {
        relative.to_string()
    };

    // Every component must be a real name, so the key can't climb out of
    // /proc/sys or name a directory.
    if normal
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(invalid());
    }
    Ok(Path::new(PROC_SYS).join(normal))
}

/// The most a sysctl value may hold: the longest (`net.ipv4.tcp_available_congestion_control`
/// and the like) are a few hundred bytes.
const VALUE_LIMIT: u64 = 1 << 20;

/// Reads a sysctl, without the trailing newline. Bounded and non-blocking like every read
/// of a path a config names (`libcni::fs`), though /proc/sys holds nothing endless today.
pub fn sysctl_get(key: &str) -> Result<String> {
    let path = sysctl_path(key)?;
    let bytes = libcni::fs::read_bounded(&path, VALUE_LIMIT).map_err(|e| match e {
        ReadError::Open { source, .. } => NetkitError::Io {
            op: "open",
            path: path.clone(),
            source,
        },
        ReadError::Read { source, .. } => NetkitError::Io {
            op: "read",
            path: path.clone(),
            source,
        },
        other => NetkitError::Unexpected(other.to_string()),
    })?;
    let mut value = String::from_utf8_lossy(&bytes).into_owned();
    if value.ends_with('\n') {
        value.pop();
    }
    Ok(value)
}

/// Writes a sysctl with one write(2), as `echo -n value > file` would.
pub fn sysctl_set(key: &str, value: &str) -> Result<()> {
    let path = sysctl_path(key)?;
    let mut file = OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|source| NetkitError::Io {
            op: "open",
            path: path.clone(),
            source,
        })?;
    file.write_all(value.as_bytes())
        .map_err(|source| NetkitError::Io {
            op: "write",
            path,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(key: &str) -> String {
        sysctl_path(key).unwrap().display().to_string()
    }

    #[test]
    fn dotted_and_slashed_keys() {
        assert_eq!(path("net.ipv4.ip_forward"), "/proc/sys/net/ipv4/ip_forward");
        assert_eq!(path("net/ipv4/ip_forward"), "/proc/sys/net/ipv4/ip_forward");
        assert_eq!(
            path("/proc/sys/net/ipv4/ip_forward"),
            "/proc/sys/net/ipv4/ip_forward"
        );
        // Interface names with dots, both conventions.
        assert_eq!(
            path("net.ipv4.conf.eth0/100.forwarding"),
            "/proc/sys/net/ipv4/conf/eth0.100/forwarding"
        );
        assert_eq!(
            path("net/ipv4/conf/eth0.100/forwarding"),
            "/proc/sys/net/ipv4/conf/eth0.100/forwarding"
        );
    }

    #[test]
    fn bad_keys_are_rejected() {
        for key in [
            "",
            "net..ipv4",
            "net.ipv4.",
            "net/../../etc/passwd",
            "/proc/sys",
            "/proc/sysfoo/x",
            "/etc/passwd",
            "net/./ipv4",
        ] {
            let err = sysctl_path(key).unwrap_err();
            assert!(
                matches!(err, NetkitError::InvalidSysctlKey { .. }),
                "{key:?}: {err:?}"
            );
        }
    }

    #[test]
    fn reads_drop_only_the_trailing_newline() {
        // Readable by anyone, present on every Linux: "<min>\t<default>\t<max>".
        let value = sysctl_get("net.ipv4.tcp_rmem").unwrap();
        assert!(!value.ends_with('\n'));
        assert_eq!(value.split('\t').count(), 3, "{value:?}");
    }

    #[test]
    fn missing_key_prints_like_go() {
        let err = sysctl_get("net.ipv4.no_such_knob").unwrap_err();
        assert!(err.is_not_found());
        assert_eq!(
            err.to_string(),
            "open /proc/sys/net/ipv4/no_such_knob: no such file or directory"
        );
    }
}
