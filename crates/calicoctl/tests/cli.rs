//! calicoctl against both backends: manifests in YAML and JSON, get/delete, IPAM show, check
//! and release.

use std::process::{Command, Output};

use calico_ipam::{AutoAssignArgs, Ipam};
use datastore::Datastore;
use serde_json::{json, Value};
use testkit::EtcdServer;

struct Env {
    vars: Vec<(&'static str, String)>,
    dir: tempfile::TempDir,
    _etcd: Option<EtcdServer>,
}

impl Env {
    fn local() -> Env {
        let dir = testkit::temp_dir();
        let path = dir.path().join("store").display().to_string();
        Env {
            vars: vec![("DATASTORE_TYPE", "local".into()), ("DATASTORE_PATH", path)],
            dir,
            _etcd: None,
        }
    }

    fn etcd() -> Env {
        let s = EtcdServer::start();
        Env {
            vars: vec![
                ("DATASTORE_TYPE", "etcdv3".into()),
                ("ETCD_ENDPOINTS", s.endpoint()),
            ],
            dir: testkit::temp_dir(),
            _etcd: Some(s),
        }
    }

    fn ctl(&self, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_calicoctl"));
        c.args(args).env("NODENAME", "node1");
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.ctl(args);
        assert!(
            o.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    fn ds(&self) -> Datastore {
        let mut keys = json!({});
        for (k, v) in &self.vars {
            keys[k.to_ascii_lowercase()] = json!(v);
        }
        Datastore::from_netconf(&keys).unwrap()
    }
}

const POOLS: &str = "apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: p1
spec:
  cidr: 10.0.0.0/16
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: p2
spec:
  cidr: fd80::/64
  nodeSelector: zone == 'a'
";

fn resources(e: Env) {
    let f = e.file("pools.yaml", POOLS);
    assert_eq!(
        e.ok(&["apply", "-f", &f]).trim(),
        "Successfully applied 2 'IPPool' resource(s)"
    );
    let got: Value = serde_json::from_str(&e.ok(&["get", "ippool", "p1", "-o", "json"])).unwrap();
    assert_eq!(got["spec"]["blockSize"], 26);
    assert_eq!(got["spec"]["nodeSelector"], "all()");
    let all: Value = serde_json::from_str(&e.ok(&["get", "ippools", "-o", "json"])).unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    assert!(e
        .ok(&["get", "ippool", "p2"])
        .contains("nodeSelector: zone == 'a'"));
    let o = e.ctl(&["create", "-f", &f]);
    assert!(!o.status.success(), "create of an existing pool");
    let cfg = e.file(
        "ipam.json",
        r#"{"apiVersion":"projectcalico.org/v3","kind":"IPAMConfiguration","metadata":{"name":"default"},"spec":{"strictAffinity":true,"maxBlocksPerHost":3,"autoAllocateBlocks":true}}"#,
    );
    e.ok(&["apply", "-f", &cfg]);
    let c = e.ds().ipam_config().unwrap();
    assert!(c.strict_affinity);
    assert_eq!(c.max_blocks_per_host, 3);
    let res = e.file(
        "res.yaml",
        "kind: IPReservation\napiVersion: projectcalico.org/v3\nmetadata: {name: r1}\nspec:\n  reservedCIDRs: [10.0.0.0/30]\n",
    );
    e.ok(&["create", "-f", &res]);
    assert!(e
        .ok(&["get", "ipreservation", "r1", "-o", "json"])
        .contains("10.0.0.0/30"));
    // The local store registers this node and a ready cluster on first use.
    if e._etcd.is_none() {
        assert!(e.ok(&["get", "nodes"]).contains("name: node1"));
        assert!(e.ds().is_ready().unwrap());
    }
    assert_eq!(
        e.ok(&["delete", "-f", &f]).trim(),
        "Successfully deleted 2 'IPPool' resource(s)"
    );
    assert!(!e.ctl(&["get", "ippool", "p1"]).status.success());
    assert!(!e.ctl(&["delete", "ippool", "p1"]).status.success());
}

fn ipam(e: Env) {
    let f = e.file("pools.yaml", POOLS);
    e.ok(&["apply", "-f", &f]);
    let node = e.file("node.json", r#"{"kind":"Node","apiVersion":"projectcalico.org/v3","metadata":{"name":"node1"},"spec":{}}"#);
    e.ok(&["apply", "-f", &node]);
    let ds = e.ds();
    let (v4, _) = Ipam::new(&ds)
        .auto_assign(&AutoAssignArgs {
            num4: 2,
            handle: "net1.c1".into(),
            host: "node1".into(),
            ..Default::default()
        })
        .unwrap();
    let show = e.ok(&["ipam", "show"]);
    assert!(show.contains("| IP Pool  | 10.0.0.0/16"), "{show}");
    assert!(show.contains("2 (0%)"), "{show}");
    let blocks = e.ok(&["ipam", "show", "--show-blocks"]);
    assert!(blocks.contains("| Block"), "{blocks}");
    let o = e.ctl(&["ipam", "check"]);
    assert!(
        !o.status.success(),
        "no workload endpoints: both addresses leaked"
    );
    assert!(String::from_utf8_lossy(&o.stdout)
        .contains("Found 2 allocations without a workload endpoint."));
    for ip in &v4.ips {
        let out = e.ok(&["ipam", "release", "--ip", &ip.ip().to_string()]);
        assert_eq!(
            out.trim(),
            format!("Successfully released IP address {}", ip.ip())
        );
    }
    assert!(!e
        .ctl(&["ipam", "release", "--ip", &v4.ips[0].ip().to_string()])
        .status
        .success());
    let out = e.ok(&["ipam", "check"]);
    assert!(out.contains("no problems found"), "{out}");
}

#[test]
fn resources_local() {
    resources(Env::local());
}
#[test]
fn resources_etcd() {
    resources(Env::etcd());
}
#[test]
fn ipam_local() {
    ipam(Env::local());
}
#[test]
fn ipam_etcd() {
    ipam(Env::etcd());
}
