//! The `portmap` plugin's forwarding rules: host port → container port, for one container
//! attachment, with upstream's (containernetworking/plugins v1.9.x) chain layout and rule text
//! so a node can switch between the Go plugin and ours with existing mappings intact.

mod iptables;
mod nftables;

pub use self::iptables::{
    IptablesPortMapper, MARK_MASQ_CHAIN, OLD_TOP_LEVEL_SNAT_CHAIN, SET_MARK_CHAIN,
    TOP_LEVEL_DNAT_CHAIN,
};
pub use self::nftables::{NftablesPortMapper, TABLE as NFT_TABLE};

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use sha2::{Digest, Sha512};

use crate::{Family, Result};

/// One entry of `runtimeConfig.portMappings`. Numbers are kept as given (upstream validates
/// only `> 0`); the protocol is passed to iptables/nft verbatim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortMapping {
    pub host_port: i64,
    pub container_port: i64,
    pub protocol: String,
    pub host_ip: String,
}

/// Where a mapping applies for a container address of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostIp<'a> {
    /// The mapping's hostIP is of the other family: no rules in this family.
    Skip,
    /// No hostIP, or an unspecified one: any local address.
    Any,
    /// Only traffic to this host address (the text as given).
    Only(&'a str),
}

impl PortMapping {
    /// Upstream's hostIP rule (Go's `net.ParseIP`): an unparsable hostIP counts as IPv6 and is
    /// used verbatim; an IPv4-mapped IPv6 address counts as IPv4.
    pub(crate) fn host_ip(&self, family: Family) -> HostIp<'_> {
        if self.host_ip.is_empty() {
            return HostIp::Any;
        }
        let (v6, unspecified) = match self.host_ip.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => (false, a.is_unspecified()),
            Ok(IpAddr::V6(a)) => match a.to_ipv4_mapped() {
                Some(v4) => (false, v4.is_unspecified()),
                None => (true, a.is_unspecified()),
            },
            Err(_) => (true, false),
        };
        if v6 != (family == Family::V6) {
            HostIp::Skip
        } else if unspecified {
            HostIp::Any
        } else {
            HostIp::Only(&self.host_ip)
        }
    }
}

/// Everything about one container attachment the rules depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The network name (part of the iptables chain name and comments).
    pub network: String,
    pub container_id: String,
    pub mappings: Vec<PortMapping>,
    /// Masquerade hairpin and localhost traffic (default true).
    pub snat: bool,
    /// Masquerade traffic from every source, not just hairpin and localhost.
    pub masq_all: bool,
    /// The masquerade mark bit (iptables; default 13).
    pub mark_bit: u32,
    /// Jump here instead of our own SETMARK chain (iptables).
    pub external_set_mark_chain: Option<String>,
    pub conditions_v4: Option<Vec<String>>,
    pub conditions_v6: Option<Vec<String>>,
}

impl Attachment {
    pub(crate) fn conditions(&self, family: Family) -> &[String] {
        let c = match family {
            Family::V4 => &self.conditions_v4,
            Family::V6 => &self.conditions_v6,
        };
        c.as_deref().unwrap_or(&[])
    }
}

/// A port-mapping backend.
pub trait PortMapper {
    /// ADD for one container address (with its prefix, e.g. `10.0.0.2/24`).
    fn forward_ports(&self, att: &Attachment, container: IpNetwork) -> Result<()>;

    /// CHECK for one container address.
    fn check_ports(&self, att: &Attachment, container: IpNetwork) -> Result<()>;

    /// DEL for the attachment, both families, idempotent. `container_ips` are the
    /// attachment's addresses when the runtime still knows them (prevResult); backends whose
    /// rules are not keyed by network use them to leave other networks' rules alone.
    fn unforward_ports(&self, att: &Attachment, container_ips: Option<&[IpAddr]>) -> Result<()>;

    /// GC: removes this network's rules of containers not in `valid_container_ids`.
    fn gc(&self, network: &str, valid_container_ids: &[String]) -> Result<()>;

    /// STATUS: fails if the backend cannot be used on this host.
    fn status(&self) -> Result<()>;
}

/// Upstream's `utils.MustFormatChainNameWithPrefix`: `CNI-<prefix>` followed by the SHA-512 of
/// network name + container ID in lowercase hex, cut to 28 characters in total.
pub fn chain_name(network: &str, container_id: &str, prefix: &str) -> String {
    const MAX_CHAIN_LENGTH: usize = 28;
    let mut h = Sha512::new();
    h.update(network.as_bytes());
    h.update(container_id.as_bytes());
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let mut name = format!("CNI-{prefix}");
    let room = MAX_CHAIN_LENGTH.saturating_sub(name.len());
    name.push_str(&hex[..room]);
    name
}

/// `ip:port`, or `[ip]:port` for IPv6 (Go's `net.JoinHostPort`).
pub(crate) fn ip_port(ip: IpAddr, port: i64) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// Host ports grouped by protocol, protocols in byte order (Go's `sort.Strings`), ports in
/// input order without de-duplication.
pub(crate) fn group_by_proto(mappings: &[PortMapping]) -> Vec<(&str, Vec<i64>)> {
    let mut groups: Vec<(&str, Vec<i64>)> = Vec::new();
    for m in mappings {
        match groups.iter_mut().find(|(p, _)| *p == m.protocol) {
            Some((_, ports)) => ports.push(m.host_port),
            None => groups.push((&m.protocol, vec![m.host_port])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(b.0));
    groups
}

/// Comma-separated port lists of at most 15 ports (multiport's limit).
pub(crate) fn split_port_list(ports: &[i64]) -> Vec<String> {
    ports
        .chunks(15)
        .map(|c| {
            c.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

/// Caps a comment at iptables' 255 characters: the first 253 bytes and `...` (upstream cuts
/// bytes; we back off to a character boundary rather than emit broken UTF-8).
pub(crate) fn trim_comment(val: String) -> String {
    if val.len() <= 255 {
        return val;
    }
    let mut end = 253;
    while !val.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &val[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG_ID: &str = "icee6giejonei6sohng6ahngee7laquohquee9shiGo7fohferakah3Feiyoolu2pei7ciPhoh7shaoX6vai3vuf0ahfaeng8yohb9ceu0daez5hashee8ooYai5wa3y";

    #[test]
    fn chain_names_match_upstream_vectors() {
        assert_eq!(
            chain_name("pmnet", "c1", "DN-"),
            "CNI-DN-0e9965f3b290e853e3753"
        );
        assert_eq!(
            chain_name("testNetName", LONG_ID, "DN-"),
            "CNI-DN-bfd599665540dd91d5d28"
        );
        assert_eq!(
            chain_name("test", LONG_ID, "DN-"),
            "CNI-DN-67e92b96e692a494b6b85"
        );
        assert_eq!(chain_name("test", LONG_ID, "SN-").len(), 28);
    }

    fn pm(host: i64, proto: &str, host_ip: &str) -> PortMapping {
        PortMapping {
            host_port: host,
            container_port: 80,
            protocol: proto.into(),
            host_ip: host_ip.into(),
        }
    }

    #[test]
    fn groups_and_splits_ports() {
        let ms = [
            pm(8080, "tcp", ""),
            pm(8081, "udp", ""),
            pm(8082, "tcp", ""),
            pm(8080, "tcp", ""),
        ];
        assert_eq!(
            group_by_proto(&ms),
            vec![("tcp", vec![8080, 8082, 8080]), ("udp", vec![8081])]
        );
        let ports: Vec<i64> = (1..=17).collect();
        assert_eq!(
            split_port_list(&ports),
            ["1,2,3,4,5,6,7,8,9,10,11,12,13,14,15", "16,17"]
        );
    }

    #[test]
    fn host_ip_rules() {
        assert_eq!(pm(1, "tcp", "").host_ip(Family::V6), HostIp::Any);
        assert_eq!(pm(1, "tcp", "0.0.0.0").host_ip(Family::V4), HostIp::Any);
        assert_eq!(pm(1, "tcp", "0.0.0.0").host_ip(Family::V6), HostIp::Skip);
        assert_eq!(pm(1, "tcp", "::").host_ip(Family::V6), HostIp::Any);
        assert_eq!(
            pm(1, "tcp", "192.168.0.2").host_ip(Family::V4),
            HostIp::Only("192.168.0.2")
        );
        assert_eq!(
            pm(1, "tcp", "2001:db8:a::1").host_ip(Family::V4),
            HostIp::Skip
        );
        assert_eq!(
            pm(1, "tcp", "::ffff:1.2.3.4").host_ip(Family::V4),
            HostIp::Only("::ffff:1.2.3.4")
        );
        assert_eq!(pm(1, "tcp", "bogus").host_ip(Family::V4), HostIp::Skip);
        assert_eq!(
            pm(1, "tcp", "bogus").host_ip(Family::V6),
            HostIp::Only("bogus")
        );
    }

    #[test]
    fn comments_are_capped() {
        let c = trim_comment("x".repeat(300));
        assert_eq!(c.len(), 256);
        assert!(c.ends_with("x..."));
        assert_eq!(trim_comment("short".into()), "short");
    }
}
