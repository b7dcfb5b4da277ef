//! The one error type of netkit.
//!
//! Texts follow the Go reference plugins (containernetworking/plugins' `ns`
//! package and Go's `syscall.Errno` strings) wherever the Go code produces a
//! message of its own, because plugins built on netkit are tested
//! differentially against the Go binaries. netkit knows nothing of CNI error
//! codes: plugins map these variants to codes themselves.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetkitError {
    /// The netns path does not exist (Go: `ns.NSPathNotExistErr`).
    #[error("failed to Statfs {}: no such file or directory", go_quote(.path.as_os_str()))]
    NetnsNotFound { path: PathBuf },

    /// statfs(2) on the netns path failed for another reason.
    #[error("failed to Statfs {}: {}", go_quote(.path.as_os_str()), strerror(*.errno))]
    Statfs { path: PathBuf, errno: i32 },

    /// The path exists but is not a namespace file (Go: `ns.NSPathNotNSErr`).
    /// `magic` prints as Go's `%x`: lowercase hex without `0x`.
    #[error("unknown FS magic on {}: {magic:x}", go_quote(.path.as_os_str()))]
    NotNetns { path: PathBuf, magic: u64 },

    /// A file operation failed; prints like Go's `*os.PathError`
    /// (`open /proc/sys/x: no such file or directory`).
    #[error("{op} {}: {}", .path.display(), io_message(.source))]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    /// setns(2) into the namespace failed (Go's `ns.Set` text).
    #[error("Error switching to ns {}: {}", .path.display(), strerror(*.errno))]
    Setns { path: PathBuf, errno: i32 },

    #[error("failed to spawn a thread: {0}")]
    Thread(#[source] io::Error),

    #[error("failed to build the netlink runtime: {0}")]
    Runtime(#[source] io::Error),

    #[error("failed to open a netlink socket: {0}")]
    Socket(#[source] io::Error),

    /// A netlink request failed. `errno` is set when the kernel answered with
    /// an error code; `message` is then its Go-style text ("file exists").
    #[error("{op}: {message}")]
    Netlink {
        op: &'static str,
        errno: Option<i32>,
        message: String,
    },

    #[error("invalid sysctl key {key:?}")]
    InvalidSysctlKey { key: String },

    /// The kernel answered with something netkit cannot represent.
    #[error("{0}")]
    Unexpected(String),
}

impl NetkitError {
    /// The OS error number behind this error, if there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::NetnsNotFound { .. } => Some(libc::ENOENT),
            Self::Statfs { errno, .. } | Self::Setns { errno, .. } => Some(*errno),
            Self::Netlink { errno, .. } => *errno,
            Self::Io { source, .. }
            | Self::Thread(source)
            | Self::Runtime(source)
            | Self::Socket(source) => source.raw_os_error(),
            _ => None,
        }
    }

    /// The object being created already exists (EEXIST), e.g. an address or
    /// route that is already there, or a link name that is taken.
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(libc::EEXIST)
    }

    /// The object does not exist. The kernel says so with different numbers
    /// depending on the object: ENODEV (link), EADDRNOTAVAIL (address), ESRCH
    /// (route), ENOENT (files, some route tables).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.errno(),
            Some(libc::ENOENT | libc::ENODEV | libc::ESRCH | libc::EADDRNOTAVAIL)
        )
    }

    /// Wraps an rtnetlink error, keeping the kernel's errno when there is one.
    pub(crate) fn netlink(op: &'static str, err: rtnetlink::Error) -> Self {
        match err {
            rtnetlink::Error::NetlinkError(msg) if msg.raw_code() != 0 => {
                // The kernel sends negative errnos.
                let errno = msg.raw_code().abs();
                Self::Netlink {
                    op,
                    errno: Some(errno),
                    message: strerror(errno),
                }
            }
            // Described by hand: rtnetlink's Display prints unexpected messages with `{:?}`,
            // which would link the Debug impls of every netlink message type into each plugin.
            other => Self::Netlink {
                op,
                errno: None,
                message: describe(&other),
            },
        }
    }
}

fn describe(err: &rtnetlink::Error) -> String {
    match err {
        rtnetlink::Error::UnexpectedMessage(_) => "received an unexpected netlink message".into(),
        rtnetlink::Error::NetlinkError(_) => "received a netlink error message".into(),
        rtnetlink::Error::RequestFailed => "a netlink request failed".into(),
        rtnetlink::Error::NamespaceError(e) => format!("namespace error {e}"),
        rtnetlink::Error::InvalidHardwareAddress(_) => "invalid hardware address".into(),
        rtnetlink::Error::InvalidIp(_) => "invalid IP address".into(),
        rtnetlink::Error::InvalidAddress(_, _) => "invalid address".into(),
        rtnetlink::Error::InvalidNla(e) => format!("invalid netlink attribute: {e}"),
    }
}

/// Go's texts for errno values and I/O errors, shared with libcni.
pub use libcni::error::{errno_text as strerror, io_error_text as io_message};

/// Quotes like Go's `%q` / `strconv.Quote`, so paths in messages match the
/// Go plugins byte for byte; libcni's, on the path's raw bytes.
pub fn go_quote(s: &OsStr) -> String {
    libcni::json::go_quote_bytes(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn go_quote_escapes_like_strconv_quote() {
        assert_eq!(
            go_quote(OsStr::new("/var/run/netns/a")),
            r#""/var/run/netns/a""#
        );
        assert_eq!(go_quote(OsStr::new("a\"b\\c")), r#""a\"b\\c""#);
        assert_eq!(go_quote(OsStr::new("tab\there\n")), r#""tab\there\n""#);
        assert_eq!(go_quote(OsStr::new("\x01")), r#""\x01""#);
        assert_eq!(go_quote(OsStr::new("héllo")), "\"héllo\"");
        assert_eq!(go_quote(OsStr::from_bytes(b"a\xffb")), r#""a\xffb""#);
    }

    #[test]
    fn error_predicates() {
        let exists = NetkitError::Netlink {
            op: "address add",
            errno: Some(libc::EEXIST),
            message: strerror(libc::EEXIST),
        };
        assert!(exists.is_exists());
        assert!(!exists.is_not_found());
        assert_eq!(exists.to_string(), "address add: file exists");

        for errno in [libc::ENOENT, libc::ENODEV, libc::ESRCH, libc::EADDRNOTAVAIL] {
            let err = NetkitError::Netlink {
                op: "x",
                errno: Some(errno),
                message: strerror(errno),
            };
            assert!(err.is_not_found(), "errno {errno}");
        }

        let missing = NetkitError::NetnsNotFound {
            path: "/nope".into(),
        };
        assert!(missing.is_not_found());
    }

    #[test]
    fn io_error_prints_like_go_path_error() {
        let err = NetkitError::Io {
            op: "open",
            path: "/proc/sys/net/nope".into(),
            source: io::Error::from_raw_os_error(libc::ENOENT),
        };
        assert_eq!(
            err.to_string(),
            "open /proc/sys/net/nope: no such file or directory"
        );
    }
}
