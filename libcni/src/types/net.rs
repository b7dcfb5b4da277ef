//! Address types with Go's JSON forms: `types.IPNet` ("10.1.2.3/24", host bits kept) and
//! `net.IP` ("10.1.2.1", empty string = absent).

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserializer, Serializer};

/// Go's `net.ParseCIDR` (host bits kept, as `types.ParseCIDR` does). Error text as Go's.
pub fn parse_cidr(s: &str) -> Result<IpNetwork, String> {
    let err = || format!("invalid CIDR address: {s}");
    let (ip, prefix) = s.split_once('/').ok_or_else(err)?;
    let ip: IpAddr = ip.parse().map_err(|_| err())?;
    if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let prefix: u8 = prefix.parse().map_err(|_| err())?;
    IpNetwork::new(ip, prefix).map_err(|_| err())
}

/// A `types.IPNet` the JSON left out: Go keeps its zero value (no address), which has no
/// counterpart here, so it reads as `0.0.0.0/32`. Only a malformed result lacks one; what
/// matters is that decoding goes on, as Go's does, to find the error Go reports.
pub fn unset() -> IpNetwork {
    IpNetwork::V4(ipnetwork::Ipv4Network::from(
        std::net::Ipv4Addr::UNSPECIFIED,
    ))
}

/// Go's `net.ParseIP`, with the error text of `net.IP.UnmarshalText`.
pub fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.parse().map_err(|_| format!("invalid IP address: {s}"))
}

/// serde helpers for a `types.IPNet` field.
pub mod cidr {
    use super::*;

    pub fn serialize<S: Serializer>(n: &IpNetwork, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(n)
    }

    /// `types.IPNet.UnmarshalJSON`: a string, then `ParseCIDR` (null is "").
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<IpNetwork, D::Error> {
        crate::gojson::ipnet(d, parse_cidr)
    }
}

/// serde helpers for a `net.IP` field (`None` when null or empty).
pub mod opt_ip {
    use super::*;

    pub fn serialize<S: Serializer>(ip: &Option<IpAddr>, s: S) -> Result<S::Ok, S::Error> {
        match ip {
            Some(ip) => s.collect_str(ip),
            None => s.serialize_none(),
        }
    }

    /// `net.IP.UnmarshalText`: null and "" leave it unset.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
        let text: Option<String> = crate::gojson::declared(d, "\u{0}gojson:net.IP")?;
        match text {
            None => Ok(None),
            Some(s) if s.is_empty() => Ok(None),
            Some(s) => parse_ip(&s).map(Some).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_keeps_host_bits_and_rejects_bare_ips() {
        let n = parse_cidr("10.1.2.3/24").unwrap();
        assert_eq!(n.ip().to_string(), "10.1.2.3");
        assert_eq!(n.prefix(), 24);
        assert_eq!(n.to_string(), "10.1.2.3/24");
        assert_eq!(
            parse_cidr("10.1.2.3").unwrap_err(),
            "invalid CIDR address: 10.1.2.3"
        );
        assert!(parse_cidr("10.1.2.3/33").is_err());
        assert!(parse_cidr("010.1.2.3/8").is_err());
        assert!(parse_cidr("10.1.2.3/+8").is_err());
        assert_eq!(
            parse_cidr("2001:db8::1/64").unwrap().to_string(),
            "2001:db8::1/64"
        );
    }
}
