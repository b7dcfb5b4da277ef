//! Profile (`/calico/resources/v3/projectcalico.org/profiles/<name>`). The CNI plugin creates
//! one per network (allow-all rules, the network name as a label).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Object, Spec};

pub type Profile = Object<ProfileSpec>;

/// The profile libcalico-go's etcd backend serves without storing it.
pub const DEFAULT_ALLOW_PROFILE: &str = "projectcalico-default-allow";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileSpec {
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::model::null_as_default"
    )]
    pub ingress: Vec<Rule>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::model::null_as_default"
    )]
    pub egress: Vec<Rule>,
    #[serde(
        rename = "labelsToApply",
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::model::null_as_default"
    )]
    pub labels_to_apply: BTreeMap<String, String>,
}

/// A policy rule: its top level in Go's field order; the match criteria are kept as JSON (this
/// crate has no use for their structure; nested keys are written sorted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub action: String,
    #[serde(rename = "ipVersion", default, skip_serializing_if = "Option::is_none")]
    pub ip_version: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<Value>,
    #[serde(
        rename = "notProtocol",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub not_protocol: Option<Value>,
    #[serde(rename = "notICMP", default, skip_serializing_if = "Option::is_none")]
    pub not_icmp: Option<Value>,
    /// Go's `EntityRule` structs: always written, `{}` when empty.
    #[serde(default = "empty_object")]
    pub source: Value,
    #[serde(default = "empty_object")]
    pub destination: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

impl Default for Rule {
    fn default() -> Self {
        Rule {
            action: String::new(),
            ip_version: None,
            protocol: None,
            icmp: None,
            not_protocol: None,
            not_icmp: None,
            source: empty_object(),
            destination: empty_object(),
            http: None,
            metadata: None,
        }
    }
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// `Rule{Action: Allow}`: `{"action":"Allow","source":{},"destination":{}}`.
pub fn rule_allow() -> Rule {
    Rule {
        action: "Allow".into(),
        ..Rule::default()
    }
}

impl Spec for ProfileSpec {
    const KIND: &'static str = "Profile";
    const PLURAL: &'static str = "profiles";

    fn builtin(name: &str) -> Option<Object<Self>> {
        (name == DEFAULT_ALLOW_PROFILE).then(|| {
            Object::new(
                DEFAULT_ALLOW_PROFILE,
                ProfileSpec {
                    ingress: vec![rule_allow()],
                    egress: vec![rule_allow()],
                    labels_to_apply: BTreeMap::new(),
                },
            )
        })
    }
}
