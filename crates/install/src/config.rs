//! The installer's environment, read with the rules of Calico's `envconfig`
//! struct (a variable that is set wins even when empty; booleans parse like Go's
//! `strconv.ParseBool`; lists split on `,` without trimming) and its `getEnv`
//! helper for the template values.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};

/// Where the installer finds the container's and the host's files. Calico's
/// paths are absolute (`/host/...`, `/opt/cni/bin`, the service-account
/// directory); `CNI_INSTALL_ROOT` (default `/`) moves all of them under one
/// directory so the installer can run outside a container, e.g. in tests.
#[derive(Debug, Clone)]
pub struct Root(PathBuf);

impl Root {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Root(dir.into())
    }

    /// `path` (absolute, as Calico spells it) under this root.
    pub fn path(&self, path: &str) -> PathBuf {
        self.0.join(path.trim_start_matches('/'))
    }

    /// `/host/etc/cni/net.d`: the host's CNI config directory, as mounted.
    pub fn host_net_d(&self) -> PathBuf {
        self.path("/host/etc/cni/net.d")
    }

    /// `/host/etc/cni/net.d/calico-tls`.
    pub fn host_tls_dir(&self) -> PathBuf {
        self.path("/host/etc/cni/net.d/calico-tls")
    }

    /// The candidate binary directories on the host, in Calico's order.
    pub fn host_bin_dirs(&self) -> [PathBuf; 2] {
        [
            self.path("/host/opt/cni/bin"),
            self.path("/host/secondary-bin-dir"),
        ]
    }

    /// `/opt/cni/bin` of the image: the binaries to install.
    pub fn source_bin_dir(&self) -> PathBuf {
        self.path("/opt/cni/bin")
    }

    /// The pod's service-account directory (token, ca.crt, namespace).
    pub fn service_account_dir(&self) -> PathBuf {
        self.path("/var/run/secrets/kubernetes.io/serviceaccount")
    }
}

/// Everything the installer reads from its environment up front.
#[derive(Debug, Clone)]
pub struct Config {
    pub root: Root,
    /// `CNI_NET_DIR`: the host's CNI config dir as the *host* sees it; only used
    /// to build paths written into the conflist.
    pub cni_net_dir: String,
    pub cni_conf_name: String,
    pub cni_old_conf_name: String,
    pub tls_assets_dir: PathBuf,
    pub skip_cni_binaries: Vec<String>,
    pub update_cni_binaries: bool,
    pub cni_network_config: String,
    pub cni_network_config_file: String,
    pub should_sleep: bool,
    /// How often `SLEEP=true` polls the watched files.
    pub poll_interval: Duration,
}

/// The process environment, or a fixed map in unit tests.
pub trait Env {
    fn lookup(&self, key: &str) -> Option<String>;

    /// Calico's `getEnv`: the value when set (even empty), else `default`.
    fn get_or(&self, key: &str, default: &str) -> String {
        self.lookup(key).unwrap_or_else(|| default.to_string())
    }
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn lookup(&self, key: &str) -> Option<String> {
        std::env::var_os(key).map(|v| v.to_string_lossy().into_owned())
    }
}

/// A fixed environment: `(name, value)` pairs, the last of a name winning as in a shell's
/// assignments (unit and integration tests).
pub struct FixedEnv<'a>(pub &'a [(&'a str, &'a str)]);

impl Env for FixedEnv<'_> {
    fn lookup(&self, key: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
    }
}

impl Config {
    pub fn load(env: &dyn Env) -> Result<Config> {
        let root = Root::new(env.get_or("CNI_INSTALL_ROOT", "/"));
        // TLS_ASSETS_DIR as given is the user's path; its default is a container
        // path and so lives under the root.
        let tls_assets_dir = match env.lookup("TLS_ASSETS_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => root.path("/calico-secrets"),
        };
        let poll_ms = env.get_or("CNI_INSTALL_POLL_INTERVAL_MS", "1000");
        let poll_ms: u64 = match poll_ms.parse() {
            Ok(ms) if ms > 0 => ms,
            _ => bail!("CNI_INSTALL_POLL_INTERVAL_MS must be a positive integer, got {poll_ms:?}"),
        };
        Ok(Config {
            cni_net_dir: env.get_or("CNI_NET_DIR", "/etc/cni/net.d"),
            cni_conf_name: env.get_or("CNI_CONF_NAME", "10-calico.conflist"),
            cni_old_conf_name: env.get_or("CNI_OLD_CONF_NAME", "10-calico.conflist"),
            tls_assets_dir,
            skip_cni_binaries: list(env.lookup("SKIP_CNI_BINARIES")),
            update_cni_binaries: boolean(env, "UPDATE_CNI_BINARIES", "UpdateCNIBinaries", true)?,
            cni_network_config: env.get_or("CNI_NETWORK_CONFIG", ""),
            cni_network_config_file: env.get_or("CNI_NETWORK_CONFIG_FILE", ""),
            should_sleep: boolean(env, "SLEEP", "ShouldSleep", true)?,
            poll_interval: Duration::from_millis(poll_ms),
            root,
        })
    }

    pub fn skip_binary(&self, name: &str) -> bool {
        self.skip_cni_binaries.iter().any(|s| s == name)
    }

    /// `<CNI_NET_DIR>/<file>`, the path the host sees, for the conflist.
    pub fn host_visible(&self, file: &str) -> String {
        format!("{}/{}", self.cni_net_dir, file)
    }

    pub fn tls_asset(&self, name: &str) -> PathBuf {
        Path::new(&self.tls_assets_dir).join(name)
    }
}

/// envconfig's `[]string`: split on commas, nothing trimmed; unset or blank → empty.
fn list(value: Option<String>) -> Vec<String> {
    match value {
        Some(v) if !v.trim().is_empty() => v.split(',').map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// envconfig's `bool` with a default: unset → default; set → `strconv.ParseBool`,
/// whose failure (even for an empty value) is fatal, with envconfig's message.
fn boolean(env: &dyn Env, key: &str, field: &str, default: bool) -> Result<bool> {
    let Some(value) = env.lookup(key) else {
        return Ok(default);
    };
    match value.as_str() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => bail!(
            "envconfig.Process: assigning {key} to {field}: converting '{value}' to type bool. \
             details: strconv.ParseBool: parsing {value:?}: invalid syntax"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&'static str, &'static str)]) -> Result<Config> {
        Config::load(&FixedEnv(pairs))
    }

    #[test]
    fn defaults_match_calico() {
        let c = load(&[]).unwrap();
        assert_eq!(c.cni_net_dir, "/etc/cni/net.d");
        assert_eq!(c.cni_conf_name, "10-calico.conflist");
        assert_eq!(c.cni_old_conf_name, "10-calico.conflist");
        assert_eq!(c.tls_assets_dir, PathBuf::from("/calico-secrets"));
        assert!(c.skip_cni_binaries.is_empty());
        assert!(c.update_cni_binaries);
        assert!(c.should_sleep);
        assert_eq!(c.root.host_net_d(), PathBuf::from("/host/etc/cni/net.d"));
        assert_eq!(c.root.source_bin_dir(), PathBuf::from("/opt/cni/bin"));
    }

    #[test]
    fn root_moves_container_paths_but_not_given_ones() {
        let c = load(&[("CNI_INSTALL_ROOT", "/tmp/r")]).unwrap();
        assert_eq!(c.tls_assets_dir, PathBuf::from("/tmp/r/calico-secrets"));
        assert_eq!(
            c.root.host_bin_dirs()[1],
            PathBuf::from("/tmp/r/host/secondary-bin-dir")
        );
        let c = load(&[("CNI_INSTALL_ROOT", "/tmp/r"), ("TLS_ASSETS_DIR", "/s")]).unwrap();
        assert_eq!(c.tls_assets_dir, PathBuf::from("/s"));
    }

    #[test]
    fn booleans_parse_like_go() {
        for v in ["1", "t", "T", "TRUE", "true", "True"] {
            assert!(load(&[("SLEEP", v)]).unwrap().should_sleep, "{v}");
        }
        for v in ["0", "f", "F", "FALSE", "false", "False"] {
            assert!(
                !load(&[("UPDATE_CNI_BINARIES", v)])
                    .unwrap()
                    .update_cni_binaries
            );
        }
        for v in ["", "yes", "tRUE"] {
            let err = load(&[("SLEEP", v)]).unwrap_err().to_string();
            assert!(err.contains("assigning SLEEP to ShouldSleep"), "{err}");
        }
    }

    #[test]
    fn skip_list_splits_without_trimming() {
        let c = load(&[("SKIP_CNI_BINARIES", "portmap, tuning")]).unwrap();
        assert_eq!(c.skip_cni_binaries, vec!["portmap", " tuning"]);
        assert!(c.skip_binary("portmap"));
        assert!(!c.skip_binary("tuning"));
        assert!(load(&[("SKIP_CNI_BINARIES", "")])
            .unwrap()
            .skip_cni_binaries
            .is_empty());
    }

    #[test]
    fn set_but_empty_strings_win() {
        let c = load(&[("CNI_NET_DIR", ""), ("CNI_CONF_NAME", "20-x.conflist")]).unwrap();
        assert_eq!(c.cni_net_dir, "");
        assert_eq!(c.cni_conf_name, "20-x.conflist");
    }
}
