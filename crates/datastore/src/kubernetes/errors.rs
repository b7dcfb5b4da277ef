//! API errors as libcalico-go's `K8sErrorToCalico` maps them: by the Status *reason*, with
//! the two precondition cases that mean "the object is gone" (a UID precondition that no
//! longer matches: the object was deleted and made again).

use kubeclient::Error;

use crate::error::DatastoreError;

/// The datastore error for an API error about `identifier` (the Calico key's name).
pub fn to_datastore(e: Error, identifier: &str) -> DatastoreError {
    let id = || identifier.to_string();
    let s = match e {
        Error::Api(s) => s,
        // No answer at all: a retry may get one.
        Error::Transport(t) => return DatastoreError::Unavailable(t),
        Error::Config(c) => return DatastoreError::Config(c),
    };
    let only_field =
        |field: &str| !s.causes.is_empty() && s.causes.iter().all(|c| c.field == field);
    match (s.code, s.reason.as_str()) {
        (_, "AlreadyExists") => DatastoreError::AlreadyExists {
            identifier: id(),
            existing: None,
        },
        (404, _) | (_, "NotFound") => DatastoreError::NotFound { identifier: id() },
        (401, _) | (403, _) | (_, "Unauthorized") | (_, "Forbidden") => {
            DatastoreError::Unauthorized(s.message)
        }
        (409, _) if s.message.contains("UID in precondition") => {
            DatastoreError::NotFound { identifier: id() }
        }
        (409, _) | (_, "Conflict") => DatastoreError::Conflict {
            identifier: id(),
            current: None,
        },
        (422, _) if only_field("metadata.uid") => DatastoreError::NotFound { identifier: id() },
        (422, _) if only_field("metadata.resourceVersion") => DatastoreError::Conflict {
            identifier: id(),
            current: None,
        },
        // An overloaded or failing server: worth another try later.
        (429, _) | (500..=599, _) => DatastoreError::Unavailable(s.message),
        _ => DatastoreError::Request(s.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubeclient::{Cause, Status};

    fn api(code: u16, reason: &str, message: &str, causes: &[&str]) -> Error {
        Error::Api(Box::new(Status {
            code,
            reason: reason.into(),
            message: message.into(),
            causes: causes
                .iter()
                .map(|f| Cause {
                    field: f.to_string(),
                    ..Cause::default()
                })
                .collect(),
            retry_after: None,
        }))
    }

    #[test]
    fn reasons_map_like_libcalico_go() {
        let m = |e| to_datastore(e, "BlockKey(cidr=10.0.0.0/26)");
        assert!(m(api(409, "AlreadyExists", "x already exists", &[])).is_already_exists());
        assert!(m(api(409, "Conflict", "the object has been modified", &[])).is_conflict());
        assert!(m(api(
            409,
            "Conflict",
            "Precondition failed: UID in precondition: a, UID in object meta: b",
            &[]
        ))
        .is_not_found());
        assert!(m(api(422, "Invalid", "x", &["metadata.uid"])).is_not_found());
        assert!(m(api(422, "Invalid", "x", &["metadata.resourceVersion"])).is_conflict());
        assert!(matches!(
            m(api(422, "Invalid", "x", &["spec.deleted"])),
            DatastoreError::Request(_)
        ));
        assert_eq!(
            m(api(401, "Unauthorized", "Unauthorized", &[])).to_string(),
            "connection is unauthorized: Unauthorized"
        );
        assert!(m(api(503, "ServiceUnavailable", "down", &[])).is_retryable());
        assert!(m(Error::Transport("Get \"x\": EOF".into())).is_retryable());
    }
}
