//! Real traffic through the plugin's rules, for both backends: a server in a container netns
//! answers on hostIP:hostPort from a client netns, on 127.0.0.1:hostPort from the host, and by
//! hairpin from inside the container itself; TCP and UDP, IPv4 and IPv6. After DEL nothing of
//! the container is left. A second container on the same UDP host port gets the traffic of a
//! client that kept talking to the first (its conntrack entry was deleted on ADD).

mod common;

use common::*;
use serde_json::json;

fn no_trace_left(topo: &Topology, backend: &str, cid: &str, i: usize) {
    let ips = [Topology::ip4(i).to_string(), Topology::ip6(i).to_string()];
    let dumps = if backend == "nftables" {
        vec![topo.host.nft("ip"), topo.host.nft("ip6")]
    } else {
        vec![topo.host.nat(false), topo.host.nat(true)]
    };
    for dump in dumps {
        assert!(!dump.contains(cid), "{cid} left behind:\n{dump}");
        for ip in &ips {
            assert!(
                !dump.contains(&format!("{ip}:"))
                    && !dump.contains(&format!("{ip}]"))
                    && !dump.contains(&format!("{ip} ")),
                "{ip} left behind:\n{dump}"
            );
        }
        assert!(
            !dump.contains("CNI-DN-"),
            "per-container chain left behind:\n{dump}"
        );
    }
}

fn forwards_everything(backend: &str) {
    testkit::require_root();
    let topo = Topology::new(1);
    let c = &topo.containers[0];
    let _srv = Server::start(c, &[sa("10.99.0.2", 80), sa("fd99::2", 80)], "c0");
    // A second server port for the hostIP-only mapping.
    let _srv2 = Server::start(c, &[sa("10.99.0.2", 82), sa("fd99::2", 82)], "c0-82");
    let conf = Conf::new(
        "trafficnet",
        "1.0.0",
        json!([
            {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
            {"hostPort": 8080, "containerPort": 80, "protocol": "udp"},
            {"hostPort": 8082, "containerPort": 82, "protocol": "tcp", "hostIP": HOST_IP4},
            {"hostPort": 8082, "containerPort": 82, "protocol": "tcp", "hostIP": HOST_IP6},
        ]),
    )
    .set("backend", json!(backend))
    .prev(topo.prev_result(0, "1.0.0"));
    let bin = ours();
    let add = topo.host.run(&bin, "ADD", "ctr0", c.path(), &conf.text());
    add.assert_success();
    topo.host
        .run(&bin, "CHECK", "ctr0", c.path(), &conf.text())
        .assert_success();

    // From outside, to the host address.
    for host in [HOST_IP4, HOST_IP6] {
        assert_eq!(
            tcp_ask(&topo.client, sa(host, 8080)),
            Ok("c0".into()),
            "tcp {host}"
        );
        let u = udp_socket(&topo.client, host.contains(':'));
        assert_eq!(udp_ask(&u, sa(host, 8080)), Ok("c0".into()), "udp {host}");
        assert_eq!(
            tcp_ask(&topo.client, sa(host, 8082)),
            Ok("c0-82".into()),
            "hostIP {host}"
        );
    }
    // A hostIP mapping answers on that address only: the host's other address is not mapped.
    assert!(tcp_ask(&topo.client, sa("10.99.0.1", 8082)).is_err());
    assert_eq!(
        tcp_ask(&topo.client, sa("10.99.0.1", 8080)),
        Ok("c0".into())
    );

    // From the host itself, to localhost (needs the SNAT mark and route_localnet).
    assert_eq!(
        tcp_ask(&topo.host.ns, sa("127.0.0.1", 8080)),
        Ok("c0".into())
    );
    let u = udp_socket(&topo.host.ns, false);
    assert_eq!(udp_ask(&u, sa("127.0.0.1", 8080)), Ok("c0".into()));
    assert_eq!(
        sh(
            &topo.host.ns,
            &["cat", "/proc/sys/net/ipv4/conf/vc0/route_localnet"]
        )
        .trim(),
        "1"
    );

    // Hairpin: the container reaches itself through the host port.
    for host in [HOST_IP4, HOST_IP6] {
        assert_eq!(
            tcp_ask(c, sa(host, 8080)),
            Ok("c0".into()),
            "hairpin tcp {host}"
        );
        let u = udp_socket(c, host.contains(':'));
        assert_eq!(
            udp_ask(&u, sa(host, 8080)),
            Ok("c0".into()),
            "hairpin udp {host}"
        );
    }

    let del = topo.host.run(&bin, "DEL", "ctr0", c.path(), &conf.text());
    del.assert_success();
    no_trace_left(&topo, backend, "ctr0", 0);
    assert!(tcp_ask(&topo.client, sa(HOST_IP4, 8080)).is_err());
    assert!(tcp_ask(&topo.client, sa(HOST_IP6, 8080)).is_err());
    // CHECK now fails, a second DEL is fine.
    assert_eq!(
        topo.host
            .run(&bin, "CHECK", "ctr0", c.path(), &conf.text())
            .code,
        1
    );
    topo.host
        .run(&bin, "DEL", "ctr0", c.path(), &conf.text())
        .assert_success();
}

#[test]
fn iptables_forwards_tcp_udp_v4_v6_localhost_hairpin() {
    forwards_everything("iptables");
}

#[test]
fn nftables_forwards_tcp_udp_v4_v6_localhost_hairpin() {
    forwards_everything("nftables");
}

fn udp_goes_to_the_new_container(backend: &str) {
    testkit::require_root();
    let topo = Topology::new(2);
    let _s0 = Server::start(
        &topo.containers[0],
        &[sa("10.99.0.2", 81), sa("fd99::2", 81)],
        "c0",
    );
    let _s1 = Server::start(
        &topo.containers[1],
        &[sa("10.99.1.2", 81), sa("fd99:1::2", 81)],
        "c1",
    );
    let mappings = json!([{"hostPort": 9999, "containerPort": 81, "protocol": "udp"}]);
    let conf = |i: usize| {
        Conf::new("udpnet", "1.0.0", mappings.clone())
            .set("backend", json!(backend))
            .prev(topo.prev_result(i, "1.0.0"))
            .text()
    };
    let bin = ours();
    let (c0, c1) = (&topo.containers[0], &topo.containers[1]);

    topo.host
        .run(&bin, "ADD", "ctr0", c0.path(), &conf(0))
        .assert_success();
    let u4 = udp_socket(&topo.client, false);
    let u6 = udp_socket(&topo.client, true);
    assert_eq!(udp_ask(&u4, sa(HOST_IP4, 9999)), Ok("c0".into()));
    assert_eq!(udp_ask(&u6, sa(HOST_IP6, 9999)), Ok("c0".into()));

    // The first container goes (its server keeps running: a stale conntrack entry would
    // still deliver to it), the second takes the host port.
    topo.host
        .run(&bin, "DEL", "ctr0", c0.path(), &conf(0))
        .assert_success();
    topo.host
        .run(&bin, "ADD", "ctr1", c1.path(), &conf(1))
        .assert_success();
    assert_eq!(udp_ask(&u4, sa(HOST_IP4, 9999)), Ok("c1".into()));
    assert_eq!(udp_ask(&u6, sa(HOST_IP6, 9999)), Ok("c1".into()));

    topo.host
        .run(&bin, "DEL", "ctr1", c1.path(), &conf(1))
        .assert_success();
    no_trace_left(&topo, backend, "ctr1", 1);
}

#[test]
fn iptables_udp_conntrack_cleared_for_the_next_container() {
    udp_goes_to_the_new_container("iptables");
}

#[test]
fn nftables_udp_conntrack_cleared_for_the_next_container() {
    udp_goes_to_the_new_container("nftables");
}
