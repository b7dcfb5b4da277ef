//! Result conversion between every pair of versions against golden JSON in `testdata/results`.
//! The goldens are the exact bytes Go's `Result.Print` writes (4-space indent, no trailing
//! newline; 1.x keys in Go struct field order, empty dns dropped; 0.x `dns` always present).
//! Set `UPDATE_GOLDEN=1` to rewrite them, then review the diff by hand.

use std::path::PathBuf;

use libcni::version::ALL;
use libcni::CniResult;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/results")
}

fn check_golden(name: &str, actual: &str) {
    let path = dir().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("missing golden {}: {e}", path.display()));
    assert_eq!(actual, expected, "golden {name} differs");
}

fn convert_all(input: &str) {
    let bytes = std::fs::read(dir().join(format!("{input}.json"))).unwrap();
    let result = CniResult::from_bytes(&bytes).unwrap();
    for to in ALL {
        let name = format!("{input}.to-{to}.golden");
        match result.convert(to) {
            Ok(r) => {
                let text = r.to_json();
                check_golden(&name, &text);
                // Round trip: the printed result parses back as its own version and prints the
                // same bytes again.
                let again = CniResult::create(to, text.as_bytes()).unwrap();
                assert_eq!(again.to_json(), text, "round trip of {name}");
            }
            Err(e) => check_golden(&name, &format!("error: {e}")),
        }
    }
}

#[test]
fn converts_a_rich_110_result_to_every_version() {
    convert_all("input-1.1.0");
}

#[test]
fn converts_a_020_result_to_every_version() {
    convert_all("input-0.2.0");
}

#[test]
fn converts_a_v6_only_040_result_to_every_version() {
    convert_all("input-0.4.0-v6only");
}

#[test]
fn a_result_without_ips_cannot_go_below_030() {
    let r =
        CniResult::from_bytes(br#"{"cniVersion":"1.0.0","interfaces":[{"name":"lo"}]}"#).unwrap();
    assert_eq!(
        r.convert("0.2.0").unwrap_err(),
        "cannot convert: no valid IP addresses"
    );
    assert_eq!(
        r.convert("9.9.9").unwrap_err(),
        "no converter for CNI result version 1.0.0 to 9.9.9"
    );
}

#[test]
fn create_checks_the_family_and_version() {
    assert_eq!(
        CniResult::create("0.4.0", br#"{"cniVersion":"1.0.0"}"#).unwrap_err(),
        "result type supports [0.3.0 0.3.1 0.4.0] but unmarshalled CNIVersion is \"1.0.0\""
    );
    assert_eq!(
        CniResult::create("7.0.0", b"{}").unwrap_err(),
        "unsupported CNI result version \"7.0.0\""
    );
}

#[test]
fn unlabelled_results_take_their_layouts_newest_version() {
    let r = CniResult::create(
        "1.0.0",
        br#"{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/8"}]}"#,
    )
    .unwrap();
    let mut unlabelled = r.to_current().unwrap();
    unlabelled.cni_version.clear();
    let r = CniResult::V100(unlabelled).get_as_version("0.3.1").unwrap();
    assert_eq!(
        r.to_json(),
        "{\n    \"cniVersion\": \"0.3.1\",\n    \"ips\": [\n        {\n            \"version\": \"4\",\n            \"address\": \"10.0.0.2/8\"\n        }\n    ],\n    \"dns\": {}\n}"
    );
}
