//! The chains a user would pick between, run through our libcni runtime exactly as a container
//! runtime runs them (one ADD and one DEL of the whole conflist, with a port mapping): our
//! calico + calico-ipam + portmap on the local store and on etcd, next to Debian's Go
//! bridge + host-local + portmap. Medians of ADD and DEL separately.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use libcni::runtime::api::{CniConfig, RuntimeConf};
use libcni::runtime::conf::NetworkConfigList;
use serde_json::{json, Value};
use testkit::{EtcdServer, TempNetns};

const NODE: &str = "bench-node";

struct Chain {
    label: String,
    cni: CniConfig,
    list: NetworkConfigList,
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
    let dirs: Vec<PathBuf> = (0..3)
        .map(|i| {
            let d = dir.path().join(i.to_string());
            std::fs::create_dir_all(&d).expect("chain dir");
            d
        })
        .collect();
    let chains = [
        calico_chain(ours, &dirs[0], None),
        calico_chain(ours, &dirs[1], Some(&etcd)),
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
    // One warm-up round per chain, then the measured ones.
    for round in 0..=iterations {
        for (chain, (adds, dels)) in chains.iter().zip(times.iter_mut()) {
            let t = Instant::now();
            chain
                .cni
                .add_network_list(&chain.list, &rt)
                .unwrap_or_else(|e| panic!("{}: ADD failed: {e}", chain.label));
            let add = t.elapsed().as_secs_f64() * 1000.0;
            let t = Instant::now();
            chain
                .cni
                .del_network_list(&chain.list, &rt)
                .unwrap_or_else(|e| panic!("{}: DEL failed: {e}", chain.label));
            let del = t.elapsed().as_secs_f64() * 1000.0;
            if round > 0 {
                adds.push(add);
                dels.push(del);
            }
        }
    }
    let mut out = format!(
        "\n### Chains through our libcni runtime: {iterations} ADD/DEL rounds each, one port mapping, medians\n\n| chain | ADD (ms) | DEL (ms) |\n|---|---:|---:|\n"
    );
    for (chain, (adds, dels)) in chains.iter().zip(times) {
        out.push_str(&format!(
            "| {} | {:.2} | {:.2} |\n",
            chain.label,
            median(adds),
            median(dels)
        ));
    }
    out
}
