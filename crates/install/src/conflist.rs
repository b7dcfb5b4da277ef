//! The CNI network config: Calico's default template (or the user's, from
//! `CNI_NETWORK_CONFIG` / `CNI_NETWORK_CONFIG_FILE`), its `__PLACEHOLDER__`s
//! replaced by plain string substitution, checked to be a JSON object and
//! written to `/host/etc/cni/net.d/<CNI_CONF_NAME>`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::config::{Config, Env};
use crate::copy::file_exists;
use crate::{info, warn};

/// Calico's default conflist template (cniVersion 1.0.0), byte for byte.
pub const DEFAULT_TEMPLATE: &str = r#"{
  "name": "k8s-pod-network",
  "cniVersion": "1.0.0",
  "plugins": [
    {
      "type": "calico",
      "log_level": "__LOG_LEVEL__",
      "log_file_path": "__LOG_FILE_PATH__",
      "datastore_type": "__DATASTORE_TYPE__",
      "nodename": "__KUBERNETES_NODE_NAME__",
      "mtu": __CNI_MTU__,
      "ipam": {"type": "calico-ipam"},
      "policy": {"type": "k8s"},
      "kubernetes": {"kubeconfig": "__KUBECONFIG_FILEPATH__"},
      "require_mtu_file": __REQUIRE_MTU_FILE__,
      "calico_api_group": "__CALICO_API_GROUP__"
    },
    {
      "type": "portmap",
      "snat": true,
      "capabilities": {"portMappings": true}
    }
  ]
}"#;

/// The template to render: the file beats the variable, which beats the default.
pub fn template(config: &Config) -> Result<String> {
    if !config.cni_network_config_file.is_empty() {
        info!("Using CNI config template from CNI_NETWORK_CONFIG_FILE");
        let bytes = crate::read::small_file(Path::new(&config.cni_network_config_file))
            .with_context(|| format!("open {}", config.cni_network_config_file))?;
        return Ok(String::from_utf8_lossy(&bytes).into_owned());
    }
    if !config.cni_network_config.is_empty() {
        info!("Using CNI config template from CNI_NETWORK_CONFIG environment variable.");
        return Ok(config.cni_network_config.clone());
    }
    Ok(DEFAULT_TEMPLATE.to_string())
}

/// Every placeholder with its value, in Calico's replacement order (a value
/// that itself contains a later placeholder gets replaced too, as in Calico).
pub fn substitutions(
    config: &Config,
    env: &dyn Env,
    token: &[u8],
) -> Result<Vec<(&'static str, String)>> {
    let node = match env.lookup("KUBERNETES_NODE_NAME") {
        Some(name) => name,
        None => hostname()?,
    };
    // An etcd file path only when the installer put the file on the host.
    let tls = config.root.host_tls_dir();
    let etcd_file = |name: &str| -> Result<String> {
        Ok(if file_exists(&tls.join(name))? {
            config.host_visible(&format!("calico-tls/{name}"))
        } else {
            String::new()
        })
    };
    Ok(vec![
        ("__LOG_LEVEL__", env.get_or("LOG_LEVEL", "info")),
        (
            "__LOG_FILE_PATH__",
            env.get_or("LOG_FILE_PATH", "/var/log/calico/cni/cni.log"),
        ),
        (
            "__LOG_FILE_MAX_SIZE__",
            env.get_or("LOG_FILE_MAX_SIZE", "100"),
        ),
        ("__LOG_FILE_MAX_AGE__", env.get_or("LOG_FILE_MAX_AGE", "30")),
        (
            "__LOG_FILE_MAX_COUNT__",
            env.get_or("LOG_FILE_MAX_COUNT", "10"),
        ),
        (
            "__DATASTORE_TYPE__",
            env.get_or("DATASTORE_TYPE", "kubernetes"),
        ),
        ("__KUBERNETES_NODE_NAME__", node),
        (
            "__KUBECONFIG_FILEPATH__",
            config.host_visible("calico-kubeconfig"),
        ),
        ("__CNI_MTU__", env.get_or("CNI_MTU", "1500")),
        (
            "__KUBERNETES_SERVICE_HOST__",
            env.get_or("KUBERNETES_SERVICE_HOST", ""),
        ),
        (
            "__KUBERNETES_SERVICE_PORT__",
            env.get_or("KUBERNETES_SERVICE_PORT", ""),
        ),
        (
            "__SERVICEACCOUNT_TOKEN__",
            String::from_utf8_lossy(token).into_owned(),
        ),
        ("__ETCD_CERT_FILE__", etcd_file("etcd-cert")?),
        ("__ETCD_CA_CERT_FILE__", etcd_file("etcd-ca")?),
        ("__ETCD_KEY_FILE__", etcd_file("etcd-key")?),
        ("__ETCD_ENDPOINTS__", env.get_or("ETCD_ENDPOINTS", "")),
        (
            "__ETCD_DISCOVERY_SRV__",
            env.get_or("ETCD_DISCOVERY_SRV", ""),
        ),
        (
            "__REQUIRE_MTU_FILE__",
            env.get_or("REQUIRE_MTU_FILE", "false"),
        ),
        (
            "__CALICO_API_GROUP__",
            env.get_or("CALICO_API_GROUP", "crd.projectcalico.org/v1"),
        ),
    ])
}

pub fn render(template: &str, substitutions: &[(&'static str, String)]) -> String {
    substitutions
        .iter()
        .fold(template.to_string(), |text, (placeholder, value)| {
            text.replace(placeholder, value)
        })
}

/// Go's `json.Unmarshal` into a map: an object, or `null` (which Go accepts).
pub fn validate(text: &str) -> Result<()> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(_) | serde_json::Value::Null) => Ok(()),
        Ok(other) => bail!(
            "{text} is not a valid json object\nerror: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            libcni::gojson::kind_name(&other)
        ),
        Err(e) => bail!("{text} is not a valid json object\nerror: {e}"),
    }
}

/// Renders, validates and writes the conflist; prints it on stdout as Calico
/// does; removes `CNI_OLD_CONF_NAME` when it differs.
pub fn write(config: &Config, env: &dyn Env, token: &[u8]) -> Result<()> {
    let text = render(&template(config)?, &substitutions(config, env, token)?);
    validate(&text)?;

    let perm_text = env.get_or("TEST_FILE_PERMISSION", "0600");
    info!("CNI config file permission is set to {perm_text}");
    let perm = u32::from_str_radix(&perm_text, 8)
        .with_context(|| format!("strconv.ParseUint: parsing {perm_text:?}: invalid syntax"))?;

    let net_d = config.root.host_net_d();
    let path = net_d.join(&config.cni_conf_name);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(perm & 0o777)
        .open(&path)
        .with_context(|| format!("open {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("write {}", path.display()))?;
    drop(f);
    // The open mode does not change an existing file's permissions, nor escape the umask.
    fs::set_permissions(&path, fs::Permissions::from_mode(perm & 0o7777))
        .with_context(|| format!("chmod {}", path.display()))?;

    let written =
        crate::read::small_file(&path).with_context(|| format!("read {}", path.display()))?;
    info!("Created {}", path.display());
    println!("{}", String::from_utf8_lossy(&written));

    if config.cni_conf_name != config.cni_old_conf_name {
        let old = net_d.join(&config.cni_old_conf_name);
        info!("Removing {}", old.display());
        if let Err(e) = fs::remove_file(&old) {
            warn!("Failed to remove {}: {e}", config.cni_old_conf_name);
        }
    }
    Ok(())
}

/// libcalico's `names.Hostname`: the kernel hostname (what Go's `os.Hostname`
/// reads), trimmed and lower-cased.
fn hostname() -> Result<String> {
    let name = fs::read_to_string("/proc/sys/kernel/hostname")
        .context("reading the hostname from /proc/sys/kernel/hostname")?;
    Ok(name.trim().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_template_is_valid_after_substitution() {
        let subs = vec![
            ("__CNI_MTU__", "1500".to_string()),
            ("__REQUIRE_MTU_FILE__", "false".to_string()),
        ];
        let text = render(DEFAULT_TEMPLATE, &subs);
        validate(&text).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["cniVersion"], "1.0.0");
        assert_eq!(v["plugins"][0]["mtu"], 1500);
        assert_eq!(v["plugins"][0]["require_mtu_file"], false);
    }

    #[test]
    fn replacement_is_replace_all() {
        let out = render(
            "__LOG_LEVEL__ __LOG_LEVEL__",
            &[("__LOG_LEVEL__", "debug".to_string())],
        );
        assert_eq!(out, "debug debug");
    }

    #[test]
    fn validation_follows_go_map_decoding() {
        validate("{}").unwrap();
        validate(" null ").unwrap();
        assert!(validate("{\"missing quote}").is_err());
        assert!(validate("[]").is_err());
        assert!(validate("\"x\"").is_err());
        assert!(validate("").is_err());
    }
}
