//! Calico's names (libcalico-go `names` and the KDD resource names): WorkloadEndpoint names
//! (`<node>-<orchestrator>-<workload>-<endpoint>`, each `-` in a segment doubled), the host
//! veth name Felix derives for a pod, and the Kubernetes object names of IPAM objects.

use ipnetwork::IpNetwork;
use sha2::{Digest, Sha256};
use sha3::Sha3_256;

/// The k8s orchestrator's name in WorkloadEndpoints.
pub const ORCH_K8S: &str = "k8s";

fn escape(s: &str) -> String {
    s.replace('-', "--")
}

/// A WorkloadEndpoint name; with an empty `endpoint`, the prefix every endpoint of the
/// workload starts with (ending in `-`). Segments may not start or end with `-`.
pub fn wep_name(node: &str, orch: &str, workload: &str, endpoint: &str) -> Result<String, String> {
    for (what, seg) in [
        ("node", node),
        ("orchestrator", orch),
        ("workload", workload),
    ] {
        if seg.is_empty() || seg.starts_with('-') || seg.ends_with('-') {
            return Err(format!(
                "{what} name {seg:?} is not valid for a WorkloadEndpoint name segment"
            ));
        }
    }
    if endpoint.starts_with('-') || endpoint.ends_with('-') {
        return Err(format!(
            "endpoint name {endpoint:?} is not valid for a WorkloadEndpoint name segment"
        ));
    }
    Ok(format!(
        "{}-{}-{}-{}",
        escape(node),
        escape(orch),
        escape(workload),
        escape(endpoint)
    ))
}

/// Splits a WorkloadEndpoint name on single `-` (a `--` is an escaped `-`).
pub fn split_wep_name(name: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '-' {
            cur.push(c);
        } else if chars.peek() == Some(&'-') {
            chars.next();
            cur.push('-');
        } else {
            parts.push(std::mem::take(&mut cur));
        }
    }
    parts.push(cur);
    parts
}

/// The host veth of a pod: `<prefix>` + the first 11 hex digits of SHA1("<namespace>.<pod>")
/// (Calico's `VethNameForWorkload`; Felix derives the same name from the pod).
pub fn k8s_veth_name(prefix: &str, namespace: &str, pod: &str) -> String {
    let digest = sha1_smol::Sha1::from(format!("{namespace}.{pod}"))
        .digest()
        .to_string();
    format!("{prefix}{}", &digest[..11])
}

/// libcalico-go's `CIDRToName`: the CIDR with its first 3 `.`, first 7 `:` and the `/`
/// turned into `-` (`10.244.1.0/26` → `10-244-1-0-26`, `fd80::/122` → `fd80---122`).
pub fn cidr_to_name(cidr: &IpNetwork) -> String {
    cidr.to_string()
        .replacen('.', "-", 3)
        .replacen(':', "-", 7)
        .replacen('/', "-", 1)
}

/// The KDD name of a block affinity: `<host>-<cidr name>`; at 253 characters or more the
/// host is cut and an 11-hex SHA-256 suffix keeps names of different hosts apart
/// (`ipam_affinity_v1.go`).
pub fn affinity_name(host: &str, cidr: &IpNetwork) -> String {
    let cidr_name = cidr_to_name(cidr);
    let name = format!("{host}-{cidr_name}");
    if name.len() < 253 {
        return name;
    }
    let hash = hex(&Sha256::digest(format!("{host}+{cidr_name}").as_bytes()));
    let keep = 252usize.saturating_sub(cidr_name.len() + 13);
    let mut cut = keep.min(host.len());
    while !host.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{cidr_name}-{}", &host[..cut], &hash[..11])
}

/// libcalico-go's `hash.GetLengthLimitedID`: `prefix + suffix` when it fits in `max` bytes
/// (an empty suffix counts as `_`), otherwise `prefix + "_" +` the URL-safe unpadded base64
/// of the suffix's SHA-256, cut to fit. A `_`-led suffix that fits exactly is hashed too, so
/// it cannot pass for a shortened one. Go slices the 43-character hash to `max - 1 - prefix`
/// and panics when that is more than 43; we keep the whole hash instead.
pub fn length_limited_id(prefix: &str, suffix: &str, max: usize) -> String {
    use base64::Engine;
    let suffix = if suffix.is_empty() { "_" } else { suffix };
    let total = prefix.len() + suffix.len();
    if total < max || (total == max && !suffix.starts_with('_')) {
        return format!("{prefix}{suffix}");
    }
    let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(suffix));
    let left = max.saturating_sub(1 + prefix.len()).clamp(1, hash.len());
    format!("{prefix}_{}", &hash[..left])
}

/// The `projectcalico.org/hostname-hash` label: SHA3-256 of the host name in base32 (RFC
/// 4648 alphabet, no padding): 52 characters, within a label value's 63.
pub fn hostname_hash(host: &str) -> String {
    base32_nopad(&Sha3_256::digest(host.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base32_nopad(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wep_names_escape_dashes() {
        assert_eq!(
            wep_name("node1", "k8s", "mypod-1", "eth0").unwrap(),
            "node1-k8s-mypod--1-eth0"
        );
        assert_eq!(
            wep_name("node1", "k8s", "mypod", "").unwrap(),
            "node1-k8s-mypod-"
        );
        assert!(wep_name("node1", "k8s", "-bad", "eth0").is_err());
        assert_eq!(
            split_wep_name("node--a-k8s-my--pod-eth0"),
            vec!["node-a", "k8s", "my-pod", "eth0"]
        );
    }

    #[test]
    fn veth_name_test_vector() {
        assert_eq!(
            k8s_veth_name("eni", "namespace", "podname"),
            "eni82111e10a96"
        );
    }

    #[test]
    fn cidr_names() {
        let n = |s: &str| cidr_to_name(&s.parse().unwrap());
        assert_eq!(n("10.244.1.0/26"), "10-244-1-0-26");
        assert_eq!(n("fd80:24e2:f998:72d6::/122"), "fd80-24e2-f998-72d6---122");
        assert_eq!(n("2001:db8::40/122"), "2001-db8--40-122");
    }

    #[test]
    fn hostname_hash_test_vectors() {
        assert_eq!(
            hostname_hash("node1"),
            "7DS2CCNJGGLTHBDQLLFO6SX24SY2YDDEG3W2VN556FA2W4DLLV5A"
        );
        assert_eq!(
            hostname_hash("kind-worker"),
            "IBVBROKXJCMHPK3CZI3D3PWK642IN433QZEAMKIO7Z4KRA4BKK3Q"
        );
    }

    #[test]
    fn long_affinity_names_are_cut_and_hashed() {
        let cidr: IpNetwork = "10.0.0.0/26".parse().unwrap();
        assert_eq!(affinity_name("node1", &cidr), "node1-10-0-0-0-26");
        let a = "a".repeat(300);
        let b = format!("{}b", "a".repeat(299));
        let (na, nb) = (affinity_name(&a, &cidr), affinity_name(&b, &cidr));
        assert_eq!(na.len(), 252);
        assert_eq!(nb.len(), 252);
        assert_ne!(na, nb, "hosts equal after the cut keep separate names");
        assert!(na.contains("-10-0-0-0-26-"));
    }

    #[test]
    fn length_limited_ids_hash_what_does_not_fit() {
        assert_eq!(length_limited_id("net.vmi.", "ns.vm", 128), "net.vmi.ns.vm");
        assert_eq!(length_limited_id("p.", "", 128), "p._");
        // Exactly at the limit: kept, unless it starts with the shortening marker.
        let fits = "a".repeat(126);
        assert_eq!(length_limited_id("p.", &fits, 128), format!("p.{fits}"));
        let marked = format!("_{}", "a".repeat(125));
        let id = length_limited_id("p.", &marked, 128);
        assert!(id.starts_with("p._") && id.len() == 2 + 1 + 43, "{id}");
        // Go: sha256("x" * 200) in RawURLEncoding, cut to 128 - 1 - len(prefix).
        let long = "x".repeat(200);
        let prefix = "k8s-pod-network.vmi.".to_string() + &"n".repeat(70);
        let id = length_limited_id(&prefix, &long, 128);
        assert_eq!(id.len(), 128);
        assert_eq!(
            &id[prefix.len()..],
            "_qiDCPjIBg0BQZ54diJQbmm_tBVfJpwXLLDFeL"
        );
    }
}
