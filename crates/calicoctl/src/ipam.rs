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

/// calicoctl's row: counts as Go's `%.5g` of a float64, percentages as `%.f` (rounded).
fn row(group: &str, cidr: &str, total: u128, used: u128) -> [String; 5] {
    let (total, used) = (total as f64, used as f64);
    let free = total - used;
    [
        group.to_string(),
        cidr.to_string(),
        go_g5(total),
        format!("{} ({:.0}%)", go_g5(used), 100.0 * used / total),
        format!("{} ({:.0}%)", go_g5(free), 100.0 * free / total),
    ]
}

/// Go's `fmt.Sprintf("%.5g", v)`: five significant digits, the exponent form (`1.0486e+06`)
/// from 1e5 up or below 1e-4, trailing zeros dropped.
fn go_g5(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    // The exponent after rounding to five digits (99999.5 becomes 1e+05).
    let sci = format!("{v:.4e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..5).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        let decimals = (4 - exp).max(0) as usize;
        trim(&format!("{v:.decimals$}"))
    }
}

/// Renders like the tablewriter package calicoctl uses: headers centred (the odd space on the
/// right), cells that are plain numbers right-aligned, others left-aligned.
fn table(rows: &[[String; 5]]) -> String {
    let mut w = [0usize; 5];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let sep: String = w
        .iter()
        .map(|n| format!("+{}", "-".repeat(n + 2)))
        .collect::<String>()
        + "+\n";
    let is_number = |c: &str| {
        let digits = c.strip_prefix('-').unwrap_or(c);
        let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
        !int.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && !frac.is_empty()
            && frac.bytes().all(|b| b.is_ascii_digit())
    };
    let mut out = sep.clone();
    for (j, r) in rows.iter().enumerate() {
        for (i, c) in r.iter().enumerate() {
            let gap = w[i] - c.chars().count();
            let (left, right) = if j == 0 {
                (gap / 2, gap - gap / 2)
            } else if is_number(c) {
                (gap, 0)
            } else {
                (0, gap)
            };
            let _ = write!(out, "| {}{c}{} ", " ".repeat(left), " ".repeat(right));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_print_as_go_g5() {
        for (v, want) in [
            (0.0, "0"),
            (64.0, "64"),
            (65536.0, "65536"),
            (99999.0, "99999"),
            (100000.0, "1e+05"),
            (1048576.0, "1.0486e+06"),
            (1048472.0, "1.0485e+06"),
            (4294967296.0, "4.295e+09"),
            (1.8446744073709552e19, "1.8447e+19"),
        ] {
            assert_eq!(go_g5(v), want, "{v}");
        }
    }

    #[test]
    fn rows_and_table_look_like_calicoctl() {
        let rows = [
            [
                "GROUPING".to_string(),
                "CIDR".into(),
                "IPS TOTAL".into(),
                "IPS IN USE".into(),
                "IPS FREE".into(),
            ],
            row("IP Pool", "10.0.0.0/16", 65536, 5),
            row("Block", "10.0.0.0/26", 64, 5),
        ];
        assert_eq!(rows[1][3], "5 (0%)");
        assert_eq!(rows[1][4], "65531 (100%)");
        assert_eq!(rows[2][3], "5 (8%)");
        assert_eq!(
            table(&rows),
            "\
+----------+-------------+-----------+------------+--------------+
| GROUPING |    CIDR     | IPS TOTAL | IPS IN USE |   IPS FREE   |
+----------+-------------+-----------+------------+--------------+
| IP Pool  | 10.0.0.0/16 |     65536 | 5 (0%)     | 65531 (100%) |
| Block    | 10.0.0.0/26 |        64 | 5 (8%)     | 59 (92%)     |
+----------+-------------+-----------+------------+--------------+
"
        );
    }
}
