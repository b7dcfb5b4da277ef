//! Addresses and subnets with Go's `net.IP`/`types.IPNet` semantics, which the allocator's
//! arithmetic and every error text depend on.
//!
//! Go keeps an IPv4 address in its 16-byte v4-mapped form until `To4()` shortens it, so
//! `::ffff:10.0.0.1` *is* `10.0.0.1` to the reference plugin. [`canonical`] applies the same
//! rule, and every address the plugin handles goes through it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::IpNetwork;

/// Go's `canonicalizeIP`: v4-mapped IPv6 addresses become IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// Go's `net.ParseIP`, canonicalized.
pub fn parse(s: &str) -> Option<IpAddr> {
    s.parse().ok().map(canonical)
}

/// The width in bits of the address's family.
pub fn bits(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u32::from(v4) as u128,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_u128(value: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(value as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(value))
    }
}

/// Go's `ip.NextIP`: `None` past the last address of the family.
pub fn next(ip: IpAddr) -> Option<IpAddr> {
    let max = if ip.is_ipv4() {
        u32::MAX as u128
    } else {
        u128::MAX
    };
    let value = to_u128(ip);
    (value < max).then(|| from_u128(value + 1, ip.is_ipv4()))
}

/// Go's `ip.Cmp`: -1, 0 or 1, and -2 when the families differ (which makes every `< 0` test
/// true and every `> 0` test false, as the reference's range checks rely on).
pub fn cmp(a: IpAddr, b: IpAddr) -> i8 {
    if a.is_ipv4() != b.is_ipv4() {
        return -2;
    }
    match to_u128(a).cmp(&to_u128(b)) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}

/// A subnet as Go's `types.IPNet` decodes it: the address as written (host bits kept), the
/// prefix, and the width of the mask, which follows the textual family of the address (so
/// `::ffff:10.0.0.0/120` has an IPv4 address and a 128-bit mask, the "version mismatch").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub ip: IpAddr,
    pub prefix: u8,
    pub mask_bits: u8,
}

impl Subnet {
    /// Go's `types.ParseCIDR`; the error is `net.ParseCIDR`'s.
    pub fn parse(s: &str) -> Result<Subnet, String> {
        let net = libcni::types::parse_cidr(s)?;
        Ok(Subnet {
            ip: canonical(net.ip()),
            prefix: net.prefix(),
            mask_bits: bits(net.ip()),
        })
    }

    fn mask(&self) -> u128 {
        let bits = bits(self.ip);
        let prefix = self.prefix.min(bits);
        let all = if bits == 32 {
            u32::MAX as u128
        } else {
            u128::MAX
        };
        if prefix == 0 {
            0
        } else {
            all & !(all >> prefix)
        }
    }

    /// The network address (the address with its host bits cleared).
    pub fn network(&self) -> IpAddr {
        from_u128(to_u128(self.ip) & self.mask(), self.ip.is_ipv4())
    }

    /// Go's `IPNet.Contains`.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        addr.is_ipv4() == self.ip.is_ipv4()
            && to_u128(addr) & self.mask() == to_u128(self.ip) & self.mask()
    }

    /// The reference's `lastIP`: every host bit set, minus one for IPv4 (no broadcast).
    pub fn last_usable(&self) -> IpAddr {
        let all = if self.ip.is_ipv4() {
            u32::MAX as u128
        } else {
            u128::MAX
        };
        let mut last = (to_u128(self.ip) | (all & !self.mask())) & all;
        if self.ip.is_ipv4() {
            last -= 1;
        }
        from_u128(last, self.ip.is_ipv4())
    }

    /// `addr` with this subnet's prefix, as a result address.
    pub fn with_ip(&self, addr: IpAddr) -> IpNetwork {
        IpNetwork::new(addr, self.prefix).unwrap_or_else(|_| IpNetwork::from(addr))
    }
}

impl fmt::Display for Subnet {
    /// Go's `IPNet.String()`. An IPv4 address under a 128-bit mask prints with the mask's last
    /// 32 bits, as Go does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = if self.ip.is_ipv4() && self.mask_bits == 128 {
            self.prefix.saturating_sub(96)
        } else {
            self.prefix
        };
        write!(f, "{}/{prefix}", self.ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        parse(s).unwrap()
    }

    #[test]
    fn v4_mapped_addresses_are_ipv4() {
        assert_eq!(ip("::ffff:10.0.0.1"), ip("10.0.0.1"));
        assert_eq!(ip("2001:DB8::1").to_string(), "2001:db8::1");
    }

    #[test]
    fn next_and_cmp_follow_go() {
        assert_eq!(next(ip("10.0.0.255")), Some(ip("10.0.1.0")));
        assert_eq!(next(ip("255.255.255.255")), None);
        assert_eq!(next(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), None);
        assert_eq!(cmp(ip("10.0.0.1"), ip("10.0.0.2")), -1);
        assert_eq!(cmp(ip("10.0.0.2"), ip("10.0.0.2")), 0);
        assert_eq!(cmp(ip("10.0.0.3"), ip("10.0.0.2")), 1);
        assert_eq!(cmp(ip("10.0.0.3"), ip("::1")), -2);
    }

    #[test]
    fn subnets() {
        let s = Subnet::parse("10.1.2.3/24").unwrap();
        assert_eq!(s.to_string(), "10.1.2.3/24");
        assert_eq!(s.network(), ip("10.1.2.0"));
        assert!(s.contains(ip("10.1.2.255")));
        assert!(!s.contains(ip("10.1.3.0")));
        assert_eq!(s.last_usable(), ip("10.1.2.254"));
        let s = Subnet::parse("192.168.0.0/25").unwrap();
        assert_eq!(s.last_usable(), ip("192.168.0.126"));
        let s = Subnet::parse("2001:db8:1::/64").unwrap();
        assert_eq!(
            s.last_usable().to_string(),
            "2001:db8:1:0:ffff:ffff:ffff:ffff"
        );
        let s = Subnet::parse("0.0.0.0/0").unwrap();
        assert!(s.contains(ip("1.2.3.4")));
        let m = Subnet::parse("::ffff:10.0.0.0/120").unwrap();
        assert!(m.ip.is_ipv4());
        assert_eq!(m.mask_bits, 128);
        assert_eq!(m.to_string(), "10.0.0.0/24");
        assert_eq!(
            Subnet::parse("10.0.0.0/33").unwrap_err(),
            "invalid CIDR address: 10.0.0.0/33"
        );
    }
}
