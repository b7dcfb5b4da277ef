//! Pure edits of an allocation block: take free ordinals, give them back, keep `attributes`
//! compact. The callers write the block back with compare-and-swap.

use std::collections::BTreeMap;
use std::net::IpAddr;

use datastore::model::{AllocationAttribute, Block};
use ipnetwork::IpNetwork;

/// Does any reservation cover `ip`?
pub fn reserved(reservations: &[IpNetwork], ip: IpAddr) -> bool {
    reservations.iter().any(|r| r.contains(ip))
}

/// Free ordinals of `block` not covered by a reservation.
pub fn free_count(block: &Block, reservations: &[IpNetwork]) -> usize {
    block
        .unallocated
        .iter()
        .filter(|&&o| block.ip_at(o).is_some_and(|ip| !reserved(reservations, ip)))
        .count()
}

/// Index of the attribute entry for (handle, attrs), added when new: allocations made by one
/// request share one entry, as in libcalico-go.
fn attribute_index(block: &mut Block, handle: &str, attrs: &BTreeMap<String, String>) -> usize {
    let want = AllocationAttribute {
        handle_id: Some(handle.to_string()),
        active_owner_attrs: attrs.clone(),
        alternate_owner_attrs: BTreeMap::new(),
    };
    if let Some(i) = block.attributes.iter().position(|a| *a == want) {
        return i;
    }
    block.attributes.push(want);
    block.attributes.len() - 1
}

/// Takes up to `num` free ordinals from the head of `unallocated`, skipping reserved addresses
/// (which stay where they are), and records them for `handle`. Returns the addresses taken.
pub fn allocate(
    block: &mut Block,
    num: usize,
    handle: &str,
    attrs: &BTreeMap<String, String>,
    reservations: &[IpNetwork],
) -> Vec<IpAddr> {
    let mut taken = Vec::new();
    let mut keep = Vec::with_capacity(block.unallocated.len());
    for &o in &block.unallocated {
        match block.ip_at(o) {
            Some(ip) if taken.len() < num && !reserved(reservations, ip) => taken.push((o, ip)),
            _ => keep.push(o),
        }
    }
    if taken.is_empty() {
        return Vec::new();
    }
    block.unallocated = keep;
    let idx = attribute_index(block, handle, attrs);
    for &(o, _) in &taken {
        block.allocations[o] = Some(idx);
        block
            .sequence_number_for_allocation
            .insert(o.to_string(), block.sequence_number);
    }
    block.sequence_number += 1;
    taken.into_iter().map(|(_, ip)| ip).collect()
}

/// Allocates one specific ordinal; false when it is already taken.
pub fn allocate_ordinal(
    block: &mut Block,
    ordinal: usize,
    handle: &str,
    attrs: &BTreeMap<String, String>,
) -> bool {
    if block.allocations.get(ordinal).is_none_or(|a| a.is_some()) {
        return false;
    }
    block.unallocated.retain(|&o| o != ordinal);
    let idx = attribute_index(block, handle, attrs);
    block.allocations[ordinal] = Some(idx);
    block
        .sequence_number_for_allocation
        .insert(ordinal.to_string(), block.sequence_number);
    block.sequence_number += 1;
    true
}

/// Handles are compared as libcalico-go does: cut at the first `\r`.
pub fn sanitize_handle(h: &str) -> &str {
    h.split('\r').next().unwrap_or(h)
}

/// The ordinals held by `handle`.
pub fn ordinals_of_handle(block: &Block, handle: &str) -> Vec<usize> {
    let handle = sanitize_handle(handle);
    (0..block.allocations.len())
        .filter(|&o| {
            block
                .attributes_at(o)
                .and_then(|a| a.handle_id.as_deref())
                .is_some_and(|h| sanitize_handle(h) == handle)
        })
        .collect()
}

/// Frees `ordinals` (appended to the tail of `unallocated`) and drops attribute entries no
/// allocation refers to any more. Returns the handles of what was freed, with counts.
pub fn release(block: &mut Block, ordinals: &[usize]) -> BTreeMap<String, i64> {
    let mut handles = BTreeMap::new();
    for &o in ordinals {
        let Some(Some(idx)) = block.allocations.get(o).copied() else {
            continue;
        };
        if let Some(h) = block.attributes.get(idx).and_then(|a| a.handle_id.clone()) {
            *handles.entry(h).or_insert(0) += 1;
        }
        block.allocations[o] = None;
        block.unallocated.push(o);
        block.sequence_number_for_allocation.remove(&o.to_string());
    }
    compact_attributes(block);
    block.sequence_number += 1;
    handles
}

fn compact_attributes(block: &mut Block) {
    let mut used = vec![false; block.attributes.len()];
    for idx in block.allocations.iter().flatten() {
        if let Some(u) = used.get_mut(*idx) {
            *u = true;
        }
    }
    let mut remap = vec![0usize; used.len()];
    let mut next = 0;
    for (i, u) in used.iter().enumerate() {
        remap[i] = next;
        if *u {
            next += 1;
        }
    }
    let mut i = 0;
    block.attributes.retain(|_| {
        let keep = used[i];
        i += 1;
        keep
    });
    for a in block.allocations.iter_mut().flatten() {
        *a = remap.get(*a).copied().unwrap_or(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn attrs() -> BTreeMap<String, String> {
        [("node".to_string(), "n1".to_string())].into()
    }

    #[test]
    fn allocate_release_and_reservations() {
        let mut b = Block::new("10.0.0.0/30".parse().unwrap(), None, UNIX_EPOCH);
        let res: Vec<IpNetwork> = vec!["10.0.0.0/32".parse().unwrap()];
        let ips = allocate(&mut b, 2, "h1", &attrs(), &res);
        assert_eq!(
            ips,
            vec![
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "10.0.0.2".parse().unwrap()
            ]
        );
        assert_eq!(b.unallocated, vec![0, 3]);
        assert_eq!(b.attributes.len(), 1);
        let ips = allocate(&mut b, 1, "h2", &attrs(), &res);
        assert_eq!(ips, vec!["10.0.0.3".parse::<IpAddr>().unwrap()]);
        assert_eq!(free_count(&b, &res), 0);
        assert_eq!(ordinals_of_handle(&b, "h1\rjunk"), vec![1, 2]);
        let freed = release(&mut b, &[1, 2]);
        assert_eq!(freed.get("h1"), Some(&2));
        assert_eq!(b.unallocated, vec![0, 1, 2]);
        assert_eq!(b.attributes.len(), 1);
        assert_eq!(b.allocations[3], Some(0), "h2 re-indexed");
        assert!(!allocate_ordinal(&mut b, 3, "h3", &attrs()));
        assert!(allocate_ordinal(&mut b, 0, "h3", &attrs()));
        assert_eq!(b.unallocated, vec![1, 2]);
    }
}
