//! Taking one address from one range set (the reference's `allocator.go`): a requested
//! address if one was asked for, otherwise the next free one round-robin after the last
//! reservation of the set.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use libcni::CniCode;

use crate::ip;
use crate::range::Range;
use crate::range_set::RangeSet;
use crate::store::{Key, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AllocError {
    #[error("{0}")]
    NotInSet(String),
    #[error("requested ip {0} is subnet's gateway")]
    RequestedGateway(IpAddr),
    #[error("requested IP address {ip} is not available in range set {set}")]
    RequestedTaken { ip: IpAddr, set: String },
    #[error("{ip} has been allocated to {id}, duplicate allocation is not allowed")]
    Duplicate { ip: IpAddr, id: String },
    #[error("no IP addresses available in range set: {0}")]
    Exhausted(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CniCode for AllocError {}

/// An allocated address and its range's gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    pub address: IpNetwork,
    pub gateway: IpAddr,
}

pub struct Allocator<'a> {
    set: &'a RangeSet,
    store: &'a mut dyn Store,
    /// The set's index in the config: the `N` of `last_reserved_ip.N`.
    range_id: usize,
}

impl<'a> Allocator<'a> {
    pub fn new(set: &'a RangeSet, store: &'a mut dyn Store, range_id: usize) -> Self {
        Allocator {
            set,
            store,
            range_id,
        }
    }

    /// The reference's `IPAllocator.Get`. `container_id` is as the runtime gave it (the
    /// duplicate error quotes it untrimmed).
    pub fn get(
        &mut self,
        key: &Key,
        container_id: &str,
        requested: Option<IpAddr>,
    ) -> Result<Allocation, AllocError> {
        if let Some(ip) = requested {
            let range = *self.set.range_for(ip).map_err(AllocError::NotInSet)?;
            if ip == range.gateway {
                return Err(AllocError::RequestedGateway(ip));
            }
            // No duplicate check on this path, as upstream: asking for an address is explicit.
            if !self.store.reserve(key, ip, self.range_id)? {
                return Err(AllocError::RequestedTaken {
                    ip,
                    set: self.set.to_string(),
                });
            }
            return Ok(allocation(&range, ip));
        }

        // The spec forbids a second allocation for the same attachment.
        for held in self.store.get_by_id(key)? {
            if self.set.contains(held) {
                return Err(AllocError::Duplicate {
                    ip: held,
                    id: container_id.to_string(),
                });
            }
        }

        let last = self.store.last_reserved_ip(self.range_id);
        let mut iter = RangeIter::new(self.set, last);
        while let Some((ip, range)) = iter.next_candidate() {
            if self.store.reserve(key, ip, self.range_id)? {
                return Ok(allocation(range, ip));
            }
        }
        Err(AllocError::Exhausted(self.set.to_string()))
    }
}

fn allocation(range: &Range, ip: IpAddr) -> Allocation {
    Allocation {
        address: range.subnet.with_ip(ip),
        gateway: range.gateway,
    }
}

/// The reference's round-robin iterator: starts after the last reserved address if it lies
/// in the set (else at the first range's start), walks every range of the set in order,
/// wraps around, skips each range's own gateway, and stops when it is back where it started,
/// so the last reserved address is tried last.
pub struct RangeIter<'a> {
    set: &'a RangeSet,
    idx: usize,
    cur: Option<IpAddr>,
    start: Option<IpAddr>,
}

impl<'a> RangeIter<'a> {
    pub fn new(set: &'a RangeSet, last_reserved: Option<IpAddr>) -> Self {
        let resume = last_reserved.and_then(|last| {
            set.0
                .iter()
                .position(|r| r.contains(last))
                .map(|idx| (idx, last))
        });
        match resume {
            // The first step moves past it.
            Some((idx, last)) => RangeIter {
                set,
                idx,
                cur: Some(last),
                start: None,
            },
            None => RangeIter {
                set,
                idx: 0,
                cur: None,
                start: set.0.first().map(|r| r.start),
            },
        }
    }

    /// The next candidate and its range, `None` once the set has been walked.
    pub fn next_candidate(&mut self) -> Option<(IpAddr, &'a Range)> {
        let set = self.set;
        loop {
            let mut range = set.0.get(self.idx)?;
            let Some(cur) = self.cur else {
                self.cur = Some(range.start);
                self.start = self.cur;
                if range.start == range.gateway {
                    continue;
                }
                return Some((range.start, range));
            };
            let next = if cur == range.end {
                self.idx = (self.idx + 1) % set.0.len();
                range = &set.0[self.idx];
                range.start
            } else {
                ip::next(cur)?
            };
            self.cur = Some(next);
            match self.start {
                None => self.start = Some(next),
                Some(start) if start == next => return None,
                Some(_) => {}
            }
            if next == range.gateway {
                continue;
            }
            return Some((next, range));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::Subnet;
    use crate::range::RangeConf;
    use crate::range_set;

    fn set(ranges: &[(&str, Option<&str>, Option<&str>)]) -> RangeSet {
        let confs: Vec<RangeConf> = ranges
            .iter()
            .map(|(subnet, start, end)| RangeConf {
                subnet: Some(Subnet::parse(subnet).unwrap()),
                range_start: start.map(|s| ip::parse(s).unwrap()),
                range_end: end.map(|s| ip::parse(s).unwrap()),
                gateway: None,
            })
            .collect();
        range_set::canonicalize(&confs).unwrap()
    }

    fn walk(set: &RangeSet, last: Option<&str>) -> Vec<String> {
        let mut it = RangeIter::new(set, last.map(|s| ip::parse(s).unwrap()));
        let mut out = Vec::new();
        while let Some((ip, _)) = it.next_candidate() {
            out.push(ip.to_string());
            assert!(out.len() < 1000, "the iterator must end");
        }
        out
    }

    #[test]
    fn iterates_a_29() {
        let s = set(&[("192.168.1.0/29", None, None)]);
        let all = [
            "192.168.1.2",
            "192.168.1.3",
            "192.168.1.4",
            "192.168.1.5",
            "192.168.1.6",
        ];
        assert_eq!(walk(&s, None), all);
        assert_eq!(walk(&s, Some("192.168.1.6")), all);
        assert_eq!(
            walk(&s, Some("192.168.1.3")),
            [
                "192.168.1.4",
                "192.168.1.5",
                "192.168.1.6",
                "192.168.1.2",
                "192.168.1.3"
            ]
        );
    }

    #[test]
    fn multi_range_starts_at_the_network_address_when_configured() {
        let s = set(&[
            ("192.168.1.0/24", Some("192.168.1.0"), Some("192.168.1.3")),
            ("192.168.2.0/24", Some("192.168.2.0"), Some("192.168.2.3")),
        ]);
        assert_eq!(walk(&s, Some("192.168.1.3"))[0], "192.168.2.0");
        assert_eq!(walk(&s, None)[0], "192.168.1.0");
        assert_eq!(walk(&s, None).len(), 6, "both gateways (.1) are skipped");
    }

    #[test]
    fn a_range_holding_only_its_gateway_ends() {
        let s = set(&[("192.168.1.0/24", Some("192.168.1.1"), Some("192.168.1.1"))]);
        assert!(walk(&s, None).is_empty());
        assert!(walk(&s, Some("192.168.1.1")).is_empty());
    }
}
