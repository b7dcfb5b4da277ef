//! What the API client takes from kubeconfig files: the current context's cluster (server,
//! CA, `insecure-skip-tls-verify`) and user (client certificate and key, token or token file),
//! with client-go's rules: `*-data` (base64) wins over the file, relative file paths are
//! relative to the kubeconfig that names them (`ResolveLocalPaths`), several files (the
//! `KUBECONFIG` list) merge with the first file winning for each named entry and for
//! `current-context`, and a `tokenFile` wins over `token` and is read again whenever it
//! changes (calico-node rotates the CNI's token); without either (or a client certificate) an
//! `exec` credential plugin supplies them (`exec.rs`).

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::exec::ExecConfig;

/// The most any file a kubeconfig names (or the kubeconfig itself) may hold: a config that
/// names `/dev/zero` fails instead of eating memory. Real ones are a few KiB.
pub const FILE_LIMIT: u64 = 4 << 20;

/// PEM bytes given inline (`*-data`) or as a file to read when the client is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pem {
    Data(Vec<u8>),
    File(PathBuf),
}

/// Where the bearer token comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Token {
    #[default]
    None,
    Static(String),
    /// Read before each request when the file changed (client-go's cached file token source).
    File(PathBuf),
    /// A credential plugin's (which may give a client certificate instead).
    Exec(crate::exec::ExecConfig),
}

/// A resolved client configuration: one cluster and one user.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KubeConfig {
    pub server: String,
    /// Cluster and user entry names, for client-go's error texts.
    pub cluster_name: String,
    pub user_name: String,
    pub ca: Option<Pem>,
    pub insecure: bool,
    pub client_cert: Option<Pem>,
    pub client_key: Option<Pem>,
    pub token: Token,
    /// A legacy `auth-provider` (gcp, azure, oidc, …): client-go has none built in any more.
    pub auth_provider: Option<String>,
}

impl KubeConfig {
    /// client-go's `DefaultServerURL` input: TLS settings make a bare `host:port` https.
    pub fn has_tls_settings(&self) -> bool {
        self.ca.is_some() || self.client_cert.is_some() || self.insecure
    }
}

fn load_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Config(format!(
        "error loading config file {:?}: {e}",
        path.display().to_string()
    ))
}

/// Reads one kubeconfig file into a document whose relative paths are made absolute.
pub fn read_document(path: &Path) -> Result<Value, Error> {
    let bytes = libcni::fs::read_bounded(path, FILE_LIMIT).map_err(|e| load_error(path, e))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut doc = crate::yaml::parse(&text).map_err(|e| load_error(path, e))?;
    // client-go makes the path absolute first; a relative kubeconfig path keeps its files
    // relative to the working directory through the same join.
    let dir = path.parent().unwrap_or(Path::new(""));
    resolve_local_paths(&mut doc, dir);
    Ok(doc)
}

/// A kubeconfig boolean: our YAML reader yields strings, a JSON kubeconfig has a real boolean.
pub fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// Makes the file paths of every cluster and user entry absolute against `dir`.
fn resolve_local_paths(doc: &mut Value, dir: &Path) {
    let fix = |entry: &mut Value, keys: &[&str]| {
        for key in keys {
            if let Some(Value::String(p)) = entry.get_mut(*key) {
                if !p.is_empty() && !Path::new(p.as_str()).is_absolute() {
                    *p = dir.join(&*p).display().to_string();
                }
            }
        }
    };
    for (list, inner, keys) in [
        ("clusters", "cluster", &["certificate-authority"][..]),
        (
            "users",
            "user",
            &["client-certificate", "client-key", "tokenFile"][..],
        ),
    ] {
        if let Some(Value::Array(items)) = doc.get_mut(list) {
            for item in items {
                if let Some(e) = item.get_mut(inner) {
                    fix(e, keys);
                }
            }
        }
    }
}

/// client-go's merge of a `KUBECONFIG` list: the first file that names a cluster, user or
/// context (or sets `current-context`) wins.
pub fn merge(docs: Vec<Value>) -> Value {
    let mut out = Map::new();
    let mut lists: Vec<(&str, Vec<Value>)> = vec![
        ("clusters", vec![]),
        ("users", vec![]),
        ("contexts", vec![]),
    ];
    for doc in docs {
        if !out.contains_key("current-context") {
            if let Some(Value::String(c)) = doc.get("current-context") {
                if !c.is_empty() {
                    out.insert("current-context".into(), Value::String(c.clone()));
                }
            }
        }
        for (name, merged) in &mut lists {
            for item in doc
                .get(*name)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let n = item.get("name");
                if !merged.iter().any(|m| m.get("name") == n) {
                    merged.push(item.clone());
                }
            }
        }
    }
    for (name, merged) in lists {
        out.insert(name.into(), Value::Array(merged));
    }
    Value::Object(out)
}

/// The context to use: `current_context` when given, else the document's current context.
/// Its cluster and user (the first of each when the context names none or is missing).
pub fn from_value(kc: &Value, current_context: &str) -> Result<KubeConfig, String> {
    let current = if current_context.is_empty() {
        kc.get("current-context")
            .and_then(Value::as_str)
            .unwrap_or_default()
    } else {
        current_context
    };
    let named = |list: &str, name: &str| -> Option<Value> {
        kc.get(list)?
            .as_array()?
            .iter()
            .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
            .cloned()
    };
    let ctx = named("contexts", current).and_then(|c| c.get("context").cloned());
    if !current_context.is_empty() && ctx.is_none() {
        return Err(format!(
            "context was not found for specified context: {current_context}"
        ));
    }
    let first = |list: &str| -> Option<Value> { kc.get(list)?.as_array()?.first().cloned() };
    let pick = |key: &str, list: &str| {
        ctx.as_ref()
            .and_then(|c| c.get(key)?.as_str().map(str::to_string))
            .and_then(|n| named(list, &n))
            .or_else(|| first(list))
            .unwrap_or(Value::Null)
    };
    let cluster = pick("cluster", "clusters");
    let user = pick("user", "users");
    let name = |v: &Value| {
        v.get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let c = cluster.get("cluster").cloned().unwrap_or(Value::Null);
    let u = user.get("user").cloned().unwrap_or(Value::Null);
    let text = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let path = |p: String| -> Option<PathBuf> { (!p.is_empty()).then(|| PathBuf::from(p)) };
    let pem = |v: &Value, data_key: &str, file_key: &str| -> Result<Option<Pem>, String> {
        let data = text(v, data_key);
        if !data.is_empty() {
            // YAML folds nothing here, but a base64 blob may carry line breaks.
            let compact: String = data.split_whitespace().collect();
            return base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map(|b| Some(Pem::Data(b)))
                .map_err(|e| format!("illegal base64 data in {data_key}: {e}"));
        }
        Ok(path(text(v, file_key)).map(Pem::File))
    };
    let client_cert = pem(&u, "client-certificate-data", "client-certificate")?;
    let client_key = pem(&u, "client-key-data", "client-key")?;
    let exec = u
        .get("exec")
        .filter(|e| e.is_object())
        .map(ExecConfig::from_value);
    let auth_provider = u
        .get("auth-provider")
        .filter(|a| a.is_object())
        .map(|a| text(a, "name"));
    let user_name = name(&user);
    if let Some(e) = &exec {
        // clientcmd's validation, every problem at once.
        let mut errs = Vec::new();
        if auth_provider.is_some() {
            errs.push(format!(
                "authProvider cannot be provided in combination with an exec plugin for {user_name}"
            ));
        }
        errs.extend(e.validate(&user_name));
        match errs.len() {
            0 => {}
            1 => return Err(errs.remove(0)),
            _ => return Err(format!("[{}]", errs.join(", "))),
        }
    }
    // A token or a client certificate makes client-go skip the plugin.
    let token = match (path(text(&u, "tokenFile")), text(&u, "token"), exec) {
        (Some(file), _, _) => Token::File(file),
        (None, t, _) if !t.is_empty() => Token::Static(t),
        (None, _, Some(e)) if client_cert.is_none() => Token::Exec(e),
        _ => Token::None,
    };
    Ok(KubeConfig {
        server: text(&c, "server"),
        cluster_name: name(&cluster),
        user_name,
        ca: pem(&c, "certificate-authority-data", "certificate-authority")?,
        insecure: truthy(c.get("insecure-skip-tls-verify")),
        client_cert,
        client_key,
        token,
        auth_provider,
    })
}

/// One explicit kubeconfig file (Calico's `kubernetes.kubeconfig`).
pub fn load(path: &str) -> Result<KubeConfig, Error> {
    let p = Path::new(path);
    let doc = read_document(p)?;
    from_value(&doc, "").map_err(|e| load_error(p, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn current_context_and_relative_paths() {
        let mut kc = json!({
            "clusters": [
                { "name": "other", "cluster": { "server": "https://other" } },
                { "name": "c", "cluster": { "server": "https://10.96.0.1:443",
                    "certificate-authority": "pki/ca.pem", "insecure-skip-tls-verify": "true" } }],
            "users": [
                { "name": "u", "user": { "client-certificate": "/abs/cert.pem",
                    "client-key-data": "a2V5", "token": "t" } }],
            "contexts": [{ "name": "x", "context": { "cluster": "c", "user": "u" } }],
            "current-context": "x" });
        resolve_local_paths(&mut kc, Path::new("/etc/cni/net.d"));
        let k = from_value(&kc, "").unwrap();
        assert_eq!(k.server, "https://10.96.0.1:443");
        assert_eq!((k.cluster_name.as_str(), k.user_name.as_str()), ("c", "u"));
        assert_eq!(k.ca, Some(Pem::File("/etc/cni/net.d/pki/ca.pem".into())));
        assert!(k.insecure);
        assert_eq!(k.client_cert, Some(Pem::File("/abs/cert.pem".into())));
        assert_eq!(k.client_key, Some(Pem::Data(b"key".to_vec())));
        assert_eq!(k.token, Token::Static("t".into()));
        assert!(from_value(&kc, "nope")
            .unwrap_err()
            .contains("context was not found"));
    }

    #[test]
    fn data_wins_over_file_and_bad_base64_is_an_error() {
        let kc = |ca: Value| json!({ "clusters": [{ "name": "c", "cluster": ca }], "users": [{ "name": "u" }] });
        let k = from_value(
            &kc(json!({ "certificate-authority": "ca.pem",
                        "certificate-authority-data": "Y2E=" })),
            "",
        )
        .unwrap();
        assert_eq!(k.ca, Some(Pem::Data(b"ca".to_vec())));
        assert!(!k.insecure);
        let e = from_value(&kc(json!({ "certificate-authority-data": "!!" })), "").unwrap_err();
        assert!(
            e.starts_with("illegal base64 data in certificate-authority-data"),
            "{e}"
        );
    }

    #[test]
    fn token_file_wins_and_lists_merge_first_wins() {
        let a = json!({ "current-context": "a",
            "contexts": [{ "name": "a", "context": { "cluster": "c", "user": "u" } }],
            "clusters": [{ "name": "c", "cluster": { "server": "https://first" } }],
            "users": [{ "name": "u", "user": { "token": "t", "tokenFile": "/run/tok" } }] });
        let b = json!({ "current-context": "b",
            "clusters": [{ "name": "c", "cluster": { "server": "https://second" } },
                         { "name": "d", "cluster": { "server": "https://d" } }] });
        let m = merge(vec![a, b]);
        let k = from_value(&m, "").unwrap();
        assert_eq!(k.server, "https://first");
        assert_eq!(k.token, Token::File("/run/tok".into()));
        assert_eq!(m["clusters"].as_array().unwrap().len(), 2);
    }
}
