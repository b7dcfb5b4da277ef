//! The calico-ipam binary on both backends: the scenarios of Calico's calico_cni_ipam_test.go
//! (§10.3 of the reference notes), GC and STATUS.

mod common;

use serde_json::{json, Value};

fn ips(r: &Value) -> Vec<String> {
    r["ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["address"].as_str().unwrap().to_string())
        .collect()
}

fn routes(r: &Value) -> Vec<String> {
    r["routes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| i["dst"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

const V6: &str = "fd80:24e2:f998:72d6::/64";

both!(default_v4_add_del, |b: common::Backend| {
    b.pool("p4", "192.168.0.0/16", |_| {});
    let conf = b.conf("1.0.0", "node1", json!({}));
    let r = b.add("c1", &conf);
    let got = ips(&r);
    assert_eq!(got.len(), 1);
    assert!(
        got[0].starts_with("192.168.") && got[0].ends_with("/26"),
        "{got:?}"
    );
    assert_eq!(routes(&r), got, "one route per IP, block-masked");
    assert_eq!(r["cniVersion"], "1.0.0");
    let allocs = b.allocations();
    assert_eq!(allocs.values().collect::<Vec<_>>(), vec!["net1.c1"]);
    assert_eq!(b.handles(), vec!["net1.c1"]);
    b.del("c1", &conf);
    assert!(b.allocations().is_empty());
    assert!(b.handles().is_empty());
    // DEL is idempotent.
    b.del("c1", &conf);
});

both!(explicit_v4_v6_only_and_dual, |b: common::Backend| {
    b.pool("p4", "192.168.0.0/16", |_| {});
    b.pool("p6", V6, |_| {});
    let c = b.conf("0.3.1", "node1", json!({"assign_ipv4": "true"}));
    assert!(ips(&b.add("a", &c))[0].ends_with("/26"));
    let c = b.conf(
        "1.0.0",
        "node1",
        json!({"assign_ipv4": "false", "assign_ipv6": "true"}),
    );
    let got = ips(&b.add("b", &c));
    assert_eq!(got.len(), 1);
    assert!(
        got[0].starts_with("fd80:24e2:f998:72d6:") && got[0].ends_with("/122"),
        "{got:?}"
    );
    let c = b.conf("1.0.0", "node1", json!({"assign_ipv6": "true"}));
    let r = b.add("d", &c);
    let got = ips(&r);
    assert_eq!(got.len(), 2);
    assert!(
        got[0].ends_with("/26") && got[1].ends_with("/122"),
        "{got:?}"
    );
    assert_eq!(routes(&r), got);
    for cid in ["a", "b", "d"] {
        b.del(cid, &c);
    }
    assert!(b.allocations().is_empty());
});

both!(
    dual_stack_without_v6_pool_fails_and_rolls_back,
    |b: common::Backend| {
        b.pool("p4", "192.168.0.0/16", |_| {});
        b.pool("p6", V6, |_| {});
        b.delete_pool("p6");
        let c = b.conf("1.0.0", "node1", json!({"assign_ipv6": "true"}));
        let r = b.run("ADD", "x", "", &c);
        assert!(!r.success());
        assert_eq!(
            r.json()["msg"],
            "cannot find a qualified ippool",
            "{}",
            r.stdout
        );
        // Calico leaves the v4 address to the runtime's DEL by handle.
        b.del("x", &c);
        assert!(b.allocations().is_empty());
        // Without any v4 pool, a dual-stack ADD gets v6 then releases it.
        b.pool("p6", V6, |_| {});
        b.delete_pool("p4");
        let r = b.run("ADD", "y", "", &c);
        assert!(!r.success());
        assert!(b.allocations().is_empty());
    }
);

both!(
    requested_pools_disabled_and_unknown,
    |b: common::Backend| {
        b.pool("p1", "192.168.0.0/16", |_| {});
        b.pool("p2", "10.10.0.0/24", |_| {});
        b.pool("off", "10.20.0.0/24", |s| s.disabled = true);
        let c = b.conf("1.0.0", "node1", json!({"ipv4_pools": ["10.10.0.0/24"]}));
        assert!(ips(&b.add("a", &c))[0].starts_with("10.10.0."));
        let c = b.conf("1.0.0", "node1", json!({"ipv4_pools": ["p2", "p1"]}));
        assert!(ips(&b.add("b", &c))[0].starts_with("10.10.0."));
        let c = b.conf("1.0.0", "node1", json!({"ipv4_pools": ["10.20.0.0/24"]}));
        let r = b.run("ADD", "c", "", &c);
        assert_eq!(
            r.json()["msg"],
            "the given pool (10.20.0.0/24) does not exist, or is not enabled"
        );
        let c = b.conf("1.0.0", "node1", json!({"ipv4_pools": ["192.169.1.0/24"]}));
        let r = b.run("ADD", "c", "", &c);
        assert!(r.json()["msg"]
            .as_str()
            .unwrap()
            .contains("192.169.1.0/24) does not exist"));
        let c = b.conf("1.0.0", "node1", json!({"ipv4_pools": ["nope"]}));
        let r = b.run("ADD", "c", "", &c);
        assert!(r.json()["msg"]
            .as_str()
            .unwrap()
            .starts_with("error parsing pool \"nope\""));
        let c = b.conf("1.0.0", "node1", json!({"ipv4_pools": ["fd00::/64"]}));
        let r = b.run("ADD", "c", "", &c);
        assert_eq!(r.json()["msg"], "\"fd00::\" isn't a IPv4 address");
        // Without a request, disabled pools are skipped: everything lands in p1 or p2.
        let c = b.conf("1.0.0", "node1", json!({}));
        for i in 0..5 {
            let ip = ips(&b.add(&format!("n{i}"), &c))[0].clone();
            assert!(!ip.starts_with("10.20."), "{ip}");
        }
    }
);

both!(specific_ip, |b: common::Backend| {
    b.pool("p1", "192.168.0.0/16", |_| {});
    b.pool("tun", "10.99.0.0/24", |s| {
        s.allowed_uses = vec!["Tunnel".into()]
    });
    let c = b.conf("1.0.0", "node1", json!({}));
    let add = |cid: &str, ip: &str| b.run("ADD", cid, &format!("IP={ip}"), &c);
    let r = add("s1", "192.168.123.123");
    assert!(r.success(), "{}", r.stdout);
    assert_eq!(ips(&r.json()), vec!["192.168.123.123/32"]);
    b.del("s1", &c);
    assert!(add("s1", "192.168.123.123").success());
    let dup = add("s2", "192.168.123.123");
    assert!(!dup.success());
    assert_eq!(dup.json()["msg"], "Address already assigned in block");
    assert!(!add("s3", "10.99.0.5").success(), "Tunnel-only pool");
    let r = add("s4", "172.16.0.1");
    assert_eq!(
        r.json()["msg"],
        "The provided IP address is not in a configured pool\n",
        "Go's text, newline included"
    );
    let r = b.run("ADD", "s5", "IP=nonsense", &c);
    assert!(!r.success());
    b.del("s1", &c);
    assert!(b.allocations().is_empty());
});

both!(del_nothing_and_legacy_handle, |b: common::Backend| {
    b.pool("p1", "192.168.0.0/16", |_| {});
    let c = b.conf("1.0.0", "node1", json!({}));
    b.del("never-added", &c);
    // Allocations made by an old plugin under the bare container ID are freed too.
    let ds = b.ds();
    let ipam = ipam::Ipam::new(&ds);
    ipam.assign_ip(
        "192.168.7.7".parse().unwrap(),
        "legacy1",
        &Default::default(),
        "node1",
    )
    .unwrap();
    b.add("legacy1", &c);
    assert_eq!(b.allocations().len(), 2);
    b.del("legacy1", &c);
    assert!(b.allocations().is_empty());
    assert!(b.handles().is_empty());
    // k8s: the legacy handle is <namespace>.<pod>.
    ipam.assign_ip(
        "192.168.7.8".parse().unwrap(),
        "ns1.pod1",
        &Default::default(),
        "node1",
    )
    .unwrap();
    let r = b.run("DEL", "k1", "K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=pod1", &c);
    assert!(r.success(), "{}", r.stdout);
    assert!(b.allocations().is_empty());
});

both!(attributes_and_unknown_args, |b: common::Backend| {
    b.pool("p1", "192.168.0.0/16", |_| {});
    // With a kubeconfig (KDD) calico-ipam reads the pod's namespace.
    b.namespace("ns", json!({}));
    let c = b.conf("1.0.0", "node1", json!({}));
    let r = b.run(
        "ADD",
        "k",
        "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;FOO=1",
        &c,
    );
    assert!(r.success(), "{}", r.stdout);
    let ds = b.ds();
    let blocks = ds.list(&datastore::BlockList::default()).unwrap();
    let a = blocks[0].1.value.attributes[0].clone();
    assert_eq!(a.handle_id.as_deref(), Some("net1.k"));
    assert_eq!(a.active_owner_attrs["node"], "node1");
    assert_eq!(a.active_owner_attrs["pod"], "p");
    assert_eq!(a.active_owner_attrs["namespace"], "ns");
    assert!(a.active_owner_attrs["timestamp"].ends_with(" +0000 UTC"));
    assert_eq!(blocks[0].1.value.affinity.as_deref(), Some("host:node1"));
    let r = b.run("ADD", "k2", "FOO=1", &c);
    assert!(!r.success());
    assert!(
        r.json()["msg"].as_str().unwrap().contains("unknown args"),
        "{}",
        r.stdout
    );
});

both!(
    gc_releases_dead_containers_of_this_node,
    |b: common::Backend| {
        b.pool("p1", "192.168.0.0/16", |_| {});
        b.node("node2", &[]);
        let c = b.conf("1.1.0", "node1", json!({}));
        let c2 = b.conf("1.1.0", "node2", json!({}));
        b.add("live", &c);
        b.add("dead", &c);
        b.add("other", &c2);
        // No key: nothing is released.
        assert!(b.run("GC", "", "", &c).success());
        assert_eq!(b.handles().len(), 3);
        let mut g = c.clone();
        g["cni.dev/valid-attachments"] = json!([{"containerID": "live", "ifname": "eth0"}]);
        let r = b.run("GC", "", "", &g);
        assert!(r.success(), "{}", r.stdout);
        assert_eq!(b.handles(), vec!["net1.live", "net1.other"]);
        g["cni.dev/valid-attachments"] = Value::Null;
        assert!(b.run("GC", "", "", &g).success());
        assert_eq!(
            b.handles(),
            vec!["net1.other"],
            "node2's handle is node2's to collect"
        );
    }
);

both!(status_checks_datastore_and_pools, |b: common::Backend| {
    let c = b.conf("1.1.0", "node1", json!({}));
    if b.etcd.is_some() || b.is_kdd() {
        // etcd, KDD: nothing has made the datastore ready yet (calico-node does).
        let r = b.run("STATUS", "", "", &c);
        assert_eq!(r.json()["code"], 50, "{}", r.stdout);
        b.ds()
            .ensure_cluster_information("v3.32.0", "test")
            .unwrap();
    }
    let r = b.run("STATUS", "", "", &c);
    assert_eq!(r.json()["code"], 50, "no pool: {}", r.stdout);
    b.pool("p1", "192.168.0.0/16", |s| {
        s.node_selector = "zone == 'b'".into()
    });
    assert_eq!(
        b.run("STATUS", "", "", &c).json()["code"],
        50,
        "pool not for this node"
    );
    b.pool("p2", "10.1.0.0/16", |_| {});
    let r = b.run("STATUS", "", "", &c);
    assert!(r.success(), "{}", r.stdout);
    let c6 = b.conf("1.1.0", "node1", json!({"assign_ipv6": "true"}));
    assert_eq!(b.run("STATUS", "", "", &c6).json()["code"], 50);
    let r = b.run("STATUS", "", "", &b.conf("1.0.0", "node1", json!({})));
    assert!(!r.success(), "STATUS needs 1.1.0");
});

#[test]
fn status_unreachable_etcd_is_50() {
    let b = common::Backend::local();
    let mut c = b.conf("1.1.0", "node1", json!({}));
    c.as_object_mut().unwrap().remove("datastore_type");
    c.as_object_mut().unwrap().remove("datastore_path");
    c["etcd_endpoints"] = json!("http://127.0.0.1:1");
    let r = b.run("STATUS", "", "", &c);
    assert_eq!(r.json()["code"], 50, "{}", r.stdout);
    let r = b.run(
        "ADD",
        "x",
        "",
        &b.conf("1.0.0", "node1", json!({}))
            .as_object()
            .map(|_| c.clone())
            .unwrap(),
    );
    assert_eq!(r.json()["code"], 11, "{}", r.stdout);
}

#[test]
fn version_flag_about_and_version_command() {
    let out = std::process::Command::new(common::BIN)
        .arg("-v")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with('v'));
    let out = std::process::Command::new(common::BIN).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("Calico CNI IPAM "));
    let b = common::Backend::local();
    let r = b.run("VERSION", "", "", &json!({"cniVersion": "1.1.0"}));
    assert!(r.success());
    assert!(r.json()["supportedVersions"]
        .as_array()
        .unwrap()
        .contains(&json!("0.2.0")));
}

both!(result_in_every_version, |b: common::Backend| {
    b.pool("p4", "192.168.0.0/16", |_| {});
    b.pool("p6", V6, |_| {});
    for (i, v) in ["0.2.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
        .iter()
        .enumerate()
    {
        let c = b.conf(v, "node1", json!({"assign_ipv6": "true"}));
        let r = b.add(&format!("v{i}"), &c);
        assert_eq!(r["cniVersion"], *v);
        if *v == "0.2.0" {
            assert!(r["ip4"]["ip"].as_str().unwrap().ends_with("/26"), "{r}");
            assert!(r["ip6"]["ip"].as_str().unwrap().ends_with("/122"), "{r}");
        } else {
            assert_eq!(ips(&r).len(), 2, "{r}");
            assert_eq!(routes(&r).len(), 2, "{r}");
        }
        b.del(&format!("v{i}"), &c);
    }
    assert!(b.allocations().is_empty());
});

// §8: with the Kubernetes API configured (`policy.type: k8s` here) and a namespace in
// CNI_ARGS, pools are chosen by their `namespaceSelector` against the namespace's labels;
// without a namespace only pools with no namespace selector qualify; a namespace the API
// cannot return fails the ADD. Runs against testkit's stand-in API server (no apiserver can
// be installed here): on KDD the datastore's own, else one just for the namespaces.
both!(pools_by_namespace_selector, |b: common::Backend| {
    b.pool("team-a", "10.10.0.0/16", |s| {
        s.namespace_selector = "team == 'a'".into()
    });
    b.pool("team-b", "10.20.0.0/16", |s| {
        s.namespace_selector = "team == 'b'".into()
    });
    for (ns, team) in [("ns-a", "a"), ("ns-b", "b"), ("ns-c", "c")] {
        b.namespace(ns, json!({"team": team}));
    }
    let mut conf = b.conf("1.0.0", "node1", json!({}));
    conf["policy"] = json!({"type": "k8s"});
    conf["kubernetes"] = json!({"kubeconfig": b.kubeconfig()});
    let k8s = |ns: &str, pod: &str| format!("K8S_POD_NAMESPACE={ns};K8S_POD_NAME={pod}");

    let r = b.run("ADD", "c1", &k8s("ns-a", "p1"), &conf);
    assert!(r.success(), "{}", r.stdout);
    assert!(ips(&r.json())[0].starts_with("10.10."), "{}", r.stdout);
    let r = b.run("ADD", "c2", &k8s("ns-b", "p2"), &conf);
    assert!(r.success(), "{}", r.stdout);
    assert!(ips(&r.json())[0].starts_with("10.20."), "{}", r.stdout);

    // No pool selects team c.
    let r = b.run("ADD", "c3", &k8s("ns-c", "p3"), &conf);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(r.json()["msg"], "no configured Calico pools for node node1");

    // The API does not know the namespace: the ADD fails with its message.
    let r = b.run("ADD", "c4", &k8s("ns-gone", "p4"), &conf);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(r.json()["msg"], "namespaces \"ns-gone\" not found");

    // No Kubernetes configured: no namespace labels, so neither selecting pool qualifies.
    if b.is_kdd() {
        // (The Kubernetes datastore always has the API.)
        return;
    }
    let plain = b.conf("1.0.0", "node1", json!({}));
    let r = b.run("ADD", "c5", &k8s("ns-a", "p5"), &plain);
    assert_eq!(r.code, 1, "{}", r.stdout);
    b.pool("anyone", "10.30.0.0/16", |_| {});
    let r = b.run("ADD", "c5", &k8s("ns-a", "p5"), &plain);
    assert!(r.success(), "{}", r.stdout);
    assert!(ips(&r.json())[0].starts_with("10.30."), "{}", r.stdout);
});
