//! The nftables backend: table `cni_hostport` in families `ip` and `ip6`, upstream's v1.9 layout.
//!
//! ```text
//! prerouting   { type nat hook prerouting priority -100 ; }  [conditions] fib daddr type local jump hostports_all
//! output       { type nat hook output priority -100 ; }      [conditions] fib daddr type local jump hostports_all
//! hostports_all: jump hostip_hostports; jump hostports     (hostip_hostports: legacy, left empty)
//! hostports:     [ip daddr <hostIP>] tcp dport 8080 dnat to 10.0.0.2:80 comment "<container ID>"
//! masquerading { type nat hook postrouting priority 100 ; }
//!                ip saddr 10.0.0.2 ip daddr 10.0.0.2 masquerade comment "<container ID>"
//!                ip saddr 127.0.0.1 ip daddr 10.0.0.2 masquerade comment "<container ID>"
//! ```
//!
//! Rules carry the container ID as their comment (as upstream, so either plugin can delete the
//! other's rules). Upstream matches on that comment alone, so a re-ADD duplicates every rule
//! and a DEL on one network deletes the same container's rules of every other network. We key
//! a container's rules on comment *and* container address (the DNAT target or masquerade
//! destination, which differs between networks): ADD first deletes the rules it is about to
//! re-create, and DEL with a prevResult deletes only that attachment's rules.

use std::fmt::Write as _;
use std::net::IpAddr;

use ipnetwork::IpNetwork;

use super::{ip_port, Attachment, HostIp, PortMapper};
use crate::error::{FirewallError, Result};
use crate::nftables::{Nft, NftTable};
use crate::Family;

pub const TABLE: &str = "cni_hostport";
/// Jumps to both `hostip_hostports` and `hostports`.
const HOSTPORTS_ALL: &str = "hostports_all";
/// Held hostIP rules before v1.9; kept (empty) so upgraded nodes stay consistent.
const HOSTIP_HOSTPORTS: &str = "hostip_hostports";
const HOSTPORTS: &str = "hostports";
const MASQUERADING: &str = "masquerading";
/// The chains holding per-container rules.
const CONTAINER_CHAINS: [&str; 3] = [HOSTPORTS, HOSTIP_HOSTPORTS, MASQUERADING];

/// Does the rule text name `ip` as an address (DNAT target `ip:port` / `[ip]:port`, or a
/// `saddr`/`daddr` match)?
fn references(text: &str, ip: IpAddr) -> bool {
    let s = ip.to_string();
    let with_port = match ip {
        IpAddr::V4(_) => format!("{s}:"),
        IpAddr::V6(_) => format!("[{s}]:"),
    };
    text.split_whitespace()
        .any(|w| w == s || w.starts_with(&with_port))
}

/// The container's rules in our table: comment equal to the container ID and, when `ips` is
/// given, naming one of those addresses. (chain, handle) pairs.
fn owned_rules(table: &NftTable, container_id: &str, ips: Option<&[IpAddr]>) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for chain in CONTAINER_CHAINS {
        let Some(c) = table.chain(chain) else {
            continue;
        };
        for r in &c.rules {
            let ours = r.comment.as_deref() == Some(container_id)
                && ips.is_none_or(|ips| ips.iter().any(|ip| references(&r.text, *ip)));
            if ours {
                out.push((chain.to_string(), r.handle));
            }
        }
    }
    out
}

/// The ADD transaction for one family (upstream's, plus the deletion of `stale` rules).
fn add_script(att: &Attachment, container: IpNetwork, stale: &[(String, u64)]) -> String {
    let family = Family::of(&container.ip());
    let fam = family.nft();
    let ip = container.ip();
    let t = format!("{fam} {TABLE}");
    let cond: String = att
        .conditions(family)
        .iter()
        .map(|c| format!("{c} "))
        .collect();
    let comment = format!("comment \"{}\"", att.container_id);

    let mut s = String::new();
    let _ = writeln!(s, "add table {t} {{ comment \"CNI portmap plugin\" ; }}");
    for chain in [HOSTPORTS, HOSTIP_HOSTPORTS, HOSTPORTS_ALL] {
        let _ = writeln!(s, "add chain {t} {chain}");
    }
    let _ = writeln!(s, "flush chain {t} {HOSTPORTS_ALL}");
    let _ = writeln!(s, "add rule {t} {HOSTPORTS_ALL} jump {HOSTIP_HOSTPORTS}");
    let _ = writeln!(s, "add rule {t} {HOSTPORTS_ALL} jump {HOSTPORTS}");
    // The entry chains are rebuilt on every ADD, so the last ADD's conditions apply to all
    // containers (upstream behaviour).
    for (chain, hook) in [("prerouting", "prerouting"), ("output", "output")] {
        let _ = writeln!(
            s,
            "add chain {t} {chain} {{ type nat hook {hook} priority -100 ; }}"
        );
        let _ = writeln!(s, "flush chain {t} {chain}");
        let _ = writeln!(
            s,
            "add rule {t} {chain} {cond}fib daddr type local jump {HOSTPORTS_ALL}"
        );
    }
    if att.snat {
        let _ = writeln!(
            s,
            "add chain {t} {MASQUERADING} {{ type nat hook postrouting priority 100 ; }}"
        );
    }
    for (chain, handle) in stale {
        let _ = writeln!(s, "delete rule {t} {chain} handle {handle}");
    }
    for m in &att.mappings {
        let daddr = match m.host_ip(family) {
            HostIp::Skip => continue,
            HostIp::Any => String::new(),
            HostIp::Only(h) => format!("{fam} daddr {h} "),
        };
        let _ = writeln!(
            s,
            "add rule {t} {HOSTPORTS} {daddr}{} dport {} dnat to {} {comment}",
            m.protocol,
            m.host_port,
            ip_port(ip, m.container_port)
        );
    }
    if att.snat {
        if att.masq_all {
            let all = if family == Family::V6 {
                "::/0"
            } else {
                "0.0.0.0/0"
            };
            let _ = writeln!(
                s,
                "add rule {t} {MASQUERADING} {fam} saddr {all} {fam} daddr {ip} masquerade {comment}"
            );
        } else {
            // Hairpin, then (IPv4) localhost.
            let _ = writeln!(
                s,
                "add rule {t} {MASQUERADING} {fam} saddr {ip} {fam} daddr {ip} masquerade {comment}"
            );
            if family == Family::V4 {
                let _ = writeln!(
                    s,
                    "add rule {t} {MASQUERADING} ip saddr 127.0.0.1 ip daddr {ip} masquerade {comment}"
                );
            }
        }
    }
    s
}

/// The nftables backend.
#[derive(Debug, Clone, Default)]
pub struct NftablesPortMapper;

impl NftablesPortMapper {
    pub fn new() -> Self {
        NftablesPortMapper
    }

    /// One try of DEL: the deletions for both families, in one transaction.
    fn unforward_once(&self, nft: &Nft, att: &Attachment, ips: Option<&[IpAddr]>) -> Result<()> {
        let mut script = String::new();
        for family in [Family::V4, Family::V6] {
            let family_ips: Option<Vec<IpAddr>> = ips.map(|ips| {
                ips.iter()
                    .copied()
                    .filter(|ip| Family::of(ip) == family)
                    .collect()
            });
            if family_ips.as_ref().is_some_and(Vec::is_empty) {
                continue; // this attachment has no address (so no rules) in this family
            }
            let table = nft
                .list_table(family, TABLE)
                .map_err(|e| e.context(format!("could not list rules in table {TABLE}")))?;
            let Some(table) = table else { continue };
            for (chain, handle) in owned_rules(&table, &att.container_id, family_ips.as_deref()) {
                let _ = writeln!(
                    script,
                    "delete rule {} {TABLE} {chain} handle {handle}",
                    family.nft()
                );
            }
        }
        if script.is_empty() {
            return Ok(());
        }
        nft.run(&script)
            .map_err(|e| e.context("error deleting nftables rules"))
    }
}

impl PortMapper for NftablesPortMapper {
    fn forward_ports(&self, att: &Attachment, container: IpNetwork) -> Result<()> {
        let family = Family::of(&container.ip());
        let ctx = "unable to set up nftables rules for port mappings";
        let nft = Nft::new().map_err(|e| e.unavailable(ctx))?;
        // Our own earlier rules for this container address go in the same transaction, so a
        // re-ADD replaces rather than duplicates. A handle that vanished meanwhile (a
        // concurrent DEL) fails the transaction: read again and retry, once.
        let attempt = || -> Result<bool> {
            let table = nft.list_table(family, TABLE)?;
            let stale = table
                .map(|t| owned_rules(&t, &att.container_id, Some(&[container.ip()])))
                .unwrap_or_default();
            match nft.run(&add_script(att, container, &stale)) {
                Ok(()) => Ok(true),
                Err(_) if !stale.is_empty() => Ok(false),
                Err(e) => Err(e),
            }
        };
        if attempt().map_err(|e| e.context(ctx))? {
            return Ok(());
        }
        let table = nft.list_table(family, TABLE).map_err(|e| e.context(ctx))?;
        let stale = table
            .map(|t| owned_rules(&t, &att.container_id, Some(&[container.ip()])))
            .unwrap_or_default();
        nft.run(&add_script(att, container, &stale))
            .map_err(|e| e.context(ctx))
    }

    fn check_ports(&self, att: &Attachment, container: IpNetwork) -> Result<()> {
        let family = Family::of(&container.ip());
        let ip = container.ip();
        let nft = Nft::new()?;
        let table = nft.list_table(family, TABLE)?.unwrap_or_default();
        let count = |chains: &[&str]| -> usize {
            chains
                .iter()
                .filter_map(|c| table.chain(c))
                .flat_map(|c| &c.rules)
                .filter(|r| {
                    r.comment.as_deref() == Some(att.container_id.as_str())
                        && references(&r.text, ip)
                })
                .count()
        };
        // Rules made before v1.9 may still sit in hostip_hostports: count them too.
        let want = att
            .mappings
            .iter()
            .filter(|m| m.host_ip(family) != HostIp::Skip)
            .count();
        if want > 0 && count(&[HOSTPORTS, HOSTIP_HOSTPORTS]) < want {
            return Err(FirewallError::MissingNftRules {
                chain: HOSTPORTS.into(),
            });
        }
        if att.snat {
            let want = if family == Family::V4 && !att.masq_all {
                2
            } else {
                1
            };
            if count(&[MASQUERADING]) < want {
                return Err(FirewallError::MissingNftRules {
                    chain: MASQUERADING.into(),
                });
            }
        }
        Ok(())
    }

    fn unforward_ports(&self, att: &Attachment, container_ips: Option<&[IpAddr]>) -> Result<()> {
        // Upstream skips a family whose nft cannot be set up; without nft there is nothing.
        let Ok(nft) = Nft::new() else { return Ok(()) };
        match self.unforward_once(&nft, att, container_ips) {
            Ok(()) => Ok(()),
            // A rule deleted meanwhile by someone else fails the transaction: once more.
            Err(_) => self.unforward_once(&nft, att, container_ips),
        }
    }

    /// Rules are keyed by container ID only, and the table is shared by every network, so
    /// this network's stale rules cannot be told from another network's live ones: GC keeps
    /// them (DEL removes them).
    fn gc(&self, _network: &str, _valid_container_ids: &[String]) -> Result<()> {
        Ok(())
    }

    fn status(&self) -> Result<()> {
        Nft::new()?.check(&format!("add table ip {TABLE}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portmap::PortMapping;

    fn att() -> Attachment {
        let pm = |h, c, p: &str, ip: &str| PortMapping {
            host_port: h,
            container_port: c,
            protocol: p.into(),
            host_ip: ip.into(),
        };
        Attachment {
            network: "test".into(),
            container_id: "icee6giejonei6so".into(),
            mappings: vec![
                pm(8080, 80, "tcp", ""),
                pm(8080, 81, "udp", ""),
                pm(8083, 83, "tcp", "192.168.0.2"),
                pm(8084, 84, "tcp", "0.0.0.0"),
                pm(8085, 85, "tcp", "2001:db8:a::1"),
                pm(8086, 86, "tcp", "::"),
            ],
            snat: true,
            masq_all: false,
            mark_bit: 13,
            external_set_mark_chain: None,
            conditions_v4: Some(vec!["a".into(), "b".into()]),
            conditions_v6: Some(vec!["c".into(), "d".into()]),
        }
    }

    #[test]
    fn v4_transaction_matches_upstream() {
        let s = add_script(
            &att(),
            "10.0.0.2/24".parse().unwrap(),
            &[("hostports".into(), 7)],
        );
        assert_eq!(
            s,
            r#"add table ip cni_hostport { comment "CNI portmap plugin" ; }
add chain ip cni_hostport hostports
add chain ip cni_hostport hostip_hostports
add chain ip cni_hostport hostports_all
flush chain ip cni_hostport hostports_all
add rule ip cni_hostport hostports_all jump hostip_hostports
add rule ip cni_hostport hostports_all jump hostports
add chain ip cni_hostport prerouting { type nat hook prerouting priority -100 ; }
flush chain ip cni_hostport prerouting
add rule ip cni_hostport prerouting a b fib daddr type local jump hostports_all
add chain ip cni_hostport output { type nat hook output priority -100 ; }
flush chain ip cni_hostport output
add rule ip cni_hostport output a b fib daddr type local jump hostports_all
add chain ip cni_hostport masquerading { type nat hook postrouting priority 100 ; }
delete rule ip cni_hostport hostports handle 7
add rule ip cni_hostport hostports tcp dport 8080 dnat to 10.0.0.2:80 comment "icee6giejonei6so"
add rule ip cni_hostport hostports udp dport 8080 dnat to 10.0.0.2:81 comment "icee6giejonei6so"
add rule ip cni_hostport hostports ip daddr 192.168.0.2 tcp dport 8083 dnat to 10.0.0.2:83 comment "icee6giejonei6so"
add rule ip cni_hostport hostports tcp dport 8084 dnat to 10.0.0.2:84 comment "icee6giejonei6so"
add rule ip cni_hostport masquerading ip saddr 10.0.0.2 ip daddr 10.0.0.2 masquerade comment "icee6giejonei6so"
add rule ip cni_hostport masquerading ip saddr 127.0.0.1 ip daddr 10.0.0.2 masquerade comment "icee6giejonei6so"
"#
        );
    }

    #[test]
    fn v6_transaction_without_snat() {
        let mut a = att();
        a.snat = false;
        let s = add_script(&a, "2001:db8::2/64".parse().unwrap(), &[]);
        assert!(s.contains(
            "add rule ip6 cni_hostport prerouting c d fib daddr type local jump hostports_all\n"
        ));
        assert!(s.contains("add rule ip6 cni_hostport hostports tcp dport 8080 dnat to [2001:db8::2]:80 comment \"icee6giejonei6so\"\n"));
        assert!(s.contains("add rule ip6 cni_hostport hostports ip6 daddr 2001:db8:a::1 tcp dport 8085 dnat to [2001:db8::2]:85"));
        assert!(s.contains("tcp dport 8086 dnat to [2001:db8::2]:86"));
        assert!(!s.contains("8083") && !s.contains("8084"));
        assert!(!s.contains("masquerad"));
    }

    #[test]
    fn masq_all_is_one_rule() {
        let mut a = att();
        a.masq_all = true;
        let s = add_script(&a, "10.0.0.2/24".parse().unwrap(), &[]);
        assert_eq!(s.matches(" masquerade ").count(), 1);
        assert!(s.contains("ip saddr 0.0.0.0/0 ip daddr 10.0.0.2 masquerade"));
    }

    #[test]
    fn ownership_needs_comment_and_address() {
        let t = NftTable::parse(
            r#"table ip cni_hostport {
	chain hostports {
		tcp dport 8080 dnat to 10.0.0.2:80 comment "c1" # handle 4
		tcp dport 8081 dnat to 10.1.0.2:80 comment "c1" # handle 5
		tcp dport 8082 dnat to 10.0.0.20:80 comment "c2" # handle 6
	}
	chain masquerading {
		ip saddr 10.0.0.2 ip daddr 10.0.0.2 masquerade comment "c1" # handle 8
	}
}
"#,
        );
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            owned_rules(&t, "c1", Some(&[ip("10.0.0.2")])),
            [
                ("hostports".to_string(), 4),
                ("masquerading".to_string(), 8)
            ]
        );
        assert_eq!(owned_rules(&t, "c1", None).len(), 3);
        assert!(owned_rules(&t, "c2", Some(&[ip("10.0.0.2")])).is_empty());
        assert!(references(
            "tcp dport 1 dnat to [2001:db8::2]:80",
            ip("2001:db8::2")
        ));
        assert!(!references(
            "tcp dport 1 dnat to [2001:db8::20]:80",
            ip("2001:db8::2")
        ));
    }
}
