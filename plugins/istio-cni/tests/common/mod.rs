//! Harness: testkit's stand-in Kubernetes API with the plugin's kubeconfig in a temporary
//! `cni_agent_run_dir`, pods in it, throwaway pod netns, and the plugin run as a runtime runs
//! it (CNI_* env + config on stdin).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use testkit::{Invocation, KubeApi, KubeApiOptions, Rule, TempNetns};

/// The plugin's service account token: what istio-cni's ClusterRole allows.
pub const TOKEN: &str = "istio-cni-test-token";
pub const STATUS: &str = "sidecar.istio.io/status";

/// [`TOKEN`] for istio-cni's service account, with what its ClusterRole allows.
pub fn add_plugin_token(api: &KubeApi) {
    api.add_token(
        TOKEN,
        "system:serviceaccount:istio-system:istio-cni",
        vec![Rule::new(
            &["get", "list", "watch"],
            &[""],
            &["pods", "nodes", "namespaces"],
        )],
    );
}

pub struct Cluster {
    pub api: KubeApi,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    pub fn start() -> Cluster {
        testkit::require_root();
        let api = KubeApi::start(KubeApiOptions::default());
        add_plugin_token(&api);
        let dir = testkit::temp_dir();
        std::fs::create_dir_all(dir.path().join("run")).unwrap();
        let c = Cluster { api, dir };
        c.api.write_kubeconfig(&c.kubeconfig(), TOKEN);
        c
    }

    pub fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.run_dir().join("istio-cni-kubeconfig")
    }

    /// Creates the namespace (if new) and a pod with `annotations` whose `istio-proxy`
    /// container is `proxy` (merged over a default sidecar).
    pub fn pod(&self, ns: &str, name: &str, annotations: Value, proxy: Value) {
        let _ = self.api.try_create(json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}
        }));
        let mut p = json!({"name": "istio-proxy", "image": "istio/proxyv2",
            "args": ["proxy", "sidecar"],
            "securityContext": {"runAsUser": 1337, "runAsGroup": 1337}});
        if let (Some(p), Some(extra)) = (p.as_object_mut(), proxy.as_object()) {
            for (k, v) in extra {
                p.insert(k.clone(), v.clone());
            }
        }
        self.api.create(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "annotations": annotations},
            "spec": {"containers": [{"name": "app", "image": "busybox"}, p]}
        }));
    }

    /// The NetConf the installer writes (chained: no cniVersion of its own; the runtime adds
    /// the list's), with a prevResult.
    pub fn conf(&self, version: &str, prev: Option<Value>) -> String {
        let mut c = json!({
            "cniVersion": version, "name": "k8s-pod-network", "type": "istio-cni",
            "ambient_enabled": false, "cni_agent_run_dir": self.run_dir(), "dns": {},
            "enable_ambient_detection_retry": false, "enablement_selectors": [],
            "exclude_namespaces": ["kube-system"], "ipam": {}, "native_nftables": false,
            "plugin_log_level": "info", "pod_namespace": "istio-system"
        });
        if let Some(p) = prev {
            c["prevResult"] = p;
        }
        c.to_string()
    }
}

/// A prevResult as calico would pass it.
pub fn prev_result(ip: &str) -> Value {
    json!({"cniVersion": "1.0.0",
           "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/x"}],
           "ips": [{"address": ip, "interface": 0}],
           "routes": [{"dst": "0.0.0.0/0"}]})
}

/// A pod netns with `eth0` (a veth whose peer stays in the netns) holding `addrs`, `lo` up.
pub fn pod_netns(addrs: &[&str]) -> TempNetns {
    let ns = TempNetns::new();
    ns.ip_stdout(&["link", "set", "lo", "up"]);
    ns.ip_stdout(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "peer0",
    ]);
    ns.ip_stdout(&["link", "set", "peer0", "up"]);
    for a in addrs {
        if a.contains(':') {
            ns.ip_stdout(&["addr", "add", a, "dev", "eth0", "nodad"]);
        } else {
            ns.ip_stdout(&["addr", "add", a, "dev", "eth0"]);
        }
    }
    ns.ip_stdout(&["link", "set", "eth0", "up"]);
    ns
}

pub fn plugin() -> PathBuf {
    testkit::workspace_bin("istio-cni")
}

/// ADD for pod `ns/name` in `netns`.
pub fn add(netns: &Path, ns: &str, name: &str, conf: &str) -> Invocation {
    Invocation::new(plugin())
        .command("ADD")
        .container_id(format!("c-{name}"))
        .netns(netns)
        .ifname("eth0")
        .path("/opt/cni/bin")
        .args(format!(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE={ns};K8S_POD_NAME={name};K8S_POD_INFRA_CONTAINER_ID=c-{name}"
        ))
        .stdin(conf.as_bytes().to_vec())
}

/// `cmd` (e.g. `iptables-nft-save`) in `netns`; comment lines dropped, counters zeroed.
pub fn save(netns: &TempNetns, cmd: &str) -> String {
    let out = netns.exec(&[cmd]);
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    normalize(&String::from_utf8_lossy(&out.stdout))
}

pub fn normalize(text: &str) -> String {
    let mut out = String::new();
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let l = match (l.starts_with(':'), l.rfind(" [")) {
            (true, Some(at)) => format!("{} [0:0]", &l[..at]),
            _ => l.to_string(),
        };
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// The `*table ... COMMIT` section of a save output.
pub fn table(saved: &str, name: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for l in saved.lines() {
        if l == format!("*{name}") {
            inside = true;
        }
        if inside {
            out.push_str(l);
            out.push('\n');
            if l == "COMMIT" {
                break;
            }
        }
    }
    out
}

pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `iptables-save` of the pod netns after a default ADD (reference notes §2.3), comment lines
/// dropped: the same from `iptables-nft-save` and `iptables-legacy-save`.
pub const NOTES_NAT: &str = "*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:ISTIO_INBOUND - [0:0]
:ISTIO_IN_REDIRECT - [0:0]
:ISTIO_OUTPUT - [0:0]
:ISTIO_REDIRECT - [0:0]
-A PREROUTING -p tcp -j ISTIO_INBOUND
-A OUTPUT -j ISTIO_OUTPUT
-A ISTIO_INBOUND -p tcp -m tcp --dport 15008 -j RETURN
-A ISTIO_INBOUND -p tcp -m tcp --dport 15020 -j RETURN
-A ISTIO_INBOUND -p tcp -m tcp --dport 15021 -j RETURN
-A ISTIO_INBOUND -p tcp -m tcp --dport 15090 -j RETURN
-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
-A ISTIO_OUTPUT -p tcp -m tcp --dport 15020 -j RETURN
-A ISTIO_OUTPUT -p udp -m udp --dport 15020 -j RETURN
-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN
-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -p tcp -m tcp ! --dport 15008 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT
-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -p tcp -m tcp ! --dport 15008 -m owner --gid-owner 1337 -j ISTIO_IN_REDIRECT
-A ISTIO_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
-A ISTIO_OUTPUT -j ISTIO_REDIRECT
-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
COMMIT
";
