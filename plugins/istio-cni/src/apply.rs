//! Writing a pod's rules into its network namespace: which iptables build to use, whether the
//! rules are already there, one `iptables-restore --noflush` per family, then the TPROXY
//! routing and the IPv6 inbound address.
//!
//! Upstream (`tools/istio-iptables` `DetectIptablesVersion`, `VerifyIptablesState`,
//! `executeCommands`) has two defects this module does not copy (see the README):
//! - its backend probe adds and deletes a rule with each candidate, which leaves an empty
//!   `nat` table behind in the legacy backend; the next ADD on the netns then sees "legacy has
//!   rules" and writes a second rule set with the other binary. Here the choice only reads
//!   (`-save`), and empty built-in tables do not count as rules;
//! - a re-ADD whose rules differ from the ones present fails on the first `-N` ("Chain already
//!   exists"). Here the old set is replaced in the same transaction.

use std::net::IpAddr;
use std::path::Path;

use firewall::iptables::SavedTables;
use firewall::{Family, Iptables, Variant};
use futures_util::TryStreamExt;
use netkit::{NetNs, Netlink};
use netlink_packet_route::address::AddressAttribute;

use crate::builder::{self, Builder, Rule};
use crate::capture::Config;

/// What happened to one family's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No Istio chains were there; the rules were written.
    Created,
    /// The same rules were already there (a repeated ADD): nothing was run but the checks.
    Unchanged,
    /// Different Istio rules were there; they were replaced in one transaction.
    Replaced,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub family: Family,
    pub variant: Variant,
    pub outcome: Outcome,
}

/// Upstream's `getLocalIP` in the current netns: the first non-loopback, non-link-local
/// address in kernel order decides whether IPv6 is on; with `dual_stack`, any such IPv6
/// address turns it on.
pub fn local_ip(nl: &Netlink, dual_stack: bool) -> Result<(IpAddr, bool), String> {
    let addrs: Vec<IpAddr> = nl
        .block_on(async {
            let mut stream = nl.handle().address().get().execute();
            let mut out = Vec::new();
            while let Some(msg) = stream.try_next().await? {
                let mut addr = None;
                for attr in &msg.attributes {
                    match attr {
                        AddressAttribute::Local(a) => addr = Some(*a),
                        AddressAttribute::Address(a) if addr.is_none() => addr = Some(*a),
                        _ => {}
                    }
                }
                if let Some(a) = addr {
                    out.push(a);
                }
            }
            Ok::<_, rtnetlink::Error>(out)
        })
        .map_err(|e| e.to_string())?;
    let mut found: Vec<IpAddr> = Vec::new();
    let mut ipv6 = false;
    for a in addrs {
        let a = match a {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        if a.is_loopback() || is_link_local(&a) {
            continue;
        }
        ipv6 = a.is_ipv6();
        found.push(a);
        if !dual_stack {
            return Ok((a, ipv6));
        }
        if ipv6 {
            break;
        }
    }
    found
        .first()
        .map(|a| (*a, ipv6))
        .ok_or_else(|| "no valid local IP address found".to_string())
}

fn is_link_local(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_link_local() || (o[0] == 224 && o[1] == 0 && o[2] == 0)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xff0f) == 0xff02
        }
    }
}

/// The iptables build to use for `family` in the current netns, and what its tables hold
/// now. Legacy when the legacy tables already hold rules (someone uses them in this netns),
/// else nf_tables, else whatever plain `iptables` is. Nothing is written to decide.
fn pick(family: Family, lock: &Path) -> Result<(Iptables, String), String> {
    let with_lock = |i: Iptables| i.with_env("XTABLES_LOCKFILE", &lock.to_string_lossy());
    if let Ok(legacy) = Iptables::with_variant(family, Variant::Legacy) {
        let legacy = with_lock(legacy);
        if let Ok(text) = legacy.save() {
            if SavedTables::parse(&text).has_content() {
                return Ok((legacy, text));
            }
        }
    }
    if let Ok(nft) = Iptables::with_variant(family, Variant::Nft) {
        if let Ok(text) = nft.save() {
            return Ok((nft, text));
        }
    }
    let plain = Iptables::new(family).map_err(|e| e.to_string())?;
    let plain = with_lock(plain);
    let text = plain.save().map_err(|e| e.to_string())?;
    Ok((plain, text))
}

fn restore_flags(ipt: &Iptables) -> &'static [&'static str] {
    match ipt.variant() {
        Variant::Nft => &[],
        _ => &["-w"],
    }
}

fn is_istio(chain: &str) -> bool {
    chain.starts_with("ISTIO_")
}

/// `-C` lines for `rules`, as one restore input.
fn check_text(rules: &[&Rule]) -> String {
    let mut by_table: Vec<(&str, Vec<String>)> = Vec::new();
    for r in rules {
        let line = format!("-C {} {}", r.chain, r.spec().join(" "));
        match by_table.iter_mut().find(|(t, _)| *t == r.table) {
            Some((_, lines)) => lines.push(line),
            None => by_table.push((&r.table, vec![line])),
        }
    }
    let mut out = String::new();
    for (table, lines) in by_table {
        out.push_str(&format!("*{table}\n"));
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
        out.push_str("COMMIT\n");
    }
    out
}

/// Writes `rules` (one family's) with `ipt`, given what `-save` printed.
fn apply_family(ipt: &Iptables, saved_text: &str, rules: &[Rule]) -> Result<Outcome, String> {
    let flags = restore_flags(ipt);
    let saved = SavedTables::parse(saved_text);
    let present: Vec<(String, String)> = saved
        .tables
        .iter()
        .flat_map(|t| {
            t.user_chains()
                .filter(|c| is_istio(c))
                .map(|c| (t.name.clone(), c.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    let text = builder::restore_text(rules);
    if present.is_empty() {
        ipt.restore(&text, flags).map_err(|e| e.to_string())?;
        return Ok(Outcome::Created);
    }

    // Upstream's equivalence: the same Istio chains, as many rules in each, and every planned
    // rule present (asked of iptables itself with `-C`, so the printed form does not matter).
    let planned = builder::tables(rules);
    let mut want: Vec<(String, String)> = Vec::new();
    for (table, chains, _) in &planned {
        for c in chains.iter().filter(|c| is_istio(c)) {
            want.push((table.clone(), c.clone()));
        }
    }
    let mut a = present.clone();
    let mut b = want.clone();
    a.sort();
    b.sort();
    let counts_match = want.iter().all(|(table, chain)| {
        let have = saved
            .table(table)
            .map(|t| t.rules_in(chain).count())
            .unwrap_or(0);
        let need = rules
            .iter()
            .filter(|r| &r.table == table && &r.chain == chain)
            .count();
        have == need
    });
    if a == b && counts_match {
        let all: Vec<&Rule> = rules.iter().collect();
        if ipt
            .try_restore(&check_text(&all), flags)
            .map_err(|e| e.to_string())?
        {
            return Ok(Outcome::Unchanged);
        }
    }

    // Replace: drop the jumps into Istio chains and the chains themselves, then write the new
    // set, all in one transaction per table. Planned rules in built-in chains that are not
    // jumps into Istio chains (TPROXY marks, interface exclusions) are kept if present rather
    // than added twice.
    let mut keep: Vec<&Rule> = Vec::new();
    for r in rules {
        if builder::is_builtin(&r.chain) && !r.jump().is_some_and(is_istio) {
            let one = check_text(&[r]);
            if ipt.try_restore(&one, flags).map_err(|e| e.to_string())? {
                keep.push(r);
            }
        }
    }
    let mut tables: Vec<String> = saved
        .tables
        .iter()
        .filter(|t| {
            t.user_chains().any(is_istio)
                || t.rules.iter().any(|r| r.target().is_some_and(is_istio))
        })
        .map(|t| t.name.clone())
        .collect();
    for (t, _, _) in &planned {
        if !tables.contains(t) {
            tables.push(t.clone());
        }
    }
    tables.sort();
    let mut out = String::new();
    for table in &tables {
        out.push_str(&format!("*{table}\n"));
        if let Some(t) = saved.table(table) {
            for r in &t.rules {
                if t.is_builtin(&r.chain) && r.target().is_some_and(is_istio) {
                    out.push_str(&format!("-D {} {}\n", r.chain, r.spec));
                }
            }
            let chains: Vec<&str> = t.user_chains().filter(|c| is_istio(c)).collect();
            for c in &chains {
                out.push_str(&format!("-F {c}\n"));
            }
            for c in &chains {
                out.push_str(&format!("-X {c}\n"));
            }
        }
        if let Some((_, chains, rs)) = planned.iter().find(|(t, _, _)| t == table) {
            for c in chains {
                out.push_str(&format!("-N {c}\n"));
            }
            for r in rs {
                if !keep.iter().any(|k| std::ptr::eq(*k, *r)) {
                    out.push_str(&r.line());
                    out.push('\n');
                }
            }
        }
        out.push_str("COMMIT\n");
    }
    ipt.restore(&out, flags).map_err(|e| e.to_string())?;
    Ok(Outcome::Replaced)
}

/// Applies both families' rules inside `ns` (IPv6 only when the builder has it on).
pub fn program(ns: &NetNs, builder: &Builder) -> Result<Vec<Applied>, String> {
    let lock = ns.path().to_path_buf();
    let mut families = vec![(Family::V4, builder.v4.clone())];
    if builder.ipv6() {
        families.push((Family::V6, builder.v6.clone()));
    }
    ns.run(move || {
        let mut done = Vec::new();
        for (family, rules) in families {
            let (ipt, saved) = pick(family, &lock)?;
            let outcome = apply_family(&ipt, &saved, &rules)?;
            done.push(Applied {
                family,
                variant: ipt.variant(),
                outcome,
            });
        }
        Ok(done)
    })
    .map_err(|e| e.to_string())?
}

/// Upstream's `ConfigureRoutes`: `::6/128` on `lo` when IPv6 is on; for TPROXY with inbound
/// capture, `ip rule fwmark <mark> lookup <table>` and `ip route add local default dev lo
/// table <table>` per family. "Exists" answers are fine (a repeated ADD).
pub fn routes(nl: &Netlink, cfg: &Config) -> Result<(), String> {
    use netlink_packet_route::route::{RouteScope, RouteType};
    use netlink_packet_route::rule::{RuleAction, RuleAttribute};

    let lo = nl
        .link_by_name("lo")
        .map_err(|e| format!("failed to find 'lo' link: {e}"))?
        .ok_or_else(|| "failed to find 'lo' link: Link not found".to_string())?;
    if cfg.enable_ipv6 {
        let six: netkit::ipnetwork::IpNetwork = "::6/128".parse().expect("literal");
        if let Err(e) = nl.address_add(lo.index, six) {
            if !e.is_exists() {
                return Err(format!("failed to add IPv6 inbound address: {e}"));
            }
        }
    }
    if cfg.inbound_ports_include.is_empty() || !cfg.tproxy() {
        return Ok(());
    }
    let table: u32 = cfg
        .inbound_tproxy_route_table
        .parse()
        .map_err(|e| format!("failed to parse InboundTProxyRouteTable: {e}"))?;
    let mark: u32 = cfg
        .inbound_tproxy_mark
        .parse()
        .map_err(|e| format!("failed to parse InboundTProxyMark: {e}"))?;
    let exists = |e: &rtnetlink::Error| matches!(e, rtnetlink::Error::NetlinkError(m) if m.raw_code() == -libc::EEXIST);
    let mut v6 = vec![false];
    if cfg.enable_ipv6 {
        v6.push(true);
    }
    for &is_v6 in &v6 {
        // Upstream adds the rule on every ADD; without a priority the kernel takes each as
        // new, so a repeated ADD stacks duplicates. Add it only when it is not there.
        let version = if is_v6 {
            rtnetlink::IpVersion::V6
        } else {
            rtnetlink::IpVersion::V4
        };
        let present = nl
            .block_on(async {
                let mut stream = nl.handle().rule().get(version).execute();
                while let Some(r) = stream.try_next().await? {
                    let table_of = r
                        .attributes
                        .iter()
                        .find_map(|a| match a {
                            RuleAttribute::Table(t) => Some(*t),
                            _ => None,
                        })
                        .unwrap_or(u32::from(r.header.table));
                    let marked = r
                        .attributes
                        .iter()
                        .any(|a| matches!(a, RuleAttribute::FwMark(m) if *m == mark));
                    if marked && table_of == table {
                        return Ok(true);
                    }
                }
                Ok::<_, rtnetlink::Error>(false)
            })
            .map_err(|e| format!("failed to configure netlink rule: {e}"))?;
        if present {
            continue;
        }
        let req = nl
            .handle()
            .rule()
            .add()
            .table_id(table)
            .fw_mark(mark)
            .action(RuleAction::ToTable);
        let res = nl.block_on(async {
            if is_v6 {
                req.v6().execute().await
            } else {
                req.v4().execute().await
            }
        });
        if let Err(e) = res {
            if !exists(&e) {
                return Err(format!("failed to configure netlink rule: {e}"));
            }
        }
    }
    for &is_v6 in &v6 {
        let msg = if is_v6 {
            rtnetlink::RouteMessageBuilder::<std::net::Ipv6Addr>::new()
                .output_interface(lo.index)
                .table_id(table)
                .scope(RouteScope::Host)
                .kind(RouteType::Local)
                .build()
        } else {
            rtnetlink::RouteMessageBuilder::<std::net::Ipv4Addr>::new()
                .output_interface(lo.index)
                .table_id(table)
                .scope(RouteScope::Host)
                .kind(RouteType::Local)
                .build()
        };
        let res = nl.block_on(nl.handle().route().add(msg).execute());
        if let Err(e) = res {
            if !exists(&e) {
                return Err(format!("failed to add route: {e}"));
            }
        }
    }
    Ok(())
}
