//! The Kubernetes datastore's own cases (testkit's stand-in API server, which behaves like a
//! real one: no kube-apiserver can be installed here), run as Calico's CNI runs in a cluster
//! the Tigera operator made — the calico-cni-plugin service account's token, its RBAC, the v1
//! CRD group:
//!
//! - exactly Calico's requests and bodies: the pod read once, the `pods/status` strategic
//!   merge patch with the annotations (ADD) and with the pod's revision and UID (DEL); no
//!   request outside the CNI role (the stand-in would answer 403); fewer requests than Go;
//! - the container-ID guard (10.2.11): a late DEL of an old sandbox keeps the new one's IPs;
//! - what does not work in KDD fails cleanly, as in Calico: `policy.type ""` (no profile
//!   objects), the `cni` orchestrator (no pod);
//! - errors: the API unreachable, an expired token, the pod gone at DEL, a 409 storm on the
//!   DEL patch, 5xx with Retry-After; each with Calico's wording, none leaving an allocation.

mod common;

use common::*;
use serde_json::{json, Value};
use testkit::{Action, Fault, Method, TempNetns, CNI_USER};

const NET: &str = "k8s-pod-network";

fn k8s_args(pod: &str) -> String {
    format!("K8S_POD_NAMESPACE=test;K8S_POD_NAME={pod};K8S_POD_INFRA_CONTAINER_ID=whatever")
}

/// The conflist's calico entry as the operator writes it (policy k8s), with calico-ipam.
fn setup() -> (Host, Value) {
    let h = Host::new(Store::Kdd);
    h.install_calico_ipam(&["10.0.0.0/24"]);
    let conf = h.conf(
        "1.0.0",
        NET,
        json!({ "policy": { "type": "k8s" }, "ipam": { "type": "calico-ipam" } }),
    );
    (h, conf)
}

fn run(
    h: &Host,
    cmd: &str,
    cid: &str,
    ns: &TempNetns,
    conf: &Value,
    pod: &str,
) -> testkit::PluginRun {
    h.exec(h.invocation(cmd, cid, ns.path(), conf).args(k8s_args(pod)))
}

fn annotations(h: &Host, pod: &str) -> Value {
    h.api().get("v1", "pods", Some("test"), pod).unwrap()["metadata"]["annotations"].clone()
}

/// No handle without its address and no address without its handle; nothing left when
/// `empty`.
fn assert_ipam_consistent(h: &Host, empty: bool) {
    let (blocks, handles) = h.ds(|ds| {
        (
            ds.list(&datastore::BlockList::default()).unwrap(),
            ds.list(&datastore::HandleList).unwrap(),
        )
    });
    let mut held: std::collections::BTreeMap<String, i64> = Default::default();
    for (_, b) in &blocks {
        for o in 0..b.value.allocations.len() {
            if let Some(a) = b.value.attributes_at(o) {
                *held
                    .entry(a.handle_id.clone().unwrap_or_default())
                    .or_default() += 1;
            }
        }
    }
    let counted: std::collections::BTreeMap<String, i64> = handles
        .iter()
        .map(|(k, h)| (k.id.clone(), h.value.block.values().sum()))
        .collect();
    assert_eq!(held, counted, "allocations vs handles");
    if empty {
        assert!(held.is_empty(), "{held:?}");
    }
}

#[test]
fn add_and_del_make_calicos_requests_within_its_role() {
    let (h, conf) = setup();
    h.pod("test", "web-0", json!({}), json!({}));
    let c = TempNetns::new();
    h.api().clear_requests();
    let add = run(&h, "ADD", "cid1", &c, &conf, "web-0");
    add.assert_success();
    let ip = add.json()["ips"][0]["address"]
        .as_str()
        .unwrap()
        .to_string();
    let reqs = h.api().requests();
    let lines: Vec<String> = reqs.iter().map(|r| r.line()).collect();
    // Everything as the CNI service account, and allowed by its role.
    for r in &reqs {
        assert_eq!(r.user, CNI_USER, "{}", r.line());
        assert!(r.status < 400 || r.status == 404, "{lines:#?}");
    }
    // Never a LIST of pods, never a PATCH of anything but pods/status.
    assert!(
        !reqs
            .iter()
            .any(|r| r.method == "GET" && r.path.ends_with("/pods")),
        "{lines:#?}"
    );
    let patches: Vec<_> = reqs.iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), 1, "{lines:#?}");
    assert_eq!(patches[0].path, "/api/v1/namespaces/test/pods/web-0/status");
    assert_eq!(
        patches[0].content_type.as_deref(),
        Some("application/strategic-merge-patch+json")
    );
    assert_eq!(
        String::from_utf8_lossy(&patches[0].body),
        format!(
            r#"{{"metadata":{{"annotations":{{"cni.projectcalico.org/containerID":"cid1","cni.projectcalico.org/podIP":"{ip}","cni.projectcalico.org/podIPs":"{ip}"}}}}}}"#
        )
    );
    // The pod is read once (Calico reads it twice, and calico-ipam a third time).
    let pod_gets = reqs
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/api/v1/namespaces/test/pods/web-0")
        .count();
    assert_eq!(pod_gets, 1, "{lines:#?}");
    // The first ADD of the node also creates the IPAM config and claims a block.
    assert!(reqs.len() <= 18, "{} requests: {lines:#?}", reqs.len());
    eprintln!("first ADD: {} requests\n{}", reqs.len(), lines.join("\n"));

    // A second pod on the same node: the block is claimed, the config exists.
    h.pod("test", "web-1", json!({}), json!({}));
    let c2 = TempNetns::new();
    h.api().clear_requests();
    run(&h, "ADD", "cid2", &c2, &conf, "web-1").assert_success();
    let steady = h.api().requests();
    eprintln!(
        "steady ADD: {} requests\n{}",
        steady.len(),
        steady
            .iter()
            .map(|r| r.line())
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Calico v3.32 makes 17 (calico 5, calico-ipam 12); kdd-research-notes.md §3.
    assert!(steady.len() <= 12, "{}", steady.len());

    let pod = h.api().get("v1", "pods", Some("test"), "web-0").unwrap();
    let (rv, uid) = (
        pod["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string(),
        pod["metadata"]["uid"].as_str().unwrap().to_string(),
    );
    h.api().clear_requests();
    run(&h, "DEL", "cid1", &c, &conf, "web-0").assert_success();
    let del = h.api().requests();
    let lines: Vec<String> = del.iter().map(|r| r.line()).collect();
    eprintln!("DEL: {} requests\n{}", del.len(), lines.join("\n"));
    // Calico v3.32 makes 14 (calico 3, calico-ipam 11).
    assert!(del.len() <= 9, "{lines:#?}");
    let patch = del.iter().find(|r| r.method == "PATCH").expect("DEL patch");
    assert_eq!(
        String::from_utf8_lossy(&patch.body),
        format!(
            r#"{{"metadata":{{"annotations":{{"cni.projectcalico.org/podIP":"","cni.projectcalico.org/podIPs":""}},"resourceVersion":"{rv}","uid":"{uid}"}}}}"#
        )
    );
    // The keys stay, empty; containerID stays.
    assert_eq!(
        annotations(&h, "web-0"),
        json!({ "cni.projectcalico.org/containerID": "cid1",
                "cni.projectcalico.org/podIP": "",
                "cni.projectcalico.org/podIPs": "" })
    );
    run(&h, "DEL", "cid2", &c2, &conf, "web-1").assert_success();
    assert_ipam_consistent(&h, true);
    // The affine block and its affinity stay for the node's next pod, as in Calico.
    assert_eq!(
        h.api()
            .list("crd.projectcalico.org/v1", "blockaffinities")
            .len(),
        1
    );
    assert_eq!(
        h.api().list("crd.projectcalico.org/v1", "ipamblocks").len(),
        1
    );
}

/// 10.2.11 on KDD: ADD X, DEL X, ADD Y, DEL X keeps Y's addresses on the pod; ADD X, ADD Y,
/// DEL X keeps Y's; DEL Y clears them.
#[test]
fn a_late_del_of_an_old_sandbox_keeps_the_new_one() {
    let (h, conf) = setup();
    h.pod("test", "pod1", json!({}), json!({}));
    let (cx, cy) = (TempNetns::new(), TempNetns::new());
    run(&h, "ADD", "x", &cx, &conf, "pod1").assert_success();
    run(&h, "DEL", "x", &cx, &conf, "pod1").assert_success();
    let y = run(&h, "ADD", "y", &cy, &conf, "pod1");
    y.assert_success();
    let y_ip = y.json()["ips"][0]["address"].as_str().unwrap().to_string();
    run(&h, "DEL", "x", &cx, &conf, "pod1").assert_success();
    let a = annotations(&h, "pod1");
    assert_eq!(a["cni.projectcalico.org/containerID"], "y");
    assert_eq!(a["cni.projectcalico.org/podIP"], y_ip.as_str());
    let x = run(&h, "ADD", "x", &cx, &conf, "pod1");
    x.assert_success();
    run(&h, "DEL", "y", &cy, &conf, "pod1").assert_success();
    assert_eq!(
        annotations(&h, "pod1")["cni.projectcalico.org/containerID"],
        "x"
    );
    assert_eq!(
        annotations(&h, "pod1")["cni.projectcalico.org/podIP"],
        x.json()["ips"][0]["address"]
    );
    run(&h, "DEL", "x", &cx, &conf, "pod1").assert_success();
    assert_eq!(annotations(&h, "pod1")["cni.projectcalico.org/podIP"], "");
    assert_ipam_consistent(&h, true);
}

/// What Calico cannot do on KDD fails here too, before anything is allocated: profiles are
/// not objects (`policy.type ""`), and a `cni`-orchestrated workload has no pod.
#[test]
fn what_kdd_cannot_hold_fails_cleanly() {
    let h = Host::new(Store::Kdd);
    h.pod("test", "p1", json!({}), json!({}));
    let c = TempNetns::new();
    let no_policy = h.conf("1.0.0", NET, json!({}));
    let r = run(&h, "ADD", "cid1", &c, &no_policy, "p1");
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(r.json()["msg"], "Invalid name k8s-pod-network");
    assert!(h.reservations(NET).is_empty());
    assert!(!c.ip_stdout(&["-o", "link"]).contains("eth0"));

    let r = h.run("ADD", "cid2", c.path(), &no_policy);
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.json()["msg"]
            .as_str()
            .unwrap()
            .starts_with("resource does not exist: WorkloadEndpoint("),
        "{r}"
    );
    assert!(h.reservations(NET).is_empty());
    // DEL stays idempotent.
    h.run("DEL", "cid2", c.path(), &no_policy).assert_success();

    // No ClusterInformation (calico-node has not run): the error carries the API's 404, as
    // libcalico-go's KDD client wraps it (etcd's has no cause: `<nil>`).
    h.set_ready(None);
    let conf = h.conf("1.0.0", NET, json!({ "policy": { "type": "k8s" } }));
    let r = run(&h, "ADD", "cid3", &c, &conf, "p1");
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(
        r.json()["msg"],
        "error getting ClusterInformation: resource does not exist: ClusterInformation(default) \
         with error: clusterinformations.crd.projectcalico.org \"default\" not found"
    );
}

#[test]
fn api_errors_have_calicos_words_and_leave_nothing() {
    let (h, conf) = setup();
    h.pod("test", "p1", json!({}), json!({}));
    let c = TempNetns::new();

    // An expired token: 401 on the first read, nothing done.
    h.api().revoke_token(testkit::CNI_TOKEN);
    let r = run(&h, "ADD", "cid1", &c, &conf, "p1");
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(
        r.json()["msg"],
        "error getting ClusterInformation: connection is unauthorized: Unauthorized"
    );
    let r = run(&h, "DEL", "cid1", &c, &conf, "p1");
    assert_eq!(r.code, 1, "DEL cleans nothing without the API: {r}");
    h.api().add_token(testkit::CNI_TOKEN, CNI_USER, vec![]);

    // 5xx with Retry-After is retried (client-go), so the ADD goes through.
    h.api().inject(
        Fault::new(
            "/ipamblocks/",
            Action::StatusRetryAfter(503, "ServiceUnavailable".into(), "busy".into(), 1),
        )
        .method(Method::Put)
        .times(2),
    );
    let r = run(&h, "ADD", "cid1", &c, &conf, "p1");
    r.assert_success();
    assert_ipam_consistent(&h, false);

    // A 409 storm on the pod: the DEL patch gives up after Calico's 6 attempts, having
    // cleaned nothing; the next DEL succeeds.
    h.api().inject(
        Fault::new("/pods/p1/status", Action::Conflict)
            .method(Method::Patch)
            .times(6),
    );
    let r = run(&h, "DEL", "cid1", &c, &conf, "p1");
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(
        r.json()["msg"],
        "endpoint was modified before it could be deleted"
    );
    run(&h, "DEL", "cid1", &c, &conf, "p1").assert_success();
    assert_ipam_consistent(&h, true);

    // The pod deleted before its DEL: the interface and the addresses are still cleaned up.
    let r = run(&h, "ADD", "cid2", &c, &conf, "p1");
    r.assert_success();
    h.api().delete("v1", "pods", Some("test"), "p1");
    run(&h, "DEL", "cid2", &c, &conf, "p1").assert_success();
    assert!(!c.ip_stdout(&["-o", "link"]).contains("eth0"));
    assert_ipam_consistent(&h, true);

    // The API unreachable: Calico's text, code 11 (try again later), nothing allocated.
    h.pod("test", "p2", json!({}), json!({}));
    let url = h.api().url();
    h.api().inject(Fault::new("", Action::Drop));
    let r = run(&h, "ADD", "cid3", &c, &conf, "p2");
    assert_eq!(r.code, 1, "{r}");
    let msg = r.json()["msg"].as_str().unwrap().to_string();
    assert!(
        msg.starts_with(&format!(
            "error getting ClusterInformation: Get \"{url}/apis/crd.projectcalico.org/v1/clusterinformations/default\": "
        )),
        "{msg}"
    );
    assert_eq!(r.json()["code"], 11, "{r}");
    h.api().clear_faults();
    assert_ipam_consistent(&h, true);
}

/// STATUS (CNI 1.1) on KDD: ready with the API up and ClusterInformation ready; 50 when the
/// API cannot be reached or refuses the token. GC leaves pod-derived endpoints to their pods
/// (nothing listed: the CNI role may not list pods) and still collects calico-ipam's handles.
#[test]
fn status_and_gc() {
    let h = Host::new(Store::Kdd);
    h.install_calico_ipam(&["10.0.0.0/24"]);
    let conf = h.conf(
        "1.1.0",
        NET,
        json!({ "policy": { "type": "k8s" }, "ipam": { "type": "calico-ipam" } }),
    );
    let c = TempNetns::new();
    let status = || h.exec(h.invocation("STATUS", "", c.path(), &conf));
    status().assert_success();

    h.api().revoke_token(testkit::CNI_TOKEN);
    let r = status();
    assert_eq!(r.json()["code"], 50, "{r}");
    assert_eq!(
        r.json()["msg"],
        "error getting ClusterInformation: connection is unauthorized: Unauthorized"
    );
    h.api().add_token(testkit::CNI_TOKEN, CNI_USER, vec![]);
    h.api().inject(Fault::new("", Action::Drop));
    let r = status();
    assert_eq!(r.json()["code"], 50, "{r}");
    h.api().clear_faults();

    h.pod("test", "live", json!({}), json!({}));
    h.pod("test", "gone", json!({}), json!({}));
    let (c1, c2) = (TempNetns::new(), TempNetns::new());
    run(&h, "ADD", "live", &c1, &conf, "live").assert_success();
    run(&h, "ADD", "gone", &c2, &conf, "gone").assert_success();
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{ "containerID": "live", "ifname": "eth0" }]);
    h.api().clear_requests();
    h.exec(h.invocation("GC", "", c.path(), &gc))
        .assert_success();
    assert!(
        !h.api().requests().iter().any(|r| r.path.ends_with("/pods")),
        "no pod listing"
    );
    let handles: Vec<String> = h.ds(|ds| {
        ds.list(&datastore::HandleList)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k.id)
            .collect()
    });
    assert_eq!(handles, vec![format!("{NET}.live")]);
    assert_ne!(
        annotations(&h, "gone")["cni.projectcalico.org/podIP"],
        "",
        "the pod's annotations are left to it (and its DEL)"
    );
    run(&h, "DEL", "live", &c1, &conf, "live").assert_success();
    run(&h, "DEL", "gone", &c2, &conf, "gone").assert_success();
}

/// KubeVirt live migration through the chain (calico + calico-ipam, Calico v3.32): the
/// target pod gets the VM's address with no routes from calico-ipam, so calico programs no
/// host route for it — the source's route stays until the migration completes — while the
/// target's pod is annotated with the address as any pod.
#[test]
fn a_kubevirt_migration_target_leaves_the_host_route_to_the_source() {
    let (h, conf) = setup();
    let api = h.api();
    let vm = api.create(
        json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": "vm1", "namespace": "test"}, "spec": {"running": true}}),
    );
    let vmi = api.create(json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
        "metadata": {"name": "vm1", "namespace": "test", "ownerReferences": [{"apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachine", "name": "vm1", "uid": vm["metadata"]["uid"], "controller": true}]},
        "spec": {}}));
    let launcher = |name: &str, labels: Value| {
        api.create(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "test", "labels": labels,
                "ownerReferences": [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                    "name": "vm1", "uid": vmi["metadata"]["uid"], "controller": true}]},
            "spec": {"nodeName": NODE, "serviceAccountName": "default",
                     "containers": [{"name": "compute", "image": "virt-launcher"}]}}));
    };
    launcher("virt-launcher-vm1-src", json!({}));
    launcher(
        "virt-launcher-vm1-tgt",
        json!({"kubevirt.io/migrationJobUID": "mig-1"}),
    );
    let (src_ns, tgt_ns) = (TempNetns::new(), TempNetns::new());
    let src = run(
        &h,
        "ADD",
        "cid-src",
        &src_ns,
        &conf,
        "virt-launcher-vm1-src",
    );
    src.assert_success();
    let tgt = run(
        &h,
        "ADD",
        "cid-tgt",
        &tgt_ns,
        &conf,
        "virt-launcher-vm1-tgt",
    );
    tgt.assert_success();
    let ip = |r: &testkit::PluginRun| r.json()["ips"][0]["address"].as_str().unwrap().to_string();
    assert_eq!(ip(&src), ip(&tgt), "the VM's address follows it");
    let addr = ip(&src).split('/').next().unwrap().to_string();
    let routes = h.ip(&["-4", "route", "show", &addr]);
    let devs: Vec<&str> = routes
        .lines()
        .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "dev").nth(1))
        .collect();
    assert_eq!(devs.len(), 1, "one host route, the source's: {routes}");
    let src_dev = &src.json()["interfaces"][0]["name"];
    assert_eq!(devs[0], src_dev.as_str().unwrap(), "{routes}");
    assert_eq!(
        annotations(&h, "virt-launcher-vm1-tgt")["cni.projectcalico.org/podIP"],
        ip(&src)
    );
    // Both go; the VM keeps its address (it is not being deleted).
    run(
        &h,
        "DEL",
        "cid-tgt",
        &tgt_ns,
        &conf,
        "virt-launcher-vm1-tgt",
    )
    .assert_success();
    run(
        &h,
        "DEL",
        "cid-src",
        &src_ns,
        &conf,
        "virt-launcher-vm1-src",
    )
    .assert_success();
    assert_eq!(h.ips_by_handle("k8s-pod-network.vmi.test.vm1").len(), 1);
    assert_ipam_consistent(&h, false);
}
