//! 32 containers at once: ADD/DEL pairs racing each other leave the shared chains exactly as
//! one container would, and no per-container chain or rule behind; 32 concurrent ADDs all
//! land (no lost update) and 32 concurrent DELs remove them all.

mod common;

use common::*;
use serde_json::json;
use testkit::TempNetns;

const N: usize = 32;

fn conf(i: usize, backend: &str) -> String {
    Conf::new(
        "parnet",
        "1.0.0",
        json!([
            {"hostPort": 10000 + i, "containerPort": 80, "protocol": "tcp"},
            {"hostPort": 10000 + i, "containerPort": 80, "protocol": "udp"}
        ]),
    )
    .set("backend", json!(backend))
    .prev(json!({"cniVersion": "1.0.0", "ips": [
        {"address": format!("10.200.{i}.2/24")},
        {"address": format!("fd00:{i}::2/64")}
    ]}))
    .text()
}

fn in_parallel(host: &Host, ctr: &TempNetns, backend: &str, cmds: &[&str]) {
    std::thread::scope(|s| {
        for i in 0..N {
            s.spawn(move || {
                for cmd in cmds {
                    let run = host.run(
                        &ours(),
                        cmd,
                        &format!("par{i}"),
                        ctr.path(),
                        &conf(i, backend),
                    );
                    assert!(run.success(), "{cmd} par{i}:\n{run}");
                }
            });
        }
    });
}

/// The nat table without packet counters.
fn nat(host: &Host, v6: bool) -> String {
    host.nat(v6)
        .lines()
        .map(|l| match l.rsplit_once(" [") {
            Some((head, _)) if l.starts_with(':') => head.to_string(),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const SHARED_ONLY: &str = r#"*nat
:PREROUTING ACCEPT
:INPUT ACCEPT
:OUTPUT ACCEPT
:POSTROUTING ACCEPT
:CNI-HOSTPORT-DNAT -
:CNI-HOSTPORT-MASQ -
:CNI-HOSTPORT-SETMARK -
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ
-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE
-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000
COMMIT"#;

#[test]
fn iptables_parallel_add_del_pairs_leave_shared_chains_consistent() {
    testkit::require_root();
    let host = Host::new();
    let ctr = TempNetns::new();
    in_parallel(&host, &ctr, "iptables", &["ADD", "DEL"]);
    assert_eq!(nat(&host, false), SHARED_ONLY);
    assert_eq!(nat(&host, true), SHARED_ONLY);

    in_parallel(&host, &ctr, "iptables", &["ADD"]);
    for v6 in [false, true] {
        let t = nat(&host, v6);
        assert_eq!(t.matches("\n:CNI-DN-").count(), N, "{t}");
        assert_eq!(t.matches("\n-A CNI-HOSTPORT-DNAT ").count(), 2 * N, "{t}");
        for shared in SHARED_ONLY.lines().filter(|l| l.starts_with("-A")) {
            assert_eq!(
                t.matches(&format!("{shared}\n")).count(),
                1,
                "{shared} in\n{t}"
            );
        }
    }
    in_parallel(&host, &ctr, "iptables", &["DEL"]);
    assert_eq!(nat(&host, false), SHARED_ONLY);
    assert_eq!(nat(&host, true), SHARED_ONLY);
}

#[test]
fn nftables_parallel_add_del_pairs_leave_shared_chains_consistent() {
    testkit::require_root();
    let host = Host::new();
    let ctr = TempNetns::new();
    let base = |fam: &str| {
        let t = host.nft(fam);
        assert!(!t.contains("comment \"par"), "{t}");
        assert_eq!(
            t.matches("fib daddr type local jump hostports_all").count(),
            2,
            "{t}"
        );
        assert_eq!(t.matches("jump hostip_hostports").count(), 1, "{t}");
        assert_eq!(t.matches("\t\tjump hostports\n").count(), 1, "{t}");
    };
    in_parallel(&host, &ctr, "nftables", &["ADD", "DEL"]);
    base("ip");
    base("ip6");

    in_parallel(&host, &ctr, "nftables", &["ADD"]);
    let (v4, v6) = (host.nft("ip"), host.nft("ip6"));
    assert_eq!(v4.matches(" dnat to 10.200.").count(), 2 * N, "{v4}");
    assert_eq!(
        v4.matches(" masquerade comment \"par").count(),
        2 * N,
        "{v4}"
    );
    assert_eq!(v6.matches(" dnat to [fd00:").count(), 2 * N, "{v6}");
    assert_eq!(v6.matches(" masquerade comment \"par").count(), N, "{v6}");
    in_parallel(&host, &ctr, "nftables", &["DEL"]);
    base("ip");
    base("ip6");
}
