//! What istio-cni adds to a pod's ADD: our Calico chain (calico + calico-ipam + portmap +
//! tuning, local store) for a pod with an Istio sidecar, with and without istio-cni at its
//! end, through our libcni runtime as a container runtime runs it; plus istio-cni alone, on a
//! fresh pod netns (rules written) and again on the same netns (rules found, nothing
//! written). The plugin asks testkit's stand-in API server for the pod, served in this netns.
//! Every round uses a fresh pod netns: DEL leaves rules in place (the netns goes with the pod).

use std::path::Path;
use std::time::Instant;

use libcni::runtime::api::{CniConfig, RuntimeConf};
use libcni::runtime::conf::NetworkConfigList;
use serde_json::{json, Value};
use testkit::{KubeApi, KubeApiOptions, Rule, TempNetns};

const NODE: &str = "bench-node";
const TOKEN: &str = "istio-cni-bench-token";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// A pod netns with an address (istio-cni decides IPv4/IPv6 from it).
fn addressed_netns() -> TempNetns {
    let ns = TempNetns::new();
    ns.ip_stdout(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "peer0",
    ]);
    ns.ip_stdout(&["addr", "add", "10.98.0.2/24", "dev", "eth0"]);
    ns.ip_stdout(&["link", "set", "eth0", "up"]);
    ns
}

pub fn run(ours: &Path, iterations: usize) -> String {
    let dir = testkit::temp_dir();
    let d = dir.path();
    let api = KubeApi::start(KubeApiOptions::default());
    api.add_token(
        TOKEN,
        "system:serviceaccount:istio-system:istio-cni",
        vec![Rule::new(&["get"], &[""], &["pods"])],
    );
    std::fs::create_dir_all(d.join("run")).expect("run dir");
    api.write_kubeconfig(&d.join("run/istio-cni-kubeconfig"), TOKEN);
    api.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mesh"}}));
    api.create(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "mesh",
                     "annotations": {"sidecar.istio.io/status": "{}"}},
        "spec": {"containers": [{"name": "app", "image": "app"},
                                {"name": "istio-proxy", "image": "proxyv2",
                                 "args": ["proxy", "sidecar"],
                                 "securityContext": {"runAsUser": 1337, "runAsGroup": 1337}}]}}));

    let store = d.join("store");
    let pool = json!({"apiVersion": "projectcalico.org/v3", "kind": "IPPool",
        "metadata": {"name": "bench-istio-pool"},
        "spec": {"cidr": "10.99.0.0/16", "blockSize": 26, "nodeSelector": "all()"}});
    std::fs::write(d.join("pool.json"), pool.to_string()).expect("write pool");
    let out = std::process::Command::new(ours.join("calicoctl"))
        .args(["apply", "-f"])
        .arg(d.join("pool.json"))
        .env("DATASTORE_PATH", &store)
        .output()
        .expect("run calicoctl");
    assert!(
        out.status.success(),
        "calicoctl: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let calico = json!({"type": "calico", "nodename": NODE, "nodename_file_optional": true,
        "datastore_type": "local", "datastore_path": store, "log_file_path": d.join("calico.log"),
        "ipam": {"type": "calico-ipam", "assign_ipv4": "true", "assign_ipv6": "false"}});
    let istio = json!({"type": "istio-cni", "name": "istio-cni", "cni_agent_run_dir": d.join("run"),
        "exclude_namespaces": ["kube-system"], "pod_namespace": "istio-system",
        "ambient_enabled": false, "plugin_log_level": "info", "ipam": {}, "dns": {}});
    let list = |name: &str, with_istio: bool| -> NetworkConfigList {
        let mut plugins: Vec<Value> = vec![
            calico.clone(),
            json!({"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}),
            json!({"type": "tuning", "sysctl": {"net.core.somaxconn": "512"}}),
        ];
        if with_istio {
            plugins.push(istio.clone());
        }
        let l = json!({"cniVersion": "1.0.0", "name": name, "plugins": plugins});
        NetworkConfigList::from_bytes(l.to_string().as_bytes()).expect("conflist")
    };
    let without = list("bench-chain", false);
    let with = list("bench-chain-istio", true);
    let alone = NetworkConfigList::from_bytes(
        json!({"cniVersion": "1.0.0", "name": "bench-istio-alone", "plugins": [istio]})
            .to_string()
            .as_bytes(),
    )
    .expect("conflist");
    let cni = CniConfig::with_cache_dir(vec![ours.to_path_buf()], d.join("cache"));
    let rt = |ns: &TempNetns| RuntimeConf {
        container_id: "bench-istio".into(),
        netns: ns.path().display().to_string(),
        ifname: "eth0".into(),
        args: vec![
            ("IgnoreUnknown".into(), "1".into()),
            ("K8S_POD_NAMESPACE".into(), "mesh".into()),
            ("K8S_POD_NAME".into(), "web".into()),
        ],
        ..Default::default()
    };

    let (mut add_without, mut add_with) = (Vec::new(), Vec::new());
    let (mut first, mut repeat) = (Vec::new(), Vec::new());
    for round in 0..=iterations {
        for (l, times) in [(&without, &mut add_without), (&with, &mut add_with)] {
            let ns = TempNetns::new();
            let rt = rt(&ns);
            let t = Instant::now();
            cni.add_network_list(l, &rt).expect("chain ADD");
            let add = ms(t);
            cni.del_network_list(l, &rt).expect("chain DEL");
            if round > 0 {
                times.push(add);
            }
        }
        let ns = addressed_netns();
        let rt = rt(&ns);
        let t = Instant::now();
        cni.add_network_list(&alone, &rt).expect("istio-cni ADD");
        let f = ms(t);
        let t = Instant::now();
        cni.add_network_list(&alone, &rt)
            .expect("istio-cni repeated ADD");
        let r = ms(t);
        cni.del_network_list(&alone, &rt).expect("istio-cni DEL");
        if round > 0 {
            first.push(f);
            repeat.push(r);
        }
    }
    let (a, b) = (median(add_without), median(add_with));
    format!(
        "\n### istio-cni: ADD of a pod with an Istio sidecar, {iterations} rounds, fresh pod netns each, medians\n\n\
         | measure | ADD (ms) |\n|---|---:|\n\
         | ours: calico + calico-ipam + portmap + tuning, local store | {a:.2} |\n\
         | the same + istio-cni (pod GET from the stand-in API, rules written with iptables-nft-restore) | {b:.2} |\n\
         | istio-cni's share of the chain ADD | {:.2} |\n\
         | istio-cni alone, fresh netns (pod GET, save, restore) | {:.2} |\n\
         | istio-cni alone, repeated on the same netns (pod GET, save, `-C` check, nothing written) | {:.2} |\n\n\
         No Go twin: Debian ships no istio-cni. Upstream execs more per ADD (three iptables builds probed with\n\
         save, `--version`, a test rule added and deleted, then a save per family before the restore).\n",
        b - a,
        median(first),
        median(repeat)
    )
}
