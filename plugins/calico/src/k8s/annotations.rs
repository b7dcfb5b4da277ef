//! Calico's pod and namespace annotations (`cni.projectcalico.org/*`), honoured only with
//! `policy.type: k8s`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use libcni::{code, CniError};
use serde_json::Value;

pub const IPV4_POOLS: &str = "cni.projectcalico.org/ipv4pools";
pub const IPV6_POOLS: &str = "cni.projectcalico.org/ipv6pools";
pub const IP_FAMILIES: &str = "cni.projectcalico.org/ipFamilies";
pub const IP_ADDRS: &str = "cni.projectcalico.org/ipAddrs";
pub const IP_ADDRS_NO_IPAM: &str = "cni.projectcalico.org/ipAddrsNoIpam";
pub const FLOATING_IPS: &str = "cni.projectcalico.org/floatingIPs";
pub const HW_ADDR: &str = "cni.projectcalico.org/hwAddr";
pub const ALLOWED_SOURCE_PREFIXES: &str = "cni.projectcalico.org/allowedSourcePrefixes";

fn err(msg: String) -> CniError {
    CniError::new(code::INTERNAL, msg)
}

/// Go's `json.Unmarshal` into `[]string`, with Calico's wording.
pub fn parse_list(s: &str) -> Result<Vec<String>, CniError> {
    serde_json::from_str::<Vec<String>>(s)
        .map_err(|e| err(format!("failed to parse '{s}' as JSON: {e}")))
}

/// The pool/family annotations (pod over namespace) injected into the IPAM config for
/// calico-ipam: `ipv4_pools`, `ipv6_pools`, `assign_ipv4`/`assign_ipv6`.
pub fn inject_ipam_annotations(
    stdin: &[u8],
    ns: &BTreeMap<String, String>,
    pod: &BTreeMap<String, String>,
) -> Result<Option<Vec<u8>>, CniError> {
    let pick = |k: &str| {
        pod.get(k)
            .filter(|v| !v.is_empty())
            .or_else(|| ns.get(k))
            .cloned()
            .unwrap_or_default()
    };
    let (v4, v6, fam) = (pick(IPV4_POOLS), pick(IPV6_POOLS), pick(IP_FAMILIES));
    if v4.is_empty() && v6.is_empty() && fam.is_empty() {
        return Ok(None);
    }
    let mut data: Value = serde_json::from_slice(stdin).map_err(|e| err(e.to_string()))?;
    let ipam = data
        .get_mut("ipam")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| err("data on stdin was of unexpected type".into()))?;
    if !v4.is_empty() {
        ipam.insert("ipv4_pools".into(), parse_list(&v4)?.into());
    }
    if !v6.is_empty() {
        ipam.insert("ipv6_pools".into(), parse_list(&v6)?.into());
    }
    if !fam.is_empty() {
        let (mut a4, mut a6) = ("false", "false");
        for f in parse_list(&fam)? {
            match f.as_str() {
                "IPv4" => a4 = "true",
                "IPv6" => a6 = "true",
                _ => return Err(err(format!("error parsing ipFamilies: {fam}"))),
            }
        }
        ipam.insert("assign_ipv4".into(), a4.into());
        ipam.insert("assign_ipv6".into(), a6.into());
    }
    serde_json::to_vec(&data)
        .map(Some)
        .map_err(|e| err(e.to_string()))
}

/// `ipAddrs`/`ipAddrsNoIpam`: a non-empty JSON list with at most one IPv4 and one IPv6.
pub fn validate_ips(value: &str, annotation: &str) -> Result<Vec<IpAddr>, CniError> {
    let list = parse_list(value).map_err(|e| {
        err(format!(
            "failed to parse IPs {value} for annotation \"{annotation}\": {}",
            e.msg
        ))
    })?;
    if list.is_empty() {
        return Err(err(format!(
            "annotation \"{annotation}\" specified but empty"
        )));
    }
    let (mut v4, mut v6) = (false, false);
    let mut out = Vec::new();
    for s in list {
        let ip: IpAddr = s
            .parse()
            .map_err(|_| err(format!("invalid IP format: {s}")))?;
        let seen = if ip.is_ipv4() { &mut v4 } else { &mut v6 };
        if *seen {
            return Err(err(format!(
                "cannot have more than one IPv{} address for \"{annotation}\" annotation",
                if ip.is_ipv4() { 4 } else { 6 }
            )));
        }
        *seen = true;
        out.push(ip);
    }
    Ok(out)
}

/// `allowedSourcePrefixes`: CIDRs (or bare IPs), normalised to their network.
pub fn source_prefixes(annotations: &BTreeMap<String, String>) -> Result<Vec<String>, CniError> {
    let Some(v) = annotations.get(ALLOWED_SOURCE_PREFIXES) else {
        return Ok(Vec::new());
    };
    let list = parse_list(v)?;
    list.iter()
        .map(|s| {
            let net: IpNetwork = match s.parse::<IpAddr>() {
                Ok(ip) => IpNetwork::from(ip),
                Err(_) => s
                    .parse()
                    .map_err(|e| err(format!("failed to parse '{s}' as a CIDR: {e}")))?,
            };
            Ok(IpNetwork::new(net.network(), net.prefix())
                .expect("same prefix")
                .to_string())
        })
        .collect()
}

/// `hwAddr`: a MAC for the container end.
pub fn hw_addr(annotations: &BTreeMap<String, String>) -> Result<Option<[u8; 6]>, CniError> {
    let Some(s) = annotations.get(HW_ADDR) else {
        return Ok(None);
    };
    let parts: Vec<&str> = s.split([':', '-']).collect();
    let bad = || {
        err(format!(
            "failed to parse MAC address {s}: address {s}: invalid MAC address"
        ))
    };
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return Err(bad());
        }
        mac[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(Some(mac))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_lists() {
        assert_eq!(
            validate_ips("[\"10.0.0.1\",\"fd::1\"]", IP_ADDRS)
                .unwrap()
                .len(),
            2
        );
        assert!(validate_ips("[\"10.0.0.1\",\"10.0.0.2\"]", IP_ADDRS)
            .unwrap_err()
            .msg
            .contains("more than one IPv4"));
        assert!(validate_ips("[]", IP_ADDRS)
            .unwrap_err()
            .msg
            .contains("specified but empty"));
        assert!(validate_ips("x", IP_ADDRS).is_err());
    }

    #[test]
    fn macs_and_prefixes() {
        let mut a = BTreeMap::new();
        a.insert(HW_ADDR.to_string(), "ca:fe:ca:fe:ca:fe".to_string());
        assert_eq!(
            hw_addr(&a).unwrap(),
            Some([0xca, 0xfe, 0xca, 0xfe, 0xca, 0xfe])
        );
        a.insert(HW_ADDR.to_string(), "nope".to_string());
        assert!(hw_addr(&a).is_err());
        a.insert(
            ALLOWED_SOURCE_PREFIXES.to_string(),
            "[\"8.8.8.8/32\",\"1.1.1.5/24\"]".to_string(),
        );
        assert_eq!(
            source_prefixes(&a).unwrap(),
            vec!["8.8.8.8/32", "1.1.1.0/24"]
        );
    }

    #[test]
    fn injection() {
        let mut ns = BTreeMap::new();
        ns.insert(IPV4_POOLS.to_string(), "[\"nspool\"]".to_string());
        let mut pod = BTreeMap::new();
        pod.insert(IP_FAMILIES.to_string(), "[\"IPv6\"]".to_string());
        let out = inject_ipam_annotations(br#"{"ipam":{"type":"calico-ipam"}}"#, &ns, &pod)
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["ipam"]["ipv4_pools"], serde_json::json!(["nspool"]));
        assert_eq!(v["ipam"]["assign_ipv4"], "false");
        assert_eq!(v["ipam"]["assign_ipv6"], "true");
        pod.insert(IP_FAMILIES.to_string(), "[\"IPv5\"]".to_string());
        assert!(inject_ipam_annotations(br#"{"ipam":{}}"#, &ns, &pod).is_err());
    }
}
