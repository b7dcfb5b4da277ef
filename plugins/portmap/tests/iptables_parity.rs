//! Rule-for-rule equality with the Go portmap (Debian's 1.1.1 in /usr/lib/cni): the same
//! sequence of ADDs and DELs, run by Go in one host netns and by us in another, leaves
//! identical `iptables-save -t nat` and `ip6tables-save -t nat` after every step. Only comment
//! lines (timestamps) are dropped. The steps avoid what 1.1.1 does differently from the latest
//! release (masqAll, nftables, CHECK; see the reference notes §5).

mod common;

use common::*;
use serde_json::{json, Value};
use testkit::TempNetns;

const LONG_ID: &str = "icee6giejonei6sohng6ahngee7laquohquee9shiGo7fohferakah3Feiyoolu2pei7ciPhoh7shaoX6vai3vuf0ahfaeng8yohb9ceu0daez5hashee8ooYai5wa3y-icee6giejonei6sohng6ahngee7laquohquee9shiGo7fohferakah3Feiyoolu2pei7ciPhoh7shaoX6vai3vuf0ahfaeng8yohb9ceu0daez5hashee8";

fn prev(ctr: &TempNetns, v4: &str, v6: Option<&str>) -> Value {
    let mut ips = vec![json!({"version": "4", "address": v4, "interface": 1})];
    if let Some(v6) = v6 {
        ips.push(json!({"version": "6", "address": v6, "interface": 1}));
    }
    json!({
        "cniVersion": "0.4.0",
        "interfaces": [{"name": "veth0"}, {"name": "eth0", "sandbox": ctr.path()}],
        "ips": ips,
        "dns": {}
    })
}

struct Step {
    cmd: &'static str,
    cid: String,
    conf: String,
}

fn steps(ctr: &TempNetns) -> Vec<Step> {
    let c = |name: &str, mappings: Value| Conf::new(name, "0.4.0", mappings);
    let step = |cmd, cid: &str, conf: Conf| Step {
        cmd,
        cid: cid.into(),
        conf: conf.text(),
    };
    let full = json!([
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
        {"hostPort": 8081, "containerPort": 80, "protocol": "tcp"},
        {"hostPort": 8080, "containerPort": 81, "protocol": "udp"},
        {"hostPort": 8082, "containerPort": 82, "protocol": "udp"},
        {"hostPort": 8083, "containerPort": 83, "protocol": "tcp", "hostIP": "192.168.0.2"},
        {"hostPort": 8084, "containerPort": 84, "protocol": "tcp", "hostIP": "0.0.0.0"},
        {"hostPort": 8085, "containerPort": 85, "protocol": "tcp", "hostIP": "2001:db8:a::1"},
        {"hostPort": 8086, "containerPort": 86, "protocol": "tcp", "hostIP": "::"},
        {"hostPort": 8087, "containerPort": 87, "protocol": "sctp"},
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}
    ]);
    let c1 = || {
        c("pmnet", full.clone())
            .set("conditionsV4", json!(["!", "-d", "192.0.2.0/24"]))
            .set("conditionsV6", json!(["!", "-d", "2001:db8:ffff::/48"]))
            .prev(prev(ctr, "10.0.0.2/24", Some("2001:db8::2/64")))
    };
    let many: Vec<Value> = (9000..9020)
        .map(|p| json!({"hostPort": p, "containerPort": p - 1000, "protocol": "tcp"}))
        .collect();
    let mut more = many.clone();
    more.push(json!({"hostPort": 9100, "containerPort": 100, "protocol": "udp"}));
    let c2 = |m: Vec<Value>| {
        c("pmnet", json!(m))
            .set("snat", json!(false))
            .prev(prev(ctr, "10.0.0.3/24", None))
    };
    let other = || {
        c(
            "other",
            json!([{"hostPort": 7070, "containerPort": 70, "protocol": "tcp"}]),
        )
        .set("externalSetMarkChain", json!("PLZ-SET-MARK"))
        .prev(prev(ctr, "10.1.0.2/16", Some("2001:db8:1::2/64")))
    };
    let bit5 = || {
        c("bit5", json!([{"hostPort": 6060, "containerPort": 60, "protocol": "udp", "hostIP": "2001:db8:a::1"}]))
            .set("markMasqBit", json!(5))
            .prev(prev(ctr, "10.2.0.2/24", Some("2001:db8:2::2/64")))
    };
    let long = || {
        c(
            "a-network-with-a-rather-long-name-to-push-the-comment-past-its-limit",
            json!([{"hostPort": 5050, "containerPort": 50, "protocol": "tcp"}]),
        )
        .prev(prev(ctr, "10.3.0.2/24", None))
    };
    vec![
        step("ADD", "c1", c1()),
        step("ADD", "c2", c2(many.clone())),
        step("ADD", "c1", other()),
        step("ADD", "c3", bit5()),
        // Idempotent re-ADD, then a re-ADD with one more mapping (upstream appends).
        step("ADD", "c1", c1()),
        step("ADD", "c2", c2(more)),
        step("ADD", LONG_ID, long()),
        step("DEL", "c1", c1()),
        step("DEL", "c1", c1()),
        step("DEL", "c2", c2(many)),
        step("DEL", "c1", other()),
        step("DEL", "c3", bit5()),
        step("DEL", LONG_ID, long()),
    ]
}

/// Runs the steps with Go and with us, `PATH` starting with `bin_dir` (which picks the
/// iptables variant), and compares `<save>` output after each step. With `go_v6_buggy`, Go's
/// IPv6 rules are only required to be a subset of ours (see the legacy test).
fn same_rules_as_go(bin_dir: &str, save4: &str, save6: &str, go_v6_buggy: bool) {
    testkit::require_root();
    let go_host = Host::new();
    let our_host = Host::new();
    let ctr = TempNetns::new();
    let path = format!("{bin_dir}:{PATH}");
    let env = [("PATH", path.as_str())];
    for h in [&go_host, &our_host] {
        for cmd in ["iptables", "ip6tables"] {
            sh(
                &h.ns,
                &[
                    "sh",
                    "-c",
                    &format!("PATH={path} {cmd} -w -t nat -N PLZ-SET-MARK"),
                ],
            );
        }
    }
    for (n, step) in steps(&ctr).iter().enumerate() {
        let g = go_host.run_env(&go(), step.cmd, &step.cid, ctr.path(), &step.conf, &env);
        let o = our_host.run_env(&ours(), step.cmd, &step.cid, ctr.path(), &step.conf, &env);
        assert_eq!(
            o.code, g.code,
            "step {n} {} {}: exit codes\nGo: {g}\nours: {o}",
            step.cmd, step.cid
        );
        assert_eq!(o.code, 0, "step {n} {} {} failed: {o}", step.cmd, step.cid);
        assert_eq!(o.stdout, g.stdout, "step {n}: output");
        for save in [save4, save6] {
            let (o, g) = (our_host.nat_with(save), go_host.nat_with(save));
            if save == save6 && go_v6_buggy {
                for line in g.lines() {
                    assert!(
                        o.contains(&format!("{line}\n")),
                        "step {n}: {line} missing in\n{o}"
                    );
                }
            } else {
                assert_eq!(o, g, "step {n} {} {}: {save} differs", step.cmd, step.cid);
            }
        }
        if n == 0 && go_v6_buggy {
            // The rules Go loses: same as the 8080 ones but for the port.
            let o = our_host.nat_with(save6);
            for rule in [
                "-s 2001:db8::/64 -p tcp -m tcp --dport 8081 -j CNI-HOSTPORT-SETMARK",
                "-p tcp -m tcp --dport 8081 -j DNAT --to-destination [2001:db8::2]:80",
                "-p tcp -m tcp --dport 8086 -j DNAT --to-destination [2001:db8::2]:86",
            ] {
                assert!(o.contains(rule), "{rule} missing in\n{o}");
            }
        }
    }
    // Only the shared chains (and the external chain) are left, on both sides.
    let left = our_host.nat_with(save4);
    assert!(left.contains("-A CNI-HOSTPORT-SETMARK -m comment --comment \"CNI portfwd masquerade mark\" -j MARK --set-xmark 0x20/0x20"), "{left}");
    assert!(!left.contains("CNI-DN-"), "{left}");
}

#[test]
fn iptables_nft_save_matches_go_after_every_step() {
    same_rules_as_go("/usr/sbin", "iptables-save", "ip6tables-save", false);
}

/// The same with iptables-legacy (`iptables` & co. on `PATH` point at the legacy tools).
/// IPv4 is identical. IPv6 is not: ip6tables-legacy 1.8.9's `-C` ignores the tcp/udp ports,
/// so Go, which adds each rule "unless `-C` finds it", skips every IPv6 rule that differs from
/// an earlier one only in its port (here the 8081 and 8086 mappings are never forwarded). We
/// add the rules of a new chain without asking `-C`, so ours has them all.
#[test]
fn iptables_legacy_save_matches_go_after_every_step() {
    let dir = testkit::temp_dir();
    for (name, target) in [
        ("iptables", "iptables-legacy"),
        ("ip6tables", "ip6tables-legacy"),
        ("iptables-restore", "iptables-legacy-restore"),
        ("ip6tables-restore", "ip6tables-legacy-restore"),
    ] {
        std::os::unix::fs::symlink(format!("/usr/sbin/{target}"), dir.path().join(name)).unwrap();
    }
    same_rules_as_go(
        dir.path().to_str().unwrap(),
        "iptables-legacy-save",
        "ip6tables-legacy-save",
        true,
    );
}

/// Our DEL also finds the chain without mappings or prevResult (upstream's DEL does nothing
/// without mappings); chains of other networks stay.
#[test]
fn del_needs_neither_mappings_nor_prev_result() {
    testkit::require_root();
    let host = Host::new();
    let ctr = TempNetns::new();
    let mappings = json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]);
    for net in ["net-a", "net-b"] {
        let conf = Conf::new(net, "1.0.0", mappings.clone())
            .prev(json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}]}));
        host.run(&ours(), "ADD", "c1", ctr.path(), &conf.text())
            .assert_success();
    }
    let bare = json!({"cniVersion": "1.0.0", "name": "net-a", "type": "portmap"}).to_string();
    host.run(&ours(), "DEL", "c1", ctr.path(), &bare)
        .assert_success();
    let nat = host.nat(false);
    assert!(!nat.contains("dnat name: \\\"net-a\\\""), "{nat}");
    assert!(nat.contains("dnat name: \\\"net-b\\\""), "{nat}");
    assert_eq!(nat.matches(":CNI-DN-").count(), 1, "{nat}");
    // And again: nothing left to do is success.
    host.run(&ours(), "DEL", "c1", ctr.path(), &bare)
        .assert_success();
}
