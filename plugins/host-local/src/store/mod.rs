//! Where reservations live. [`Store`] is the pluggable backend (the reference's
//! `backend.Store`, plus GC and STATUS support); [`disk::DiskStore`] is the one host-local
//! ships, file-for-file compatible with the Go plugin's.

pub mod disk;
pub mod lock;
mod sys;

use std::collections::HashSet;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use libcni::types::GcAttachment;
use libcni::CniCode;

/// The separator between container ID and ifname in a reservation record.
pub const LINE_BREAK: &str = "\r\n";

/// Who holds a reservation: the record `<containerID>\r\n<ifname>` written into a reservation,
/// and the bare container ID that reservations written before ifnames were recorded hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    record: String,
    id_len: usize,
}

/// How a reservation's (whitespace-trimmed) content relates to a [`Key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// `<id>\r\n<ifname>`: this attachment.
    Exact,
    /// `<id>` alone: written by a version that did not record the ifname.
    Legacy,
    Other,
}

impl Key {
    /// The container ID is trimmed, as the reference does before writing or matching.
    pub fn new(container_id: &str, ifname: &str) -> Key {
        let id = container_id.trim();
        Key {
            record: format!("{id}{LINE_BREAK}{ifname}"),
            id_len: id.len(),
        }
    }

    pub fn id(&self) -> &str {
        &self.record[..self.id_len]
    }

    /// What the reference writes into a reservation (no trailing newline).
    pub fn record(&self) -> &str {
        &self.record
    }

    pub fn owner_of(&self, trimmed_content: &[u8]) -> Owner {
        if trimmed_content == self.record.as_bytes() {
            Owner::Exact
        } else if trimmed_content == self.id().as_bytes() {
            Owner::Legacy
        } else {
            Owner::Other
        }
    }
}

/// The attachments a runtime still considers live (`cni.dev/valid-attachments`), as the
/// records they would have written, plus their bare IDs for legacy reservations.
#[derive(Debug, Default)]
pub struct ValidAttachments {
    records: HashSet<String>,
    ids: HashSet<String>,
}

impl ValidAttachments {
    pub fn new(attachments: &[GcAttachment]) -> Self {
        let mut valid = ValidAttachments::default();
        for a in attachments {
            let key = Key::new(&a.container_id, &a.ifname);
            valid.ids.insert(key.id().to_string());
            valid.records.insert(key.record);
        }
        valid
    }

    /// Whether a reservation holding `trimmed_content` belongs to a live attachment. A legacy
    /// reservation (no ifname) is live if its container has any live attachment.
    pub fn keeps(&self, trimmed_content: &[u8]) -> bool {
        let Ok(content) = std::str::from_utf8(trimmed_content) else {
            return false;
        };
        self.records.contains(content)
            || (!content.contains(LINE_BREAK) && self.ids.contains(content))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A network name that is not a single path component would put the store outside
    /// `dataDir`.
    #[error("invalid network name {0:?}: the store directory must stay inside dataDir")]
    InvalidNetworkName(String),
    /// Go's `*fs.PathError` wording: `<op> <path>: <errno text>`.
    #[error("{}", libcni::error::path_error_text(.op, .path, .source))]
    Path {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A bare errno, as go-filemutex reports a failed open of the lock file.
    #[error("{}", libcni::error::io_error_text(.0))]
    Errno(io::Error),
    /// Several failures while releasing, joined as the reference joins DEL errors.
    #[error("{}", .0.join(";"))]
    Many(Vec<String>),
}

impl StoreError {
    pub fn path(op: &'static str, path: &Path, source: io::Error) -> Self {
        StoreError::Path {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl CniCode for StoreError {}

/// A network's reservation store, opened for one plugin invocation and held exclusively
/// (locked) for as long as it is open, so a sequence of calls sees a consistent store.
pub trait Store {
    /// Reserves `ip` for `key` unless it is taken (`Ok(false)`); on success it becomes the last
    /// reserved address of range set `range_id`.
    fn reserve(&mut self, key: &Key, ip: IpAddr, range_id: usize) -> Result<bool, StoreError>;

    /// The last address reserved from range set `range_id`, if one is recorded and readable.
    fn last_reserved_ip(&mut self, range_id: usize) -> Option<IpAddr>;

    /// Every address reserved for `key`, in exact or legacy form.
    fn get_by_id(&mut self, key: &Key) -> Result<Vec<IpAddr>, StoreError>;

    /// Whether anything is reserved for `key` (exact first, then legacy).
    fn find_by_id(&mut self, key: &Key) -> Result<bool, StoreError>;

    /// Releases the reservations of `key`: the exact ones, or if there are none the legacy
    /// ones (the reference's `ReleaseByID`, called once per range set).
    fn release_by_id(&mut self, key: &Key) -> Result<(), StoreError>;

    /// Every reserved address, whoever holds it.
    fn reserved(&mut self) -> Result<Vec<IpAddr>, StoreError>;

    /// Releases every reservation that `valid` does not keep.
    fn gc(&mut self, valid: &ValidAttachments) -> Result<(), StoreError>;

    /// Whether new reservations can be written.
    fn check_writable(&mut self) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_exact_then_legacy() {
        let k = Key::new("  dummy\n ", "eth0");
        assert_eq!(k.record(), "dummy\r\neth0");
        assert_eq!(k.id(), "dummy");
        assert_eq!(k.owner_of(b"dummy\r\neth0"), Owner::Exact);
        assert_eq!(k.owner_of(b"dummy"), Owner::Legacy);
        assert_eq!(k.owner_of(b"dummy\r\neth1"), Owner::Other);
        assert_eq!(k.owner_of(b"dummy1"), Owner::Other);
    }

    #[test]
    fn valid_attachments() {
        let v = ValidAttachments::new(&[GcAttachment {
            container_id: "a".into(),
            ifname: "eth0".into(),
        }]);
        assert!(v.keeps(b"a\r\neth0"));
        assert!(
            v.keeps(b"a"),
            "a legacy reservation of a live container stays"
        );
        assert!(!v.keeps(b"a\r\neth1"));
        assert!(!v.keeps(b"b"));
        assert!(!v.keeps(b""));
    }
}
