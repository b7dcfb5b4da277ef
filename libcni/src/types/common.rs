//! Types shared by every result version: routes and DNS.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use super::net::{cidr, opt_ip};

fn is_zero(v: &u32) -> bool {
    *v == 0
}

crate::go_type!(fn go_int = "int");

/// A route, as Go's `types.Route`. `table` and `scope` are nullable, so an explicit 0 survives.
/// Fields in Go's order; the Go ints are declared as such for decode errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "types.Route")]
pub struct Route {
    #[serde(with = "cidr", default = "super::net::unset")]
    pub dst: IpNetwork,
    #[serde(with = "opt_ip", default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "is_zero", deserialize_with = "go_int")]
    pub mtu: u32,
    #[serde(default, skip_serializing_if = "is_zero", deserialize_with = "go_int")]
    pub advmss: u32,
    #[serde(default, skip_serializing_if = "is_zero", deserialize_with = "go_int")]
    pub priority: u32,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "go_int"
    )]
    pub table: Option<i32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "go_int"
    )]
    pub scope: Option<i32>,
}

impl Route {
    pub fn new(dst: IpNetwork, gw: Option<IpAddr>) -> Self {
        Route {
            dst,
            gw,
            mtu: 0,
            advmss: 0,
            priority: 0,
            table: None,
            scope: None,
        }
    }

    /// Only `dst` and `gw`: what the 0.1.0/0.2.0 layout keeps.
    pub fn legacy(&self) -> Route {
        Route::new(self.dst, self.gw)
    }
}

/// DNS settings (`types.DNS`); every field is left out when empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "types.DNS")]
pub struct Dns {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty()
            && self.domain.is_empty()
            && self.search.is_empty()
            && self.options.is_empty()
    }
}
