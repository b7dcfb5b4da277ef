//! The store lock: an exclusive `flock` on `<store>/lock`, the very lock the Go plugin takes
//! through go-filemutex, so both implementations can work on one node's stores at once.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::StoreError;

/// go-filemutex creates the lock file with this mode (observed `-rwxr-x---`).
const LOCK_MODE: u32 = 0o750;

pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// Opens the lock at `path`, creating the file if needed; for a directory the lock is its
    /// `lock` file (the reference's `NewFileLock`). Not locked yet.
    pub fn open(path: &Path) -> Result<FileLock, StoreError> {
        let meta = std::fs::metadata(path).map_err(|e| StoreError::path("stat", path, e))?;
        if meta.is_dir() {
            Self::open_file(&path.join("lock"))
        } else {
            Self::open_file(path)
        }
    }

    /// Opens (creating) the lock file itself, with O_CREAT and read-only access as
    /// go-filemutex does.
    fn open_file(path: &Path) -> Result<FileLock, StoreError> {
        let file = super::sys::open_path(path, libc::O_RDONLY | libc::O_CREAT, LOCK_MODE)
            .map_err(StoreError::Errno)?;
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Blocks until this process holds the lock exclusively.
    pub fn lock(&self) -> Result<(), StoreError> {
        self.file
            .lock()
            .map_err(|e| StoreError::path("flock", &self.path, e))
    }

    /// Takes the lock only if nobody holds it.
    #[cfg(test)]
    pub fn try_lock(&self) -> io::Result<bool> {
        match self.file.try_lock() {
            Ok(()) => Ok(true),
            Err(std::fs::TryLockError::WouldBlock) => Ok(false),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    pub fn unlock(&self) -> io::Result<()> {
        self.file.unlock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_a_file_path() {
        let dir = std::env::temp_dir().join(format!("hl-lock-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("my.lock");
        std::fs::write(&path, b"").unwrap();
        let a = FileLock::open(&path).unwrap();
        let b = FileLock::open(&path).unwrap();
        a.lock().unwrap();
        // flock locks belong to the open file description: a second open contends.
        assert!(
            !b.try_lock().unwrap(),
            "a held lock must exclude another holder"
        );
        a.unlock().unwrap();
        assert!(b.try_lock().unwrap());
        b.unlock().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn locks_a_folder_through_its_lock_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("hl-lock-dir-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = FileLock::open(&dir).unwrap();
        let lock_file = dir.join("lock");
        assert!(lock_file.is_file(), "the folder's lock is <dir>/lock");
        // Created with go-filemutex's mode, less the umask.
        let mode = std::fs::metadata(&lock_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o750 & !umask());
        let b = FileLock::open(&lock_file).unwrap();
        a.lock().unwrap();
        assert!(!b.try_lock().unwrap());
        a.unlock().unwrap();
        assert!(b.try_lock().unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn umask() -> u32 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
        u32::from_str_radix(line["Umask:".len()..].trim(), 8).unwrap()
    }

    #[test]
    fn missing_path_reads_like_go() {
        let err = FileLock::open(Path::new("/nonexistent/hl-lock"))
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "stat /nonexistent/hl-lock: no such file or directory"
        );
    }
}
