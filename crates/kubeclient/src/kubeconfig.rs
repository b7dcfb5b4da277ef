//! What the API client takes from a kubeconfig: the current context's cluster (server, CA,
//! `insecure-skip-tls-verify`) and user (client certificate and key, token), with client-go's
//! rules: `*-data` (base64) wins over the file, and relative file paths are relative to the
//! kubeconfig's own directory (client-go's `ResolveLocalPaths`).

use std::path::{Path, PathBuf};

use base64::Engine;
use libcni::{code, CniError};
use serde_json::Value;

/// PEM bytes given inline (`*-data`) or as a file to read when the client is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pem {
    Data(Vec<u8>),
    File(PathBuf),
}

#[derive(Debug, Default, Clone)]
pub struct KubeConfig {
    pub server: String,
    /// Cluster and user entry names, for client-go's error texts.
    pub cluster_name: String,
    pub user_name: String,
    pub ca: Option<Pem>,
    pub insecure: bool,
    pub client_cert: Option<Pem>,
    pub client_key: Option<Pem>,
    pub token: String,
}

fn err(msg: impl Into<String>) -> CniError {
    CniError::new(code::INTERNAL, msg)
}

pub fn load(path: &str) -> Result<KubeConfig, CniError> {
    let file = Path::new(path);
    let text = std::fs::read_to_string(file)
        .map_err(|e| err(libcni::error::path_error_text("open", file, &e)))?;
    let kc = crate::yaml::parse(&text)
        .map_err(|e| err(format!("error loading config file {path:?}: {e}")))?;
    let bad = |e: String| err(format!("error loading config file {path:?}: {e}"));
    // client-go makes the path absolute first; a relative kubeconfig path keeps its files
    // relative to the working directory through the same join.
    let dir = file.parent().unwrap_or(Path::new(""));
    from_value(&kc, dir).map_err(bad)
}

/// The current context's cluster and user (the first of each when the context names none).
pub fn from_value(kc: &Value, dir: &Path) -> Result<KubeConfig, String> {
    let current = kc
        .get("current-context")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let named = |list: &str, name: &str| -> Option<Value> {
        kc.get(list)?
            .as_array()?
            .iter()
            .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
            .cloned()
    };
    let ctx = named("contexts", current).and_then(|c| c.get("context").cloned());
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
    let resolve = |p: String| -> Option<PathBuf> {
        (!p.is_empty()).then(|| {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                dir.join(p)
            }
        })
    };
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
        Ok(resolve(text(v, file_key)).map(Pem::File))
    };
    let mut token = text(&u, "token");
    if token.is_empty() {
        if let Some(file) = resolve(text(&u, "tokenFile")) {
            token = std::fs::read_to_string(&file)
                .map_err(|e| libcni::error::path_error_text("open", &file, &e))?
                .trim()
                .to_string();
        }
    }
    Ok(KubeConfig {
        server: text(&c, "server"),
        cluster_name: name(&cluster),
        user_name: name(&user),
        ca: pem(&c, "certificate-authority-data", "certificate-authority")?,
        // Our YAML reader yields strings; a JSON kubeconfig has a real boolean.
        insecure: match c.get("insecure-skip-tls-verify") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        },
        client_cert: pem(&u, "client-certificate-data", "client-certificate")?,
        client_key: pem(&u, "client-key-data", "client-key")?,
        token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn current_context_and_relative_paths() {
        let kc = json!({
            "clusters": [
                { "name": "other", "cluster": { "server": "https://other" } },
                { "name": "c", "cluster": { "server": "https://10.96.0.1:443",
                    "certificate-authority": "pki/ca.pem", "insecure-skip-tls-verify": "true" } }],
            "users": [
                { "name": "u", "user": { "client-certificate": "/abs/cert.pem",
                    "client-key-data": "a2V5", "token": "t" } }],
            "contexts": [{ "name": "x", "context": { "cluster": "c", "user": "u" } }],
            "current-context": "x" });
        let k = from_value(&kc, Path::new("/etc/cni/net.d")).unwrap();
        assert_eq!(k.server, "https://10.96.0.1:443");
        assert_eq!((k.cluster_name.as_str(), k.user_name.as_str()), ("c", "u"));
        assert_eq!(k.ca, Some(Pem::File("/etc/cni/net.d/pki/ca.pem".into())));
        assert!(k.insecure);
        assert_eq!(k.client_cert, Some(Pem::File("/abs/cert.pem".into())));
        assert_eq!(k.client_key, Some(Pem::Data(b"key".to_vec())));
        assert_eq!(k.token, "t");
    }

    #[test]
    fn data_wins_over_file_and_bad_base64_is_an_error() {
        let kc = |ca: Value| json!({ "clusters": [{ "name": "c", "cluster": ca }], "users": [{ "name": "u" }] });
        let k = from_value(
            &kc(json!({ "certificate-authority": "ca.pem",
                        "certificate-authority-data": "Y2E=" })),
            Path::new("/d"),
        )
        .unwrap();
        assert_eq!(k.ca, Some(Pem::Data(b"ca".to_vec())));
        assert!(!k.insecure);
        let e = from_value(
            &kc(json!({ "certificate-authority-data": "!!" })),
            Path::new("/d"),
        )
        .unwrap_err();
        assert!(
            e.starts_with("illegal base64 data in certificate-authority-data"),
            "{e}"
        );
    }
}
