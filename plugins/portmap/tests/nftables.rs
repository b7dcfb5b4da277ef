//! The nftables backend's table, and where it deliberately parts from upstream: re-ADD does
//! not duplicate rules, DEL leaves the same container's rules of other networks alone.

mod common;

use common::*;
use serde_json::{json, Value};
use testkit::TempNetns;

const CID: &str = "icee6giejonei6so";

fn upstream_mappings() -> Value {
    json!([
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
        {"hostPort": 8081, "containerPort": 80, "protocol": "tcp"},
        {"hostPort": 8080, "containerPort": 81, "protocol": "udp"},
        {"hostPort": 8082, "containerPort": 82, "protocol": "udp"},
        {"hostPort": 8083, "containerPort": 83, "protocol": "tcp", "hostIP": "192.168.0.2"},
        {"hostPort": 8084, "containerPort": 84, "protocol": "tcp", "hostIP": "0.0.0.0"},
        {"hostPort": 8085, "containerPort": 85, "protocol": "tcp", "hostIP": "2001:db8:a::1"},
        {"hostPort": 8086, "containerPort": 86, "protocol": "tcp", "hostIP": "::"}
    ])
}

fn prev(v4: &str, v6: &str) -> Value {
    json!({"cniVersion": "1.0.0", "ips": [{"address": v4}, {"address": v6}]})
}

fn conf(name: &str, mappings: Value, v4: &str, v6: &str) -> Conf {
    Conf::new(name, "1.0.0", mappings)
        .set("backend", json!("nftables"))
        .prev(prev(v4, v6))
}

const V4_TABLE: &str = r#"table ip cni_hostport {
	comment "CNI portmap plugin"
	chain hostports {
		tcp dport 8080 dnat to 10.0.0.2:80 comment "icee6giejonei6so"
		tcp dport 8081 dnat to 10.0.0.2:80 comment "icee6giejonei6so"
		udp dport 8080 dnat to 10.0.0.2:81 comment "icee6giejonei6so"
		udp dport 8082 dnat to 10.0.0.2:82 comment "icee6giejonei6so"
		ip daddr 192.168.0.2 tcp dport 8083 dnat to 10.0.0.2:83 comment "icee6giejonei6so"
		tcp dport 8084 dnat to 10.0.0.2:84 comment "icee6giejonei6so"
	}

	chain hostip_hostports {
	}

	chain hostports_all {
		jump hostip_hostports
		jump hostports
	}

	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip saddr != 192.0.2.1 fib daddr type local jump hostports_all
	}

	chain output {
		type nat hook output priority -100; policy accept;
		ip saddr != 192.0.2.1 fib daddr type local jump hostports_all
	}

	chain masquerading {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 10.0.0.2 ip daddr 10.0.0.2 masquerade comment "icee6giejonei6so"
		ip saddr 127.0.0.1 ip daddr 10.0.0.2 masquerade comment "icee6giejonei6so"
	}
}
"#;

/// Upstream's portmap_nftables_test layout (v1.9: hostIP rules in `hostports`, the
/// `hostports_all` indirection, `fib daddr type local` on both entry chains).
#[test]
fn table_has_upstreams_layout_and_del_leaves_only_the_base_rules() {
    testkit::require_root();
    let host = Host::new();
    let ctr = TempNetns::new();
    let c = conf("test", upstream_mappings(), "10.0.0.2/24", "2001:db8::2/64")
        .set("conditionsV4", json!(["ip", "saddr", "!=", "192.0.2.1"]));
    host.run(&ours(), "ADD", CID, ctr.path(), &c.text())
        .assert_success();
    assert_eq!(host.nft("ip"), V4_TABLE);
    let v6 = host.nft("ip6");
    for line in [
        "ip6 daddr 2001:db8:a::1 tcp dport 8085 dnat to [2001:db8::2]:85 comment \"icee6giejonei6so\"",
        "tcp dport 8086 dnat to [2001:db8::2]:86 comment \"icee6giejonei6so\"",
        "ip6 saddr 2001:db8::2 ip6 daddr 2001:db8::2 masquerade comment \"icee6giejonei6so\"",
        "\t\tfib daddr type local jump hostports_all\n",
    ] {
        assert!(v6.contains(line), "{line} missing in\n{v6}");
    }
    assert!(
        !v6.contains("8083") && !v6.contains("8084") && !v6.contains("127.0.0.1"),
        "{v6}"
    );

    host.run(&ours(), "DEL", CID, ctr.path(), &c.text())
        .assert_success();
    for fam in ["ip", "ip6"] {
        let t = host.nft(fam);
        assert!(!t.contains("comment \"icee6giejonei6so\""), "{t}");
        assert!(
            t.contains("jump hostports_all") && t.contains("jump hostip_hostports"),
            "{t}"
        );
    }
}

fn count(host: &Host, needle: &str) -> usize {
    host.nft("ip").matches(needle).count() + host.nft("ip6").matches(needle).count()
}

/// Upstream adds every rule again on a re-ADD; we replace them.
#[test]
fn re_add_does_not_duplicate_rules() {
    testkit::require_root();
    let host = Host::new();
    let ctr = TempNetns::new();
    let c = conf("test", upstream_mappings(), "10.0.0.2/24", "2001:db8::2/64");
    host.run(&ours(), "ADD", CID, ctr.path(), &c.text())
        .assert_success();
    let first = (host.nft("ip"), host.nft("ip6"));
    host.run(&ours(), "ADD", CID, ctr.path(), &c.text())
        .assert_success();
    assert_eq!((host.nft("ip"), host.nft("ip6")), first);
    assert_eq!(count(&host, "comment \"icee6giejonei6so\""), 6 + 2 + 6 + 1);
}

/// One container on two networks: upstream's DEL on one network deletes both networks'
/// rules (they share the container-ID comment); ours keys on the network's address too.
#[test]
fn del_leaves_the_other_networks_rules() {
    testkit::require_root();
    let host = Host::new();
    let ctr = TempNetns::new();
    let m = json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]);
    let a = conf("net-a", m.clone(), "10.0.0.2/24", "2001:db8::2/64");
    let m2 = json!([{"hostPort": 9090, "containerPort": 90, "protocol": "tcp"}]);
    let b = conf("net-b", m2, "10.1.0.2/24", "2001:db8:1::2/64");
    host.run(&ours(), "ADD", "c1", ctr.path(), &a.text())
        .assert_success();
    host.run(&ours(), "ADD", "c1", ctr.path(), &b.text())
        .assert_success();
    host.run(&ours(), "DEL", "c1", ctr.path(), &a.text())
        .assert_success();
    let (v4, v6) = (host.nft("ip"), host.nft("ip6"));
    assert!(
        !v4.contains("10.0.0.2") && !v6.contains("2001:db8::2"),
        "{v4}{v6}"
    );
    assert!(
        v4.contains("tcp dport 9090 dnat to 10.1.0.2:90 comment \"c1\""),
        "{v4}"
    );
    assert!(
        v4.contains("ip saddr 10.1.0.2 ip daddr 10.1.0.2 masquerade"),
        "{v4}"
    );
    assert!(
        v6.contains("tcp dport 9090 dnat to [2001:db8:1::2]:90 comment \"c1\""),
        "{v6}"
    );
    host.run(&ours(), "CHECK", "c1", ctr.path(), &b.text())
        .assert_success();

    // A DEL with neither mappings nor prevResult cannot tell net-b's rules from another
    // network's: it leaves them (upstream would not even look)...
    let b_nothing =
        json!({"cniVersion": "1.0.0", "name": "net-b", "type": "portmap", "backend": "nftables"});
    host.run(&ours(), "DEL", "c1", ctr.path(), &b_nothing.to_string())
        .assert_success();
    assert_eq!(count(&host, "comment \"c1\""), (1 + 2) + (1 + 1));
    // ...one without the mappings but with the prevResult finds them.
    let b_bare = json!({"cniVersion": "1.0.0", "name": "net-b", "type": "portmap",
        "backend": "nftables", "prevResult": prev("10.1.0.2/24", "2001:db8:1::2/64")});
    host.run(&ours(), "DEL", "c1", ctr.path(), &b_bare.to_string())
        .assert_success();
    assert_eq!(count(&host, "comment \"c1\""), 0);
}

/// Upstream's CHECK sequence.
#[test]
fn check_follows_the_rules() {
    testkit::require_root();
    let host = Host::new();
    let ctr = TempNetns::new();
    let snat_off = conf("test", upstream_mappings(), "10.0.0.2/24", "2001:db8::2/64")
        .set("snat", json!(false));
    let snat_on = conf("test", upstream_mappings(), "10.0.0.2/24", "2001:db8::2/64");
    let check = |c: &Conf| host.run(&ours(), "CHECK", CID, ctr.path(), &c.text());

    let r = check(&snat_off);
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stdout
            .contains("missing hostport rules in \\\"hostports\\\" chain"),
        "{r}"
    );
    host.run(&ours(), "ADD", CID, ctr.path(), &snat_off.text())
        .assert_success();
    check(&snat_off).assert_success();
    let r = check(&snat_on);
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stdout
            .contains("missing hostport rules in \\\"masquerading\\\" chain"),
        "{r}"
    );
    host.run(&ours(), "ADD", CID, ctr.path(), &snat_on.text())
        .assert_success();
    check(&snat_on).assert_success();
    host.run(&ours(), "DEL", CID, ctr.path(), &snat_on.text())
        .assert_success();
    assert_eq!(check(&snat_on).code, 1);
}

/// masqAll (honoured by nftables since upstream main after v1.9.1): one rule per family.
#[test]
fn masq_all_is_one_rule_per_family() {
    testkit::require_root();
    let host = Host::new();
    let ctr = TempNetns::new();
    let c = conf("test", upstream_mappings(), "10.0.0.2/24", "2001:db8::2/64")
        .set("masqAll", json!(true));
    host.run(&ours(), "ADD", CID, ctr.path(), &c.text())
        .assert_success();
    assert!(host
        .nft("ip")
        .contains("ip saddr 0.0.0.0/0 ip daddr 10.0.0.2 masquerade comment"));
    assert!(host
        .nft("ip6")
        .contains("ip6 saddr ::/0 ip6 daddr 2001:db8::2 masquerade comment"));
    assert_eq!(count(&host, "masquerade comment"), 2);
    host.run(&ours(), "CHECK", CID, ctr.path(), &c.text())
        .assert_success();
}
