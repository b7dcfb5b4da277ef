//! Calico's CNI NetConf: cni-plugin's `types.NetConf` (its Linux keys), which the calico
//! plugin and calico-ipam both decode in full from the same stdin. Decoding it once here, with
//! Go's rules (`libcni::gojson`), gives both binaries the same answer for the same config,
//! type errors included: Go's calico-ipam fails on a wrong-typed `mtu` as calico does, though
//! it never reads it. The datastore's keys of the same struct (`datastore::NetConfDatastore`)
//! are decoded alongside, as parts of one Go struct.
//!
//! What each plugin does with the values (defaults, checks) stays with the plugin.

use std::collections::BTreeMap;

use datastore::NetConfDatastore;
use ipam::nodename::NodenameConf;
use libcni::gojson::{self, Doc};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `types.NetConf`, Linux keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename = "types.NetConf")]
pub struct NetConf {
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    pub name: String,
    #[serde(rename = "type")]
    pub plugin_type: String,
    pub ipam: Ipam,
    pub nodename: String,
    pub nodename_file: String,
    pub nodename_file_optional: bool,
    /// Deprecated fallback for the node name.
    pub hostname: String,
    pub ipam_lock_file: String,
    pub mtu: i64,
    pub require_mtu_file: bool,
    pub num_queues: i64,
    pub policy: Policy,
    pub kubernetes: Kubernetes,
    pub log_level: String,
    pub log_file_path: String,
    pub log_file_max_size: i64,
    pub log_file_max_age: i64,
    pub log_file_max_count: i64,
    pub container_settings: ContainerSettings,
    pub feature_control: FeatureControl,
    pub readiness_gates: Vec<String>,
    pub endpoint_status_dir: String,
    pub include_default_routes: bool,
    pub policy_setup_timeout_seconds: i64,
    pub dataplane_options: BTreeMap<String, Value>,
    pub device_type: String,
    #[serde(deserialize_with = "args_object")]
    pub args: Option<Value>,
    /// Not a key of Calico's struct (any value passes), but kept for chained use.
    #[serde(rename = "prevResult")]
    pub prev_result: Option<Value>,
}

/// Calico's `args` is a struct (`types.Args`, Mesos labels): it must be an object; the
/// labels inside are read from it as JSON.
fn args_object<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    let map: Option<serde_json::Map<String, Value>> =
        gojson::declared(d, "\u{0}gojson:types.Args")?;
    Ok(map.map(Value::Object))
}

/// The `ipam` object, an anonymous struct in Calico's Go `NetConf`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    default,
    rename = "struct { Name string; Type string \"json:\\\"type\\\"\"; Subnet string \"json:\\\"subnet\\\"\"; AssignIpv4 *string \"json:\\\"assign_ipv4\\\"\"; AssignIpv6 *string \"json:\\\"assign_ipv6\\\"\"; IPv4Pools []string \"json:\\\"ipv4_pools,omitempty\\\"\"; IPv6Pools []string \"json:\\\"ipv6_pools,omitempty\\\"\"; IpPoolsLabelSelectorKeys []string \"json:\\\"ip_pools_label_selector_keys,omitempty\\\"\" }"
)]
pub struct Ipam {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "type")]
    pub ipam_type: String,
    pub subnet: String,
    /// A JSON string: only "false" disables IPv4 (a boolean is a type error, as in Go).
    pub assign_ipv4: Option<String>,
    /// Only "true" enables IPv6.
    pub assign_ipv6: Option<String>,
    pub ipv4_pools: Vec<String>,
    pub ipv6_pools: Vec<String>,
    pub ip_pools_label_selector_keys: Vec<String>,
}

impl Ipam {
    /// How many IPv4 addresses calico-ipam assigns (Calico: 1 unless `assign_ipv4` is "false").
    pub fn num4(&self) -> usize {
        usize::from(self.assign_ipv4.as_deref() != Some("false"))
    }

    /// How many IPv6 addresses (1 only when `assign_ipv6` is "true").
    pub fn num6(&self) -> usize {
        usize::from(self.assign_ipv6.as_deref() == Some("true"))
    }
}

/// `policy`: the Kubernetes client's overrides (`types.Policy`).
pub type Policy = kubeclient::Policy;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename = "types.Kubernetes")]
pub struct Kubernetes {
    pub kubeconfig: String,
    pub k8s_api_root: String,
    pub node_name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename = "types.ContainerSettings")]
pub struct ContainerSettings {
    pub allow_ip_forwarding: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename = "types.FeatureControl")]
pub struct FeatureControl {
    pub ip_addrs_no_ipam: bool,
    pub floating_ips: bool,
}

impl NetConf {
    /// Go's `json.Unmarshal` of stdin into Calico's `NetConf`, with the datastore's keys.
    pub fn decode(stdin: &[u8]) -> Result<(NetConf, NetConfDatastore), gojson::Error> {
        Doc::parse(stdin)?.decode_parts()
    }

    /// Calico's `DetermineNodename`.
    pub fn node_name(&self) -> String {
        ipam::nodename::determine(&NodenameConf {
            nodename: self.nodename.clone(),
            nodename_file: self.nodename_file.clone(),
            hostname: self.hostname.clone(),
        })
    }

    /// Whether the Kubernetes API is configured (Calico: a kubeconfig, or `policy.type` k8s).
    pub fn has_kubernetes(&self) -> bool {
        !self.kubernetes.kubeconfig.is_empty() || self.policy.policy_type == "k8s"
    }

    /// Calico's `ConfigureLogging` keys; both plugins log to the same file.
    pub fn log_settings(&self) -> calicolog::Settings {
        calicolog::Settings {
            log_level: self.log_level.clone(),
            log_file_path: self.log_file_path.clone(),
            log_file_max_size: self.log_file_max_size,
            log_file_max_age: self.log_file_max_age,
            log_file_max_count: self.log_file_max_count,
        }
    }

    /// The settings of the plugins' own API client (`kubernetes.*` and the `policy`
    /// overrides).
    pub fn kube_settings(&self) -> kubeclient::Settings {
        let k = &self.kubernetes;
        kubeclient::Settings::new(&k.kubeconfig, &k.k8s_api_root, &self.policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        NetConf::decode(json.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn keys_match_case_insensitively() {
        let (c, ds) = NetConf::decode(
            br#"{"Name":"net1","IPAM":{"Type":"calico-ipam","Assign_IPv6":"true"},"MTU":1400,
                "Policy":{"TYPE":"k8s"},"Etcd_Endpoints":"http://e:2379"}"#,
        )
        .unwrap();
        assert_eq!((c.name.as_str(), c.mtu), ("net1", 1400));
        assert_eq!(c.ipam.ipam_type, "calico-ipam");
        assert_eq!((c.ipam.num4(), c.ipam.num6()), (1, 1));
        assert!(c.has_kubernetes());
        assert_eq!(ds.etcd_endpoints, "http://e:2379");
    }

    #[test]
    fn type_errors_are_go_s_in_document_order() {
        for (json, want) in [
            (r#"{"ipam":{"assign_ipv4":false}}"#,
             "json: cannot unmarshal bool into Go struct field .ipam.assign_ipv4 of type string"),
            (r#"{"ipam_lock_file":1}"#,
             "json: cannot unmarshal number into Go struct field NetConf.ipam_lock_file of type string"),
            (r#"{"etcd_endpoints":5,"mtu":"x"}"#,
             "json: cannot unmarshal number into Go struct field NetConf.etcd_endpoints of type string"),
            (r#"{"mtu":"x","etcd_endpoints":5}"#,
             "json: cannot unmarshal string into Go struct field NetConf.mtu of type int"),
            (r#"{"kubernetes":{"node_name":1}}"#,
             "json: cannot unmarshal number into Go struct field Kubernetes.kubernetes.node_name of type string"),
        ] {
            assert_eq!(err(json), want, "{json}");
        }
    }
}
