//! Many ADDs and DELs at once on one node: no duplicate IPs, nothing left over.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::json;
use testkit::TempNetns;

#[test]
fn concurrent_adds_and_dels_leave_nothing_behind() {
    const N: usize = 64;
    for store in STORES {
        let h = Host::new(store);
        let conf = h.conf("1.0.0", "net1", json!({}));
        let nss: Vec<TempNetns> = (0..N).map(|_| TempNetns::new()).collect();
        let results: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = nss
                .iter()
                .enumerate()
                .map(|(i, ns)| {
                    let (h, conf) = (&h, &conf);
                    s.spawn(move || {
                        let run = h.run("ADD", &format!("par{i}"), ns.path(), conf);
                        run.assert_success();
                        run.json()["ips"][0]["address"]
                            .as_str()
                            .unwrap()
                            .to_string()
                    })
                })
                .collect();
            handles.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let unique: HashSet<&String> = results.iter().collect();
        assert_eq!(unique.len(), N, "{store:?}: duplicate IPs {results:?}");
        assert_eq!(h.weps().len(), N);

        std::thread::scope(|s| {
            for (i, ns) in nss.iter().enumerate() {
                let (h, conf) = (&h, &conf);
                s.spawn(move || {
                    h.run("DEL", &format!("par{i}"), ns.path(), conf)
                        .assert_success();
                });
            }
        });
        assert!(h.weps().is_empty(), "{store:?}");
        assert!(h.reservations("net1").is_empty());
        let links = h.ip(&["-o", "link"]);
        assert!(!links.contains("calipar"), "{links}");
        assert!(!h.ip(&["route"]).contains("10.22.0."));
    }
}

/// The same with calico-ipam: no duplicate IPs and no handles left.
#[test]
fn concurrent_adds_and_dels_with_calico_ipam() {
    use datastore::resources::{IpPool, IpPoolSpec, Node, NodeSpec};
    const N: usize = 64;
    for store in STORES {
        let h = Host::new(store);
        std::os::unix::fs::symlink(
            testkit::workspace_bin("calico-ipam"),
            h.cni_path.join("calico-ipam"),
        )
        .unwrap();
        h.ds(|ds| {
            ds.create_resource(&IpPool::new("p", IpPoolSpec::with_cidr("10.40.0.0/16")))
                .unwrap();
            ds.create_resource(&Node::new(NODE, NodeSpec::default()))
                .unwrap();
        });
        let conf = h.conf(
            "1.0.0",
            "net1",
            json!({ "ipam": { "type": "calico-ipam" } }),
        );
        let nss: Vec<TempNetns> = (0..N).map(|_| TempNetns::new()).collect();
        let results: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = nss
                .iter()
                .enumerate()
                .map(|(i, ns)| {
                    let (h, conf) = (&h, &conf);
                    s.spawn(move || {
                        let run = h.run("ADD", &format!("cip{i}"), ns.path(), conf);
                        run.assert_success();
                        run.json()["ips"][0]["address"]
                            .as_str()
                            .unwrap()
                            .to_string()
                    })
                })
                .collect();
            handles.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let unique: HashSet<&String> = results.iter().collect();
        assert_eq!(unique.len(), N, "{store:?}: duplicate IPs {results:?}");
        assert_eq!(h.weps().len(), N);
        std::thread::scope(|s| {
            for (i, ns) in nss.iter().enumerate() {
                let (h, conf) = (&h, &conf);
                s.spawn(move || {
                    h.run("DEL", &format!("cip{i}"), ns.path(), conf)
                        .assert_success();
                });
            }
        });
        assert!(h.weps().is_empty(), "{store:?}");
        let handles = h.ds(|ds| ds.list(&datastore::HandleList).unwrap().len());
        assert_eq!(handles, 0, "{store:?}: handles left");
        assert!(!h.ip(&["-o", "link"]).contains("calicip"));
        assert!(!h.ip(&["route"]).contains("10.40."));
    }
}
