//! calico-ipam's NetConf (the keys it reads of Calico's Go `types.NetConf`, decoded with Go's
//! rules by `libcni::gojson`, the datastore's keys alongside) and CNI_ARGS.

use serde::Deserialize;
use serde_json::Value;

use datastore::NetConfDatastore;
use ipam::nodename::NodenameConf;
use libcni::types::CniArgs;
use libcni::CniError;

/// The `ipam` object, an anonymous struct in Calico's Go `NetConf`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    rename = "struct { Name string; Type string \"json:\\\"type\\\"\"; Subnet string \"json:\\\"subnet\\\"\"; AssignIpv4 *string \"json:\\\"assign_ipv4\\\"\"; AssignIpv6 *string \"json:\\\"assign_ipv6\\\"\"; IPv4Pools []string \"json:\\\"ipv4_pools,omitempty\\\"\"; IPv6Pools []string \"json:\\\"ipv6_pools,omitempty\\\"\"; IpPoolsLabelSelectorKeys []string \"json:\\\"ip_pools_label_selector_keys,omitempty\\\"\" }"
)]
pub struct IpamConf {
    /// A JSON string: only "false" disables IPv4 (booleans are a decode error, as in Go).
    #[serde(default)]
    pub assign_ipv4: Option<String>,
    /// Only "true" enables IPv6.
    #[serde(default)]
    pub assign_ipv6: Option<String>,
    #[serde(default)]
    pub ipv4_pools: Vec<String>,
    #[serde(default)]
    pub ipv6_pools: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename = "types.NetConf")]
pub struct Conf {
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub nodename: String,
    #[serde(default)]
    pub nodename_file: String,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub ipam_lock_file: String,
    #[serde(default)]
    pub ipam: IpamConf,
    #[serde(default)]
    pub kubernetes: Kubernetes,
    #[serde(default)]
    pub policy: kubeclient::Policy,
}

/// `kubernetes.*`: where the API is (for a Namespace's labels).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename = "types.Kubernetes")]
pub struct Kubernetes {
    pub kubeconfig: String,
    pub k8s_api_root: String,
}

impl Conf {
    /// Whether the Kubernetes API is configured (Calico: a kubeconfig, or `policy.type` k8s).
    pub fn has_kubernetes(&self) -> bool {
        !self.kubernetes.kubeconfig.is_empty() || self.policy.policy_type == "k8s"
    }

    /// The API client settings of this NetConf.
    pub fn kube_settings(&self) -> kubeclient::Settings {
        let k = &self.kubernetes;
        kubeclient::Settings::new(&k.kubeconfig, &k.k8s_api_root, &self.policy)
    }

    pub fn num4(&self) -> usize {
        usize::from(self.ipam.assign_ipv4.as_deref() != Some("false"))
    }

    pub fn num6(&self) -> usize {
        usize::from(self.ipam.assign_ipv6.as_deref() == Some("true"))
    }

    pub fn nodename(&self) -> String {
        ipam::nodename::determine(&NodenameConf {
            nodename: self.nodename.clone(),
            nodename_file: self.nodename_file.clone(),
            hostname: self.hostname.clone(),
        })
    }
}

/// The config, and the raw JSON for the datastore selection. The datastore's keys are
/// decoded here too, as part of the one Go struct, so a bad one fails as Go's would.
pub fn parse(stdin: &[u8]) -> Result<(Conf, Value), CniError> {
    let fail =
        |e: libcni::gojson::Error| CniError::internal(format!("failed to load netconf: {e}"));
    let doc = libcni::gojson::Doc::parse(stdin).map_err(fail)?;
    let (conf, _): (Conf, NetConfDatastore) = doc.decode_parts().map_err(fail)?;
    Ok((conf, doc.value()))
}

/// The CNI_ARGS calico-ipam knows.
#[derive(Debug, Clone, Default)]
pub struct Args {
    pub pod: String,
    pub namespace: String,
    pub ip: Option<std::net::IpAddr>,
}

pub fn args(raw: &str) -> Result<Args, CniError> {
    let known = [
        "K8S_POD_NAME",
        "K8S_POD_NAMESPACE",
        "K8S_POD_INFRA_CONTAINER_ID",
        "K8S_POD_UID",
        "IP",
        "CNI_TEST_NAMESPACE",
    ];
    let parsed = CniArgs::parse(raw, &known).map_err(CniError::internal)?;
    let mut out = Args::default();
    for pair in &parsed.known {
        match pair.key.as_str() {
            "K8S_POD_NAME" => out.pod = pair.value.clone(),
            "K8S_POD_NAMESPACE" => out.namespace = pair.value.clone(),
            "IP" => {
                out.ip = Some(pair.value.parse().map_err(|_| {
                    CniError::internal(
                        pair.value_error(format!("invalid IP address: {}", pair.value)),
                    )
                })?)
            }
            _ => {}
        }
    }
    parsed.check_unknown().map_err(CniError::internal)?;
    Ok(out)
}

impl Args {
    /// Orchestrator `k8s` iff both pod and namespace are given.
    pub fn is_k8s(&self) -> bool {
        !self.pod.is_empty() && !self.namespace.is_empty()
    }

    /// The pre-v3 handle also released on DEL: `<namespace>.<pod>` for k8s, else the
    /// container ID.
    pub fn legacy_handle(&self, container_id: &str) -> String {
        if self.is_k8s() {
            format!("{}.{}", self.namespace, self.pod)
        } else {
            container_id.to_string()
        }
    }
}
