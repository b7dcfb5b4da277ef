//! `ipam show`, `ipam release --ip` and `ipam configure` (`ipam check` is in check.rs).

use std::fmt::Write;
use std::net::IpAddr;

use anyhow::{anyhow, Result};
use datastore::model::{VM_ADDRESS_PERSISTENCE_DISABLED, VM_ADDRESS_PERSISTENCE_ENABLED};
use datastore::resources::IpPoolSpec;
use datastore::{BlockList, Change, Datastore, IpamConfigKey, ResourceList};
use ipam::Ipam;
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

/// How `ipam release --ip` ended: upstream prints success on stdout, an unassigned address as
/// an error (stderr, exit 1), and an unparsable one on stdout with exit 1.
#[derive(Debug, PartialEq, Eq)]
pub enum Release {
    Released(IpAddr),
    NotAssigned(IpAddr),
    InvalidIp(String),
}

pub fn release(ds: &Datastore, ip: &str) -> Result<Release> {
    // Go's net.ParseIP; the messages print its String(), so `::ffff:a.b.c.d` prints dotted.
    let Ok(addr) = ip.parse::<IpAddr>().map(|a| a.to_canonical()) else {
        return Ok(Release::InvalidIp(ip.to_string()));
    };
    let unallocated = Ipam::new(ds)
        .release_ips(&[addr])
        .map_err(|e| anyhow!("error: {e}"))?;
    Ok(if unallocated.is_empty() {
        Release::Released(addr)
    } else {
        Release::NotAssigned(addr)
    })
}

/// `ipam show --ip`: who holds an address (handle, active and alternate owners — the
/// latter during a KubeVirt live migration), as calicoctl prints it; `None` when `ip` is not
/// an address (calicoctl's ValidateIP error).
pub fn show_ip(ds: &Datastore, ip: &str) -> Result<Option<String>> {
    let Ok(addr) = ip.parse::<IpAddr>().map(|a| a.to_canonical()) else {
        return Ok(None);
    };
    let blocks = ds.list(&BlockList::default())?;
    let holder = blocks
        .iter()
        .find(|(k, _)| k.cidr.contains(addr))
        .and_then(|(_, b)| b.value.attributes_at(b.value.ordinal_of(addr)?));
    let Some(attr) = holder else {
        return Ok(Some(format!("{addr} is not assigned\n")));
    };
    let mut out = format!("IP {addr} is in use\n");
    match &attr.handle_id {
        Some(h) => writeln!(out, "Handle ID: {}", ipam::block_ops::sanitize_handle(h))?,
        None => writeln!(out, "Handle ID: <none>")?,
    }
    let owners =
        |out: &mut String, title: &str, attrs: &std::collections::BTreeMap<String, String>| {
            if attrs.is_empty() {
                return false;
            }
            let _ = writeln!(out, "{title}:");
            for (k, v) in attrs {
                let _ = writeln!(out, "  {k}: {v}");
            }
            true
        };
    if !owners(
        &mut out,
        "Active Owner Attributes",
        &attr.active_owner_attrs,
    ) {
        writeln!(out, "No Active Owner attributes defined")?;
    }
    owners(
        &mut out,
        "Alternate Owner Attributes",
        &attr.alternate_owner_attrs,
    );
    Ok(Some(out))
}

/// `calicoctl ipam configure`'s flags (an empty value counts as not given).
#[derive(Debug, Default)]
pub struct Configure {
    pub strict_affinity: Option<String>,
    pub max_blocks_per_host: Option<String>,
    pub kubevirt_ip_persistence: Option<String>,
}

/// Go's `strconv.ParseBool`.
fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// `ipam configure`: the flags parsed as calicoctl parses them, the IPAM settings in force
/// changed and checked as libcalico-go's `SetIPAMConfig` checks them (written only when they
/// change), and calicoctl's confirmation lines.
pub fn configure(ds: &Datastore, flags: &Configure) -> Result<Vec<String>> {
    let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let strict = match given(&flags.strict_affinity) {
        None => None,
        Some(v) => Some(
            go_parse_bool(&v)
                .ok_or_else(|| anyhow!("invalid value. Use true or false to set strictaffinity"))?,
        ),
    };
    let max_blocks = match given(&flags.max_blocks_per_host) {
        None => None,
        // Go's strconv.ParseInt(v, 10, 32) takes what Rust's i32 parse takes (a sign, digits).
        Some(v) => Some(
            v.parse::<i32>()
                .map_err(|_| anyhow!("invalid value for maxblockhost. Use a valid number"))?,
        ),
    };
    let persistence = match given(&flags.kubevirt_ip_persistence).as_deref() {
        None => None,
        Some(v @ (VM_ADDRESS_PERSISTENCE_ENABLED | VM_ADDRESS_PERSISTENCE_DISABLED)) => {
            Some(v.to_string())
        }
        Some(_) => {
            return Err(anyhow!(
                "invalid value for --kubevirt-ip-persistence. Use Enabled or Disabled"
            ))
        }
    };
    if strict.is_none() && max_blocks.is_none() && persistence.is_none() {
        return Err(anyhow!(
            "at least one configuration option must be specified"
        ));
    }
    let current = ds.ipam_config().map_err(|e| anyhow!("error: {e}"))?;
    let mut want = current.clone();
    if let Some(s) = strict {
        want.strict_affinity = s;
    }
    if let Some(m) = max_blocks {
        want.max_blocks_per_host = i64::from(m);
    }
    if let Some(p) = &persistence {
        want.kube_virt_vm_address_persistence = Some(p.clone());
    }
    if want != current {
        want.validate().map_err(|e| anyhow!("error: {e}"))?;
        ds.modify(&IpamConfigKey, ipam::MAX_RETRIES, |_| {
            Ok(Change::Put(want.clone()))
        })
        .map_err(|e| anyhow!("error: {e}"))?;
    }
    let mut out = Vec::new();
    if let Some(s) = strict {
        out.push(format!("Successfully set StrictAffinity to: {s}"));
    }
    if let Some(m) = max_blocks {
        out.push(format!("Successfully set MaxBlocksPerHost to: {m}"));
    }
    if let Some(p) = persistence {
        out.push(format!(
            "Successfully set KubeVirtVMAddressPersistence to: {p}"
        ));
    }
    Ok(out)
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
