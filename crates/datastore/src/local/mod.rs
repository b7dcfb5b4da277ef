//! The embedded local store: a directory of small files with etcd's revision semantics, safe
//! for many plugin processes at once and crash-safe. See the crate README for why this engine.
//!
//! ```text
//! <root>/format     "cni-rs local datastore 1"
//! <root>/lock       flock(2): shared for listings and the revision, exclusive for writes
//! <root>/revision   the store-wide revision counter
//! <root>/data/...   one file per key (see layout.rs)
//! ```
//!
//! Gets take no lock: a value file is only ever replaced by rename, so a reader sees the old or
//! the new file. Listings take the shared lock so they see one revision of the whole store.
//! Writes take the exclusive lock, check the caller's precondition against the file, bump the
//! counter (see `files::Counter` for why a put need not sync it), then replace the file
//! atomically.

mod files;
mod layout;

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::batch::{Read, Write as TxnWrite};
use crate::error::{DatastoreError, Result};
use crate::kv::{Kv, KvPair, Revision};

use files::Counter;

/// Where the local store lives unless configured otherwise.
pub const DEFAULT_LOCAL_PATH: &str = "/var/lib/calico/datastore";

const FORMAT: &str = "cni-rs local datastore 1\n";

pub struct LocalStore {
    root: PathBuf,
    data: PathBuf,
}

/// What a write does once it has seen the key's current file.
enum Write {
    Put(Vec<u8>),
    Remove,
}

impl LocalStore {
    /// Opens the store at `root`, creating it on first use (concurrent first uses are safe).
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let store = LocalStore {
            data: root.join("data"),
            root,
        };
        fs::create_dir_all(&store.data).map_err(|e| DatastoreError::io(&store.data, e))?;
        match fs::read_to_string(store.root.join("format")) {
            Ok(f) if f == FORMAT => return Ok(store),
            Ok(f) => {
                return Err(DatastoreError::Unsupported(format!(
                    "{}: unknown local datastore format {:?}",
                    store.root.display(),
                    f.trim()
                )))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(DatastoreError::io(store.root.join("format"), e)),
        }
        // First use: create the counter, then the format marker (its presence says the store is
        // complete), under the write lock so racing first users do it once.
        let _lock = store.lock(true)?;
        let counter = store.root.join("revision");
        if !counter.exists() {
            files::replace_atomically(&counter, &Counter::initial())?;
        }
        files::replace_atomically(&store.root.join("format"), FORMAT.as_bytes())?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// flock on a fresh open file description: locks held through another descriptor, in this
    /// process or another, exclude it (one shared descriptor would not exclude threads).
    fn lock(&self, exclusive: bool) -> Result<File> {
        let path = self.root.join("lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| DatastoreError::io(&path, e))?;
        let locked = if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        };
        locked.map_err(|e| DatastoreError::io(&path, e))?;
        Ok(file)
    }

    fn counter(&self) -> Result<Counter> {
        Counter::open(&self.root.join("revision"))
    }

    /// The stored pair at `key`, or `None`; a file whose recorded key differs (a hashed-name
    /// collision) does not hold this key.
    fn read(&self, key: &str) -> Result<(PathBuf, Option<KvPair>)> {
        layout::check_key(key)?;
        let path = layout::value_path(&self.data, key);
        let pair = files::read_value(&path)?.filter(|p| p.key == key);
        Ok((path, pair))
    }

    /// Runs one write under the exclusive lock: `decide` sees the current pair and returns the
    /// write to do (or the error to fail with).
    fn write(
        &self,
        key: &str,
        decide: impl FnOnce(Option<&KvPair>) -> Result<Write>,
    ) -> Result<(Revision, Option<KvPair>)> {
        let _lock = self.lock(true)?;
        let (path, current) = self.read_for_write(key)?;
        let op = decide(current.as_ref())?;
        let durable = matches!(op, Write::Remove);
        let revision = self.next_revision(current.as_ref().map_or(0, |c| c.revision), durable)?;
        self.apply(key, &path, revision, op)?;
        Ok((revision, current))
    }

    /// The current pair of a key about to be written (the caller holds the write lock) and the
    /// file it lives in.
    fn read_for_write(&self, key: &str) -> Result<(PathBuf, Option<KvPair>)> {
        let (path, current) = self.read(key)?;
        if current.is_none() && path.exists() {
            // A different key owns this (hashed) file name.
            return Err(DatastoreError::InvalidKey {
                key: key.to_string(),
                reason: "its file name collides with another key's in the local store",
            });
        }
        Ok((path, current))
    }

    /// Takes the next revision, above the counter and above `at_least` (the written keys'
    /// own revisions). `durable` syncs the counter (deletes need it; see `files::Counter`).
    fn next_revision(&self, at_least: Revision, durable: bool) -> Result<Revision> {
        let counter = self.counter()?;
        let state = counter.read()?;
        let last = if state.this_boot {
            state.revision
        } else {
            // First write since a reboot (or ever): the counter may have lost writes.
            let recovered = state.revision.max(self.newest_stored()?);
            counter.write(recovered, true)?;
            recovered
        };
        let revision = last.max(at_least) + 1;
        counter.write(revision, durable)?;
        Ok(revision)
    }

    /// The largest revision of any stored value (the caller holds a lock).
    fn newest_stored(&self) -> Result<Revision> {
        let mut all = Vec::new();
        self.collect(&self.data, "", &mut all)?;
        Ok(all.iter().map(|p| p.revision).max().unwrap_or(0))
    }

    /// Replaces or removes the file of `key` (the caller holds the write lock).
    fn apply(&self, key: &str, path: &Path, revision: Revision, op: Write) -> Result<()> {
        let dir = path.parent().unwrap_or(&self.data).to_path_buf();
        match op {
            Write::Put(value) => {
                files::create_dirs(&self.data, &dir)?;
                files::replace_atomically(path, &files::encode_value(key, revision, &value))
            }
            Write::Remove => {
                files::remove_durably(path)?;
                files::prune_empty_dirs(&self.data, &dir);
                Ok(())
            }
        }
    }

    /// Every pair whose key starts with `prefix`, sorted (the caller holds a lock).
    fn list_locked(&self, prefix: &str) -> Result<Vec<KvPair>> {
        if !prefix.is_empty() && !prefix.starts_with('/') {
            return Ok(Vec::new()); // every stored key starts with '/'
        }
        let (dir, partial) = layout::prefix_dir(&self.data, prefix);
        let mut out = Vec::new();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                return Ok(out)
            }
            Err(e) => return Err(DatastoreError::io(&dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| DatastoreError::io(&dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            // Only descend where the partial segment can match (hashed names might).
            let stem = name.strip_suffix(layout::VALUE_SUFFIX).unwrap_or(&name);
            if layout::unescape(stem).is_some_and(|seg| !seg.starts_with(partial)) {
                continue;
            }
            let path = entry.path();
            if name.ends_with(layout::VALUE_SUFFIX) {
                if let Some(pair) = files::read_value(&path)? {
                    if pair.key.starts_with(prefix) {
                        out.push(pair);
                    }
                }
            } else if entry.file_type().is_ok_and(|t| t.is_dir()) {
                self.collect(&path, prefix, &mut out)?;
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Every value file under `dir` (recursively), whose key starts with `prefix`.
    fn collect(&self, dir: &Path, prefix: &str, out: &mut Vec<KvPair>) -> Result<()> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(DatastoreError::io(dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| DatastoreError::io(dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue; // a temporary file
            }
            let path = entry.path();
            if name.ends_with(layout::VALUE_SUFFIX) {
                match files::read_value(&path) {
                    Ok(Some(pair)) if pair.key.starts_with(prefix) => out.push(pair),
                    Ok(_) => {}
                    // Removed between readdir and open: not part of this listing.
                    Err(DatastoreError::Io { source, .. })
                        if source.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            } else if entry.file_type().is_ok_and(|t| t.is_dir()) {
                self.collect(&path, prefix, out)?;
            }
        }
        Ok(())
    }
}

impl Kv for LocalStore {
    fn backend(&self) -> &'static str {
        "local"
    }

    fn get(&self, key: &str) -> Result<Option<KvPair>> {
        Ok(self.read(key)?.1)
    }

    fn create(&self, key: &str, value: &[u8]) -> Result<Revision> {
        let (rev, _) = self.write(key, |cur| match cur {
            None => Ok(Write::Put(value.to_vec())),
            Some(existing) => Err(DatastoreError::AlreadyExists {
                identifier: key.to_string(),
                existing: Some(Box::new(existing.clone())),
            }),
        })?;
        Ok(rev)
    }

    fn update(&self, key: &str, value: &[u8], revision: Revision) -> Result<Revision> {
        let (rev, _) = self.write(key, |cur| match cur {
            None => Err(DatastoreError::NotFound {
                identifier: key.to_string(),
            }),
            Some(c) if c.revision != revision => Err(DatastoreError::Conflict {
                identifier: key.to_string(),
                current: Some(Box::new(c.clone())),
            }),
            Some(_) => Ok(Write::Put(value.to_vec())),
        })?;
        Ok(rev)
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<Revision> {
        let (rev, _) = self.write(key, |_| Ok(Write::Put(value.to_vec())))?;
        Ok(rev)
    }

    fn delete(&self, key: &str, revision: Option<Revision>) -> Result<KvPair> {
        let (_, old) = self.write(key, |cur| match cur {
            None => Err(DatastoreError::NotFound {
                identifier: key.to_string(),
            }),
            Some(c) if revision.is_some_and(|r| r != c.revision) => Err(DatastoreError::Conflict {
                identifier: key.to_string(),
                current: Some(Box::new(c.clone())),
            }),
            Some(_) => Ok(Write::Remove),
        })?;
        old.ok_or_else(|| DatastoreError::NotFound {
            identifier: key.to_string(),
        })
    }

    fn list(&self, prefix: &str) -> Result<Vec<KvPair>> {
        let _lock = self.lock(false)?;
        self.list_locked(prefix)
    }

    fn revision(&self) -> Result<Revision> {
        let _lock = self.lock(false)?;
        let state = self.counter()?.read()?;
        if state.this_boot {
            return Ok(state.revision);
        }
        Ok(state.revision.max(self.newest_stored()?))
    }

    fn read_many(&self, reads: &[Read]) -> Result<Vec<Vec<KvPair>>> {
        // The shared lock makes the batch one snapshot, as etcd's single-revision reads.
        let _lock = self.lock(false)?;
        reads
            .iter()
            .map(|r| match r {
                Read::Key(key) => Ok(self.read(key)?.1.into_iter().collect()),
                Read::Prefix(prefix) => self.list_locked(prefix),
            })
            .collect()
    }

    fn txn(&self, writes: &[TxnWrite]) -> Result<Revision> {
        for (i, w) in writes.iter().enumerate() {
            if writes[..i].iter().any(|o| o.key() == w.key()) {
                // etcd's answer to the same.
                return Err(DatastoreError::Request(
                    "etcdserver: duplicate key given in txn request".into(),
                ));
            }
        }
        let _lock = self.lock(true)?;
        let mut planned = Vec::with_capacity(writes.len());
        let mut newest = 0;
        for w in writes {
            let (path, current) = self.read_for_write(w.key())?;
            if let Some(e) = w.failure(current.as_ref()) {
                return Err(e);
            }
            newest = newest.max(current.map_or(0, |c| c.revision));
            planned.push(path);
        }
        let deletes = writes.iter().any(|w| matches!(w, TxnWrite::Delete { .. }));
        let revision = self.next_revision(newest, deletes)?;
        // In the caller's order: a crash part-way leaves a prefix of the writes done, so
        // callers put first what is harmless alone (Calico IPAM: the handle before the block).
        // Consecutive puts are staged together (one journal commit instead of one per file).
        let mut puts: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        for (w, path) in writes.iter().zip(&planned) {
            match w {
                TxnWrite::Create { value, .. } | TxnWrite::Update { value, .. } => {
                    let dir = path.parent().unwrap_or(&self.data);
                    files::create_dirs(&self.data, dir)?;
                    puts.push((path.clone(), files::encode_value(w.key(), revision, value)));
                }
                TxnWrite::Delete { .. } => {
                    files::replace_all_atomically(&std::mem::take(&mut puts))?;
                    self.apply(w.key(), path, revision, Write::Remove)?;
                }
            }
        }
        files::replace_all_atomically(&puts)?;
        Ok(revision)
    }
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("root", &self.root)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counter from another boot that lost writes (a machine crash) is recovered from the
    /// stored values: the next revision is above every stored one.
    #[test]
    fn a_counter_from_another_boot_is_recovered_from_the_values() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path().join("s")).unwrap();
        for i in 0..5 {
            store.put(&format!("/k/{i}"), b"v").unwrap();
        }
        let newest = store.put("/k/last", b"v").unwrap();
        let counter = dir.path().join("s/revision");
        fs::write(
            &counter,
            "00000000000000000002 00000000-0000-0000-0000-000000000000\n",
        )
        .unwrap();
        assert_eq!(
            store.revision().unwrap(),
            newest,
            "read-only view recovers too"
        );
        let next = store.put("/k/0", b"w").unwrap();
        assert_eq!(next, newest + 1);
        let st = store.counter().unwrap().read().unwrap();
        assert!(st.this_boot, "the recovered counter belongs to this boot");
        assert_eq!(st.revision, next);
    }

    /// Within a boot a put leaves the counter current without syncing it, and a delete
    /// moves it on like any write.
    #[test]
    fn puts_and_deletes_keep_the_counter_current() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path().join("s")).unwrap();
        let a = store.put("/k/a", b"1").unwrap();
        let _ = store.delete("/k/a", Some(a)).unwrap();
        let b = store.put("/k/a", b"2").unwrap();
        assert_eq!(b, a + 2, "the delete took revision {}", a + 1);
        assert_eq!(store.revision().unwrap(), b);
    }
}
