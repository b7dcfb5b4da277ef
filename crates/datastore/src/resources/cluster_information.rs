//! ClusterInformation (`/calico/resources/v3/projectcalico.org/clusterinformations/default`).

use serde::{Deserialize, Serialize};

use super::{Object, Spec};

pub type ClusterInformation = Object<ClusterInformationSpec>;

/// The only name Calico uses.
pub const CLUSTER_INFORMATION_NAME: &str = "default";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInformationSpec {
    #[serde(
        rename = "clusterGUID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub cluster_guid: String,
    #[serde(
        rename = "clusterType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub cluster_type: String,
    #[serde(
        rename = "calicoVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub calico_version: String,
    /// Components wait while this is false (datastore migrations). `calico -t` requires true.
    #[serde(
        rename = "datastoreReady",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub datastore_ready: Option<bool>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
}

impl Spec for ClusterInformationSpec {
    const KIND: &'static str = "ClusterInformation";
    const PLURAL: &'static str = "clusterinformations";
}
