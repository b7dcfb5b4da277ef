//! Our stdout byte for byte against Debian's Go loopback (1.1.1) on the same input, for every
//! version both support: ADD with and without a prevResult, CHECK and DEL, and the errors of
//! bad configs and prevResults (`testkit::go_oracle` says what is normalised: only Go's empty
//! 1.x `dns`).

use serde_json::{json, Value};
use testkit::go_oracle::{assert_same_output, GO_VERSIONS};
use testkit::{go_plugin, require_root, Invocation, PluginRun, TempNetns};

const OURS: &str = env!("CARGO_BIN_EXE_loopback");

fn go() -> String {
    go_plugin("loopback")
        .expect("Debian's containernetworking-plugins must be installed (scripts/test installs it)")
        .to_string_lossy()
        .into_owned()
}

fn run(bin: &str, cmd: &str, netns: &str, stdin: &str) -> PluginRun {
    Invocation::new(bin)
        .command(cmd)
        .container_id("ctr-bytes")
        .netns(netns)
        .ifname("lo")
        .path("/opt/cni/bin")
        .stdin(stdin.as_bytes().to_vec())
        .run()
}

fn prev(version: &str) -> Value {
    if version < "0.3.0" {
        json!({"cniVersion": version, "ip4": {"ip": "10.0.0.2/24", "gateway": "10.0.0.1",
               "routes": [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}]},
               "ip6": {"ip": "2001:db8::2/64"}, "dns": {"nameservers": ["10.0.0.1"]}})
    } else {
        json!({"cniVersion": version,
               "dns": {"options": ["ndots:2"], "search": ["a.example"], "domain": "example", "nameservers": ["10.0.0.1"]},
               "routes": [{"gw": "10.0.0.1", "dst": "0.0.0.0/0"}],
               "ips": [{"gateway": "10.0.0.1", "address": "10.0.0.2/24", "interface": 0},
                       {"address": "2001:db8::2/64", "interface": 0}],
               "interfaces": [{"sandbox": "/var/run/netns/x", "mac": "aa:bb:cc:dd:ee:ff", "name": "eth0"}]})
    }
}

fn conf(version: &str, extra: Value) -> String {
    let mut c = json!({"cniVersion": version, "name": "lo-bytes", "type": "loopback"});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c.to_string()
}

/// Each case runs both binaries on the same input in the same netns.
fn compare(ns: &TempNetns, cmd: &str, stdin: &str, case: &str) {
    let netns = ns.path().to_str().unwrap();
    let theirs = run(&go(), cmd, netns, stdin);
    let ours = run(OURS, cmd, netns, stdin);
    assert_same_output(&ours, &theirs, case);
}

#[test]
fn add_check_del_print_what_go_prints() {
    require_root();
    let ns = TempNetns::new();
    for v in GO_VERSIONS {
        compare(&ns, "ADD", &conf(v, json!({})), &format!("ADD {v}"));
        // With a prevResult (keys in a scrambled order), loopback prints it back.
        let with_prev = conf(v, json!({"prevResult": prev(v)}));
        compare(&ns, "ADD", &with_prev, &format!("ADD prevResult {v}"));
        compare(&ns, "CHECK", &with_prev, &format!("CHECK {v}"));
        compare(
            &ns,
            "CHECK",
            &conf(v, json!({})),
            &format!("CHECK no prevResult {v}"),
        );
        compare(&ns, "DEL", &with_prev, &format!("DEL {v}"));
    }
}

#[test]
fn bad_configs_fail_with_go_s_texts() {
    require_root();
    let ns = TempNetns::new();
    for v in GO_VERSIONS {
        let cases = [
            ("prevResult string", json!({"prevResult": "x"})),
            ("prevResult array", json!({"prevResult": []})),
            (
                "ips string",
                json!({"prevResult": {"cniVersion": v, "ips": "x"}}),
            ),
            (
                "ips element",
                json!({"prevResult": {"cniVersion": v, "ips": ["x"]}}),
            ),
            (
                "address number",
                json!({"prevResult": {"cniVersion": v, "ips": [{"address": 5}]}}),
            ),
            (
                "address bad",
                json!({"prevResult": {"cniVersion": v, "ips": [{"address": "10.0.0.2"}]}}),
            ),
            (
                "interface string",
                json!({"prevResult": {"cniVersion": v, "ips": [{"address": "10.0.0.2/24", "interface": "0"}]}}),
            ),
            (
                "routes element",
                json!({"prevResult": {"cniVersion": v, "routes": [{"dst": 1}]}}),
            ),
            (
                "interfaces",
                json!({"prevResult": {"cniVersion": v, "interfaces": {}}}),
            ),
            ("dns", json!({"prevResult": {"cniVersion": v, "dns": []}})),
            ("ip4", json!({"prevResult": {"cniVersion": v, "ip4": "x"}})),
            ("capabilities", json!({"capabilities": {"portMappings": 1}})),
            ("dns of config", json!({"dns": {"nameservers": "x"}})),
            ("ipam", json!({"ipam": []})),
            ("type", json!({"type": 5})),
        ];
        // Go's version injection: it sets the map key `CNIVersion` only, so the result's own
        // `cniVersion` still wins, even empty.
        let versions = [
            (
                "prevResult CNIVersion",
                json!({"prevResult": {"CNIVersion": v, "ips": []}}),
            ),
            (
                "prevResult CNIVersion number",
                json!({"prevResult": {"CNIVersion": 5}}),
            ),
            (
                "prevResult cniversion",
                json!({"prevResult": {"cniversion": v}}),
            ),
        ];
        // (A wrong prevResult version is not compared for 1.x: Debian's library lists only
        // [1.0.0] in that error, ours [1.0.0 1.1.0].)
        let wrong = [
            (
                "prevResult version",
                json!({"prevResult": {"cniVersion": "9.9.9"}}),
            ),
            (
                "prevResult empty version",
                json!({"prevResult": {"cniVersion": ""}}),
            ),
        ];
        let cases = cases
            .into_iter()
            .chain(versions)
            .chain(wrong.into_iter().filter(|_| *v < "1.0.0"));
        for (case, extra) in cases {
            for cmd in ["ADD", "DEL"] {
                compare(
                    &ns,
                    cmd,
                    &conf(v, extra.clone()),
                    &format!("{cmd} {case} {v}"),
                );
            }
        }
    }
    // Not JSON, or a JSON value that is not an object.
    for stdin in [
        "",
        "{",
        "[]",
        "null",
        "{\"name\":5}",
        "{\"cniVersion\":1,\"name\":\"n\"}",
    ] {
        compare(&ns, "ADD", stdin, &format!("ADD {stdin:?}"));
    }
}
