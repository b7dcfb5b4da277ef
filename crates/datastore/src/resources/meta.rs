//! Kubernetes `metav1.ObjectMeta` as Calico stores it, in Go's field order and `omitempty`
//! rules (`creationTimestamp` is a struct in Go, so it is always written, `null` when unset).

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::null_as_default;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub generate_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The key's mod revision when read; never stored.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: i64,
    /// RFC 3339 (`2026-08-22T13:33:20Z`); set on create when missing.
    #[serde(default)]
    pub creation_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub annotations: BTreeMap<String, String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub owner_references: Vec<Value>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub finalizers: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub managed_fields: Vec<Value>,
}

impl ObjectMeta {
    pub fn creation_time(&self) -> Option<SystemTime> {
        self.creation_timestamp
            .as_deref()
            .and_then(crate::time::parse_rfc3339)
    }

    /// What libcalico-go's `resources.Create` fills in: a creation time and a random uid, each
    /// only when missing.
    pub(crate) fn fill_create_defaults(&mut self, now: SystemTime) {
        if self.creation_timestamp.as_deref().is_none_or(str::is_empty) {
            self.creation_timestamp = Some(crate::time::rfc3339(now));
        }
        if self.uid.is_empty() {
            self.uid = crate::uuid::new_v4();
        }
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}
