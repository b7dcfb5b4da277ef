//! Deleting conntrack entries over ctnetlink (Go: vishvananda/netlink's
//! `ConntrackDeleteFilters`, used by upstream's `DeleteConntrackEntriesForDstPort`).
//!
//! Why: a UDP "connection" to a host port that was DNATed to an old container lives on in
//! conntrack for as long as packets keep arriving, so a new container on the same host port
//! would never see them. The entries are found with one dump of the family's table and deleted
//! one by one with the dumped attributes sent back (the kernel keys on the original tuple and
//! zone in them), exactly as the Go library does.

use crate::error::{FirewallError, Result};
use crate::netlink::{self, Socket, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};
use crate::Family;

const NETLINK_NETFILTER: libc::c_int = 12;
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const NFNETLINK_V0: u8 = 0;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_DST_PORT: u16 = 3;

pub const PROTOCOL_TCP: u8 = 6;
pub const PROTOCOL_UDP: u8 = 17;
pub const PROTOCOL_SCTP: u8 = 132;

/// The nfgenmsg header every ctnetlink message starts with.
fn nfgenmsg(family: Family) -> [u8; 4] {
    [family.af(), NFNETLINK_V0, 0, 0]
}

/// Deletes the family's conntrack entries whose original tuple has protocol `protocol` and a
/// destination port in `ports`, in the caller's network namespace. Returns how many entries
/// were deleted; entries that vanish meanwhile are not errors.
pub fn delete_by_dst_port(family: Family, protocol: u8, ports: &[u16]) -> Result<usize> {
    if ports.is_empty() {
        return Ok(0);
    }
    let fail = |e: std::io::Error| FirewallError::Netlink {
        op: "error deleting connection tracking state",
        message: libcni::error::io_error_text(&e),
    };
    let mut sock = Socket::open(NETLINK_NETFILTER).map_err(fail)?;
    let get = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
    let flows = sock
        .request(get, NLM_F_REQUEST | NLM_F_DUMP, &nfgenmsg(family))
        .map_err(fail)?;

    let delete = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
    let mut deleted = 0;
    for flow in flows {
        let Some(attrs) = flow.get(4..) else { continue };
        if !matches(attrs, protocol, ports) {
            continue;
        }
        let mut msg = nfgenmsg(family).to_vec();
        msg.extend_from_slice(attrs);
        match sock.request(delete, NLM_F_REQUEST | NLM_F_ACK, &msg) {
            Ok(_) => deleted += 1,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(fail(e)),
        }
    }
    Ok(deleted)
}

/// Does this flow's original tuple have `protocol` and a destination port in `ports`?
fn matches(flow_attrs: &[u8], protocol: u8, ports: &[u16]) -> bool {
    let Some((_, orig)) = netlink::attrs(flow_attrs).find(|(t, _)| *t == CTA_TUPLE_ORIG) else {
        return false;
    };
    let Some((_, proto)) = netlink::attrs(orig).find(|(t, _)| *t == CTA_TUPLE_PROTO) else {
        return false;
    };
    let mut num = None;
    let mut dport = None;
    for (t, v) in netlink::attrs(proto) {
        match (t, v) {
            (CTA_PROTO_NUM, [n, ..]) => num = Some(*n),
            (CTA_PROTO_DST_PORT, [a, b, ..]) => dport = Some(u16::from_be_bytes([*a, *b])),
            _ => {}
        }
    }
    num == Some(protocol) && dport.is_some_and(|p| ports.contains(&p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::put_attr;

    fn flow(proto: u8, dport: u16) -> Vec<u8> {
        let mut p = Vec::new();
        put_attr(&mut p, CTA_PROTO_NUM, &[proto]);
        put_attr(&mut p, 2, &1234u16.to_be_bytes());
        put_attr(&mut p, CTA_PROTO_DST_PORT, &dport.to_be_bytes());
        let mut tuple = Vec::new();
        put_attr(&mut tuple, 1, &[0; 12]);
        put_attr(&mut tuple, 0x8000 | CTA_TUPLE_PROTO, &p);
        let mut attrs = Vec::new();
        put_attr(&mut attrs, 0x8000 | CTA_TUPLE_ORIG, &tuple);
        attrs
    }

    #[test]
    fn matches_protocol_and_destination_port() {
        assert!(matches(&flow(17, 8080), PROTOCOL_UDP, &[8080, 9090]));
        assert!(!matches(&flow(6, 8080), PROTOCOL_UDP, &[8080]));
        assert!(!matches(&flow(17, 8081), PROTOCOL_UDP, &[8080]));
        assert!(!matches(&[], PROTOCOL_UDP, &[8080]));
    }
}
