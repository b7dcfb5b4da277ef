//! Routes (`ip route`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures_util::TryStreamExt;
use ipnetwork::IpNetwork;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteMetric, RouteProtocol,
    RouteScope, RouteType, RouteVia,
};
use netlink_packet_route::AddressFamily;

use crate::addr::IpFamily;
use crate::{NetkitError, Netlink, Result};

/// The main routing table (RT_TABLE_MAIN).
pub const TABLE_MAIN: u32 = 254;
/// Route scopes (RT_SCOPE_*), for `Route::scope`.
pub const SCOPE_UNIVERSE: u8 = 0;
pub const SCOPE_LINK: u8 = 253;
pub const SCOPE_HOST: u8 = 254;

/// One unicast route. Fields left `None` are not sent (and, when deleting,
/// match anything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination; `0.0.0.0/0` or `::/0` is the default route.
    pub dst: IpNetwork,
    pub gw: Option<IpAddr>,
    /// Output link index.
    pub oif: Option<u32>,
    /// Routing table; `None` means the main table.
    pub table: Option<u32>,
    /// RT_SCOPE_*; `None` means universe when adding (as Go's netlink does;
    /// pass `SCOPE_LINK` for device routes) and any scope when deleting.
    pub scope: Option<u8>,
    /// The route metric (RTA_PRIORITY).
    pub priority: Option<u32>,
    pub mtu: Option<u32>,
    pub advmss: Option<u32>,
    /// Preferred source address (RTA_PREFSRC).
    pub src: Option<IpAddr>,
}

impl Route {
    /// A route to `dst` with nothing else set.
    pub fn new(dst: IpNetwork) -> Self {
        Self {
            dst,
            gw: None,
            oif: None,
            table: None,
            scope: None,
            priority: None,
            mtu: None,
            advmss: None,
            src: None,
        }
    }

    /// Reads a route from a kernel dump entry; None for families or
    /// destinations netkit does not represent (MPLS, ...).
    fn from_message(msg: &RouteMessage) -> Option<Self> {
        let family = msg.header.address_family;
        let prefix = msg.header.destination_prefix_length;
        let mut dst_ip = match family {
            AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => return None,
        };
        let mut route = Route::new(IpNetwork::new(dst_ip, 0).ok()?);
        route.table = Some(u32::from(msg.header.table));
        route.scope = Some(u8::from(msg.header.scope));

        for attr in &msg.attributes {
            match attr {
                RouteAttribute::Destination(addr) => dst_ip = ip_of(addr)?,
                RouteAttribute::Gateway(addr) => route.gw = ip_of(addr),
                RouteAttribute::Via(RouteVia::Inet(ip)) => route.gw = Some(IpAddr::V4(*ip)),
                RouteAttribute::Via(RouteVia::Inet6(ip)) => route.gw = Some(IpAddr::V6(*ip)),
                RouteAttribute::Oif(index) => route.oif = Some(*index),
                // RTA_TABLE carries tables above 255, which the header can't.
                RouteAttribute::Table(table) => route.table = Some(*table),
                RouteAttribute::Priority(priority) => route.priority = Some(*priority),
                RouteAttribute::PrefSource(addr) => route.src = ip_of(addr),
                RouteAttribute::Metrics(metrics) => {
                    for metric in metrics {
                        match metric {
                            RouteMetric::Mtu(mtu) => route.mtu = Some(*mtu),
                            RouteMetric::Advmss(mss) => route.advmss = Some(*mss),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        route.dst = IpNetwork::new(dst_ip, prefix).ok()?;
        Some(route)
    }

    /// Builds the request for RTM_NEWROUTE (`adding`) or RTM_DELROUTE.
    fn to_message(&self, adding: bool) -> Result<RouteMessage> {
        let mut msg = RouteMessage::default();
        let family = IpFamily::of(&self.dst.ip());
        msg.header.address_family = family.address_family();

        // Send the network address: Go's ParseCIDR masks host bits and the
        // kernel rejects a destination with host bits set.
        msg.header.destination_prefix_length = self.dst.prefix();
        if self.dst.prefix() > 0 {
            msg.attributes
                .push(RouteAttribute::Destination(RouteAddress::from(
                    self.dst.network(),
                )));
        }

        // The header holds 8 bits of table id; larger ids go in RTA_TABLE
        // with the header set to RT_TABLE_UNSPEC.
        let table = self.table.unwrap_or(TABLE_MAIN);
        msg.header.table = u8::try_from(table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
        msg.attributes.push(RouteAttribute::Table(table));

        if adding {
            // Go's netlink.RouteAdd defaults: proto boot, unicast.
            msg.header.protocol = RouteProtocol::Boot;
            msg.header.kind = RouteType::Unicast;
            msg.header.scope = RouteScope::from(self.scope.unwrap_or(SCOPE_UNIVERSE));
        } else {
            // "Nowhere" asks the kernel to match routes of any scope.
            msg.header.protocol = RouteProtocol::Unspec;
            msg.header.kind = RouteType::Unspec;
            msg.header.scope = self.scope.map_or(RouteScope::NoWhere, RouteScope::from);
        }

        if let Some(gw) = self.gw {
            let attr = match (family, gw) {
                (IpFamily::V4, IpAddr::V4(_)) | (IpFamily::V6, IpAddr::V6(_)) => {
                    RouteAttribute::Gateway(RouteAddress::from(gw))
                }
                // An IPv4 route via an IPv6 next hop (RFC 5549).
                (IpFamily::V4, IpAddr::V6(v6)) => RouteAttribute::Via(RouteVia::Inet6(v6)),
                (IpFamily::V6, IpAddr::V4(_)) => {
                    return Err(NetkitError::Unexpected(format!(
                        "route {}: IPv4 gateway {gw} for an IPv6 destination",
                        self.dst
                    )))
                }
            };
            msg.attributes.push(attr);
        }
        if let Some(oif) = self.oif {
            msg.attributes.push(RouteAttribute::Oif(oif));
        }
        if let Some(priority) = self.priority {
            msg.attributes.push(RouteAttribute::Priority(priority));
        }
        if let Some(src) = self.src {
            msg.attributes
                .push(RouteAttribute::PrefSource(RouteAddress::from(src)));
        }
        if adding {
            let mut metrics = Vec::new();
            if let Some(mtu) = self.mtu {
                metrics.push(RouteMetric::Mtu(mtu));
            }
            if let Some(mss) = self.advmss {
                metrics.push(RouteMetric::Advmss(mss));
            }
            if !metrics.is_empty() {
                msg.attributes.push(RouteAttribute::Metrics(metrics));
            }
        }
        Ok(msg)
    }
}

fn ip_of(addr: &RouteAddress) -> Option<IpAddr> {
    match addr {
        RouteAddress::Inet(ip) => Some(IpAddr::V4(*ip)),
        RouteAddress::Inet6(ip) => Some(IpAddr::V6(*ip)),
        _ => None,
    }
}

impl Netlink {
    /// Unicast routes of the main table, optionally only one family.
    pub fn routes(&self, family: Option<IpFamily>) -> Result<Vec<Route>> {
        self.routes_in_table(family, Some(TABLE_MAIN))
    }

    /// Unicast routes of `table`, or of every table when `table` is None.
    pub fn routes_in_table(
        &self,
        family: Option<IpFamily>,
        table: Option<u32>,
    ) -> Result<Vec<Route>> {
        let mut query = RouteMessage::default();
        if let Some(family) = family {
            query.header.address_family = family.address_family();
        }
        // Without NETLINK_GET_STRICT_CHK the kernel ignores everything but the
        // family in a dump request, so tables and types are filtered here.
        let messages: Vec<RouteMessage> = self
            .block_on(self.handle().route().get(query).execute().try_collect())
            .map_err(|e| NetkitError::netlink("route list", e))?;

        Ok(messages
            .iter()
            .filter(|msg| msg.header.kind == RouteType::Unicast)
            .filter(|msg| IpFamily::matches(family, msg.header.address_family))
            .filter_map(Route::from_message)
            .filter(|route| table.is_none() || route.table == table)
            .collect())
    }

    /// Adds a route. Fails with `is_exists()` if an equal one exists.
    pub fn route_add(&self, route: &Route) -> Result<()> {
        let message = route.to_message(true)?;
        self.block_on(self.handle().route().add(message).execute())
            .map_err(|e| NetkitError::netlink("route add", e))
    }

    /// Adds a route, replacing an existing one with the same key.
    pub fn route_replace(&self, route: &Route) -> Result<()> {
        let message = route.to_message(true)?;
        self.block_on(self.handle().route().add(message).replace().execute())
            .map_err(|e| NetkitError::netlink("route replace", e))
    }

    /// Deletes the first route matching the set fields. Fails with
    /// `is_not_found()` when none matches.
    pub fn route_del(&self, route: &Route) -> Result<()> {
        let message = route.to_message(false)?;
        self.block_on(self.handle().route().del(message).execute())
            .map_err(|e| NetkitError::netlink("route delete", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_message_masks_destination_and_uses_go_defaults() {
        let mut route = Route::new("10.1.2.3/16".parse().unwrap());
        route.gw = Some("10.1.0.1".parse().unwrap());
        route.mtu = Some(1400);
        let msg = route.to_message(true).unwrap();
        assert_eq!(msg.header.address_family, AddressFamily::Inet);
        assert_eq!(msg.header.destination_prefix_length, 16);
        assert_eq!(msg.header.table, RouteHeader::RT_TABLE_MAIN);
        assert_eq!(msg.header.protocol, RouteProtocol::Boot);
        assert!(msg
            .attributes
            .contains(&RouteAttribute::Destination(RouteAddress::Inet(
                "10.1.0.0".parse().unwrap()
            ))));
        assert!(msg
            .attributes
            .contains(&RouteAttribute::Metrics(vec![RouteMetric::Mtu(1400)])));
    }

    #[test]
    fn default_route_sends_no_destination_and_big_tables_use_rta_table() {
        let mut route = Route::new("::/0".parse().unwrap());
        route.table = Some(1000);
        let msg = route.to_message(false).unwrap();
        assert!(!msg
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Destination(_))));
        assert_eq!(msg.header.table, RouteHeader::RT_TABLE_UNSPEC);
        assert!(msg.attributes.contains(&RouteAttribute::Table(1000)));
        assert_eq!(msg.header.scope, RouteScope::NoWhere);
    }

    #[test]
    fn ipv4_gateway_for_ipv6_route_is_rejected() {
        let mut route = Route::new("fd00::/64".parse().unwrap());
        route.gw = Some("10.0.0.1".parse().unwrap());
        assert!(route.to_message(true).is_err());
    }

    #[test]
    fn route_round_trips_through_a_message() {
        let mut route = Route::new("192.168.5.0/24".parse().unwrap());
        route.gw = Some("192.168.1.1".parse().unwrap());
        route.oif = Some(3);
        route.priority = Some(100);
        route.advmss = Some(1300);
        route.scope = Some(SCOPE_UNIVERSE);
        route.table = Some(TABLE_MAIN);
        let back = Route::from_message(&route.to_message(true).unwrap()).unwrap();
        assert_eq!(back, route);
    }
}
