//! IPReservation (`/calico/resources/v3/projectcalico.org/ipreservations/<name>`): addresses
//! IPAM must not hand out.

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use super::{Object, Spec};

pub type IpReservation = Object<IpReservationSpec>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpReservationSpec {
    /// CIDRs and/or bare addresses.
    #[serde(
        rename = "reservedCIDRs",
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::model::null_as_default"
    )]
    pub reserved_cidrs: Vec<String>,
}

impl IpReservationSpec {
    /// The reserved ranges that parse (a bare address is a /32 or /128).
    pub fn networks(&self) -> Vec<IpNetwork> {
        self.reserved_cidrs
            .iter()
            .filter_map(|s| s.parse::<IpNetwork>().ok())
            .collect()
    }
}

impl Spec for IpReservationSpec {
    const KIND: &'static str = "IPReservation";
    const PLURAL: &'static str = "ipreservations";
}
