//! A Kubernetes API server URL that is not one (`kubernetes.k8s_api_root` or a kubeconfig's
//! `server`) fails at once with Go's `url.Parse` words, wrapped as Calico wraps a client it
//! cannot create: `error creating calico client: ...` on ADD, the bare text on DEL (code 999
//! both: Calico returns plain errors). No request is made — nothing listens anywhere here — so
//! the answer comes at once instead of after a resolver timeout.

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

fn assert_error(r: &testkit::PluginRun, msg: &str) {
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(r.json()["code"], 999, "{r}");
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
    assert_error(&r, &format!("error creating calico client: {https}"));
    let r = run_at_once(&h, &calico(), "DEL", &conf);
    assert_error(&r, https);
    // calico-ipam returns the client's error as it is, on ADD too.
    let ipam = testkit::workspace_bin("calico-ipam");
    let r = run_at_once(&h, &ipam, "ADD", &conf);
    assert_error(&r, https);

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
    assert_error(&r, &format!("error creating calico client: {http}"));
    let r = run_at_once(&h, &ipam, "DEL", &conf);
    assert_error(&r, http);

    // Another datastore, the same URL for the plugin's own pod client (policy k8s): Calico's
    // CmdAddK8s returns that error as it is.
    let conf = h.conf(
        "1.0.0",
        "k8s-pod-network",
        json!({ "kubernetes": { "k8s_api_root": "\\" }, "policy": { "type": "k8s" } }),
    );
    let r = run_at_once(&h, &calico(), "ADD", &conf);
    assert_error(&r, http);
}
