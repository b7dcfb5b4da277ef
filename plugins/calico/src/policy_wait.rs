//! `policy_setup_timeout_seconds` (k8s): after the endpoint is written, wait for Felix to
//! report the endpoint's policy programmed, as a file in `endpoint_status_dir` named
//! `<orch> <ns/pod> <endpoint>` (each part URL-path-escaped). A timeout only warns, as in
//! Calico; a negative timeout is an error.

use std::path::Path;
use std::time::{Duration, Instant};

use calicolog::warning;
use libcni::{code, CniError};

use crate::names::Identifiers;

/// Go's `url.PathEscape`.
pub fn path_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'~' | b'$' | b'&' | b'+' | b',' | b';' | b'=' | b':' | b'@'
            );
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn status_file_name(ids: &Identifiers) -> String {
    format!(
        "{} {} {}",
        path_escape(&ids.orchestrator),
        path_escape(&format!("{}/{}", ids.namespace, ids.pod)),
        path_escape(&ids.endpoint)
    )
}

pub fn wait(dir: &str, ids: &Identifiers, timeout_seconds: i64) -> Result<(), CniError> {
    if timeout_seconds < 0 {
        return Err(CniError::new(
            code::INTERNAL,
            format!("invalid pod startup delay of {timeout_seconds}"),
        ));
    }
    if timeout_seconds == 0 {
        return Ok(());
    }
    let file = Path::new(dir).join(status_file_name(ids));
    let deadline = Instant::now() + Duration::from_secs(timeout_seconds as u64);
    while Instant::now() < deadline {
        if file.exists() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    warning!(
        "Error waiting for endpoint to become ready. Unblocking pod creation...: timed out waiting for {}",
        file.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_file_names() {
        let ids = Identifiers {
            orchestrator: "k8s".into(),
            namespace: "test".into(),
            pod: "pod1".into(),
            endpoint: "eth0".into(),
            ..Identifiers::default()
        };
        assert_eq!(status_file_name(&ids), "k8s test%2Fpod1 eth0");
        assert_eq!(path_escape("a b/c?"), "a%20b%2Fc%3F");
    }
}
