//! One allocation range: a subnet, the inclusive `rangeStart`..`rangeEnd` inside it and the
//! gateway, with the reference's defaults and validation (`allocator/range.go`).

use std::fmt;
use std::net::IpAddr;

use crate::ip::{self, Subnet};

/// A range as written in the config, before defaults and validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeConf {
    /// `None` when the config has no `subnet` (Go's nil IP).
    pub subnet: Option<Subnet>,
    pub range_start: Option<IpAddr>,
    pub range_end: Option<IpAddr>,
    pub gateway: Option<IpAddr>,
}

/// A validated range: every field is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub subnet: Subnet,
    pub start: IpAddr,
    pub end: IpAddr,
    pub gateway: IpAddr,
}

/// The reference's `Range.Contains`, usable while the bounds are still being filled in (a
/// bound that is not known yet is not checked).
fn within(subnet: &Subnet, start: Option<IpAddr>, end: Option<IpAddr>, addr: IpAddr) -> bool {
    let addr = ip::canonical(addr);
    if addr.is_ipv4() != subnet.ip.is_ipv4() || !subnet.contains(addr) {
        return false;
    }
    if start.is_some_and(|s| ip::cmp(addr, s) < 0) {
        return false;
    }
    end.is_none_or(|e| ip::cmp(addr, e) <= 0)
}

impl RangeConf {
    /// The reference's `Range.Canonicalize`: checks in its order, with its texts, and fills in
    /// the defaults (gateway and rangeStart = network + 1, rangeEnd = the last address, minus
    /// the broadcast for IPv4). The gateway is deliberately not required to be in the subnet,
    /// and a rangeStart on the network address is accepted, as upstream does.
    pub fn canonicalize(&self) -> Result<Range, String> {
        let subnet = self
            .subnet
            .ok_or_else(|| "IP <nil> not v4 nor v6".to_string())?;
        if subnet.prefix > subnet.mask_bits.saturating_sub(2) {
            return Err(format!("Network {subnet} too small to allocate from"));
        }
        if ip::bits(subnet.ip) != subnet.mask_bits {
            return Err("IPNet IP and Mask version mismatch".into());
        }
        let network = subnet.network();
        if network != subnet.ip {
            return Err(format!(
                "Network has host bits set. For a subnet mask of length {} the network address is {network}",
                subnet.prefix
            ));
        }
        let first = ip::next(network).unwrap_or(network);
        let gateway = self.gateway.unwrap_or(first);
        // As upstream, rangeStart is checked against the configured rangeEnd (so start > end
        // is reported as a bad start), and rangeEnd against the final rangeStart.
        let start = match self.range_start {
            Some(s) if within(&subnet, Some(s), self.range_end, s) => s,
            Some(s) => return Err(format!("RangeStart {s} not in network {subnet}")),
            None => first,
        };
        let end = match self.range_end {
            Some(e) if within(&subnet, Some(start), Some(e), e) => e,
            Some(e) => return Err(format!("RangeEnd {e} not in network {subnet}")),
            None => subnet.last_usable(),
        };
        Ok(Range {
            subnet,
            start,
            end,
            gateway,
        })
    }
}

impl Range {
    /// Whether `addr` is an allocatable address of this range: same family, in the subnet,
    /// between rangeStart and rangeEnd inclusive.
    pub fn contains(&self, addr: IpAddr) -> bool {
        within(&self.subnet, Some(self.start), Some(self.end), addr)
    }

    /// Whether the two ranges share an address (ranges of different families never do).
    pub fn overlaps(&self, other: &Range) -> bool {
        if self.start.is_ipv4() != other.start.is_ipv4() {
            return false;
        }
        self.contains(other.start)
            || self.contains(other.end)
            || other.contains(self.start)
            || other.contains(self.end)
    }

    /// How many addresses the range hands out: its span minus its own gateway.
    pub fn capacity(&self) -> u128 {
        let span = |a: IpAddr| match a {
            IpAddr::V4(v4) => u32::from(v4) as u128,
            IpAddr::V6(v6) => u128::from(v6),
        };
        let size = (span(self.end) - span(self.start)).saturating_add(1);
        size - u128::from(self.contains(self.gateway))
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        ip::parse(s).unwrap()
    }

    fn conf(subnet: &str) -> RangeConf {
        RangeConf {
            subnet: Some(Subnet::parse(subnet).unwrap()),
            ..Default::default()
        }
    }

    fn range(subnet: &str, start: &str, end: &str) -> Range {
        RangeConf {
            range_start: Some(ip(start)),
            range_end: Some(ip(end)),
            ..conf(subnet)
        }
        .canonicalize()
        .unwrap()
    }

    #[test]
    fn defaults() {
        let r = conf("192.0.2.0/24").canonicalize().unwrap();
        assert_eq!(
            (r.start, r.end, r.gateway),
            (ip("192.0.2.1"), ip("192.0.2.254"), ip("192.0.2.1"))
        );
        assert_eq!(r.capacity(), 253);
        let r = conf("192.0.2.0/25").canonicalize().unwrap();
        assert_eq!(r.end, ip("192.0.2.126"));
        let r = conf("2001:DB8:1::/64").canonicalize().unwrap();
        assert_eq!(r.start, ip("2001:db8:1::1"));
        assert_eq!(r.end.to_string(), "2001:db8:1:0:ffff:ffff:ffff:ffff");
        assert_eq!(r.gateway, ip("2001:db8:1::1"));
    }

    #[test]
    fn host_bits_are_refused() {
        for (subnet, network) in [
            ("192.0.2.12/24", "192.0.2.0"),
            ("2001:DB8:1::24:19ff:fee1:c44a/64", "2001:db8:1::"),
            ("2001:DB8:24:19ff::/63", "2001:db8:24:19fe::"),
            ("192.168.127.0/23", "192.168.126.0"),
        ] {
            let prefix = subnet.rsplit('/').next().unwrap();
            assert_eq!(
                conf(subnet).canonicalize().unwrap_err(),
                format!("Network has host bits set. For a subnet mask of length {prefix} the network address is {network}")
            );
        }
    }

    #[test]
    fn too_small_and_mismatched() {
        for s in [
            "192.0.2.0/31",
            "192.0.2.0/32",
            "2001:db8::/127",
            "2001:db8::/128",
        ] {
            assert_eq!(
                conf(s).canonicalize().unwrap_err(),
                format!("Network {s} too small to allocate from")
            );
        }
        assert_eq!(
            conf("::ffff:10.0.0.0/120").canonicalize().unwrap_err(),
            "IPNet IP and Mask version mismatch"
        );
        assert_eq!(
            RangeConf::default().canonicalize().unwrap_err(),
            "IP <nil> not v4 nor v6"
        );
    }

    #[test]
    fn start_and_end_must_be_inside() {
        let with = |start: Option<&str>, end: Option<&str>| {
            RangeConf {
                range_start: start.map(ip),
                range_end: end.map(ip),
                ..conf("192.0.2.0/24")
            }
            .canonicalize()
        };
        assert_eq!(
            with(Some("192.0.3.0"), None).unwrap_err(),
            "RangeStart 192.0.3.0 not in network 192.0.2.0/24"
        );
        assert_eq!(
            with(None, Some("192.0.4.0")).unwrap_err(),
            "RangeEnd 192.0.4.0 not in network 192.0.2.0/24"
        );
        assert_eq!(
            with(Some("192.0.2.50"), Some("192.0.2.40")).unwrap_err(),
            "RangeStart 192.0.2.50 not in network 192.0.2.0/24"
        );
        assert_eq!(
            with(None, Some("2001::1")).unwrap_err(),
            "RangeEnd 2001::1 not in network 192.0.2.0/24"
        );
        // The network and broadcast addresses are accepted when given explicitly.
        let r = with(Some("192.0.2.0"), Some("192.0.2.255")).unwrap();
        assert_eq!(r.to_string(), "192.0.2.0-192.0.2.255");
        // All fields parse and are kept.
        let r = RangeConf {
            range_start: Some(ip("192.0.2.40")),
            range_end: Some(ip("192.0.2.50")),
            gateway: Some(ip("192.0.2.254")),
            ..conf("192.0.2.0/24")
        }
        .canonicalize()
        .unwrap();
        assert_eq!(
            (r.start, r.end, r.gateway),
            (ip("192.0.2.40"), ip("192.0.2.50"), ip("192.0.2.254"))
        );
    }

    #[test]
    fn contains_at_the_bounds() {
        let r = range("192.0.2.0/24", "192.0.2.40", "192.0.2.50");
        assert!(!r.contains(ip("192.0.2.39")));
        assert!(r.contains(ip("192.0.2.40")));
        assert!(r.contains(ip("192.0.2.50")));
        assert!(!r.contains(ip("192.0.2.51")));
        assert!(!r.contains(ip("2001:db8::1")));
        let r = range("2001:db8:1::/64", "2001:db8:1::40", "2001:db8:1::50");
        assert!(!r.contains(ip("2001:db8:1::39")));
        assert!(r.contains(ip("2001:db8:1::40")));
        assert!(r.contains(ip("2001:db8:1::50")));
        assert!(!r.contains(ip("2001:db8:1::51")));
        assert!(!r.contains(ip("192.0.2.40")));
    }

    #[test]
    fn overlaps() {
        let r = |s: &str| conf(s).canonicalize().unwrap();
        let cases = [
            (r("10.0.0.0/24"), r("10.0.1.0/24"), false),
            (r("10.0.0.0/24"), r("2001:db8::/64"), false),
            (r("10.0.0.0/24"), r("10.0.0.0/24"), true),
            (r("10.0.0.0/20"), r("10.0.1.0/24"), true),
            (
                range("10.0.0.0/24", "10.0.0.1", "10.0.0.127"),
                range("10.0.0.0/24", "10.0.0.128", "10.0.0.254"),
                false,
            ),
            (
                range("10.0.0.0/24", "10.0.0.1", "10.0.0.127"),
                range("10.0.0.0/24", "10.0.0.127", "10.0.0.254"),
                true,
            ),
        ];
        for (a, b, want) in cases {
            assert_eq!(a.overlaps(&b), want, "{a} vs {b}");
            assert_eq!(b.overlaps(&a), want, "{b} vs {a}");
        }
    }
}
