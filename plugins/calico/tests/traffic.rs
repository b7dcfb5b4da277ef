//! Real traffic: two workloads on one node reach each other and the node, over IPv4 and IPv6,
//! through calico's veths, proxy ARP and host routes; DEL removes every trace.

mod common;

use common::*;
use serde_json::json;
use testkit::TempNetns;

fn ping(ns: &TempNetns, ip: &str) -> (bool, String) {
    let v6 = ip.contains(':');
    let mut args = vec!["ping", "-c", "1", "-W", "3"];
    if v6 {
        args.push("-6");
    }
    args.push(ip);
    sh(ns, &args)
}

fn addr_of(res: &serde_json::Value, v6: bool) -> String {
    res["ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["address"].as_str().unwrap())
        .find(|a| a.contains(':') == v6)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn two_workloads_ping_each_other_and_the_host() {
    for store in STORES {
        let h = Host::new(store);
        // The node's uplink: an address to ping, and a default route (proxy ARP answers only
        // for destinations the node routes elsewhere, as on a real node).
        h.ip(&[
            "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1",
        ]);
        h.ip(&["link", "set", "uplink0", "up"]);
        h.ip(&["link", "set", "uplink1", "up"]);
        h.ip(&["addr", "add", "10.99.0.1/24", "dev", "uplink0"]);
        h.ip(&["-6", "addr", "add", "fd99::1/64", "dev", "uplink0", "nodad"]);
        h.ip(&[
            "route",
            "add",
            "default",
            "via",
            "10.99.0.254",
            "dev",
            "uplink0",
        ]);
        h.ip(&[
            "-6", "route", "add", "default", "via", "fd99::fe", "dev", "uplink0",
        ]);

        let conf = h.conf(
            "1.0.0",
            "net1",
            json!({ "ipam": { "type": "host-local", "dataDir": h.ipam_dir(),
                              "ranges": [[{ "subnet": "10.22.0.0/24" }],
                                         [{ "subnet": "fd00:22::/64" }]] } }),
        );
        let (c1, c2) = (TempNetns::new(), TempNetns::new());
        let r1 = h.run("ADD", "wl1", c1.path(), &conf);
        r1.assert_success();
        let r2 = h.run("ADD", "wl2", c2.path(), &conf);
        r2.assert_success();
        let (a1, a2) = (r1.json(), r2.json());

        for v6 in [false, true] {
            let (ip1, ip2) = (addr_of(&a1, v6), addr_of(&a2, v6));
            let host = if v6 { "fd99::1" } else { "10.99.0.1" };
            let (ok, out) = ping(&c1, &ip2);
            assert!(ok, "{store:?} wl1 -> wl2 {ip2}: {out}");
            let (ok, out) = ping(&c2, &ip1);
            assert!(ok, "{store:?} wl2 -> wl1 {ip1}: {out}");
            let (ok, out) = ping(&c1, host);
            assert!(ok, "{store:?} wl1 -> host {host}: {out}");
            let (ok, out) = ping(&h.ns, &ip2);
            assert!(ok, "{store:?} host -> wl2 {ip2}: {out}");
        }

        h.run("DEL", "wl1", c1.path(), &conf).assert_success();
        h.run("DEL", "wl2", c2.path(), &conf).assert_success();
        let links = h.ip(&["-o", "link"]);
        assert!(!links.contains("caliwl"), "{links}");
        let routes = h.ip(&["route"]) + &h.ip(&["-6", "route"]);
        assert!(
            !routes.contains("10.22.0.") && !routes.contains("fd00:22::"),
            "{routes}"
        );
        assert!(h.weps().is_empty());
        assert!(h.reservations("net1").is_empty());
        let (ok, _) = ping(&h.ns, &addr_of(&a2, false));
        assert!(!ok, "unreachable after DEL");
    }
}

/// calico then our portmap, chained as a runtime would (portmap gets calico's result as
/// prevResult): a TCP connection to the node's host port reaches the workload; DEL of both
/// removes the mapping and the workload.
#[test]
fn portmap_chained_host_port_reaches_the_workload() {
    use std::io::{Read, Write};
    let h = Host::new(Store::Local);
    h.ip(&[
        "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1",
    ]);
    h.ip(&["link", "set", "uplink0", "up"]);
    h.ip(&["link", "set", "uplink1", "up"]);
    h.ip(&["addr", "add", "10.99.0.1/24", "dev", "uplink0"]);
    h.ip(&[
        "route",
        "add",
        "default",
        "via",
        "10.99.0.254",
        "dev",
        "uplink0",
    ]);
    std::os::unix::fs::symlink(
        testkit::workspace_bin("portmap"),
        h.cni_path.join("portmap"),
    )
    .unwrap();

    let c = TempNetns::new();
    let conf = h.conf("1.0.0", "net1", json!({}));
    let add = h.run("ADD", "pm1", c.path(), &conf);
    add.assert_success();
    let pm = json!({ "cniVersion": "1.0.0", "name": "net1", "type": "portmap",
        "runtimeConfig": { "portMappings": [
            { "hostPort": 18080, "containerPort": 8080, "protocol": "tcp" } ] },
        "prevResult": add.json() });
    let pm_run = |cmd: &str| {
        h.exec(
            testkit::Invocation::new(h.cni_path.join("portmap"))
                .command(cmd)
                .container_id("pm1")
                .netns(c.path())
                .ifname("eth0")
                .path(&h.cni_path)
                .stdin(serde_json::to_vec(&pm).unwrap()),
        )
    };
    pm_run("ADD").assert_success();

    // The workload's server: one answer per connection.
    let cns = netkit::NetNs::open(c.path()).unwrap();
    let listener = cns
        .run(|| std::net::TcpListener::bind("0.0.0.0:8080").unwrap())
        .unwrap();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let _ = s.write_all(b"hello from the workload");
        }
    });
    let answer = h
        .netns
        .run(|| {
            let mut s = std::net::TcpStream::connect_timeout(
                &"10.99.0.1:18080".parse().unwrap(),
                std::time::Duration::from_secs(5),
            )
            .expect("connect to the host port");
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            buf
        })
        .unwrap();
    assert_eq!(answer, "hello from the workload");

    pm_run("DEL").assert_success();
    h.run("DEL", "pm1", c.path(), &conf).assert_success();
    let nat = sh(&h.ns, &["iptables-save", "-t", "nat"]).1;
    assert!(!nat.contains("18080"), "{nat}");
    assert!(h.weps().is_empty());
    assert!(!h.ip(&["-o", "link"]).contains("calipm1"));
}
