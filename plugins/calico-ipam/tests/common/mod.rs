//! One fixture per backend (a local store in a temp dir, a real etcd, the Kubernetes datastore
//! on testkit's stand-in API server — no kube-apiserver can be installed here) and helpers to
//! run the calico-ipam binary as a runtime would.

#![allow(dead_code)]

use std::collections::BTreeMap;

use datastore::resources::{IpPool, IpPoolSpec, Node, NodeSpec};
use datastore::{BlockList, Datastore, HandleList};
use serde_json::{json, Value};
use testkit::{EtcdServer, Invocation, PluginRun};
use testkit::{KubeApi, KubeApiOptions, ADMIN_TOKEN, CNI_TOKEN};

pub const BIN: &str = env!("CARGO_BIN_EXE_calico-ipam");
pub const NET: &str = "net1";

pub struct Backend {
    /// The NetConf keys the plugin is given.
    pub keys: Value,
    pub dir: tempfile::TempDir,
    pub etcd: Option<EtcdServer>,
    /// KDD: the stand-in API server, and the keys of the test's own (admin) client.
    pub kube: Option<KubeApi>,
    admin_keys: Option<Value>,
    /// A stand-in API server for local and etcd backends, started on first use.
    extra_api: std::sync::OnceLock<KubeApi>,
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

    /// The Kubernetes datastore, as the operator deploys it: the plugin gets a kubeconfig with
    /// the calico-cni-plugin service account's token (so its RBAC applies) and the v1 group.
    pub fn kdd() -> Backend {
        Backend::kdd_with(testkit::ApiGroups::V1, "crd.projectcalico.org/v1")
    }

    /// KDD with the API serving `groups` and the NetConf's `calico_api_group` (empty: the
    /// plugin discovers it).
    pub fn kdd_with(groups: testkit::ApiGroups, api_group: &str) -> Backend {
        Backend::kdd_opts(
            KubeApiOptions {
                groups,
                ..KubeApiOptions::default()
            },
            api_group,
        )
    }

    /// KDD in a cluster with KubeVirt installed (its VM kinds served).
    pub fn kdd_kubevirt() -> Backend {
        Backend::kdd_opts(
            KubeApiOptions {
                kubevirt: true,
                ..KubeApiOptions::default()
            },
            "crd.projectcalico.org/v1",
        )
    }

    fn kdd_opts(opts: KubeApiOptions, api_group: &str) -> Backend {
        let dir = testkit::temp_dir();
        let api = KubeApi::start(opts);
        let kdd_keys = |token: &str, file: &str| {
            let kc = api.write_kubeconfig(&dir.path().join(file), token);
            let mut keys = json!({"datastore_type": "kubernetes",
                   "kubernetes": {"kubeconfig": kc.display().to_string()}});
            if !api_group.is_empty() {
                keys["calico_api_group"] = json!(api_group);
            }
            keys
        };
        let keys = kdd_keys(CNI_TOKEN, "calico-kubeconfig");
        let admin = kdd_keys(ADMIN_TOKEN, "admin-kubeconfig");
        let b = Backend {
            keys,
            dir,
            etcd: None,
            kube: Some(api),
            admin_keys: Some(admin),
            extra_api: Default::default(),
        };
        b.node("node1", &[]);
        b
    }

    fn finish(keys: Value, dir: tempfile::TempDir, etcd: Option<EtcdServer>) -> Backend {
        let b = Backend {
            keys,
            dir,
            etcd,
            kube: None,
            admin_keys: None,
            extra_api: Default::default(),
        };
        b.node("node1", &[]);
        b
    }

    pub fn is_kdd(&self) -> bool {
        self.kube.is_some()
    }

    /// The Kubernetes API: the datastore's on KDD, else one started for this backend (for a
    /// namespace's labels, a KubeVirt launcher pod's VM).
    pub fn api(&self) -> &KubeApi {
        self.kube
            .as_ref()
            .or_else(|| self.extra_api.get())
            .unwrap_or_else(|| {
                self.extra_api.get_or_init(|| {
                    KubeApi::start(KubeApiOptions {
                        kubevirt: true,
                        ..KubeApiOptions::default()
                    })
                })
            })
    }

    /// A kubeconfig for the plugin (the calico-cni-plugin service account) to [`Backend::api`].
    pub fn kubeconfig(&self) -> String {
        self.api()
            .write_kubeconfig(&self.dir.path().join("plugin-kubeconfig"), CNI_TOKEN)
            .display()
            .to_string()
    }

    /// A Namespace with labels.
    pub fn namespace(&self, name: &str, labels: Value) {
        self.api()
            .create(json!({"apiVersion": "v1", "kind": "Namespace",
                                 "metadata": {"name": name, "labels": labels}}));
    }

    /// The test's own client: on KDD an administrator's (the plugin's RBAC would not let a
    /// test create pools or nodes).
    pub fn ds(&self) -> Datastore {
        Datastore::from_netconf(self.admin_keys.as_ref().unwrap_or(&self.keys))
            .expect("open datastore")
    }

    /// A Calico Node with labels (calico-node would create it; on KDD, kubelet registers the
    /// Kubernetes Node it is read from).
    pub fn node(&self, name: &str, labels: &[(&str, &str)]) {
        if let Some(api) = &self.kube {
            let labels: serde_json::Map<String, Value> = labels
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            let node = json!({"apiVersion": "v1", "kind": "Node",
                              "metadata": {"name": name, "labels": labels}});
            match api.get("v1", "nodes", None, name) {
                Some(mut cur) => {
                    cur["metadata"]["labels"] = node["metadata"]["labels"].clone();
                    api.update(cur);
                }
                None => {
                    api.create(node);
                }
            }
            return;
        }
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
            #[test]
            fn kdd() {
                ($body)(common::Backend::kdd());
            }
        }
    };
}
