//! KubeVirt VM address persistence on the Kubernetes datastore (testkit's stand-in API server,
//! serving KubeVirt's kinds; the plugin runs with the calico-cni-plugin role, which may get
//! VMs and VMIs): Calico v3.32's `kubevirt_ipam_test.go` scenarios through the binary. A VM
//! keeps its addresses across launcher pods, a live-migration target shares them without
//! routes, and they are released only when the VM is being deleted and no pod owns them.

mod common;

use std::collections::BTreeMap;

use common::Backend;
use datastore::BlockList;
use serde_json::{json, Value};
use testkit::KubeApi;

const NS: &str = "vmns";
const VM: &str = "test-vm";
const HANDLE: &str = "net1.vmi.vmns.test-vm";

struct Cluster {
    b: Backend,
    conf: Value,
    vm_uid: String,
    vmi_uid: String,
}

impl Cluster {
    /// Dual-stack pools, the namespace, and a VM with its VMI (`standalone`: a VMI with no
    /// VM).
    fn new(standalone: bool) -> Cluster {
        Cluster::on(Backend::kdd_kubevirt(), standalone)
    }

    /// On `b`'s store; off KDD the pods and VMs come from a separate API, which the NetConf's
    /// kubeconfig names (as with Calico on etcd in a Kubernetes cluster).
    fn on(b: Backend, standalone: bool) -> Cluster {
        b.pool("v4", "192.168.0.0/16", |_| {});
        b.pool("v6", "fd80:24e2:f998:72d6::/64", |_| {});
        b.namespace(NS, json!({}));
        let mut conf = b.conf(
            "1.0.0",
            "node1",
            json!({"assign_ipv4": "true", "assign_ipv6": "true"}),
        );
        if !b.is_kdd() {
            conf["kubernetes"] = json!({"kubeconfig": b.kubeconfig()});
        }
        let api = b.api();
        let mut vm_uid = String::new();
        let mut vmi = json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
            "metadata": {"name": VM, "namespace": NS}, "spec": {}});
        if !standalone {
            let vm = api.create(
                json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
                "metadata": {"name": VM, "namespace": NS}, "spec": {"running": true}}),
            );
            vm_uid = uid(&vm);
            vmi["metadata"]["ownerReferences"] = json!([{"apiVersion": "kubevirt.io/v1",
                "kind": "VirtualMachine", "name": VM, "uid": vm_uid, "controller": true}]);
        }
        let vmi_uid = uid(&api.create(vmi));
        Cluster {
            b,
            conf,
            vm_uid,
            vmi_uid,
        }
    }

    fn api(&self) -> &KubeApi {
        self.b.api()
    }

    /// A launcher pod of the VMI; a migration target carries KubeVirt's migration label.
    fn pod(&self, suffix: &str, migration: Option<&str>) -> String {
        let name = format!("virt-launcher-{VM}-{suffix}");
        let mut labels = json!({"kubevirt.io/domain": VM});
        if let Some(m) = migration {
            labels["kubevirt.io/migrationJobUID"] = json!(m);
        }
        self.api().create(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": labels,
                "ownerReferences": [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                    "name": VM, "uid": self.vmi_uid, "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"nodeName": "node1", "containers": [{"name": "compute", "image": "virt-launcher"}]}}));
        name
    }

    fn run(&self, cmd: &str, pod: &str) -> testkit::PluginRun {
        let args = format!(
            "IgnoreUnknown=1;K8S_POD_NAME={pod};K8S_POD_NAMESPACE={NS};K8S_POD_INFRA_CONTAINER_ID=cid-{pod}"
        );
        self.b.run(cmd, &format!("cid-{pod}"), &args, &self.conf)
    }

    fn add(&self, pod: &str) -> Value {
        let r = self.run("ADD", pod);
        assert!(r.success(), "ADD {pod}: {} {}", r.stdout, r.stderr);
        r.json()
    }

    fn del(&self, pod: &str) {
        let r = self.run("DEL", pod);
        assert!(r.success(), "DEL {pod}: {} {}", r.stdout, r.stderr);
    }

    /// Marks an object deleted while a finalizer holds it, as a VM being torn down is.
    fn deleting(&self, resource: &str) {
        let mut obj = self
            .api()
            .get("kubevirt.io/v1", resource, Some(NS), VM)
            .unwrap();
        obj["metadata"]["finalizers"] = json!(["test/hold"]);
        self.api().update(obj);
        self.api().delete("kubevirt.io/v1", resource, Some(NS), VM);
        assert!(self
            .api()
            .get("kubevirt.io/v1", resource, Some(NS), VM)
            .unwrap()
            .pointer("/metadata/deletionTimestamp")
            .is_some());
    }

    /// The VM handle's addresses → (active owner, alternate owner).
    fn owners(&self) -> BTreeMap<String, (Owner, Owner)> {
        let mut out = BTreeMap::new();
        for (_, b) in self.b.ds().list(&BlockList::default()).unwrap() {
            for o in 0..b.value.allocations.len() {
                let Some(a) = b.value.attributes_at(o) else {
                    continue;
                };
                if a.handle_id.as_deref() == Some(HANDLE) {
                    out.insert(
                        b.value.ip_at(o).unwrap().to_string(),
                        (
                            a.active_owner_attrs.clone(),
                            a.alternate_owner_attrs.clone(),
                        ),
                    );
                }
            }
        }
        out
    }
}

type Owner = BTreeMap<String, String>;

fn uid(obj: &Value) -> String {
    obj["metadata"]["uid"].as_str().unwrap().to_string()
}

fn ips(result: &Value) -> Vec<String> {
    result["ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["address"].as_str().unwrap().to_string())
        .collect()
}

fn bare(ips: &[String]) -> Vec<String> {
    ips.iter()
        .map(|a| a.split('/').next().unwrap().to_string())
        .collect()
}

#[test]
fn a_vm_keeps_its_addresses_when_its_pod_is_recreated() {
    let c = Cluster::new(false);
    let a = c.pod("a", None);
    let first = c.add(&a);
    let got = ips(&first);
    assert_eq!(got.len(), 2, "{first}");
    assert!(
        got[0].ends_with("/26") && got[1].ends_with("/122"),
        "{got:?}"
    );
    assert_eq!(first["routes"].as_array().unwrap().len(), 2, "{first}");
    let owners = c.owners();
    assert_eq!(owners.keys().cloned().collect::<Vec<_>>(), {
        let mut v = bare(&got);
        v.sort();
        v
    });
    for (active, alternate) in owners.values() {
        assert_eq!(active["pod"], a);
        assert_eq!(active["namespace"], NS);
        assert_eq!(active["vmi-name"], VM);
        assert_eq!(active["vmi-uid"], c.vmi_uid);
        assert_eq!(active["vm-uid"], c.vm_uid);
        assert!(!active.contains_key("vmim-uid"));
        assert!(alternate.is_empty());
    }
    assert!(
        c.b.handles().iter().any(|h| h == HANDLE),
        "{:?}",
        c.b.handles()
    );

    // The pod goes: its ownership goes, the addresses stay with the VM.
    c.del(&a);
    let owners = c.owners();
    assert_eq!(owners.len(), 2, "kept: {owners:?}");
    assert!(owners.values().all(|(x, y)| x.is_empty() && y.is_empty()));
    c.api().delete("v1", "pods", Some(NS), &a);

    // Its replacement gets the same addresses, as host routes, and owns them.
    let b = c.pod("b", None);
    let second = c.add(&b);
    assert_eq!(bare(&ips(&second)), bare(&got));
    assert_eq!(
        ips(&second)
            .iter()
            .map(|a| a.split('/').nth(1).unwrap())
            .collect::<Vec<_>>(),
        ["32", "128"]
    );
    assert_eq!(second["routes"].as_array().unwrap().len(), 2, "{second}");
    assert!(c.owners().values().all(|(x, _)| x["pod"] == b));
    // ADD again (a runtime retry) changes nothing.
    assert_eq!(bare(&ips(&c.add(&b))), bare(&got));
}

#[test]
fn a_migration_target_shares_the_addresses_without_routes() {
    let c = Cluster::new(false);
    let src = c.pod("src", None);
    let got = bare(&ips(&c.add(&src)));
    let tgt = c.pod("tgt", Some("mig-uid-1"));
    let r = c.add(&tgt);
    assert_eq!(bare(&ips(&r)), got);
    assert!(
        r.get("routes").is_none(),
        "no routes: the calico plugin leaves the host routes to the source node: {r}"
    );
    for (active, alternate) in c.owners().values() {
        assert_eq!(active["pod"], src);
        assert_eq!(alternate["pod"], tgt);
        assert_eq!(alternate["vmim-uid"], "mig-uid-1");
    }
    c.del(&src);
    for (active, alternate) in c.owners().values() {
        assert!(active.is_empty());
        assert_eq!(alternate["pod"], tgt);
    }
    c.del(&tgt);
    let owners = c.owners();
    assert_eq!(owners.len(), 2, "the VM still has them: {owners:?}");
    assert!(owners.values().all(|(x, y)| x.is_empty() && y.is_empty()));
}

#[test]
fn a_recreated_vmi_finds_the_vms_addresses() {
    let c = Cluster::new(false);
    let a = c.pod("a", None);
    let got = bare(&ips(&c.add(&a)));
    // The VMI is replaced (new UID); the old pod is orphaned without a DEL.
    c.api()
        .delete("kubevirt.io/v1", "virtualmachineinstances", Some(NS), VM);
    let vmi = c.api().create(json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
        "metadata": {"name": VM, "namespace": NS, "ownerReferences": [{"apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachine", "name": VM, "uid": c.vm_uid, "controller": true}]}, "spec": {}}));
    let c = Cluster {
        vmi_uid: uid(&vmi),
        ..c
    };
    let b = c.pod("b", None);
    assert_eq!(bare(&ips(&c.add(&b))), got);
    assert!(c
        .owners()
        .values()
        .all(|(x, _)| x["pod"] == b && x["vmi-uid"] == c.vmi_uid));
}

#[test]
fn addresses_are_released_only_when_the_vm_is_deleted_and_no_pod_owns_them() {
    // Without the VM being deleted: kept.
    let c = Cluster::new(false);
    let a = c.pod("a", None);
    c.add(&a);
    c.del(&a);
    assert_eq!(c.owners().len(), 2);

    // Only the VMI being deleted (the VM restarts it): kept.
    let c = Cluster::new(false);
    let a = c.pod("a", None);
    c.add(&a);
    c.deleting("virtualmachineinstances");
    c.del(&a);
    assert_eq!(c.owners().len(), 2);

    // The VM being deleted, source then target: the target still owns them after the first
    // DEL, the second releases them, handle included.
    for target_first in [false, true] {
        let c = Cluster::new(false);
        let src = c.pod("src", None);
        c.add(&src);
        let tgt = c.pod("tgt", Some("mig-1"));
        c.add(&tgt);
        c.deleting("virtualmachines");
        let (first, second) = if target_first {
            (&tgt, &src)
        } else {
            (&src, &tgt)
        };
        c.del(first);
        assert_eq!(c.owners().len(), 2, "another pod owns them");
        c.del(second);
        assert!(c.owners().is_empty(), "{:?}", c.owners());
        assert!(c.b.allocations().is_empty(), "{:?}", c.b.allocations());
        assert!(c.b.handles().is_empty(), "{:?}", c.b.handles());
        // A repeated DEL finds nothing and succeeds (Calico fails it: no handle).
        c.del(second);
    }
}

#[test]
fn a_standalone_vmi_being_deleted_releases_its_addresses() {
    let c = Cluster::new(true);
    let a = c.pod("a", None);
    let r = c.add(&a);
    assert!(
        c.owners().values().all(|(x, _)| !x.contains_key("vm-uid")),
        "{r}"
    );
    c.deleting("virtualmachineinstances");
    c.del(&a);
    assert!(c.b.allocations().is_empty());
}

#[test]
fn del_of_a_pod_already_gone_takes_the_usual_path() {
    let c = Cluster::new(false);
    let a = c.pod("a", None);
    c.add(&a);
    c.api().delete("v1", "pods", Some(NS), &a);
    c.del(&a);
    // The usual path releases `net1.<cid>` and `<ns>.<pod>`, never the VM's handle.
    let owners = c.owners();
    assert_eq!(owners.len(), 2);
    assert!(owners.values().all(|(x, _)| x["pod"] == a));
    c.del(&a);
}

#[test]
fn a_pod_of_a_missing_vmi_fails_the_add() {
    let c = Cluster::new(false);
    c.api()
        .delete("kubevirt.io/v1", "virtualmachineinstances", Some(NS), VM);
    let a = c.pod("a", None);
    let r = c.run("ADD", &a);
    assert!(!r.success());
    let err = r.json();
    assert!(
        err["msg"]
            .as_str()
            .unwrap()
            .starts_with("failed to get VMI info: failed to query VMI resource vmns/test-vm: "),
        "{err}"
    );
    assert!(err["msg"].as_str().unwrap().contains("not found"), "{err}");
    assert!(c.b.allocations().is_empty());
}

#[test]
fn with_persistence_disabled_launcher_pods_are_ordinary_pods() {
    let c = Cluster::new(false);
    c.api().create(
        json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMConfig",
        "metadata": {"name": "default"},
        "spec": {"strictAffinity": false, "autoAllocateBlocks": true,
                 "kubeVirtVMAddressPersistence": "Disabled"}}),
    );
    let tgt = c.pod("tgt", Some("mig-1"));
    let r = c.run("ADD", &tgt);
    assert!(!r.success());
    assert_eq!(
        r.json()["msg"],
        "live migration target pod is not allowed when KubeVirtVMAddressPersistence is disabled"
    );
    let a = c.pod("a", None);
    let first = bare(&ips(&c.add(&a)));
    let b = c.pod("b", None);
    let second = bare(&ips(&c.add(&b)));
    assert_ne!(first, second, "no sharing");
    assert!(c.owners().is_empty(), "nothing on the VM handle");
    let handles = c.b.handles();
    assert!(handles.contains(&format!("net1.cid-{a}")), "{handles:?}");
    c.del(&a);
    c.del(&b);
    assert!(c.b.allocations().is_empty());
}

#[test]
fn other_pods_cost_no_kubevirt_request() {
    let c = Cluster::new(false);
    c.api().clear_requests();
    let r = c.b.run(
        "ADD",
        "cid-web",
        &format!("K8S_POD_NAME=web-0;K8S_POD_NAMESPACE={NS};K8S_POD_INFRA_CONTAINER_ID=cid-web"),
        &c.conf,
    );
    assert!(r.success(), "{}", r.stdout);
    assert_eq!(c.api().count("GET", "/pods/"), 0);
    assert_eq!(c.api().count("GET", "kubevirt.io"), 0);
    // A launcher pod reads its pod, VMI and VM.
    let a = c.pod("a", None);
    c.api().clear_requests();
    c.add(&a);
    assert_eq!(c.api().count("GET", "/pods/"), 1);
    assert_eq!(c.api().count("GET", "/virtualmachineinstances/"), 1);
    assert_eq!(c.api().count("GET", "/virtualmachines/"), 1);
}

#[test]
fn gc_leaves_a_vms_handle_to_the_vm() {
    let c = Cluster::new(false);
    let a = c.pod("a", None);
    c.add(&a);
    let mut gc = c.conf.clone();
    gc["cniVersion"] = json!("1.1.0");
    gc["cni.dev/valid-attachments"] = json!([]);
    let r = c.b.run("GC", "", "", &gc);
    assert!(r.success(), "{} {}", r.stdout, r.stderr);
    assert_eq!(c.owners().len(), 2, "no container holds a VM's addresses");
}

/// The same handshake on the local store and etcd (the VMs read from the API the NetConf's
/// kubeconfig names): a migration target shares the source's addresses, and the VM's
/// deletion releases them after both DELs.
fn migration_then_vm_deletion(b: Backend) {
    let c = Cluster::on(b, false);
    let src = c.pod("src", None);
    let got = bare(&ips(&c.add(&src)));
    let tgt = c.pod("tgt", Some("mig-1"));
    let r = c.add(&tgt);
    assert_eq!(bare(&ips(&r)), got);
    assert!(r.get("routes").is_none(), "{r}");
    assert!(c
        .owners()
        .values()
        .all(|(x, y)| x["pod"] == src && y["pod"] == tgt));
    c.deleting("virtualmachines");
    c.del(&src);
    assert_eq!(c.owners().len(), 2);
    c.del(&tgt);
    assert!(c.b.allocations().is_empty(), "{:?}", c.b.allocations());
    assert!(c.b.handles().is_empty(), "{:?}", c.b.handles());
}

#[test]
fn migration_then_vm_deletion_on_the_local_store() {
    migration_then_vm_deletion(Backend::local());
}

#[test]
fn migration_then_vm_deletion_on_etcd() {
    migration_then_vm_deletion(Backend::etcd());
}
