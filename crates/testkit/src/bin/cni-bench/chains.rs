//! The chains a user would pick between, run through our libcni runtime exactly as a container
//! runtime runs them (one ADD and one DEL of the whole conflist, with a port mapping): our
//! calico + calico-ipam + portmap on the local store, on etcd and on the Kubernetes datastore
//! (testkit's stand-in API server on loopback, the operator's settings: policy k8s, the CNI
//! service account), next to Debian's Go bridge + host-local + portmap. Medians of ADD and DEL
//! separately; for KDD also the API requests per ADD and DEL, next to Calico's.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use libcni::runtime::api::{CniConfig, RuntimeConf};
use libcni::runtime::conf::NetworkConfigList;
use serde_json::{json, Value};
use testkit::{EtcdServer, KubeApi, KubeApiOptions, TempNetns, CNI_TOKEN};

const NODE: &str = "bench-node";

struct Chain {
    label: String,
    cni: CniConfig,
    list: NetworkConfigList,
    /// `CNI_ARGS` (the pod, for a Kubernetes workload).
    args: Vec<(String, String)>,
    /// The Kubernetes datastore's API server, whose requests are counted.
    api: Option<KubeApi>,
}

/// Applies `manifest` with our calicoctl against the store `env` selects.
fn calicoctl(ours: &Path, env: &[(&str, String)], manifest: &Value, dir: &Path) {
    let file = dir.join("manifest.json");
    std::fs::write(&file, manifest.to_string()).expect("write manifest");
    let out = Command::new(ours.join("calicoctl"))
        .args(["apply", "-f"])
        .arg(&file)
        .env("NODENAME", NODE)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run calicoctl");
    assert!(
        out.status.success(),
        "calicoctl apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn calico_chain(ours: &Path, dir: &Path, etcd: Option<&EtcdServer>) -> Chain {
    let (store, env): (Value, Vec<(&str, String)>) = match etcd {
        Some(e) => (
            json!({"datastore_type": "etcdv3", "etcd_endpoints": e.endpoint()}),
            vec![
                ("DATASTORE_TYPE", "etcdv3".into()),
                ("ETCD_ENDPOINTS", e.endpoint()),
            ],
        ),
        None => {
            let path = dir.join("store").display().to_string();
            (
                json!({"datastore_type": "local", "datastore_path": path}),
                vec![("DATASTORE_PATH", path)],
            )
        }
    };
    let pool = json!({"apiVersion": "projectcalico.org/v3", "kind": "IPPool",
        "metadata": {"name": "bench-pool"},
        "spec": {"cidr": "10.97.0.0/16", "blockSize": 26, "ipipMode": "Never",
                 "vxlanMode": "Never", "natOutgoing": false, "nodeSelector": "all()"}});
    calicoctl(ours, &env, &pool, dir);
    if etcd.is_some() {
        // What calico-node does on a new cluster and node: mark the datastore ready and
        // register the Node (the local store does both on first use).
        let info = json!({"apiVersion": "projectcalico.org/v3", "kind": "ClusterInformation",
            "metadata": {"name": "default"}, "spec": {"datastoreReady": true}});
        calicoctl(ours, &env, &info, dir);
        let node = json!({"apiVersion": "projectcalico.org/v3", "kind": "Node",
            "metadata": {"name": NODE}, "spec": {}});
        calicoctl(ours, &env, &node, dir);
    }
    let mut calico = json!({"type": "calico", "nodename": NODE, "nodename_file_optional": true,
        "log_file_path": dir.join("calico.log"),
        "ipam": {"type": "calico-ipam", "assign_ipv4": "true", "assign_ipv6": "false"}});
    for (k, v) in store.as_object().expect("object") {
        calico[k] = v.clone();
    }
    let list = json!({"cniVersion": "1.0.0", "name": "bench-calico", "plugins": [calico,
        {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}]});
    Chain {
        label: format!(
            "ours: calico + calico-ipam + portmap, {}",
            if etcd.is_some() {
                "etcd"
            } else {
                "local store"
            }
        ),
        cni: CniConfig::with_cache_dir(vec![ours.to_path_buf()], dir.join("cache")),
        list: NetworkConfigList::from_bytes(list.to_string().as_bytes()).expect("conflist"),
        args: Vec::new(),
        api: None,
    }
}

/// The same chain on the Kubernetes datastore as the Tigera operator configures it, for a pod
/// (a cluster's node, ClusterInformation, pool and pod made on the stand-in first).
fn kdd_chain(ours: &Path, dir: &Path) -> Chain {
    let api = KubeApi::start(KubeApiOptions::default());
    for obj in [
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}}),
        json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "ClusterInformation",
               "metadata": {"name": "default"}, "spec": {"datastoreReady": true}}),
        json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
               "metadata": {"name": "bench-pool"},
               "spec": {"cidr": "10.98.0.0/16", "blockSize": 26, "nodeSelector": "all()"}}),
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "bench-pod", "namespace": "default"},
               "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "pause"}]}}),
    ] {
        api.create(obj);
    }
    let kubeconfig = api.write_kubeconfig(&dir.join("calico-kubeconfig"), CNI_TOKEN);
    let calico = json!({"type": "calico", "datastore_type": "kubernetes",
        "calico_api_group": "crd.projectcalico.org/v1", "nodename": NODE,
        "nodename_file_optional": true, "log_file_path": dir.join("calico.log"),
        "kubernetes": {"kubeconfig": kubeconfig}, "policy": {"type": "k8s"},
        "ipam": {"type": "calico-ipam", "assign_ipv4": "true", "assign_ipv6": "false",
                 "ipam_lock_file": dir.join("ipam.lock")}});
    let list = json!({"cniVersion": "1.0.0", "name": "bench-kdd", "plugins": [calico,
        {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}]});
    Chain {
        label: "ours: calico + calico-ipam + portmap, Kubernetes datastore".into(),
        cni: CniConfig::with_cache_dir(vec![ours.to_path_buf()], dir.join("cache")),
        list: NetworkConfigList::from_bytes(list.to_string().as_bytes()).expect("conflist"),
        args: vec![
            ("IgnoreUnknown".into(), "1".into()),
            ("K8S_POD_NAMESPACE".into(), "default".into()),
            ("K8S_POD_NAME".into(), "bench-pod".into()),
        ],
        api: Some(api),
    }
}

fn go_chain(go: &Path, dir: &Path) -> Chain {
    let list = json!({"cniVersion": "1.0.0", "name": "bench-go", "plugins": [
        {"type": "bridge", "bridge": "cni-bench0", "isGateway": true, "ipMasq": false,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.96.0.0/24"}]],
                  "dataDir": dir.join("ipam")}},
        {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}]});
    Chain {
        label: "Go: bridge + host-local + portmap".into(),
        cni: CniConfig::with_cache_dir(vec![go.to_path_buf()], dir.join("cache")),
        list: NetworkConfigList::from_bytes(list.to_string().as_bytes()).expect("conflist"),
        args: Vec::new(),
        api: None,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The markdown section for `iterations` ADD/DEL rounds of each chain, interleaved.
pub fn run(ours: &Path, go: &Path, iterations: usize) -> String {
    // Start from clean page cache: the benchmarks before this one (the host-local fill) leave
    // writeback behind that would otherwise slow the fsyncs of the local-store chain.
    // SAFETY: sync(2) has no preconditions.
    unsafe { libc::sync() };
    let dir = testkit::temp_dir();
    let etcd = EtcdServer::start();
    let dirs: Vec<PathBuf> = (0..4)
        .map(|i| {
            let d = dir.path().join(i.to_string());
            std::fs::create_dir_all(&d).expect("chain dir");
            d
        })
        .collect();
    let chains = [
        calico_chain(ours, &dirs[0], None),
        calico_chain(ours, &dirs[1], Some(&etcd)),
        kdd_chain(ours, &dirs[3]),
        go_chain(go, &dirs[2]),
    ];
    let ns = TempNetns::new();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "portMappings".into(),
        json!([{"hostPort": 18080, "containerPort": 80, "protocol": "tcp"}]),
    );
    let rt = RuntimeConf {
        container_id: "bench-chain".into(),
        netns: ns.path().display().to_string(),
        ifname: "eth0".into(),
        capability_args: caps,
        ..Default::default()
    };
    let mut times: Vec<(Vec<f64>, Vec<f64>)> = vec![(vec![], vec![]); chains.len()];
    // API requests per ADD and per DEL of the KDD chain (after the warm-up, which claims the
    // block and creates the IPAM config).
    let mut requests: (Vec<f64>, Vec<f64>) = (vec![], vec![]);
    let count = |chain: &Chain| -> f64 {
        chain.api.as_ref().map_or(0.0, |api| {
            let n = api.requests().len() as f64;
            api.clear_requests();
            n
        })
    };
    // One warm-up round per chain, then the measured ones.
    for round in 0..=iterations {
        for (chain, (adds, dels)) in chains.iter().zip(times.iter_mut()) {
            let rt = RuntimeConf {
                args: chain.args.clone(),
                ..rt.clone()
            };
            count(chain);
            let t = Instant::now();
            chain
                .cni
                .add_network_list(&chain.list, &rt)
                .unwrap_or_else(|e| panic!("{}: ADD failed: {e}", chain.label));
            let add = t.elapsed().as_secs_f64() * 1000.0;
            let add_requests = count(chain);
            let t = Instant::now();
            chain
                .cni
                .del_network_list(&chain.list, &rt)
                .unwrap_or_else(|e| panic!("{}: DEL failed: {e}", chain.label));
            let del = t.elapsed().as_secs_f64() * 1000.0;
            let del_requests = count(chain);
            if round > 0 {
                adds.push(add);
                dels.push(del);
                if chain.api.is_some() {
                    requests.0.push(add_requests);
                    requests.1.push(del_requests);
                }
            }
        }
    }
    let mut out = format!(
        "\n### Chains through our libcni runtime: {iterations} ADD/DEL rounds each, one port mapping, medians\n\n| chain | ADD (ms) | DEL (ms) |\n|---|---:|---:|\n"
    );
    let medians: Vec<(f64, f64)> = times
        .into_iter()
        .map(|(adds, dels)| (median(adds), median(dels)))
        .collect();
    for (chain, (add, del)) in chains.iter().zip(&medians) {
        out.push_str(&format!("| {} | {add:.2} | {del:.2} |\n", chain.label));
    }
    let local_add = medians[0].0;
    let kdd_add = chains
        .iter()
        .zip(&medians)
        .find(|(c, _)| c.api.is_some())
        .map_or(0.0, |(_, m)| m.0);
    out.push_str(&format!(
        "\nKDD against the local store: chain ADD {:.2}× (the goal: within 1.5×).\n\n\
         API requests of the KDD chain (stand-in API on loopback, the calico-cni-plugin \
         account), medians, next to what Calico v3.32's calico + calico-ipam make for the same \
         ADD into an existing block and DEL (kdd-research-notes.md §3; +4 each without \
         `calico_api_group`):\n\n| | ours | Calico (Go) |\n|---|---:|---:|\n| ADD | {} | 17 |\n| DEL | {} | 14 |\n",
        kdd_add / local_add,
        median(requests.0),
        median(requests.1),
    ));
    out
}
