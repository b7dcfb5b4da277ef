//! The `cni` orchestrator through the binary, on our local store and on a real etcd (the
//! scenarios of Calico's tests/calico_cni_test.go), with host-local as the IPAM. The plugin runs
//! in a throwaway "host" netns; kernel state and the stored objects are asserted.

mod common;

use common::*;
use serde_json::{json, Value};
use testkit::TempNetns;

const CID: &str = "abcdef0123456789";

/// Scenario 1: one IP, profile, WEP, every host and container setting; DEL removes it all.
#[test]
fn add_creates_veth_routes_sysctls_wep_and_profile_then_del_removes_them() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        let conf = h.conf("0.3.1", "net1", json!({}));
        let run = h.run("ADD", CID, c.path(), &conf);
        run.assert_success();
        let res = run.json();
        let veth = cni_veth(CID);

        // Result: 0.3.1 layout, host + container interfaces, one /32 on interface 1.
        assert_eq!(res["cniVersion"], "0.3.1");
        assert_eq!(res["interfaces"][0], json!({ "name": veth }));
        assert_eq!(res["interfaces"][1]["name"], "eth0");
        assert_eq!(res["interfaces"][1]["sandbox"], c.path().to_str().unwrap());
        let mac = res["interfaces"][1]["mac"].as_str().unwrap().to_string();
        assert_eq!(mac.len(), 17);
        let ips = res["ips"].as_array().unwrap();
        assert_eq!(ips.len(), 1);
        let addr = ips[0]["address"].as_str().unwrap().to_string();
        assert!(
            addr.starts_with("10.22.0.") && addr.ends_with("/32"),
            "{addr}"
        );
        assert_eq!(ips[0]["interface"], 1);
        assert!(
            ips[0].get("gateway").is_none(),
            "gateways are removed: {res}"
        );
        let ip = addr.trim_end_matches("/32").to_string();

        // The WEP, exactly.
        let weps = h.weps();
        assert_eq!(weps.len(), 1);
        let wep = &weps[0];
        assert_eq!(wep.metadata.name, format!("{NODE}-cni-{CID}-eth0"));
        assert_eq!(wep.metadata.namespace, "default");
        assert_eq!(
            serde_json::to_value(&wep.spec).unwrap(),
            json!({ "orchestrator": "cni", "node": NODE, "containerID": CID, "endpoint": "eth0",
                    "ipNetworks": [addr], "profiles": ["net1"], "interfaceName": veth,
                    "mac": mac })
        );
        assert_eq!(
            wep.metadata.labels["projectcalico.org/namespace"],
            "default"
        );
        assert_eq!(wep.metadata.labels["projectcalico.org/orchestrator"], "cni");

        // The profile.
        let p = h.profile("net1").expect("profile net1");
        assert_eq!(
            serde_json::to_value(&p.spec).unwrap(),
            json!({ "ingress": [{ "action": "Allow", "source": { "selector": "has(net1)" },
                                  "destination": {} }],
                    "egress": [{ "action": "Allow", "source": {}, "destination": {} }],
                    "labelsToApply": { "net1": "" } })
        );

        // Host side.
        let link = h.ip(&["-o", "link", "show", &veth]);
        assert!(link.contains("mtu 1500"), "{link}");
        assert!(link.contains("link/ether ee:ee:ee:ee:ee:ee"), "{link}");
        assert!(link.contains(",UP"), "{link}");
        assert_eq!(h.sysctl(&format!("net/ipv4/conf/{veth}/proxy_arp")), "1");
        assert_eq!(h.sysctl(&format!("net/ipv4/neigh/{veth}/proxy_delay")), "0");
        assert_eq!(h.sysctl(&format!("net/ipv4/conf/{veth}/forwarding")), "1");
        assert_eq!(
            h.sysctl(&format!("net/ipv4/conf/{veth}/route_localnet")),
            "1"
        );
        assert_eq!(h.sysctl(&format!("net/ipv6/conf/{veth}/accept_ra")), "0");
        let routes = h.ip(&["-d", "route", "show", "table", "main"]);
        assert!(
            routes.contains(&format!("{ip} dev {veth} proto boot scope link")),
            "{routes}"
        );

        // Container side.
        assert_eq!(sysctl_in(&c, "net/ipv4/ip_forward"), "0");
        let l = c.ip_stdout(&["-o", "addr", "show", "eth0"]);
        assert!(l.contains(&format!("inet {ip}/32")), "{l}");
        let cl = c.ip_stdout(&["-o", "link", "show", "eth0"]);
        assert!(cl.contains(&mac) && cl.contains(",UP"), "{cl}");
        let cr = c.ip_stdout(&["route"]);
        assert!(cr.contains("default via 169.254.1.1 dev eth0"), "{cr}");
        assert!(cr.contains("169.254.1.1 dev eth0 scope link"), "{cr}");
        assert_eq!(h.reservations("net1"), vec![ip.clone()]);

        // DEL removes every trace; a second DEL is fine.
        h.run("DEL", CID, c.path(), &conf).assert_success();
        assert!(h.weps().is_empty());
        assert!(!c.ip_stdout(&["-o", "link"]).contains("eth0"));
        assert!(!h.ip(&["-o", "link"]).contains(&veth));
        assert!(!h.ip(&["route"]).contains(&ip));
        assert!(h.reservations("net1").is_empty());
        h.run("DEL", CID, c.path(), &conf).assert_success();
    });
}

/// Scenario 2 and 11: a leftover host veth of the same name is replaced.
#[test]
fn existing_host_veth_is_replaced() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        let veth = cni_veth(CID);
        h.ip(&[
            "link", "add", &veth, "type", "veth", "peer", "name", "stale0",
        ]);
        let conf = h.conf("0.3.1", "net1", json!({}));
        h.run("ADD", CID, c.path(), &conf).assert_success();
        let link = h.ip(&["-o", "link", "show", &veth]);
        assert!(link.contains("ee:ee:ee:ee:ee:ee"), "{link}");
        assert!(!h.ip(&["-o", "link"]).contains("stale0"));
        h.run("DEL", CID, c.path(), &conf).assert_success();
        assert!(!h.ip(&["-o", "link"]).contains(&veth));
    });
}

/// Scenario 3: not ready or no ClusterInformation → ADD and DEL fail.
#[test]
fn datastore_not_ready_fails_add_and_del() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        let conf = h.conf("0.3.1", "net1", json!({}));
        h.set_ready(Some(false));
        let run = h.run("ADD", CID, c.path(), &conf);
        assert_eq!(run.code, 1);
        assert_eq!(
            run.json()["msg"],
            "Calico is currently not ready to process requests"
        );
        assert!(
            h.reservations("net1").is_empty(),
            "no IPAM before the check"
        );
        assert_ne!(h.run("DEL", CID, c.path(), &conf).code, 0);
        if store == Store::Etcd {
            h.set_ready(None);
            let run = h.run("ADD", CID, c.path(), &conf);
            assert_eq!(run.code, 1);
            assert!(run.json()["msg"]
                .as_str()
                .unwrap()
                .starts_with("error getting ClusterInformation"));
            assert_ne!(h.run("DEL", CID, c.path(), &conf).code, 0);
        }
        assert!(h.weps().is_empty());
    });
}

/// Scenario 4.
#[test]
fn allow_ip_forwarding_sets_container_ip_forward() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        let conf = h.conf(
            "0.3.1",
            "net1",
            json!({ "container_settings": { "allow_ip_forwarding": true } }),
        );
        h.run("ADD", CID, c.path(), &conf).assert_success();
        assert_eq!(sysctl_in(&c, "net/ipv4/ip_forward"), "1");
        h.run("DEL", CID, c.path(), &conf).assert_success();
    });
}

/// Scenario 6: `hostname` is the node when `nodename` is absent; `nodename` wins.
#[test]
fn hostname_and_nodename_precedence() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        let mut conf = h.conf("0.3.1", "net1", json!({ "hostname": "named-host" }));
        conf.as_object_mut().unwrap().remove("nodename");
        // No nodename file at the path given: falls through to `hostname`.
        conf["nodename_file"] = json!(h.dir.path().join("absent"));
        h.run("ADD", CID, c.path(), &conf).assert_success();
        assert_eq!(h.weps()[0].spec.node, "named-host");
        assert_eq!(
            h.weps()[0].metadata.name,
            format!("named--host-cni-{CID}-eth0")
        );
        h.run("DEL", CID, c.path(), &conf).assert_success();
        assert!(h.weps().is_empty());

        conf["nodename"] = json!("explicit");
        h.run("ADD", CID, c.path(), &conf).assert_success();
        assert_eq!(h.weps()[0].spec.node, "explicit");
        h.run("DEL", CID, c.path(), &conf).assert_success();

        // The nodename file, read verbatim, beats `hostname`.
        conf.as_object_mut().unwrap().remove("nodename");
        std::fs::write(h.dir.path().join("nodename"), "from-file").unwrap();
        conf["nodename_file"] = json!(h.dir.path().join("nodename"));
        conf["nodename_file_optional"] = json!(false);
        h.run("ADD", CID, c.path(), &conf).assert_success();
        assert_eq!(h.weps()[0].spec.node, "from-file");
        h.run("DEL", CID, c.path(), &conf).assert_success();
    });
}

/// Without the nodename file (and not optional) ADD and DEL fail with Calico's hint.
#[test]
fn missing_nodename_file_fails() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        let mut conf = h.conf("0.3.1", "net1", json!({}));
        conf["nodename_file_optional"] = json!(false);
        conf["nodename_file"] = json!(h.dir.path().join("nodename"));
        for cmd in ["ADD", "DEL"] {
            let run = h.run(cmd, CID, c.path(), &conf);
            assert_eq!(run.code, 1, "{cmd}");
            let msg = run.json()["msg"].as_str().unwrap().to_string();
            assert!(
            msg.ends_with("no such file or directory: check that the calico/node container is running and has mounted /var/lib/calico/"),
            "{msg}"
        );
        }
    });
}

/// Scenario 8.
#[test]
fn ip_addrs_no_ipam_is_refused_for_cni() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        let conf = h.conf(
            "0.3.1",
            "net1",
            json!({ "feature_control": { "ip_addrs_no_ipam": true } }),
        );
        let run = h.run("ADD", CID, c.path(), &conf);
        assert_eq!(run.code, 1);
        assert_eq!(
            run.json()["msg"],
            "requested feature is not supported for this runtime: ip_addrs_no_ipam"
        );
        assert!(h.weps().is_empty());
    });
}

/// Scenario 9: DEL with no ADD, with a netns that exists or not.
#[test]
fn del_without_add_succeeds() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        let conf = h.conf("0.3.1", "net1", json!({}));
        h.run("DEL", CID, c.path(), &conf).assert_success();
        h.run(
            "DEL",
            CID,
            std::path::Path::new("/not/a/real/path1234567890"),
            &conf,
        )
        .assert_success();
    });
}

/// Scenario 10 (with host-local): a repeated ADD reuses the WEP and IP; another network name
/// adds its profile.
#[test]
fn second_add_reuses_endpoint_and_adds_profiles() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        let conf = h.conf("1.0.0", "net1", json!({}));
        let first = h.run("ADD", CID, c.path(), &conf);
        first.assert_success();
        let second = h.run("ADD", CID, c.path(), &conf);
        second.assert_success();
        assert_eq!(
            first.json()["ips"][0]["address"],
            second.json()["ips"][0]["address"]
        );
        assert_eq!(h.weps().len(), 1);
        assert_eq!(h.weps()[0].spec.profiles, vec!["net1"]);
        assert_eq!(h.reservations("net1").len(), 1);

        let conf2 = h.conf("1.0.0", "net2", json!({}));
        h.run("ADD", CID, c.path(), &conf2).assert_success();
        assert_eq!(h.weps().len(), 1);
        assert_eq!(h.weps()[0].spec.profiles, vec!["net1", "net2"]);
        assert!(h.profile("net2").is_some());
        h.run("DEL", CID, c.path(), &conf).assert_success();
        assert!(h.weps().is_empty());
    });
}

/// Scenario 13 and every result version: interfaces and indices per spec version.
#[test]
fn results_per_spec_version() {
    each_store(|store| {
        let h = Host::new(store);
        for (i, version) in ["0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
            .iter()
            .enumerate()
        {
            let c = TempNetns::new();
            let cid = format!("c{i}ver");
            let conf = h.conf(version, "net1", json!({}));
            let run = h.run("ADD", &cid, c.path(), &conf);
            run.assert_success();
            let res = run.json();
            assert_eq!(res["cniVersion"], *version);
            if *version == "0.2.0" {
                assert!(res["ip4"]["ip"].as_str().unwrap().ends_with("/32"), "{res}");
            } else {
                assert_eq!(res["interfaces"].as_array().unwrap().len(), 2);
                assert_eq!(res["ips"][0]["interface"], 1);
                assert_eq!(res["interfaces"][1]["name"], "eth0");
                assert!(!res["interfaces"][1]["mac"].as_str().unwrap().is_empty());
                assert!(!res["interfaces"][1]["sandbox"].as_str().unwrap().is_empty());
                if version.starts_with("0.3") {
                    assert_eq!(res["ips"][0]["version"], "4");
                }
            }
            h.run("DEL", &cid, c.path(), &conf).assert_success();
        }
        // No cniVersion at all: Calico answers in 0.2.0.
        let c = TempNetns::new();
        let mut conf = h.conf("", "net1", json!({}));
        conf.as_object_mut().unwrap().remove("cniVersion");
        let run = h.run("ADD", "noversion", c.path(), &conf);
        run.assert_success();
        assert_eq!(run.json()["cniVersion"], "0.2.0");
        h.run("DEL", "noversion", c.path(), &conf).assert_success();
    });
}

/// mtu and num_queues reach the veth.
#[test]
fn mtu_and_queues() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        let conf = h.conf("1.0.0", "net1", json!({ "mtu": 1400, "num_queues": 3 }));
        let run = h.run("ADD", CID, c.path(), &conf);
        run.assert_success();
        assert_eq!(run.json()["interfaces"][1]["mtu"], 1400);
        let cl = c.ip_stdout(&["-d", "-o", "link", "show", "eth0"]);
        assert!(cl.contains("mtu 1400"), "{cl}");
        assert!(
            cl.contains("numtxqueues 3") && cl.contains("numrxqueues 3"),
            "{cl}"
        );
        let hl = h.ip(&["-d", "-o", "link", "show", &cni_veth(CID)]);
        assert!(
            hl.contains("mtu 1400") && hl.contains("numtxqueues 3"),
            "{hl}"
        );
        h.run("DEL", CID, c.path(), &conf).assert_success();
    });
}

/// Dual stack: /128, the IPv6 route via the host end's link-local, IPv6 host sysctls.
#[test]
fn dual_stack() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        let conf = h.conf(
            "1.0.0",
            "net1",
            json!({ "ipam": { "type": "host-local", "dataDir": h.ipam_dir(),
                              "ranges": [[{ "subnet": "10.22.0.0/24" }],
                                         [{ "subnet": "fd00:22::/64" }]] } }),
        );
        let run = h.run("ADD", CID, c.path(), &conf);
        run.assert_success();
        let res = run.json();
        let ips: Vec<String> = res["ips"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["address"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ips.len(), 2);
        assert!(
            ips[1].starts_with("fd00:22::") && ips[1].ends_with("/128"),
            "{ips:?}"
        );
        let veth = cni_veth(CID);
        for (k, v) in [
            ("proxy_ndp", "1"),
            ("forwarding", "1"),
            ("accept_dad", "0"),
            ("disable_ipv6", "0"),
        ] {
            assert_eq!(h.sysctl(&format!("net/ipv6/conf/{veth}/{k}")), v, "{k}");
        }
        assert_eq!(sysctl_in(&c, "net/ipv6/conf/all/forwarding"), "0");
        assert_eq!(sysctl_in(&c, "net/ipv6/conf/eth0/accept_dad"), "0");
        let r6 = c.ip_stdout(&["-6", "route"]);
        assert!(
            r6.contains("default via fe80::ecee:eeff:feee:eeee dev eth0"),
            "{r6}"
        );
        let a6 = c.ip_stdout(&["-6", "-o", "addr", "show", "eth0"]);
        assert!(a6.contains(&ips[1]) && !a6.contains("tentative"), "{a6}");
        let hr6 = h.ip(&["-d", "-6", "route"]);
        let v6 = ips[1].trim_end_matches("/128");
        assert!(
            hr6.contains(&format!("{v6} dev {veth} proto boot")),
            "{hr6}"
        );
        assert_eq!(
            h.weps()[0].spec.ip_networks,
            ips.iter().map(String::as_str).collect::<Vec<_>>()
        );
        h.run("DEL", CID, c.path(), &conf).assert_success();
        assert!(!h.ip(&["-6", "route"]).contains(v6));
    });
}

/// A failure after allocation gives the address back and leaves no endpoint: here the
/// container already has an `eth0`, which must survive.
#[test]
fn failure_after_ipam_releases_the_address() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        c.ip_stdout(&[
            "link", "add", "eth0", "type", "veth", "peer", "name", "other0",
        ]);
        let conf = h.conf("1.0.0", "net1", json!({}));
        let run = h.run("ADD", CID, c.path(), &conf);
        assert_eq!(run.code, 1, "{}", run.stdout);
        assert!(h.reservations("net1").is_empty(), "released");
        assert!(h.weps().is_empty());
        assert!(c.ip_stdout(&["-o", "link"]).contains("eth0@other0"));
        assert!(!h.ip(&["-o", "link"]).contains(&cni_veth(CID)));
    });
}

/// Host routes: a route for the IP through another interface is an error naming it, and
/// the allocation is released. The endpoint, created while the dataplane is set up, is taken
/// back too.
#[test]
fn conflicting_host_route_is_reported() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        h.ip(&[
            "link", "add", "blocker0", "type", "veth", "peer", "name", "blocker1",
        ]);
        h.ip(&["link", "set", "blocker0", "up"]);
        h.ip(&["link", "set", "blocker1", "up"]);
        // host-local hands out 10.22.0.2 first.
        h.ip(&[
            "route",
            "add",
            "10.22.0.2/32",
            "dev",
            "blocker0",
            "scope",
            "link",
        ]);
        let conf = h.conf("1.0.0", "net1", json!({}));
        let run = h.run("ADD", CID, c.path(), &conf);
        assert_eq!(run.code, 1);
        let msg = run.json()["msg"].as_str().unwrap().to_string();
        assert!(
            msg.contains("already exists for an interface other than"),
            "{msg}"
        );
        assert!(msg.contains("Iface: blocker0"), "{msg}");
        assert!(h.reservations("net1").is_empty());
        assert!(h.weps().is_empty(), "the endpoint was taken back");
        assert!(!c.ip_stdout(&["-o", "link"]).contains("eth0"));
    });
}

/// CHECK verifies for real.
#[test]
fn check_verifies_kernel_and_endpoint() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        let conf = h.conf("1.0.0", "net1", json!({}));
        let run = h.run("ADD", CID, c.path(), &conf);
        run.assert_success();
        let mut cconf = conf.clone();
        cconf["prevResult"] = run.json();
        h.run("CHECK", CID, c.path(), &cconf).assert_success();

        let addr = run.json()["ips"][0]["address"]
            .as_str()
            .unwrap()
            .to_string();
        h.ip(&["route", "del", &addr]);
        let bad = h.run("CHECK", CID, c.path(), &cconf);
        assert_eq!(bad.code, 1);
        assert!(
            bad.json()["msg"].as_str().unwrap().contains("host route"),
            "{}",
            bad.stdout
        );

        h.run("DEL", CID, c.path(), &conf).assert_success();
        let gone = h.run("CHECK", CID, c.path(), &cconf);
        assert_eq!(gone.code, 1);
        assert!(
            gone.json()["msg"].as_str().unwrap().contains("not found"),
            "{}",
            gone.stdout
        );
    });
}

/// CHECK without a usable prevResult fails before anything else: on a fresh local store it
/// leaves no ClusterInformation and no Node behind (the readiness check would create them).
/// The text is the reference plugins' (Calico's own CHECK prints `OK` without looking).
#[test]
fn check_without_a_prev_result_fails_before_touching_the_store() {
    let h = Host::new(Store::Local);
    let c = TempNetns::new();
    let conf = h.conf("1.0.0", "net1", json!({}));
    let r = h.run("CHECK", CID, c.path(), &conf);
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(
        r.json(),
        json!({ "code": 999, "msg": "Required prevResult missing" })
    );
    let mut bad = conf.clone();
    bad["prevResult"] = json!({ "cniVersion": "1.0.0", "ips": 5 });
    let r = h.run("CHECK", CID, c.path(), &bad);
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(r.json()["code"], 999, "{r}");
    let msg = r.json()["msg"].as_str().unwrap().to_string();
    assert!(msg.starts_with("failed to parse prevResult: "), "{msg}");

    let (ci, nodes) = h.ds(|ds| {
        (
            ds.cluster_information().unwrap(),
            ds.list_resources(&datastore::ResourceList::<datastore::resources::NodeSpec>::all())
                .unwrap(),
        )
    });
    assert!(ci.is_none(), "{ci:?}");
    assert!(nodes.is_empty(), "{nodes:?}");
}

/// GC removes this network's endpoints and addresses of attachments no longer valid.
#[test]
fn gc_removes_stale_endpoints_and_allocations() {
    each_store(|store| {
        let h = Host::new(store);
        let (c1, c2) = (TempNetns::new(), TempNetns::new());
        let conf = h.conf("1.1.0", "net1", json!({}));
        h.run("ADD", "keepme", c1.path(), &conf).assert_success();
        h.run("ADD", "dropme", c2.path(), &conf).assert_success();
        assert_eq!(h.weps().len(), 2);
        let mut gc = conf.clone();
        gc["cni.dev/valid-attachments"] = json!([{ "containerID": "keepme", "ifname": "eth0" }]);
        h.run("GC", "", std::path::Path::new(""), &gc)
            .assert_success();
        let weps = h.weps();
        assert_eq!(weps.len(), 1);
        assert_eq!(weps[0].spec.container_id, "keepme");
        assert_eq!(h.reservations("net1").len(), 1);
        h.run("STATUS", "", std::path::Path::new(""), &conf)
            .assert_success();
        h.run("DEL", "keepme", c1.path(), &conf).assert_success();
    });
}

/// GC's list, libcni's rule: no `cni.dev/valid-attachments` key → nothing is known to be
/// stale, everything stays; `null` (what Go libcni sends for an empty list) → no attachment is
/// live, every endpoint and allocation of this network goes; another network's stay.
#[test]
fn gc_with_null_attachments_releases_everything() {
    each_store(|store| {
        let h = Host::new(store);
        let (c1, c2, c3) = (TempNetns::new(), TempNetns::new(), TempNetns::new());
        let conf = h.conf("1.1.0", "net1", json!({}));
        let other = h.conf(
            "1.1.0",
            "net2",
            json!({ "ipam": { "type": "host-local", "subnet": "10.23.0.0/24",
                              "dataDir": h.ipam_dir() } }),
        );
        h.run("ADD", "first", c1.path(), &conf).assert_success();
        h.run("ADD", "second", c2.path(), &conf).assert_success();
        h.run("ADD", "third", c3.path(), &other).assert_success();
        assert_eq!(h.weps().len(), 3);
        let no_path = std::path::Path::new("");

        h.run("GC", "", no_path, &conf).assert_success();
        assert_eq!(h.weps().len(), 3, "{store:?}: absent list keeps everything");
        assert_eq!(h.reservations("net1").len(), 2);

        let mut gc = conf.clone();
        gc["cni.dev/valid-attachments"] = Value::Null;
        h.run("GC", "", no_path, &gc).assert_success();
        let weps = h.weps();
        assert_eq!(weps.len(), 1, "{store:?}: {weps:?}");
        assert_eq!(weps[0].spec.container_id, "third");
        assert!(h.reservations("net1").is_empty(), "{store:?}");
        assert_eq!(h.reservations("net2").len(), 1);

        h.run("DEL", "first", c1.path(), &conf).assert_success();
        h.run("DEL", "second", c2.path(), &conf).assert_success();
        h.run("DEL", "third", c3.path(), &other).assert_success();
        assert!(h.weps().is_empty());
    });
}

/// STATUS reports an unready datastore as code 50.
#[test]
fn status_reports_unready_datastore() {
    let h = Host::new(Store::Etcd);
    let conf = h.conf("1.1.0", "net1", json!({}));
    h.run("STATUS", "", std::path::Path::new(""), &conf)
        .assert_success();
    h.set_ready(Some(false));
    let run = h.run("STATUS", "", std::path::Path::new(""), &conf);
    assert_eq!(run.code, 1);
    assert_eq!(run.json()["code"], 50);
}

/// Logs go to `log_file_path`, never to stdout.
#[test]
fn logs_go_to_the_log_file() {
    let h = Host::new(Store::Local);
    let c = TempNetns::new();
    let log = h.dir.path().join("logs/cni.log");
    let conf = h.conf(
        "1.0.0",
        "net1",
        json!({ "log_level": "DEBUG", "log_file_path": log }),
    );
    let run = h.run("ADD", CID, c.path(), &conf);
    run.assert_success();
    let _: Value = serde_json::from_str(&run.stdout).expect("stdout is only the result");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("[DEBUG]"), "{text}");
    h.run("DEL", CID, c.path(), &conf).assert_success();
}

/// Case-insensitive keys, as Go decodes them.
#[test]
fn keys_match_case_insensitively() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        let mut conf = h.conf("1.0.0", "net1", json!({ "MTU": 1300 }));
        let node = conf.as_object_mut().unwrap().remove("nodename").unwrap();
        conf["NodeName"] = node;
        h.run("ADD", CID, c.path(), &conf).assert_success();
        assert!(c
            .ip_stdout(&["-o", "link", "show", "eth0"])
            .contains("mtu 1300"));
        assert_eq!(h.weps()[0].spec.node, NODE);
        h.run("DEL", CID, c.path(), &conf).assert_success();
    });
}

/// Scenario 12: `calico -t` answers 0 with a reachable, ready etcd, 1 with code 100 otherwise;
/// it reads at most 16 MiB of stdin, as the plugin does.
#[test]
fn test_connection_flag() {
    let h = Host::new(Store::Etcd);
    let conf = h.conf("1.0.0", "net1", json!({}));
    let run_bytes = |stdin: Vec<u8>| {
        h.netns
            .run(|| {
                let out = std::process::Command::new(calico())
                    .arg("-t")
                    .env("CNI_COMMAND", "VERSION")
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .and_then(|mut c| {
                        use std::io::Write;
                        // It may stop reading (and exit) before all of it is written.
                        let _ = c.stdin.take().unwrap().write_all(&stdin);
                        c.wait_with_output()
                    })
                    .unwrap();
                (
                    out.status.code(),
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                )
            })
            .unwrap()
    };
    let run = |conf: &Value| run_bytes(serde_json::to_vec(conf).unwrap());
    assert_eq!(run(&conf), (Some(0), String::new()));
    // Valid JSON, but 17 MiB of it.
    let mut huge = serde_json::to_vec(&conf).unwrap();
    huge.resize(17 << 20, b' ');
    let (code, out) = run_bytes(huge);
    assert_eq!(code, Some(1));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["code"], 100);
    assert_eq!(
        v["details"],
        "error reading from stdin: network configuration too large (over 16777216 bytes)"
    );
    let mut bad = conf.clone();
    bad["etcd_endpoints"] = json!("http://127.0.0.1:1");
    let (code, out) = run(&bad);
    assert_eq!(code, Some(1));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["code"], 100);
    assert_eq!(v["msg"], "data store connection failed");
}

/// `-v` prints the version; an unknown flag is Calico's code-100 error.
#[test]
fn version_and_bad_flags() {
    let out = std::process::Command::new(calico())
        .arg("-v")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with('v'));
    let out = std::process::Command::new(calico())
        .arg("-x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["code"], 100);
    assert_eq!(v["msg"], "failed to parse CLI flags");
}

/// Scenario 7: Mesos labels become sanitised endpoint labels; the namespace label places it.
#[test]
fn mesos_labels() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        let conf = h.conf(
        "0.3.1",
        "net1",
        json!({ "args": { "org.apache.mesos": { "network_info": { "name": "net1",
            "labels": { "labels": [ { "key": "k", "value": "v" },
                                    { "key": "DCOS_SPACE", "value": "/a/b/c" },
                                    { "key": "projectcalico.org/namespace", "value": "mesos-ns" } ] } } } } }),
    );
        h.run("ADD", CID, c.path(), &conf).assert_success();
        let wep = h
            .wep("mesos-ns", &format!("{NODE}-cni-{CID}-eth0"))
            .expect("endpoint in the Mesos namespace");
        assert_eq!(wep.metadata.labels["k"], "v");
        assert_eq!(wep.metadata.labels["DCOS_SPACE"], "a.b.c");
        assert_eq!(
            wep.metadata.labels["projectcalico.org/namespace"],
            "mesos-ns"
        );
        h.run("DEL", CID, c.path(), &conf).assert_success();
        assert!(h.weps().is_empty());
    });
}

/// 10.2.15: `readiness_gates` must be a list; a gate answering 200 lets ADD through (after
/// Calico's first 5 s poll interval).
#[test]
fn readiness_gates() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        let bad = h.conf(
            "1.0.0",
            "net1",
            json!({ "readiness_gates": "http://127.0.0.1:1/" }),
        );
        let run = h.run("ADD", CID, c.path(), &bad);
        assert_eq!(run.code, 1);
        assert!(run.json()["msg"]
            .as_str()
            .unwrap()
            .starts_with("failed to load netconf"));

        // A tiny HTTP server on the host netns's loopback, answering 200 to everything.
        let listener = h
            .netns
            .run(|| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            for mut s in listener.incoming().flatten() {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            }
        });
        let good = h.conf(
            "1.0.0",
            "net1",
            json!({ "readiness_gates": [format!("http://127.0.0.1:{port}/ready")] }),
        );
        h.run("ADD", CID, c.path(), &good).assert_success();
        h.run("DEL", CID, c.path(), &good).assert_success();
    });
}
