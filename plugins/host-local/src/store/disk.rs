//! The disk store, interchangeable with the Go plugin's: `<dataDir>/<network>/` holds
//!
//! - `lock`, flocked by whoever changes the store (see [`super::lock`]);
//! - one file per reserved address, named by the address as Go prints it, holding
//!   `<containerID>\r\n<ifname>` (or, from old versions, just `<containerID>`), mode 0600;
//! - `last_reserved_ip.<N>`: the last address reserved from range set N, kept across DEL so
//!   allocation continues round-robin.
//!
//! A store is locked from [`DiskStore::open`] until it is dropped (one plugin invocation), so
//! the directory listing read once is accurate for the whole invocation: every writer, ours
//! or Go's, creates and removes reservations only while holding the lock.
//!
//! Reservations are created complete: the record is written into an unnamed `O_TMPFILE`
//! inode which `linkat` then names, failing if the name exists. That is the same exclusive
//! create as Go's `O_EXCL`, but a process killed at any point leaves either no reservation or
//! a complete one, never an empty file no DEL can match. Where `O_TMPFILE` is unsupported the
//! store falls back to Go's `O_EXCL` + write. Either way DEL and GC remove empty reservations:
//! under the lock they can only be left by a writer that died between create and write (our
//! fallback, or a killed Go plugin).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::lock::FileLock;
use super::sys;
use super::{Key, Owner, Store, StoreError, ValidAttachments};
use crate::ip;

const LAST_IP_PREFIX: &str = "last_reserved_ip.";
/// Mode of reservations and `last_reserved_ip.N` (upstream since v1.4.0; Debian's 1.1.1 0644).
const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o755;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Content {
    Unread,
    /// Could not be read (a directory, a dangling link, ...): never matches, never collected.
    Unreadable,
    /// Trimmed like Go's `strings.TrimSpace`.
    Data(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    ip: IpAddr,
    content: Content,
}

pub struct DiskStore {
    dir: PathBuf,
    dir_fd: OwnedFd,
    lock: FileLock,
    /// Reservations found in the directory (read once, kept up to date by our own changes).
    listing: Option<Vec<Entry>>,
    /// The addresses of `listing`, for the allocator's walk over candidates.
    taken: BTreeSet<IpAddr>,
    /// An unnamed file already holding a record, left over from a name that was taken.
    staged: Option<(String, File)>,
    /// Cleared once the filesystem turns out not to support `O_TMPFILE` + `linkat`.
    atomic_create: bool,
}

/// A store directory must be a single component below `dataDir`.
fn check_network_name(network: &str) -> Result<(), StoreError> {
    if network.is_empty()
        || network == "."
        || network == ".."
        || network.contains('/')
        || network.contains('\0')
    {
        return Err(StoreError::InvalidNetworkName(network.to_string()));
    }
    Ok(())
}

/// Go's `os.MkdirAll`, with its error wording.
fn mkdir_all(path: &Path) -> Result<(), StoreError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(StoreError::path(
                "mkdir",
                path,
                io::Error::from_raw_os_error(libc::ENOTDIR),
            ))
        }
        Err(_) => {}
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        mkdir_all(parent)?;
    }
    match std::fs::DirBuilder::new().mode(DIR_MODE).create(path) {
        Ok(()) => Ok(()),
        Err(_) if path.is_dir() => Ok(()),
        Err(e) => Err(StoreError::path("mkdir", path, e)),
    }
}

/// Whether a directory entry may be a reservation: named by an address, not a directory.
fn reservation_ip(entry: &sys::DirEntry) -> Option<IpAddr> {
    if entry.d_type == libc::DT_DIR {
        return None;
    }
    ip::parse(&entry.name)
}

fn trim(mut data: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = data {
        if first.is_ascii_whitespace() || *first == 0x0b {
            data = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = data {
        if last.is_ascii_whitespace() || *last == 0x0b {
            data = rest;
        } else {
            break;
        }
    }
    data
}

impl DiskStore {
    /// Opens `<dataDir>/<network>/`, creating it (0755) and its lock as the reference does on
    /// every command, and takes the lock.
    pub fn open(network: &str, data_dir: &str) -> Result<DiskStore, StoreError> {
        check_network_name(network)?;
        let dir = Path::new(data_dir).join(network);
        mkdir_all(&dir)?;
        Self::open_dir(dir)
    }

    /// As [`DiskStore::open`], but `Ok(None)` without creating anything when the store does
    /// not exist (GC has nothing to collect there).
    pub fn open_existing(network: &str, data_dir: &str) -> Result<Option<DiskStore>, StoreError> {
        check_network_name(network)?;
        let dir = Path::new(data_dir).join(network);
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => Self::open_dir(dir).map(Some),
            Ok(_) => Err(StoreError::path(
                "open",
                &dir,
                io::Error::from_raw_os_error(libc::ENOTDIR),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::path("stat", &dir, e)),
        }
    }

    fn open_dir(dir: PathBuf) -> Result<DiskStore, StoreError> {
        let lock = FileLock::open(&dir)?;
        lock.lock()?;
        let dir_fd = sys::open_dir(&dir).map_err(|e| StoreError::path("open", &dir, e))?;
        Ok(DiskStore {
            dir,
            dir_fd,
            lock,
            listing: None,
            taken: BTreeSet::new(),
            staged: None,
            atomic_create: true,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The reservations in the directory, their contents read when `with_content`.
    fn entries(&mut self, with_content: bool) -> Result<&mut Vec<Entry>, StoreError> {
        if self.listing.is_none() {
            let listed =
                sys::read_dir(&self.dir_fd).map_err(|e| StoreError::path("open", &self.dir, e))?;
            self.listing = Some(
                listed
                    .iter()
                    .filter_map(|e| {
                        reservation_ip(e).map(|ip| Entry {
                            name: e.name.clone(),
                            ip,
                            // No writer makes a FIFO, socket or device: taken, never read
                            // (a FIFO would block Go's DEL, /dev/zero would never end).
                            content: match e.d_type {
                                libc::DT_FIFO | libc::DT_SOCK | libc::DT_CHR | libc::DT_BLK => {
                                    Content::Unreadable
                                }
                                _ => Content::Unread,
                            },
                        })
                    })
                    .collect::<Vec<Entry>>(),
            );
            self.taken = self.listing.iter().flatten().map(|e| e.ip).collect();
        }
        let dir_fd = &self.dir_fd;
        let listing = self.listing.as_mut().expect("listed above");
        if with_content {
            for entry in listing.iter_mut() {
                if entry.content == Content::Unread {
                    entry.content = match read_small(dir_fd, &entry.name) {
                        Ok(data) => Content::Data(trim(&data).to_vec()),
                        Err(_) => Content::Unreadable,
                    };
                }
            }
        }
        Ok(listing)
    }

    /// Removes the reservations `pick` selects, collecting failures (a reservation already
    /// gone is not one) and carrying on.
    fn remove_where(
        &mut self,
        mut pick: impl FnMut(&Entry) -> bool,
        errors: &mut Vec<String>,
    ) -> Result<usize, StoreError> {
        let entries = std::mem::take(self.entries(true)?);
        let mut kept = Vec::with_capacity(entries.len());
        let mut removed = 0;
        for entry in entries {
            if !pick(&entry) {
                kept.push(entry);
                continue;
            }
            match sys::unlink_at(&self.dir_fd, &entry.name) {
                Ok(()) => {
                    self.taken.remove(&entry.ip);
                    removed += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.taken.remove(&entry.ip);
                    removed += 1;
                }
                Err(e) => {
                    errors.push(
                        StoreError::path("remove", &self.path_of(&entry.name), e).to_string(),
                    );
                    kept.push(entry);
                }
            }
        }
        self.listing = Some(kept);
        Ok(removed)
    }

    /// Creates reservation `name` holding `record` unless the name exists.
    fn create_exclusive(&mut self, name: &str, record: &str) -> Result<bool, StoreError> {
        if self.atomic_create {
            match self.create_atomic(name, record) {
                Ok(created) => return Ok(created),
                Err(e) if unsupported(&e) => self.atomic_create = false,
                Err(e) => return Err(StoreError::path("open", &self.path_of(name), e)),
            }
        }
        self.create_plain(name, record)
            .map_err(|e| StoreError::path("open", &self.path_of(name), e))
    }

    fn create_atomic(&mut self, name: &str, record: &str) -> io::Result<bool> {
        let file = match self.staged.take() {
            Some((staged, file)) if staged == record => file,
            _ => {
                let mut file = sys::tmpfile_in(&self.dir_fd, FILE_MODE)?;
                file.write_all(record.as_bytes())?;
                file
            }
        };
        match sys::link_tmpfile(&file, &self.dir_fd, name) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.staged = Some((record.to_string(), file));
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Go's way: `O_EXCL` create, then write; a failed write removes the file again.
    fn create_plain(&self, name: &str, record: &str) -> io::Result<bool> {
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;
        let mut file = match sys::open_at(&self.dir_fd, name, flags, FILE_MODE) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(e),
        };
        if let Err(e) = file.write_all(record.as_bytes()) {
            drop(file);
            let _ = sys::unlink_at(&self.dir_fd, name);
            return Err(e);
        }
        Ok(true)
    }

    /// `os.WriteFile(path, data, 0600)` without its truncate-to-zero: the content is
    /// overwritten in place and the file then cut to its length. Same bytes and mode, but
    /// ext4 does not force a writeback on close, which it does for a file truncated to zero
    /// and rewritten (`auto_da_alloc`); that writeback was a sizeable part of an ADD. A kill
    /// in between can only leave another address to resume round-robin from.
    fn write_file(&self, name: &str, data: &str) -> Result<(), StoreError> {
        let flags = libc::O_WRONLY | libc::O_CREAT;
        sys::open_at(&self.dir_fd, name, flags, FILE_MODE)
            .and_then(|mut f| {
                f.write_all(data.as_bytes())?;
                f.set_len(data.len() as u64)
            })
            .map_err(|e| StoreError::path("open", &self.path_of(name), e))
    }

    /// Whether the listing (if read) already has `ip`, so creating it would fail anyway.
    fn listed(&self, ip: IpAddr) -> bool {
        self.taken.contains(&ip)
    }

    /// Removes reservations left empty by a writer that died between create and write (only
    /// possible on the `O_EXCL` fallback path, ours or Go's).
    fn sweep_orphans(&mut self, errors: &mut Vec<String>) -> Result<(), StoreError> {
        self.remove_where(|e| e.content == Content::Data(Vec::new()), errors)
            .map(drop)
    }
}

fn unsupported(err: &io::Error) -> bool {
    sys::tmpfile_unsupported(err)
        || matches!(
            err.raw_os_error(),
            Some(libc::ENOENT | libc::EPERM | libc::EXDEV)
        )
}

/// The largest reservation any writer can make: a container ID fits in one environment
/// string (`MAX_ARG_STRLEN`, 128 KiB), plus `\r\n` and an interface name.
const MAX_RECORD: usize = 256 * 1024;

/// Reads a small file relative to the store directory. Plain reads into a stack buffer: a
/// reservation is a few dozen bytes, and `read_to_end` would add a stat and a seek per file,
/// which adds up when every ADD reads the whole store (so not `libcni::fs::read_bounded`,
/// whose end-of-file read would cost the same). Bounded the same way: never blocks (a link
/// to a FIFO), never holds more than [`MAX_RECORD`] (a link to `/dev/zero`).
fn read_small(dir: &OwnedFd, name: &str) -> io::Result<Vec<u8>> {
    let mut file = sys::open_at(
        dir,
        name,
        libc::O_RDONLY | libc::O_NOCTTY | libc::O_NONBLOCK,
        0,
    )?;
    let mut buf = [0u8; 256];
    let mut data = Vec::new();
    loop {
        let n = file.read(&mut buf)?;
        data.extend_from_slice(&buf[..n]);
        // A regular file reads short only at its end.
        if n < buf.len() {
            return Ok(data);
        }
        if data.len() > MAX_RECORD {
            return Err(io::Error::from_raw_os_error(libc::EFBIG));
        }
    }
}

impl Store for DiskStore {
    fn reserve(&mut self, key: &Key, ip: IpAddr, range_id: usize) -> Result<bool, StoreError> {
        if self.listed(ip) {
            return Ok(false);
        }
        let name = ip.to_string();
        if !self.create_exclusive(&name, key.record())? {
            return Ok(false);
        }
        if let Some(listing) = self.listing.as_mut() {
            self.taken.insert(ip);
            listing.push(Entry {
                name: name.clone(),
                ip,
                content: Content::Data(key.record().as_bytes().to_vec()),
            });
        }
        let last = format!("{LAST_IP_PREFIX}{range_id}");
        if let Err(e) = self.write_file(&last, &name) {
            // Unlike the reference, do not leave a reservation behind that nobody was told of.
            let _ = sys::unlink_at(&self.dir_fd, &name);
            if let Some(listing) = self.listing.as_mut() {
                listing.retain(|en| en.name != name);
                self.taken = listing.iter().map(|e| e.ip).collect();
            }
            return Err(e);
        }
        Ok(true)
    }

    fn last_reserved_ip(&mut self, range_id: usize) -> Option<IpAddr> {
        let data = read_small(&self.dir_fd, &format!("{LAST_IP_PREFIX}{range_id}")).ok()?;
        // Go parses the content as is, without trimming.
        ip::parse(std::str::from_utf8(&data).ok()?)
    }

    fn get_by_id(&mut self, key: &Key) -> Result<Vec<IpAddr>, StoreError> {
        Ok(self
            .entries(true)?
            .iter()
            .filter(|e| matches!(&e.content, Content::Data(d) if key.owner_of(d) != Owner::Other))
            .map(|e| e.ip)
            .collect())
    }

    fn find_by_id(&mut self, key: &Key) -> Result<bool, StoreError> {
        Ok(self
            .entries(true)?
            .iter()
            .any(|e| matches!(&e.content, Content::Data(d) if key.owner_of(d) != Owner::Other)))
    }

    fn release_by_id(&mut self, key: &Key) -> Result<(), StoreError> {
        let mut errors = Vec::new();
        let owned_by = |owner: Owner| move |e: &Entry| matches!(&e.content, Content::Data(d) if key.owner_of(d) == owner);
        if self.remove_where(owned_by(Owner::Exact), &mut errors)? == 0 && errors.is_empty() {
            self.remove_where(owned_by(Owner::Legacy), &mut errors)?;
        }
        self.sweep_orphans(&mut errors)?;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Many(errors))
        }
    }

    fn reserved(&mut self) -> Result<Vec<IpAddr>, StoreError> {
        Ok(self.entries(false)?.iter().map(|e| e.ip).collect())
    }

    fn gc(&mut self, valid: &ValidAttachments) -> Result<(), StoreError> {
        let mut errors = Vec::new();
        self.remove_where(
            |e| matches!(&e.content, Content::Data(d) if !valid.keeps(d)),
            &mut errors,
        )?;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Many(errors))
        }
    }

    fn check_writable(&mut self) -> Result<(), StoreError> {
        let probe = match sys::tmpfile_in(&self.dir_fd, FILE_MODE) {
            Ok(_unnamed) => Ok(()),
            Err(e) if sys::tmpfile_unsupported(&e) => sys::dir_writable(&self.dir_fd),
            Err(e) => Err(e),
        };
        probe.map_err(|e| StoreError::path("open", &self.dir, e))
    }
}

impl Drop for DiskStore {
    fn drop(&mut self) {
        // Closing the descriptor releases the lock as well; unlocking first mirrors
        // go-filemutex's Close and keeps the lock short if the drop is not the last thing.
        let _ = self.lock.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcni::types::GcAttachment;

    fn temp() -> PathBuf {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("hl-disk-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn network_names_cannot_leave_data_dir() {
        let dir = temp();
        let d = dir.to_str().unwrap();
        for bad in ["", ".", "..", "../x", "a/b", "/abs", "a\0b"] {
            assert!(
                matches!(
                    DiskStore::open(bad, d),
                    Err(StoreError::InvalidNetworkName(_))
                ),
                "{bad:?} must be refused"
            );
        }
        assert!(DiskStore::open("a..b", d).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn mkdir_all_reads_like_go() {
        let dir = temp();
        let file = dir.join("file");
        std::fs::write(&file, b"").unwrap();
        let err = DiskStore::open("n", file.to_str().unwrap()).err().unwrap();
        assert_eq!(
            err.to_string(),
            format!("mkdir {}: not a directory", file.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reserve_release_and_gc() {
        let dir = temp();
        let d = dir.to_str().unwrap();
        let mut s = DiskStore::open("net", d).unwrap();
        let a = Key::new("a", "eth0");
        let ip1 = ip::parse("10.0.0.1").unwrap();
        let ip2 = ip::parse("10.0.0.2").unwrap();
        assert!(s.reserve(&a, ip1, 0).unwrap());
        assert!(!s.reserve(&a, ip1, 0).unwrap(), "taken");
        assert!(s.reserve(&Key::new("b", "eth0"), ip2, 0).unwrap());
        let store = dir.join("net");
        assert_eq!(std::fs::read(store.join("10.0.0.1")).unwrap(), b"a\r\neth0");
        assert_eq!(
            std::fs::read(store.join("last_reserved_ip.0")).unwrap(),
            b"10.0.0.2"
        );
        assert_eq!(s.get_by_id(&a).unwrap(), vec![ip1]);
        s.gc(&ValidAttachments::new(&[GcAttachment {
            container_id: "a".into(),
            ifname: "eth0".into(),
        }]))
        .unwrap();
        assert!(store.join("10.0.0.1").exists());
        assert!(!store.join("10.0.0.2").exists());
        assert!(store.join("lock").exists() && store.join("last_reserved_ip.0").exists());
        s.release_by_id(&a).unwrap();
        assert!(!store.join("10.0.0.1").exists());
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
