//! API client errors: the API's own answer (a `Status`), a request that got no answer (with
//! client-go's wording, which is what users grep for), or a configuration that cannot work.

use libcni::{code, CniError};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server answered with a non-2xx status.
    #[error("{}", .0.message)]
    Api(Box<Status>),
    /// No answer: connection refused, TLS failure, timeout, a closed connection. The text is
    /// client-go's: `Get "https://10.96.0.1:443/api/v1/...": dial tcp ...: connect: connection refused`.
    #[error("{0}")]
    Transport(String),
    /// The kubeconfig, a file it names, or the server URL is unusable.
    #[error("{0}")]
    Config(String),
}

/// One `details.causes[]` entry of a Status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cause {
    pub reason: String,
    pub field: String,
    pub message: String,
}

/// Kubernetes' `metav1.Status` of a failed request, or what client-go makes of a body that
/// is not one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub code: u16,
    /// `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `Forbidden`, `Unauthorized`, ...
    pub reason: String,
    pub message: String,
    pub causes: Vec<Cause>,
    /// `Retry-After` in seconds, when the server sent one.
    pub retry_after: Option<u64>,
}

impl Status {
    /// The Status in a response body; a body that is not one gets client-go's generic text
    /// for the code (`NewGenericServerResponse`).
    pub fn from_response(code: u16, body: &[u8], retry_after: Option<u64>) -> Status {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let text = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let is_status = v.get("kind").and_then(Value::as_str) == Some("Status");
        let causes = v
            .pointer("/details/causes")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|c| Cause {
                        reason: c
                            .get("reason")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .into(),
                        field: c
                            .get("field")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .into(),
                        message: c
                            .get("message")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .into(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (reason, message) = if is_status && !text("/message").is_empty() {
            (text("/reason"), text("/message"))
        } else {
            generic(code, body)
        };
        Status {
            code,
            reason,
            message,
            causes,
            retry_after,
        }
    }

    pub fn is(&self, reason: &str) -> bool {
        self.reason == reason
    }
}

/// client-go's `NewGenericServerResponse` texts for a response without a Status body.
fn generic(code: u16, body: &[u8]) -> (String, String) {
    let (reason, msg) = match code {
        400 => (
            "BadRequest",
            "the server rejected our request for an unknown reason",
        ),
        401 => (
            "Unauthorized",
            "the server has asked for the client to provide credentials",
        ),
        403 => (
            "Forbidden",
            "the server does not allow access to the requested resource",
        ),
        404 => ("NotFound", "the server could not find the requested resource"),
        405 => (
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ),
        409 => ("Conflict", "the server reported a conflict"),
        415 => (
            "UnsupportedMediaType",
            "the server has rejected the request because of an unsupported media type",
        ),
        422 => (
            "Invalid",
            "the server rejected our request due to an error in our request",
        ),
        429 => (
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        ),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        504 => (
            "Timeout",
            "the server was unable to return a response in the time allotted, but may still be processing the request",
        ),
        _ => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            return (
                "InternalError".into(),
                if text.is_empty() {
                    format!("an error on the server (\"unknown\") has prevented the request from succeeding (status {code})")
                } else {
                    format!(
                        "an error on the server ({}) has prevented the request from succeeding",
                        libcni::json::go_quote(text)
                    )
                },
            );
        }
    };
    (reason.into(), msg.into())
}

impl Error {
    /// The Status of an API answer.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Error::Api(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status().is_some_and(|s| s.code == 404)
    }

    /// The credentials were refused (401) or lack a permission (403).
    pub fn is_unauthorized(&self) -> bool {
        self.status()
            .is_some_and(|s| s.code == 401 || s.code == 403)
    }

    /// As a CNI error: Calico returns these as plain errors (code 999) with the same text.
    pub fn to_cni(&self) -> CniError {
        CniError::new(code::INTERNAL, self.to_string())
    }
}

impl From<Error> for CniError {
    fn from(e: Error) -> CniError {
        e.to_cni()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_bodies_and_generic_texts() {
        let s = Status::from_response(
            409,
            br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Operation cannot be fulfilled on ipamblocks.crd.projectcalico.org \"b\": the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","code":409}"#,
            None,
        );
        assert_eq!(s.reason, "Conflict");
        assert!(s.message.starts_with("Operation cannot be fulfilled"));
        let s = Status::from_response(
            422,
            br#"{"kind":"Status","message":"x is invalid","reason":"Invalid","details":{"causes":[{"reason":"FieldValueInvalid","field":"metadata.uid","message":"field is immutable"}]}}"#,
            None,
        );
        assert_eq!(s.causes[0].field, "metadata.uid");
        let s = Status::from_response(502, b"bad gateway", Some(3));
        assert_eq!(
            s.message,
            "an error on the server (\"bad gateway\") has prevented the request from succeeding"
        );
        assert_eq!(s.retry_after, Some(3));
        assert_eq!(
            Status::from_response(404, b"", None).message,
            "the server could not find the requested resource"
        );
    }
}
