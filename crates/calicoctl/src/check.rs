//! `ipam check`: upstream calicoctl's IPAM consistency check (calicoctl/commands/ipam/check.go,
//! v3.2x before the Kubernetes-only load-balancer section), line for line.
//!
//! The check cross-references three views of address ownership: what the blocks record as
//! allocated, what workloads and nodes actually use, and which handle objects exist. It reports
//! the differences as "problems" but, like upstream, only fails when it cannot read the
//! datastore: a check that found problems still exits 0 (its summary line says how many).
//!
//! Upstream walks Go maps at four places (the leak scan, the in-use scan, the handle scans) and
//! sorts nodes with an unstable sort, so its line order there changes from run to run. We print
//! those lines in a fixed order instead: addresses in IP order, handles in name order, and the
//! top nodes by count descending with ties by name.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::IpAddr;

use anyhow::{Context, Result};
use datastore::model::{AllocationAttribute, Block};
use datastore::resources::{IpPoolSpec, NodeSpec, WorkloadEndpointSpec};
use datastore::{BlockList, Datastore, HandleList, ResourceList};
use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

/// libcalico-go's `ipam.WindowsReservedHandle`: addresses Windows nodes hold back in each block.
const WINDOWS_RESERVED_HANDLE: &str = "windows-reserved-ipam-handle";

/// How many of the busiest nodes the check lists.
const NUM_NODES_TO_PRINT: usize = 20;

#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// `--show-all-ips`: every allocation and owner as it is recorded (implies problem IPs).
    pub show_all_ips: bool,
    /// `--show-problem-ips`: every leaked, unallocated or multiply-owned address.
    pub show_problem_ips: bool,
}

/// One allocated address, with what the check learned about it: upstream's `Allocation`, in its
/// JSON form (field names, order and `omitempty` rules) for the `-o` report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Allocation {
    pub ip: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub handle: String,
    /// Always present: upstream fills the pointer for every allocation.
    #[serde(rename = "sequenceNumber")]
    pub sequence_number: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pod: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub node: String,
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(rename = "creationTimestamp", skip_serializing_if = "String::is_empty")]
    pub creation_timestamp: String,
    #[serde(rename = "inUse")]
    pub in_use: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub borrowed: bool,
    /// `null` until something claims the address (a nil slice in Go).
    pub owners: Option<Vec<String>>,
    /// Upstream's `GetAttrString()`: `Main:<handle> Extra:k=v,...`, or `<missing>`.
    #[serde(skip)]
    pub attrs: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A handle object the report lists as leaked (upstream's `HandleInfo`, which has no JSON tags:
/// Go writes the field names as they are).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HandleInfo {
    #[serde(rename = "ID")]
    pub id: String,
    /// Kubernetes UID; etcd has none.
    #[serde(rename = "UID")]
    pub uid: Option<String>,
    /// The handle key's mod revision.
    #[serde(rename = "Revision")]
    pub revision: String,
}

/// The machine-readable report `-o <FILE>` writes (upstream's `Report`), which
/// `calicoctl ipam release --from-report` consumes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    pub version: String,
    #[serde(rename = "clusterGUID")]
    pub cluster_guid: String,
    #[serde(rename = "datastoreLocked")]
    pub datastore_locked: bool,
    #[serde(rename = "clusterInformationRevision")]
    pub cluster_information_revision: String,
    #[serde(rename = "clusterType")]
    pub cluster_type: String,
    /// Keyed by the address as a string: Go sorts map keys as strings when it encodes them.
    pub allocations: BTreeMap<String, Vec<Allocation>>,
    #[serde(rename = "leakedHandles", skip_serializing_if = "Vec::is_empty")]
    pub leaked_handles: Vec<HandleInfo>,
}

impl Report {
    /// Go's `json.MarshalIndent(r, "", "  ")`: two-space indent, HTML-safe string escaping, no
    /// trailing newline.
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(
            &mut out,
            serde_json::ser::PrettyFormatter::with_indent(b"  "),
        );
        if self.serialize(&mut ser).is_err() {
            return "null".into();
        }
        go_html_escape(&String::from_utf8_lossy(&out))
    }
}

/// Go's encoder escapes `<`, `>`, `&`, U+2028 and U+2029. Outside strings JSON never holds these
/// characters, so escaping them in the whole document only touches string contents.
fn go_html_escape(json: &str) -> String {
    let mut s = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => s.push_str("\\u003c"),
            '>' => s.push_str("\\u003e"),
            '&' => s.push_str("\\u0026"),
            '\u{2028}' => s.push_str("\\u2028"),
            '\u{2029}' => s.push_str("\\u2029"),
            c => s.push(c),
        }
    }
    s
}

/// What one check found; the text went to the writer as it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    pub blocks: usize,
    pub allocations: usize,
    /// CIDRs of the enabled pools, as stored.
    pub active_pools: Vec<String>,
    pub node_ips: usize,
    pub workload_ips: usize,
    /// Distinct addresses workloads, nodes (and Windows reservations) use.
    pub in_use_ips: usize,
    /// Allocated in a block but used by nothing: leaks.
    pub allocated_not_in_use: Vec<IpAddr>,
    /// Used, not allocated, outside every enabled pool.
    pub not_in_active_pools: Vec<IpAddr>,
    /// Used, not allocated, inside an enabled pool.
    pub in_use_not_allocated: Vec<IpAddr>,
    /// Handle objects no allocation names.
    pub leaked_handles: Vec<String>,
    pub handles_with_matches: usize,
    /// Handles allocations name that have no handle object.
    pub missing_handles: Vec<String>,
    /// What the summary line counts (missing handles are listed but, as upstream, not counted).
    pub problems: usize,
    pub report: Report,
}

#[derive(Default)]
struct Checker {
    opts: CheckOptions,
    allocations: BTreeMap<IpAddr, Vec<Allocation>>,
    allocations_by_node: BTreeMap<String, usize>,
    /// Address → friendly names of its users.
    in_use: BTreeMap<IpAddr, Vec<String>>,
    in_use_handles: BTreeSet<String>,
}

/// Go's `net.IP.String()` writes IPv4-mapped IPv6 addresses in dotted form.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// libcalico-go's `ParseCIDROrIP(..).IP.String()`: the address of `10.0.0.5` or `10.0.0.5/32`.
fn normalise_ip(addr: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = addr.parse::<IpAddr>() {
        return Ok(canonical(ip));
    }
    addr.parse::<IpNetwork>()
        .ok()
        .filter(|_| addr.contains('/'))
        .map(|n| canonical(n.ip()))
        .ok_or_else(|| format!("invalid CIDR address: {addr}"))
}

/// Upstream's `formatAttrs`: the handle and the owner attributes, keys sorted.
fn format_attrs(a: &AllocationAttribute) -> String {
    let extra: Vec<String> = a
        .active_owner_attrs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!(
        "Main:{} Extra:{}",
        a.handle_id.as_deref().unwrap_or("<none>"),
        extra.join(",")
    )
}

impl Checker {
    fn record_allocation(
        &mut self,
        out: &mut dyn Write,
        b: &Block,
        ord: usize,
        ip: IpAddr,
    ) -> Result<()> {
        let ip = canonical(ip);
        let block_affinity = b
            .affinity
            .as_deref()
            .and_then(|a| a.strip_prefix("host:"))
            .unwrap_or("")
            .to_string();
        let mut node = block_affinity.clone();
        let mut alloc = Allocation {
            ip: ip.to_string(),
            handle: String::new(),
            sequence_number: b.sequence_number_for(ord),
            pod: String::new(),
            namespace: String::new(),
            node: String::new(),
            kind: String::new(),
            creation_timestamp: String::new(),
            in_use: false,
            borrowed: false,
            owners: None,
            attrs: "<missing>".into(),
        };
        if let Some(attrs) = b.attributes_at(ord) {
            alloc.attrs = format_attrs(attrs);
            match attrs.handle_id.as_deref() {
                Some(WINDOWS_RESERVED_HANDLE) => {
                    self.record_in_use_ip(out, ip, "Reserved for Windows".into())?
                }
                Some(h) => {
                    alloc.handle = h.to_string();
                    self.in_use_handles.insert(h.to_string());
                }
                None => {}
            }
            let attr = |k: &str| {
                attrs
                    .active_owner_attrs
                    .get(k)
                    .filter(|v| !v.is_empty())
                    .cloned()
            };
            if let Some(n) = attr("node") {
                node = n;
            }
            alloc.pod = attr("pod").unwrap_or_default();
            alloc.namespace = attr("namespace").unwrap_or_default();
            alloc.kind = attr("type").unwrap_or_default();
            alloc.creation_timestamp = attr("timestamp").unwrap_or_default();
        }
        alloc.borrowed = node != block_affinity;
        alloc.node = node.clone();
        if self.opts.show_all_ips {
            writeln!(out, "  {ip} allocated; attrs {}", alloc.attrs)?;
        }
        *self.allocations_by_node.entry(node).or_default() += 1;
        self.allocations.entry(ip).or_default().push(alloc);
        Ok(())
    }

    /// Records that `owner` uses `ip`, and marks the allocations of `ip` seen so far as in use.
    fn record_in_use_ip(&mut self, out: &mut dyn Write, ip: IpAddr, owner: String) -> Result<()> {
        if self.opts.show_all_ips {
            writeln!(out, "  {ip} belongs to {owner}")?;
        }
        if let Some(allocs) = self.allocations.get_mut(&ip) {
            for a in allocs {
                a.in_use = true;
                a.owners.get_or_insert_with(Vec::new).push(owner.clone());
            }
        }
        self.in_use.entry(ip).or_default().push(owner);
        Ok(())
    }
}

/// Node addresses IPAM hands out (upstream's `getNodeIPs`): the VXLAN, WireGuard and IPIP
/// tunnel addresses, IPv4 only, in that order.
fn node_ips(name: &str, spec: &NodeSpec) -> Result<Vec<IpAddr>> {
    let wireguard = spec
        .wireguard
        .as_ref()
        .and_then(|w| w.get("interfaceIPv4Address"))
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let ipip = spec
        .bgp
        .as_ref()
        .map(|b| b.ipv4_ipip_tunnel_addr.as_str())
        .unwrap_or("");
    let mut ips = Vec::new();
    for (field, addr) in [
        ("IPv4VXLANTunnelAddr", spec.ipv4_vxlan_tunnel_addr.as_str()),
        ("Wireguard.InterfaceIPv4Address", wireguard),
        ("IPv4IPIPTunnelAddr", ipip),
    ] {
        if addr.is_empty() {
            continue;
        }
        let ip = normalise_ip(addr)
            .map_err(|e| anyhow::anyhow!("failed to parse {field} ({addr}) of node {name}: {e}"))?;
        ips.push(ip);
    }
    Ok(ips)
}

/// Runs the check, writing upstream's text to `out` as it goes (so a failure part way leaves
/// the lines before it, as upstream's would); with `report_file`, writes the JSON report there
/// at the end.
pub fn check(
    ds: &Datastore,
    opts: CheckOptions,
    version: &str,
    report_file: Option<&str>,
    out: &mut dyn Write,
) -> Result<CheckResult> {
    let opts = CheckOptions {
        show_problem_ips: opts.show_problem_ips || opts.show_all_ips,
        ..opts
    };
    let mut c = Checker {
        opts,
        ..Default::default()
    };
    writeln!(out, "Checking IPAM for inconsistencies...\n")?;

    let Some(ci) = ds.cluster_information()? else {
        anyhow::bail!("{}", ds.missing_cluster_information());
    };

    writeln!(out, "Loading all IPAM blocks...")?;
    let blocks = ds
        .list(&BlockList::default())
        .context("failed to list IPAM blocks")?;
    writeln!(out, "Found {} IPAM blocks.", blocks.len())?;
    let mut num_allocs = 0;
    for (_, b) in &blocks {
        let b = &b.value;
        writeln!(
            out,
            " IPAM block {} affinity={}:",
            b.cidr,
            b.affinity.as_deref().unwrap_or("<none>")
        )?;
        for (ord, idx) in b.allocations.iter().enumerate() {
            if idx.is_none() {
                continue;
            }
            let Some(ip) = b.ip_at(ord) else { continue };
            num_allocs += 1;
            c.record_allocation(out, b, ord, ip)?;
        }
    }
    writeln!(out, "IPAM blocks record {num_allocs} allocations.\n")?;

    writeln!(out, "Loading all IPAM pools...")?;
    let pools = ds
        .list_resources(&ResourceList::<IpPoolSpec>::all())
        .context("failed to load IP pools")?;
    let mut active_pools = Vec::new();
    let mut active_nets = Vec::new();
    for p in pools.iter().filter(|p| !p.spec.disabled) {
        writeln!(out, "  {}", p.spec.cidr)?;
        let net = p.spec.cidr.parse::<IpNetwork>().map_err(|_| {
            anyhow::anyhow!(
                "failed to parse IP pool CIDR: invalid CIDR address: {}",
                p.spec.cidr
            )
        })?;
        active_pools.push(p.spec.cidr.clone());
        active_nets.push(net);
    }
    writeln!(out, "Found {} active IP pools.\n", active_pools.len())?;

    writeln!(out, "Loading all nodes.")?;
    let nodes = ds
        .list_resources(&ResourceList::<NodeSpec>::all())
        .context("failed to list nodes")?;
    let mut num_node_ips = 0;
    for n in &nodes {
        for ip in node_ips(n.name(), &n.spec)? {
            c.record_in_use_ip(out, ip, format!("Node({})", n.name()))?;
            num_node_ips += 1;
        }
    }
    writeln!(out, "Found {num_node_ips} node tunnel IPs.\n")?;

    writeln!(out, "Loading all workload endpoints.")?;
    let weps = ds
        .list_resources(&ResourceList::<WorkloadEndpointSpec>::all())
        .context("failed to list workload endpoints")?;
    let mut num_wep_ips = 0;
    for w in &weps {
        let (ns, name) = (&w.metadata.namespace, &w.metadata.name);
        for a in &w.spec.ip_networks {
            let ip = normalise_ip(a).map_err(|e| {
                anyhow::anyhow!("failed to parse IP ({a}) of workload {ns}/{name}: {e}")
            })?;
            c.record_in_use_ip(out, ip, format!("Workload({ns}/{name})"))?;
            num_wep_ips += 1;
        }
    }
    writeln!(out, "Found {num_wep_ips} workload IPs.")?;
    writeln!(
        out,
        "Workloads and nodes are using {} IPs.\n",
        c.in_use.len()
    )?;

    writeln!(out, "Loading all handles")?;
    let handles: BTreeMap<String, HandleInfo> = ds
        .list(&HandleList)
        .context("failed to list handles")?
        .into_iter()
        .map(|(k, v)| {
            let info = HandleInfo {
                id: k.id.clone(),
                uid: None,
                revision: v.revision.to_string(),
            };
            (k.id, info)
        })
        .collect();

    writeln!(
        out,
        "Looking for top (up to {NUM_NODES_TO_PRINT}) nodes by allocations..."
    )?;
    let mut by_node: Vec<(&String, usize)> =
        c.allocations_by_node.iter().map(|(n, k)| (n, *k)).collect();
    by_node.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    for (n, k) in by_node.iter().take(NUM_NODES_TO_PRINT) {
        writeln!(out, "  {n} has {k} allocations")?;
    }
    if let (Some(max), Some(median)) = (by_node.first(), by_node.get(by_node.len() / 2)) {
        writeln!(
            out,
            "Node with most allocations has {}; median is {}",
            max.1, median.1
        )?;
    }
    writeln!(out)?;

    let mut problems = 0;
    writeln!(
        out,
        "Scanning for IPs that are allocated but not actually in use..."
    )?;
    let mut allocated_not_in_use = Vec::new();
    for (ip, allocs) in &c.allocations {
        if c.in_use.contains_key(ip) {
            continue;
        }
        if opts.show_problem_ips {
            for a in allocs {
                writeln!(out, "  {ip} leaked; attrs {}", a.attrs)?;
            }
        }
        allocated_not_in_use.push(*ip);
    }
    problems += allocated_not_in_use.len();
    writeln!(
        out,
        "Found {} IPs that are allocated in IPAM but not actually in use.",
        allocated_not_in_use.len()
    )?;

    writeln!(
        out,
        "Scanning for IPs that are in use by a workload or node but not allocated in IPAM..."
    )?;
    let (mut not_in_active_pools, mut in_use_not_allocated) = (Vec::new(), Vec::new());
    for (ip, owners) in &c.in_use {
        if opts.show_problem_ips && owners.len() > 1 {
            writeln!(out, "  {ip} has multiple owners.")?;
        }
        if c.allocations.contains_key(ip) {
            continue;
        }
        if !active_nets.iter().any(|n| n.contains(*ip)) {
            if opts.show_problem_ips {
                for o in owners {
                    writeln!(out, "  {ip} in use by {o} is not in any active IP pool.")?;
                }
            }
            not_in_active_pools.push(*ip);
            continue;
        }
        if opts.show_problem_ips {
            for o in owners {
                writeln!(
                    out,
                    "  {ip} in use by {o} and in active IPAM pool but has no IPAM allocation."
                )?;
            }
        }
        in_use_not_allocated.push(*ip);
    }
    problems += not_in_active_pools.len() + in_use_not_allocated.len();
    writeln!(
        out,
        "Found {} in-use IPs that are not in active IP pools.",
        not_in_active_pools.len()
    )?;
    writeln!(
        out,
        "Found {} in-use IPs that are in active IP pools but have no corresponding IPAM allocation.\n",
        in_use_not_allocated.len()
    )?;

    writeln!(out, "Scanning for IPAM handles with no matching IPs...")?;
    let mut leaked_handles = Vec::new();
    let mut handles_with_matches = 0;
    for (id, info) in &handles {
        if c.in_use_handles.contains(id) {
            handles_with_matches += 1;
            continue;
        }
        if opts.show_all_ips {
            writeln!(out, "  {id} doesn't have any active IPs.")?;
        }
        problems += 1;
        leaked_handles.push(info.clone());
    }
    writeln!(
        out,
        "Found {} handles with no matching IPs (and {handles_with_matches} handles with matches).",
        leaked_handles.len()
    )?;

    writeln!(out, "Scanning for IPs with missing handle...")?;
    let mut missing_handles = Vec::new();
    for id in &c.in_use_handles {
        if handles.contains_key(id) {
            continue;
        }
        if opts.show_problem_ips {
            writeln!(out, "  {id} is in use in a block but doesn't exist.")?;
        }
        missing_handles.push(id.clone());
    }
    writeln!(
        out,
        "Found {} handles mentioned in blocks with no matching handle resource.",
        missing_handles.len()
    )?;
    writeln!(out, "Check complete; found {problems} problems.")?;
    out.flush()?;

    let report = Report {
        version: version.to_string(),
        cluster_guid: ci.spec.cluster_guid.clone(),
        datastore_locked: ci.spec.datastore_ready == Some(false),
        cluster_information_revision: ci.metadata.resource_version.clone(),
        cluster_type: ci.spec.cluster_type.clone(),
        allocations: c
            .allocations
            .iter()
            .map(|(ip, a)| (ip.to_string(), a.clone()))
            .collect(),
        leaked_handles: leaked_handles.clone(),
    };
    if let Some(path) = report_file {
        write_report(path, &report.to_json());
    }
    Ok(CheckResult {
        blocks: blocks.len(),
        allocations: num_allocs,
        active_pools,
        node_ips: num_node_ips,
        workload_ips: num_wep_ips,
        in_use_ips: c.in_use.len(),
        allocated_not_in_use,
        not_in_active_pools,
        in_use_not_allocated,
        leaked_handles: leaked_handles.into_iter().map(|h| h.id).collect(),
        handles_with_matches,
        missing_handles,
        problems,
        report,
    })
}

/// Upstream's `os.WriteFile(file, bytes, 0o777)` whose error it drops: the check's result
/// stands whether or not the report could be written.
fn write_report(path: &str, json: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o777)
        .open(path)
        .and_then(|mut f| f.write_all(json.as_bytes()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_normalise_like_libcalico() {
        assert_eq!(normalise_ip("10.0.0.5/32").unwrap().to_string(), "10.0.0.5");
        assert_eq!(normalise_ip("10.0.0.5").unwrap().to_string(), "10.0.0.5");
        assert_eq!(
            normalise_ip("fd80:0::5/128").unwrap().to_string(),
            "fd80::5"
        );
        assert_eq!(
            normalise_ip("::ffff:10.0.0.5").unwrap().to_string(),
            "10.0.0.5"
        );
        assert_eq!(
            normalise_ip("10.0.0.x").unwrap_err(),
            "invalid CIDR address: 10.0.0.x"
        );
    }

    #[test]
    fn attrs_print_as_get_attr_string() {
        let mut a = AllocationAttribute {
            handle_id: Some("net1.c1".into()),
            ..Default::default()
        };
        a.active_owner_attrs.insert("pod".into(), "p".into());
        a.active_owner_attrs.insert("namespace".into(), "ns".into());
        assert_eq!(format_attrs(&a), "Main:net1.c1 Extra:namespace=ns,pod=p");
        assert_eq!(
            format_attrs(&AllocationAttribute::default()),
            "Main:<none> Extra:"
        );
    }

    /// Every branch of the scans, asserted on the library result and the problem lines: a used
    /// allocation also named by a node (two owners), a Windows reservation, a borrowed leak
    /// whose handle is missing, a leak whose attributes are missing, node tunnel addresses
    /// inside an active pool without an allocation and outside every active pool (one in a
    /// disabled pool), and an orphan handle.
    #[test]
    fn every_kind_of_problem() {
        use datastore::model::Handle;
        use datastore::resources::{IpPool, Node, NodeBgpSpec, WorkloadEndpoint};
        use datastore::{BlockKey, HandleKey, LocalStore};

        let dir = tempfile::tempdir().unwrap();
        let ds = Datastore::new(Box::new(LocalStore::open(dir.path()).unwrap()));
        ds.ensure_cluster_information("v3.28.0", "typ").unwrap();
        ds.create_resource(&IpPool::new("p1", IpPoolSpec::with_cidr("10.0.0.0/24")))
            .unwrap();
        let mut disabled = IpPoolSpec::with_cidr("10.1.0.0/24");
        disabled.disabled = true;
        ds.create_resource(&IpPool::new("p2", disabled)).unwrap();

        let cidr: IpNetwork = "10.0.0.0/26".parse().unwrap();
        let mut b = Block::new(
            cidr,
            Some("host:node1".into()),
            std::time::SystemTime::now(),
        );
        let attr = |h: &str, kv: &[(&str, &str)]| AllocationAttribute {
            handle_id: Some(h.into()),
            active_owner_attrs: kv
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        b.attributes = vec![
            attr(
                "h-a",
                &[("node", "node1"), ("pod", "w1"), ("namespace", "ns")],
            ),
            attr(WINDOWS_RESERVED_HANDLE, &[]),
            attr("h-missing", &[("node", "node2")]),
        ];
        for (ord, idx) in [(0, 0), (1, 1), (2, 2), (3, 9)] {
            b.allocations[ord] = Some(idx);
            b.unallocated.retain(|&o| o != ord);
        }
        ds.create(&BlockKey::new(cidr), &b).unwrap();
        ds.create(&HandleKey::new("h-a"), &Handle::default())
            .unwrap();
        ds.create(&HandleKey::new("h-orphan"), &Handle::default())
            .unwrap();

        let bgp = |ipip: &str| {
            Some(NodeBgpSpec {
                ipv4_ipip_tunnel_addr: ipip.into(),
                ..Default::default()
            })
        };
        let node1 = NodeSpec {
            bgp: bgp("10.0.0.0"),
            ..Default::default()
        };
        let node2 = NodeSpec {
            ipv4_vxlan_tunnel_addr: "10.0.0.50".into(),
            wireguard: Some(serde_json::json!({"interfaceIPv4Address": "192.168.0.1"})),
            ..Default::default()
        };
        let node3 = NodeSpec {
            bgp: bgp("10.1.0.5/32"),
            ..Default::default()
        };
        for (name, spec) in [("node1", node1), ("node2", node2), ("node3", node3)] {
            ds.create_resource(&Node::new(name, spec)).unwrap();
        }
        let wep = WorkloadEndpointSpec {
            ip_networks: vec!["10.0.0.0/32".into()],
            ..Default::default()
        };
        ds.create_resource(&WorkloadEndpoint::namespaced("ns", "w1", wep))
            .unwrap();

        let opts = CheckOptions {
            show_all_ips: false,
            show_problem_ips: true,
        };
        let mut out = Vec::new();
        let r = check(&ds, opts, "v9", None, &mut out).unwrap();
        let ips = |v: &[&str]| -> Vec<IpAddr> { v.iter().map(|s| s.parse().unwrap()).collect() };
        assert_eq!(r.blocks, 1);
        assert_eq!(r.allocations, 4);
        assert_eq!(r.active_pools, ["10.0.0.0/24"]);
        assert_eq!(r.node_ips, 4);
        assert_eq!(r.workload_ips, 1);
        assert_eq!(r.in_use_ips, 5);
        assert_eq!(r.allocated_not_in_use, ips(&["10.0.0.2", "10.0.0.3"]));
        assert_eq!(r.not_in_active_pools, ips(&["10.1.0.5", "192.168.0.1"]));
        assert_eq!(r.in_use_not_allocated, ips(&["10.0.0.50"]));
        assert_eq!(r.leaked_handles, ["h-orphan"]);
        assert_eq!(r.handles_with_matches, 1);
        assert_eq!(r.missing_handles, ["h-missing"]);
        assert_eq!(r.problems, 6);

        let text = String::from_utf8(out).unwrap();
        let from = text.find("Looking for top").unwrap();
        assert_eq!(
            &text[from..],
            "Looking for top (up to 20) nodes by allocations...
  node1 has 3 allocations
  node2 has 1 allocations
Node with most allocations has 3; median is 1

Scanning for IPs that are allocated but not actually in use...
  10.0.0.2 leaked; attrs Main:h-missing Extra:node=node2
  10.0.0.3 leaked; attrs <missing>
Found 2 IPs that are allocated in IPAM but not actually in use.
Scanning for IPs that are in use by a workload or node but not allocated in IPAM...
  10.0.0.0 has multiple owners.
  10.0.0.50 in use by Node(node2) and in active IPAM pool but has no IPAM allocation.
  10.1.0.5 in use by Node(node3) is not in any active IP pool.
  192.168.0.1 in use by Node(node2) is not in any active IP pool.
Found 2 in-use IPs that are not in active IP pools.
Found 1 in-use IPs that are in active IP pools but have no corresponding IPAM allocation.

Scanning for IPAM handles with no matching IPs...
Found 1 handles with no matching IPs (and 1 handles with matches).
Scanning for IPs with missing handle...
  h-missing is in use in a block but doesn't exist.
Found 1 handles mentioned in blocks with no matching handle resource.
Check complete; found 6 problems.
"
        );
        assert!(text.contains("Found 4 node tunnel IPs.\n"), "{text}");
        assert!(
            text.contains("Workloads and nodes are using 5 IPs.\n"),
            "{text}"
        );

        let a = &r.report.allocations;
        assert_eq!(
            a["10.0.0.0"][0].owners,
            Some(vec![
                "Node(node1)".to_string(),
                "Workload(ns/w1)".to_string()
            ])
        );
        // Upstream records the Windows reservation as a user before it records the allocation,
        // so the allocation itself stays "not in use" in the report (but is no leak).
        assert!(!a["10.0.0.1"][0].in_use);
        assert!(a["10.0.0.1"][0].handle.is_empty());
        assert!(a["10.0.0.2"][0].borrowed);
        assert_eq!(a["10.0.0.2"][0].node, "node2");
        assert!(!a["10.0.0.3"][0].borrowed);
        assert_eq!(r.report.version, "v9");
        assert_eq!(r.report.cluster_type, "typ");
    }

    #[test]
    fn report_is_go_indented_and_html_escaped() {
        let r = Report {
            version: "v1".into(),
            cluster_guid: "g".into(),
            datastore_locked: false,
            cluster_information_revision: "7".into(),
            cluster_type: "a&b".into(),
            allocations: BTreeMap::new(),
            leaked_handles: vec![],
        };
        assert_eq!(
            r.to_json(),
            "{\n  \"version\": \"v1\",\n  \"clusterGUID\": \"g\",\n  \"datastoreLocked\": false,\n  \"clusterInformationRevision\": \"7\",\n  \"clusterType\": \"a\\u0026b\",\n  \"allocations\": {}\n}"
        );
    }
}
