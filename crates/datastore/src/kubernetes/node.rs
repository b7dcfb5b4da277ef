//! Calico Nodes in KDD are Kubernetes Nodes (libcalico-go `resources/node.go`): the labels are
//! Calico's own (annotation `projectcalico.org/labels`) overlaid by the node's, and the BGP
//! and VXLAN tunnel data lives in `projectcalico.org/*` annotations. The CNI plugins only read
//! them (IPAM node selectors); an update (calicoctl, the host-local migration's tunnel
//! address) writes the annotations back onto the Kubernetes Node.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::meta::{derived_meta, string_map};
use crate::resources::{Node, ObjectMeta, API_VERSION};

pub const ANN_LABELS: &str = "projectcalico.org/labels";
/// Annotation ↔ (spec section, field) of the Calico Node.
const FIELDS: &[(&str, Option<&str>, &str)] = &[
    ("projectcalico.org/IPv4Address", Some("bgp"), "ipv4Address"),
    ("projectcalico.org/IPv6Address", Some("bgp"), "ipv6Address"),
    ("projectcalico.org/ASNumber", Some("bgp"), "asNumber"),
    (
        "projectcalico.org/IPv4IPIPTunnelAddr",
        Some("bgp"),
        "ipv4IPIPTunnelAddr",
    ),
    (
        "projectcalico.org/RouteReflectorClusterID",
        Some("bgp"),
        "routeReflectorClusterID",
    ),
    (
        "projectcalico.org/IPv4VXLANTunnelAddr",
        None,
        "ipv4VXLANTunnelAddr",
    ),
    (
        "projectcalico.org/VXLANTunnelMACAddr",
        None,
        "vxlanTunnelMACAddr",
    ),
    (
        "projectcalico.org/IPv6VXLANTunnelAddr",
        None,
        "ipv6VXLANTunnelAddr",
    ),
    (
        "projectcalico.org/VXLANTunnelMACAddrV6",
        None,
        "vxlanTunnelMACAddrV6",
    ),
];

/// The Calico Node of a Kubernetes Node, as the v3 object the etcd backend would store.
pub fn to_calico(node: &Value) -> Value {
    let meta = node.get("metadata").cloned().unwrap_or_default();
    let annotations = string_map(meta.get("annotations"));
    let mut labels: BTreeMap<String, String> = annotations
        .get(ANN_LABELS)
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_default();
    labels.extend(string_map(meta.get("labels")));
    let name = meta.get("name").and_then(Value::as_str).unwrap_or_default();
    let mut spec = Map::new();
    let mut bgp = Map::new();
    for (ann, section, field) in FIELDS {
        let Some(v) = annotations.get(*ann).filter(|v| !v.is_empty()) else {
            continue;
        };
        let value = if *field == "asNumber" {
            v.parse::<u64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(v.clone()))
        } else {
            Value::from(v.clone())
        };
        match section {
            Some(_) => bgp.insert(field.to_string(), value),
            None => spec.insert(field.to_string(), value),
        };
    }
    if !bgp.is_empty() {
        spec.insert("bgp".into(), Value::Object(bgp));
    }
    spec.insert(
        "orchRefs".into(),
        json!([{ "nodeName": name, "orchestrator": "k8s" }]),
    );
    let addresses: Vec<Value> = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|a| {
            matches!(
                a.get("type").and_then(Value::as_str),
                Some("InternalIP" | "ExternalIP")
            )
        })
        .filter_map(|a| {
            Some(json!({ "address": a.get("address")?.as_str()?,
                         "type": a.get("type")?.as_str()? }))
        })
        .collect();
    if !addresses.is_empty() {
        spec.insert("addresses".into(), Value::Array(addresses));
    }
    let metadata = ObjectMeta {
        labels,
        ..derived_meta(name.to_string(), &meta)
    };
    json!({ "kind": "Node", "apiVersion": API_VERSION, "metadata": metadata,
            "spec": spec, "status": {} })
}

/// Writes a Calico Node's labels and tunnel/BGP data back onto the Kubernetes Node.
pub fn merge_into(k8s: &mut Value, calico: &Node) -> Result<(), String> {
    let spec = serde_json::to_value(&calico.spec).map_err(|e| e.to_string())?;
    let meta = k8s
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or("node without metadata")?;
    let annotations = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(annotations) = annotations.as_object_mut() else {
        return Err("node annotations are not a map".into());
    };
    for (ann, section, field) in FIELDS {
        let v = match section {
            Some(s) => spec.get(*s).and_then(|b| b.get(*field)),
            None => spec.get(*field),
        };
        match v {
            Some(Value::String(s)) if !s.is_empty() => {
                annotations.insert(ann.to_string(), Value::from(s.clone()));
            }
            Some(Value::Number(n)) => {
                annotations.insert(ann.to_string(), Value::from(n.to_string()));
            }
            _ => {
                annotations.remove(*ann);
            }
        }
    }
    // Labels the Kubernetes Node does not have are Calico's own.
    let k8s_labels = string_map(meta.get("labels"));
    let own: BTreeMap<&String, &String> = calico
        .metadata
        .labels
        .iter()
        .filter(|(k, v)| k8s_labels.get(*k) != Some(*v))
        .collect();
    if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
        if own.is_empty() {
            a.remove(ANN_LABELS);
        } else {
            a.insert(
                ANN_LABELS.into(),
                Value::from(libcni::json::to_compact(&own)),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k8s_nodes_as_calico_nodes_and_back() {
        let mut k = json!({ "metadata": { "name": "node1", "resourceVersion": "4",
            "labels": { "kubernetes.io/hostname": "node1" },
            "annotations": { ANN_LABELS: "{\"rack\":\"r1\"}",
                             "projectcalico.org/IPv4Address": "10.0.0.1/24",
                             "projectcalico.org/IPv4VXLANTunnelAddr": "10.244.0.1" } },
            "status": { "addresses": [{ "type": "InternalIP", "address": "10.0.0.1" },
                                      { "type": "Hostname", "address": "node1" }] } });
        let c = to_calico(&k);
        assert_eq!(c["metadata"]["labels"]["rack"], "r1");
        assert_eq!(c["metadata"]["labels"]["kubernetes.io/hostname"], "node1");
        assert_eq!(c["spec"]["bgp"]["ipv4Address"], "10.0.0.1/24");
        assert_eq!(c["spec"]["ipv4VXLANTunnelAddr"], "10.244.0.1");
        assert_eq!(
            c["spec"]["addresses"],
            json!([{ "address": "10.0.0.1", "type": "InternalIP" }])
        );
        let mut node: Node = serde_json::from_value(c).unwrap();
        node.spec.bgp.as_mut().unwrap().ipv4_ipip_tunnel_addr = "10.244.0.2".into();
        node.metadata.labels.insert("zone".into(), "z".into());
        merge_into(&mut k, &node).unwrap();
        assert_eq!(
            k["metadata"]["annotations"]["projectcalico.org/IPv4IPIPTunnelAddr"],
            "10.244.0.2"
        );
        assert_eq!(
            k["metadata"]["annotations"][ANN_LABELS],
            "{\"rack\":\"r1\",\"zone\":\"z\"}"
        );
    }
}
