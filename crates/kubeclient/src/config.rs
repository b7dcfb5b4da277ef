//! Where the API server is and who we are, found the way client-go's deferred loading finds it
//! for Calico's two clients: an explicit kubeconfig (or a `KUBECONFIG`-style `:` list), else
//! `$HOME/.kube/config` when it exists, else the in-cluster service account
//! (`KUBERNETES_SERVICE_HOST`/`_PORT` with the token and CA under
//! `/var/run/secrets/kubernetes.io/serviceaccount`); then client-go's `ConfigOverrides` (server,
//! CA, client certificate and key, token, insecure, context), which is how Calico applies
//! `K8S_API_ENDPOINT`, `K8S_CA_FILE`, ... and the NetConf's `policy.k8s_*` keys.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::Error;
use crate::kubeconfig::{self, KubeConfig, Pem, Token};

/// The in-cluster service account's files (client-go `rest.InClusterConfig`).
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// What a client is configured from; empty fields are unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// An explicit kubeconfig, or several separated by `:` (merged, first wins). Empty:
    /// `$HOME/.kube/config` if it exists, else in-cluster.
    pub kubeconfig: String,
    pub server: String,
    pub ca_file: String,
    pub cert_file: String,
    pub key_file: String,
    pub token: String,
    pub insecure: bool,
    pub current_context: String,
}

fn home_kubeconfig() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    let p = Path::new(&home).join(".kube").join("config");
    p.exists().then_some(p)
}

/// The configuration `sources` select.
pub fn load(sources: &Sources) -> Result<KubeConfig, Error> {
    let mut docs = Vec::new();
    let list: Vec<&str> = sources
        .kubeconfig
        .split(':')
        .filter(|p| !p.is_empty())
        .collect();
    match list.as_slice() {
        [] => {
            if let Some(p) = home_kubeconfig() {
                docs.push(kubeconfig::read_document(&p)?);
            }
        }
        // An explicit file must be there: client-go stats it first (`stat <path>: no such
        // file or directory`); a file it then cannot read is `error loading config file`.
        [one] => {
            let path = Path::new(one);
            if let Err(e) = std::fs::metadata(path) {
                if e.kind() == std::io::ErrorKind::NotFound {
                    return Err(Error::Config(format!(
                        "stat {one}: no such file or directory"
                    )));
                }
            }
            docs.push(kubeconfig::read_document(path)?)
        }
        // A precedence list skips files that do not exist, as client-go does.
        many => {
            for p in many {
                if Path::new(p).exists() {
                    docs.push(kubeconfig::read_document(Path::new(p))?);
                }
            }
        }
    }
    let empty = docs.iter().all(|d| {
        ["clusters", "users", "contexts"].iter().all(|k| {
            d.get(*k)
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
        })
    });
    let mut kc = if empty && sources.server.is_empty() {
        in_cluster()?
    } else {
        let merged = kubeconfig::merge(docs);
        kubeconfig::from_value(&merged, &sources.current_context)
            .map_err(|e| Error::Config(format!("invalid configuration: {e}")))?
    };
    apply_overrides(&mut kc, sources);
    if kc.server.is_empty() {
        return Err(Error::Config(
            "invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER environment variable"
                .into(),
        ));
    }
    Ok(kc)
}

/// client-go's `rest.InClusterConfig`.
pub fn in_cluster() -> Result<KubeConfig, Error> {
    let host = std::env::var("KUBERNETES_SERVICE_HOST").unwrap_or_default();
    let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_default();
    if host.is_empty() || port.is_empty() {
        return Err(Error::Config(
            "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined"
                .into(),
        ));
    }
    let dir = Path::new(SERVICE_ACCOUNT_DIR);
    let token = dir.join("token");
    // client-go reads the token once here (and fails without it), then again as it changes.
    libcni::fs::read_bounded(&token, kubeconfig::FILE_LIMIT)
        .map_err(|e| Error::Config(e.to_string()))?;
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    Ok(KubeConfig {
        server: format!("https://{host}:{port}"),
        ca: Some(Pem::File(dir.join("ca.crt"))),
        token: Token::File(token),
        ..KubeConfig::default()
    })
}

/// client-go's `ConfigOverrides` as Calico fills them.
fn apply_overrides(kc: &mut KubeConfig, o: &Sources) {
    if !o.server.is_empty() {
        kc.server = o.server.clone();
    }
    // An overriding CA also replaces the kubeconfig's CA data and insecure flag. Override
    // paths are taken as given (relative to the working directory).
    if !o.ca_file.is_empty() {
        kc.ca = Some(Pem::File(o.ca_file.clone().into()));
        kc.insecure = o.insecure;
    }
    if o.insecure {
        kc.insecure = true;
    }
    if !o.cert_file.is_empty() {
        kc.client_cert = Some(Pem::File(o.cert_file.clone().into()));
    }
    if !o.key_file.is_empty() {
        kc.client_key = Some(Pem::File(o.key_file.clone().into()));
    }
    if !o.token.is_empty() {
        kc.token = Token::Static(o.token.clone());
    }
}

/// Calico's NetConf `policy` object, as both the calico plugin and calico-ipam read it: its
/// `type` and the API overrides of the plugin's own client.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, rename = "types.Policy")]
pub struct Policy {
    #[serde(rename = "type")]
    pub policy_type: String,
    pub k8s_api_root: String,
    pub k8s_auth_token: String,
    pub k8s_client_certificate: String,
    pub k8s_client_key: String,
    pub k8s_certificate_authority: String,
}

/// The NetConf keys of the plugins' own client (Calico's `NewK8sClient`):
/// `kubernetes.kubeconfig`, `kubernetes.k8s_api_root` and the `policy.k8s_*` overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub kubeconfig: String,
    pub k8s_api_root: String,
    pub policy: Policy,
}

impl Settings {
    pub fn new(kubeconfig: &str, k8s_api_root: &str, policy: &Policy) -> Self {
        Settings {
            kubeconfig: kubeconfig.to_string(),
            k8s_api_root: k8s_api_root.to_string(),
            policy: policy.clone(),
        }
    }

    /// `policy.k8s_api_root` cut at `/api/`, then `kubernetes.k8s_api_root` wins for the
    /// server; the policy's token, CA and client certificate override the kubeconfig's.
    pub fn sources(&self) -> Sources {
        let p = &self.policy;
        let mut server = p
            .k8s_api_root
            .split("/api/")
            .next()
            .unwrap_or_default()
            .to_string();
        if !self.k8s_api_root.is_empty() {
            server = self.k8s_api_root.clone();
        }
        Sources {
            kubeconfig: self.kubeconfig.clone(),
            server,
            ca_file: p.k8s_certificate_authority.clone(),
            cert_file: p.k8s_client_certificate.clone(),
            key_file: p.k8s_client_key.clone(),
            token: p.k8s_auth_token.clone(),
            ..Sources::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_overrides_become_sources() {
        let s = Settings::new(
            "/etc/cni/net.d/calico-kubeconfig",
            "",
            &Policy {
                k8s_api_root: "https://10.0.0.1:6443/api/v1/".into(),
                k8s_auth_token: "t".into(),
                k8s_certificate_authority: "/ca.pem".into(),
                ..Policy::default()
            },
        )
        .sources();
        assert_eq!(s.server, "https://10.0.0.1:6443");
        assert_eq!((s.token.as_str(), s.ca_file.as_str()), ("t", "/ca.pem"));
        let s = Settings::new("", "https://api:443", &Policy::default()).sources();
        assert_eq!(s.server, "https://api:443");
    }

    #[test]
    fn overrides_replace_ca_data_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kc");
        std::fs::write(
            &path,
            "clusters:\n- name: c\n  cluster:\n    server: https://a:1\n    certificate-authority-data: Y2E=\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n",
        )
        .unwrap();
        let kc = load(&Sources {
            kubeconfig: path.display().to_string(),
            server: "https://b:2".into(),
            ca_file: "/ca.pem".into(),
            ..Sources::default()
        })
        .unwrap();
        assert_eq!(kc.server, "https://b:2");
        assert_eq!(kc.ca, Some(Pem::File("/ca.pem".into())));
        assert_eq!(kc.token, Token::Static("t".into()));
        let err = load(&Sources {
            kubeconfig: dir.path().join("missing").display().to_string(),
            ..Sources::default()
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "stat {}: no such file or directory",
                dir.path().join("missing").display()
            )
        );
    }
}
