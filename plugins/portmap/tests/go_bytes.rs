//! Our stdout byte for byte against Debian's Go portmap (1.1.1) on the same input, for every
//! version both support: ADD passing a prevResult through (keys re-serialised in Go's field
//! order), CHECK and DEL errors, and the errors of bad configs, capability args (containerd's
//! capitalised keys included) and prevResults. Only Go's empty 1.x `dns` is normalised
//! (`testkit::go_oracle`).

mod common;

use common::*;
use serde_json::{json, Value};
use testkit::go_oracle::{assert_same_output, GO_VERSIONS};
use testkit::TempNetns;

fn prev(version: &str) -> Value {
    if version < "0.3.0" {
        json!({"cniVersion": version, "ip4": {"gateway": "10.0.0.1", "ip": "10.0.0.2/24",
               "routes": [{"gw": "10.0.0.1", "dst": "0.0.0.0/0"}]},
               "dns": {"search": ["a"], "nameservers": ["10.0.0.1"]}})
    } else {
        json!({"dns": {"options": ["ndots:2"], "domain": "example", "nameservers": ["10.0.0.1"]},
               "routes": [{"gw": "10.0.0.1", "dst": "0.0.0.0/0"}, {"dst": "::/0"}],
               "ips": [{"gateway": "10.0.0.1", "interface": 0, "address": "10.0.0.2/24"},
                       {"interface": 0, "address": "2001:db8::2/64"}],
               "interfaces": [{"sandbox": "/var/run/netns/x", "name": "eth0", "mac": "aa:bb:cc:dd:ee:ff"}],
               "cniVersion": version})
    }
}

/// Runs both plugins on the same input in the same host namespace.
fn compare(host: &Host, ctr: &TempNetns, cmd: &str, stdin: &str, case: &str) {
    let theirs = host.run(&go(), cmd, "cbytes", ctr.path(), stdin);
    let ours = host.run(&ours(), cmd, "cbytes", ctr.path(), stdin);
    assert_same_output(&ours, &theirs, case);
}

#[test]
fn add_passes_the_prev_result_through_as_go_prints_it() {
    testkit::require_root();
    let host = Host::new();
    let ctr = TempNetns::new();
    for v in GO_VERSIONS {
        // No mappings: nothing to program, the prevResult comes back in the config's version.
        let conf = Conf::new("bytes", v, json!([])).prev(prev(v)).text();
        compare(&host, &ctr, "ADD", &conf, &format!("ADD {v}"));
        // A prevResult without its own version takes the config's.
        let mut unlabelled = prev(v);
        unlabelled.as_object_mut().unwrap().remove("cniVersion");
        let conf = Conf::new("bytes", v, json!([])).prev(unlabelled).text();
        compare(
            &host,
            &ctr,
            "ADD",
            &conf,
            &format!("ADD unlabelled prevResult {v}"),
        );
        compare(&host, &ctr, "DEL", &conf, &format!("DEL {v}"));
    }
    // 0.4.0 config, 0.3.1 prevResult: converted and printed as 0.4.0.
    let conf = Conf::new("bytes", "0.4.0", json!([]))
        .prev(prev("0.3.1"))
        .text();
    compare(&host, &ctr, "ADD", &conf, "ADD converted prevResult");
}

#[test]
fn bad_input_fails_with_go_s_texts() {
    testkit::require_root();
    let host = Host::new();
    let ctr = TempNetns::new();
    for v in GO_VERSIONS {
        let m = |mappings: Value| Conf::new("bytes", v, mappings).prev(prev(v));
        let cases: Vec<(&str, Conf)> = vec![
            (
                "hostPort string",
                m(json!([{"hostPort": "80", "containerPort": 80}])),
            ),
            (
                "HostPort string (containerd keys)",
                m(json!([{"HostPort": "80", "ContainerPort": 80, "Protocol": "tcp"}])),
            ),
            (
                "containerPort float",
                m(json!([{"hostPort": 80, "containerPort": 1.5}])),
            ),
            (
                "hostPort huge",
                m(json!([{"hostPort": 99999999999999999999u128 as f64, "containerPort": 80}])),
            ),
            (
                "protocol number",
                m(json!([{"hostPort": 80, "containerPort": 80, "protocol": 6}])),
            ),
            ("mappings object", m(json!({"hostPort": 80}))),
            ("mapping string", m(json!(["80:80"]))),
            (
                "runtimeConfig array",
                Conf::new("bytes", v, json!([]))
                    .set("runtimeConfig", json!([]))
                    .prev(prev(v)),
            ),
            ("snat string", m(json!([])).set("snat", json!("yes"))),
            (
                "markMasqBit string",
                m(json!([])).set("markMasqBit", json!("13")),
            ),
            (
                "conditionsV4 string",
                m(json!([])).set("conditionsV4", json!("-s 1.2.3.4")),
            ),
            (
                "conditionsV6 numbers",
                m(json!([])).set("conditionsV6", json!([1])),
            ),
            (
                "externalSetMarkChain",
                m(json!([])).set("externalSetMarkChain", json!(true)),
            ),
            (
                "two type errors: the first wins",
                m(json!([{"hostPort": "80"}])).set("snat", json!(1)),
            ),
            ("name number", m(json!([])).set("name", json!(5))),
            (
                "capabilities",
                m(json!([])).set("capabilities", json!({"portMappings": "yes"})),
            ),
            (
                "prevResult string",
                m(json!([])).set("prevResult", json!("x")),
            ),
            (
                "prevResult ips string",
                m(json!([])).prev(json!({"cniVersion": v, "ips": "x"})),
            ),
            (
                "prevResult ip address",
                m(json!([])).prev(json!({"cniVersion": v, "ips": [{"address": "nonsense"}]})),
            ),
            (
                "prevResult ip gateway",
                m(json!([])).prev(
                    json!({"cniVersion": v, "ips": [{"address": "10.0.0.2/24", "gateway": 5}]}),
                ),
            ),
            (
                "prevResult route",
                m(json!([]))
                    .prev(json!({"cniVersion": v, "routes": [{"dst": "0.0.0.0/0", "gw": []}]})),
            ),
            (
                "prevResult ip4",
                m(json!([])).prev(json!({"cniVersion": v, "ip4": {"ip": 5}})),
            ),
            (
                "bad mark bit",
                m(json!([{"hostPort": 80, "containerPort": 80}])).set("markMasqBit", json!(40)),
            ),
            ("bad port", m(json!([{"hostPort": 0, "containerPort": 80}]))),
        ];
        for (case, conf) in cases {
            for cmd in ["ADD", "DEL"] {
                compare(&host, &ctr, cmd, &conf.text(), &format!("{cmd} {case} {v}"));
            }
        }
    }
    // CHECK without a prevResult.
    let conf = Conf::new(
        "bytes",
        "0.4.0",
        json!([{"hostPort": 80, "containerPort": 80}]),
    );
    compare(
        &host,
        &ctr,
        "CHECK",
        &conf.text(),
        "CHECK without prevResult",
    );
    // Syntax errors.
    for stdin in [
        "{",
        "{\"name\":\"n\",}",
        "{\"cniVersion\":\"0.4.0\",\"name\":\"n\"} x",
    ] {
        compare(&host, &ctr, "ADD", stdin, &format!("ADD {stdin:?}"));
    }
}
