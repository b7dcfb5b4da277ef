//! Durable file operations: atomic replace (temp file, fsync, rename, fsync directory), the
//! value file format, and the store-wide revision counter.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{DatastoreError, Result};
use crate::kv::{KvPair, Revision};

/// A value file: `<mod revision>\n<key>\n<value bytes>`. The key is stored so that listings
/// do not depend on decoding file names (and a hashed-name collision is detected).
pub(crate) fn encode_value(key: &str, revision: Revision, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + key.len() + 24);
    out.extend_from_slice(revision.to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(key.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(value);
    out
}

/// Reads a value file; `None` when it does not exist.
pub(crate) fn read_value(path: &Path) -> Result<Option<KvPair>> {
    let mut buf = Vec::new();
    match File::open(path).and_then(|mut f| f.read_to_end(&mut buf)) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DatastoreError::io(path, e)),
    }
    decode_value(&buf)
        .map(Some)
        .ok_or_else(|| DatastoreError::io(path, io::Error::other("corrupt value file")))
}

fn decode_value(buf: &[u8]) -> Option<KvPair> {
    let nl = buf.iter().position(|&b| b == b'\n')?;
    let revision = std::str::from_utf8(&buf[..nl]).ok()?.parse().ok()?;
    let rest = &buf[nl + 1..];
    let nl = rest.iter().position(|&b| b == b'\n')?;
    let key = String::from_utf8(rest[..nl].to_vec()).ok()?;
    Some(KvPair {
        key,
        value: rest[nl + 1..].to_vec(),
        revision,
    })
}

/// Replaces `path` with `contents` so that after a crash it holds either the old or the new
/// contents, never a mix: write a temporary file in the same directory, fsync it, rename it
/// over `path`, fsync the directory (which makes the rename durable). Callers hold the store's
/// write lock, so one fixed temporary name per target is enough; a stale one left by a crash
/// is simply overwritten.
pub(crate) fn replace_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp"));
    let write = || -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()
    };
    write().map_err(|e| DatastoreError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| DatastoreError::io(path, e))?;
    sync_dir(dir)
}

/// Removes `path` durably.
pub(crate) fn remove_durably(path: &Path) -> Result<()> {
    fs::remove_file(path).map_err(|e| DatastoreError::io(path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new("/")))
}

/// Makes the entries of `dir` (renames, creations, removals) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| DatastoreError::io(dir, e))
}

/// Creates the directories from `base` (which exists) down to `dir`, each made durable in its
/// parent.
pub(crate) fn create_dirs(base: &Path, dir: &Path) -> Result<()> {
    let Ok(rel) = dir.strip_prefix(base) else {
        return Ok(());
    };
    let mut cur = base.to_path_buf();
    for part in rel.components() {
        let parent = cur.clone();
        cur.push(part);
        match fs::create_dir(&cur) {
            Ok(()) => sync_dir(&parent)?,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(DatastoreError::io(&cur, e)),
        }
    }
    Ok(())
}

/// Removes the now-empty directories from `dir` up to (not including) `base`. Best effort: an
/// empty directory left behind is harmless.
pub(crate) fn prune_empty_dirs(base: &Path, dir: &Path) {
    let mut cur: PathBuf = dir.to_path_buf();
    while cur != base && cur.starts_with(base) {
        if fs::remove_dir(&cur).is_err() {
            break;
        }
        if !cur.pop() {
            break;
        }
    }
}

/// The store-wide revision: a fixed-width decimal number rewritten in place (one small write
/// within the first sector, which storage writes atomically) and fdatasync'ed before the value
/// it numbers is written, so after a crash it is never below a stored revision and revisions
/// are never reused.
pub(crate) struct Counter {
    file: File,
    path: PathBuf,
}

const COUNTER_WIDTH: usize = 20;

impl Counter {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| DatastoreError::io(path, e))?;
        Ok(Counter {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The initial contents of a counter file (revision 0).
    pub(crate) fn initial() -> Vec<u8> {
        format!("{:0COUNTER_WIDTH$}\n", 0).into_bytes()
    }

    pub(crate) fn read(&self) -> Result<Revision> {
        let mut buf = [0u8; COUNTER_WIDTH + 1];
        let n = self
            .file
            .read_at(&mut buf, 0)
            .map_err(|e| DatastoreError::io(&self.path, e))?;
        std::str::from_utf8(&buf[..n])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| {
                DatastoreError::io(&self.path, io::Error::other("corrupt revision counter"))
            })
    }

    pub(crate) fn write(&self, revision: Revision) -> Result<()> {
        let text = format!("{revision:0COUNTER_WIDTH$}\n");
        self.file
            .write_all_at(text.as_bytes(), 0)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| DatastoreError::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_files_round_trip_any_bytes() {
        let raw = encode_value("/a/b", 42, b"line1\nline2\0");
        let pair = decode_value(&raw).unwrap();
        assert_eq!(pair.key, "/a/b");
        assert_eq!(pair.revision, 42);
        assert_eq!(pair.value, b"line1\nline2\0");
        assert_eq!(decode_value(b"x\n/a\n"), None);
        assert_eq!(decode_value(b"5\n/a"), None);
    }

    #[test]
    fn replace_is_atomic_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.kv");
        replace_atomically(&p, b"one").unwrap();
        replace_atomically(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["v.kv"]);
    }

    #[test]
    fn counter_is_fixed_width() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("revision");
        fs::write(&p, Counter::initial()).unwrap();
        let c = Counter::open(&p).unwrap();
        assert_eq!(c.read().unwrap(), 0);
        c.write(123_456).unwrap();
        assert_eq!(c.read().unwrap(), 123_456);
        assert_eq!(fs::read_to_string(&p).unwrap(), "00000000000000123456\n");
    }

    #[test]
    fn directories_are_created_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        create_dirs(dir.path(), &deep).unwrap();
        assert!(deep.is_dir());
        fs::write(dir.path().join("a/keep"), b"").unwrap();
        prune_empty_dirs(dir.path(), &deep);
        assert!(!dir.path().join("a/b").exists());
        assert!(dir.path().join("a").is_dir(), "a is not empty");
    }
}
