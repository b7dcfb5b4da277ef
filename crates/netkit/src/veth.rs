//! veth pairs.

use std::os::fd::{AsFd, AsRawFd};

use netlink_packet_route::link::{InfoData, InfoVeth, LinkAttribute};
use rtnetlink::{LinkMessageBuilder, LinkUnspec, LinkVeth};

use crate::{Link, NetNs, NetkitError, Netlink, Result};

impl Netlink {
    /// Creates a veth pair: `name` in this client's namespace and
    /// `peer_name` in `peer_ns` (or here too when None). Both ends get `mtu`
    /// when given and start down. Returns the local end.
    ///
    /// The peer is created directly in `peer_ns` (IFLA_NET_NS_FD on the peer
    /// message), so its name never has to be free in this namespace and
    /// there is no window where it is visible here.
    pub fn veth_create(
        &self,
        name: &str,
        peer_name: &str,
        peer_ns: Option<&NetNs>,
        mtu: Option<u32>,
    ) -> Result<Link> {
        self.create_veth(name, peer_name, peer_ns, mtu, None)
    }

    /// [`Netlink::veth_create`] with `queues` TX and RX queues on both ends (Calico's
    /// `num_queues`; the kernel's default is 1).
    pub fn veth_create_with_queues(
        &self,
        name: &str,
        peer_name: &str,
        peer_ns: Option<&NetNs>,
        mtu: Option<u32>,
        queues: u32,
    ) -> Result<Link> {
        self.create_veth(name, peer_name, peer_ns, mtu, Some(queues))
    }

    fn create_veth(
        &self,
        name: &str,
        peer_name: &str,
        peer_ns: Option<&NetNs>,
        mtu: Option<u32>,
        queues: Option<u32>,
    ) -> Result<Link> {
        let mut peer = LinkMessageBuilder::<LinkUnspec>::new().name(peer_name);
        let mut local = LinkVeth::new(name, peer_name);
        if let Some(mtu) = mtu {
            peer = peer.mtu(mtu);
            local = local.mtu(mtu);
        }
        // Without `queues` nothing is sent, so the kernel's default applies.
        if let Some(q) = queues {
            peer = peer
                .append_extra_attribute(LinkAttribute::NumTxQueues(q))
                .append_extra_attribute(LinkAttribute::NumRxQueues(q));
            local = local
                .append_extra_attribute(LinkAttribute::NumTxQueues(q))
                .append_extra_attribute(LinkAttribute::NumRxQueues(q));
        }
        if let Some(ns) = peer_ns {
            // The fd only has to be open while the kernel handles the
            // request; `ns` is borrowed for the whole call.
            peer = peer.setns_by_fd(ns.as_fd().as_raw_fd());
        }
        let message = local
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())))
            .build();

        self.block_on(self.handle().link().add(message).execute())
            .map_err(|e| NetkitError::netlink("veth add", e))?;

        self.link_by_name(name)?.ok_or_else(|| {
            NetkitError::Unexpected(format!("veth {name} vanished right after creation"))
        })
    }
}
