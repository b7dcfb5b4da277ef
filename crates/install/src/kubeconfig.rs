//! The pod's in-cluster identity and the `calico-kubeconfig` file the calico
//! plugin uses to reach the apiserver.
//!
//! As Calico's installer, it asks the apiserver (TokenRequest, 24 h) for a token of the
//! `calico-cni-plugin` service account (`CALICO_CNI_SERVICE_ACCOUNT`), so the plugins run
//! with that account's minimal role, and falls back to the pod's own token when the API
//! answers 404 (no TokenRequest API, no such account). calico-node refreshes the file as the
//! token ages.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use base64::Engine;

use crate::config::{Config, Env};
use crate::copy::file_exists;
use crate::{info, warn};

/// What a pod learns from its environment and service-account volume
/// (client-go's `rest.InClusterConfig` + `LoadTLSFiles`).
#[derive(Debug, Clone)]
pub struct InCluster {
    pub token_file: PathBuf,
    /// The token file's bytes, as the conflist's `__SERVICEACCOUNT_TOKEN__` gets them.
    pub token: Vec<u8>,
    /// `ca.crt` when it holds a PEM certificate, else empty (client-go logs and
    /// goes on without it).
    pub ca: Vec<u8>,
}

/// `Some` when the service-account token exists (Calico: "Running as a
/// Kubernetes pod"); then the apiserver address must be in the environment.
pub fn in_cluster(config: &Config, env: &dyn Env) -> Result<Option<InCluster>> {
    let sa = config.root.service_account_dir();
    let token_file = sa.join("token");
    if !file_exists(&token_file)? {
        return Ok(None);
    }
    info!("Running as a Kubernetes pod");
    let host = env.get_or("KUBERNETES_SERVICE_HOST", "");
    let port = env.get_or("KUBERNETES_SERVICE_PORT", "");
    if host.is_empty() || port.is_empty() {
        bail!("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined");
    }
    let token = crate::read::small_file(&token_file)
        .with_context(|| format!("open {}", token_file.display()))?;
    let ca_file = sa.join("ca.crt");
    let ca = match crate::read::small_file(&ca_file) {
        Ok(pem) if holds_certificate(&pem) => pem,
        Ok(_) => {
            warn!(
                "Expected to load root CA config from {}, but it holds no certificate",
                ca_file.display()
            );
            Vec::new()
        }
        Err(e) => {
            warn!(
                "Expected to load root CA config from {}, but got err: {e}",
                ca_file.display()
            );
            Vec::new()
        }
    };
    Ok(Some(InCluster {
        token_file,
        token,
        ca,
    }))
}

fn holds_certificate(pem: &[u8]) -> bool {
    let text = String::from_utf8_lossy(pem);
    text.contains("-----BEGIN CERTIFICATE-----") && text.contains("-----END CERTIFICATE-----")
}

/// How the kubeconfig trusts the apiserver.
pub enum Tls<'a> {
    Ca(&'a [u8]),
    Insecure,
}

/// The apiserver's URL in a kubeconfig: `protocol` (`https` when empty) and the host joined
/// with the port like Go's `net.JoinHostPort`, so an IPv6 address gets brackets and an IPv4
/// address or name does not.
pub fn server_url(protocol: &str, host: &str, port: &str) -> String {
    let protocol = if protocol.is_empty() {
        "https"
    } else {
        protocol
    };
    if host.contains(':') {
        format!("{protocol}://[{host}]:{port}")
    } else {
        format!("{protocol}://{host}:{port}")
    }
}

/// Calico's kubeconfig text, byte for byte.
pub fn render(protocol: &str, host: &str, port: &str, tls: Tls<'_>, token: &str) -> String {
    let server = server_url(protocol, host, port);
    let tls = match tls {
        Tls::Insecure => "insecure-skip-tls-verify: true".to_string(),
        Tls::Ca(ca) => format!(
            "certificate-authority-data: {}",
            base64::engine::general_purpose::STANDARD.encode(ca)
        ),
    };
    format!(
        "# Kubeconfig file for Calico CNI plugin.
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: {server}
    {tls}
users:
- name: calico
  user:
    token: {token}
contexts:
- name: calico-context
  context:
    cluster: local
    user: calico
current-context: calico-context
"
    )
}

/// The CNI plugin's token: a TokenRequest for the `calico-cni-plugin` service account in the
/// pod's namespace, through `KUBECONFIG` when set, else the in-cluster config; the pod's own
/// token when the API answers 404.
fn cni_token(config: &Config, env: &dyn Env, pod: &InCluster) -> Result<String> {
    // A token file may end in a newline; inside the YAML it would end the value.
    let own = String::from_utf8_lossy(&pod.token).trim_end().to_string();
    let account = env.get_or("CALICO_CNI_SERVICE_ACCOUNT", "calico-cni-plugin");
    let ns_file = config.root.service_account_dir().join("namespace");
    let namespace = crate::read::small_text(&ns_file)
        .with_context(|| format!("open {}", ns_file.display()))?
        .trim()
        .to_string();
    let kubeconfig = env.get_or("KUBECONFIG", "");
    let client = if kubeconfig.is_empty() {
        let host = env.get_or("KUBERNETES_SERVICE_HOST", "");
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        kubeclient::Client::from_config(&kubeclient::kubeconfig::KubeConfig {
            server: format!(
                "https://{host}:{}",
                env.get_or("KUBERNETES_SERVICE_PORT", "")
            ),
            // client-go's in-cluster config: the CA when it is one, else the system roots.
            ca: (!pod.ca.is_empty()).then(|| kubeclient::kubeconfig::Pem::Data(pod.ca.clone())),
            token: kubeclient::kubeconfig::Token::Static(own.clone()),
            ..Default::default()
        })
    } else {
        kubeclient::Client::from_sources(&kubeclient::Sources {
            kubeconfig,
            ..Default::default()
        })
    }
    .context("failed to build the Kubernetes client")?;
    let request = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": { "audiences": [], "expirationSeconds": TOKEN_SECONDS },
    });
    let path = format!("/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token");
    match client.post(&path, &request) {
        Ok(tr) => tr
            .pointer("/status/token")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .context("the TokenRequest answer holds no token"),
        Err(e) if e.is_not_found() => {
            warn!(
                "Unable to create token for CNI kubeconfig as token request api is not supported, falling back to local service account token"
            );
            Ok(own)
        }
        Err(e) => Err(anyhow::anyhow!(
            "Unable to create token for CNI kubeconfig: {e}"
        )),
    }
}

/// Calico's CNI token lifetime.
const TOKEN_SECONDS: u64 = 86400;

/// Writes `/host/etc/cni/net.d/calico-kubeconfig` (0600) from the environment and a token
/// of the CNI plugin's service account.
pub fn write(config: &Config, env: &dyn Env, pod: &InCluster) -> Result<()> {
    let tls = if env.lookup("SKIP_TLS_VERIFY").as_deref() == Some("true") {
        Tls::Insecure
    } else {
        Tls::Ca(&pod.ca)
    };
    let token = cni_token(config, env, pod)?;
    let data = render(
        &env.get_or("KUBERNETES_SERVICE_PROTOCOL", "https"),
        &env.get_or("KUBERNETES_SERVICE_HOST", ""),
        &env.get_or("KUBERNETES_SERVICE_PORT", ""),
        tls,
        &token,
    );
    let path = config.root.host_net_d().join("calico-kubeconfig");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("open {}", path.display()))?;
    f.write_all(data.as_bytes())
        .with_context(|| format!("write {}", path.display()))?;
    info!("Wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_host_is_not_bracketed_and_ca_is_base64() {
        let out = render("", "127.0.0.1", "6443", Tls::Ca(b"my-ca-data"), "my-token");
        assert!(out.contains("server: https://127.0.0.1:6443\n"), "{out}");
        assert!(
            out.contains("certificate-authority-data: bXktY2EtZGF0YQ==\n"),
            "{out}"
        );
        assert!(out.contains("    token: my-token\n"), "{out}");
        assert!(!out.contains("insecure-skip-tls-verify"), "{out}");
    }

    #[test]
    fn ipv6_host_is_bracketed() {
        let out = render("https", "2001:db8::1", "6443", Tls::Ca(b""), "tok");
        assert!(
            out.contains("server: https://[2001:db8::1]:6443\n"),
            "{out}"
        );
    }

    #[test]
    fn skip_tls_verify_drops_the_ca() {
        let out = render("http", "10.0.0.1", "80", Tls::Insecure, "tok");
        assert!(out.contains("server: http://10.0.0.1:80\n"), "{out}");
        assert!(
            out.contains("    insecure-skip-tls-verify: true\n"),
            "{out}"
        );
        assert!(!out.contains("certificate-authority-data"), "{out}");
    }

    #[test]
    fn whole_file_matches_calico() {
        let out = render("https", "10.96.0.1", "443", Tls::Ca(b"x"), "t");
        assert_eq!(
            out,
            "# Kubeconfig file for Calico CNI plugin.\napiVersion: v1\nkind: Config\nclusters:\n\
             - name: local\n  cluster:\n    server: https://10.96.0.1:443\n    \
             certificate-authority-data: eA==\nusers:\n- name: calico\n  user:\n    token: t\n\
             contexts:\n- name: calico-context\n  context:\n    cluster: local\n    user: calico\n\
             current-context: calico-context\n"
        );
    }
}
