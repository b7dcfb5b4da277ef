//! A range set: the ranges one address is taken from (one address per set per ADD), as the
//! reference's `allocator/range_set.go`.

use std::fmt;
use std::net::IpAddr;

use crate::range::{Range, RangeConf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSet(pub Vec<Range>);

/// Validates a configured set: not empty, every range valid, one family, no overlaps inside.
pub fn canonicalize(confs: &[RangeConf]) -> Result<RangeSet, String> {
    if confs.is_empty() {
        return Err("empty range set".into());
    }
    let mut ranges: Vec<Range> = Vec::with_capacity(confs.len());
    for conf in confs {
        let range = conf.canonicalize()?;
        if let Some(first) = ranges.first() {
            if first.start.is_ipv4() != range.start.is_ipv4() {
                return Err("mixed address families".into());
            }
        }
        ranges.push(range);
    }
    for (i, a) in ranges.iter().enumerate() {
        if let Some(b) = ranges[i + 1..].iter().find(|b| a.overlaps(b)) {
            return Err(format!("subnets {a} and {b} overlap"));
        }
    }
    Ok(RangeSet(ranges))
}

impl RangeSet {
    /// The range holding `addr`, with the reference's error text otherwise.
    pub fn range_for(&self, addr: IpAddr) -> Result<&Range, String> {
        self.0
            .iter()
            .find(|r| r.contains(addr))
            .ok_or_else(|| format!("{addr} not in range set {self}"))
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        self.0.iter().any(|r| r.contains(addr))
    }

    pub fn overlaps(&self, other: &RangeSet) -> bool {
        self.0.iter().any(|a| other.0.iter().any(|b| a.overlaps(b)))
    }

    /// The family of the set (validated to be the same for every range).
    pub fn is_ipv4(&self) -> bool {
        self.0.first().is_some_and(|r| r.start.is_ipv4())
    }
}

impl fmt::Display for RangeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::{self, Subnet};

    fn conf(subnet: &str) -> RangeConf {
        RangeConf {
            subnet: Some(Subnet::parse(subnet).unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn membership() {
        let set = canonicalize(&[conf("192.168.0.0/24"), conf("172.16.1.0/24")]).unwrap();
        assert!(set.contains(ip::parse("192.168.0.55").unwrap()));
        assert!(set.contains(ip::parse("172.16.1.254").unwrap()));
        assert!(!set.contains(ip::parse("172.16.1.255").unwrap()));
        assert_eq!(
            set.range_for(ip::parse("192.168.99.99").unwrap())
                .unwrap_err(),
            "192.168.99.99 not in range set 192.168.0.1-192.168.0.254,172.16.1.1-172.16.1.254"
        );
    }

    #[test]
    fn overlap_inside_and_across_sets() {
        assert_eq!(
            canonicalize(&[conf("192.168.0.0/20"), conf("192.168.2.0/24")]).unwrap_err(),
            "subnets 192.168.0.1-192.168.15.254 and 192.168.2.1-192.168.2.254 overlap"
        );
        let a = canonicalize(&[conf("192.168.0.0/20")]).unwrap();
        let b = canonicalize(&[conf("10.0.0.0/8"), conf("192.168.2.0/24")]).unwrap();
        let c = canonicalize(&[conf("10.0.0.0/8")]).unwrap();
        assert!(a.overlaps(&b));
        assert!(!a.overlaps(&c));
        assert_eq!(canonicalize(&[]).unwrap_err(), "empty range set");
        assert_eq!(
            canonicalize(&[conf("10.0.0.0/8"), conf("2001:db8::/64")]).unwrap_err(),
            "mixed address families"
        );
    }
}
