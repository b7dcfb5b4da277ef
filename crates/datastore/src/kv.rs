//! The key-value interface every backend implements, with etcd v3's semantics.
//!
//! Every write creates a new store-wide revision, strictly greater than every earlier one, and
//! stamps it on the key it wrote as the key's *mod revision*. A reader remembers the mod revision
//! it read and passes it back to [`Kv::update`] or [`Kv::delete`]: the write happens only if
//! nobody wrote the key in between, which is all a transaction-free compare-and-swap loop (such
//! as Calico IPAM's) needs. Revisions are never reused, so a key that was deleted and created
//! again does not match a revision read before the delete.

use std::fmt;

use crate::batch::{Read, Write};
use crate::error::{DatastoreError, Result};

/// An etcd revision (`int64` in etcd's API). 0 is never the revision of a stored key.
pub type Revision = i64;

/// A stored key, its value and its mod revision.
#[derive(Clone, PartialEq, Eq)]
pub struct KvPair {
    pub key: String,
    pub value: Vec<u8>,
    pub revision: Revision,
}

impl fmt::Debug for KvPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvPair")
            .field("key", &self.key)
            .field("value", &String::from_utf8_lossy(&self.value))
            .field("revision", &self.revision)
            .finish()
    }
}

/// A key-value store with etcd v3's semantics. Implementations are safe to share between
/// threads; the local store is also safe between processes.
pub trait Kv: Send + Sync {
    /// The backend's name as Calico's `datastore_type` spells it (`etcdv3`, `local`).
    fn backend(&self) -> &'static str;

    /// The value at `key` with its mod revision; `None` when absent.
    fn get(&self, key: &str) -> Result<Option<KvPair>>;

    /// Creates `key` if absent and returns the new revision; `AlreadyExists` (carrying the
    /// stored pair) otherwise.
    fn create(&self, key: &str, value: &[u8]) -> Result<Revision>;

    /// Replaces the value of `key` if its mod revision is still `revision` and returns the new
    /// revision. `Conflict` (carrying the stored pair) if it changed, `NotFound` if absent.
    fn update(&self, key: &str, value: &[u8], revision: Revision) -> Result<Revision>;

    /// Writes `key` whatever is there and returns the new revision.
    fn put(&self, key: &str, value: &[u8]) -> Result<Revision>;

    /// Deletes `key` and returns what it held. With `Some(revision)` only if the key's mod
    /// revision is still that (`Conflict` otherwise). `NotFound` if absent.
    fn delete(&self, key: &str, revision: Option<Revision>) -> Result<KvPair>;

    /// Every key that starts with `prefix` (a plain string prefix, as etcd's `WithPrefix`),
    /// sorted by key.
    fn list(&self, prefix: &str) -> Result<Vec<KvPair>>;

    /// The store's current revision: the revision of the latest write.
    fn revision(&self) -> Result<Revision>;

    /// Requests must end within `after` from now (Calico's context deadlines: `calico -t`'s
    /// 2 s, calico-ipam's 90 s after the host lock). Backends with their own per-request
    /// deadline (etcd) keep it.
    fn set_timeout(&self, _after: Option<std::time::Duration>) {}

    /// True when WorkloadEndpoints are not stored but derived from something else (pods, on
    /// Kubernetes): nothing to garbage-collect, and listing them all is not the CNI's to do.
    fn derives_endpoints(&self) -> bool {
        false
    }

    /// Brings `host`'s objects stored in an older format up to date (libcalico-go's IPAM
    /// `UpgradeHost`; on Kubernetes: labels on block affinities made before Calico v3.31, which
    /// label-selected listings would miss). Idempotent.
    fn upgrade_host(&self, _host: &str) -> Result<()> {
        Ok(())
    }

    /// Why `key` reads as absent, as libcalico-go's `ErrorResourceDoesNotExist` prints its
    /// cause: `None` (Go's `<nil>`) where the backend has no error for it (etcd), the API's
    /// 404 text on Kubernetes.
    fn absence_cause(&self, _key: &str) -> Option<String> {
        None
    }

    /// The Kubernetes API client of a Kubernetes backend, and the settings it was made from.
    fn kube_client(&self) -> Option<(&kubeclient::Client, &kubeclient::Sources)> {
        None
    }

    /// Whether [`Kv::read_many`] saves round trips (etcd: one `Txn`; the local store: one lock).
    /// Where it does not (the Kubernetes API has no batched reads), the typed layer reads each
    /// key when it is needed instead of all up front.
    fn batches_reads(&self) -> bool {
        true
    }

    /// Answers several reads at once (one round trip on etcd, one consistent snapshot): one
    /// list of pairs per read, in order.
    fn read_many(&self, reads: &[Read]) -> Result<Vec<Vec<KvPair>>>;

    /// Applies `writes` atomically under one new revision, which it returns; if any
    /// precondition fails nothing is written and the first failing write's error
    /// (`AlreadyExists`, `Conflict`, `NotFound`) is returned. Other writers and batched reads
    /// never see part of a transaction; on the local store a machine crash part-way can leave
    /// a prefix of the writes applied (etcd applies all or none), so order them accordingly.
    fn txn(&self, writes: &[Write]) -> Result<Revision>;
}

/// Runs `op` until it does not fail with a lost compare-and-swap (`Conflict`, or
/// `AlreadyExists` from a create that raced another), at most `max_attempts` times, then gives
/// up with `RetriesExhausted`. `op` gets the attempt number (0-based) and must re-read what it
/// depends on each time. Calico IPAM retries 100 times.
pub fn retry_on_conflict<T>(max_attempts: u32, mut op: impl FnMut(u32) -> Result<T>) -> Result<T> {
    for attempt in 0..max_attempts {
        match op(attempt) {
            Err(DatastoreError::Conflict { .. }) | Err(DatastoreError::AlreadyExists { .. }) => {
                continue
            }
            other => return other,
        }
    }
    Err(DatastoreError::RetriesExhausted {
        attempts: max_attempts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_stops_at_the_first_non_conflict_outcome() {
        let mut calls = 0;
        let out = retry_on_conflict(10, |attempt| {
            calls += 1;
            if attempt < 3 {
                Err(DatastoreError::Conflict {
                    identifier: "k".into(),
                    current: None,
                })
            } else {
                Ok(attempt)
            }
        });
        assert_eq!(out.unwrap(), 3);
        assert_eq!(calls, 4);

        let err = retry_on_conflict(5, |_| -> Result<()> {
            Err(DatastoreError::NotFound {
                identifier: "k".into(),
            })
        })
        .unwrap_err();
        assert!(err.is_not_found());
    }

    #[test]
    fn retry_gives_up_after_max_attempts() {
        let mut calls = 0;
        let err = retry_on_conflict(7, |_| -> Result<()> {
            calls += 1;
            Err(DatastoreError::AlreadyExists {
                identifier: "k".into(),
                existing: None,
            })
        })
        .unwrap_err();
        assert_eq!(calls, 7);
        assert!(matches!(
            err,
            DatastoreError::RetriesExhausted { attempts: 7 }
        ));
    }
}
