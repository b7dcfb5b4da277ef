//! Datastore errors, with libcalico-go's texts where Calico has one and a CNI code for each.

use std::io;
use std::path::PathBuf;

use libcni::error::code;
use libcni::CniCode;

use crate::kv::KvPair;

pub type Result<T, E = DatastoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum DatastoreError {
    /// The key does not exist (update/delete of an absent key). Gets return `Ok(None)` instead.
    #[error("resource does not exist: {identifier}")]
    NotFound { identifier: String },

    /// Create-if-absent found the key present; `existing` is its current value when the backend
    /// returned it in the same round trip (both do), so a claim loop can go on without a re-read.
    #[error("resource already exists: {identifier}")]
    AlreadyExists {
        identifier: String,
        existing: Option<Box<KvPair>>,
    },

    /// Compare-and-swap lost: the key's mod revision is no longer the one the caller read.
    /// `current` is the value now stored, when the backend returned it.
    #[error("update conflict: {identifier}")]
    Conflict {
        identifier: String,
        current: Option<Box<KvPair>>,
    },

    /// A compare-and-swap loop gave up (libcalico-go's text: IPAM is the loop's only user).
    #[error("Max retries hit - excessive concurrent IPAM requests")]
    RetriesExhausted { attempts: u32 },

    /// The datastore could not be reached or did not answer in time: a retry can succeed.
    #[error("{0}")]
    Unavailable(String),

    /// The datastore refused a request for a reason a retry will not fix (permission denied,
    /// malformed request).
    #[error("{0}")]
    Request(String),

    /// The Kubernetes API refused our credentials (401) or their permissions (403): an
    /// expired token in `calico-kubeconfig`, or RBAC without a verb we use (libcalico-go's
    /// `ErrorConnectionUnauthorized`).
    #[error("connection is unauthorized: {0}")]
    Unauthorized(String),

    /// A stored value is not what its key says it holds.
    #[error("failed to parse the value of {key}: {source}")]
    Decode {
        key: String,
        #[source]
        source: serde_json::Error,
    },

    /// The local store's files.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A key the store cannot hold (the local store: not absolute, empty segment, NUL or newline).
    #[error("invalid datastore key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },

    /// Bad datastore configuration (NetConf keys, environment, TLS files).
    #[error("{0}")]
    Config(String),

    /// A datastore type this build cannot serve yet (Kubernetes), or was built without (etcdv3).
    #[error("{0}")]
    Unsupported(String),
}

impl DatastoreError {
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        DatastoreError::Io {
            path: path.into(),
            source,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, DatastoreError::NotFound { .. })
    }

    pub fn is_already_exists(&self) -> bool {
        matches!(self, DatastoreError::AlreadyExists { .. })
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, DatastoreError::Conflict { .. })
    }

    /// True when running the same operation again may succeed: lost races and an unreachable
    /// or slow datastore.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            DatastoreError::Conflict { .. }
                | DatastoreError::RetriesExhausted { .. }
                | DatastoreError::Unavailable(_)
        )
    }

    /// The stored pair a failed create or compare-and-swap found, when the backend returned it.
    pub fn current(&self) -> Option<&KvPair> {
        match self {
            DatastoreError::AlreadyExists { existing, .. } => existing.as_deref(),
            DatastoreError::Conflict { current, .. } => current.as_deref(),
            _ => None,
        }
    }

    /// The same error about another identifier: the typed layer names keys the way Calico's
    /// `Key.String()` does (`BlockKey(cidr=10.0.0.0/26)`) instead of by path.
    pub(crate) fn with_identifier(self, id: impl FnOnce() -> String) -> Self {
        match self {
            DatastoreError::NotFound { .. } => DatastoreError::NotFound { identifier: id() },
            DatastoreError::AlreadyExists { existing, .. } => DatastoreError::AlreadyExists {
                identifier: id(),
                existing,
            },
            DatastoreError::Conflict { current, .. } => DatastoreError::Conflict {
                identifier: id(),
                current,
            },
            other => other,
        }
    }
}

impl CniCode for DatastoreError {
    fn code(&self) -> u32 {
        match self {
            // "Try again later": the plugin failed for a reason that may be gone on the next try.
            DatastoreError::Conflict { .. }
            | DatastoreError::RetriesExhausted { .. }
            | DatastoreError::Unavailable(_) => code::TRY_AGAIN_LATER,
            DatastoreError::Io { .. } => code::IO_FAILURE,
            DatastoreError::Config(_) => code::INVALID_NETWORK_CONFIG,
            DatastoreError::Unsupported(_) => code::UNSUPPORTED_FIELD,
            DatastoreError::NotFound { .. }
            | DatastoreError::AlreadyExists { .. }
            | DatastoreError::Request(_)
            | DatastoreError::Unauthorized(_)
            | DatastoreError::Decode { .. }
            | DatastoreError::InvalidKey { .. } => code::INTERNAL,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_mark_what_a_retry_can_fix() {
        let conflict = DatastoreError::Conflict {
            identifier: "k".into(),
            current: None,
        };
        assert_eq!(conflict.code(), 11);
        assert_eq!(
            DatastoreError::RetriesExhausted { attempts: 100 }.code(),
            11
        );
        assert_eq!(DatastoreError::Unavailable("down".into()).code(), 11);
        assert_eq!(DatastoreError::Config("bad".into()).code(), 7);
        assert_eq!(DatastoreError::Unsupported("k8s".into()).code(), 2);
        let missing = DatastoreError::NotFound {
            identifier: "k".into(),
        };
        assert_eq!(missing.code(), 999);
        assert!(!missing.is_retryable());
        assert!(conflict.is_retryable());
    }

    #[test]
    fn a_client_that_cannot_be_created_says_whether_a_retry_helps() {
        // Our code table (Calico returns 999 for all): a configuration no retry will fix is
        // 7, an outage 11, a local I/O error 5; the text is the reason as it is.
        let e = DatastoreError::Config("host must be a URL or a host:port pair".into());
        assert_eq!(e.to_cni().code, 7);
        assert_eq!(e.to_cni().msg, e.to_string());
        let down = DatastoreError::Unavailable("down".into());
        assert_eq!(down.to_cni().code, 11);
        let io = DatastoreError::io("/x", io::Error::from_raw_os_error(libc::EROFS));
        assert_eq!(io.to_cni().code, 5);
    }

    #[test]
    fn texts_are_libcalico_gos() {
        let e = DatastoreError::NotFound {
            identifier: "/calico/ipam/v2/handle/h".into(),
        };
        assert_eq!(
            e.to_string(),
            "resource does not exist: /calico/ipam/v2/handle/h"
        );
        let e = e.with_identifier(|| "IPAMHandleKey(id=h)".into());
        assert_eq!(
            e.to_string(),
            "resource does not exist: IPAMHandleKey(id=h)"
        );
        assert_eq!(
            DatastoreError::RetriesExhausted { attempts: 100 }.to_string(),
            "Max retries hit - excessive concurrent IPAM requests"
        );
        let e = DatastoreError::Conflict {
            identifier: "BlockKey(cidr=10.0.0.0/26)".into(),
            current: None,
        };
        assert_eq!(e.to_string(), "update conflict: BlockKey(cidr=10.0.0.0/26)");
    }
}
