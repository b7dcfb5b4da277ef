//! IP addresses on links (`ip address`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures_util::TryStreamExt;
use ipnetwork::IpNetwork;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::AddressFamily;
use rtnetlink::AddressMessageBuilder;

use crate::{NetkitError, Netlink, Result};

/// An IP version, used to filter dumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    pub fn of(ip: &IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self::V4,
            IpAddr::V6(_) => Self::V6,
        }
    }

    pub(crate) fn address_family(self) -> AddressFamily {
        match self {
            Self::V4 => AddressFamily::Inet,
            Self::V6 => AddressFamily::Inet6,
        }
    }

    pub(crate) fn matches(family: Option<Self>, af: AddressFamily) -> bool {
        match family {
            Some(f) => f.address_family() == af,
            None => af == AddressFamily::Inet || af == AddressFamily::Inet6,
        }
    }
}

impl Netlink {
    /// The addresses on link `index`, as address/prefix with the host bits
    /// kept (`10.1.0.5/16`), optionally only one family.
    pub fn addresses(&self, index: u32, family: Option<IpFamily>) -> Result<Vec<IpNetwork>> {
        let mut request = self.handle().address().get().set_link_index_filter(index);
        if let Some(family) = family {
            // The kernel dumps only this family when the header names one.
            request.message_mut().header.family = family.address_family();
        }
        let messages: Vec<AddressMessage> = self
            .block_on(request.execute().try_collect())
            .map_err(|e| NetkitError::netlink("address list", e))?;

        messages
            .iter()
            .filter(|msg| IpFamily::matches(family, msg.header.family))
            .filter_map(|msg| {
                address_of(msg).map(|ip| {
                    IpNetwork::new(ip, msg.header.prefix_len).map_err(|e| {
                        NetkitError::Unexpected(format!(
                            "kernel reported address {ip}/{}: {e}",
                            msg.header.prefix_len
                        ))
                    })
                })
            })
            .collect()
    }

    /// Adds `addr` (address/prefix) to link `index`. For IPv4 the broadcast
    /// address is derived as `ip addr add ... brd +` would, like Go's
    /// netlink.AddrAdd. Fails with `is_exists()` if it is already there.
    pub fn address_add(&self, index: u32, addr: IpNetwork) -> Result<()> {
        self.block_on(
            self.handle()
                .address()
                .add(index, addr.ip(), addr.prefix())
                .execute(),
        )
        .map_err(|e| NetkitError::netlink("address add", e))
    }

    /// Removes `addr` from link `index`. Fails with `is_not_found()` if it is
    /// not there.
    pub fn address_del(&self, index: u32, addr: IpNetwork) -> Result<()> {
        let message = match addr.ip() {
            IpAddr::V4(ip) => AddressMessageBuilder::<Ipv4Addr>::new()
                .index(index)
                .address(ip, addr.prefix())
                .build(),
            IpAddr::V6(ip) => AddressMessageBuilder::<Ipv6Addr>::new()
                .index(index)
                .address(ip, addr.prefix())
                .build(),
        };
        self.block_on(self.handle().address().del(message).execute())
            .map_err(|e| NetkitError::netlink("address delete", e))
    }
}

/// The link's own address. For IPv4 that is IFA_LOCAL: on point-to-point
/// links IFA_ADDRESS is the peer. IPv6 only sends IFA_ADDRESS.
fn address_of(msg: &AddressMessage) -> Option<IpAddr> {
    let mut address = None;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(ip) => return Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            _ => {}
        }
    }
    address
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_wins_over_peer_address() {
        let mut msg = AddressMessage::default();
        msg.attributes = vec![
            AddressAttribute::Address("10.0.0.2".parse().unwrap()),
            AddressAttribute::Local("10.0.0.1".parse().unwrap()),
        ];
        assert_eq!(address_of(&msg), Some("10.0.0.1".parse().unwrap()));

        msg.attributes = vec![AddressAttribute::Address("fd00::1".parse().unwrap())];
        assert_eq!(address_of(&msg), Some("fd00::1".parse().unwrap()));
    }

    #[test]
    fn family_filter() {
        assert!(IpFamily::matches(None, AddressFamily::Inet6));
        assert!(!IpFamily::matches(None, AddressFamily::Packet));
        assert!(IpFamily::matches(Some(IpFamily::V4), AddressFamily::Inet));
        assert!(!IpFamily::matches(Some(IpFamily::V4), AddressFamily::Inet6));
    }
}
