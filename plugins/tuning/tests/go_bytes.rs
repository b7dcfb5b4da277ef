//! Our stdout byte for byte against Debian's Go tuning (1.1.1) on the same input, for every
//! version both support: ADD passing the prevResult through (re-serialised in Go's field
//! order), CHECK and DEL, and the errors of bad configs and prevResults. Only Go's empty 1.x
//! `dns` is normalised (`testkit::go_oracle`). Each binary gets its own netns with the same
//! link, so both change the same starting state.
//!
//! Left out: what 1.1.1 does differently from upstream latest (reference notes §5): the
//! duplicate-sysctl pass (ADD's `sysctl` type errors), `txQLen`, the allowlist, `IFNAME`.

mod common;

use common::*;
use serde_json::{json, Value};
use testkit::go_oracle::{assert_same_output, GO_VERSIONS as ALL_GO_VERSIONS};

fn go() -> String {
    testkit::go_plugin("tuning")
        .expect("Debian's containernetworking-plugins must be installed (/usr/lib/cni/tuning)")
        .to_string_lossy()
        .into_owned()
}

fn prev(version: &str) -> Value {
    if version < "0.3.0" {
        json!({"cniVersion": version, "ip4": {"gateway": "10.0.0.1", "ip": "10.0.0.2/24"},
               "dns": {"nameservers": ["10.0.0.1"]}})
    } else {
        json!({"dns": {"search": ["x.example"], "nameservers": ["10.0.0.1"]},
               "routes": [{"gw": "10.0.0.1", "dst": "0.0.0.0/0"}],
               "ips": [{"gateway": "10.0.0.1", "interface": 0, "address": "10.0.0.2/24"}],
               "interfaces": [{"sandbox": "netns", "name": IFNAME, "mac": ORIGINAL_MAC}],
               "cniVersion": version})
    }
}

fn conf(data_dir: &str, version: &str, members: Value, prev_result: Option<Value>) -> String {
    let mut c =
        json!({"name": "test", "type": "tuning", "cniVersion": version, "dataDir": data_dir});
    for (k, v) in members.as_object().unwrap() {
        c[k] = v.clone();
    }
    if let Some(p) = prev_result {
        c["prevResult"] = p;
    }
    c.to_string()
}

/// Runs `steps` (command, members, prevResult) with Go on one fixture and ours on another.
fn compare(version: &str, case: &str, steps: &[(&str, Value, Option<Value>)]) {
    let (fx_go, fx_ours) = (Fixture::new(), Fixture::new());
    for (cmd, members, prev_result) in steps {
        let theirs = fx_go.run(
            &go(),
            cmd,
            &conf(
                fx_go.data_dir(),
                version,
                members.clone(),
                prev_result.clone(),
            ),
            None,
        );
        let ours = fx_ours.run(
            OURS,
            cmd,
            &conf(
                fx_ours.data_dir(),
                version,
                members.clone(),
                prev_result.clone(),
            ),
            None,
        );
        assert_same_output(&ours, &theirs, &format!("{cmd} {case} {version}"));
    }
}

#[test]
fn add_check_del_print_what_go_prints() {
    for v in ALL_GO_VERSIONS {
        let members = json!({"mtu": 1400, "promisc": true,
                             "sysctl": {"net.ipv4.conf.dummy0.log_martians": "1"}});
        let mut steps = vec![("ADD", members.clone(), Some(prev(v)))];
        if has_check(v) {
            steps.push(("CHECK", members.clone(), Some(prev(v))));
        }
        steps.push(("DEL", members.clone(), Some(prev(v))));
        steps.push(("DEL", members.clone(), Some(prev(v))));
        compare(v, "mtu promisc sysctl", &steps);
        compare(v, "no prevResult", &[("ADD", json!({"mtu": 1400}), None)]);
        if has_check(v) {
            compare(
                v,
                "CHECK no prevResult",
                &[("CHECK", json!({"mtu": 1400}), None)],
            );
        }
    }
}

#[test]
fn bad_input_fails_with_go_s_texts() {
    for v in ALL_GO_VERSIONS {
        let p = Some(prev(v));
        let cases: Vec<(&str, Value, Option<Value>)> = vec![
            ("mtu string", json!({"mtu": "1400"}), p.clone()),
            ("mtu float", json!({"mtu": 1400.5}), p.clone()),
            ("mac number", json!({"mac": 1}), p.clone()),
            ("promisc string", json!({"promisc": "true"}), p.clone()),
            ("allmulti number", json!({"allmulti": 1}), p.clone()),
            ("dataDir number", json!({"dataDir": 1}), p.clone()),
            (
                "runtimeConfig mac",
                json!({"runtimeConfig": {"mac": 1}}),
                p.clone(),
            ),
            (
                "runtimeConfig array",
                json!({"runtimeConfig": []}),
                p.clone(),
            ),
            ("args string", json!({"args": "x"}), p.clone()),
            ("args.cni string", json!({"args": {"cni": "x"}}), p.clone()),
            (
                "args.cni.mtu",
                json!({"args": {"cni": {"mtu": "x"}}}),
                p.clone(),
            ),
            (
                "args.cni.mac",
                json!({"args": {"cni": {"mac": false}}}),
                p.clone(),
            ),
            (
                "first of two errors",
                json!({"promisc": 1, "mtu": "x"}),
                p.clone(),
            ),
            (
                "capabilities",
                json!({"capabilities": {"mac": 1}}),
                p.clone(),
            ),
            ("dns", json!({"dns": {"search": "x"}}), p.clone()),
            ("prevResult string", json!({}), Some(json!("x"))),
            (
                "prevResult ips",
                json!({}),
                Some(json!({"cniVersion": v, "ips": {}})),
            ),
            (
                "prevResult interfaces",
                json!({}),
                Some(json!({"cniVersion": v, "interfaces": [{"name": 5}]})),
            ),
            (
                "prevResult address",
                json!({}),
                Some(json!({"cniVersion": v, "ips": [{"address": "x/24"}]})),
            ),
            (
                "prevResult ip4",
                json!({}),
                Some(json!({"cniVersion": v, "ip4": []})),
            ),
        ];
        for (case, members, prev_result) in cases {
            for cmd in ["ADD", "DEL"] {
                compare(v, case, &[(cmd, members.clone(), prev_result.clone())]);
            }
        }
    }
}
