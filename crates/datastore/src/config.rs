//! Which datastore to use, from a calico NetConf and the environment, with Calico's rules.
//!
//! The CNI plugin copies each non-empty NetConf key into an unprefixed environment variable
//! (`etcd_endpoints` → `ETCD_ENDPOINTS`), then libcalico-go reads every setting as
//! `CALICO_<X>` first and `<X>` second. So, for each setting: a set `CALICO_<X>` wins (even
//! empty), then a non-empty NetConf value, then `<X>`.
//!
//! With no `datastore_type` anywhere: etcd endpoints or SRV discovery → `etcdv3`; a kubeconfig
//! or Kubernetes API endpoint → `kubernetes`; otherwise the embedded `local` store (where
//! libcalico-go would default to `kubernetes`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{DatastoreError, Result};
use crate::local::{LocalStore, DEFAULT_LOCAL_PATH};
use crate::store::Datastore;

pub const ETCDV3: &str = "etcdv3";
pub const KUBERNETES: &str = "kubernetes";
pub const LOCAL: &str = "local";

/// The datastore keys of a calico NetConf (Calico's `types.NetConf`, of which the plugins
/// decode this part alongside their own with `libcni::gojson`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename = "types.NetConf")]
pub struct NetConfDatastore {
    #[serde(default)]
    pub datastore_type: String,
    #[serde(default)]
    pub etcd_endpoints: String,
    #[serde(default)]
    pub etcd_discovery_srv: String,
    #[serde(default)]
    pub etcd_key_file: String,
    #[serde(default)]
    pub etcd_cert_file: String,
    #[serde(default)]
    pub etcd_ca_cert_file: String,
    /// Deprecated; Calico exports them but its config loader ignores them. So do we.
    #[serde(default)]
    pub etcd_scheme: String,
    #[serde(default)]
    pub etcd_authority: String,
    #[serde(default)]
    pub kubernetes: KubernetesNetConf,
    /// Ours: where the local store lives (default /var/lib/calico/datastore).
    #[serde(default)]
    pub datastore_path: String,
    /// KDD: the API group of Calico's resources (`crd.projectcalico.org/v1`, or
    /// `projectcalico.org/v3`); empty = discover it.
    #[serde(default)]
    pub calico_api_group: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename = "types.Kubernetes")]
pub struct KubernetesNetConf {
    #[serde(default)]
    pub kubeconfig: String,
    #[serde(default)]
    pub k8s_api_root: String,
}

impl NetConfDatastore {
    /// The datastore keys of a whole NetConf document.
    pub fn from_netconf(netconf: &Value) -> Result<Self> {
        libcni::gojson::from_value(netconf)
            .map_err(|e| DatastoreError::Config(format!("failed to load netconf: {e}")))
    }
}

/// A resolved datastore choice.
#[derive(Debug, Clone, PartialEq)]
pub enum DatastoreConfig {
    Local { path: PathBuf },
    Etcd(Box<EtcdConfig>),
    Kubernetes(Box<KubernetesConfig>),
}

/// libcalico-go's KDD settings: where the API is (client-go's loading rules with these
/// overrides) and which group holds Calico's resources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubernetesConfig {
    pub sources: kubeclient::Sources,
    /// `calico_api_group`; empty: discovered.
    pub api_group: String,
}

/// libcalico-go's `EtcdConfig`, plus the client timeouts it hard-codes.
#[derive(Debug, Clone, PartialEq)]
pub struct EtcdConfig {
    pub endpoints: Vec<String>,
    pub discovery_srv: String,
    pub username: String,
    pub password: String,
    pub key_file: String,
    pub cert_file: String,
    pub ca_cert_file: String,
    /// Connection establishment (Calico: 10 s).
    pub dial_timeout: Duration,
    /// Deadline of each request; a slower answer is "try again later".
    pub request_timeout: Duration,
    /// HTTP/2 keepalive interval and timeout (Calico: 30 s, 10 s).
    pub keepalive_time: Duration,
    pub keepalive_timeout: Duration,
    /// DNS servers for SRV discovery; empty means /etc/resolv.conf's.
    pub nameservers: Vec<SocketAddr>,
}

impl Default for EtcdConfig {
    fn default() -> Self {
        EtcdConfig {
            endpoints: Vec::new(),
            discovery_srv: String::new(),
            username: String::new(),
            password: String::new(),
            key_file: String::new(),
            cert_file: String::new(),
            ca_cert_file: String::new(),
            dial_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            keepalive_time: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            nameservers: Vec::new(),
        }
    }
}

impl EtcdConfig {
    /// An etcd config for endpoints given as Calico's comma-separated list.
    pub fn with_endpoints(endpoints: &str) -> Self {
        EtcdConfig {
            endpoints: split_endpoints(endpoints),
            ..EtcdConfig::default()
        }
    }
}

impl DatastoreConfig {
    /// Resolves the choice from NetConf keys and the process environment.
    pub fn from_netconf(netconf: &NetConfDatastore) -> Result<Self> {
        Self::resolve(netconf, &|name| std::env::var(name).ok())
    }

    /// Resolves the choice from NetConf keys and an environment lookup.
    pub fn resolve(
        netconf: &NetConfDatastore,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let get = |name: &str, from_netconf: &str| -> String {
            if let Some(v) = env(&format!("CALICO_{name}")) {
                return v;
            }
            if !from_netconf.is_empty() {
                return from_netconf.to_string();
            }
            env(name).unwrap_or_default()
        };
        let datastore_type = get("DATASTORE_TYPE", &netconf.datastore_type);
        let endpoints = get("ETCD_ENDPOINTS", &netconf.etcd_endpoints);
        let discovery_srv = get("ETCD_DISCOVERY_SRV", &netconf.etcd_discovery_srv);
        let kubeconfig = get("KUBECONFIG", &netconf.kubernetes.kubeconfig);
        let api_endpoint = get("K8S_API_ENDPOINT", &netconf.kubernetes.k8s_api_root);

        let kind = match datastore_type.as_str() {
            "" if !endpoints.is_empty() || !discovery_srv.is_empty() => ETCDV3,
            "" if !kubeconfig.is_empty() || !api_endpoint.is_empty() => KUBERNETES,
            "" => LOCAL,
            other => other,
        };
        match kind {
            ETCDV3 => Ok(DatastoreConfig::Etcd(Box::new(EtcdConfig {
                endpoints: split_endpoints(&endpoints),
                discovery_srv,
                username: get("ETCD_USERNAME", ""),
                password: get("ETCD_PASSWORD", ""),
                key_file: get("ETCD_KEY_FILE", &netconf.etcd_key_file),
                cert_file: get("ETCD_CERT_FILE", &netconf.etcd_cert_file),
                ca_cert_file: get("ETCD_CA_CERT_FILE", &netconf.etcd_ca_cert_file),
                ..EtcdConfig::default()
            }))),
            KUBERNETES => Ok(DatastoreConfig::Kubernetes(Box::new(KubernetesConfig {
                sources: kubeclient::Sources {
                    kubeconfig,
                    server: api_endpoint,
                    ca_file: get("K8S_CA_FILE", ""),
                    cert_file: get("K8S_CERT_FILE", ""),
                    key_file: get("K8S_KEY_FILE", ""),
                    // Calico does not take the token from the environment.
                    token: String::new(),
                    insecure: libcni::types::args::parse_go_bool(&get(
                        "K8S_INSECURE_SKIP_TLS_VERIFY",
                        "",
                    ))
                    .unwrap_or(false),
                    current_context: get("K8S_CURRENT_CONTEXT", ""),
                },
                api_group: get("CALICO_API_GROUP", &netconf.calico_api_group),
            }))),
            LOCAL => {
                let path = get("DATASTORE_PATH", &netconf.datastore_path);
                Ok(DatastoreConfig::Local {
                    path: if path.is_empty() {
                        PathBuf::from(DEFAULT_LOCAL_PATH)
                    } else {
                        PathBuf::from(path)
                    },
                })
            }
            other => Err(DatastoreError::Config(format!(
                "unknown datastore type {other:?} (expected \"{ETCDV3}\", \"{KUBERNETES}\" or \"{LOCAL}\")"
            ))),
        }
    }

    /// `etcdv3`, `kubernetes` or `local`.
    pub fn kind(&self) -> &'static str {
        match self {
            DatastoreConfig::Local { .. } => LOCAL,
            DatastoreConfig::Etcd(_) => ETCDV3,
            DatastoreConfig::Kubernetes(_) => KUBERNETES,
        }
    }

    /// Opens the chosen backend.
    pub fn open(&self) -> Result<Datastore> {
        match self {
            DatastoreConfig::Local { path } => {
                Ok(Datastore::new(Box::new(LocalStore::open(path.clone())?)))
            }
            #[cfg(feature = "etcdv3")]
            DatastoreConfig::Etcd(c) => Ok(Datastore::new(Box::new(
                crate::etcd::EtcdStore::connect(c)?,
            ))),
            #[cfg(not(feature = "etcdv3"))]
            DatastoreConfig::Etcd(_) => Err(DatastoreError::Unsupported(
                "datastore_type \"etcdv3\" is not supported by this build (built without the etcdv3 feature)"
                    .into(),
            )),
            DatastoreConfig::Kubernetes(k) => {
                let client = kubeclient::Client::from_sources(&k.sources)
                    .map_err(|e| crate::kubernetes::errors_to_datastore(e, "kubernetes"))?;
                Ok(Datastore::new(Box::new(crate::kubernetes::KubeStore::new(
                    client,
                    k.sources.clone(),
                    &k.api_group,
                ))))
            }
        }
    }
}

impl Datastore {
    /// The datastore a calico NetConf selects (with the process environment).
    pub fn from_netconf(netconf: &Value) -> Result<Datastore> {
        Datastore::from_keys(&NetConfDatastore::from_netconf(netconf)?)
    }

    /// The datastore the NetConf's datastore keys select (with the process environment).
    pub fn from_keys(keys: &NetConfDatastore) -> Result<Datastore> {
        DatastoreConfig::from_netconf(keys)?.open()
    }
}

/// Calico's `strings.Split(endpoints, ",")`, minus empty items and surrounding blanks.
fn split_endpoints(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn resolve(netconf: Value, env: &[(&str, &str)]) -> Result<DatastoreConfig> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let nc = NetConfDatastore::from_netconf(&netconf)?;
        DatastoreConfig::resolve(&nc, &|k| env.get(k).cloned())
    }

    fn etcd(c: DatastoreConfig) -> EtcdConfig {
        match c {
            DatastoreConfig::Etcd(e) => *e,
            other => panic!("expected etcd, got {other:?}"),
        }
    }

    #[test]
    fn nothing_configured_means_the_local_store() {
        assert_eq!(
            resolve(json!({"name": "net1"}), &[]).unwrap(),
            DatastoreConfig::Local {
                path: PathBuf::from("/var/lib/calico/datastore")
            }
        );
        assert_eq!(
            resolve(json!({"datastore_path": "/tmp/ds"}), &[]).unwrap(),
            DatastoreConfig::Local {
                path: PathBuf::from("/tmp/ds")
            }
        );
        assert_eq!(
            resolve(json!({}), &[("DATASTORE_PATH", "/env/ds")]).unwrap(),
            DatastoreConfig::Local {
                path: PathBuf::from("/env/ds")
            }
        );
    }

    #[test]
    fn endpoints_select_etcd_with_calicos_defaults() {
        let e = etcd(
            resolve(
                json!({"etcd_endpoints": "http://10.0.0.1:2379, http://10.0.0.2:2379",
                       "etcd_ca_cert_file": "/ca.pem"}),
                &[],
            )
            .unwrap(),
        );
        assert_eq!(
            e.endpoints,
            ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]
        );
        assert_eq!(e.ca_cert_file, "/ca.pem");
        assert_eq!(e.dial_timeout, Duration::from_secs(10));
        assert_eq!(e.keepalive_time, Duration::from_secs(30));
        let e = etcd(resolve(json!({"etcd_discovery_srv": "example.com"}), &[]).unwrap());
        assert_eq!(e.discovery_srv, "example.com");
        assert!(e.endpoints.is_empty());
    }

    #[test]
    fn calico_prefixed_env_beats_netconf_beats_plain_env() {
        let nc = json!({"etcd_endpoints": "http://netconf:2379", "etcd_key_file": "/nc.key"});
        let e = etcd(
            resolve(
                nc.clone(),
                &[
                    ("CALICO_ETCD_ENDPOINTS", "http://calico:2379"),
                    ("ETCD_ENDPOINTS", "http://plain:2379"),
                    ("ETCD_KEY_FILE", "/plain.key"),
                    ("ETCD_CERT_FILE", "/plain.crt"),
                    ("ETCD_USERNAME", "u"),
                    ("CALICO_ETCD_PASSWORD", "p"),
                ],
            )
            .unwrap(),
        );
        assert_eq!(e.endpoints, ["http://calico:2379"]);
        assert_eq!(e.key_file, "/nc.key", "NetConf beats the plain variable");
        assert_eq!(
            e.cert_file, "/plain.crt",
            "plain variable when NetConf is silent"
        );
        assert_eq!((e.username.as_str(), e.password.as_str()), ("u", "p"));
        // A set but empty CALICO_ variable still wins (envconfig semantics).
        let c = resolve(nc, &[("CALICO_ETCD_ENDPOINTS", "")]).unwrap();
        assert_eq!(c.kind(), "local");
    }

    #[test]
    fn explicit_types_and_kubernetes() {
        assert_eq!(
            resolve(
                json!({"datastore_type": "local"}),
                &[("ETCD_ENDPOINTS", "http://x:1")]
            )
            .unwrap()
            .kind(),
            "local"
        );
        assert_eq!(
            resolve(
                json!({}),
                &[
                    ("DATASTORE_TYPE", "etcdv3"),
                    ("ETCD_ENDPOINTS", "http://e:1")
                ]
            )
            .unwrap()
            .kind(),
            "etcdv3"
        );
        let k = resolve(
            json!({"kubernetes": {"kubeconfig": "/nonexistent/calico-kubeconfig"},
                   "calico_api_group": "projectcalico.org/v3"}),
            &[
                ("K8S_API_ENDPOINT", "https://10.96.0.1:443"),
                ("CALICO_K8S_CA_FILE", "/ca.pem"),
                ("K8S_INSECURE_SKIP_TLS_VERIFY", "true"),
                ("K8S_CURRENT_CONTEXT", "ctx"),
            ],
        )
        .unwrap();
        assert_eq!(k.kind(), "kubernetes");
        let DatastoreConfig::Kubernetes(kc) = &k else {
            unreachable!()
        };
        assert_eq!(kc.api_group, "projectcalico.org/v3");
        assert_eq!(kc.sources.kubeconfig, "/nonexistent/calico-kubeconfig");
        assert_eq!(kc.sources.server, "https://10.96.0.1:443");
        assert_eq!(kc.sources.ca_file, "/ca.pem");
        assert!(kc.sources.insecure);
        assert_eq!(kc.sources.current_context, "ctx");
        // An explicit kubeconfig must be there: a configuration error, before any request.
        let err = k.open().err().unwrap();
        assert_eq!(libcni::CniCode::code(&err), 7);
        assert_eq!(
            err.to_string(),
            "stat /nonexistent/calico-kubeconfig: no such file or directory"
        );
        let err = resolve(json!({"datastore_type": "consul"}), &[]).unwrap_err();
        assert_eq!(libcni::CniCode::code(&err), 7);
        assert!(
            err.to_string()
                .contains("unknown datastore type \"consul\""),
            "{err}"
        );
    }

    #[test]
    fn keys_match_case_insensitively_and_bad_types_fail() {
        let e = etcd(resolve(json!({"ETCD_ENDPOINTS": "http://upper:2379"}), &[]).unwrap());
        assert_eq!(e.endpoints, ["http://upper:2379"]);
        let err = resolve(json!({"etcd_endpoints": true}), &[]).unwrap_err();
        assert!(
            err.to_string().starts_with("failed to load netconf:"),
            "{err}"
        );
    }
}
