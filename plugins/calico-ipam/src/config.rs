//! calico-ipam's NetConf (Calico's `types.NetConf` in full, as calico decodes it:
//! `calicoconf`) and CNI_ARGS.

use datastore::NetConfDatastore;
use libcni::types::CniArgs;
use libcni::CniError;

pub type Conf = calicoconf::NetConf;

/// The config and its datastore keys (decoded together, as parts of one Go struct).
pub fn parse(stdin: &[u8]) -> Result<(Conf, NetConfDatastore), CniError> {
    Conf::decode(stdin).map_err(|e| CniError::internal(format!("failed to load netconf: {e}")))
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
