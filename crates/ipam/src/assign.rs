//! libcalico-go's IPAM on our datastore: auto-assignment from affine blocks, new blocks and
//! borrowed ones, specific-IP assignment, release by handle or address, affinity release.
//! Every write is a compare-and-swap retried on lost races up to [`MAX_RETRIES`] times, so any
//! number of plugin processes on any number of hosts can share one datastore.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::SystemTime;

use datastore::batch::{Read, Write};
use datastore::model::{AffinityState, Block, BlockAffinity, Handle};
use datastore::resources::{IpPoolSpec, IpReservationSpec, NodeSpec, ALLOWED_USE_WORKLOAD};
use datastore::{
    BlockAffinityKey, BlockAffinityList, BlockKey, BlockList, Change, Datastore, DatastoreError,
    HandleKey, IpamConfigKey, ResourceKey, ResourceList, Revision, Versioned,
};
use ipnetwork::IpNetwork;

use crate::block_ops;
use crate::error::{IpamError, Result};
use crate::pools::{self, Pool};
use crate::rng::HostRng;

/// libcalico-go's retry bound for every compare-and-swap loop.
pub const MAX_RETRIES: u32 = 100;
/// Blocks one host may claim when neither the IPAM config nor the request sets a limit.
pub const DEFAULT_MAX_BLOCKS_PER_HOST: usize = 20;

pub const ERR_BLOCK_LIMIT: &str = "cannot allocate new block due to per host block limit";
pub const MSG_STRICT_NO_BLOCKS: &str = "No more free affine blocks and strict affinity enabled";
/// Another host's empty block is only reclaimed once its claim is this old, so two hosts do not
/// free a block from under each other.
pub const EMPTY_BLOCK_MIN_RECLAIM_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// This host's affine blocks with the affinity values listed.
type AffineBlocks = Vec<(IpNetwork, BlockAffinity)>;

/// What an auto-assignment asks for (libcalico-go `AutoAssignArgs`, the fields CNI uses).
#[derive(Debug, Clone, Default)]
pub struct AutoAssignArgs {
    pub num4: usize,
    pub num6: usize,
    pub handle: String,
    pub attrs: BTreeMap<String, String>,
    pub host: String,
    /// Pools requested by CIDR (resolved from names by the caller); empty = by node selector.
    pub ipv4_pools: Vec<IpNetwork>,
    pub ipv6_pools: Vec<IpNetwork>,
    /// Block limit of the request (0 = none); the smaller of this and the config's applies.
    pub max_blocks_per_host: usize,
    /// The workload's Kubernetes namespace labels, for pools' `namespaceSelector` (empty
    /// without a namespace).
    pub namespace_labels: pools::NamespaceLabels,
}

/// What one family got: block-masked addresses plus the reasons for any shortfall.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assignments {
    pub ips: Vec<IpNetwork>,
    pub num_requested: usize,
    pub ip_version: u8,
    pub msgs: Vec<String>,
}

impl Assignments {
    /// libcalico-go's `PartialFulfillmentError` text, when fewer addresses than requested.
    pub fn partial_fulfillment_error(&self) -> Option<String> {
        (self.ips.len() < self.num_requested).then(|| {
            let mut s = format!(
                "Assigned {} out of {} requested IPv{} addresses",
                self.ips.len(),
                self.num_requested,
                self.ip_version
            );
            for m in &self.msgs {
                s.push_str("; ");
                s.push_str(m);
            }
            s
        })
    }

    /// Adds a reason once (libcalico-go's `AddMsg`).
    pub fn add_msg(&mut self, msg: &str) {
        if !self.msgs.iter().any(|m| m == msg) {
            self.msgs.push(msg.to_string());
        }
    }
}

/// IPAM over one datastore.
pub struct Ipam<'a> {
    pub(crate) ds: &'a Datastore,
    /// Handles this Ipam has written or tried to: they may exist.
    met_handles: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl<'a> Ipam<'a> {
    pub fn new(ds: &'a Datastore) -> Self {
        Ipam {
            ds,
            met_handles: Default::default(),
        }
    }

    fn met_handle(&self, handle: &str) -> bool {
        self.met_handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(handle)
    }

    fn meet_handle(&self, handle: &str) {
        self.met_handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(handle.to_string());
    }

    pub fn datastore(&self) -> &Datastore {
        self.ds
    }

    /// Assigns `num4` IPv4 and `num6` IPv6 addresses. A request that cannot even start (no
    /// pool, a block limit reached) is an error; a shortfall is reported in the assignments.
    pub fn auto_assign(&self, args: &AutoAssignArgs) -> Result<(Assignments, Assignments)> {
        let mut v4 = Assignments {
            num_requested: args.num4,
            ip_version: 4,
            ..Assignments::default()
        };
        let mut v6 = Assignments {
            num_requested: args.num6,
            ip_version: 6,
            ..Assignments::default()
        };
        if args.num4 > 0 {
            self.assign_family(args, 4, &args.ipv4_pools, &mut v4)?;
        }
        if args.num6 > 0 {
            self.assign_family(args, 6, &args.ipv6_pools, &mut v6)?;
        }
        Ok((v4, v6))
    }

    fn assign_family(
        &self,
        args: &AutoAssignArgs,
        version: u8,
        requested: &[IpNetwork],
        out: &mut Assignments,
    ) -> Result<()> {
        let host = args.host.as_str();
        let num = out.num_requested;
        // Everything this assignment reads before it picks a block, in one round trip.
        self.ds.prefetch(vec![
            Read::listing(&ResourceList::<IpReservationSpec>::all()),
            Read::of(&ResourceKey::<NodeSpec>::global(host)),
            Read::listing(&ResourceList::<IpPoolSpec>::all()),
            Read::listing(&BlockAffinityList::host(host, Some(version))),
            Read::of(&IpamConfigKey),
            Read::of(&HandleKey::new(&args.handle)),
        ])?;
        let reservations = self.reservations(version)?;
        let (pools, affine) =
            self.prepare_affine_blocks(version, host, requested, &args.namespace_labels)?;
        let config = self.ds.ipam_config()?;
        let ours = Block::host_affinity(host);

        // libcalico-go: the stricter of the request's and the config's limit, 20 when neither
        // sets one.
        let cfg_limit = usize::try_from(config.max_blocks_per_host).unwrap_or(0);
        let mut limit = args.max_blocks_per_host;
        if cfg_limit > 0 && (limit == 0 || limit > cfg_limit) {
            limit = cfg_limit;
        }
        if limit == 0 {
            limit = DEFAULT_MAX_BLOCKS_PER_HOST;
        }
        let mut owned = affine.len();
        let mut remaining_affine: std::collections::VecDeque<(IpNetwork, BlockAffinity)> =
            affine.into();
        let mut rng = HostRng::for_host(host);

        // Affine blocks first, then new claims, one block at a time (findOrClaimBlock).
        let mut rounds = 0;
        while out.ips.len() < num && rounds < MAX_RETRIES {
            rounds += 1;
            let mut found = None;
            while let Some((cidr, aff)) = remaining_affine.pop_front() {
                if reservations.iter().any(|r| covers(r, &cidr)) {
                    continue;
                }
                if let Some(b) = self.ensure_affine_block(cidr, host, aff)? {
                    if block_ops::free_count(&b.value, &reservations) > 0 {
                        found = Some((cidr, Some(b)));
                        break;
                    }
                }
            }
            let (cidr, read) = match found {
                Some(c) => c,
                None => {
                    if owned >= limit {
                        out.msgs.push(format!(
                            "Need to allocate an IPAM block but could not - limit of {limit} blocks reached for this node"
                        ));
                        return Err(IpamError::msg(ERR_BLOCK_LIMIT));
                    }
                    if !config.auto_allocate_blocks {
                        return Err(IpamError::msg("failed to find or claim a block"));
                    }
                    match self.find_and_claim(&pools, host, version, &mut rng, &reservations)? {
                        Some((c, newly)) => {
                            if newly {
                                owned += 1;
                            }
                            (c, None)
                        }
                        None => {
                            if config.strict_affinity {
                                out.add_msg(MSG_STRICT_NO_BLOCKS);
                            }
                            break;
                        }
                    }
                }
            };
            let ips = self.assign_from_block(
                cidr,
                Some(&ours),
                num - out.ips.len(),
                args,
                &reservations,
                read,
            )?;
            push_ips(out, cidr, ips);
        }

        // Not strict: borrow from any existing block of the pools, in host-seeded random order.
        if out.ips.len() < num && !config.strict_affinity {
            let blocks = self.ds.list(&BlockList {
                ip_version: Some(version),
            })?;
            let mut exhausted = Vec::new();
            for pool in &pools {
                let mut candidates: Vec<IpNetwork> = blocks
                    .iter()
                    .filter(|(k, v)| {
                        pool.cidr.contains(k.cidr.network())
                            && block_ops::free_count(&v.value, &reservations) > 0
                    })
                    .map(|(k, _)| k.cidr)
                    .collect();
                rng.shuffle(&mut candidates);
                for cidr in candidates {
                    if out.ips.len() >= num {
                        break;
                    }
                    let ips = self.assign_from_block(
                        cidr,
                        None,
                        num - out.ips.len(),
                        args,
                        &reservations,
                        None,
                    )?;
                    push_ips(out, cidr, ips);
                }
                if out.ips.len() < num {
                    exhausted.push(pool.cidr.to_string());
                }
            }
            if !exhausted.is_empty() {
                out.add_msg(&format!(
                    "No IPs available in pools: [{}]",
                    exhausted.join(" ")
                ));
            }
        }
        Ok(())
    }

    /// libcalico-go's `prepareAffinityBlocksForHost`: the pools for the request and this host's
    /// affine blocks in them; affine blocks whose pool no longer selects the host are released
    /// when empty.
    fn prepare_affine_blocks(
        &self,
        version: u8,
        host: &str,
        requested: &[IpNetwork],
        namespace_labels: &pools::NamespaceLabels,
    ) -> Result<(Vec<Pool>, AffineBlocks)> {
        let pools::Selection {
            pools,
            enabled: all_enabled,
            labels,
        } = pools::select_full(self.ds, version, host, requested, namespace_labels)?;
        let mut affine = Vec::new();
        for (key, aff) in self
            .ds
            .list(&BlockAffinityList::host(host, Some(version)))?
        {
            let cidr = key.cidr;
            if pools.iter().any(|p| p.cidr.contains(cidr.network())) {
                affine.push((cidr, aff.value));
                continue;
            }
            // Outside the request's pools: release only if its (enabled) pool no longer
            // selects this node, and only when empty.
            let Some(pool) = all_enabled.iter().find(|p| p.cidr.contains(cidr.network())) else {
                continue;
            };
            if pool.selects(&labels) {
                continue;
            }
            retry_release(|| self.release_block_affinity(cidr, host, true, None))?;
        }
        Ok((pools, affine))
    }

    /// An affine block ready to use, as read: the affinity (`aff`, from the listing) confirmed
    /// and the block there (a pending or half-made claim, e.g. of a process killed mid-claim, is
    /// completed). `None` when the block belongs to another host (our stale affinity is then
    /// removed).
    fn ensure_affine_block(
        &self,
        cidr: IpNetwork,
        host: &str,
        aff: BlockAffinity,
    ) -> Result<Option<Versioned<Block>>> {
        let bkey = BlockKey::new(cidr);
        let ours = Block::host_affinity(host);
        match self.ds.get(&bkey)? {
            Some(b) if b.value.affinity.as_deref() == Some(ours.as_str()) => {
                if aff.is_confirmed() || self.claim(cidr, host)? {
                    return Ok(Some(b));
                }
                Ok(None)
            }
            Some(_) => {
                self.delete_affinity(&BlockAffinityKey::host(host, cidr))?;
                Ok(None)
            }
            None => Ok(if self.claim(cidr, host)? {
                self.ds.get(&bkey)?
            } else {
                None
            }),
        }
    }

    /// Active reservations of one family.
    pub fn reservations(&self, version: u8) -> Result<Vec<IpNetwork>> {
        Ok(self
            .ds
            .list_resources(&ResourceList::<IpReservationSpec>::all())?
            .iter()
            .flat_map(|r| r.spec.networks())
            .filter(|n| n.is_ipv4() == (version == 4))
            .collect())
    }

    /// libcalico-go's `findUsableBlock` + claim: walks each pool's block-sized subnets from a
    /// host-seeded random start; the first subnet without a block is claimed (an own block with
    /// room is used as is). When every subnet has a block, an empty block of another host whose
    /// claim is at least a minute old is reclaimed. Returns the block and whether it is new.
    fn find_and_claim(
        &self,
        pools: &[Pool],
        host: &str,
        version: u8,
        rng: &mut HostRng,
        reservations: &[IpNetwork],
    ) -> Result<Option<(IpNetwork, bool)>> {
        let blocks: BTreeMap<IpNetwork, Block> = self
            .ds
            .list(&BlockList {
                ip_version: Some(version),
            })?
            .into_iter()
            .map(|(k, v)| (k.cidr, v.value))
            .collect();
        let ours = Block::host_affinity(host);
        let mut empty_foreign: Vec<(IpNetwork, String, u64, Option<String>)> = Vec::new();
        for pool in pools {
            let bits = u32::from(pool.block_size - pool.cidr.prefix()).min(64);
            let total: u128 = 1u128 << bits;
            let full = if pool.cidr.is_ipv4() { 32 } else { 128 };
            let mut time_rng;
            let rng: &mut HostRng = if u32::from(pool.block_size) == full {
                time_rng = HostRng::from_time();
                &mut time_rng
            } else {
                rng
            };
            let start = rng.below(total);
            let in_pool = blocks
                .keys()
                .filter(|c| pool.cidr.contains(c.network()))
                .count() as u128;
            // After `in_pool + 1` steps a free subnet has been seen unless every subnet has a
            // block; the margin covers claims lost to other hosts.
            let steps = total.min(in_pool + 8);
            for i in 0..steps {
                let cidr = nth_block(pool, (start + i) % total);
                if reservations.iter().any(|r| covers(r, &cidr)) {
                    continue;
                }
                match blocks.get(&cidr) {
                    None => {
                        if self.claim(cidr, host)? {
                            return Ok(Some((cidr, true)));
                        }
                    }
                    Some(b) if block_ops::free_count(b, reservations) == 0 => {}
                    Some(b) if b.affinity.as_deref() == Some(ours.as_str()) => {
                        return Ok(Some((cidr, false)));
                    }
                    Some(b) if b.is_empty() => {
                        if let Some(owner) = b.host() {
                            empty_foreign.push((
                                cidr,
                                owner.to_string(),
                                b.sequence_number,
                                b.affinity_claim_time.clone(),
                            ));
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        for (cidr, owner, seq, claimed) in empty_foreign {
            let age = claimed
                .as_deref()
                .and_then(datastore::time::parse_rfc3339)
                .and_then(|t| SystemTime::now().duration_since(t).ok());
            if age.is_some_and(|a| a < EMPTY_BLOCK_MIN_RECLAIM_AGE) {
                continue;
            }
            if self
                .release_block_affinity(cidr, &owner, true, Some(seq))
                .unwrap_or(false)
                && self.claim(cidr, host)?
            {
                return Ok(Some((cidr, true)));
            }
        }
        Ok(None)
    }

    /// Claims `cidr` for `host` with Calico's two-phase affinity: a `pending` affinity first,
    /// then the block (carrying the affinity), then the affinity `confirmed`. False when the
    /// block turned out to belong to someone else (our pending affinity is removed).
    pub fn claim(&self, cidr: IpNetwork, host: &str) -> Result<bool> {
        let akey = BlockAffinityKey::host(host, cidr);
        match self
            .ds
            .create(&akey, &BlockAffinity::new(AffinityState::Pending))
        {
            Ok(_) => {}
            Err(e) if e.is_already_exists() => {}
            Err(e) => return Err(e.into()),
        }
        let bkey = BlockKey::new(cidr);
        let ours = Block::host_affinity(host);
        let block = Block::new(cidr, Some(ours.clone()), SystemTime::now());
        match self.ds.create(&bkey, &block) {
            Ok(_) => {}
            Err(e) if e.is_already_exists() => {
                let cur = self.ds.get(&bkey)?;
                if cur.is_none_or(|b| b.value.affinity.as_deref() != Some(ours.as_str())) {
                    self.delete_affinity(&akey)?;
                    return Ok(false);
                }
            }
            Err(e) => return Err(e.into()),
        }
        self.ds.modify(&akey, MAX_RETRIES, |cur| {
            Ok(match cur {
                Some(a) if a.state == AffinityState::Confirmed => Change::Keep,
                _ => Change::Put(BlockAffinity::new(AffinityState::Confirmed)),
            })
        })?;
        Ok(true)
    }

    fn delete_affinity(&self, akey: &BlockAffinityKey) -> Result<()> {
        match self.ds.delete(akey, None) {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Takes up to `num` addresses in block `cidr` for the request's handle. With
    /// `affinity = Some(..)` the block must carry that affinity (a block that is gone is claimed
    /// again; a foreign one means our affinity is stale and is deleted).
    fn assign_from_block(
        &self,
        cidr: IpNetwork,
        affinity: Option<&str>,
        num: usize,
        args: &AutoAssignArgs,
        reservations: &[IpNetwork],
        mut read: Option<Versioned<Block>>,
    ) -> Result<Vec<IpAddr>> {
        let bkey = BlockKey::new(cidr);
        for _ in 0..MAX_RETRIES {
            // The first attempt may use the block the caller just read.
            let cur = match read.take() {
                Some(b) => Some(b),
                None => self.ds.get(&bkey)?,
            };
            let Some(cur) = cur else {
                match affinity {
                    Some(_) if self.claim(cidr, &args.host)? => continue,
                    _ => return Ok(Vec::new()),
                }
            };
            if let Some(want) = affinity {
                if cur.value.affinity.as_deref() != Some(want) {
                    self.delete_affinity(&BlockAffinityKey::host(&args.host, cidr))?;
                    return Ok(Vec::new());
                }
            }
            let mut block = cur.value.clone();
            let ips = block_ops::allocate(&mut block, num, &args.handle, &args.attrs, reservations);
            if ips.is_empty() {
                return Ok(ips);
            }
            if self.commit_allocation(&bkey, &block, cur.revision, &args.handle, ips.len())? {
                return Ok(ips);
            }
            // Lost a race on the block or the handle: read both again.
            self.ds.prefetch(vec![
                Read::of(&bkey),
                Read::of(&HandleKey::new(&args.handle)),
            ])?;
        }
        Err(DatastoreError::RetriesExhausted {
            attempts: MAX_RETRIES,
        }
        .into())
    }

    /// Writes `block` (read at `revision`) and counts its `n` new addresses in `handle`, in one
    /// transaction: both or neither, so a lost race or a crash never leaves a handle count
    /// without its allocation (libcalico-go writes the handle, then the block, then undoes
    /// the handle on failure). The handle goes first: where there is no multi-object
    /// transaction (Kubernetes) a crash between the two leaves that count, which a DEL frees;
    /// etcd's `Txn` and the local store's journal apply both or neither. False when a race
    /// was lost.
    fn commit_allocation(
        &self,
        bkey: &BlockKey,
        block: &Block,
        revision: Revision,
        handle: &str,
        n: usize,
    ) -> Result<bool> {
        let hkey = HandleKey::new(handle);
        let cidr = bkey.cidr.to_string();
        // Where reads come batched (etcd, the local store) the handle was read with the rest;
        // elsewhere (Kubernetes: one request per read) a handle this run has not met yet is
        // created outright — a new container's is new — and a lost bet is an AlreadyExists
        // that the retry answers with a read.
        let read_first = self.ds.batches_reads() || self.met_handle(handle);
        let current = if read_first {
            self.ds.get(&hkey)?
        } else {
            None
        };
        self.meet_handle(handle);
        let handle_write = match current {
            None => {
                let mut h = Handle::default();
                h.increment(&cidr, n as i64);
                Write::create(&hkey, &h)
            }
            Some(cur) => {
                let mut h = cur.value;
                h.increment(&cidr, n as i64);
                Write::update(&hkey, &h, cur.revision)
            }
        };
        match self
            .ds
            .commit(&[handle_write, Write::update(bkey, block, revision)])
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_conflict() || e.is_not_found() || e.is_already_exists() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Assigns one specific address (CNI_ARGS `IP=`), claiming its block for `host` when the
    /// block does not exist yet. Node selectors and block limits do not apply.
    pub fn assign_ip(
        &self,
        ip: IpAddr,
        handle: &str,
        attrs: &BTreeMap<String, String>,
        host: &str,
    ) -> Result<()> {
        let version = if ip.is_ipv4() { 4 } else { 6 };
        let pool = pools::enabled_pools(self.ds, version)?
            .into_iter()
            .find(|p| p.cidr.contains(ip))
            .ok_or_else(|| {
                IpamError::msg("The provided IP address is not in a configured pool\n")
            })?;
        if !pool.allows(ALLOWED_USE_WORKLOAD) {
            return Err(IpamError::msg(format!(
                "The provided IP address is in an IP pool that does not allow {ALLOWED_USE_WORKLOAD} use: {}",
                pool.name
            )));
        }
        let cidr = pool.block_of(ip);
        let config = self.ds.ipam_config()?;
        let ours = Block::host_affinity(host);
        let bkey = BlockKey::new(cidr);
        for _ in 0..MAX_RETRIES {
            let Some(cur) = self.ds.get(&bkey)? else {
                self.claim(cidr, host)?;
                continue;
            };
            if config.strict_affinity && cur.value.affinity.as_deref() != Some(ours.as_str()) {
                return Err(IpamError::msg("Block host affinity does not match"));
            }
            let mut block = cur.value.clone();
            let ordinal = block
                .ordinal_of(ip)
                .ok_or_else(|| IpamError::msg("IP address not in block"))?;
            if !block_ops::allocate_ordinal(&mut block, ordinal, handle, attrs) {
                return Err(IpamError::msg("Address already assigned in block"));
            }
            if self.commit_allocation(&bkey, &block, cur.revision, handle, 1)? {
                return Ok(());
            }
        }
        Err(DatastoreError::RetriesExhausted {
            attempts: MAX_RETRIES,
        }
        .into())
    }

    pub(crate) fn decrement_handle(&self, handle: &str, cidr: IpNetwork, n: i64) -> Result<()> {
        let key = HandleKey::new(handle);
        let cidr = cidr.to_string();
        self.ds.modify(&key, MAX_RETRIES, |cur| {
            Ok(match cur {
                None => Change::Keep,
                Some(h) => {
                    let mut h: Handle = h.clone();
                    if !h.decrement(&cidr, n) {
                        h.block.remove(&cidr);
                    }
                    if h.is_empty() {
                        Change::Delete
                    } else {
                        Change::Put(h)
                    }
                }
            })
        })?;
        Ok(())
    }
}

fn push_ips(out: &mut Assignments, cidr: IpNetwork, ips: Vec<IpAddr>) {
    for ip in ips {
        out.ips
            .push(IpNetwork::new(ip, cidr.prefix()).expect("block prefix"));
    }
}

/// Does reservation `r` cover all of `block`?
fn covers(r: &IpNetwork, block: &IpNetwork) -> bool {
    r.is_ipv4() == block.is_ipv4() && r.prefix() <= block.prefix() && r.contains(block.network())
}

/// Retries an affinity release on lost races, as libcalico-go does; "not ours", "not empty"
/// and "gone" come back as `Ok(false)` and end it.
pub(crate) fn retry_release(mut f: impl FnMut() -> Result<bool>) -> Result<bool> {
    for _ in 0..MAX_RETRIES {
        match f() {
            Err(IpamError::Datastore(e)) if e.is_conflict() => continue,
            other => return other,
        }
    }
    Ok(false)
}

/// The `i`-th block-sized subnet of a pool.
pub fn nth_block(pool: &Pool, i: u128) -> IpNetwork {
    let step_bits = u32::from(if pool.cidr.is_ipv4() { 32 } else { 128 } - pool.block_size);
    let offset = i.checked_shl(step_bits).unwrap_or(0);
    let ip = match pool.cidr.network() {
        IpAddr::V4(base) => IpAddr::V4((u32::from(base).wrapping_add(offset as u32)).into()),
        IpAddr::V6(base) => IpAddr::V6((u128::from(base).wrapping_add(offset)).into()),
    };
    IpNetwork::new(ip, pool.block_size).expect("block prefix")
}
