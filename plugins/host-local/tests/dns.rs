//! The reference's `dns_test.go` scenarios through `resolvConf` and the ADD result, and the
//! same result from Debian's Go host-local.

mod common;

use common::*;
use serde_json::{json, Value};

fn dns_of(bin: &std::path::Path, resolv: &str) -> Value {
    let data = DataDir::new();
    let path = data.dir.path().join("resolv.conf");
    std::fs::write(&path, resolv).unwrap();
    let stdin = conf(
        "1.0.0",
        "mynet",
        data.path(),
        json!({"subnet": "10.1.2.0/24", "resolvConf": path}),
        json!({}),
    );
    let run = add(bin, "ctr", "eth0", &stdin);
    run.assert_success();
    run.json()["dns"].clone()
}

const ALL_FIELDS: &str = "nameserver 10.0.0.0\n\
    nameserver 10.0.0.2\n\
    # a comment\n\
    ; another\n\
    domain example.com\n\
    search example.net example.org\n\
    search example.gov\n\
    options one two three\n\
    options four\n";

#[test]
fn simple_nameservers() {
    assert_eq!(
        dns_of(ours(), "nameserver 10.0.0.1\nnameserver 10.0.0.2\n"),
        json!({"nameservers": ["10.0.0.1", "10.0.0.2"]})
    );
}

#[test]
fn semicolon_lines_are_comments() {
    assert_eq!(
        dns_of(ours(), "nameserver 10.0.0.1\n;nameserver 10.0.0.2\n"),
        json!({"nameservers": ["10.0.0.1"]})
    );
}

#[test]
fn all_fields() {
    assert_eq!(
        dns_of(ours(), ALL_FIELDS),
        json!({
            "nameservers": ["10.0.0.0", "10.0.0.2"],
            "domain": "example.com",
            "search": ["example.net", "example.org", "example.gov"],
            "options": ["one", "two", "three", "four"]
        })
    );
}

#[test]
fn same_as_go() {
    let go = go();
    for resolv in [
        ALL_FIELDS,
        "nameserver 1.1.1.1\r\n  domain  a.b  \n\nlonely\n",
    ] {
        assert_eq!(dns_of(ours(), resolv), dns_of(&go, resolv), "{resolv:?}");
    }
}
