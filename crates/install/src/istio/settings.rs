//! install-cni's settings (`cni/pkg/cmd/root.go`): each is a flag `--x-y` or an environment
//! variable `X_Y` (viper: a given flag wins over the variable, which wins over the default).
//! Ambient, repair and metrics settings are accepted and ignored.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::config::{Env, Root};

/// install-cni's `InstallConfig`, the parts sidecar mode uses.
#[derive(Debug, Clone)]
pub struct Settings {
    pub root: Root,
    /// `MOUNTED_CNI_NET_DIR`: the host's CNI config dir as mounted.
    pub mounted_cni_net_dir: PathBuf,
    /// `CNI_CONF_NAME`: the config file to edit; empty = the first valid one.
    pub cni_conf_name: String,
    pub chained_cni_plugin: bool,
    /// `CNI_AGENT_RUN_DIR`: hostPath-mounted at the same path; the kubeconfig goes there and
    /// the plugin is told this path.
    pub cni_agent_run_dir: PathBuf,
    pub kubeconfig_mode: u32,
    pub cni_conf_group_read: bool,
    pub kube_ca_file: String,
    pub skip_tls_verify: bool,
    pub k8s_service_protocol: String,
    pub k8s_service_host: String,
    pub k8s_service_port: String,
    pub exclude_namespaces: String,
    pub pod_namespace: String,
    pub ambient_enabled: bool,
    pub ambient_enablement_selector: String,
    pub ambient_detection_retry: bool,
    pub native_nftables: bool,
    /// The plugin's `plugin_log_level` (upstream: the agent's `cni-plugin` scope level).
    pub plugin_log_level: String,
    /// Ours: where `/healthz` and `/readyz` are served (upstream: `:8000`).
    pub health_addr: String,
}

/// Flags given on the command line, `--x-y=v` or `--x-y v`; a bare boolean flag is `true`.
struct Flags(Vec<(String, String)>);

impl Flags {
    fn parse(args: &[String]) -> Result<Flags> {
        let mut out = Vec::new();
        let mut it = args.iter().peekable();
        while let Some(a) = it.next() {
            let Some(name) = a.strip_prefix("--") else {
                bail!("unknown command {a:?} for \"install-cni\"");
            };
            let (k, v) = match name.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => match it.peek() {
                    Some(next) if !next.starts_with("--") => {
                        (name.to_string(), it.next().cloned().unwrap_or_default())
                    }
                    _ => (name.to_string(), "true".to_string()),
                },
            };
            out.push((k, v));
        }
        Ok(Flags(out))
    }

    fn get(&self, flag: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == flag)
            .map(|(_, v)| v.clone())
    }
}

/// Go's `strconv.ParseBool`, as viper/cast read booleans.
fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => {
            bail!("invalid value {v:?} for {key}: strconv.ParseBool: parsing {v:?}: invalid syntax")
        }
    }
}

/// An int as cast reads it: base prefix allowed (`0600` is octal, `0o600`, `0x180`).
fn parse_int(key: &str, v: &str) -> Result<u32> {
    let s = v.trim();
    let parsed = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16)
    } else if let Some(o) = s.strip_prefix("0o").or_else(|| s.strip_prefix("0O")) {
        u32::from_str_radix(o, 8)
    } else if s.len() > 1 && s.starts_with('0') {
        u32::from_str_radix(&s[1..], 8)
    } else {
        s.parse()
    };
    parsed.with_context(|| format!("invalid value {v:?} for {key}"))
}

impl Settings {
    pub fn load(args: &[String], env: &dyn Env) -> Result<Settings> {
        let flags = Flags::parse(args)?;
        // A given flag wins, then the variable, then the default.
        let get = |key: &str| -> Option<String> {
            flags
                .get(&key.to_ascii_lowercase().replace('_', "-"))
                .or_else(|| env.lookup(key))
        };
        let string = |key: &str, default: &str| get(key).unwrap_or_else(|| default.into());
        let boolean = |key: &str, default: bool| -> Result<bool> {
            match get(key) {
                Some(v) => parse_bool(key, &v),
                None => Ok(default),
            }
        };
        let root = Root::new(env.get_or("CNI_INSTALL_ROOT", "/"));
        let net_dir = match get("MOUNTED_CNI_NET_DIR") {
            Some(d) => PathBuf::from(d),
            None => root.host_net_d(),
        };
        let kubeconfig_mode = match get("KUBECONFIG_MODE") {
            Some(v) => parse_int("KUBECONFIG_MODE", &v)?,
            None => 0o600,
        };
        Ok(Settings {
            mounted_cni_net_dir: net_dir,
            cni_conf_name: string("CNI_CONF_NAME", ""),
            chained_cni_plugin: boolean("CHAINED_CNI_PLUGIN", true)?,
            cni_agent_run_dir: PathBuf::from(string("CNI_AGENT_RUN_DIR", "/var/run/istio-cni")),
            kubeconfig_mode,
            cni_conf_group_read: boolean("CNI_CONF_GROUP_READ", false)?,
            kube_ca_file: string("KUBE_CA_FILE", ""),
            skip_tls_verify: boolean("SKIP_TLS_VERIFY", false)?,
            k8s_service_protocol: env.get_or("KUBERNETES_SERVICE_PROTOCOL", "https"),
            k8s_service_host: env.get_or("KUBERNETES_SERVICE_HOST", ""),
            k8s_service_port: env.get_or("KUBERNETES_SERVICE_PORT", ""),
            exclude_namespaces: env.get_or("EXCLUDE_NAMESPACES", ""),
            pod_namespace: env.get_or("POD_NAMESPACE", ""),
            ambient_enabled: match env.lookup("AMBIENT_ENABLED") {
                Some(v) => parse_bool("AMBIENT_ENABLED", &v)?,
                None => false,
            },
            ambient_enablement_selector: env.get_or("AMBIENT_ENABLEMENT_SELECTOR", ""),
            ambient_detection_retry: boolean("ENABLE_AMBIENT_DETECTION_RETRY", false)?,
            native_nftables: match env.lookup("NATIVE_NFTABLES") {
                Some(v) => parse_bool("NATIVE_NFTABLES", &v)?,
                None => false,
            },
            plugin_log_level: string("PLUGIN_LOG_LEVEL", "info"),
            health_addr: env.get_or("CNI_INSTALL_HEALTH_ADDR", "0.0.0.0:8000"),
            root,
        })
    }

    /// `<run dir>/istio-cni-kubeconfig`.
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.cni_agent_run_dir.join("istio-cni-kubeconfig")
    }

    /// The host bin dir the plugin is installed into.
    pub fn host_bin_dir(&self) -> PathBuf {
        self.root.path("/host/opt/cni/bin")
    }

    /// Mode of a config file we create: 0600, 0640 with group read.
    pub fn new_conf_mode(&self) -> u32 {
        if self.cni_conf_group_read {
            0o640
        } else {
            0o600
        }
    }

    /// How long SIGTERM cleanup and the main loop wait at most between checks.
    pub fn tick(&self) -> Duration {
        Duration::from_millis(200)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FixedEnv;

    fn load(args: &[&str], env: &[(&'static str, &'static str)]) -> Result<Settings> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Settings::load(&args, &FixedEnv(env))
    }

    #[test]
    fn defaults_flags_and_env() {
        let s = load(&[], &[]).unwrap();
        assert_eq!(s.mounted_cni_net_dir, PathBuf::from("/host/etc/cni/net.d"));
        assert!(s.chained_cni_plugin);
        assert_eq!(s.kubeconfig_mode, 0o600);
        assert_eq!(s.cni_agent_run_dir, PathBuf::from("/var/run/istio-cni"));
        let s = load(
            &[
                "--cni-conf-name=10-x.conflist",
                "--chained-cni-plugin",
                "false",
            ],
            &[
                ("CNI_CONF_NAME", "20-y.conflist"),
                ("KUBECONFIG_MODE", "0640"),
            ],
        )
        .unwrap();
        assert_eq!(s.cni_conf_name, "10-x.conflist", "the flag wins");
        assert!(!s.chained_cni_plugin);
        assert_eq!(s.kubeconfig_mode, 0o640);
        assert!(load(&[], &[("CHAINED_CNI_PLUGIN", "yes")]).is_err());
        assert!(load(&["oops"], &[]).is_err());
        let s = load(&[], &[("CNI_INSTALL_ROOT", "/tmp/r")]).unwrap();
        assert_eq!(
            s.mounted_cni_net_dir,
            PathBuf::from("/tmp/r/host/etc/cni/net.d")
        );
    }
}
