//! Calico's `cni.CniDataplane` messages (cni-plugin/pkg/dataplane/grpc/proto/cnibackend.proto),
//! written out with prost's derive instead of generated at build time: seven small messages do
//! not justify a protoc step in every build of the plugin.

use std::collections::BTreeMap;

#[derive(Clone, PartialEq, prost::Message)]
pub struct AddRequest {
    #[prost(string, tag = "1")]
    pub interface_name: String,
    #[prost(string, tag = "2")]
    pub netns: String,
    #[prost(string, tag = "3")]
    pub desired_host_interface_name: String,
    #[prost(message, optional, tag = "4")]
    pub settings: Option<ContainerSettings>,
    #[prost(message, repeated, tag = "5")]
    pub container_ips: Vec<IpConfig>,
    #[prost(string, repeated, tag = "6")]
    pub container_routes: Vec<String>,
    #[prost(message, optional, tag = "7")]
    pub workload: Option<WorkloadIds>,
    #[prost(btree_map = "string, string", tag = "8")]
    pub dataplane_options: BTreeMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerSettings {
    #[prost(bool, tag = "1")]
    pub allow_ip_forwarding: bool,
    #[prost(int32, tag = "2")]
    pub mtu: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct IpConfig {
    #[prost(string, tag = "1")]
    pub address: String,
    #[prost(string, tag = "2")]
    pub gateway: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkloadIds {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub namespace: String,
    #[prost(btree_map = "string, string", tag = "3")]
    pub labels: BTreeMap<String, String>,
    #[prost(btree_map = "string, string", tag = "4")]
    pub annotations: BTreeMap<String, String>,
    #[prost(string, tag = "5")]
    pub endpoint: String,
    #[prost(string, tag = "6")]
    pub node: String,
    #[prost(string, tag = "7")]
    pub orchestrator: String,
    #[prost(string, tag = "8")]
    pub pod: String,
    #[prost(message, repeated, tag = "9")]
    pub ports: Vec<Port>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Port {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub protocol: String,
    #[prost(uint32, tag = "3")]
    pub port: u32,
    #[prost(uint32, tag = "4")]
    pub host_port: u32,
    #[prost(string, tag = "5")]
    pub host_ip: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AddReply {
    #[prost(bool, tag = "1")]
    pub successful: bool,
    #[prost(string, tag = "2")]
    pub error_message: String,
    #[prost(string, tag = "3")]
    pub host_interface_name: String,
    #[prost(string, tag = "4")]
    pub container_mac: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DelRequest {
    #[prost(string, tag = "1")]
    pub interface_name: String,
    #[prost(string, tag = "2")]
    pub netns: String,
    #[prost(btree_map = "string, string", tag = "3")]
    pub dataplane_options: BTreeMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DelReply {
    #[prost(bool, tag = "1")]
    pub successful: bool,
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// The RPC paths of `service CniDataplane` in `package cni`.
pub const ADD_PATH: &str = "/cni.CniDataplane/Add";
pub const DEL_PATH: &str = "/cni.CniDataplane/Del";
