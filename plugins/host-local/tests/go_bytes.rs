//! Our stdout byte for byte against Debian's Go host-local (1.1.1) on the same input, for
//! every version both support: ADD results (dual-stack, routes, DNS from a resolv.conf, a
//! requested address), CHECK and DEL, and the errors of bad configs. Each binary gets its own
//! store, so both allocate from the same starting state. Only Go's empty 1.x `dns` is
//! normalised (`testkit::go_oracle`).

mod common;

use std::path::Path;

use common::*;
use serde_json::{json, Value};
use testkit::go_oracle::{assert_same_output, GO_VERSIONS};

/// Runs `steps` (command, CNI_ARGS, ipam, extra top-level keys) with Go in one store and ours
/// in another.
fn compare(version: &str, case: &str, steps: &[(&str, &str, Value, Value)]) {
    let (go_data, our_data) = (DataDir::new(), DataDir::new());
    for (cmd, args, ipam, extra) in steps {
        let run = |bin: &Path, data: &DataDir| {
            let stdin = conf(version, "mynet", data.path(), ipam.clone(), extra.clone());
            call(bin, cmd, "ctr1", "eth0", args, &stdin)
        };
        let theirs = run(&go(), &go_data);
        let ours = run(ours(), &our_data);
        assert_same_output(&ours, &theirs, &format!("{cmd} {case} {version}"));
    }
}

#[test]
fn results_print_what_go_prints() {
    let resolv = testkit::temp_dir();
    let resolv_conf = resolv.path().join("resolv.conf");
    std::fs::write(
        &resolv_conf,
        "nameserver 192.0.2.3\nnameserver 2001:db8::53\ndomain example.com\nsearch a.example b.example\noptions ndots:2 edns0\n",
    )
    .unwrap();
    for v in GO_VERSIONS {
        let dual = json!({"ranges": [[{"subnet": "10.1.2.0/24", "gateway": "10.1.2.254"}],
                                     [{"subnet": "2001:db8:1::/64"}]],
                          "routes": [{"dst": "0.0.0.0/0"}, {"dst": "192.168.0.0/16", "gw": "10.1.2.1"},
                                     {"dst": "::/0"}]});
        let mut steps = vec![("ADD", "", dual.clone(), json!({}))];
        if *v >= "0.4.0" {
            steps.push(("CHECK", "", dual.clone(), json!({})));
        }
        steps.push(("DEL", "", dual.clone(), json!({})));
        steps.push(("DEL", "", dual, json!({})));
        compare(v, "dual-stack", &steps);

        let with_dns = json!({"subnet": "10.1.2.0/24", "resolvConf": resolv_conf});
        compare(v, "resolvConf", &[("ADD", "", with_dns, json!({}))]);

        let legacy = json!({"subnet": "10.1.2.0/24", "rangeStart": "10.1.2.9", "rangeEnd": "10.1.2.20",
                            "gateway": "10.1.2.30"});
        compare(
            v,
            "requested IP",
            &[("ADD", "IP=10.1.2.15", legacy.clone(), json!({}))],
        );
        compare(v, "legacy range", &[("ADD", "", legacy, json!({}))]);
        let runtime = json!({"ranges": [[{"subnet": "10.1.2.0/24"}]]});
        compare(
            v,
            "runtimeConfig ips",
            &[(
                "ADD",
                "",
                runtime,
                json!({"runtimeConfig": {"ips": ["10.1.2.77/24"]}}),
            )],
        );
    }
}

#[test]
fn bad_input_fails_with_go_s_texts() {
    let sub = json!({"subnet": "10.1.2.0/24"});
    for v in GO_VERSIONS {
        let cases: Vec<(&str, &str, Value, Value)> = vec![
            ("subnet number", "", json!({"subnet": 5}), json!({})),
            ("subnet null", "", json!({"subnet": null}), json!({})),
            ("subnet bad", "", json!({"subnet": "10.1.2.0"}), json!({})),
            (
                "rangeStart number",
                "",
                json!({"subnet": "10.1.2.0/24", "rangeStart": 5}),
                json!({}),
            ),
            (
                "rangeStart bad",
                "",
                json!({"subnet": "10.1.2.0/24", "rangeStart": "x"}),
                json!({}),
            ),
            ("ranges string", "", json!({"ranges": "x"}), json!({})),
            (
                "ranges of objects",
                "",
                json!({"ranges": [{"subnet": "10.1.2.0/24"}]}),
                json!({}),
            ),
            (
                "range gateway",
                "",
                json!({"ranges": [[{"subnet": "10.1.2.0/24", "gateway": true}]]}),
                json!({}),
            ),
            (
                "routes string",
                "",
                json!({"subnet": "10.1.2.0/24", "routes": "x"}),
                json!({}),
            ),
            (
                "route string",
                "",
                json!({"subnet": "10.1.2.0/24", "routes": ["x"]}),
                json!({}),
            ),
            (
                "route dst",
                "",
                json!({"subnet": "10.1.2.0/24", "routes": [{"dst": "x"}]}),
                json!({}),
            ),
            (
                "route gw",
                "",
                json!({"subnet": "10.1.2.0/24", "routes": [{"dst": "0.0.0.0/0", "gw": 1}]}),
                json!({}),
            ),
            (
                "dataDir number",
                "",
                json!({"subnet": "10.1.2.0/24", "dataDir": 1}),
                json!({}),
            ),
            (
                "resolvConf number",
                "",
                json!({"subnet": "10.1.2.0/24", "resolvConf": []}),
                json!({}),
            ),
            // (`extra` replaces the whole `ipam` where the helper would fill it in.)
            (
                "type number",
                "",
                sub.clone(),
                json!({"ipam": {"subnet": "10.1.2.0/24", "type": 1}}),
            ),
            ("ipam string", "", sub.clone(), json!({"ipam": "x"})),
            ("ipam missing", "", sub.clone(), json!({"ipam": null})),
            (
                "runtimeConfig ips",
                "",
                sub.clone(),
                json!({"runtimeConfig": {"ips": "x"}}),
            ),
            (
                "runtimeConfig ip",
                "",
                sub.clone(),
                json!({"runtimeConfig": {"ips": ["x"]}}),
            ),
            (
                "args.cni.ips",
                "",
                sub.clone(),
                json!({"args": {"cni": {"ips": [1]}}}),
            ),
            ("args string", "", sub.clone(), json!({"args": "x"})),
            (
                "cniVersion number",
                "",
                sub.clone(),
                json!({"cniVersion": 4}),
            ),
            (
                "first of two errors",
                "",
                json!({"subnet": "10.1.2.0/24", "dataDir": 1, "resolvConf": 2}),
                json!({}),
            ),
            ("no ranges", "", json!({}), json!({})),
            (
                "overlap",
                "",
                json!({"ranges": [[{"subnet": "10.1.2.0/24"}], [{"subnet": "10.1.2.0/25"}]]}),
                json!({}),
            ),
            ("requested outside", "IP=10.9.9.9", sub.clone(), json!({})),
            ("bad CNI_ARGS IP", "IP=x", sub.clone(), json!({})),
            ("unknown CNI_ARGS", "FOO=1", sub.clone(), json!({})),
        ];
        for (case, args, ipam, extra) in cases {
            for cmd in ["ADD", "DEL"] {
                compare(v, case, &[(cmd, args, ipam.clone(), extra.clone())]);
            }
        }
        if *v >= "0.4.0" {
            compare(
                v,
                "CHECK nothing allocated",
                &[("CHECK", "", sub.clone(), json!({}))],
            );
        }
    }
}
