//! Giving addresses and blocks back: by handle (CNI DEL), by address (dual-stack rollback,
//! `calicoctl ipam release`), and a host's affinity for a block.

use std::collections::BTreeMap;
use std::net::IpAddr;

use datastore::batch::Write;
use datastore::model::{AffinityState, Block, BlockAffinity};
use datastore::{
    BlockAffinityKey, BlockKey, BlockList, Change, DatastoreError, HandleKey, Key, Revision,
};
use ipnetwork::IpNetwork;

use crate::assign::{retry_release, Ipam, MAX_RETRIES};
use crate::error::Result;
use crate::{block_ops, pools};

/// What to release (libcalico-go's `ReleaseOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseOptions {
    pub address: IpAddr,
    /// Free only while this handle holds it.
    pub handle: Option<String>,
    /// Free only while its allocation is this one (the block's sequence number for it).
    pub sequence_number: Option<u64>,
}

impl ReleaseOptions {
    pub fn of(address: IpAddr) -> Self {
        ReleaseOptions {
            address,
            handle: None,
            sequence_number: None,
        }
    }
}

impl Ipam<'_> {
    /// Frees every address of `handle` and deletes the handle. `NotFound` when there is no
    /// such handle (the CNI DEL ignores that). Emptied unaffine blocks are deleted.
    pub fn release_by_handle(&self, handle: &str) -> Result<()> {
        let (hkey, revision, cidrs) = self.handle_blocks(handle)?;
        let mut handle_deleted = false;
        for (i, &cidr) in cidrs.iter().enumerate() {
            // The last block's write also deletes the handle: one transaction instead of two
            // in the common one-block case.
            let with_handle = (i + 1 == cidrs.len()).then(|| Write::Delete {
                key: hkey.path(),
                revision: Some(revision),
            });
            let (_, after, applied) = self.release_in_block(
                cidr,
                |b| block_ops::ordinals_of_handle(b, handle),
                with_handle,
            )?;
            handle_deleted |= applied;
            if let Some(block) = after.filter(Block::is_empty) {
                self.release_if_unselected(cidr, &block)?;
            }
        }
        if handle_deleted {
            return Ok(());
        }
        // Delete the handle outright rather than counting down: a process killed between
        // writing the handle and writing its block leaves counts with no allocation behind them,
        // and this DEL must still leave nothing.
        match self.ds.delete(&hkey, Some(revision)) {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) if e.is_conflict() => {
                self.ds.modify(&hkey, MAX_RETRIES, |_| Ok(Change::Delete))?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The handle's key and revision and the blocks it counts addresses in; `NotFound`
    /// without the handle.
    pub(crate) fn handle_blocks(
        &self,
        handle: &str,
    ) -> Result<(HandleKey, Revision, Vec<IpNetwork>)> {
        let hkey = HandleKey::new(handle);
        let Some(h) = self.ds.get(&hkey)? else {
            return Err(DatastoreError::NotFound {
                identifier: hkey.to_string(),
            }
            .into());
        };
        let cidrs = h
            .value
            .block
            .keys()
            .filter_map(|c| c.parse().ok())
            .collect();
        Ok((hkey, h.revision, cidrs))
    }

    /// Frees the given addresses whoever holds them and fixes up their handles. Returns the
    /// addresses that were not allocated.
    pub fn release_ips(&self, ips: &[IpAddr]) -> Result<Vec<IpAddr>> {
        let opts: Vec<ReleaseOptions> = ips.iter().map(|&ip| ReleaseOptions::of(ip)).collect();
        self.release(&opts)
    }

    /// libcalico-go's `ReleaseIPs` with its options: each address is freed only while it is
    /// still held by the given handle at the given sequence number (an address reallocated
    /// since a `calicoctl ipam check` report was written is left alone). Returns the addresses
    /// not freed.
    pub fn release(&self, opts: &[ReleaseOptions]) -> Result<Vec<IpAddr>> {
        let mut unallocated = Vec::new();
        let blocks = self.ds.list(&BlockList::default())?;
        for opt in opts {
            let ip = opt.address;
            let Some((key, _)) = blocks.iter().find(|(k, _)| k.cidr.contains(ip)) else {
                unallocated.push(ip);
                continue;
            };
            let cidr = key.cidr;
            let (freed, _, _) = self.release_in_block(
                cidr,
                |b| {
                    b.ordinal_of(ip)
                        .filter(|&o| {
                            let held = b.attributes_at(o);
                            held.is_some()
                                && opt.handle.as_deref().is_none_or(|h| {
                                    held.and_then(|a| a.handle_id.as_deref())
                                        .map(block_ops::sanitize_handle)
                                        == Some(block_ops::sanitize_handle(h))
                                })
                                && opt
                                    .sequence_number
                                    .is_none_or(|n| b.sequence_number_for(o) == n)
                        })
                        .into_iter()
                        .collect()
                },
                None,
            )?;
            if freed.is_empty() {
                unallocated.push(ip);
            }
            for (handle, n) in freed {
                self.decrement_handle(&handle, cidr, n)?;
            }
        }
        Ok(unallocated)
    }

    /// An emptied block affine to a host whose node no pool containing the block selects any
    /// more (or whose pool is gone or disabled) gives its affinity back, as libcalico-go's
    /// release does. A missing node counts as not selected.
    fn release_if_unselected(&self, cidr: IpNetwork, block: &Block) -> Result<()> {
        let Some(host) = block
            .affinity
            .as_deref()
            .and_then(|a| a.strip_prefix("host:"))
        else {
            return Ok(());
        };
        let version = if cidr.is_ipv4() { 4 } else { 6 };
        let selected = match pools::enabled_pools(self.ds, version)?
            .into_iter()
            .find(|p| p.cidr.contains(cidr.network()))
        {
            None => false,
            Some(pool) => match pools::node_labels(self.ds, host) {
                Ok(labels) => pool.selects(&labels),
                Err(e) if e.is_not_found() => false,
                Err(e) => return Err(e),
            },
        };
        if !selected {
            retry_release(|| self.release_block_affinity(cidr, host, true, None))?;
        }
        Ok(())
    }

    /// Releases the ordinals `pick` chooses in block `cidr` (compare-and-swap, retried) and
    /// returns the handles freed with their counts, the block as written (`None` when it was
    /// deleted or nothing changed), and whether `with` (a write to make in the same
    /// transaction, tried on the first attempt only) was applied. An emptied block without
    /// affinity is deleted.
    fn release_in_block(
        &self,
        cidr: IpNetwork,
        pick: impl Fn(&Block) -> Vec<usize>,
        mut with: Option<Write>,
    ) -> Result<(BTreeMap<String, i64>, Option<Block>, bool)> {
        let bkey = BlockKey::new(cidr);
        for _ in 0..MAX_RETRIES {
            let Some(cur) = self.ds.get(&bkey)? else {
                return Ok((BTreeMap::new(), None, false));
            };
            let ordinals = pick(&cur.value);
            if ordinals.is_empty() {
                return Ok((BTreeMap::new(), None, false));
            }
            let mut block = cur.value.clone();
            let freed = block_ops::release(&mut block, &ordinals);
            let deleted = block.is_empty() && block.affinity.is_none();
            let block_write = if deleted {
                Write::Delete {
                    key: bkey.path(),
                    revision: Some(cur.revision),
                }
            } else {
                Write::update(&bkey, &block, cur.revision)
            };
            // The extra write rides along once; after a lost race the block is retried alone
            // (the extra's precondition may be what failed).
            let extra = with.take();
            let applied = extra.is_some();
            let writes: Vec<Write> = std::iter::once(block_write).chain(extra).collect();
            match self.ds.commit(&writes) {
                Ok(_) => return Ok((freed, (!deleted).then_some(block), applied)),
                Err(e) if e.is_conflict() || e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DatastoreError::RetriesExhausted {
            attempts: MAX_RETRIES,
        }
        .into())
    }

    /// libcalico-go's `releaseBlockAffinity`: `host`'s claim on `cidr` goes to
    /// `pendingDeletion`, then an empty block is deleted (a non-empty one loses its affinity),
    /// then the affinity is compare-and-deleted. `Ok(false)` when there is nothing to release,
    /// the block is another host's (our stale affinity is deleted), `require_empty` and it is
    /// not, or its sequence number is no longer `required_seq`. Lost races are `Conflict`.
    pub fn release_block_affinity(
        &self,
        cidr: IpNetwork,
        host: &str,
        require_empty: bool,
        required_seq: Option<u64>,
    ) -> Result<bool> {
        let bkey = BlockKey::new(cidr);
        let akey = BlockAffinityKey::host(host, cidr);
        let Some(aff) = self.ds.get(&akey)? else {
            return Ok(false);
        };
        let Some(block) = self.ds.get(&bkey)? else {
            return Ok(false);
        };
        if required_seq.is_some_and(|s| s != block.value.sequence_number) {
            return Ok(false);
        }
        if block.value.affinity.is_some()
            && block.value.affinity.as_deref() != Some(Block::host_affinity(host).as_str())
        {
            let _ = self.ds.delete(&akey, None);
            return Ok(false);
        }
        if require_empty && !block.value.is_empty() {
            return Ok(false);
        }
        let rev = self.ds.update(
            &akey,
            &BlockAffinity::new(AffinityState::PendingDeletion),
            aff.revision,
        )?;
        if block.value.is_empty() {
            match self.ds.delete(&bkey, Some(block.revision)) {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        } else {
            let mut b = block.value.clone();
            b.affinity = None;
            b.affinity_claim_time = None;
            self.ds.update(&bkey, &b, block.revision)?;
        }
        match self.ds.delete(&akey, Some(rev)) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(true),
            Err(e) => Err(e.into()),
        }
    }
}
