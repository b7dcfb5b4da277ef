//! client-go's credential plugins (`users[].user.exec`, `client.authentication.k8s.io/v1` and
//! `v1beta1`): the kubeconfigs of EKS, GKE and AKS run a command (`aws eks get-token`,
//! `gke-gcloud-auth-plugin`, `kubelogin`) that prints an `ExecCredential` with a bearer token
//! or a client certificate. As client-go does: the command runs before the first request with
//! the kubeconfig's args and env added to ours and `KUBERNETES_EXEC_INFO` describing the
//! request; its answer is kept until its `expirationTimestamp`, and a 401 makes the next
//! request run it again; a certificate replaces the kubeconfig's TLS identity and closes the
//! connections made with the old one. Errors in client-go's words.

use std::io::IsTerminal;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use base64::Engine;
use libcni::json::go_quote;
use serde_json::Value;

use crate::tls;

pub const API_V1: &str = "client.authentication.k8s.io/v1";
pub const API_V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

const INSTALL_HINT_HELP: &str = "\n\nIt looks like you are trying to use a client-go credential plugin that is not installed.\n\nTo learn more about this feature, consult the documentation available at:\n      https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins";

/// A kubeconfig user's `exec` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecConfig {
    pub api_version: String,
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub install_hint: String,
    pub provide_cluster_info: bool,
    /// `Never`, `IfAvailable` or `Always` (v1beta1 defaults to `IfAvailable`).
    pub interactive_mode: String,
}

impl ExecConfig {
    /// The entry as a kubeconfig spells it.
    pub fn from_value(v: &Value) -> ExecConfig {
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let api_version = text("apiVersion");
        let mut interactive_mode = text("interactiveMode");
        if interactive_mode.is_empty() && api_version == API_V1BETA1 {
            interactive_mode = "IfAvailable".into();
        }
        ExecConfig {
            command: text("command"),
            args: v
                .get("args")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect(),
            env: v
                .get("env")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|e| {
                    let f = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    (f("name"), f("value"))
                })
                .collect(),
            install_hint: text("installHint"),
            // Our YAML reader yields strings; a JSON kubeconfig has a real boolean.
            provide_cluster_info: crate::kubeconfig::truthy(v.get("provideClusterInfo")),
            api_version,
            interactive_mode,
        }
    }

    /// clientcmd's validation of the entry (`invalid configuration: …` is added by the
    /// caller).
    pub fn validate(&self, user: &str) -> Vec<String> {
        let mut errs = Vec::new();
        let must = |what: &str| {
            format!("{what} must be specified for {user} to use exec authentication plugin")
        };
        if self.command.is_empty() {
            errs.push(must("command"));
        }
        if self.api_version.is_empty() {
            errs.push(must("apiVersion"));
        }
        if self.env.iter().any(|(name, _)| name.is_empty()) {
            errs.push(must("env variable name"));
        }
        match self.interactive_mode.as_str() {
            "" => errs.push(must("interactiveMode")),
            "Never" | "IfAvailable" | "Always" => {}
            other => errs.push(format!(
                "invalid interactiveMode for {user}: {}",
                go_quote(other)
            )),
        }
        errs
    }
}

/// What the plugin answered.
pub struct Credentials {
    pub token: String,
    /// The TLS configuration with the plugin's client certificate, when it gave one.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    expiry: Option<SystemTime>,
}

/// One plugin and its cached answer.
pub struct ExecAuth {
    config: ExecConfig,
    /// The cluster, for `spec.cluster` of `KUBERNETES_EXEC_INFO` (with `provideClusterInfo`).
    server: String,
    /// The cluster's trust settings: in `spec.cluster`, and combined with a returned
    /// certificate.
    tls_base: tls::Settings,
    cached: Mutex<Option<Arc<Credentials>>>,
}

impl ExecAuth {
    /// client-go's `GetAuthenticator`: only the two current API versions are accepted.
    pub fn new(config: &ExecConfig, server: &str, tls_base: tls::Settings) -> Result<Self, String> {
        if config.api_version != API_V1 && config.api_version != API_V1BETA1 {
            return Err(format!(
                "exec plugin: invalid apiVersion {}",
                go_quote(&config.api_version)
            ));
        }
        Ok(ExecAuth {
            config: config.clone(),
            server: server.to_string(),
            tls_base,
            cached: Mutex::new(None),
        })
    }

    /// The current credentials: the cached answer until it expires, else a new run.
    pub fn credentials(&self) -> Result<Arc<Credentials>, String> {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cached.as_ref() {
            if c.expiry.is_none_or(|e| SystemTime::now() <= e) {
                return Ok(c.clone());
            }
        }
        let fresh = Arc::new(self.run()?);
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    /// A 401 answered a request made with `used`: unless another request rotated them
    /// already, the next request runs the plugin again.
    pub fn unauthorized(&self, used: &Arc<Credentials>) {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if cached.as_ref().is_some_and(|c| Arc::ptr_eq(c, used)) {
            *cached = None;
        }
    }

    fn interactive(&self) -> Result<bool, String> {
        let tty = std::io::stdin().is_terminal();
        match self.config.interactive_mode.as_str() {
            "Never" => Ok(false),
            "IfAvailable" => Ok(tty),
            "Always" if tty => Ok(true),
            "Always" => Err("standard input is not a terminal".into()),
            other => Err(format!("unknown interactiveMode: {}", go_quote(other))),
        }
    }

    /// `spec.cluster` (client-go's `ConfigToExecCluster`), as JSON in Go's field order.
    fn cluster_info(&self) -> String {
        let mut c = format!("{{\"server\":{}", go_quote(&self.server));
        if self.tls_base.insecure {
            c.push_str(",\"insecure-skip-tls-verify\":true");
        }
        if let Some(ca) = &self.tls_base.ca {
            c.push_str(&format!(
                ",\"certificate-authority-data\":\"{}\"",
                base64::engine::general_purpose::STANDARD.encode(ca)
            ));
        }
        c.push('}');
        c
    }

    /// `refreshCredsLocked`.
    fn run(&self) -> Result<Credentials, String> {
        let interactive = self
            .interactive()
            .map_err(|e| format!("exec plugin cannot support interactive mode: {e}"))?;
        // Go's field order: kind, apiVersion, spec{cluster, interactive}.
        let cluster = if self.config.provide_cluster_info {
            format!("\"cluster\":{},", self.cluster_info())
        } else {
            String::new()
        };
        let info = format!(
            "{{\"kind\":\"ExecCredential\",\"apiVersion\":{},\"spec\":{{{cluster}\"interactive\":{interactive}}}}}",
            go_quote(&self.config.api_version)
        );
        let out = Command::new(&self.config.command)
            .args(&self.config.args)
            .envs(self.config.env.iter().map(|(k, v)| (k, v)))
            .env("KUBERNETES_EXEC_INFO", info)
            .stdin(if interactive {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::inherit())
            .output();
        let out = match out {
            Ok(o) => o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut msg = format!("exec: executable {} not found", self.config.command);
                msg.push_str(INSTALL_HINT_HELP);
                if !self.config.install_hint.is_empty() {
                    msg.push_str("\n\n");
                    msg.push_str(&self.config.install_hint);
                }
                return Err(msg);
            }
            Err(e) => return Err(format!("exec: {}", libcni::error::io_error_text(&e))),
        };
        if !out.status.success() {
            return Err(format!(
                "exec: executable {} failed with exit code {}",
                self.config.command,
                out.status.code().unwrap_or(-1)
            ));
        }
        self.parse(&out.stdout)
    }

    /// The `ExecCredential` on the plugin's stdout.
    fn parse(&self, stdout: &[u8]) -> Result<Credentials, String> {
        let cred: Value =
            serde_json::from_slice(stdout).map_err(|e| format!("decoding stdout: {e}"))?;
        // A missing kind is the expected one, as the decoder into an ExecCredential fills it.
        let version = cred.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = cred
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("ExecCredential");
        if kind != "ExecCredential" {
            return Err(format!(
                "decoding stdout: no kind {} is registered for version {}",
                go_quote(kind),
                go_quote(version)
            ));
        }
        if version != self.config.api_version {
            return Err(format!(
                "exec plugin is configured to use API version {}, plugin returned version {version}",
                self.config.api_version
            ));
        }
        let Some(status) = cred.get("status").filter(|s| s.is_object()) else {
            return Err("exec plugin didn't return a status field".into());
        };
        let text = |k: &str| {
            status
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (token, cert, key) = (
            text("token"),
            text("clientCertificateData"),
            text("clientKeyData"),
        );
        if token.is_empty() && cert.is_empty() && key.is_empty() {
            return Err("exec plugin didn't return a token or cert/key pair".into());
        }
        if cert.is_empty() != key.is_empty() {
            return Err("exec plugin returned only certificate or key, not both".into());
        }
        let expiry = match status.get("expirationTimestamp").and_then(Value::as_str) {
            None => None,
            Some(t) => Some(libcni::time::parse_rfc3339(t).ok_or_else(|| {
                format!(
                    "decoding stdout: parsing time {} as \"2006-01-02T15:04:05Z07:00\"",
                    go_quote(t)
                )
            })?),
        };
        let tls = if cert.is_empty() {
            None
        } else {
            let settings = tls::Settings {
                ca: self.tls_base.ca.clone(),
                insecure: self.tls_base.insecure,
                client: Some((cert.into_bytes(), key.into_bytes())),
            };
            Some(
                tls::client_config(&settings)
                    .map_err(|e| format!("failed parsing client key/certificate: {e}"))?,
            )
        };
        Ok(Credentials { token, tls, expiry })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A v1 plugin: `body` as a script that `/bin/sh` runs. (Executing a file this process
    /// has just written races the other test threads' forks, which briefly hold it open for
    /// writing: ETXTBSY.)
    fn plugin(dir: &std::path::Path, body: &str) -> ExecConfig {
        let p = dir.join("plugin.sh");
        std::fs::write(&p, format!("{body}\n")).unwrap();
        ExecConfig {
            args: vec![p.display().to_string()],
            ..v1("/bin/sh".into())
        }
    }

    fn auth(config: ExecConfig) -> ExecAuth {
        ExecAuth::new(
            &config,
            "https://127.0.0.1:6443",
            tls::Settings {
                ca: Some(b"CA".to_vec()),
                insecure: false,
                client: None,
            },
        )
        .unwrap()
    }

    fn v1(command: String) -> ExecConfig {
        ExecConfig {
            api_version: API_V1.into(),
            command,
            interactive_mode: "Never".into(),
            ..ExecConfig::default()
        }
    }

    #[test]
    fn the_plugin_gets_its_args_env_and_exec_info_and_its_token_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("runs");
        let mut config = plugin(
            dir.path(),
            &format!(
                "echo \"$1 $GREETING $KUBERNETES_EXEC_INFO\" >> {}\n\
                 echo '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"tok\"}}}}'",
                log.display()
            ),
        );
        config.args.push("get-token".into());
        config.env = vec![("GREETING".into(), "hi".into())];
        config.provide_cluster_info = true;
        let a = auth(config);
        let c = a.credentials().unwrap();
        assert_eq!(c.token, "tok");
        assert!(c.tls.is_none());
        // Cached: one run for two requests; a 401 makes the next one run it again.
        let again = a.credentials().unwrap();
        assert!(Arc::ptr_eq(&c, &again));
        a.unauthorized(&c);
        a.credentials().unwrap();
        let runs = std::fs::read_to_string(&log).unwrap();
        assert_eq!(runs.lines().count(), 2, "{runs}");
        assert_eq!(
            runs.lines().next().unwrap(),
            r#"get-token hi {"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"cluster":{"server":"https://127.0.0.1:6443","certificate-authority-data":"Q0E="},"interactive":false}}"#
        );
    }

    #[test]
    fn an_expired_answer_runs_the_plugin_again() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("runs");
        let config = plugin(
            dir.path(),
            &format!(
                "echo run >> {}\necho '{{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"status\":{{\"token\":\"t\",\"expirationTimestamp\":\"2001-01-01T00:00:00Z\"}}}}'",
                log.display()
            ),
        );
        let a = auth(ExecConfig {
            api_version: API_V1BETA1.into(),
            interactive_mode: "IfAvailable".into(),
            ..config
        });
        a.credentials().unwrap();
        a.credentials().unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 2);
    }

    #[test]
    fn client_gos_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = |body: &str| auth(plugin(dir.path(), body)).credentials().err().unwrap();
        assert_eq!(
            err("exit 3"),
            "exec: executable /bin/sh failed with exit code 3"
        );
        assert_eq!(
            err(r#"echo '{"apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"t"}}'"#),
            "exec plugin is configured to use API version client.authentication.k8s.io/v1, plugin returned version client.authentication.k8s.io/v1beta1"
        );
        assert_eq!(
            err(r#"echo '{"apiVersion":"client.authentication.k8s.io/v1"}'"#),
            "exec plugin didn't return a status field"
        );
        assert_eq!(
            err(r#"echo '{"apiVersion":"client.authentication.k8s.io/v1","status":{}}'"#),
            "exec plugin didn't return a token or cert/key pair"
        );
        assert_eq!(
            err(
                r#"echo '{"apiVersion":"client.authentication.k8s.io/v1","status":{"clientKeyData":"k"}}'"#
            ),
            "exec plugin returned only certificate or key, not both"
        );
        assert!(err("echo nope").starts_with("decoding stdout: "));
        let mut missing = v1("/nonexistent/aws".into());
        missing.install_hint = "Install the AWS CLI.".into();
        let msg = auth(missing).credentials().err().unwrap();
        assert!(msg.starts_with("exec: executable /nonexistent/aws not found\n\nIt looks like you are trying to use a client-go credential plugin that is not installed."), "{msg}");
        assert!(
            msg.ends_with("#client-go-credential-plugins\n\nInstall the AWS CLI."),
            "{msg}"
        );
        let mut always = v1("true".into());
        always.interactive_mode = "Always".into();
        assert_eq!(
            auth(always).credentials().err().unwrap(),
            "exec plugin cannot support interactive mode: standard input is not a terminal"
        );
        let old = ExecConfig {
            api_version: "client.authentication.k8s.io/v1alpha1".into(),
            ..v1("true".into())
        };
        assert_eq!(
            ExecAuth::new(
                &old,
                "",
                tls::Settings {
                    ca: None,
                    insecure: true,
                    client: None
                }
            )
            .err()
            .unwrap(),
            "exec plugin: invalid apiVersion \"client.authentication.k8s.io/v1alpha1\""
        );
    }

    #[test]
    fn validation_follows_clientcmd() {
        let e = ExecConfig::from_value(&json!({"apiVersion": API_V1}));
        assert_eq!(
            e.validate("u"),
            [
                "command must be specified for u to use exec authentication plugin",
                "interactiveMode must be specified for u to use exec authentication plugin"
            ]
        );
        // v1beta1 defaults to IfAvailable.
        let e = ExecConfig::from_value(&json!({"apiVersion": API_V1BETA1, "command": "x",
            "env": [{"name": "A", "value": "1"}], "args": ["a", "b"], "provideClusterInfo": "true"}));
        assert!(e.validate("u").is_empty());
        assert_eq!(e.interactive_mode, "IfAvailable");
        assert_eq!(e.env, [("A".to_string(), "1".to_string())]);
        assert_eq!(e.args, ["a", "b"]);
        assert!(e.provide_cluster_info);
    }
}
