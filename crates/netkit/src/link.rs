//! Links (network interfaces): lookup and `ip link set`-style changes.

use futures_util::TryStreamExt;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use rtnetlink::{LinkMessageBuilder, LinkUnspec};
use std::os::fd::{AsFd, AsRawFd};

use crate::{NetNs, NetkitError, Netlink, Result};

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// A snapshot of one link's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// The administrative IFF_UP flag (not the carrier state).
    pub up: bool,
    pub mtu: Option<u32>,
    /// Hardware address as lowercase colon-separated hex, like Go's
    /// `net.HardwareAddr.String()` ("02:42:ac:11:00:02").
    pub mac: Option<String>,
    pub promisc: bool,
    pub allmulti: bool,
    pub txqlen: Option<u32>,
    /// Link kind from IFLA_INFO_KIND ("veth", "bridge", ...); None for
    /// devices without one, such as `lo` or physical NICs.
    pub kind: Option<String>,
    /// IFLA_LINK: the parent or, for a veth, the peer's index (which may be
    /// an index in another namespace).
    pub parent_index: Option<u32>,
    /// IFLA_MASTER: the bridge or bond this link is enslaved to.
    pub controller: Option<u32>,
}

impl Link {
    fn from_message(msg: &LinkMessage) -> Self {
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            up: msg.header.flags.contains(LinkFlags::Up),
            mtu: None,
            mac: None,
            promisc: msg.header.flags.contains(LinkFlags::Promisc),
            allmulti: msg.header.flags.contains(LinkFlags::Allmulti),
            txqlen: None,
            kind: None,
            parent_index: None,
            controller: None,
        };
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(name) => link.name = name.clone(),
                LinkAttribute::Mtu(mtu) => link.mtu = Some(*mtu),
                LinkAttribute::Address(mac) if !mac.is_empty() => link.mac = Some(format_mac(mac)),
                LinkAttribute::TxQueueLen(len) => link.txqlen = Some(*len),
                LinkAttribute::Link(index) => link.parent_index = Some(*index),
                LinkAttribute::Controller(index) => link.controller = Some(*index),
                LinkAttribute::LinkInfo(infos) => {
                    link.kind = infos.iter().find_map(|info| match info {
                        LinkInfo::Kind(kind) => Some(kind.to_string()),
                        _ => None,
                    });
                }
                _ => {}
            }
        }
        link
    }
}

/// Formats a hardware address as lowercase colon-separated hex.
pub fn format_mac(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl Netlink {
    /// All links in the namespace.
    pub fn links(&self) -> Result<Vec<Link>> {
        let messages: Vec<LinkMessage> = self
            .block_on(self.handle().link().get().execute().try_collect())
            .map_err(|e| NetkitError::netlink("link list", e))?;
        Ok(messages.iter().map(Link::from_message).collect())
    }

    /// The link called `name`, or None if there is none.
    pub fn link_by_name(&self, name: &str) -> Result<Option<Link>> {
        // The kernel rejects over-long names as invalid rather than missing;
        // no link can have such a name, so answer without asking.
        if name.is_empty() || name.len() > MAX_IFNAME_LEN {
            return Ok(None);
        }
        self.link_get(self.handle().link().get().match_name(name))
    }

    /// The link with index `index`, or None if there is none.
    pub fn link_by_index(&self, index: u32) -> Result<Option<Link>> {
        self.link_get(self.handle().link().get().match_index(index))
    }

    /// Runs a single-link lookup; the kernel's "no such device" becomes None.
    fn link_get(&self, request: rtnetlink::LinkGetRequest) -> Result<Option<Link>> {
        let result: std::result::Result<Vec<LinkMessage>, _> =
            self.block_on(request.execute().try_collect());
        match result {
            Ok(messages) => Ok(messages.first().map(Link::from_message)),
            Err(e) => {
                let err = NetkitError::netlink("link get", e);
                if err.is_not_found() {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Sends an `ip link set` style change (RTM_NEWLINK without
    /// NLM_F_CREATE, exactly what iproute2 sends).
    fn link_change(&self, op: &'static str, message: LinkMessage) -> Result<()> {
        self.block_on(self.handle().link().change(message).execute())
            .map_err(|e| NetkitError::netlink(op, e))
    }

    fn by_index(index: u32) -> LinkMessageBuilder<LinkUnspec> {
        LinkUnspec::new_with_index(index)
    }

    pub fn link_set_up(&self, index: u32) -> Result<()> {
        self.link_change("link set up", Self::by_index(index).up().build())
    }

    pub fn link_set_down(&self, index: u32) -> Result<()> {
        self.link_change("link set down", Self::by_index(index).down().build())
    }

    pub fn link_set_mtu(&self, index: u32, mtu: u32) -> Result<()> {
        self.link_change("link set mtu", Self::by_index(index).mtu(mtu).build())
    }

    /// Sets the hardware address (raw bytes; 6 for Ethernet).
    pub fn link_set_mac(&self, index: u32, mac: &[u8]) -> Result<()> {
        self.link_change(
            "link set address",
            Self::by_index(index).address(mac.to_vec()).build(),
        )
    }

    pub fn link_set_promisc(&self, index: u32, on: bool) -> Result<()> {
        self.link_change(
            "link set promisc",
            Self::by_index(index).promiscuous(on).build(),
        )
    }

    pub fn link_set_allmulti(&self, index: u32, on: bool) -> Result<()> {
        self.link_change(
            "link set allmulticast",
            Self::by_index(index).allmulticast(on).build(),
        )
    }

    pub fn link_set_txqlen(&self, index: u32, len: u32) -> Result<()> {
        self.link_change(
            "link set txqueuelen",
            Self::by_index(index).txqueuelen(len).build(),
        )
    }

    /// Renames the link. The kernel refuses while the link is up (EBUSY).
    pub fn link_set_name(&self, index: u32, name: &str) -> Result<()> {
        self.link_change("link set name", Self::by_index(index).name(name).build())
    }

    /// Deletes the link (for a veth, both ends go).
    pub fn link_delete(&self, index: u32) -> Result<()> {
        self.block_on(self.handle().link().del(index).execute())
            .map_err(|e| NetkitError::netlink("link delete", e))
    }

    /// Moves the link into `ns`. It gets a new index there and disappears
    /// from this namespace; it also comes down.
    pub fn link_move_to_netns(&self, index: u32, ns: &NetNs) -> Result<()> {
        // The fd is only read by the kernel while the request is processed;
        // `ns` is borrowed for the whole call, so it stays open.
        let fd = ns.as_fd().as_raw_fd();
        self.link_change(
            "link set netns",
            Self::by_index(index).setns_by_fd(fd).build(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_formats_like_go() {
        assert_eq!(
            format_mac(&[0x02, 0x42, 0xac, 0x11, 0x00, 0x02]),
            "02:42:ac:11:00:02"
        );
        assert_eq!(format_mac(&[]), "");
    }

    #[test]
    fn link_from_message_reads_flags_and_attributes() {
        let mut msg = LinkMessage::default();
        msg.header.index = 7;
        msg.header.flags = LinkFlags::Up | LinkFlags::Promisc;
        msg.attributes = vec![
            LinkAttribute::IfName("eth0".into()),
            LinkAttribute::Mtu(1400),
            LinkAttribute::Address(vec![0xde, 0xad, 0xbe, 0xef, 0, 1]),
            LinkAttribute::TxQueueLen(500),
            LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                netlink_packet_route::link::InfoKind::Veth,
            )]),
        ];
        let link = Link::from_message(&msg);
        assert_eq!(link.index, 7);
        assert_eq!(link.name, "eth0");
        assert!(link.up && link.promisc && !link.allmulti);
        assert_eq!(link.mtu, Some(1400));
        assert_eq!(link.mac.as_deref(), Some("de:ad:be:ef:00:01"));
        assert_eq!(link.txqlen, Some(500));
        assert_eq!(link.kind.as_deref(), Some("veth"));
    }
}
