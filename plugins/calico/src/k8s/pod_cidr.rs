//! host-local's `usePodCidr` / `usePodCidrIPv6` (any case) at `ipam.subnet` and every
//! `ipam.ranges[][].subnet`, replaced by the Node's podCIDRs (ADD) or by `0.0.0.0/0` / `::/0`
//! (DEL, which must not need the API).

use libcni::{code, CniError};
use serde_json::Value;

fn err(msg: String) -> CniError {
    CniError::new(code::INTERNAL, msg)
}

/// Replaces the markers in `stdin` with `lookup()`'s (IPv4, IPv6) CIDRs, called at most once
/// and only when a marker is present. None when nothing was replaced.
pub fn replace(
    stdin: &[u8],
    mut lookup: impl FnMut() -> Result<(String, String), CniError>,
) -> Result<Option<Vec<u8>>, CniError> {
    let mut data: Value = serde_json::from_slice(stdin).map_err(|e| err(e.to_string()))?;
    let Some(ipam) = data.get_mut("ipam").and_then(Value::as_object_mut) else {
        return Ok(None);
    };
    let mut cache: Option<(String, String)> = None;
    let mut changed = false;
    let mut fix = |v: &mut Value| -> Result<(), CniError> {
        let Some(s) = v.as_str() else { return Ok(()) };
        let lower = s.to_ascii_lowercase();
        if lower != "usepodcidr" && lower != "usepodcidripv6" {
            return Ok(());
        }
        if cache.is_none() {
            cache = Some(lookup()?);
        }
        let (v4, v6) = cache.clone().unwrap();
        let new = if lower == "usepodcidr" {
            if v4.is_empty() {
                return Err(err(
                    "usePodCidr found but there is no IPv4 CIDR configured".into()
                ));
            }
            v4
        } else {
            if v6.is_empty() {
                return Err(err(
                    "usePodCidrIPv6 found but there is no IPv6 CIDR configured".into(),
                ));
            }
            v6
        };
        *v = Value::String(new);
        changed = true;
        Ok(())
    };
    if let Some(subnet) = ipam.get_mut("subnet") {
        fix(subnet)?;
    }
    if let Some(ranges) = ipam.get_mut("ranges").and_then(Value::as_array_mut) {
        for set in ranges.iter_mut().filter_map(Value::as_array_mut) {
            for r in set.iter_mut() {
                if let Some(subnet) = r.get_mut("subnet") {
                    fix(subnet)?;
                }
            }
        }
    }
    if !changed {
        return Ok(None);
    }
    serde_json::to_vec(&data)
        .map(Some)
        .map_err(|e| err(e.to_string()))
}

/// The Node's podCIDRs split by family (Calico's `getIPsByFamily`).
pub fn by_family(node_name: &str, node: &Value) -> Result<(String, String), CniError> {
    let mut cidrs: Vec<String> = node
        .pointer("/spec/podCIDRs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if cidrs.is_empty() {
        if let Some(c) = node.pointer("/spec/podCIDR").and_then(Value::as_str) {
            cidrs.push(c.to_string());
        }
    }
    if cidrs.is_empty() {
        return Err(err(format!("no podCidr for node {node_name}")));
    }
    let (mut v4, mut v6) = (String::new(), String::new());
    for c in &cidrs {
        let net: ipnetwork::IpNetwork = c
            .parse()
            .map_err(|e| err(format!("invalid CIDR address: {c}: {e}")))?;
        if net.is_ipv4() {
            v4 = c.clone();
        } else {
            v6 = c.clone();
        }
    }
    if cidrs.len() > 1 && (v4.is_empty() || v6.is_empty()) {
        return Err(err(
            "ClusterCIDR contains two ranges of the same type".into()
        ));
    }
    Ok((v4, v6))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replaces_markers_once() {
        let mut calls = 0;
        let out = replace(
            br#"{"ipam":{"type":"host-local","subnet":"usePodCidr",
                 "ranges":[[{"subnet":"USEPODCIDRIPV6"}],[{"subnet":"10.9.0.0/16"}]]}}"#,
            || {
                calls += 1;
                Ok(("10.0.0.0/24".into(), "dead:beef::/96".into()))
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(calls, 1);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["ipam"]["subnet"], "10.0.0.0/24");
        assert_eq!(v["ipam"]["ranges"][0][0]["subnet"], "dead:beef::/96");
        assert_eq!(v["ipam"]["ranges"][1][0]["subnet"], "10.9.0.0/16");
        assert!(
            replace(br#"{"ipam":{"subnet":"10.0.0.0/8"}}"#, || unreachable!())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn node_cidrs() {
        let n = json!({ "spec": { "podCIDRs": ["10.10.0.0/24", "dead:beef::/96"] } });
        assert_eq!(
            by_family("n", &n).unwrap(),
            ("10.10.0.0/24".to_string(), "dead:beef::/96".to_string())
        );
        assert!(by_family("n", &json!({ "spec": {} }))
            .unwrap_err()
            .msg
            .contains("no podCidr"));
        let two = json!({ "spec": { "podCIDRs": ["10.0.0.0/24", "10.1.0.0/24"] } });
        assert!(by_family("n", &two).is_err());
    }
}
