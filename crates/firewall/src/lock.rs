//! An exclusive lock between our own invocations (flock(2) on a file in /run).
//!
//! Why: adding a rule "unless it exists" is a read followed by a write. The xtables lock (`-w`)
//! only covers one command, so two plugins starting containers at once could both see a shared
//! rule missing and both add it. Holding this lock from the read to the write makes our
//! check-then-add atomic among ourselves. It cannot be the xtables lock itself: legacy
//! `iptables-restore -w` takes that lock in a child process and would wait for us forever.

use std::fs::{File, OpenOptions};
use std::path::Path;

/// The lock file; it holds no data.
pub const LOCK_PATH: &str = "/run/cni-portmap.lock";

/// Held until dropped.
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Blocks until the lock is ours. `None` if the file cannot be opened or locked (a
    /// read-only /run): the caller then goes on unlocked, as the Go plugin always does.
    pub fn acquire(path: &Path) -> Option<FileLock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .ok()?;
        file.lock().ok()?;
        Some(FileLock { _file: file })
    }
}
