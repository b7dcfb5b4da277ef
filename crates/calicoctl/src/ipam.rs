//! `ipam show`, `ipam check`, `ipam release --ip`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::net::IpAddr;

use anyhow::{bail, Result};
use calico_ipam::Ipam;
use datastore::resources::{IpPoolSpec, WorkloadEndpointSpec};
use datastore::{BlockList, Datastore, HandleList, ResourceList};
use ipnetwork::IpNetwork;

fn size(n: &IpNetwork) -> u128 {
    let bits = if n.is_ipv4() { 32 } else { 128 } - u32::from(n.prefix());
    1u128.checked_shl(bits).unwrap_or(u128::MAX)
}

fn pct(part: u128, whole: u128) -> u128 {
    (part.saturating_mul(100)).checked_div(whole).unwrap_or(0)
}

/// The table calicoctl prints: one row per pool, and with `show_blocks` one per block.
pub fn show(ds: &Datastore, show_blocks: bool) -> Result<String> {
    let pools = ds.list_resources(&ResourceList::<IpPoolSpec>::all())?;
    let blocks = ds.list(&BlockList::default())?;
    let mut rows = vec![[
        "GROUPING".to_string(),
        "CIDR".into(),
        "IPS TOTAL".into(),
        "IPS IN USE".into(),
        "IPS FREE".into(),
    ]];
    for p in &pools {
        let Some(cidr) = p.spec.network() else {
            continue;
        };
        let total = size(&cidr);
        let in_pool: Vec<_> = blocks
            .iter()
            .filter(|(k, _)| cidr.contains(k.cidr.network()))
            .collect();
        let used: u128 = in_pool.iter().map(|(_, b)| b.value.in_use() as u128).sum();
        rows.push(row("IP Pool", &cidr.to_string(), total, used));
        if show_blocks {
            for (k, b) in in_pool {
                rows.push(row(
                    "Block",
                    &k.cidr.to_string(),
                    size(&k.cidr),
                    b.value.in_use() as u128,
                ));
            }
        }
    }
    Ok(table(&rows))
}

fn row(group: &str, cidr: &str, total: u128, used: u128) -> [String; 5] {
    [
        group.to_string(),
        cidr.to_string(),
        total.to_string(),
        format!("{used} ({}%)", pct(used, total)),
        format!("{} ({}%)", total - used, pct(total - used, total)),
    ]
}

fn table(rows: &[[String; 5]]) -> String {
    let mut w = [0usize; 5];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let sep: String = w
        .iter()
        .map(|n| format!("+{}", "-".repeat(n + 2)))
        .collect::<String>()
        + "+\n";
    let mut out = sep.clone();
    for (j, r) in rows.iter().enumerate() {
        for (i, c) in r.iter().enumerate() {
            let _ = write!(out, "| {c:<width$} ", width = w[i]);
        }
        out.push_str("|\n");
        if j == 0 {
            out.push_str(&sep);
        }
    }
    out.push_str(&sep);
    out
}

/// Problems `ipam check` found.
#[derive(Debug, Default)]
pub struct Report {
    pub allocations: usize,
    /// Allocated addresses no workload endpoint claims (with their handle).
    pub leaked: Vec<(IpAddr, String)>,
    /// Allocations whose handle object is missing.
    pub missing_handles: Vec<(IpAddr, String)>,
    /// Handles that point at no allocation.
    pub handles_without_blocks: Vec<String>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.leaked.is_empty()
            && self.missing_handles.is_empty()
            && self.handles_without_blocks.is_empty()
    }

    pub fn render(&self) -> String {
        let mut s = format!("Found {} IPAM allocations.\n", self.allocations);
        let _ = writeln!(
            s,
            "Found {} allocations without a workload endpoint.",
            self.leaked.len()
        );
        for (ip, h) in &self.leaked {
            let _ = writeln!(s, "  {ip} leaked (handle {h})");
        }
        let _ = writeln!(
            s,
            "Found {} allocations whose handle is missing.",
            self.missing_handles.len()
        );
        for (ip, h) in &self.missing_handles {
            let _ = writeln!(s, "  {ip} (handle {h})");
        }
        let _ = writeln!(
            s,
            "Found {} handles without an allocation.",
            self.handles_without_blocks.len()
        );
        for h in &self.handles_without_blocks {
            let _ = writeln!(s, "  {h}");
        }
        s.push_str(if self.is_clean() {
            "Check complete: no problems found.\n"
        } else {
            "Check complete: problems found.\n"
        });
        s
    }
}

pub fn check(ds: &Datastore) -> Result<Report> {
    let mut report = Report::default();
    let weps = ds.list_resources(&ResourceList::<WorkloadEndpointSpec>::all())?;
    let claimed: BTreeSet<IpAddr> = weps
        .iter()
        .flat_map(|w| w.spec.ip_networks.iter())
        .filter_map(|n| n.parse::<IpNetwork>().ok())
        .map(|n| n.ip())
        .collect();
    let handles: BTreeMap<String, _> = ds
        .list(&HandleList)?
        .into_iter()
        .map(|(k, v)| (k.id, v.value))
        .collect();
    let mut used_handles = BTreeSet::new();
    for (_, b) in ds.list(&BlockList::default())? {
        for o in 0..b.value.allocations.len() {
            let Some(attr) = b.value.attributes_at(o) else {
                continue;
            };
            let Some(ip) = b.value.ip_at(o) else { continue };
            report.allocations += 1;
            let h = attr.handle_id.clone().unwrap_or_default();
            used_handles.insert(h.clone());
            if !claimed.contains(&ip) {
                report.leaked.push((ip, h.clone()));
            }
            if !h.is_empty() && !handles.contains_key(&h) {
                report.missing_handles.push((ip, h));
            }
        }
    }
    report.handles_without_blocks = handles
        .keys()
        .filter(|h| !used_handles.contains(*h))
        .cloned()
        .collect();
    Ok(report)
}

pub fn release(ds: &Datastore, ip: &str) -> Result<String> {
    let Ok(addr) = ip.parse::<IpAddr>() else {
        bail!("invalid IP address specified: {ip}");
    };
    let unallocated = Ipam::new(ds).release_ips(&[addr])?;
    if !unallocated.is_empty() {
        bail!("IP address {ip} is not assigned");
    }
    Ok(format!("Successfully released IP address {ip}"))
}
