//! An allocation block (`model.AllocationBlock`), stored at
//! `/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::SystemTime;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use super::{null_as_default, Model};
use crate::keys::AffinityType;

/// Allocation attribute keys the CNI plugin writes into `secondary`.
pub const ATTR_NODE: &str = "node";
pub const ATTR_POD: &str = "pod";
pub const ATTR_NAMESPACE: &str = "namespace";
pub const ATTR_TIMESTAMP: &str = "timestamp";
/// KubeVirt owner keys (Calico v3.32): the VMI, its VM and, on a migration target, the
/// migration (`vmim`).
pub const ATTR_VMI_NAME: &str = "vmi-name";
pub const ATTR_VMI_UID: &str = "vmi-uid";
pub const ATTR_VM_UID: &str = "vm-uid";
pub const ATTR_VMIM_UID: &str = "vmim-uid";

/// A block of addresses carved out of a pool, and who holds which address.
///
/// `allocations[ordinal]` is the index into `attributes` of the holder of the address at that
/// ordinal, or `None` when free; `unallocated` is the queue of free ordinals (allocation takes
/// from the head, release appends to the tail). Every write bumps `sequence_number`, and each
/// allocation records the number it was made at, so a release can tell a reallocated address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub cidr: IpNetwork,
    /// `host:<node>` (or `virtual:<name>`), `null` when the block has no affinity.
    pub affinity: Option<String>,
    /// When the affinity was claimed (RFC 3339; v3.32+); absent on older blocks.
    #[serde(
        rename = "affinity_claim_time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub affinity_claim_time: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub allocations: Vec<Option<usize>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub unallocated: Vec<usize>,
    // Go writes `null` for a fresh block's nil slice and `[]` once emptied; both read back as
    // "no attributes", so this always writes `[]`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub attributes: Vec<AllocationAttribute>,
    #[serde(rename = "sequenceNumber", default)]
    pub sequence_number: u64,
    /// Ordinal (as a decimal string: Kubernetes maps need string keys) → sequence number of the
    /// block when that ordinal was allocated.
    #[serde(
        rename = "sequenceNumberForAllocation",
        default,
        deserialize_with = "null_as_default"
    )]
    pub sequence_number_for_allocation: BTreeMap<String, u64>,
    #[serde(default)]
    pub deleted: bool,
    /// Deprecated pre-v3 form of `affinity` (a bare host name); read, never written by us.
    #[serde(
        rename = "hostAffinity",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub host_affinity: Option<String>,
}

/// Who holds an allocation: the handle and the owner's attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationAttribute {
    #[serde(rename = "handle_id", default, skip_serializing_if = "Option::is_none")]
    pub handle_id: Option<String>,
    /// The active owner's attributes (`node`, `timestamp`, `pod`, `namespace`, ...).
    #[serde(
        rename = "secondary",
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub active_owner_attrs: BTreeMap<String, String>,
    /// The alternate owner during a KubeVirt live migration.
    #[serde(
        rename = "alternate",
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub alternate_owner_attrs: BTreeMap<String, String>,
}

impl Model for Block {}

impl Block {
    /// A new empty block as libcalico-go's `newBlock` makes it: every ordinal free in order, the
    /// sequence number seeded with the creation time in nanoseconds, and (with an affinity) the
    /// claim time set.
    pub fn new(cidr: IpNetwork, affinity: Option<String>, now: SystemTime) -> Block {
        let cidr = crate::keys::normalize(cidr);
        let n = num_addresses(&cidr);
        Block {
            affinity_claim_time: affinity.as_ref().map(|_| crate::time::rfc3339(now)),
            affinity,
            cidr,
            allocations: vec![None; n],
            unallocated: (0..n).collect(),
            attributes: Vec::new(),
            sequence_number: crate::time::unix_nanos(now),
            sequence_number_for_allocation: BTreeMap::new(),
            deleted: false,
            host_affinity: None,
        }
    }

    /// The affinity string for a host: `host:<node>`.
    pub fn host_affinity(node: &str) -> String {
        format!("{}:{node}", AffinityType::Host.as_str())
    }

    /// The affinity's type and owner, if the block has one.
    pub fn affinity_owner(&self) -> Option<(AffinityType, &str)> {
        let a = self.affinity.as_deref()?;
        if let Some(host) = a.strip_prefix("host:") {
            Some((AffinityType::Host, host))
        } else {
            a.strip_prefix("virtual:")
                .map(|name| (AffinityType::Virtual, name))
        }
    }

    /// The host this block is affine to (libcalico-go's `Host()`: the owner of either type).
    pub fn host(&self) -> Option<&str> {
        self.affinity_owner().map(|(_, owner)| owner)
    }

    pub fn num_addresses(&self) -> usize {
        num_addresses(&self.cidr)
    }

    /// How far into the block `ip` lies, if it is in the block.
    pub fn ordinal_of(&self, ip: IpAddr) -> Option<usize> {
        if !self.cidr.contains(ip) {
            return None;
        }
        let offset = match (ip, self.cidr.network()) {
            (IpAddr::V4(ip), IpAddr::V4(base)) => u128::from(u32::from(ip) - u32::from(base)),
            (IpAddr::V6(ip), IpAddr::V6(base)) => u128::from(ip) - u128::from(base),
            _ => return None,
        };
        usize::try_from(offset)
            .ok()
            .filter(|&o| o < self.num_addresses())
    }

    /// The address at `ordinal` (0 is the block's first address).
    pub fn ip_at(&self, ordinal: usize) -> Option<IpAddr> {
        if ordinal >= self.num_addresses() {
            return None;
        }
        Some(match self.cidr.network() {
            IpAddr::V4(base) => IpAddr::V4(Ipv4Addr::from(u32::from(base) + ordinal as u32)),
            IpAddr::V6(base) => IpAddr::V6(Ipv6Addr::from(u128::from(base) + ordinal as u128)),
        })
    }

    /// How many addresses are allocated.
    pub fn in_use(&self) -> usize {
        self.allocations.iter().filter(|a| a.is_some()).count()
    }

    /// True when no address is allocated.
    pub fn is_empty(&self) -> bool {
        self.allocations.iter().all(Option::is_none)
    }

    /// The attributes of the allocation at `ordinal`, if allocated.
    pub fn attributes_at(&self, ordinal: usize) -> Option<&AllocationAttribute> {
        let idx = (*self.allocations.get(ordinal)?)?;
        self.attributes.get(idx)
    }

    /// The sequence number the allocation at `ordinal` was made at (0 when unknown).
    pub fn sequence_number_for(&self, ordinal: usize) -> u64 {
        self.sequence_number_for_allocation
            .get(&ordinal.to_string())
            .copied()
            .unwrap_or(0)
    }
}

/// Addresses in a block; blocks are small (Calico allows /20../32 and /116../128), so the cap
/// only keeps a corrupt CIDR from asking for an absurd allocation vector.
fn num_addresses(cidr: &IpNetwork) -> usize {
    let max = if cidr.is_ipv4() { 32 } else { 128 };
    let host_bits = u32::from(max - cidr.prefix().min(max)).min(24);
    1usize << host_bits
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn new_block_is_libcalico_gos() {
        let now = UNIX_EPOCH + Duration::new(1_787_405_600, 42);
        let b = Block::new(
            "10.0.0.2/30".parse().unwrap(),
            Some(Block::host_affinity("node1")),
            now,
        );
        assert_eq!(b.cidr.to_string(), "10.0.0.0/30");
        assert_eq!(b.allocations, vec![None; 4]);
        assert_eq!(b.unallocated, vec![0, 1, 2, 3]);
        assert_eq!(b.sequence_number, 1_787_405_600_000_000_042);
        assert_eq!(
            b.affinity_claim_time.as_deref(),
            Some("2026-08-22T13:33:20Z")
        );
        assert_eq!(b.host(), Some("node1"));
        assert!(b.is_empty());
        assert_eq!(
            String::from_utf8(b.encode()).unwrap(),
            r#"{"cidr":"10.0.0.0/30","affinity":"host:node1","affinity_claim_time":"2026-08-22T13:33:20Z","allocations":[null,null,null,null],"unallocated":[0,1,2,3],"attributes":[],"sequenceNumber":1787405600000000042,"sequenceNumberForAllocation":{},"deleted":false}"#
        );
    }

    #[test]
    fn ordinals_and_addresses() {
        let b = Block::new("fd80::/122".parse().unwrap(), None, UNIX_EPOCH);
        assert_eq!(b.num_addresses(), 64);
        assert_eq!(b.ordinal_of("fd80::3f".parse().unwrap()), Some(63));
        assert_eq!(b.ordinal_of("fd80::40".parse().unwrap()), None);
        assert_eq!(b.ordinal_of("10.0.0.1".parse().unwrap()), None);
        assert_eq!(b.ip_at(5), Some("fd80::5".parse().unwrap()));
        assert_eq!(b.ip_at(64), None);
        assert_eq!(b.affinity_claim_time, None);
        assert_eq!(b.host(), None);
    }

    #[test]
    fn reads_go_nulls_and_virtual_affinities() {
        let b = Block::decode(
            br#"{"cidr":"10.0.0.0/31","affinity":"virtual:lb1","allocations":[0,null],"unallocated":[1],"attributes":null,"sequenceNumber":7,"sequenceNumberForAllocation":null,"deleted":false,"strictAffinity":false}"#,
        )
        .unwrap();
        assert_eq!(b.affinity_owner(), Some((AffinityType::Virtual, "lb1")));
        assert!(b.attributes.is_empty());
        assert_eq!(b.in_use(), 1);
        assert_eq!(b.attributes_at(0), None, "index 0 has no attribute entry");
        assert_eq!(b.sequence_number_for(0), 0);
    }
}
