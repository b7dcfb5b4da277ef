//! Files a config or the environment names are read bounded and non-blocking (`libcni::fs`):
//! one that never ends (`/dev/zero`) fails at once with a clear error instead of growing the
//! plugin until it dies (it runs under a data limit far below what reading it whole would
//! take), and one that never delivers (a FIFO) does not hang it.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use testkit::TempNetns;

const LIMIT: u64 = 256 << 20;

fn run_bounded(h: &Host, conf: &serde_json::Value, env: &[(&str, &str)]) -> testkit::PluginRun {
    let c = TempNetns::new();
    let mut inv = h
        .invocation("ADD", "cid1", c.path(), conf)
        .args("K8S_POD_NAMESPACE=test;K8S_POD_NAME=web-0")
        .memory_limit(LIMIT)
        .timeout(Duration::from_secs(20));
    for (k, v) in env {
        inv = inv.env(k, v);
    }
    let start = Instant::now();
    let r = h.exec(inv);
    assert!(start.elapsed() < Duration::from_secs(10), "{r}");
    assert_eq!(r.code, 1, "a CNI error, not a crash: {r}");
    r
}

#[test]
fn an_etcd_ca_file_that_never_ends_is_a_config_error() {
    let h = Host::new(Store::Local);
    let conf = h.conf(
        "1.0.0",
        "net1",
        json!({ "datastore_type": "etcdv3", "etcd_endpoints": "https://127.0.0.1:2379",
                "etcd_ca_cert_file": "/dev/zero" }),
    );
    let r = run_bounded(&h, &conf, &[]);
    assert_eq!(
        r.json(),
        json!({ "code": 7, "msg": "error creating calico client: could not initialize etcdv3 client: read /dev/zero: file too large (over 1048576 bytes)" })
    );
}

/// Without a CA in the kubeconfig the system roots are read, from `SSL_CERT_FILE` when set.
/// One that never delivers (a FIFO nobody writes to: Go would wait for a writer forever) is
/// read as empty at once, so the request goes out and fails for the reason it would anyway
/// (nothing listens there).
#[test]
fn an_ssl_cert_file_that_never_delivers_does_not_block() {
    let h = Host::new(Store::Local);
    let fifo = h.dir.path().join("roots.pem");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let kubeconfig = h.dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n",
    )
    .unwrap();
    let conf = h.conf(
        "1.0.0",
        "net1",
        json!({ "datastore_type": "kubernetes", "calico_api_group": "crd.projectcalico.org/v1",
                "kubernetes": { "kubeconfig": kubeconfig }, "policy": { "type": "k8s" } }),
    );
    let r = run_bounded(&h, &conf, &[("SSL_CERT_FILE", fifo.to_str().unwrap())]);
    let msg = r.json()["msg"].as_str().unwrap().to_string();
    assert!(
        msg.starts_with("error getting ClusterInformation: Get \"https://127.0.0.1:1/")
            && msg.ends_with("dial tcp 127.0.0.1:1: connect: connection refused"),
        "{msg}"
    );
}
