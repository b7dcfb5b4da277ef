//! ADD as a runtime runs it, against the stand-in API server, in throwaway pod netns: the
//! rules that land there (`iptables-save`, both backends), a repeated ADD, a changed pod,
//! IPv6 and TPROXY. Root needed.

mod common;

use common::*;
use serde_json::json;

/// Default ADD, nf_tables: `iptables-nft-save` shows exactly the notes' listing, the legacy
/// tables stay untouched (upstream's probe leaves an empty `nat` there), no ip6tables rules
/// for an IPv4 pod, and the prevResult comes back in the config's version.
#[test]
fn default_add_nft() {
    let c = Cluster::start();
    c.pod("default", "web", json!({STATUS: "{}"}), json!({}));
    let ns = pod_netns(&["10.1.0.2/24"]);
    let run = add(
        ns.path(),
        "default",
        "web",
        &c.conf("1.0.0", Some(prev_result("10.1.0.2/24"))),
    )
    .run();
    run.assert_success();
    assert_eq!(
        run.json(),
        json!({"cniVersion": "1.0.0",
               "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/x"}],
               "ips": [{"address": "10.1.0.2/24", "interface": 0}],
               "routes": [{"dst": "0.0.0.0/0"}]})
    );
    let nft = save(&ns, "iptables-nft-save");
    assert_eq!(table(&nft, "nat"), NOTES_NAT, "{nft}");
    assert_eq!(nft, NOTES_NAT, "only the nat table");
    assert_eq!(
        save(&ns, "iptables-legacy-save"),
        "",
        "nothing left in legacy"
    );
    assert_eq!(
        save(&ns, "ip6tables-nft-save"),
        "",
        "no IPv6 rules for an IPv4 pod"
    );
    assert_eq!(c.api.count("GET", "/api/v1/namespaces/default/pods/web"), 1);
}

/// A netns whose legacy tables already hold rules gets legacy rules, same listing.
#[test]
fn default_add_legacy_when_the_netns_uses_legacy() {
    let c = Cluster::start();
    c.pod("default", "legacy", json!({STATUS: "{}"}), json!({}));
    let ns = pod_netns(&["10.1.0.3/24"]);
    let out = ns.exec(&[
        "iptables-legacy",
        "-t",
        "filter",
        "-A",
        "INPUT",
        "-s",
        "192.0.2.1",
        "-j",
        "ACCEPT",
    ]);
    assert!(out.status.success());
    add(
        ns.path(),
        "default",
        "legacy",
        &c.conf("1.0.0", Some(prev_result("10.1.0.3/24"))),
    )
    .run()
    .assert_success();
    let legacy = save(&ns, "iptables-legacy-save");
    assert_eq!(table(&legacy, "nat"), NOTES_NAT, "{legacy}");
    let nft = save(&ns, "iptables-nft-save");
    assert!(!nft.contains("ISTIO"), "nothing in nf_tables: {nft}");
}

/// A second ADD on the same netns (a re-run, or two networks chaining istio-cni) changes
/// nothing; a pod whose annotations changed gets its new rules in place of the old ones
/// (upstream fails with "Chain already exists").
#[test]
fn second_add_is_a_no_op_and_changed_rules_are_replaced() {
    let c = Cluster::start();
    c.pod("default", "twice", json!({STATUS: "{}"}), json!({}));
    let ns = pod_netns(&["10.1.0.4/24"]);
    let conf = c.conf("1.0.0", Some(prev_result("10.1.0.4/24")));
    let first = add(ns.path(), "default", "twice", &conf).run();
    first.assert_success();
    let before = save(&ns, "iptables-nft-save");
    let second = add(ns.path(), "default", "twice", &conf).run();
    second.assert_success();
    assert_eq!(second.stdout, first.stdout);
    assert!(second.stderr.contains("Unchanged"), "{}", second.stderr);
    assert_eq!(save(&ns, "iptables-nft-save"), before);
    assert_eq!(save(&ns, "iptables-legacy-save"), "");

    // The pod now excludes outbound port 5432 and captures only inbound 8080.
    c.api.delete("v1", "pods", Some("default"), "twice");
    c.pod(
        "default",
        "twice",
        json!({STATUS: "{}", "traffic.sidecar.istio.io/excludeOutboundPorts": "5432",
               "traffic.sidecar.istio.io/includeInboundPorts": "8080"}),
        json!({}),
    );
    let third = add(ns.path(), "default", "twice", &conf).run();
    third.assert_success();
    assert!(third.stderr.contains("Replaced"), "{}", third.stderr);
    let after = save(&ns, "iptables-nft-save");
    assert!(
        after.contains("-A ISTIO_OUTPUT -p udp -m udp --dport 5432 -j RETURN"),
        "{after}"
    );
    assert!(after.contains("-A ISTIO_INBOUND -p tcp -m tcp --dport 8080 -j ISTIO_IN_REDIRECT"));
    assert!(!after.contains("--dport 15020"), "old rules gone: {after}");
    assert_eq!(
        after
            .matches("-A PREROUTING -p tcp -j ISTIO_INBOUND")
            .count(),
        1
    );
    assert_eq!(after.matches("-A OUTPUT -j ISTIO_OUTPUT").count(), 1);
}

/// An IPv6 pod: the IPv4 set plus the same set through ip6tables with `::6`/`::1`, and `::6`
/// on `lo`.
#[test]
fn ipv6_pod() {
    let c = Cluster::start();
    c.pod("default", "six", json!({STATUS: "{}"}), json!({}));
    let ns = pod_netns(&["2001:db8:1::2/64"]);
    add(
        ns.path(),
        "default",
        "six",
        &c.conf("1.0.0", Some(prev_result("2001:db8:1::2/64"))),
    )
    .run()
    .assert_success();
    assert_eq!(table(&save(&ns, "iptables-nft-save"), "nat"), NOTES_NAT);
    let want6 = NOTES_NAT
        .replace("127.0.0.6/32", "::6/128")
        .replace("127.0.0.1/32", "::1/128");
    assert_eq!(table(&save(&ns, "ip6tables-nft-save"), "nat"), want6);
    let lo = ns.ip_stdout(&["-6", "addr", "show", "dev", "lo"]);
    assert!(lo.contains("inet6 ::6/128"), "{lo}");
    // Again: the same (the address is already there, the rules too).
    let again = add(ns.path(), "default", "six", &c.conf("1.0.0", None)).run();
    again.assert_success();
    assert_eq!(
        again.stderr.matches("Unchanged").count(),
        2,
        "{}",
        again.stderr
    );
}

/// TPROXY: the mangle rules, `ip rule fwmark 1337 lookup 133` and the local default route in
/// table 133; a second ADD succeeds (upstream's rule add fails with "file exists").
#[test]
fn tproxy_rules_and_routes() {
    let c = Cluster::start();
    c.pod(
        "default",
        "tp",
        json!({STATUS: "{}", "sidecar.istio.io/interceptionMode": "TPROXY"}),
        json!({}),
    );
    let ns = pod_netns(&["10.1.0.5/24"]);
    let conf = c.conf("0.4.0", None);
    let run = add(ns.path(), "default", "tp", &conf).run();
    run.assert_success();
    assert_eq!(run.json(), json!({"cniVersion": "0.4.0", "dns": {}}));
    let mangle = table(&save(&ns, "iptables-nft-save"), "mangle");
    for want in [
        ":ISTIO_DIVERT - [0:0]",
        "-A PREROUTING -p tcp -j ISTIO_INBOUND",
        "-A ISTIO_INBOUND -p tcp -m mark --mark 0x539 -j RETURN",
        "-A ISTIO_INBOUND -s 127.0.0.6/32 -i lo -p tcp -j RETURN",
        "-A ISTIO_TPROXY ! -d 127.0.0.1/32 -p tcp -j TPROXY --on-port 15006 --on-ip 0.0.0.0 --tproxy-mark 0x539/0xffffffff",
        "-A ISTIO_DIVERT -j MARK --set-xmark 0x539/0xffffffff",
    ] {
        assert!(mangle.contains(want), "missing {want:?} in\n{mangle}");
    }
    let rules = ns.ip_stdout(&["rule", "show"]);
    assert!(rules.contains("fwmark 0x539 lookup 133"), "{rules}");
    let routes = ns.ip_stdout(&["route", "show", "table", "133"]);
    assert!(routes.contains("local default dev lo"), "{routes}");
    let again = add(ns.path(), "default", "tp", &conf).run();
    again.assert_success();
    assert_eq!(
        ns.ip_stdout(&["rule", "show"])
            .matches("lookup 133")
            .count(),
        1
    );
}
