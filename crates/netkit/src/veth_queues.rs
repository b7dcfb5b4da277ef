//! veth pairs with a chosen number of TX/RX queues (Calico's `num_queues`).

use std::os::fd::{AsFd, AsRawFd};

use netlink_packet_route::link::{InfoData, InfoVeth, LinkAttribute};
use rtnetlink::{LinkMessageBuilder, LinkUnspec, LinkVeth};

use crate::{Link, NetNs, NetkitError, Netlink, Result};

impl Netlink {
    /// [`Netlink::veth_create`] with `queues` TX and RX queues on both ends (the kernel's
    /// default is 1). Kept separate so the common path sends exactly what it always did.
    pub fn veth_create_with_queues(
        &self,
        name: &str,
        peer_name: &str,
        peer_ns: Option<&NetNs>,
        mtu: Option<u32>,
        queues: u32,
    ) -> Result<Link> {
        let mut peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name(peer_name)
            .append_extra_attribute(LinkAttribute::NumTxQueues(queues))
            .append_extra_attribute(LinkAttribute::NumRxQueues(queues));
        let mut local = LinkVeth::new(name, peer_name)
            .append_extra_attribute(LinkAttribute::NumTxQueues(queues))
            .append_extra_attribute(LinkAttribute::NumRxQueues(queues));
        if let Some(mtu) = mtu {
            peer = peer.mtu(mtu);
            local = local.mtu(mtu);
        }
        if let Some(ns) = peer_ns {
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
