//! KubeVirt VM address persistence (Calico v3.32, `ipam_plugin.go` and
//! `libcalico-go/lib/kubevirt`): a VM keeps its addresses while its virt-launcher pods come
//! and go (restart, live migration, VMI recreation). Its addresses live on one handle per VM
//! (`<network>.vmi.<ns>.<vm>`); each pod using them is recorded as the active owner, or, for
//! a live-migration target, the alternate one. DEL clears the pod's ownership and gives the
//! addresses back only when the VM (or a VM-less VMI) is being deleted and no pod owns them.

use std::collections::BTreeMap;

use calicolog::{debug, info};
use datastore::model::{ATTR_VMIM_UID, ATTR_VMI_NAME, ATTR_VMI_UID, ATTR_VM_UID};
use datastore::{Datastore, IpamConfigKey};
use ipam::owner::{HandleIp, Owner, OwnerChange, OwnerPreconditions, OwnerUpdates};
use ipam::Ipam;
use libcni::{CniCode, CniError};
use serde_json::Value;

use crate::config::Args;

/// Only KubeVirt's launcher pods are looked up (as Calico's `MaybeVirtLauncherPod`), so
/// other pods cost no API request.
const LAUNCHER_PREFIX: &str = "virt-launcher-";
/// The label KubeVirt puts on a live-migration target pod: the migration's UID.
const MIGRATION_JOB_LABEL: &str = "kubevirt.io/migrationJobUID";
const API_VERSION: &str = "kubevirt.io/v1";

/// What Calico reads of a launcher pod's VMI (`PodVMIInfo`).
#[derive(Debug, Clone)]
pub struct Vmi {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub deleting: bool,
    /// The VirtualMachine owning the VMI, if any: its UID and whether it is being deleted.
    pub vm: Option<(String, bool)>,
    /// Set on a migration target pod.
    pub migration_uid: Option<String>,
}

impl Vmi {
    pub fn is_migration_target(&self) -> bool {
        self.migration_uid.is_some()
    }

    /// The VM's deletion (or a standalone VMI's) is what frees the addresses.
    fn being_deleted(&self) -> bool {
        match &self.vm {
            Some((_, deleting)) => *deleting,
            None => self.deleting,
        }
    }

    /// The handle all of the VM's pods share.
    pub fn handle(&self, network: &str) -> String {
        ipam::owner::vm_handle_id(network, &self.namespace, &self.name)
    }

    /// The owner attributes a pod of this VMI adds to `node`, `timestamp`, `pod` and
    /// `namespace`.
    pub fn add_attrs(&self, attrs: &mut BTreeMap<String, String>) {
        attrs.insert(ATTR_VMI_NAME.into(), self.name.clone());
        attrs.insert(ATTR_VMI_UID.into(), self.uid.clone());
        if let Some((uid, _)) = &self.vm {
            attrs.insert(ATTR_VM_UID.into(), uid.clone());
        }
        if let Some(uid) = &self.migration_uid {
            attrs.insert(ATTR_VMIM_UID.into(), uid.clone());
        }
    }
}

/// `getVMIInfoForPod`: the VMI of a k8s launcher pod, `None` for any other pod or when the
/// pod is gone. Any other failure is `failed to get VMI info: …`.
pub fn lookup(
    args: &Args,
    client: impl FnOnce() -> Result<kubeclient::Client, CniError>,
) -> Result<Option<Vmi>, CniError> {
    if !args.is_k8s() || !args.pod.starts_with(LAUNCHER_PREFIX) {
        return Ok(None);
    }
    let fail = |e: String| CniError::internal(format!("failed to get VMI info: {e}"));
    let client = client().map_err(|e| CniError {
        msg: format!("failed to get VMI info: {}", e.msg),
        ..e
    })?;
    let pod = match client.get(&format!(
        "/api/v1/namespaces/{}/pods/{}",
        args.namespace, args.pod
    )) {
        Ok(p) => p,
        // Calico (#12005): a pod already gone is not a VM's pod; DEL takes the usual path.
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(fail(e.to_string())),
    };
    vmi_of_pod(&client, &pod, &args.namespace, &args.pod).map_err(fail)
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// `GetPodVMIInfo`: the controller owner reference of kind VirtualMachineInstance makes a
/// launcher pod; the VMI and its VirtualMachine owner are then read.
fn vmi_of_pod(
    client: &kubeclient::Client,
    pod: &Value,
    namespace: &str,
    pod_name: &str,
) -> Result<Option<Vmi>, String> {
    let owners = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let Some(owner) = owners.iter().find(|o| {
        str_at(o, "/apiVersion") == API_VERSION
            && str_at(o, "/kind") == "VirtualMachineInstance"
            && o.get("controller").and_then(Value::as_bool) == Some(true)
    }) else {
        return Ok(None);
    };
    let (name, uid) = (str_at(owner, "/name"), str_at(owner, "/uid"));
    if name.is_empty() || uid.is_empty() {
        return Err(format!(
            "pod {namespace}/{pod_name} has invalid VMI ownerReference: name={name:?} uid={uid:?}"
        ));
    }
    let query =
        |e: kubeclient::Error| format!("failed to query VMI resource {namespace}/{name}: {e}");
    let vmi = client
        .get(&format!(
            "/apis/kubevirt.io/v1/namespaces/{namespace}/virtualmachineinstances/{name}"
        ))
        .map_err(query)?;
    let vm = vmi
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|refs| {
            refs.iter().find(|o| {
                str_at(o, "/apiVersion") == API_VERSION
                    && str_at(o, "/kind") == "VirtualMachine"
                    && !str_at(o, "/name").is_empty()
            })
        });
    let vm = match vm {
        None => None,
        Some(o) => {
            let vm = client
                .get(&format!(
                    "/apis/kubevirt.io/v1/namespaces/{namespace}/virtualmachines/{}",
                    str_at(o, "/name")
                ))
                .map_err(query)?;
            Some((
                str_at(&vm, "/metadata/uid").to_string(),
                vm.pointer("/metadata/deletionTimestamp").is_some(),
            ))
        }
    };
    let vmi_uid = str_at(&vmi, "/metadata/uid");
    if vmi_uid != uid {
        return Err(format!(
            "VMI UID mismatch: pod ownerReference has {uid} but VMI resource has {vmi_uid}"
        ));
    }
    let migration_uid = Some(str_at(
        pod,
        &format!(
            "/metadata/labels/{}",
            MIGRATION_JOB_LABEL.replace('/', "~1")
        ),
    ))
    .filter(|s| !s.is_empty())
    .map(str::to_string);
    Ok(Some(Vmi {
        name: name.to_string(),
        namespace: namespace.to_string(),
        uid: vmi_uid.to_string(),
        deleting: vmi.pointer("/metadata/deletionTimestamp").is_some(),
        vm,
        migration_uid,
    }))
}

/// `kubeVirtVMAddressPersistence` of the IPAM configuration: on unless it says `Disabled`;
/// a failed read counts as on, as in Calico.
pub fn persistence_enabled(ds: &Datastore) -> bool {
    match ds.get(&IpamConfigKey) {
        Ok(Some(c)) => c.value.vm_address_persistence(),
        Ok(None) => true,
        Err(e) => {
            debug!("Failed to read the IPAM configuration, VM address persistence on: {e}");
            true
        }
    }
}

/// What ADD hands back when the VM already has addresses.
pub struct Reused {
    pub ips: Vec<ipnetwork::IpNetwork>,
    /// A migration target gets no routes, which tells the calico plugin to leave the host
    /// routes where they are (the source node keeps them until the migration completes).
    pub routes: bool,
}

/// `handleVirtLauncherPod`: the VM's addresses, now also this pod's (the active owner for a
/// source pod, the alternate for a migration target), as /32 and /128. `None` when the VM
/// has none yet and this pod may allocate them; a migration target may not.
pub fn reuse(
    ipam: &Ipam,
    handle: &str,
    attrs: &BTreeMap<String, String>,
    vmi: &Vmi,
) -> Result<Option<Reused>, CniError> {
    let existing = ipam.ips_by_handle(handle);
    let ips = match existing {
        Ok(ips) if !ips.is_empty() => ips,
        other => {
            if !vmi.is_migration_target() {
                return Ok(None);
            }
            return Err(CniError::internal(match other {
                Err(e) => {
                    format!("migration target pod but no IP allocated to VMI handle {handle}: {e}")
                }
                Ok(_) => format!("migration target pod but no IP allocated to VMI handle {handle}"),
            }));
        }
    };
    // Unconditional, as in Calico: back-to-back migrations replace the previous owner.
    let change = OwnerChange::Set(attrs.clone());
    let updates = if vmi.is_migration_target() {
        OwnerUpdates {
            alternate: change,
            ..Default::default()
        }
    } else {
        OwnerUpdates {
            active: change,
            ..Default::default()
        }
    };
    for at in &ips {
        ipam.set_owner_attributes(at, handle, &updates, &OwnerPreconditions::default())
            .map_err(|e| {
                CniError::internal(format!(
                    "failed to set owner attributes for IP {}: {e}",
                    at.ip
                ))
            })?;
    }
    info!(
        "Reusing the VM's addresses {:?} HandleID={handle:?}",
        ips.iter().map(|h| h.ip.to_string()).collect::<Vec<_>>()
    );
    Ok(Some(Reused {
        ips: ips
            .iter()
            .map(|h| ipnetwork::IpNetwork::from(h.ip))
            .collect(),
        routes: !vmi.is_migration_target(),
    }))
}

/// DEL of a VM's pod: the pod stops owning the VM's addresses; they are released only when
/// the VM is being deleted and no pod owns any of them. Without the handle there is nothing
/// to do (Calico fails this DEL; a DEL must succeed when things are already gone).
pub fn release(ipam: &Ipam, handle: &str, vmi: &Vmi, pod: &Owner) -> Result<(), CniError> {
    let ips = match ipam.ips_by_handle(handle) {
        Ok(ips) => ips,
        Err(e) if e.is_not_found() => {
            debug!("No addresses on the VM's handle HandleID={handle:?}");
            return Ok(());
        }
        Err(e) => return Err(e.to_cni()),
    };
    for at in &ips {
        clear_owner(ipam, handle, at, pod)?;
    }
    let mut owned = false;
    for at in &ips {
        let a = ipam.assignment(at).map_err(|e| {
            CniError::internal(format!(
                "failed to verify owner attributes after cleanup for IP {}: {e}",
                at.ip
            ))
        })?;
        owned |= !a.active.is_empty() || !a.alternate.is_empty();
    }
    if !vmi.being_deleted() || owned {
        info!(
            "Keeping the VM's addresses HandleID={handle:?} (VM deleting={}, owned={owned})",
            vmi.being_deleted()
        );
        return Ok(());
    }
    info!("Releasing address using handle HandleID={handle:?}");
    match ipam.release_by_handle(handle) {
        Ok(()) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.to_cni()),
    }
}

/// Clears whichever owner slot names `pod`, on condition that it still does (Felix may be
/// swapping them): a lost race fails the DEL, which the runtime retries.
fn clear_owner(ipam: &Ipam, handle: &str, at: &HandleIp, pod: &Owner) -> Result<(), CniError> {
    let a = match ipam.assignment(at) {
        Ok(a) => a,
        Err(e) => {
            debug!("Cannot read the owners of {}: {e}", at.ip);
            return Ok(());
        }
    };
    let (updates, pre) = if pod.matches(&a.active) {
        (
            OwnerUpdates {
                active: OwnerChange::Clear,
                ..Default::default()
            },
            OwnerPreconditions {
                active: Some(pod.clone()),
                alternate: None,
            },
        )
    } else if pod.matches(&a.alternate) {
        (
            OwnerUpdates {
                alternate: OwnerChange::Clear,
                ..Default::default()
            },
            OwnerPreconditions {
                active: None,
                alternate: Some(pod.clone()),
            },
        )
    } else {
        return Ok(());
    };
    ipam.set_owner_attributes(at, handle, &updates, &pre)
        .map_err(|e| e.to_cni())
}
