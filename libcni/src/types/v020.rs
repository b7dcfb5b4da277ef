//! Results of spec 0.1.0 and 0.2.0 (`types020`): one `ip4` and one `ip6` block.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use super::common::{Dns, Route};
use super::net::{cidr, opt_ip};

pub const VERSIONS: &[&str] = &["0.1.0", "0.2.0"];
pub const IMPLEMENTED: &str = "0.2.0";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "types020.IPConfig")]
pub struct IpConfig {
    #[serde(with = "cidr", default = "super::net::unset")]
    pub ip: IpNetwork,
    #[serde(with = "opt_ip", default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
}

/// Key order as Go's struct: cniVersion, ip4, ip6, dns; `dns` is always printed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "types020.Result")]
pub struct Result020 {
    #[serde(
        rename = "cniVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub cni_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip4: Option<IpConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<IpConfig>,
    #[serde(default)]
    pub dns: Dns,
}
