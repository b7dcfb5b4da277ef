//! Calico's v3 resources as stored in etcd under `/calico/resources/v3/projectcalico.org/`:
//! whole objects (`kind`, `apiVersion`, `metadata`, `spec`, sometimes `status`) with the
//! Kubernetes metadata rules libcalico-go's `clientv3` applies — `resourceVersion` is never
//! stored (it is the key's mod revision), and a create fills in `uid` and `creationTimestamp`.

mod cluster_information;
mod ipam_configuration;
mod ippool;
mod ipreservation;
mod meta;
mod node;
mod profile;
mod workload_endpoint;

pub use cluster_information::{
    ClusterInformation, ClusterInformationSpec, CLUSTER_INFORMATION_NAME,
};
pub use ipam_configuration::{IpamConfiguration, IpamConfigurationSpec};
pub use ippool::{
    IpPool, IpPoolSpec, ALLOWED_USE_LOAD_BALANCER, ALLOWED_USE_TUNNEL, ALLOWED_USE_WORKLOAD,
    ASSIGNMENT_AUTOMATIC, ASSIGNMENT_MANUAL, ENCAP_NEVER,
};
pub use ipreservation::{IpReservation, IpReservationSpec};
pub use meta::ObjectMeta;
pub use node::{Node, NodeAddress, NodeBgpSpec, NodeSpec, OrchRef};
pub use profile::{rule_allow, Profile, ProfileSpec, Rule, DEFAULT_ALLOW_PROFILE};
pub use workload_endpoint::{IpNat, WorkloadEndpoint, WorkloadEndpointPort, WorkloadEndpointSpec};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::Model;

pub const API_VERSION: &str = "projectcalico.org/v3";

/// What distinguishes one resource kind from another.
pub trait Spec: Serialize + DeserializeOwned + Clone + Default {
    const KIND: &'static str;
    /// The lower-case plural in the key path (`ippools`).
    const PLURAL: &'static str;
    const NAMESPACED: bool = false;

    /// Calico's defaults, applied on read and before a create or update.
    fn apply_defaults(_obj: &mut Object<Self>) {}

    /// A resource libcalico-go's etcd backend serves without storing it (the default-allow
    /// profile).
    fn builtin(_name: &str) -> Option<Object<Self>> {
        None
    }
}

/// A v3 resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "S: Spec")]
pub struct Object<S> {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(
        rename = "apiVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub api_version: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: S,
    /// Kept as JSON: only Node (always written, `{}` when empty) and, in recent Calico, IPPool
    /// (`conditions`) have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}

impl<S: Spec> Object<S> {
    /// A global resource with Calico's kind/apiVersion and defaults.
    pub fn new(name: impl Into<String>, spec: S) -> Self {
        let mut obj = Object {
            kind: S::KIND.to_string(),
            api_version: API_VERSION.to_string(),
            metadata: ObjectMeta {
                name: name.into(),
                ..ObjectMeta::default()
            },
            spec,
            status: None,
        };
        S::apply_defaults(&mut obj);
        obj
    }

    /// A namespaced resource (workload endpoints).
    pub fn namespaced(namespace: impl Into<String>, name: impl Into<String>, spec: S) -> Self {
        let mut obj = Self::new(name, spec);
        obj.metadata.namespace = namespace.into();
        obj
    }

    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// The stored form: `resourceVersion` (and `selfLink`) cleared, kind and apiVersion set, as
    /// libcalico-go's `resourceToKVPair` does before every write.
    pub(crate) fn prepared_for_write(&self) -> Self {
        let mut out = self.clone();
        out.metadata.resource_version.clear();
        out.kind = S::KIND.to_string();
        out.api_version = API_VERSION.to_string();
        S::apply_defaults(&mut out);
        out
    }
}

impl<S: Spec> Model for Object<S> {
    fn apply_defaults(&mut self) {
        S::apply_defaults(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_drops_the_resource_version() {
        let mut pool = IpPool::new("p", IpPoolSpec::with_cidr("10.0.0.0/16"));
        pool.metadata.resource_version = "42".into();
        pool.kind.clear();
        let stored = pool.prepared_for_write();
        assert_eq!(stored.metadata.resource_version, "");
        assert_eq!(stored.kind, "IPPool");
        let json = String::from_utf8(stored.encode()).unwrap();
        assert!(!json.contains("resourceVersion"), "{json}");
        assert!(json.starts_with(r#"{"kind":"IPPool","apiVersion":"projectcalico.org/v3","#));
    }
}
