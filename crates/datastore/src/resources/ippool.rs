//! IPPool (`/calico/resources/v3/projectcalico.org/ippools/<name>`).

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Object, Spec};

pub type IpPool = Object<IpPoolSpec>;

pub const ALLOWED_USE_WORKLOAD: &str = "Workload";
pub const ALLOWED_USE_TUNNEL: &str = "Tunnel";
pub const ALLOWED_USE_LOAD_BALANCER: &str = "LoadBalancer";
pub const ENCAP_NEVER: &str = "Never";
pub const ASSIGNMENT_AUTOMATIC: &str = "Automatic";
pub const ASSIGNMENT_MANUAL: &str = "Manual";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpPoolSpec {
    pub cidr: String,
    #[serde(
        rename = "vxlanMode",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub vxlan_mode: String,
    #[serde(rename = "ipipMode", default, skip_serializing_if = "String::is_empty")]
    pub ipip_mode: String,
    #[serde(rename = "natOutgoing", default, skip_serializing_if = "is_false")]
    pub nat_outgoing: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
    #[serde(rename = "disableBGPExport", default, skip_serializing_if = "is_false")]
    pub disable_bgp_export: bool,
    /// 26 (IPv4) / 122 (IPv6) when unset.
    #[serde(rename = "blockSize", default, skip_serializing_if = "is_zero")]
    pub block_size: u8,
    /// `all()` when unset.
    #[serde(
        rename = "nodeSelector",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub node_selector: String,
    #[serde(
        rename = "namespaceSelector",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub namespace_selector: String,
    /// Deprecated v1 fields, kept when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipip: Option<Value>,
    #[serde(rename = "nat-outgoing", default, skip_serializing_if = "is_false")]
    pub nat_outgoing_v1: bool,
    /// `[Workload, Tunnel]` when unset.
    #[serde(
        rename = "allowedUses",
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::model::null_as_default"
    )]
    pub allowed_uses: Vec<String>,
    /// `Automatic` when unset; `Manual` pools only serve explicit requests.
    #[serde(
        rename = "assignmentMode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub assignment_mode: Option<String>,
}

impl IpPoolSpec {
    pub fn with_cidr(cidr: impl Into<String>) -> Self {
        IpPoolSpec {
            cidr: cidr.into(),
            ..IpPoolSpec::default()
        }
    }

    /// The pool's CIDR, if it parses.
    pub fn network(&self) -> Option<IpNetwork> {
        self.cidr.parse().ok()
    }

    pub fn allows(&self, used_for: &str) -> bool {
        self.allowed_uses.iter().any(|u| u == used_for)
    }

    pub fn is_automatic(&self) -> bool {
        self.assignment_mode
            .as_deref()
            .unwrap_or(ASSIGNMENT_AUTOMATIC)
            == ASSIGNMENT_AUTOMATIC
    }
}

impl Spec for IpPoolSpec {
    const KIND: &'static str = "IPPool";
    const PLURAL: &'static str = "ippools";

    fn apply_defaults(obj: &mut Object<Self>) {
        let spec = &mut obj.spec;
        if spec.block_size == 0 {
            spec.block_size = match spec.network() {
                Some(IpNetwork::V6(_)) => 122,
                _ => 26,
            };
        }
        if spec.node_selector.is_empty() {
            spec.node_selector = "all()".to_string();
        }
        if spec.allowed_uses.is_empty() {
            spec.allowed_uses = vec![ALLOWED_USE_WORKLOAD.into(), ALLOWED_USE_TUNNEL.into()];
        }
        if spec.ipip_mode.is_empty() {
            spec.ipip_mode = ENCAP_NEVER.to_string();
        }
        if spec.vxlan_mode.is_empty() {
            spec.vxlan_mode = ENCAP_NEVER.to_string();
        }
        if spec.assignment_mode.is_none() {
            spec.assignment_mode = Some(ASSIGNMENT_AUTOMATIC.to_string());
        }
    }
}

impl Object<IpPoolSpec> {
    /// Whether IPAM may assign from this pool: not disabled, not being deleted, and no
    /// `Allocatable=False` condition in its status.
    pub fn is_usable(&self) -> bool {
        if self.spec.disabled || self.metadata.deletion_timestamp.is_some() {
            return false;
        }
        let conditions = self
            .status
            .as_ref()
            .and_then(|s| s.get("conditions"))
            .and_then(Value::as_array);
        !conditions.is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Allocatable")
                    && c.get("status").and_then(Value::as_str) == Some("False")
            })
        })
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;

    #[test]
    fn defaults_follow_the_family() {
        let v4 = IpPool::new("v4", IpPoolSpec::with_cidr("192.168.0.0/16"));
        assert_eq!(v4.spec.block_size, 26);
        assert_eq!(v4.spec.node_selector, "all()");
        assert_eq!(v4.spec.allowed_uses, ["Workload", "Tunnel"]);
        assert_eq!(v4.spec.ipip_mode, "Never");
        assert_eq!(v4.spec.vxlan_mode, "Never");
        assert!(v4.spec.is_automatic());
        assert!(v4.is_usable());
        let v6 = IpPool::decode(
            br#"{"kind":"IPPool","apiVersion":"projectcalico.org/v3","metadata":{"name":"v6"},"spec":{"cidr":"fd80::/64","disabled":true}}"#,
        )
        .unwrap();
        assert_eq!(v6.spec.block_size, 122);
        assert!(!v6.is_usable());
    }

    #[test]
    fn allocatable_false_condition_makes_a_pool_unusable() {
        let mut p = IpPool::new("p", IpPoolSpec::with_cidr("10.0.0.0/16"));
        p.status =
            Some(serde_json::json!({"conditions":[{"type":"Allocatable","status":"False"}]}));
        assert!(!p.is_usable());
        p.status = Some(serde_json::json!({"conditions":[{"type":"Allocatable","status":"True"}]}));
        assert!(p.is_usable());
    }
}
