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
//! atomically. A transaction of several writes goes through a write-ahead journal
//! (`journal.rs`), so a crash part-way is finished by the next user and nobody sees half of it:
//! writers finish a journal they find before anything else, readers that find one take the
//! write lock to do the same.

mod files;
mod journal;
mod layout;

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::batch::{Read, Write as TxnWrite};
use crate::error::{DatastoreError, Result};
use crate::kv::{Kv, KvPair, Revision};

use files::Counter;
use journal::{Op, Record};

/// Where the local store lives unless configured otherwise.
pub const DEFAULT_LOCAL_PATH: &str = "/var/lib/calico/datastore";

const FORMAT: &str = "cni-rs local datastore 1\n";

pub struct LocalStore {
    root: PathBuf,
    data: PathBuf,
    /// The pending journal (`journal.rs`): present only while a transaction is applied or
    /// after its writer died.
    journal: PathBuf,
    /// The same file between transactions.
    journal_idle: PathBuf,
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
            journal: root.join(journal::PENDING),
            journal_idle: root.join(journal::IDLE),
            root,
        };
        fs::create_dir_all(&store.data).map_err(|e| DatastoreError::io(&store.data, e))?;
        match files::read_file(&store.root.join("format"), 4096)? {
            Some(f) if f == FORMAT.as_bytes() => return Ok(store),
            Some(f) => {
                return Err(DatastoreError::Unsupported(format!(
                    "{}: unknown local datastore format {:?}",
                    store.root.display(),
                    String::from_utf8_lossy(&f).trim()
                )))
            }
            None => {}
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

    /// The write lock, on a store with no unfinished transaction: one left by a process that
    /// died is finished (or dropped) first.
    fn lock_write(&self) -> Result<File> {
        let lock = self.lock(true)?;
        if self.journal_pending()? {
            self.recover()?;
        }
        Ok(lock)
    }

    /// The shared lock, on a store with no unfinished transaction. Finding one means its
    /// writer died (a live one would hold the write lock): finish it under the write lock,
    /// then look again.
    fn lock_read(&self) -> Result<File> {
        loop {
            let lock = self.lock(false)?;
            if !self.journal_pending()? {
                return Ok(lock);
            }
            drop(lock);
            drop(self.lock_write()?);
        }
    }

    fn journal_pending(&self) -> Result<bool> {
        self.journal
            .try_exists()
            .map_err(|e| DatastoreError::io(&self.journal, e))
    }

    /// Finishes the transaction the pending journal describes, or drops it when it does not
    /// decode (damaged: the protocol only makes a synced, whole record pending) or is stale
    /// (already applied and overtaken: see `journal.rs`); either way it goes back to idle. The
    /// caller holds the write lock.
    fn recover(&self) -> Result<()> {
        let Some(bytes) = files::read_file(&self.journal, journal::MAX_SIZE)? else {
            return Ok(());
        };
        if let Some(record) = Record::decode(&bytes) {
            let counter = self.counter()?;
            let state = counter.read()?;
            let current = if state.this_boot {
                state.revision
            } else {
                state.revision.max(self.newest_stored()?)
            };
            if record.revision >= current {
                let mut puts = Vec::new();
                let mut removes = Vec::new();
                for op in record.ops {
                    match op {
                        Op::Put { key, file } => {
                            layout::check_key(&key)?;
                            let path = layout::value_path(&self.data, &key);
                            files::create_dirs(&self.data, path.parent().unwrap_or(&self.data))?;
                            puts.push((path, file));
                        }
                        Op::Delete { key } => {
                            layout::check_key(&key)?;
                            removes.push(layout::value_path(&self.data, &key));
                        }
                    }
                }
                files::apply_batch(&puts, &removes, None)?;
                self.prune(&removes);
                // Deletes need their revision durable (files::Counter); the rest is cheap.
                counter.write(current.max(record.revision), true)?;
            }
        }
        fs::rename(&self.journal, &self.journal_idle)
            .map_err(|e| DatastoreError::io(&self.journal_idle, e))
    }

    /// Removes the directories the removed files leave empty.
    fn prune(&self, removed: &[PathBuf]) {
        for path in removed {
            files::prune_empty_dirs(&self.data, path.parent().unwrap_or(&self.data));
        }
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
        let _lock = self.lock_write()?;
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
                files::apply_batch(&[], &[path.to_path_buf()], None)?;
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
        // No lock on the common path (one stat). A journal means a transaction is being
        // applied (wait for it under the shared lock) or its writer died (finish it first).
        if self.journal_pending()? {
            let _lock = self.lock_read()?;
            return Ok(self.read(key)?.1);
        }
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
        let _lock = self.lock_read()?;
        self.list_locked(prefix)
    }

    fn revision(&self) -> Result<Revision> {
        let _lock = self.lock_read()?;
        let state = self.counter()?.read()?;
        if state.this_boot {
            return Ok(state.revision);
        }
        Ok(state.revision.max(self.newest_stored()?))
    }

    fn read_many(&self, reads: &[Read]) -> Result<Vec<Vec<KvPair>>> {
        // The shared lock makes the batch one snapshot, as etcd's single-revision reads.
        let _lock = self.lock_read()?;
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
        let _lock = self.lock_write()?;
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
        let mut ops = Vec::with_capacity(writes.len());
        let mut puts: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        let mut removes: Vec<PathBuf> = Vec::new();
        for (w, path) in writes.iter().zip(planned) {
            match w {
                TxnWrite::Create { value, .. } | TxnWrite::Update { value, .. } => {
                    files::create_dirs(&self.data, path.parent().unwrap_or(&self.data))?;
                    let file = files::encode_value(w.key(), revision, value);
                    if writes.len() > 1 {
                        ops.push(Op::Put {
                            key: w.key().to_string(),
                            file: file.clone(),
                        });
                    }
                    puts.push((path, file));
                }
                TxnWrite::Delete { .. } => {
                    if writes.len() > 1 {
                        ops.push(Op::Delete {
                            key: w.key().to_string(),
                        });
                    }
                    removes.push(path);
                }
            }
        }
        // One write is one rename or removal, atomic as it is; more go through the journal,
        // written and synced with the temporary files, before the first rename.
        let record = (writes.len() > 1).then(|| Record { revision, ops }.encode());
        if record
            .as_ref()
            .is_some_and(|r| r.len() as u64 > journal::MAX_SIZE)
        {
            return Err(DatastoreError::Request(format!(
                "transaction too large for the local store (over {} bytes)",
                journal::MAX_SIZE
            )));
        }
        let journal = record.as_deref().map(|record| files::JournalFiles {
            idle: &self.journal_idle,
            pending: &self.journal,
            record,
        });
        files::apply_batch(&puts, &removes, journal)?;
        self.prune(&removes);
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

    fn journal_of(revision: Revision, puts: &[(&str, &str)]) -> Vec<u8> {
        Record {
            revision,
            ops: puts
                .iter()
                .map(|(k, v)| Op::Put {
                    key: k.to_string(),
                    file: files::encode_value(k, revision, v.as_bytes()),
                })
                .collect(),
        }
        .encode()
    }

    /// A journal left by a writer that died after writing it (its revision taken, nothing
    /// renamed yet) is finished by the next reader, even a lone get.
    #[test]
    fn a_pending_journal_is_finished_before_anyone_reads() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path().join("s")).unwrap();
        store.put("/k/a", b"old").unwrap();
        let rev = store.revision().unwrap() + 1;
        store.counter().unwrap().write(rev, false).unwrap();
        let j = journal_of(rev, &[("/k/a", "new"), ("/k/b", "new")]);
        fs::write(&store.journal, j).unwrap();
        let a = store.get("/k/a").unwrap().unwrap();
        assert_eq!((a.value.as_slice(), a.revision), (&b"new"[..], rev));
        assert_eq!(store.get("/k/b").unwrap().unwrap().revision, rev);
        assert!(!store.journal.exists());
        assert_eq!(store.put("/k/c", b"x").unwrap(), rev + 1);
    }

    /// A journal that comes back pending after a machine crash lost its return to idle, when
    /// later writes went on: it is stale (its revision is below the counter) and dropped, not
    /// replayed over the newer values. One that does not decode is dropped too.
    #[test]
    fn stale_and_torn_journals_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path().join("s")).unwrap();
        let r1 = store
            .txn(&[
                TxnWrite::Create {
                    key: "/k/a".into(),
                    value: b"1".to_vec(),
                },
                TxnWrite::Create {
                    key: "/k/b".into(),
                    value: b"1".to_vec(),
                },
            ])
            .unwrap();
        assert!(!store.journal.exists(), "idle after the transaction");
        assert!(store.journal_idle.exists());
        store.put("/k/a", b"2").unwrap();
        fs::write(
            &store.journal,
            journal_of(r1, &[("/k/a", "1"), ("/k/b", "1")]),
        )
        .unwrap();
        assert_eq!(store.list("/k/").unwrap()[0].value, b"2");
        assert!(!store.journal.exists());

        let rev = store.revision().unwrap() + 1;
        let whole = journal_of(rev, &[("/k/a", "3")]);
        fs::write(&store.journal, &whole[..whole.len() - 3]).unwrap();
        store.put("/k/b", b"4").unwrap();
        assert_eq!(store.get("/k/a").unwrap().unwrap().value, b"2");
        assert!(!store.journal.exists());
    }

    /// Value files are read bounded and without blocking: a link to `/dev/zero` in place of
    /// one is an error at once, not a read until memory runs out.
    #[test]
    fn an_endless_value_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path().join("s")).unwrap();
        store.put("/k/a", b"1").unwrap();
        let file = layout::value_path(&store.data, "/k/a");
        fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &file).unwrap();
        let err = store.get("/k/a").unwrap_err().to_string();
        assert_eq!(
            err,
            format!("{}: file too large (over 16777216 bytes)", file.display())
        );
        assert!(store.list("/k/").is_err());
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
