//! calico + our calico-ipam (scenario 10 of Calico's calico_cni_test.go), on the local store and
//! on etcd: one IP from the pool with its block route, the handle holds exactly that IP, a
//! repeated ADD is idempotent, a second network adds its profile, DEL releases the handle.

mod common;

use common::*;
use datastore::resources::{IpPool, IpPoolSpec, Node, NodeSpec};
use datastore::HandleKey;
use serde_json::json;
use testkit::TempNetns;

const CID: &str = "ipamtest01";

#[test]
fn calico_with_calico_ipam() {
    each_store(|store| {
        let h = Host::new(store);
        std::os::unix::fs::symlink(
            testkit::workspace_bin("calico-ipam"),
            h.cni_path.join("calico-ipam"),
        )
        .unwrap();
        h.ds(|ds| {
            ds.create_resource(&IpPool::new(
                "pool1",
                IpPoolSpec::with_cidr("192.168.0.0/16"),
            ))
            .unwrap();
            // What calico-node registers; calico-ipam reads its labels for pool selection.
            ds.create_resource(&Node::new(NODE, NodeSpec::default()))
                .unwrap();
        });
        let c = TempNetns::new();
        let conf = h.conf(
            "1.0.0",
            "net1",
            json!({ "ipam": { "type": "calico-ipam" } }),
        );
        let first = h.run("ADD", CID, c.path(), &conf);
        first.assert_success();
        let res = first.json();
        let ips = res["ips"].as_array().unwrap();
        assert_eq!(ips.len(), 1, "{res}");
        let addr = ips[0]["address"].as_str().unwrap().to_string();
        assert!(
            addr.starts_with("192.168.") && addr.ends_with("/32"),
            "{addr}"
        );
        let ip = addr.trim_end_matches("/32").to_string();
        // calico-ipam's route: the block (v3.32+).
        assert_eq!(res["routes"].as_array().map(Vec::len), Some(1), "{res}");

        let handle = h.ds(|ds| ds.get(&HandleKey::new(format!("net1.{CID}"))).unwrap());
        let handle = handle.expect("handle net1.<id>").value;
        assert_eq!(handle.block.values().sum::<i64>(), 1);

        let wep = &h.weps()[0];
        assert_eq!(wep.spec.ip_networks, vec![addr.clone()]);
        assert!(h
            .ip(&["route"])
            .contains(&format!("{ip} dev {} scope link", cni_veth(CID))));
        let (ok, out) = sh(&c, &["ip", "addr", "show", "eth0"]);
        assert!(ok && out.contains(&addr), "{out}");

        // Idempotent repeat: same IP (routes aside), one endpoint, reservation intact.
        let again = h.run("ADD", CID, c.path(), &conf);
        again.assert_success();
        assert_eq!(again.json()["ips"][0]["address"], addr.as_str());
        assert_eq!(h.weps().len(), 1);
        let conf2 = h.conf(
            "1.0.0",
            "net2",
            json!({ "ipam": { "type": "calico-ipam" } }),
        );
        h.run("ADD", CID, c.path(), &conf2).assert_success();
        assert_eq!(h.weps()[0].spec.profiles, vec!["net1", "net2"]);

        h.run("DEL", CID, c.path(), &conf).assert_success();
        assert!(h.weps().is_empty());
        let gone = h.ds(|ds| ds.get(&HandleKey::new(format!("net1.{CID}"))).unwrap());
        assert!(gone.is_none(), "handle released");
        assert!(!h.ip(&["route"]).contains(&ip));
    });
}
