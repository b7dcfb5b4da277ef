//! The CNI error result (`{code, msg, details}`) and the well-known codes.

use std::fmt;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Well-known error codes (spec §"Error"; 8 and 999 are Go extensions).
pub mod code {
    pub const UNKNOWN: u32 = 0;
    pub const INCOMPATIBLE_CNI_VERSION: u32 = 1;
    pub const UNSUPPORTED_FIELD: u32 = 2;
    pub const UNKNOWN_CONTAINER: u32 = 3;
    pub const INVALID_ENVIRONMENT_VARIABLES: u32 = 4;
    pub const IO_FAILURE: u32 = 5;
    pub const DECODING_FAILURE: u32 = 6;
    pub const INVALID_NETWORK_CONFIG: u32 = 7;
    pub const INVALID_NETNS: u32 = 8;
    pub const TRY_AGAIN_LATER: u32 = 11;
    pub const PLUGIN_NOT_AVAILABLE: u32 = 50;
    pub const LIMITED_CONNECTIVITY: u32 = 51;
    pub const INTERNAL: u32 = 999;
}

/// A CNI error as it travels on a plugin's stdout. Go's `types.Error` has no `cniVersion`, so
/// neither does this; `details` is left out when empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniError {
    pub code: u32,
    pub msg: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
}

impl CniError {
    pub fn new(code: u32, msg: impl Into<String>) -> Self {
        CniError {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    pub fn with_details(code: u32, msg: impl Into<String>, details: impl Into<String>) -> Self {
        CniError {
            code,
            msg: msg.into(),
            details: details.into(),
        }
    }

    /// Any plugin failure that has no CNI code of its own (Go's skel wraps these into 999).
    pub fn internal(msg: impl fmt::Display) -> Self {
        CniError::new(code::INTERNAL, msg.to_string())
    }

    /// The error JSON exactly as Go's skel prints it: 4-space indent, no trailing newline.
    pub fn to_json(&self) -> String {
        crate::json::to_indented(self)
    }

    pub fn code(&self) -> u32 {
        self.code
    }
}

impl fmt::Display for CniError {
    /// Go's `Error()`: the message, then `; details` when there are details.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.details.is_empty() {
            f.write_str(&self.msg)
        } else {
            write!(f, "{}; {}", self.msg, self.details)
        }
    }
}

impl std::error::Error for CniError {}

/// Implemented by the typed error enums of the suite's crates so a plugin can turn any of them
/// into a CNI error with the right code.
pub trait CniCode: fmt::Display {
    fn code(&self) -> u32 {
        code::INTERNAL
    }
    fn to_cni(&self) -> CniError {
        CniError::new(self.code(), self.to_string())
    }
}

/// Go's text for a `syscall.Errno`: libc's message without Rust's ` (os error N)` suffix, its
/// first letter lowercased when the second is lowercase too (Go's mkerrors rule, so
/// "STREAMS ioctl" keeps its capitals).
pub fn errno_text(errno: i32) -> String {
    let full = io::Error::from_raw_os_error(errno).to_string();
    let suffix = format!(" (os error {errno})");
    go_lowercase_first(full.strip_suffix(&suffix).unwrap_or(&full))
}

/// Go's text for an I/O error: the errno text when there is an errno, else the error's own.
pub fn io_error_text(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(errno) => errno_text(errno),
        None => err.to_string(),
    }
}

/// Go's `*fs.PathError` text: `<op> <path>: <errno text>`.
pub fn path_error_text(op: &str, path: &Path, err: &io::Error) -> String {
    format!("{op} {}: {}", path.display(), io_error_text(err))
}

fn go_lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second))
            if first.is_ascii_uppercase() && second.is_ascii_lowercase() =>
        {
            let mut out = String::with_capacity(text.len());
            out.push(first.to_ascii_lowercase());
            out.push_str(&text[first.len_utf8()..]);
            out
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_go_skel() {
        let e = CniError::new(4, "required env variables [CNI_COMMAND] missing");
        assert_eq!(
            e.to_json(),
            "{\n    \"code\": 4,\n    \"msg\": \"required env variables [CNI_COMMAND] missing\"\n}"
        );
        let e = CniError::with_details(1, "incompatible CNI versions", "config is \"9.9.9\"");
        assert_eq!(
            e.to_json(),
            "{\n    \"code\": 1,\n    \"msg\": \"incompatible CNI versions\",\n    \"details\": \"config is \\\"9.9.9\\\"\"\n}"
        );
        assert_eq!(
            e.to_string(),
            "incompatible CNI versions; config is \"9.9.9\""
        );
    }

    #[test]
    fn errno_texts_match_go() {
        assert_eq!(errno_text(2), "no such file or directory");
        assert_eq!(errno_text(17), "file exists");
        assert_eq!(errno_text(19), "no such device");
        assert_eq!(errno_text(5), "input/output error");
        assert_eq!(errno_text(99), "cannot assign requested address");
        assert_eq!(go_lowercase_first("STREAMS ioctl"), "STREAMS ioctl");
        assert_eq!(go_lowercase_first(""), "");
        assert_eq!(
            path_error_text("open", Path::new("/x"), &io::Error::from_raw_os_error(13)),
            "open /x: permission denied"
        );
    }
}
