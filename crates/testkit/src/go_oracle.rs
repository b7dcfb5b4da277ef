//! Comparing a plugin's output with Debian's Go build of the same plugin, byte for byte.
//!
//! Debian's `containernetworking-plugins` 1.1.1 is built against CNI library 1.1.2. Its
//! output and ours are compared as bytes, with one difference taken out of Go's side: an
//! empty `"dns": {}` at the end of a 1.x result, which the current library (and we) leave
//! out. Everything else, key order and error texts included, must be the same.

use crate::PluginRun;

/// The CNI versions Debian's plugins accept (they stop at 1.0.0).
pub const GO_VERSIONS: &[&str] = &["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"];

/// Go's stdout without the empty `dns` of a 1.x-shaped result, which the current library no
/// longer prints. A 1.x shape is a 1.x label, or `ips` without `version` (Go's loopback
/// labels a 1.x-shaped result with an older version).
pub fn without_empty_dns(go_stdout: &str) -> String {
    const EMPTY_DNS: &str = ",\n    \"dns\": {}\n}";
    let shaped_1x = go_stdout.starts_with("{\n    \"cniVersion\": \"1.")
        || (go_stdout.contains("\"ips\": [") && !go_stdout.contains("\"version\": "));
    if shaped_1x && go_stdout.ends_with(EMPTY_DNS) {
        format!("{}\n}}", &go_stdout[..go_stdout.len() - EMPTY_DNS.len()])
    } else {
        go_stdout.to_string()
    }
}

/// Panics, showing both runs, unless ours exited like Go's and printed the same bytes.
pub fn assert_same_output(ours: &PluginRun, go: &PluginRun, case: &str) {
    let go_stdout = without_empty_dns(&go.stdout);
    if ours.code != go.code || ours.stdout != go_stdout {
        panic!(
            "{case}: output differs from Go's\n--- ours:\n{ours}\n--- Go (empty 1.x dns removed):\n\
             exit code: {}\nstdout:\n{go_stdout}\nstderr:\n{}",
            go.code, go.stderr
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_empty_dns_of_a_1x_result_goes() {
        let go = "{\n    \"cniVersion\": \"1.0.0\",\n    \"ips\": [],\n    \"dns\": {}\n}";
        assert_eq!(
            without_empty_dns(go),
            "{\n    \"cniVersion\": \"1.0.0\",\n    \"ips\": []\n}"
        );
        let old = "{\n    \"cniVersion\": \"0.4.0\",\n    \"dns\": {}\n}";
        assert_eq!(without_empty_dns(old), old);
        let set = "{\n    \"cniVersion\": \"1.0.0\",\n    \"dns\": {\n        \"domain\": \"x\"\n    }\n}";
        assert_eq!(without_empty_dns(set), set);
    }
}
