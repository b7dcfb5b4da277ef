//! The plugin's NetConf (upstream HEAD `cni/pkg/plugin/plugin.go` `Config`) and its CNI_ARGS
//! (`K8sArgs`). Decoded with Go's rules: keys match case-insensitively, unknown keys (the
//! ≤1.23 `kubernetes`, `log_level`, `log_uds_address`, ...) are ignored, `null` is the zero
//! value.

use std::path::PathBuf;

use libcni::types::args::CniArgs;
use libcni::{CniResult, NetConf};
use serde::Deserialize;
use serde_json::Value;

/// Upstream's fixed name of the plugin's kubeconfig inside `cni_agent_run_dir`.
pub const KUBECONFIG_NAME: &str = "istio-cni-kubeconfig";

/// Upstream's `plugin.Config` (it embeds `types.NetConf`, decoded alongside).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename = "plugin.Config")]
struct Raw {
    plugin_log_level: Option<String>,
    cni_agent_run_dir: Option<String>,
    ambient_enabled: Option<bool>,
    enablement_selectors: Option<Vec<Value>>,
    exclude_namespaces: Option<Vec<Option<String>>>,
    pod_namespace: Option<String>,
    native_nftables: Option<bool>,
    enable_ambient_detection_retry: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub cni_version: String,
    pub prev_result: Option<CniResult>,
    pub plugin_log_level: String,
    pub cni_agent_run_dir: String,
    /// Accepted and ignored: ambient mode is out of scope (pods are handled as sidecar pods).
    pub ambient_enabled: bool,
    pub exclude_namespaces: Vec<String>,
    pub pod_namespace: String,
    /// Accepted; the rules are written with iptables either way.
    pub native_nftables: bool,
}

impl Config {
    /// `<cni_agent_run_dir>/istio-cni-kubeconfig` (Go's `filepath.Join`).
    pub fn kubeconfig(&self) -> PathBuf {
        if self.cni_agent_run_dir.is_empty() {
            PathBuf::from(KUBECONFIG_NAME)
        } else {
            PathBuf::from(&self.cni_agent_run_dir).join(KUBECONFIG_NAME)
        }
    }
}

/// Upstream's `parseConfig`, with its error texts.
pub fn parse(stdin: &[u8]) -> Result<Config, String> {
    let parse_err = |e: String| format!("failed to parse network configuration: {e}");
    let (raw, net): (Raw, NetConf) =
        NetConf::parse_embedded(stdin).map_err(|e| parse_err(e.to_string()))?;
    let prev_result = match net.prev_result() {
        Ok(Some(p)) => {
            // Upstream converts the prevResult to the current layout right away.
            let current = p
                .to_current()
                .map_err(|e| format!("could not convert result to current version: {e}"))?;
            Some(CniResult::from(current))
        }
        Ok(None) => None,
        // libcni's text already starts with "could not parse prevResult: ".
        Err(e) => return Err(e),
    };
    Ok(Config {
        cni_version: net.cni_version.clone(),
        prev_result,
        plugin_log_level: raw.plugin_log_level.unwrap_or_default(),
        cni_agent_run_dir: raw.cni_agent_run_dir.unwrap_or_default(),
        ambient_enabled: raw.ambient_enabled.unwrap_or(false),
        exclude_namespaces: raw
            .exclude_namespaces
            .unwrap_or_default()
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect(),
        pod_namespace: raw.pod_namespace.unwrap_or_default(),
        native_nftables: raw.native_nftables.unwrap_or(false),
    })
}

/// The Kubernetes CNI_ARGS (upstream's `K8sArgs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct K8sArgs {
    pub pod_name: String,
    pub pod_namespace: String,
    pub infra_container_id: String,
    pub pod_uid: String,
}

impl K8sArgs {
    /// Go's `types.LoadArgs`: unknown keys fail unless `IgnoreUnknown` is true.
    pub fn load(args: &str) -> Result<K8sArgs, String> {
        let keys = [
            "K8S_POD_NAME",
            "K8S_POD_NAMESPACE",
            "K8S_POD_INFRA_CONTAINER_ID",
            "K8S_POD_UID",
        ];
        let parsed = CniArgs::load(args, &keys)?;
        let get = |k: &str| parsed.get(k).map(|p| p.value.clone()).unwrap_or_default();
        Ok(K8sArgs {
            pod_name: get("K8S_POD_NAME"),
            pod_namespace: get("K8S_POD_NAMESPACE"),
            infra_container_id: get("K8S_POD_INFRA_CONTAINER_ID"),
            pod_uid: get("K8S_POD_UID"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_keys_go_decoding_and_legacy_keys_ignored() {
        let c = parse(
            br#"{"cniVersion":"1.0.0","name":"n","type":"istio-cni",
                "CNI_Agent_Run_Dir":"/run/x","Exclude_Namespaces":["kube-system",null],
                "pod_namespace":"istio-system","ambient_enabled":false,
                "enablement_selectors":[{"podSelector":{}}],
                "kubernetes":{"kubeconfig":"/etc/cni/net.d/ZZZ-istio-cni-kubeconfig","cni_bin_dir":"/opt/cni/bin"},
                "log_level":"debug","log_uds_address":"/x.sock","native_nftables":false}"#,
        )
        .unwrap();
        assert_eq!(c.cni_agent_run_dir, "/run/x");
        assert_eq!(c.kubeconfig(), PathBuf::from("/run/x/istio-cni-kubeconfig"));
        assert_eq!(c.exclude_namespaces, ["kube-system", ""]);
        assert_eq!(c.pod_namespace, "istio-system");
        assert!(c.prev_result.is_none());
        let c = parse(br#"{"cniVersion":"0.3.1","name":"n","exclude_namespaces":null}"#).unwrap();
        assert!(c.exclude_namespaces.is_empty());
        assert_eq!(c.kubeconfig(), PathBuf::from("istio-cni-kubeconfig"));
        assert!(
            parse(br#"{"cniVersion":"0.3.1","name":"n","ambient_enabled":"yes"}"#)
                .unwrap_err()
                .starts_with("failed to parse network configuration: ")
        );
    }

    #[test]
    fn k8s_args() {
        let a = K8sArgs::load("IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;X=y").unwrap();
        assert_eq!((a.pod_namespace.as_str(), a.pod_name.as_str()), ("ns", "p"));
        assert_eq!(
            K8sArgs::load("X=y").unwrap_err(),
            "ARGS: unknown args [\"X=y\"]"
        );
    }
}
