//! Results of spec 1.0.0 and 1.1.0 (`types100`; the types did not change between the two).

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use super::common::{Dns, Route};
use super::net::{cidr, opt_ip};

pub const VERSIONS: &[&str] = &["1.0.0", "1.1.0"];
pub const IMPLEMENTED: &str = "1.1.0";

fn is_zero(v: &u32) -> bool {
    *v == 0
}

crate::go_type!(fn go_int = "int");
crate::go_type!(fn interfaces_type = "[]*types100.Interface");
crate::go_type!(fn ips_type = "[]*types100.IPConfig");
crate::go_type!(fn routes_type = "[]*types.Route");

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "types100.Interface")]
pub struct Interface {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    #[serde(default, skip_serializing_if = "is_zero", deserialize_with = "go_int")]
    pub mtu: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
    #[serde(
        rename = "socketPath",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub socket_path: String,
    #[serde(rename = "pciID", default, skip_serializing_if = "String::is_empty")]
    pub pci_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "types100.IPConfig")]
pub struct IpConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<i64>,
    #[serde(with = "cidr", default = "super::net::unset")]
    pub address: IpNetwork,
    #[serde(with = "opt_ip", default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
}

/// Fields in Go's struct order, which is the order they print in; `dns` is left out when
/// empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "types100.Result")]
pub struct Result100 {
    #[serde(
        rename = "cniVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub cni_version: String,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "interfaces_type"
    )]
    pub interfaces: Vec<Interface>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "ips_type"
    )]
    pub ips: Vec<IpConfig>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "routes_type"
    )]
    pub routes: Vec<Route>,
    #[serde(default, skip_serializing_if = "Dns::is_empty")]
    pub dns: Dns,
}
