//! Results of spec 0.3.0, 0.3.1 and 0.4.0 (`types040`): interfaces, versioned ips, routes.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use super::common::{Dns, Route};
use super::net::{cidr, opt_ip};

pub const VERSIONS: &[&str] = &["0.3.0", "0.3.1", "0.4.0"];
pub const IMPLEMENTED: &str = "0.4.0";

crate::go_type!(fn interfaces_type = "[]*types040.Interface");
crate::go_type!(fn ips_type = "[]*types040.IPConfig");
crate::go_type!(fn routes_type = "[]*types.Route");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "types040.Interface")]
pub struct Interface {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
}

/// Key order as Go's struct: version, interface, address, gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "types040.IPConfig")]
pub struct IpConfig {
    #[serde(default)]
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<i64>,
    #[serde(with = "cidr", default = "super::net::unset")]
    pub address: IpNetwork,
    #[serde(with = "opt_ip", default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
}

/// Key order as Go's struct: cniVersion, interfaces, ips, routes, dns; `dns` is always printed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "types040.Result")]
pub struct Result040 {
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
    #[serde(default)]
    pub dns: Dns,
}
