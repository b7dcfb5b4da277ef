//! Batched access: several reads answered in one round trip, and several writes applied as one
//! atomic transaction under one revision (etcd's `Txn`). Calico IPAM's hot path reads its
//! inputs (pools, reservations, IPAM config, this host's affinities) in one batch and writes
//! the block and the handle together, instead of one round trip per key.

use crate::error::DatastoreError;
use crate::kv::{KvPair, Revision};

/// One read of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// One key (its answer holds zero or one pair).
    Key(String),
    /// Every key starting with the prefix, sorted by key.
    Prefix(String),
}

impl Read {
    pub fn key(&self) -> &str {
        match self {
            Read::Key(k) | Read::Prefix(k) => k,
        }
    }
}

/// One write of a transaction with its precondition; the transaction applies every write or,
/// when any precondition fails, none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// The key must be absent.
    Create { key: String, value: Vec<u8> },
    /// The key's mod revision must still be `revision`.
    Update {
        key: String,
        value: Vec<u8>,
        revision: Revision,
    },
    /// The key must exist (and be at `revision`, when given).
    Delete {
        key: String,
        revision: Option<Revision>,
    },
}

impl Write {
    pub fn key(&self) -> &str {
        match self {
            Write::Create { key, .. } | Write::Update { key, .. } | Write::Delete { key, .. } => {
                key
            }
        }
    }

    /// The error this write fails with when the key is as `current` says, or `None` when its
    /// precondition holds. The same wording as the single-key operations.
    pub fn failure(&self, current: Option<&KvPair>) -> Option<DatastoreError> {
        let key = self.key();
        match (self, current) {
            (Write::Create { .. }, None) => None,
            (Write::Create { .. }, Some(c)) => Some(DatastoreError::AlreadyExists {
                identifier: key.to_string(),
                existing: Some(Box::new(c.clone())),
            }),
            (Write::Update { .. } | Write::Delete { .. }, None) => Some(DatastoreError::NotFound {
                identifier: key.to_string(),
            }),
            (Write::Update { revision, .. }, Some(c)) if c.revision != *revision => {
                Some(conflict(key, c))
            }
            (
                Write::Delete {
                    revision: Some(r), ..
                },
                Some(c),
            ) if c.revision != *r => Some(conflict(key, c)),
            _ => None,
        }
    }
}

fn conflict(key: &str, current: &KvPair) -> DatastoreError {
    DatastoreError::Conflict {
        identifier: key.to_string(),
        current: Some(Box::new(current.clone())),
    }
}

/// Typed constructors, so callers name Calico keys rather than paths.
impl Read {
    pub fn of<K: crate::keys::Key>(key: &K) -> Self {
        Read::Key(key.path())
    }

    pub fn listing<L: crate::keys::ListOptions>(opts: &L) -> Self {
        Read::Prefix(opts.prefix())
    }
}

impl Write {
    pub fn create<K: crate::keys::Key>(key: &K, value: &K::Value) -> Self {
        use crate::model::Model;
        Write::Create {
            key: key.path(),
            value: value.encode(),
        }
    }

    pub fn update<K: crate::keys::Key>(key: &K, value: &K::Value, revision: Revision) -> Self {
        use crate::model::Model;
        Write::Update {
            key: key.path(),
            value: value.encode(),
            revision,
        }
    }
}
