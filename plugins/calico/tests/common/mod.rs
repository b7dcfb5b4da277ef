//! Test harness: a throwaway "host" netns the plugin runs in (calico changes the host side:
//! veths, routes, sysctls), a datastore (our local store in a temp dir, a real etcd, or the
//! Kubernetes datastore on testkit's stand-in API server — no kube-apiserver can be installed
//! here — each started inside that host netns), host-local as the IPAM in CNI_PATH, and
//! throwaway container netns.
#![allow(dead_code)]

pub mod grpc;

use std::path::{Path, PathBuf};

use datastore::resources::{
    ClusterInformation, ClusterInformationSpec, IpPool, IpPoolSpec, Node, NodeSpec, Profile,
    ProfileSpec, WorkloadEndpoint, WorkloadEndpointSpec, CLUSTER_INFORMATION_NAME,
};
use datastore::{BlockList, Datastore, ResourceKey, ResourceList};
use netkit::NetNs;
use serde_json::{json, Value};
use testkit::{
    EtcdServer, Invocation, KubeApi, KubeApiOptions, PluginRun, TempNetns, ADMIN_TOKEN, CNI_TOKEN,
};

pub const NODE: &str = "node1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Local,
    Etcd,
    /// The Kubernetes datastore: endpoints are pods, so only `k8s`-orchestrated workloads
    /// (with `policy.type: k8s`) work there, as in Calico.
    Kdd,
}

/// The stores of the `cni` orchestrator and of `k8s` without the API (Calico's etcd-only
/// tests).
pub const STORES: [Store; 2] = [Store::Local, Store::Etcd];
/// The stores of `k8s` workloads with `policy.type: k8s` (Calico's etcd + KDD tests).
pub const K8S_STORES: [Store; 3] = [Store::Local, Store::Etcd, Store::Kdd];

/// Runs a scenario on each of `stores`, saying which in the output.
pub fn each_of(stores: &[Store], f: impl Fn(Store)) {
    for &s in stores {
        eprintln!("--- store {s:?}");
        f(s);
    }
}

/// Runs a scenario on each store of [`STORES`].
pub fn each_store(f: impl Fn(Store)) {
    each_of(&STORES, f)
}

pub struct Host {
    pub ns: TempNetns,
    pub netns: NetNs,
    pub dir: tempfile::TempDir,
    pub cni_path: PathBuf,
    pub store: Store,
    etcd: Option<EtcdInNetns>,
    /// The Kubernetes API: the datastore on KDD; on the other stores started on first use (for
    /// `policy.type: k8s` tests), in the host netns either way.
    api: std::sync::OnceLock<KubeApi>,
}

/// etcd started by a thread that stays in the host netns: etcd dies with the thread that
/// spawned it (PR_SET_PDEATHSIG), and NetNs::run's thread ends with the call.
struct EtcdInNetns {
    endpoint: String,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EtcdInNetns {
    fn start(ns_path: PathBuf) -> Self {
        let (tx_ep, rx_ep) = std::sync::mpsc::channel();
        let (tx_stop, rx_stop) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let ns = NetNs::open(&ns_path).unwrap();
            ns.run(move || {
                let etcd = EtcdServer::start();
                tx_ep.send(etcd.endpoint()).unwrap();
                let _ = rx_stop.recv();
                drop(etcd);
            })
            .unwrap();
        });
        let endpoint = rx_ep.recv().expect("etcd started");
        EtcdInNetns {
            endpoint,
            stop: Some(tx_stop),
            thread: Some(thread),
        }
    }
}

impl Drop for EtcdInNetns {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn calico() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_calico"))
}

impl Host {
    pub fn new(store: Store) -> Self {
        testkit::require_root();
        let ns = TempNetns::new();
        ns.ip_stdout(&["link", "set", "lo", "up"]);
        let netns = NetNs::open(ns.path()).unwrap();
        netns
            .run(|| {
                netkit::sysctl_set("net/ipv4/ip_forward", "1").unwrap();
                netkit::sysctl_set("net/ipv6/conf/all/forwarding", "1").unwrap();
            })
            .unwrap();
        let dir = testkit::temp_dir();
        let cni_path = dir.path().join("bin");
        std::fs::create_dir_all(&cni_path).unwrap();
        std::os::unix::fs::symlink(
            testkit::workspace_bin("host-local"),
            cni_path.join("host-local"),
        )
        .unwrap();
        // etcd listens on the host netns's loopback, where the plugin runs.
        let etcd = (store == Store::Etcd).then(|| EtcdInNetns::start(ns.path().to_path_buf()));
        let h = Host {
            ns,
            netns,
            dir,
            cni_path,
            store,
            etcd,
            api: std::sync::OnceLock::new(),
        };
        if store == Store::Kdd {
            // What kubelet and a cluster have before any pod: this Node, the namespaces.
            let api = h.api();
            api.create(json!({ "apiVersion": "v1", "kind": "Node",
                               "metadata": { "name": NODE } }));
            for ns in ["default", "test"] {
                h.namespace(ns, json!({}));
            }
        }
        if store != Store::Local {
            // What calico-node does on a new cluster (the upstream tests do it before each test).
            h.set_ready(Some(true));
        }
        h
    }

    /// The Kubernetes API (see the field).
    pub fn api(&self) -> &KubeApi {
        self.api.get_or_init(|| {
            self.netns
                .run(|| {
                    // A cluster with KubeVirt: calico-ipam reads launcher pods' VMs.
                    KubeApi::start(KubeApiOptions {
                        kubevirt: true,
                        ..KubeApiOptions::default()
                    })
                })
                .unwrap()
        })
    }

    /// A kubeconfig for the plugin: the calico-cni-plugin service account's token, so the
    /// plugins run with Calico's RBAC.
    pub fn kubeconfig(&self) -> PathBuf {
        self.api()
            .write_kubeconfig(&self.dir.path().join("calico-kubeconfig"), CNI_TOKEN)
    }

    fn admin_kubeconfig(&self) -> PathBuf {
        self.api()
            .write_kubeconfig(&self.dir.path().join("admin-kubeconfig"), ADMIN_TOKEN)
    }

    /// A Namespace with annotations (labels: none).
    pub fn namespace(&self, name: &str, annotations: Value) {
        let api = self.api();
        let ns = json!({ "apiVersion": "v1", "kind": "Namespace",
                         "metadata": { "name": name, "annotations": annotations } });
        match api.get("v1", "namespaces", None, name) {
            Some(mut cur) => {
                cur["metadata"]["annotations"] = annotations;
                api.update(cur);
            }
            None => {
                api.create(ns);
            }
        }
    }

    /// A pod in `ns` on this node, with service account `default` and label `app: test`
    /// unless `spec` says otherwise (its top-level keys override the defaults).
    pub fn pod(&self, ns: &str, name: &str, annotations: Value, spec: Value) -> Value {
        let mut s = json!({ "nodeName": NODE, "serviceAccountName": "default",
                            "containers": [{ "name": "c", "image": "pause" }] });
        merge(&mut s, &spec);
        self.api().create(json!({ "apiVersion": "v1", "kind": "Pod",
            "metadata": { "name": name, "namespace": ns, "annotations": annotations,
                          "labels": { "app": "test" } },
            "spec": s }))
    }

    /// The NetConf keys that select this host's datastore.
    pub fn store_keys(&self) -> Value {
        match (&self.etcd, self.store) {
            (Some(e), _) => json!({ "datastore_type": "etcdv3", "etcd_endpoints": e.endpoint }),
            (None, Store::Kdd) => json!({ "datastore_type": "kubernetes",
                                          "calico_api_group": "crd.projectcalico.org/v1",
                                          "kubernetes": { "kubeconfig": self.kubeconfig() } }),
            (None, _) => json!({ "datastore_type": "local",
                                 "datastore_path": self.dir.path().join("store") }),
        }
    }

    /// The keys of the test's own datastore client: on KDD an administrator's (the plugin's
    /// RBAC would not let a test create pools or read every pod).
    fn admin_keys(&self) -> Value {
        let mut keys = self.store_keys();
        if self.store == Store::Kdd {
            keys["kubernetes"] = json!({ "kubeconfig": self.admin_kubeconfig() });
        }
        keys
    }

    pub fn ipam_dir(&self) -> PathBuf {
        self.dir.path().join("ipam")
    }

    /// A calico NetConf: node `node1`, host-local on `10.22.0.0/24` (dataDir in the temp
    /// dir), this host's datastore, then `extra` merged over the top level.
    pub fn conf(&self, version: &str, name: &str, extra: Value) -> Value {
        let mut c = json!({
            "cniVersion": version,
            "name": name,
            "type": "calico",
            "nodename": NODE,
            "nodename_file_optional": true,
            "ipam": { "type": "host-local", "subnet": "10.22.0.0/24",
                      "dataDir": self.ipam_dir() },
        });
        merge(&mut c, &self.store_keys());
        merge(&mut c, &extra);
        c
    }

    pub fn invocation(&self, cmd: &str, cid: &str, netns: &Path, conf: &Value) -> Invocation {
        self.invocation_of(&calico(), cmd, cid, netns, conf)
    }

    /// As [`Host::invocation`], running `bin` (e.g. a launcher wrapping the plugin).
    pub fn invocation_of(
        &self,
        bin: &Path,
        cmd: &str,
        cid: &str,
        netns: &Path,
        conf: &Value,
    ) -> Invocation {
        Invocation::new(bin)
            .command(cmd)
            .container_id(cid)
            .netns(netns)
            .ifname("eth0")
            .path(&self.cni_path)
            .stdin(serde_json::to_vec(conf).unwrap())
    }

    /// Runs the plugin inside the host netns, as a runtime on that node would.
    pub fn exec(&self, inv: Invocation) -> PluginRun {
        self.netns.run(|| inv.run()).unwrap()
    }

    pub fn run(&self, cmd: &str, cid: &str, netns: &Path, conf: &Value) -> PluginRun {
        self.exec(self.invocation(cmd, cid, netns, conf))
    }

    /// Runs `f` with a client of this host's datastore (inside the host netns, where etcd is).
    pub fn ds<R: Send>(&self, f: impl FnOnce(&Datastore) -> R + Send) -> R {
        let keys = self.admin_keys();
        self.netns
            .run(move || f(&Datastore::from_netconf(&keys).unwrap()))
            .unwrap()
    }

    pub fn weps(&self) -> Vec<WorkloadEndpoint> {
        self.ds(|ds| {
            ds.list_resources(&ResourceList::<WorkloadEndpointSpec>::all())
                .unwrap()
        })
    }

    /// The endpoints that hold addresses: on etcd and the local store every endpoint (DEL
    /// deletes it), on KDD the pods whose annotations carry addresses (DEL clears them).
    pub fn live_weps(&self) -> Vec<WorkloadEndpoint> {
        self.weps()
            .into_iter()
            .filter(|w| !w.spec.ip_networks.is_empty())
            .collect()
    }

    /// This node's pod CIDRs (`spec.podCIDR(s)` of the Kubernetes Node; empty: none).
    pub fn node_pod_cidrs(&self, cidrs: &[&str]) {
        let api = self.api();
        let mut node = api.get("v1", "nodes", None, NODE).unwrap_or_else(|| {
            api.create(json!({ "apiVersion": "v1", "kind": "Node", "metadata": { "name": NODE } }))
        });
        node["spec"] = match cidrs.first() {
            Some(first) => json!({ "podCIDR": first, "podCIDRs": cidrs }),
            None => json!({}),
        };
        api.update(node);
    }

    pub fn wep(&self, namespace: &str, name: &str) -> Option<WorkloadEndpoint> {
        let key = ResourceKey::<WorkloadEndpointSpec>::namespaced(namespace, name);
        self.ds(move |ds| ds.get_resource(&key).unwrap())
    }

    pub fn profile(&self, name: &str) -> Option<Profile> {
        let key = ResourceKey::<ProfileSpec>::global(name);
        self.ds(move |ds| ds.get_resource(&key).unwrap())
    }

    /// Sets ClusterInformation's `datastoreReady` (None: delete the object).
    pub fn set_ready(&self, ready: Option<bool>) {
        self.ds(|ds| {
            let key = ResourceKey::<ClusterInformationSpec>::global(CLUSTER_INFORMATION_NAME);
            match ready {
                None => {
                    ds.delete_resource(&key, None).unwrap();
                }
                Some(r) => {
                    let ci = ClusterInformation::new(
                        CLUSTER_INFORMATION_NAME,
                        ClusterInformationSpec {
                            datastore_ready: Some(r),
                            ..Default::default()
                        },
                    );
                    ds.apply_resource(&ci).unwrap();
                }
            }
        })
    }

    /// A sysctl in the host netns.
    pub fn sysctl(&self, key: &str) -> String {
        let k = key.to_string();
        self.netns
            .run(move || netkit::sysctl_get(&k).unwrap())
            .unwrap()
    }

    /// `ip <args>` in the host netns.
    pub fn ip(&self, args: &[&str]) -> String {
        self.ns.ip_stdout(args)
    }

    /// host-local's reservation files for network `net`.
    pub fn reservations(&self, net: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.ipam_dir().join(net))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.contains('.') || n.contains(':'))
                    .filter(|n| !n.starts_with("last_reserved_ip"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

pub fn merge(base: &mut Value, extra: &Value) {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
}

/// A sysctl inside a container netns.
pub fn sysctl_in(ns: &TempNetns, key: &str) -> String {
    let n = NetNs::open(ns.path()).unwrap();
    let k = key.to_string();
    n.run(move || netkit::sysctl_get(&k).unwrap()).unwrap()
}

/// Runs a command in a netns; returns (success, stdout+stderr).
pub fn sh(ns: &TempNetns, args: &[&str]) -> (bool, String) {
    let out = ns.exec(args);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The host veth name for a cni-orchestrated container.
pub fn cni_veth(cid: &str) -> String {
    format!("cali{}", &cid[..cid.len().min(11)])
}

impl Host {
    /// A fake `calico-ipam` in CNI_PATH: records its stdin and CNI_ARGS per command under
    /// `<dir>/ipam-log/`, then hands the request to host-local (which honours `IP=`), so the
    /// annotations that only apply with calico-ipam can be observed.
    pub fn install_fake_calico_ipam(&self) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let log = self.dir.path().join("ipam-log");
        std::fs::create_dir_all(&log).unwrap();
        let script = self.cni_path.join("calico-ipam");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\ninput=$(cat)\nprintf '%s' \"$input\" > {log}/stdin-$CNI_COMMAND\nprintf '%s\\n' \"$CNI_ARGS\" >> {log}/args-$CNI_COMMAND\nprintf '%s' \"$input\" | exec {hl}\n",
                log = log.display(),
                hl = self.cni_path.join("host-local").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        log
    }
}

impl Host {
    /// Our calico-ipam in CNI_PATH, with these IP pools and this host's Node in the datastore
    /// (calico-ipam reads the Node's labels for pool selection).
    pub fn install_calico_ipam(&self, pools: &[&str]) {
        std::os::unix::fs::symlink(
            testkit::workspace_bin("calico-ipam"),
            self.cni_path.join("calico-ipam"),
        )
        .unwrap();
        let pools: Vec<String> = pools.iter().map(|p| p.to_string()).collect();
        self.ds(move |ds| {
            for (i, cidr) in pools.iter().enumerate() {
                ds.create_resource(&IpPool::new(
                    format!("pool{i}"),
                    IpPoolSpec::with_cidr(cidr),
                ))
                .unwrap();
            }
            // On KDD the Kubernetes Node (registered by kubelet) is the Calico Node.
            if !ds.derives_endpoints() {
                ds.create_resource(&Node::new(NODE, NodeSpec::default()))
                    .unwrap();
            }
        });
    }

    /// The addresses calico-ipam holds for `handle`, read from the blocks' allocations (what
    /// libcalico's `IPsByHandle` answers), in block order.
    pub fn ips_by_handle(&self, handle: &str) -> Vec<std::net::IpAddr> {
        let handle = handle.to_string();
        self.ds(move |ds| {
            let mut ips = Vec::new();
            for (_, b) in ds.list(&BlockList::default()).unwrap() {
                let b = b.value;
                for (ordinal, a) in b.allocations.iter().enumerate() {
                    let owned = a
                        .and_then(|i| b.attributes.get(i))
                        .is_some_and(|at| at.handle_id.as_deref() == Some(handle.as_str()));
                    if owned {
                        ips.push(b.ip_at(ordinal).unwrap());
                    }
                }
            }
            ips
        })
    }
}
