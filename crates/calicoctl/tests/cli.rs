//! calicoctl against every backend — the local store, etcd, and the Kubernetes datastore on
//! testkit's stand-in API server (`DATASTORE_TYPE=kubernetes` + `KUBECONFIG`, as upstream's
//! calicoctl is configured): manifests in YAML and JSON, get/delete, IPAM show, check
//! (upstream's exact text and JSON report) and release.

use std::process::{Command, Output};

use datastore::model::Handle;
use datastore::resources::{WorkloadEndpoint, WorkloadEndpointSpec};
use datastore::{Datastore, HandleKey};
use ipam::{AutoAssignArgs, Ipam};
use serde_json::{json, Value};
use testkit::{EtcdServer, KubeApi, KubeApiOptions, ADMIN_TOKEN};

struct Env {
    vars: Vec<(&'static str, String)>,
    dir: tempfile::TempDir,
    _etcd: Option<EtcdServer>,
    kube: Option<KubeApi>,
}

impl Env {
    fn local() -> Env {
        let dir = testkit::temp_dir();
        let path = dir.path().join("store").display().to_string();
        Env {
            vars: vec![("DATASTORE_TYPE", "local".into()), ("DATASTORE_PATH", path)],
            dir,
            _etcd: None,
            kube: None,
        }
    }

    /// KDD: nodes are Kubernetes Nodes (kubelet registers them), and calico-node has made
    /// ClusterInformation.
    fn kdd() -> Env {
        let dir = testkit::temp_dir();
        let api = KubeApi::start(KubeApiOptions::default());
        let kc = api.write_kubeconfig(&dir.path().join("kubeconfig"), ADMIN_TOKEN);
        api.create(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1"}}));
        let e = Env {
            vars: vec![
                ("DATASTORE_TYPE", "kubernetes".into()),
                ("KUBECONFIG", kc.display().to_string()),
            ],
            dir,
            _etcd: None,
            kube: Some(api),
        };
        ensure_cluster(&e);
        e
    }

    fn is_kdd(&self) -> bool {
        self.kube.is_some()
    }

    /// A node for IPAM (on KDD it exists already).
    fn node1(&self) {
        if !self.is_kdd() {
            let node = self.file("node.json", r#"{"kind":"Node","apiVersion":"projectcalico.org/v3","metadata":{"name":"node1"},"spec":{}}"#);
            self.ok(&["apply", "-f", &node]);
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
            kube: None,
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

    /// Runs calicoctl expecting calicoctl's failure: exit 1 with `want` (a line) on stderr.
    fn fails(&self, args: &[&str], want: &str) {
        let o = self.ctl(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            format!("{want}\n"),
            "{args:?}"
        );
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    fn ds(&self) -> Datastore {
        let mut keys = json!({});
        for (k, v) in &self.vars {
            match *k {
                "KUBECONFIG" => keys["kubernetes"] = json!({ "kubeconfig": v }),
                _ => keys[k.to_ascii_lowercase()] = json!(v),
            }
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
    if e._etcd.is_none() && !e.is_kdd() {
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

/// What calico-node does on an etcd cluster before anything else runs (the local store makes
/// it on calicoctl's first use).
fn ensure_cluster(e: &Env) {
    e.ds()
        .ensure_cluster_information("v3.28.0", "cni-rs")
        .unwrap();
}

fn ipam(e: Env) {
    ensure_cluster(&e);
    let f = e.file("pools.yaml", POOLS);
    e.ok(&["apply", "-f", &f]);
    e.node1();
    let ds = e.ds();
    let (v4, _) = Ipam::new(&ds)
        .auto_assign(&AutoAssignArgs {
            num4: 2,
            handle: "net1.c1".into(),
            host: "node1".into(),
            ..Default::default()
        })
        .unwrap();
    // `show --ip`: the holder, with the owners a KubeVirt migration records.
    let first = v4.ips[0].ip();
    assert_eq!(
        e.ok(&["ipam", "show", "--ip", &first.to_string()]),
        format!("IP {first} is in use\nHandle ID: net1.c1\nNo Active Owner attributes defined\n")
    );
    let ipam = Ipam::new(&ds);
    let at = ipam.ips_by_handle("net1.c1").unwrap()[0];
    let owner = |pod: &str| {
        ipam::owner::OwnerChange::Set(
            [("pod", pod), ("namespace", "ns")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    };
    ipam.set_owner_attributes(
        &at,
        "net1.c1",
        &ipam::owner::OwnerUpdates {
            active: owner("src"),
            alternate: owner("tgt"),
        },
        &Default::default(),
    )
    .unwrap();
    assert_eq!(
        e.ok(&["ipam", "show", "--ip", &at.ip.to_string()]),
        format!(
            "IP {} is in use\nHandle ID: net1.c1\nActive Owner Attributes:\n  namespace: ns\n  pod: src\n\
             Alternate Owner Attributes:\n  namespace: ns\n  pod: tgt\n",
            at.ip
        )
    );
    assert_eq!(
        e.ok(&["ipam", "show", "--ip", "10.0.99.1"]),
        "10.0.99.1 is not assigned\n"
    );
    let o = e.ctl(&["ipam", "show", "--ip", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "Error executing command: invalid IP address specified: nope\n"
    );
    let show = e.ok(&["ipam", "show"]);
    assert!(show.contains("| IP Pool  | 10.0.0.0/16"), "{show}");
    assert!(show.contains("2 (0%)"), "{show}");
    let blocks = e.ok(&["ipam", "show", "--show-blocks"]);
    assert!(blocks.contains("| Block"), "{blocks}");
    // No workload endpoints: both addresses leaked, which calicoctl reports but exits 0 on.
    let out = e.ok(&["ipam", "check"]);
    assert!(
        out.ends_with(
            "Found 2 IPs that are allocated in IPAM but not actually in use.\n\
             Scanning for IPs that are in use by a workload or node but not allocated in IPAM...\n\
             Found 0 in-use IPs that are not in active IP pools.\n\
             Found 0 in-use IPs that are in active IP pools but have no corresponding IPAM allocation.\n\n\
             Scanning for IPAM handles with no matching IPs...\n\
             Found 0 handles with no matching IPs (and 1 handles with matches).\n\
             Scanning for IPs with missing handle...\n\
             Found 0 handles mentioned in blocks with no matching handle resource.\n\
             Check complete; found 2 problems.\n"
        ),
        "{out}"
    );
    for ip in &v4.ips {
        let out = e.ok(&["ipam", "release", "--ip", &ip.ip().to_string()]);
        assert_eq!(
            out,
            format!("Successfully released IP address {}\n", ip.ip())
        );
    }
    // Released again: calicoctl's error on stderr, exit 1.
    let o = e.ctl(&["ipam", "release", "--ip", &v4.ips[0].ip().to_string()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!("IP address {} is not assigned\n", v4.ips[0].ip())
    );
    // Not an address: argutils.ValidateIP's message, on stdout, exit 1.
    let o = e.ctl(&["ipam", "release", "--ip", "10.0.0.300"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "Error executing command: invalid IP address specified: 10.0.0.300\n"
    );
    let out = e.ok(&["ipam", "check"]);
    assert!(
        out.ends_with("Check complete; found 0 problems.\n"),
        "{out}"
    );
}

const ONE_POOL: &str = "apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: p1
spec:
  cidr: 10.0.0.0/16
";

/// One pool; two allocations on node1, one used by a workload endpoint and one leaked; and a
/// handle object no allocation names.
fn check(e: Env) {
    let f = e.file("pool.yaml", ONE_POOL);
    e.ok(&["apply", "-f", &f]);
    e.node1();
    let ds = e.ds();
    let assign = |handle: &str, pod: &str| {
        let attrs = [("namespace", "default"), ("node", "node1"), ("pod", pod)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (v4, _) = Ipam::new(&ds)
            .auto_assign(&AutoAssignArgs {
                num4: 1,
                handle: handle.into(),
                attrs,
                host: "node1".into(),
                ..Default::default()
            })
            .unwrap();
        v4.ips[0]
    };
    let used = assign("net1.used", "pod-a");
    let leaked = assign("net1.leaked", "pod-b");
    let block = ipnetwork::IpNetwork::new(used.ip(), 26).unwrap();
    let block = ipnetwork::IpNetwork::new(block.network(), 26).unwrap();
    if let Some(api) = &e.kube {
        // KDD: the endpoint is the pod (the CNI plugin's write is its annotation patch).
        api.create(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "pod-a", "namespace": "default"},
            "spec": {"nodeName": "node1", "containers": [{"name": "c", "image": "pause"}]}}));
    }
    let wep = WorkloadEndpoint::namespaced(
        "default",
        "node1-k8s-pod--a-eth0",
        WorkloadEndpointSpec {
            node: "node1".into(),
            pod: "pod-a".into(),
            ip_networks: vec![format!("{}/32", used.ip())],
            ..Default::default()
        },
    );
    ds.create_resource(&wep).unwrap();
    ds.create(&HandleKey::new("net1.orphan"), &Handle::default())
        .unwrap();

    // Upstream needs ClusterInformation: without it (possible in etcd only) the check fails
    // after its first line.
    if e._etcd.is_some() {
        let o = e.ctl(&["ipam", "check"]);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "Checking IPAM for inconsistencies...\n\n"
        );
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            "resource does not exist: ClusterInformation(default) with error: <nil>\n"
        );
        ensure_cluster(&e);
    }

    let want = format!(
        "Checking IPAM for inconsistencies...

Loading all IPAM blocks...
Found 1 IPAM blocks.
 IPAM block {block} affinity=host:node1:
IPAM blocks record 2 allocations.

Loading all IPAM pools...
  10.0.0.0/16
Found 1 active IP pools.

Loading all nodes.
Found 0 node tunnel IPs.

Loading all workload endpoints.
Found 1 workload IPs.
Workloads and nodes are using 1 IPs.

Loading all handles
Looking for top (up to 20) nodes by allocations...
  node1 has 2 allocations
Node with most allocations has 2; median is 2

Scanning for IPs that are allocated but not actually in use...
Found 1 IPs that are allocated in IPAM but not actually in use.
Scanning for IPs that are in use by a workload or node but not allocated in IPAM...
Found 0 in-use IPs that are not in active IP pools.
Found 0 in-use IPs that are in active IP pools but have no corresponding IPAM allocation.

Scanning for IPAM handles with no matching IPs...
Found 1 handles with no matching IPs (and 2 handles with matches).
Scanning for IPs with missing handle...
Found 0 handles mentioned in blocks with no matching handle resource.
Check complete; found 2 problems.
"
    );
    let report = e.dir.path().join("report.json");
    let report_arg = report.display().to_string();
    assert_eq!(e.ok(&["ipam", "check", "-o", &report_arg]), want);

    // --show-problem-ips adds the leaked address with its attributes, and nothing else here.
    let leaked_line = format!(
        "  {} leaked; attrs Main:net1.leaked Extra:namespace=default,node=node1,pod=pod-b\n",
        leaked.ip()
    );
    let scan = "Scanning for IPs that are allocated but not actually in use...\n";
    assert_eq!(
        e.ok(&["ipam", "check", "--show-problem-ips"]),
        want.replace(scan, &format!("{scan}{leaked_line}"))
    );
    // --show-all-ips also lists every allocation, owner and leaked handle.
    let all = e.ok(&["ipam", "check", "--show-all-ips"]);
    for line in [
        format!(
            "  {} allocated; attrs Main:net1.used Extra:namespace=default,node=node1,pod=pod-a\n",
            used.ip()
        ),
        format!(
            "  {} belongs to Workload(default/node1-k8s-pod--a-eth0)\n",
            used.ip()
        ),
        leaked_line.clone(),
        "  net1.orphan doesn't have any active IPs.\n".to_string(),
    ] {
        assert!(all.contains(&line), "{line:?} in {all}");
    }

    // The machine-readable report: upstream's Report and Allocation fields.
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(text.starts_with("{\n  \"version\": \""), "{text}");
    assert!(
        !text.ends_with('\n'),
        "Go's MarshalIndent writes no newline"
    );
    let r: Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "allocations",
            "clusterGUID",
            "clusterInformationRevision",
            "clusterType",
            "datastoreLocked",
            "leakedHandles",
            "version"
        ]
    );
    let ci = ds.cluster_information().unwrap().unwrap();
    assert_eq!(r["clusterGUID"], ci.spec.cluster_guid.as_str());
    assert_eq!(
        r["clusterInformationRevision"],
        ci.metadata.resource_version.as_str()
    );
    assert_eq!(r["clusterType"], ci.spec.cluster_type.as_str());
    assert_eq!(r["datastoreLocked"], false);
    let a = &r["allocations"][used.ip().to_string()][0];
    assert_eq!(a["ip"], used.ip().to_string());
    assert_eq!(a["handle"], "net1.used");
    assert!(a["sequenceNumber"].is_u64(), "{a}");
    assert_eq!(a["pod"], "pod-a");
    assert_eq!(a["namespace"], "default");
    assert_eq!(a["node"], "node1");
    assert_eq!(a["inUse"], true);
    assert_eq!(
        a["owners"],
        json!(["Workload(default/node1-k8s-pod--a-eth0)"])
    );
    assert!(a.get("borrowed").is_none(), "omitempty: {a}");
    let l = &r["allocations"][leaked.ip().to_string()][0];
    assert_eq!(l["inUse"], false);
    assert_eq!(l["owners"], Value::Null);
    assert_eq!(r["allocations"].as_object().unwrap().len(), 2);
    let revision = ds
        .get(&HandleKey::new("net1.orphan"))
        .unwrap()
        .unwrap()
        .revision;
    assert_eq!(
        r["leakedHandles"],
        json!([{"ID": "net1.orphan", "UID": null, "Revision": revision.to_string()}])
    );
}

/// `ipam configure`: calicoctl's confirmation lines and errors, libcalico-go's checks, the
/// settings stored where Calico stores them (and read back by the IPAM library).
fn configure(e: Env) {
    ensure_cluster(&e);
    for (flag, want) in [
        ("", "at least one configuration option must be specified"),
        (
            "--strictaffinity=yes",
            "invalid value. Use true or false to set strictaffinity",
        ),
        (
            "--max-blocks-per-host=many",
            "invalid value for maxblockhost. Use a valid number",
        ),
        (
            "--kubevirt-ip-persistence=enabled",
            "invalid value for --kubevirt-ip-persistence. Use Enabled or Disabled",
        ),
        // A block limit without strict affinity is refused (libcalico-go's SetIPAMConfig).
        (
            "--max-blocks-per-host=4",
            "error: MaxBlocksPerHost requires StrictAffinity to be enabled",
        ),
    ] {
        let mut args = vec!["ipam", "configure"];
        args.extend((!flag.is_empty()).then_some(flag));
        e.fails(&args, want);
    }
    assert_eq!(
        e.ok(&[
            "ipam",
            "configure",
            "--strictaffinity=T",
            "--max-blocks-per-host=4",
            "--kubevirt-ip-persistence=Disabled",
        ]),
        "Successfully set StrictAffinity to: true\n\
         Successfully set MaxBlocksPerHost to: 4\n\
         Successfully set KubeVirtVMAddressPersistence to: Disabled\n"
    );
    let cfg = e.ds().ipam_config().unwrap();
    assert!(cfg.strict_affinity && cfg.auto_allocate_blocks);
    assert_eq!(cfg.max_blocks_per_host, 4);
    assert!(!cfg.vm_address_persistence());
    if let Some(api) = &e.kube {
        let stored = api
            .get("crd.projectcalico.org/v1", "ipamconfigs", None, "default")
            .unwrap();
        assert_eq!(stored["spec"]["strictAffinity"], true);
        assert_eq!(stored["spec"]["maxBlocksPerHost"], 4);
        assert_eq!(stored["spec"]["kubeVirtVMAddressPersistence"], "Disabled");
    }
    // The same again changes nothing and says so again, as calicoctl does.
    assert_eq!(
        e.ok(&["ipam", "configure", "--kubevirt-ip-persistence=Disabled"]),
        "Successfully set KubeVirtVMAddressPersistence to: Disabled\n"
    );
}

/// `ipam release --from-report` with `datastore migrate lock/unlock`: upstream's refusals
/// (unlocked, stale, another cluster, another version) and its report of what it released.
fn release_from_report(e: Env) {
    ensure_cluster(&e);
    let f = e.file("pool.yaml", ONE_POOL);
    e.ok(&["apply", "-f", &f]);
    e.node1();
    let ds = e.ds();
    Ipam::new(&ds)
        .auto_assign(&AutoAssignArgs {
            num4: 2,
            handle: "net1.c1".into(),
            host: "node1".into(),
            ..Default::default()
        })
        .unwrap();
    ds.create(&HandleKey::new("net1.orphan"), &Handle::default())
        .unwrap();
    let report = |name: &str| {
        let path = e.dir.path().join(name).display().to_string();
        e.ok(&["ipam", "check", "-o", &path]);
        path
    };
    let r1 = report("r1.json");
    e.fails(
        &["ipam", "release", "--from-report", &r1],
        "data store is not locked. Either lock the data store, or re-run with --force",
    );
    assert_eq!(
        e.ok(&["datastore", "migrate", "lock"]),
        "Datastore locked.\n"
    );
    // Locking changed ClusterInformation: the report taken before is stale.
    e.fails(
        &["ipam", "release", "--from-report", &r1],
        "the provided reports are all stale - at least one should be up-to-date. Please generate a new report while the data store is locked and try again",
    );
    let r2 = report("r2.json");
    let edited = |name: &str, key: &str, value: &str| {
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&r2).unwrap()).unwrap();
        v[key] = json!(value);
        e.file(name, &v.to_string())
    };
    let other = edited("other.json", "clusterGUID", "another-cluster");
    e.fails(
        &["ipam", "release", "--from-report", &other, "--force"],
        &format!("cluster does not match the provided report ({other}): mismatched cluster GUID. Refusing to release"),
    );
    let old = edited("old.json", "version", "v0.0.1");
    e.fails(
        &["ipam", "release", "--from-report", &old],
        &format!("the provided report ({old}) was produced using a different version (v0.0.1) of calicoctl. Refusing to release"),
    );
    // Both reports: the two leaked addresses and the orphan handle are in both.
    assert_eq!(
        e.ok(&[
            "ipam",
            "release",
            "--from-report",
            &r1,
            "--from-report",
            &r2
        ]),
        "Releasing 2 old IPs...\n\
         Released 2 IPs successfully\n\
         Deleting 1 handles...\n\
         Key: '.' = Deleted OK; 'x' = skip, handle missing/changed.\n\
         .\n\
         Released 1 handles; 0 skipped; 0 errors.\n\
         You may now unlock the data store.\n"
    );
    // Again: everything already gone.
    assert_eq!(
        e.ok(&["ipam", "release", "--from-report", &r2, "--force"]),
        "Releasing 2 old IPs...\n\
         Released 0 IPs successfully\n\
         2 addresses marked as leaked in the report had already been cleaned up.\n\
         Deleting 1 handles...\n\
         Key: '.' = Deleted OK; 'x' = skip, handle missing/changed.\n\
         x\n\
         Released 0 handles; 1 skipped; 0 errors.\n\
         You may now unlock the data store.\n"
    );
    assert_eq!(
        e.ok(&["datastore", "migrate", "unlock"]),
        "Datastore unlocked.\n"
    );
    assert!(e.ds().is_ready().unwrap());
    let out = e.ok(&["ipam", "check"]);
    assert!(
        out.ends_with("Check complete; found 0 problems.\n"),
        "{out}"
    );
}

#[test]
fn release_from_report_local() {
    release_from_report(Env::local());
}
#[test]
fn release_from_report_etcd() {
    release_from_report(Env::etcd());
}
#[test]
fn release_from_report_kdd() {
    release_from_report(Env::kdd());
}
#[test]
fn configure_local() {
    configure(Env::local());
}
#[test]
fn configure_etcd() {
    configure(Env::etcd());
}
#[test]
fn configure_kdd() {
    configure(Env::kdd());
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
#[test]
fn check_local() {
    check(Env::local());
}
#[test]
fn check_etcd() {
    check(Env::etcd());
}
#[test]
fn resources_kdd() {
    resources(Env::kdd());
}
#[test]
fn ipam_kdd() {
    ipam(Env::kdd());
}
#[test]
fn check_kdd() {
    check(Env::kdd());
}
