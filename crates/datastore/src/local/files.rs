//! Durable file operations: atomic replace (temp file, fsync, rename, fsync directory), the
//! value file format, and the store-wide revision counter.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
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

/// The most a value file may hold: far above any value etcd accepts (1.5 MiB by default), so
/// only a damaged store (or a link to `/dev/zero`) has a bigger one.
pub(crate) const MAX_VALUE_FILE: u64 = 16 << 20;

/// Reads a file of the store, bounded and without blocking (`libcni::fs`); `None` when it does
/// not exist.
pub(crate) fn read_file(path: &Path, limit: u64) -> Result<Option<Vec<u8>>> {
    use libcni::fs::ReadError;
    match libcni::fs::read_bounded(path, limit) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(ReadError::Open { source, .. } | ReadError::Read { source, .. }) => {
            Err(DatastoreError::io(path, source))
        }
        Err(ReadError::TooLarge { limit, .. }) => Err(DatastoreError::io(
            path,
            io::Error::other(format!("file too large (over {limit} bytes)")),
        )),
        Err(e) => Err(DatastoreError::io(path, io::Error::other(e.to_string()))),
    }
}

/// Reads a value file; `None` when it does not exist.
pub(crate) fn read_value(path: &Path) -> Result<Option<KvPair>> {
    let Some(buf) = read_file(path, MAX_VALUE_FILE)? else {
        return Ok(None);
    };
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
    apply_batch(&[(path.to_path_buf(), contents.to_vec())], &[], None)
}

/// Where a transaction's journal lives (`journal.rs`): written into `idle`, renamed to
/// `pending` once synced (from then on the transaction counts as done: recovery replays it),
/// renamed back once applied.
pub(crate) struct JournalFiles<'a> {
    pub idle: &'a Path,
    pub pending: &'a Path,
    pub record: &'a [u8],
}

/// Several replacements ([`replace_atomically`]) and removals at once, optionally behind a
/// journal.
///
/// Staged so the filesystem's journal does the work once rather than per file: every
/// temporary file (and the journal) is written and its writeback started before the first
/// fsync, so that fsync's journal commit carries all of them and the later ones find nothing
/// left to do; likewise every rename and removal happens before the first directory fsync, and
/// each directory is synced once. A removal of a file already gone is no error (a replayed
/// journal may repeat one).
///
/// The journal is one file kept for the store's life and overwritten in place: no inode or
/// block is allocated or freed per transaction (freed blocks cost a discard per commit on
/// filesystems mounted with `discard`), and its fdatasync is a data write only. Being named
/// `pending` is what makes it count; the name changes are plain renames in the store's root.
///
/// With a journal the directories are not synced at all: until the renames and removals are
/// durable the pending journal is, and it goes back to idle only after them (ext4, xfs and
/// btrfs commit metadata changes in order, so that rename can never reach the disk before
/// theirs), so after a machine crash it is still there to replay them. Every fsync costs a
/// cache flush of the device, so this is what keeps a journaled transaction as cheap as the
/// unjournaled one was: one flush per written file plus one for the journal, none per
/// directory.
pub(crate) fn apply_batch(
    puts: &[(PathBuf, Vec<u8>)],
    removes: &[PathBuf],
    journal: Option<JournalFiles<'_>>,
) -> Result<()> {
    let tmp_of = |path: &Path| {
        let dir = path.parent().unwrap_or(Path::new("/"));
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        dir.join(format!(".{name}.tmp"))
    };
    let mut staged = Vec::with_capacity(puts.len() + 1);
    for (path, contents) in puts {
        let tmp = tmp_of(path);
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .and_then(|mut f| f.write_all(contents).map(|()| f))
            .map_err(|e| DatastoreError::io(&tmp, e))?;
        start_writeback(&f);
        staged.push((f, tmp));
    }
    if let Some(j) = &journal {
        // In place, over whatever the last transaction left (a record carries its own end).
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(j.idle)
            .and_then(|f| f.write_all_at(j.record, 0).map(|()| f))
            .map_err(|e| DatastoreError::io(j.idle, e))?;
        start_writeback(&f);
        staged.push((f, j.idle.to_path_buf()));
    }
    for (f, path) in &staged {
        f.sync_data().map_err(|e| DatastoreError::io(path, e))?;
    }
    let rename =
        |from: &Path, to: &Path| fs::rename(from, to).map_err(|e| DatastoreError::io(to, e));
    if let Some(j) = &journal {
        // The commit point: from here on, whoever comes next finishes the transaction.
        rename(j.idle, j.pending)?;
    }
    for ((_, tmp), (path, _)) in staged.iter().zip(puts) {
        rename(tmp, path)?;
    }
    for path in removes {
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(DatastoreError::io(path, e)),
        }
    }
    if let Some(j) = &journal {
        // Not synced: a journal that comes back pending after a machine crash is replayed
        // (if the changes above did not reach the disk) or recognised by its revision as
        // overtaken.
        return rename(j.pending, j.idle);
    }
    let mut dirs: Vec<&Path> = Vec::new();
    for path in puts.iter().map(|(p, _)| p).chain(removes) {
        let dir = path.parent().unwrap_or(Path::new("/"));
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs.into_iter().try_for_each(sync_dir)
}

/// Starts writing `f`'s dirty pages without waiting (a hint; the fsync that follows is what
/// makes them durable).
fn start_writeback(f: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open descriptor; the call only schedules I/O.
    unsafe {
        libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
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
    // The common case, one stat instead of a failed mkdir per level.
    if dir.is_dir() {
        return Ok(());
    }
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

/// The store-wide revision: `<20-digit number> <boot id>\n`, rewritten in place (one small
/// write within the first sector).
///
/// Within one boot the page cache is the truth for every process, so a write that only bumps
/// the counter need not reach the disk: a process killed at any point loses nothing. Only a
/// machine crash can lose an unsynced counter, and then the boot id no longer matches: the
/// first writer after the reboot recovers the counter as the largest revision found in the
/// value files (and the counter as last synced), and syncs it. Deletes sync the counter
/// themselves, because a deleted key leaves no file to recover its revision from. So
/// revisions are never reused, and a put costs no counter fsync.
pub(crate) struct Counter {
    file: File,
    path: PathBuf,
}

const COUNTER_WIDTH: usize = 20;

/// This boot's id (the kernel's random `boot_id`), `None` when it cannot be read (then every
/// counter write is synced, as if each were the first of a boot).
fn boot_id() -> Option<&'static str> {
    static ID: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    })
    .as_deref()
}

/// What the counter file says.
pub(crate) struct CounterState {
    /// The number stored (0 when unreadable).
    pub revision: Revision,
    /// True when it was written during this boot (so it is current).
    pub this_boot: bool,
}

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

    /// The initial contents of a counter file (revision 0, no boot: recovered on first use).
    pub(crate) fn initial() -> Vec<u8> {
        format!("{:0COUNTER_WIDTH$}\n", 0).into_bytes()
    }

    pub(crate) fn read(&self) -> Result<CounterState> {
        let mut buf = [0u8; 128];
        let n = self
            .file
            .read_at(&mut buf, 0)
            .map_err(|e| DatastoreError::io(&self.path, e))?;
        let text = String::from_utf8_lossy(&buf[..n]);
        let mut words = text.split_whitespace();
        let revision = words.next().and_then(|w| w.parse().ok());
        let boot = words.next();
        Ok(CounterState {
            revision: revision.unwrap_or(0),
            this_boot: revision.is_some() && boot.is_some() && boot == boot_id(),
        })
    }

    /// Stores `revision` for this boot; `durable` also syncs it to disk.
    pub(crate) fn write(&self, revision: Revision, durable: bool) -> Result<()> {
        // The line keeps its length: a shorter one would leave the old tail behind.
        let text = format!(
            "{revision:0COUNTER_WIDTH$} {:36}\n",
            boot_id().unwrap_or("-")
        );
        self.file
            .write_all_at(text.as_bytes(), 0)
            .and_then(|()| {
                if durable || boot_id().is_none() {
                    self.file.sync_data()
                } else {
                    Ok(())
                }
            })
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
        let st = c.read().unwrap();
        assert_eq!(
            (st.revision, st.this_boot),
            (0, false),
            "a new counter is recovered"
        );
        c.write(123_456, false).unwrap();
        let st = c.read().unwrap();
        assert_eq!((st.revision, st.this_boot), (123_456, true));
        let boot = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
        assert_eq!(
            fs::read_to_string(&p).unwrap(),
            format!("00000000000000123456 {}\n", boot.trim())
        );
        // Written in another boot: not current any more.
        fs::write(
            &p,
            "00000000000000000007 00000000-0000-0000-0000-000000000000\n",
        )
        .unwrap();
        let st = c.read().unwrap();
        assert_eq!((st.revision, st.this_boot), (7, false));
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
