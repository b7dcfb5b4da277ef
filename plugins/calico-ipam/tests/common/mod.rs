//! One fixture per backend (a local store in a temp dir, a real etcd) and helpers to run the
//! calico-ipam binary as a runtime would.

#![allow(dead_code)]

use std::collections::BTreeMap;

use datastore::resources::{IpPool, IpPoolSpec, Node, NodeSpec};
use datastore::{BlockList, Datastore, HandleList};
use serde_json::{json, Value};
use testkit::{EtcdServer, Invocation, PluginRun};

pub const BIN: &str = env!("CARGO_BIN_EXE_calico-ipam");
pub const NET: &str = "net1";

pub struct Backend {
    pub keys: Value,
    pub dir: tempfile::TempDir,
    pub etcd: Option<EtcdServer>,
}

impl Backend {
    pub fn local() -> Backend {
        let dir = testkit::temp_dir();
        let keys = json!({"datastore_type": "local",
                          "datastore_path": dir.path().join("store").display().to_string()});
        Backend::finish(keys, dir, None)
    }

    pub fn etcd() -> Backend {
        let server = EtcdServer::start();
        let keys = json!({"etcd_endpoints": server.endpoint()});
        Backend::finish(keys, testkit::temp_dir(), Some(server))
    }

    fn finish(keys: Value, dir: tempfile::TempDir, etcd: Option<EtcdServer>) -> Backend {
        let b = Backend { keys, dir, etcd };
        b.node("node1", &[]);
        b
    }

    pub fn ds(&self) -> Datastore {
        Datastore::from_netconf(&self.keys).expect("open datastore")
    }

    /// A Calico Node with labels (calico-node would create it).
    pub fn node(&self, name: &str, labels: &[(&str, &str)]) {
        let mut n = Node::new(name, NodeSpec::default());
        n.metadata.labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.ds().apply_resource(&n).unwrap();
    }

    pub fn pool(&self, name: &str, cidr: &str, f: impl FnOnce(&mut IpPoolSpec)) {
        let mut spec = IpPoolSpec::with_cidr(cidr);
        f(&mut spec);
        self.ds().apply_resource(&IpPool::new(name, spec)).unwrap();
    }

    pub fn delete_pool(&self, name: &str) {
        self.ds()
            .delete_resource(&datastore::ResourceKey::<IpPoolSpec>::global(name), None)
            .unwrap();
    }

    /// A calico-ipam NetConf for `node`, with extra `ipam` keys.
    pub fn conf(&self, version: &str, node: &str, ipam: Value) -> Value {
        let mut ipam = ipam;
        ipam["type"] = json!("calico-ipam");
        let mut c = json!({"cniVersion": version, "name": NET, "type": "calico",
                           "nodename": node,
                           "ipam_lock_file": self.dir.path().join(format!("{node}.lock")).display().to_string(),
                           "ipam": ipam});
        for (k, v) in self.keys.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    }

    pub fn run(&self, cmd: &str, cid: &str, args: &str, conf: &Value) -> PluginRun {
        Invocation::new(BIN)
            .command(cmd)
            .container_id(cid)
            .netns("/var/run/netns/none")
            .ifname("eth0")
            .args(args)
            .path("/opt/cni/bin")
            .stdin(serde_json::to_vec(conf).unwrap())
            .run()
    }

    pub fn add(&self, cid: &str, conf: &Value) -> Value {
        let r = self.run("ADD", cid, "", conf);
        assert!(r.success(), "ADD {cid}: {} {}", r.stdout, r.stderr);
        r.json()
    }

    pub fn del(&self, cid: &str, conf: &Value) {
        let r = self.run("DEL", cid, "", conf);
        assert!(r.success(), "DEL {cid}: {} {}", r.stdout, r.stderr);
    }

    /// Every allocated address: ip → handle.
    pub fn allocations(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (k, b) in self.ds().list(&BlockList::default()).unwrap() {
            for o in 0..b.value.allocations.len() {
                if let Some(a) = b.value.attributes_at(o) {
                    let ip = b.value.ip_at(o).unwrap().to_string();
                    let prev = out.insert(ip.clone(), a.handle_id.clone().unwrap_or_default());
                    assert!(prev.is_none(), "{ip} twice in {}", k.cidr);
                }
            }
        }
        out
    }

    pub fn handles(&self) -> Vec<String> {
        self.ds()
            .list(&HandleList)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k.id)
            .collect()
    }
}

/// Runs `$body(backend)` once per backend.
#[macro_export]
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn local() {
                ($body)(common::Backend::local());
            }
            #[test]
            fn etcd() {
                ($body)(common::Backend::etcd());
            }
        }
    };
}
