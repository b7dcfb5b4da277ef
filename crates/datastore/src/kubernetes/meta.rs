//! The metadata of a Calico object derived from a Kubernetes one (a pod's endpoint, a node, a
//! profile): Calico's name, the Kubernetes object's UID and creation time, and its string maps.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::resources::ObjectMeta;

/// A Kubernetes string map (`labels`, `annotations`); a value that is not a string (which the
/// API server never holds there) is skipped.
pub fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The derived object's metadata: `name`, with the UID and creation time of the Kubernetes
/// object whose `metadata` is `k8s` (libcalico-go copies both; nothing else carries over).
pub fn derived_meta(name: String, k8s: &Value) -> ObjectMeta {
    let text = |field: &str| k8s.get(field).and_then(Value::as_str);
    ObjectMeta {
        name,
        uid: text("uid").unwrap_or_default().into(),
        creation_timestamp: text("creationTimestamp").map(str::to_string),
        ..ObjectMeta::default()
    }
}
