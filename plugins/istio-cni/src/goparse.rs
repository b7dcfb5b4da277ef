//! The Go parsers whose acceptance and error texts show through: `strconv.ParseBool`,
//! `strconv.ParseUint(s, 10, 16)` and `netip.ParsePrefix`.

use std::net::IpAddr;

/// `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing {}: invalid syntax",
            libcni::json::go_quote(s)
        )),
    }
}

/// `strconv.ParseUint(s, 10, 16)`.
pub fn parse_u16(s: &str) -> Result<u16, String> {
    let q = libcni::json::go_quote(s);
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseUint: parsing {q}: invalid syntax"));
    }
    match s.parse::<u64>() {
        Ok(v) if v <= u64::from(u16::MAX) => Ok(v as u16),
        _ => Err(format!(
            "strconv.ParseUint: parsing {q}: value out of range"
        )),
    }
}

/// `netip.ParsePrefix`: the address (host bits kept) and the prefix length. IPv6 zones are
/// refused, as are bits with a sign or leading zeros.
pub fn parse_prefix(s: &str) -> Result<(IpAddr, u8), String> {
    let q = libcni::json::go_quote(s);
    let Some((addr, bits)) = s.rsplit_once('/') else {
        return Err(format!("netip.ParsePrefix({q}): no '/'"));
    };
    if addr.contains('%') {
        return Err(format!(
            "netip.ParsePrefix({q}): IPv6 zones cannot be present in a prefix"
        ));
    }
    let ip: IpAddr = addr.parse().map_err(|_| {
        format!(
            "netip.ParsePrefix({q}): ParseAddr({}): unable to parse IP",
            libcni::json::go_quote(addr)
        )
    })?;
    let bad_bits = || {
        format!(
            "netip.ParsePrefix({q}): bad bits after slash: {}",
            libcni::json::go_quote(bits)
        )
    };
    if bits.is_empty()
        || !bits.bytes().all(|b| b.is_ascii_digit())
        || (bits.len() > 1 && bits.starts_with('0'))
    {
        return Err(bad_bits());
    }
    let n: u32 = bits.parse().map_err(|_| bad_bits())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if n > max {
        return Err(format!(
            "netip.ParsePrefix({q}): prefix length out of range"
        ));
    }
    Ok((ip, n as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools_ports_and_prefixes() {
        assert_eq!(parse_bool("T"), Ok(true));
        assert_eq!(parse_bool("False"), Ok(false));
        assert_eq!(
            parse_bool("yes").unwrap_err(),
            "strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
        assert_eq!(parse_u16("15020"), Ok(15020));
        assert!(parse_u16("70000")
            .unwrap_err()
            .ends_with("value out of range"));
        assert!(parse_u16("").unwrap_err().ends_with("invalid syntax"));
        assert!(parse_u16("-1").is_err());
        let (ip, bits) = parse_prefix("10.0.0.1/8").unwrap();
        assert_eq!((ip.to_string(), bits), ("10.0.0.1".to_string(), 8));
        assert_eq!(
            parse_prefix("abc").unwrap_err(),
            "netip.ParsePrefix(\"abc\"): no '/'"
        );
        assert!(parse_prefix("1.2.3.4/33")
            .unwrap_err()
            .ends_with("prefix length out of range"));
        assert!(parse_prefix("1.2.3.4/08")
            .unwrap_err()
            .contains("bad bits after slash"));
        assert!(parse_prefix("fe80::1%eth0/64").is_err());
        assert_eq!(parse_prefix("2001:db8::/32").unwrap().1, 32);
    }
}
