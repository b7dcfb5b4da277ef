//! Ours against Debian's Go tuning (1.1.1), side by side: the same config on the same veth
//! (same starting MAC) in fresh netns, for every version Go supports (0.3.0 to 1.0.0).
//! Compared: the ADD output, the backup file byte for byte, the link and sysctl after ADD,
//! CHECK, DEL, the link after DEL; and for bad input, the error code and text.
//!
//! Only features 1.1.1 shares with latest upstream are compared here (reference notes §5: no
//! txQLen, no allowlist, no duplicate-key check, IFNAME not replaced by its CHECK).

mod common;

use common::*;
use serde_json::Value;
use testkit::{go_plugin, PluginRun};

fn go() -> String {
    go_plugin("tuning")
        .expect("Debian's containernetworking-plugins must be installed (/usr/lib/cni/tuning)")
        .to_str()
        .unwrap()
        .to_string()
}

/// Debian's library prints `"dns": {}` in 1.x results where the latest omits it (§5).
fn output(run: &PluginRun) -> (i32, Value) {
    let mut v = run.json();
    if v.get("ip4").is_none() && v.get("dns") == Some(&serde_json::json!({})) {
        if let Some(version) = v["cniVersion"].as_str() {
            if version.starts_with('1') {
                v.as_object_mut().unwrap().remove("dns");
            }
        }
    }
    (run.code, v)
}

#[derive(Debug, PartialEq)]
struct Observed {
    add: (i32, Value),
    backup: Option<String>,
    after_add: LinkState,
    martians: (String, String),
    check: Option<(i32, Value)>,
    del: i32,
    after_del: LinkState,
    backup_left: bool,
}

fn observe(
    bin: &str,
    version: &str,
    members: &str,
    cni_args: Option<&str>,
    check: bool,
) -> Observed {
    let fx = Fixture::new();
    let stdin = fx.conf(version, members);
    let add = fx.run(bin, "ADD", &stdin, cni_args);
    let backup = std::fs::read_to_string(fx.backup()).ok();
    let after_add = fx.link();
    let martians = (
        fx.sysctl("/proc/sys/net/ipv4/conf/all/log_martians"),
        fx.sysctl("/proc/sys/net/ipv4/conf/dummy0/log_martians"),
    );
    let check = (check && has_check(version) && add.code == 0).then(|| {
        let run = fx.run(
            bin,
            "CHECK",
            &with_prev_result(&stdin, &add.json()),
            cni_args,
        );
        (
            run.code,
            if run.stdout.is_empty() {
                Value::Null
            } else {
                run.json()
            },
        )
    });
    let del = fx.run(bin, "DEL", &stdin, cni_args).code;
    Observed {
        add: output(&add),
        backup,
        after_add,
        martians,
        check,
        del,
        after_del: fx.link(),
        backup_left: fx.backup().exists(),
    }
}

const CASES: &[(&str, Option<&str>)] = &[
    (r#""sysctl":{"net.ipv4.conf.all.log_martians":"1"}"#, None),
    (
        r#""mac":"c2:11:22:33:44:55","mtu":1454,"promisc":true,"allmulti":true"#,
        None,
    ),
    (r#""allmulti":false,"promisc":false,"mtu":9000"#, None),
    (
        r#""mtu":1400,"mac":"c2:00:00:00:00:09","sysctl":{"net.ipv4.conf.all.log_martians":"1"},
           "args":{"cni":{"mtu":1454,"promisc":true,"allmulti":true,"mac":"c2:11:22:33:44:56",
           "sysctl":{"net.ipv4.conf.dummy0.log_martians":"1"}}}"#,
        None,
    ),
    (
        r#""mac":"c2:00:00:00:00:09""#,
        Some("IgnoreUnknown=1;MAC=c2:11:22:33:44:57"),
    ),
    (
        r#""capabilities":{"mac":true},"runtimeConfig":{"mac":"c2:11:22:33:44:58"}"#,
        Some("MAC=c2:11:22:33:44:57"),
    ),
    (
        r#""args":{"cni":{"mac":"","mtu":1300}},"mac":"c2:00:00:00:00:09""#,
        None,
    ),
];

#[test]
fn same_results_backups_and_link_state_as_go() {
    let go = go();
    for version in GO_VERSIONS {
        for (members, cni_args) in CASES {
            let ours = observe(OURS, version, members, *cni_args, true);
            let theirs = observe(&go, version, members, *cni_args, true);
            assert_eq!(ours, theirs, "{version} {members} {cni_args:?}");
            assert_eq!(ours.add.0, 0, "{version} {members}: {:?}", ours.add);
            if has_check(version) {
                assert_eq!(ours.check.as_ref().unwrap().0, 0, "{version} {members}");
            }
            assert!(!ours.backup_left);
        }
    }
}

/// IFNAME in a sysctl key: same ADD and DEL. 1.1.1's CHECK does not replace IFNAME (fixed
/// upstream in v1.3.0, so ours passes where Go's fails).
#[test]
fn ifname_sysctls_match_go_on_add_and_del() {
    let go = go();
    let members = r#""sysctl":{"net.ipv4.conf.IFNAME.log_martians":"1"}"#;
    for version in GO_VERSIONS {
        let ours = observe(OURS, version, members, None, false);
        assert_eq!(
            ours,
            observe(&go, version, members, None, false),
            "{version}"
        );
        assert_eq!(ours.martians.1, "1");
    }
}

/// Deliberate difference: Go's CHECK compares MAC strings, so an uppercase MAC fails there.
#[test]
fn uppercase_mac_matches_go_except_for_check() {
    let go = go();
    let members = r#""mac":"C2:11:22:33:44:AA""#;
    for version in GO_VERSIONS {
        let ours = observe(OURS, version, members, None, true);
        let theirs = observe(&go, version, members, None, true);
        assert_eq!(ours.add, theirs.add, "{version}");
        assert_eq!(ours.backup, theirs.backup);
        assert_eq!(ours.after_add, theirs.after_add);
        assert_eq!(ours.after_del, theirs.after_del);
        if has_check(version) {
            assert_eq!(ours.check.unwrap().0, 0);
            let (code, msg) = theirs.check.unwrap();
            assert_eq!(code, 1);
            assert_eq!(
                msg["msg"],
                "Error: Tuning configured Ethernet of dummy0 is C2:11:22:33:44:AA, current value is c2:11:22:33:44:aa"
            );
        }
    }
}

/// The error of a run; the 1.x result family is `[1.0.0 1.1.0]` for us and `[1.0.0]` for
/// Debian's library, which predates 1.1.0.
fn error(
    bin: &str,
    fx: &Fixture,
    cmd: &str,
    ifname: &str,
    stdin: &str,
    args: Option<&str>,
) -> (u64, String) {
    let (code, msg) = error_of(&invoke(bin, cmd, fx.netns(), ifname, stdin, args));
    (code, msg.replace("[1.0.0 1.1.0]", "[1.0.0]"))
}

#[test]
fn same_errors_as_go() {
    let go = go();
    for version in GO_VERSIONS {
        let fx = Fixture::new();
        let c = |members: &str| fx.conf(version, members);
        let prev_mismatch = c("").replace(
            r#""interfaces""#,
            if version.starts_with('1') {
                r#""cniVersion":"0.4.0","interfaces""#
            } else {
                r#""cniVersion":"1.0.0","interfaces""#
            },
        );
        let cases: Vec<(&str, &str, String, Option<&str>)> = vec![
            ("ADD", IFNAME, c(r#""mac":"zz""#), None),
            ("ADD", IFNAME, c(r#""mtu":"x""#), None),
            ("DEL", IFNAME, c(r#""mtu":"x""#), None),
            ("ADD", IFNAME, c(r#""mtu":1.5"#), None),
            ("ADD", IFNAME, c(r#""args":{"cni":{"promisc":1}}"#), None),
            ("ADD", IFNAME, c(r#""runtimeConfig":{"mac":1}"#), None),
            (
                "ADD",
                IFNAME,
                c(r#""sysctl":{"net.core.no_such_knob":"1"}"#),
                None,
            ),
            ("ADD", IFNAME, c(r#""sysctl":{"net.core":"1"}"#), None),
            ("ADD", IFNAME, c(r#""mtu":-1"#), None),
            ("ADD", "eth9", c(r#""mtu":1400"#), None),
            (
                "ADD",
                IFNAME,
                without_prev_result(&c(r#""mtu":1400"#)),
                None,
            ),
            ("ADD", IFNAME, prev_mismatch, None),
            ("ADD", IFNAME, c(r#""mtu":1400"#), Some("FOO=bar")),
            ("DEL", IFNAME, c(r#""mtu":1400"#), Some("MAC")),
            (
                "ADD",
                IFNAME,
                c(r#""prevResult":"x""#).replace(r#","prevResult":{"#, r#","x":{"#),
                None,
            ),
        ];
        for (cmd, ifname, stdin, args) in &cases {
            let ours = error(OURS, &fx, cmd, ifname, stdin, *args);
            let theirs = error(&go, &fx, cmd, ifname, stdin, *args);
            assert_eq!(ours, theirs, "{version} {cmd} {stdin} {args:?}");
        }
        if has_check(version) {
            let fresh = c(r#""mtu":1400"#);
            for ifname in [IFNAME, "eth9"] {
                assert_eq!(
                    error(OURS, &fx, "CHECK", ifname, &fresh, None),
                    error(&go, &fx, "CHECK", ifname, &fresh, None),
                    "{version} CHECK {ifname}"
                );
            }
        }
        let missing = invoke(
            OURS,
            "ADD",
            "/run/netns/cnitest-nope",
            IFNAME,
            &c(r#""mtu":1400"#),
            None,
        );
        let go_missing = invoke(
            &go,
            "ADD",
            "/run/netns/cnitest-nope",
            IFNAME,
            &c(r#""mtu":1400"#),
            None,
        );
        assert_eq!(error_of(&missing), error_of(&go_missing));
    }
}

/// Deliberate difference: a bad MAC is refused before anything changes; Go has already
/// written the backup (and any sysctls) by then.
#[test]
fn bad_mac_leaves_no_backup_unlike_go() {
    let go = go();
    for (bin, backup_expected) in [(OURS, false), (go.as_str(), true)] {
        let fx = Fixture::new();
        let stdin = fx.conf("1.0.0", r#""mac":"zz","mtu":1400"#);
        let (_, msg) = error_of(&fx.run(bin, "ADD", &stdin, None));
        assert_eq!(
            msg,
            "invalid args zz for MAC addr: address zz: invalid MAC address"
        );
        assert_eq!(fx.backup().exists(), backup_expected, "{bin}");
        assert_eq!(fx.link().mtu, 1500);
    }
}
