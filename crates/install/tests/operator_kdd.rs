//! The Tigera operator's deployment path, end to end on the Kubernetes datastore: `install` runs
//! as the operator's `install-cni` init container does (its environment and the CNI config the
//! operator generates, with `__KUBECONFIG_FILEPATH__`), asks the API for the calico-cni-plugin
//! account's token and writes `calico-kubeconfig` and `10-calico.conflist` onto the "host";
//! then a runtime (our cnitool) runs that conflist — calico + calico-ipam + portmap from the
//! host's bin dir — for a pod, on the node's namespace, with calico-node's `nodename` file.
//!
//! The API is testkit's stand-in (no kube-apiserver can be installed here), started in the
//! throwaway node namespace; calico-node's token may ask for the CNI token, and the plugins
//! then run with Calico's calico-cni-plugin RBAC. `/var/lib/calico` and `/var/log/calico` are
//! private to the runtime's process (an overlay on `/var` in its own mount namespace).

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::json;
use testkit::{KubeApi, KubeApiOptions, Rule, TempNetns, CNI_USER};

/// The CNI config the operator renders (tigera/operator `pkg/render/node.go`: keys sorted by
/// Go's encoder, `calico_api_group` "" = discovered), as kdd-research-notes.md §6 quotes it.
const OPERATOR_CONFIG: &str = r#"{
  "name": "k8s-pod-network",
  "cniVersion": "1.0.0",
  "plugins": [{"calico_api_group":"","container_settings":{"allow_ip_forwarding":false},"datastore_type":"kubernetes","endpoint_status_dir":"/var/run/calico/endpoint-status","ipam":{"assign_ipv4":"true","assign_ipv6":"false","type":"calico-ipam"},"kubernetes":{"kubeconfig":"__KUBECONFIG_FILEPATH__"},"log_file_max_age":30,"log_file_max_count":10,"log_file_max_size":100,"log_file_path":"/var/log/calico/cni/cni.log","log_level":"Info","mtu":0,"nodename_file_optional":false,"policy":{"type":"k8s"},"policy_setup_timeout_seconds":0,"type":"calico"},{"capabilities":{"portMappings":true},"snat":true,"type":"portmap"}]
}"#;

/// Runs `args` in the node netns with a private `/var/lib/calico` (calico-node's `nodename`
/// file) and `/var/log/calico`.
fn on_node_private(
    node: &TempNetns,
    scratch: &Path,
    args: &[&str],
    env: &[(&str, String)],
) -> std::process::Output {
    let script = format!(
        "set -e\nmkdir -p {s}/upper {s}/work\n\
         mount -t overlay overlay -o lowerdir=/var,upperdir={s}/upper,workdir={s}/work /var\n\
         mkdir -p /var/lib/calico /var/log/calico/cni\nprintf node1 > /var/lib/calico/nodename\n\
         exec \"$@\"\n",
        s = scratch.display()
    );
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec"])
        .arg(node.name())
        .args([
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
            "sh",
        ])
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    cmd.output().expect("run in the node netns")
}

#[test]
fn operator_install_then_the_kdd_chain_runs_with_the_cni_role() {
    testkit::require_root();
    let node = TempNetns::new();
    node.ip_stdout(&["link", "set", "lo", "up"]);
    let api = netkit::NetNs::open(node.path())
        .unwrap()
        .run(|| KubeApi::start(KubeApiOptions::default()))
        .unwrap();
    // The cluster before the pod starts: the Node, calico-node's ClusterInformation, a pool.
    for obj in [
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1"}}),
        json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "ClusterInformation",
               "metadata": {"name": "default"}, "spec": {"datastoreReady": true}}),
        json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
               "metadata": {"name": "default-ipv4-ippool"},
               "spec": {"cidr": "10.244.0.0/16", "blockSize": 26, "nodeSelector": "all()"}}),
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "web-0", "namespace": "default"},
               "spec": {"nodeName": "node1", "containers": [{"name": "web", "image": "nginx"}]}}),
    ] {
        api.create(obj);
    }
    api.add_token(
        TOKEN,
        NODE_USER,
        vec![
            Rule::new(&["create"], &[""], &["serviceaccounts/token"]).names(&["calico-cni-plugin"])
        ],
    );

    // The init container: the image's suite (our real plugins) in <root>/opt/cni/bin.
    let f = Fixture::new();
    for name in ["calico", "calico-ipam", "portmap"] {
        fs::copy(
            testkit::workspace_bin(name),
            f.path("opt/cni/bin").join(name),
        )
        .unwrap();
    }
    fs::write(
        f.path("var/run/secrets/kubernetes.io/serviceaccount/ca.crt"),
        fs::read(api.ca_pem()).unwrap(),
    )
    .unwrap();
    let net_d = f.path("host/etc/cni/net.d");
    let host_bin = f.path("host/opt/cni/bin");
    let f = f
        .with_env("CNI_CONF_NAME", "10-calico.conflist")
        .with_env("CNI_NET_DIR", &net_d.display().to_string())
        .with_env("CNI_NETWORK_CONFIG", OPERATOR_CONFIG)
        .with_env("KUBERNETES_SERVICE_PORT", &api.port().to_string());
    let mut cmd = f.command();
    let out = netkit::NetNs::open(node.path())
        .unwrap()
        .run(move || cmd.output().unwrap())
        .unwrap();
    assert!(
        out.status.success(),
        "install: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let conflist: serde_json::Value =
        serde_json::from_str(&read(&net_d.join("10-calico.conflist"))).unwrap();
    assert_eq!(
        conflist["plugins"][0]["kubernetes"]["kubeconfig"],
        net_d.join("calico-kubeconfig").display().to_string()
    );

    // The runtime: kubelet's CNI_ARGS for the pod, the host's bin dir and config dir.
    let pod_ns = TempNetns::new();
    let scratch = testkit::temp_dir();
    let env = vec![
        ("NETCONFPATH", net_d.display().to_string()),
        ("CNI_PATH", host_bin.display().to_string()),
        (
            "CNI_ARGS",
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0".to_string(),
        ),
    ];
    let cnitool = testkit::workspace_bin("cnitool").display().to_string();
    let cache = scratch.path().join("cache").display().to_string();
    let pod_path = pod_ns.path().display().to_string();
    // cnitool as the runtime, in the node's netns with its own /var (`var` under scratch).
    let cnitool_run = |verb: &str, var: &str| {
        let out = on_node_private(
            &node,
            &scratch.path().join(var),
            &[
                &cnitool,
                "--cache-dir",
                &cache,
                verb,
                "k8s-pod-network",
                &pod_path,
            ],
            &env,
        );
        testkit::show_output(&format!("cnitool {verb}"), &out);
        assert!(out.status.success(), "cnitool {verb} failed");
        out
    };
    api.clear_requests();
    let add = cnitool_run("add", "var");
    let result: serde_json::Value = serde_json::from_slice(&add.stdout).unwrap();
    let ip = result["ips"][0]["address"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.244.") && ip.ends_with("/32"), "{result}");
    // Every request was the CNI account's, within its role (the stand-in answers 403 else).
    let reqs = api.requests();
    assert!(!reqs.is_empty());
    for r in &reqs {
        assert_eq!(r.user, CNI_USER, "{}", r.line());
        assert!(
            r.status < 400 || r.status == 404,
            "{}: {}",
            r.line(),
            r.status
        );
    }
    // calico_api_group "" → the group is discovered (GET /apis) once per plugin process.
    assert_eq!(reqs.iter().filter(|r| r.path == "/apis").count(), 2);
    let pod = api.get("v1", "pods", Some("default"), "web-0").unwrap();
    assert_eq!(
        pod["metadata"]["annotations"]["cni.projectcalico.org/podIP"],
        ip.as_str()
    );

    cnitool_run("del", "var2");
    let pod = api.get("v1", "pods", Some("default"), "web-0").unwrap();
    assert_eq!(
        pod["metadata"]["annotations"]["cni.projectcalico.org/podIP"],
        ""
    );
    assert!(api
        .list("crd.projectcalico.org/v1", "ipamhandles")
        .is_empty());
    assert!(!node.ip_stdout(&["-o", "link"]).contains("cali"));
}
