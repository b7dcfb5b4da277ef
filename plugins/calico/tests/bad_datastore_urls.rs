//! A datastore address that cannot be one fails at once, before any network call, as a
//! configuration error (code 7 in our table; Calico returns 999 for every error): a Kubernetes
//! API server URL that does not parse (`kubernetes.k8s_api_root` or a kubeconfig's `server`)
//! with Go's `url.Parse` words, wrapped as Calico wraps a client it cannot create (`error
//! creating calico client: ...` on ADD, the bare text on DEL and in calico-ipam), and an etcd
//! endpoint in a scheme etcd's client cannot speak (`ftp://`). Nothing listens anywhere here,
//! so an answer that waited for the network would come late; these come at once.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use testkit::TempNetns;

/// Far above a failure that makes no network call, far below a resolver timeout (5 s).
const AT_ONCE: Duration = Duration::from_secs(2);

const K8S_ARGS: &str = "K8S_POD_NAMESPACE=test;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=x";

fn kubeconfig(path: &Path, server: &str, tls: &str) -> String {
    std::fs::write(
        path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {server}\n{tls}users:\n- name: calico\n  user:\n    token: t\ncontexts:\n- name: c\n  context:\n    cluster: local\n    user: calico\ncurrent-context: c\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// Runs `cmd` of the plugin `bin` with `conf`, checking it answered at once.
fn run_at_once(h: &Host, bin: &Path, cmd: &str, conf: &Value) -> testkit::PluginRun {
    let c = TempNetns::new();
    let start = Instant::now();
    let r = h.exec(
        h.invocation_of(bin, cmd, "cid1", c.path(), conf)
            .args(K8S_ARGS)
            .timeout(Duration::from_secs(30)),
    );
    let took = start.elapsed();
    assert!(took < AT_ONCE, "{cmd} took {took:?}: {r}");
    r
}

fn assert_error(r: &testkit::PluginRun, code: u64, msg: &str) {
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(r.json()["code"], code, "{r}");
    assert_eq!(r.json()["msg"], msg, "{r}");
}

#[test]
fn a_server_url_that_is_not_one_fails_at_once_in_gos_words() {
    let h = Host::new(Store::Local);
    h.install_calico_ipam(&[]);
    let dir = h.dir.path();

    // The operator's kubeconfig (TLS settings: a bare host gets https://) and an API root of
    // one backslash.
    let operator = kubeconfig(
        &dir.join("calico-kubeconfig"),
        "https://10.96.0.1:443",
        "    insecure-skip-tls-verify: true\n",
    );
    let conf = h.conf(
        "1.0.0",
        "k8s-pod-network",
        json!({ "datastore_type": "kubernetes",
                "kubernetes": { "kubeconfig": operator, "k8s_api_root": "\\" },
                "policy": { "type": "k8s" }, "ipam": { "type": "calico-ipam" } }),
    );
    let https = r#"parse "https://\\": invalid character "\\" in host name"#;
    let r = run_at_once(&h, &calico(), "ADD", &conf);
    assert_error(&r, 7, &format!("error creating calico client: {https}"));
    let r = run_at_once(&h, &calico(), "DEL", &conf);
    assert_error(&r, 7, https);
    // calico-ipam returns the client's error as it is, on ADD too.
    let ipam = testkit::workspace_bin("calico-ipam");
    let r = run_at_once(&h, &ipam, "ADD", &conf);
    assert_error(&r, 7, https);

    // The kubeconfig's own server, without TLS settings: http:// is tried.
    let bad_server = kubeconfig(&dir.join("bad-server"), "'\\'", "");
    let conf = h.conf(
        "1.0.0",
        "k8s-pod-network",
        json!({ "datastore_type": "kubernetes", "kubernetes": { "kubeconfig": bad_server },
                "policy": { "type": "k8s" }, "ipam": { "type": "calico-ipam" } }),
    );
    let http = r#"parse "http://\\": invalid character "\\" in host name"#;
    let r = run_at_once(&h, &calico(), "ADD", &conf);
    assert_error(&r, 7, &format!("error creating calico client: {http}"));
    let r = run_at_once(&h, &ipam, "DEL", &conf);
    assert_error(&r, 7, http);

    // Another datastore, the same URL for the plugin's own pod client (policy k8s): Calico's
    // CmdAddK8s returns that error as it is.
    let conf = h.conf(
        "1.0.0",
        "k8s-pod-network",
        json!({ "kubernetes": { "k8s_api_root": "\\" }, "policy": { "type": "k8s" } }),
    );
    let r = run_at_once(&h, &calico(), "ADD", &conf);
    assert_error(&r, 999, http);
}

#[test]
fn an_etcd_endpoint_in_another_scheme_is_a_config_error() {
    let h = Host::new(Store::Local);
    h.install_calico_ipam(&[]);
    let conf = h.conf(
        "1.0.0",
        "net1",
        json!({ "datastore_type": "etcdv3", "etcd_endpoints": "ftp://127.0.0.1:2379",
                "ipam": { "type": "calico-ipam" } }),
    );
    let why = r#"invalid etcd endpoint "ftp://127.0.0.1:2379": unsupported scheme "ftp" (use http or https)"#;
    let r = run_at_once(&h, &calico(), "ADD", &conf);
    assert_error(&r, 7, &format!("error creating calico client: {why}"));
    let r = run_at_once(&h, &calico(), "DEL", &conf);
    assert_error(&r, 7, why);
    let ipam = testkit::workspace_bin("calico-ipam");
    let r = run_at_once(&h, &ipam, "ADD", &conf);
    assert_error(&r, 7, why);
}
