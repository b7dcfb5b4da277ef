//! Reading the small files the installer's settings or its pod name — the conflist template,
//! the service account's token, CA and namespace, CNI configs on the host — bounded and
//! non-blocking (`libcni::fs`): a path naming something endless (`/dev/zero`, a FIFO) fails
//! at once instead of eating memory or hanging the install. Real ones are a few KiB.

use std::path::Path;

use libcni::fs::ReadError;

/// Far above any token, certificate bundle or CNI config.
pub const LIMIT: u64 = 1 << 20;

pub fn small_file(path: &Path) -> Result<Vec<u8>, ReadError> {
    libcni::fs::read_bounded(path, LIMIT)
}

/// [`small_file`] as text (lossy, as the installer only looks for ASCII in these).
pub fn small_text(path: &Path) -> Result<String, ReadError> {
    small_file(path).map(|b| String::from_utf8_lossy(&b).into_owned())
}
