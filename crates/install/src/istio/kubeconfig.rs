//! `<run dir>/istio-cni-kubeconfig` (`cni/pkg/install/kubeconfig.go`, HEAD's form: client-go's
//! YAML with sorted keys), from the pod's service account.

use std::path::Path;

use anyhow::{bail, Context, Result};
use base64::Engine;

use super::cniconf::atomic_write;
use super::settings::Settings;

/// A YAML scalar as go-yaml writes a string: plain when it reads back as the same string,
/// else double-quoted.
fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./+=:".contains(c))
        && !s.starts_with(['-', ':', '.'])
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n" | "~"
        )
        && s.parse::<f64>().is_err();
    if plain {
        s.to_string()
    } else {
        serde_json::Value::String(s.to_string()).to_string()
    }
}

/// The kubeconfig text.
pub fn render(protocol: &str, host: &str, port: &str, tls: Option<&[u8]>, token: &str) -> String {
    let server = crate::kubeconfig::server_url(protocol, host, port);
    let tls = match tls {
        Some(ca) => format!(
            "    certificate-authority-data: {}\n",
            base64::engine::general_purpose::STANDARD.encode(ca)
        ),
        None => "    insecure-skip-tls-verify: true\n".to_string(),
    };
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n{tls}    server: {server}\n  name: local\n\
         contexts:\n- context:\n    cluster: local\n    user: istio-cni\n  name: istio-cni-context\n\
         current-context: istio-cni-context\nkind: Config\nusers:\n- name: istio-cni\n  user:\n    token: {}\n",
        scalar(token)
    )
}

/// Writes the kubeconfig (mode `KUBECONFIG_MODE`) from the service account's token and CA.
pub fn write(s: &Settings) -> Result<()> {
    if s.k8s_service_host.is_empty() {
        bail!("KUBERNETES_SERVICE_HOST not set. Is this not running within a pod?");
    }
    if s.k8s_service_port.is_empty() {
        bail!("KUBERNETES_SERVICE_PORT not set. Is this not running within a pod?");
    }
    let sa = s.root.service_account_dir();
    let token_file = sa.join("token");
    let token = crate::read::small_text(&token_file)
        .with_context(|| format!("failed to read token file {}", token_file.display()))?;
    let ca = if s.skip_tls_verify {
        None
    } else {
        let ca_file = if s.kube_ca_file.is_empty() {
            sa.join("ca.crt")
        } else {
            Path::new(&s.kube_ca_file).to_path_buf()
        };
        Some(
            crate::read::small_file(&ca_file)
                .with_context(|| format!("file does not exist: {}", ca_file.display()))?,
        )
    };
    let text = render(
        &s.k8s_service_protocol,
        &s.k8s_service_host,
        &s.k8s_service_port,
        ca.as_deref(),
        &token,
    );
    std::fs::create_dir_all(&s.cni_agent_run_dir)
        .with_context(|| format!("mkdir {}", s.cni_agent_run_dir.display()))?;
    atomic_write(&s.kubeconfig_path(), text.as_bytes(), s.kubeconfig_mode)?;
    super::log::info(&format!(
        "wrote kubeconfig file {}",
        s.kubeconfig_path().display()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(scalar("eyJhbGciOi.J9-x_y"), "eyJhbGciOi.J9-x_y");
        assert_eq!(scalar("true"), "\"true\"");
        assert_eq!(scalar("a b"), "\"a b\"");
        assert_eq!(scalar("tok\n"), "\"tok\\n\"");
        assert_eq!(scalar("123"), "\"123\"");
    }
}
