//! The upstream tuning tests (plugins/meta/tuning/tuning_test.go), through our binary as a
//! runtime runs it, each in a fresh netns with a veth `dummy0`, for every version from 0.3.0
//! to 1.1.0: ADD, the link changed, CHECK (0.4.0 on), DEL, the link as it was.

mod common;

use common::*;
use serde_json::Value;

/// ADD, then `changed` on the link, CHECK with the ADD result as prevResult, DEL, and the
/// link exactly as before. Returns the ADD result.
fn round_trip(
    fx: &Fixture,
    version: &str,
    stdin: &str,
    cni_args: Option<&str>,
    changed: impl Fn(&LinkState),
) -> Value {
    let before = fx.link();
    let add = fx.run(OURS, "ADD", stdin, cni_args);
    add.assert_success();
    let result = add.json();
    assert_eq!(result["cniVersion"], version);
    assert_eq!(
        result["interfaces"].as_array().unwrap().len(),
        1,
        "{result}"
    );
    assert_eq!(result["interfaces"][0]["name"], IFNAME);
    assert_eq!(result["ips"].as_array().unwrap().len(), 1, "{result}");
    assert_eq!(result["ips"][0]["address"], "10.0.0.2/24");

    let after = fx.link();
    assert_ne!(after, before, "ADD changed nothing ({version})");
    changed(&after);
    assert!(fx.backup().is_file(), "ADD saved a backup ({version})");

    if has_check(version) {
        let check = fx.run(OURS, "CHECK", &with_prev_result(stdin, &result), cni_args);
        check.assert_success();
        assert_eq!(check.stdout, "");
    }

    fx.run(OURS, "DEL", stdin, cni_args).assert_success();
    assert_eq!(fx.link(), before, "DEL restored the link ({version})");
    assert!(!fx.backup().exists(), "DEL removed the backup ({version})");
    result
}

#[test]
fn passes_prev_result_through_unchanged() {
    for version in VERSIONS {
        // As upstream: the netns has no `dummy0`; with nothing but a sysctl, no link is needed.
        let fx = Fixture::empty();
        let stdin = fx.conf(
            version,
            r#""sysctl":{"net.ipv4.conf.all.log_martians":"1"}"#,
        );
        assert_eq!(fx.sysctl("/proc/sys/net/ipv4/conf/all/log_martians"), "0");
        let add = fx.run(OURS, "ADD", &stdin, None);
        add.assert_success();
        let r = add.json();
        assert_eq!(r["cniVersion"], *version);
        assert_eq!(
            r["interfaces"],
            serde_json::json!([{"name": "dummy0", "sandbox": "netns"}])
        );
        assert_eq!(r["ips"][0]["address"], "10.0.0.2/24");
        assert_eq!(r["ips"][0]["gateway"], "10.0.0.1");
        assert_eq!(r["ips"].as_array().unwrap().len(), 1);
        assert_eq!(fx.sysctl("/proc/sys/net/ipv4/conf/all/log_martians"), "1");
        assert!(
            !fx.backup().exists(),
            "no link change, no backup ({version})"
        );
        fx.run(OURS, "DEL", &stdin, None).assert_success();
    }
}

#[test]
fn promiscuous_mode_from_config() {
    for version in VERSIONS {
        let fx = Fixture::new();
        let stdin = fx.conf(version, r#""promisc":true"#);
        round_trip(&fx, version, &stdin, None, |l| assert!(l.promisc));
    }
}

#[test]
fn promiscuous_mode_from_args() {
    for version in VERSIONS {
        let fx = Fixture::new();
        let stdin = fx.conf(version, r#""args":{"cni":{"promisc":true}}"#);
        round_trip(&fx, version, &stdin, None, |l| assert!(l.promisc));
    }
}

#[test]
fn mtu_from_config() {
    for version in VERSIONS {
        let fx = Fixture::new();
        let stdin = fx.conf(version, r#""mtu":1454"#);
        round_trip(&fx, version, &stdin, None, |l| assert_eq!(l.mtu, 1454));
    }
}

#[test]
fn mtu_from_args() {
    for version in VERSIONS {
        let fx = Fixture::new();
        let stdin = fx.conf(version, r#""args":{"cni":{"mtu":1454}}"#);
        round_trip(&fx, version, &stdin, None, |l| assert_eq!(l.mtu, 1454));
    }
}

#[test]
fn txqlen_from_config() {
    for version in VERSIONS {
        let fx = Fixture::new();
        let stdin = fx.conf(version, r#""txQLen":20000"#);
        round_trip(&fx, version, &stdin, None, |l| assert_eq!(l.txqlen, 20000));
    }
}

#[test]
fn txqlen_from_args() {
    for version in VERSIONS {
        let fx = Fixture::new();
        let stdin = fx.conf(version, r#""args":{"cni":{"txQLen":20000}}"#);
        round_trip(&fx, version, &stdin, None, |l| assert_eq!(l.txqlen, 20000));
    }
}

fn mac_round_trip(version: &str, members: &str, cni_args: Option<&str>, mac: &str) {
    let fx = Fixture::new();
    let stdin = fx.conf(version, members);
    let r = round_trip(&fx, version, &stdin, cni_args, |l| assert_eq!(l.mac, mac));
    assert_eq!(
        r["interfaces"][0]["mac"], mac,
        "result MAC updated ({version})"
    );
}

#[test]
fn mac_from_config() {
    for version in VERSIONS {
        mac_round_trip(
            version,
            r#""mac":"c2:11:22:33:44:55""#,
            None,
            "c2:11:22:33:44:55",
        );
    }
}

#[test]
fn mac_from_args() {
    for version in VERSIONS {
        let members = r#""args":{"cni":{"mac":"c2:11:22:33:44:55"}}"#;
        mac_round_trip(version, members, None, "c2:11:22:33:44:55");
    }
}

#[test]
fn mac_from_cni_args() {
    for version in VERSIONS {
        let args = Some("IgnoreUnknown=true;MAC=c2:11:22:33:44:66");
        mac_round_trip(version, "", args, "c2:11:22:33:44:66");
    }
}

#[test]
fn mac_from_runtime_config() {
    for version in VERSIONS {
        let members = r#""capabilities":{"mac":true},"runtimeConfig":{"mac":"c2:11:22:33:44:55"}"#;
        mac_round_trip(version, members, None, "c2:11:22:33:44:55");
    }
}

#[test]
fn mac_promisc_mtu_txqlen_together_with_a_data_dir() {
    for version in VERSIONS {
        let fx = Fixture::new();
        let stdin = fx.conf(
            version,
            r#""mac":"c2:11:22:33:44:77","promisc":true,"mtu":4000,"txQLen":20000"#,
        );
        let backup = fx.data.path().join("dummy_dummy0.json");
        let r = round_trip(&fx, version, &stdin, None, |l| {
            assert_eq!(l.mac, "c2:11:22:33:44:77");
            assert!(l.promisc);
            assert_eq!(l.mtu, 4000);
            assert_eq!(l.txqlen, 20000);
            // The file upstream looks for, with the original values in Go's format.
            assert_eq!(
                std::fs::read_to_string(&backup).unwrap(),
                format!(
                    "{{\n \"mac\": \"{ORIGINAL_MAC}\",\n \"promisc\": false,\n \"mtu\": 1500,\n \"txQLen\": 1000\n}}"
                )
            );
        });
        assert_eq!(r["interfaces"][0]["mac"], "c2:11:22:33:44:77");
    }
}

#[test]
fn allmulti_from_config() {
    for version in VERSIONS {
        let fx = Fixture::new();
        let stdin = fx.conf(version, r#""allmulti":true"#);
        round_trip(&fx, version, &stdin, None, |l| assert!(l.allmulti));
    }
}

#[test]
fn allmulti_from_args() {
    for version in VERSIONS {
        let fx = Fixture::new();
        let stdin = fx.conf(version, r#""args":{"cni":{"allmulti":true}}"#);
        round_trip(&fx, version, &stdin, None, |l| assert!(l.allmulti));
    }
}

#[test]
fn allowlist_refuses_then_allows() {
    let sysctl = r#""sysctl":{"net.ipv4.conf.all.log_martians":"1"}"#;
    let other = AllowlistLauncher::new(
        OURS,
        Allowlist::Lines("^net\\.ipv4\\.conf\\.other\\.[a-z_]*$\n"),
    );
    let all = AllowlistLauncher::new(
        OURS,
        Allowlist::Lines("^net\\.ipv4\\.conf\\.all\\.[a-z_]*$\n"),
    );
    for version in VERSIONS {
        let fx = Fixture::new();
        let stdin = fx.conf(version, sysctl);
        let add = fx.run(&other.bin(), "ADD", &stdin, None);
        assert_eq!(
            error_of(&add),
            (
                999,
                "Sysctl net.ipv4.conf.all.log_martians is not allowed. Only the following sysctls are allowed: [^net\\.ipv4\\.conf\\.other\\.[a-z_]*$]".into()
            ),
            "{version}"
        );
        assert_eq!(fx.sysctl("/proc/sys/net/ipv4/conf/all/log_martians"), "0");
        fx.run(&other.bin(), "DEL", &stdin, None).assert_success();

        fx.run(&all.bin(), "ADD", &stdin, None).assert_success();
        assert_eq!(fx.sysctl("/proc/sys/net/ipv4/conf/all/log_martians"), "1");
        fx.run(&all.bin(), "DEL", &stdin, None).assert_success();
    }
    assert!(
        !std::path::Path::new("/etc/cni/tuning/allowlist.conf").exists(),
        "the host's /etc was never written"
    );
}

#[test]
fn duplicate_sysctl_keys_are_refused() {
    for version in VERSIONS {
        let fx = Fixture::new();
        let stdin = fx.conf(
            version,
            r#""sysctl":{"net.ipv4.conf.all.log_martians":"1","net.ipv4.conf.all.log_martians":"1"}"#,
        );
        let (code, msg) = error_of(&fx.run(OURS, "ADD", &stdin, None));
        assert_eq!(code, 999);
        assert!(msg.contains("duplicated"), "{msg}");
        assert_eq!(fx.sysctl("/proc/sys/net/ipv4/conf/all/log_martians"), "0");
    }
}

#[test]
fn ifname_with_a_slash_is_refused() {
    for version in VERSIONS {
        let fx = Fixture::new();
        let stdin = fx.conf(version, r#""mtu":1454"#);
        // Upstream calls cmdAdd directly and sees tuning's own "invalid character" error;
        // through the binary skel refuses the name first, with code 4.
        let run = invoke(OURS, "ADD", fx.netns(), "eth/0", &stdin, None);
        assert_eq!(
            error_of(&run),
            (
                4,
                "interface name contains / or : or whitespace characters".into()
            )
        );
        assert_eq!(fx.link().mtu, 1500);
    }
}
