//! WorkloadEndpoint
//! (`/calico/resources/v3/projectcalico.org/workloadendpoints/<namespace>/<name>`), written by
//! the CNI plugin for every container interface.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Object, Spec};

pub type WorkloadEndpoint = Object<WorkloadEndpointSpec>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadEndpointSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub orchestrator: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub workload: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
    #[serde(
        rename = "containerID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub container_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pod: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// `10.0.0.5/32`, `fd80::5/128`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::model::null_as_default"
    )]
    pub ip_networks: Vec<String>,
    #[serde(
        rename = "ipNATs",
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::model::null_as_default"
    )]
    pub ip_nats: Vec<IpNat>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ipv4_gateway: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ipv6_gateway: String,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::model::null_as_default"
    )]
    pub profiles: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interface_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::model::null_as_default"
    )]
    pub ports: Vec<WorkloadEndpointPort>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::model::null_as_default"
    )]
    pub allow_spoofed_source_prefixes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos_controls: Option<Value>,
}

/// A named or host-mapped container port. All fields are always written (no `omitempty`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadEndpointPort {
    #[serde(default)]
    pub name: String,
    /// `TCP`/`UDP`/`SCTP` (numorstring: a number is possible).
    #[serde(default)]
    pub protocol: Value,
    #[serde(default)]
    pub port: u16,
    #[serde(default)]
    pub host_port: u16,
    #[serde(rename = "hostIP", default)]
    pub host_ip: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpNat {
    #[serde(rename = "internalIP", default)]
    pub internal_ip: String,
    #[serde(rename = "externalIP", default)]
    pub external_ip: String,
}

impl Spec for WorkloadEndpointSpec {
    const KIND: &'static str = "WorkloadEndpoint";
    const PLURAL: &'static str = "workloadendpoints";
    const NAMESPACED: bool = true;
}
