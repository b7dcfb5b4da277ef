//! Who owns an allocation (libcalico-go's `ipam_attributes.go` and `ipam_kubevirt.go`): an
//! address kept for a KubeVirt VM outlives the pods that use it, so its attribute entry names
//! an *active* owner (the `secondary` map: the pod serving the VM now) and, during a live
//! migration, an *alternate* one (the target pod). The CNI sets and clears owners; Felix swaps
//! them when a migration completes.

use std::collections::BTreeMap;
use std::net::IpAddr;

use datastore::model::{Block, ATTR_NAMESPACE, ATTR_POD};
use datastore::{BlockKey, DatastoreError};
use ipnetwork::IpNetwork;

use crate::assign::{Ipam, MAX_RETRIES};
use crate::block_ops::sanitize_handle;
use crate::error::{IpamError, Result};

/// The handle of a KubeVirt VM's addresses (`CreateVMHandleID`): `<network>.vmi.<ns>.<vm>`,
/// the network defaulting to `k8s-pod-network`, cut and hashed beyond 128 bytes. VM and VMI
/// share the name, so every pod of the VM finds the same handle.
pub fn vm_handle_id(network: &str, namespace: &str, vm: &str) -> String {
    let network = if network.is_empty() {
        "k8s-pod-network"
    } else {
        network
    };
    datastore::names::length_limited_id(
        &format!("{network}.vmi."),
        &format!("{namespace}.{vm}"),
        128,
    )
}

/// A pod as an owner (`AttributeOwner`): matched on the `pod` and `namespace` attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner {
    pub namespace: String,
    pub name: String,
}

impl Owner {
    pub fn new(namespace: &str, name: &str) -> Self {
        Owner {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// `MatchAttributeOwner`: the empty owner matches an empty map, any other owner a map
    /// whose `pod` and `namespace` are its own.
    pub fn matches(&self, attrs: &BTreeMap<String, String>) -> bool {
        if self.name.is_empty() && self.namespace.is_empty() {
            return attrs.is_empty();
        }
        attrs.get(ATTR_POD) == Some(&self.name)
            && attrs.get(ATTR_NAMESPACE) == Some(&self.namespace)
    }
}

/// What to do with one owner slot. Go's pair of a map and a `Clear…` flag, which must not
/// both be set, is one value here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum OwnerChange {
    #[default]
    Keep,
    Set(BTreeMap<String, String>),
    Clear,
}

/// `OwnerAttributeUpdates`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerUpdates {
    pub active: OwnerChange,
    pub alternate: OwnerChange,
}

/// `OwnerAttributePreconditions`: the owner a changed slot must hold (the empty owner:
/// none) for the change to apply. Go's `Verify…OwnerEmpty` is `Some(Owner::default())`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerPreconditions {
    pub active: Option<Owner>,
    pub alternate: Option<Owner>,
}

/// An address held by a handle, with the block it lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandleIp {
    pub ip: IpAddr,
    pub block: IpNetwork,
}

/// `GetAssignmentAttributes`: the holder of an address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment {
    pub handle: Option<String>,
    pub active: BTreeMap<String, String>,
    pub alternate: BTreeMap<String, String>,
}

impl Ipam<'_> {
    /// `IPsByHandle`: every address the handle holds, IPv4 first. `NotFound` without the
    /// handle; a block that cannot be read is skipped, as in libcalico-go.
    pub fn ips_by_handle(&self, handle: &str) -> Result<Vec<HandleIp>> {
        let (_, _, cidrs) = self.handle_blocks(handle)?;
        let mut out = Vec::new();
        for cidr in cidrs {
            let Ok(Some(b)) = self.ds.get(&BlockKey::new(cidr)) else {
                continue;
            };
            out.extend(
                crate::block_ops::ordinals_of_handle(&b.value, handle)
                    .into_iter()
                    .filter_map(|o| b.value.ip_at(o))
                    .map(|ip| HandleIp { ip, block: cidr }),
            );
        }
        out.sort_by_key(|h| (h.ip.is_ipv6(), h.ip));
        Ok(out)
    }

    /// `GetAssignmentAttributes`: `NotFound` when the address is not allocated.
    pub fn assignment(&self, at: &HandleIp) -> Result<Assignment> {
        let block = self.ds.get(&BlockKey::new(at.block))?;
        let attr = block
            .as_ref()
            .and_then(|b| Some(b.value.attributes_at(b.value.ordinal_of(at.ip)?)?.clone()))
            .ok_or_else(|| unassigned(at.ip))?;
        Ok(Assignment {
            handle: attr.handle_id.map(|h| sanitize_handle(&h).to_string()),
            active: attr.active_owner_attrs,
            alternate: attr.alternate_owner_attrs,
        })
    }

    /// `SetOwnerAttributes`: changes the owners of the address's attribute entry in place,
    /// with compare-and-swap on the block. A precondition that does not hold is a conflict
    /// returned to the caller (it says someone else moved the owner), not retried here.
    pub fn set_owner_attributes(
        &self,
        at: &HandleIp,
        handle: &str,
        updates: &OwnerUpdates,
        pre: &OwnerPreconditions,
    ) -> Result<()> {
        let key = BlockKey::new(at.block);
        for _ in 0..MAX_RETRIES {
            let Some(cur) = self.ds.get(&key)? else {
                return Err(unassigned(at.ip));
            };
            let mut block = cur.value;
            apply_owner_updates(&mut block, at.ip, handle, updates, pre)?;
            block.sequence_number += 1;
            match self.ds.update(&key, &block, cur.revision) {
                Ok(_) => return Ok(()),
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(IpamError::msg(
            "max retries hit - excessive concurrent IPAM requests",
        ))
    }
}

fn unassigned(ip: IpAddr) -> IpamError {
    DatastoreError::NotFound {
        identifier: format!("IP {ip} is unassigned"),
    }
    .into()
}

/// The block-local part of `SetOwnerAttributes`.
fn apply_owner_updates(
    block: &mut Block,
    ip: IpAddr,
    handle: &str,
    updates: &OwnerUpdates,
    pre: &OwnerPreconditions,
) -> Result<()> {
    let idx = block
        .ordinal_of(ip)
        .and_then(|o| block.allocations.get(o).copied().flatten())
        .ok_or_else(|| unassigned(ip))?;
    let attr = block
        .attributes
        .get_mut(idx)
        .ok_or_else(|| unassigned(ip))?;
    if attr.handle_id.as_deref().map(sanitize_handle) != Some(sanitize_handle(handle)) {
        return Err(IpamError::msg(format!(
            "IP {ip} is not assigned to handle {handle}"
        )));
    }
    let slots = [
        (
            "ActiveOwnerAttrs",
            &updates.active,
            &pre.active,
            &mut attr.active_owner_attrs,
        ),
        (
            "AlternateOwnerAttrs",
            &updates.alternate,
            &pre.alternate,
            &mut attr.alternate_owner_attrs,
        ),
    ];
    for (name, change, expected, slot) in &slots {
        if let (OwnerChange::Set(_) | OwnerChange::Clear, Some(want)) = (change, expected) {
            if !want.matches(slot) {
                return Err(DatastoreError::Conflict {
                    identifier: format!(
                        "cannot set {name}: expected pod={} namespace={} but found pod={} namespace={}",
                        want.name,
                        want.namespace,
                        slot.get(ATTR_POD).map_or("", String::as_str),
                        slot.get(ATTR_NAMESPACE).map_or("", String::as_str),
                    ),
                    current: None,
                }
                .into());
            }
        }
    }
    for (_, change, _, slot) in slots {
        match change {
            OwnerChange::Keep => {}
            OwnerChange::Set(m) => *slot = m.clone(),
            OwnerChange::Clear => slot.clear(),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn owner_attrs(pod: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (ATTR_POD.to_string(), pod.to_string()),
            (ATTR_NAMESPACE.to_string(), "ns".to_string()),
        ])
    }

    fn block_with(handle: &str) -> (Block, IpAddr) {
        let mut b = Block::new("10.0.0.0/30".parse().unwrap(), None, SystemTime::now());
        let ip = crate::block_ops::allocate(&mut b, 1, handle, &owner_attrs("src"), &[])[0];
        (b, ip)
    }

    #[test]
    fn handles_follow_calicos_format() {
        assert_eq!(
            vm_handle_id("", "default", "vm1"),
            "k8s-pod-network.vmi.default.vm1"
        );
        assert_eq!(vm_handle_id("net1", "ns", "Vm"), "net1.vmi.ns.Vm");
        let long = vm_handle_id("", "ns", &"v".repeat(200));
        assert!(
            long.starts_with("k8s-pod-network.vmi._") && long.len() <= 128,
            "{long}"
        );
    }

    #[test]
    fn owners_match_on_pod_and_namespace() {
        assert!(Owner::new("ns", "src").matches(&owner_attrs("src")));
        assert!(!Owner::new("ns", "other").matches(&owner_attrs("src")));
        assert!(Owner::default().matches(&BTreeMap::new()));
        assert!(!Owner::default().matches(&owner_attrs("src")));
    }

    #[test]
    fn updates_check_handle_and_preconditions() {
        let (mut b, ip) = block_with("h");
        let set_alt = OwnerUpdates {
            alternate: OwnerChange::Set(owner_attrs("tgt")),
            ..Default::default()
        };
        let err = apply_owner_updates(&mut b, ip, "other", &set_alt, &Default::default());
        assert_eq!(
            err.unwrap_err().to_string(),
            format!("IP {ip} is not assigned to handle other")
        );
        apply_owner_updates(&mut b, ip, "h", &set_alt, &Default::default()).unwrap();
        assert_eq!(b.attributes[0].alternate_owner_attrs, owner_attrs("tgt"));
        // Clearing the active owner on behalf of a pod that is not it is refused.
        let clear = OwnerUpdates {
            active: OwnerChange::Clear,
            ..Default::default()
        };
        let pre = OwnerPreconditions {
            active: Some(Owner::new("ns", "tgt")),
            alternate: None,
        };
        let err = apply_owner_updates(&mut b, ip, "h", &clear, &pre).unwrap_err();
        assert!(
            err.to_string()
                .contains("expected pod=tgt namespace=ns but found pod=src namespace=ns"),
            "{err}"
        );
        let pre = OwnerPreconditions {
            active: Some(Owner::new("ns", "src")),
            alternate: None,
        };
        apply_owner_updates(&mut b, ip, "h", &clear, &pre).unwrap();
        assert!(b.attributes[0].active_owner_attrs.is_empty());
        let free: IpAddr = "10.0.0.3".parse().unwrap();
        assert!(
            apply_owner_updates(&mut b, free, "h", &clear, &Default::default())
                .unwrap_err()
                .is_not_found()
        );
    }
}
