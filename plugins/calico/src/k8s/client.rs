//! A minimal Kubernetes API client: the server and bearer token from `kubernetes.kubeconfig`
//! (current context) with Calico's NetConf overrides, and JSON GETs over HTTP/1.1.
//!
//! Why not kube-rs/hyper: the plugin makes two or three GETs per ADD; a full async client with
//! TLS would multiply the binary (and so its RSS and start-up cost). Plain `http://` servers only
//! for now (an API server proxy on the node, or tests); `https://` is refused with a clear
//! error until a TLS client is added.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use libcni::{code, CniError};
use serde_json::Value;

use crate::config::NetConf;

pub struct Client {
    host: String,
    port: u16,
    /// Path prefix of the server URL (usually empty).
    prefix: String,
    token: Option<String>,
}

fn err(msg: impl Into<String>) -> CniError {
    CniError::new(code::INTERNAL, msg)
}

/// An API error: Kubernetes' `Status.message` (or the HTTP status when there is none).
#[derive(Debug)]
pub struct ApiError {
    pub message: String,
}

impl Client {
    /// Calico's `NewK8sClient`: kubeconfig, then `policy.*` overrides (`k8s_api_root` cut at
    /// `/api/`), then `kubernetes.k8s_api_root`.
    pub fn from_conf(conf: &NetConf) -> Result<Client, CniError> {
        let mut server = String::new();
        let mut token = String::new();
        if !conf.kubernetes.kubeconfig.is_empty() {
            let text = std::fs::read_to_string(&conf.kubernetes.kubeconfig).map_err(|e| {
                err(libcni::error::path_error_text(
                    "open",
                    std::path::Path::new(&conf.kubernetes.kubeconfig),
                    &e,
                ))
            })?;
            let kc = super::yaml::parse(&text).map_err(|e| {
                err(format!(
                    "error loading config file {:?}: {e}",
                    conf.kubernetes.kubeconfig
                ))
            })?;
            (server, token) = from_kubeconfig(&kc);
        }
        let api_root = conf
            .policy
            .k8s_api_root
            .split("/api/")
            .next()
            .unwrap_or_default();
        if !api_root.is_empty() {
            server = api_root.to_string();
        }
        if !conf.policy.k8s_auth_token.is_empty() {
            token = conf.policy.k8s_auth_token.clone();
        }
        if !conf.kubernetes.k8s_api_root.is_empty() {
            server = conf.kubernetes.k8s_api_root.clone();
        }
        if server.is_empty() {
            return Err(err(
                "invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER environment variable",
            ));
        }
        let rest = server.strip_prefix("http://").ok_or_else(|| {
            CniError::new(
                code::UNSUPPORTED_FIELD,
                format!("Kubernetes API server {server:?}: only http:// servers are supported by this build"),
            )
        })?;
        let (hostport, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() => (
                h.trim_matches(['[', ']']).to_string(),
                p.parse()
                    .map_err(|_| err(format!("invalid Kubernetes API server {server:?}")))?,
            ),
            _ => (hostport.to_string(), 80),
        };
        Ok(Client {
            host,
            port,
            prefix: prefix.to_string(),
            token: (!token.is_empty()).then_some(token),
        })
    }

    /// GET `path` (e.g. `/api/v1/namespaces/ns`) → the decoded JSON, or the API's error.
    pub fn get(&self, path: &str) -> Result<Result<Value, ApiError>, CniError> {
        let addr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| {
                err(format!(
                    "Get \"http://{}:{}{path}\": {e}",
                    self.host, self.port
                ))
            })?
            .next()
            .ok_or_else(|| err(format!("no address for {}", self.host)))?;
        let url = format!("http://{}:{}{}{path}", self.host, self.port, self.prefix);
        let fail = |e: std::io::Error| err(format!("Get \"{url}\": {e}"));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(fail)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(fail)?;
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let req = format!(
            "GET {}{path} HTTP/1.1\r\nHost: {}:{}\r\nAccept: application/json\r\nUser-Agent: calico-cni\r\n{auth}Connection: close\r\n\r\n",
            self.prefix, self.host, self.port
        );
        s.write_all(req.as_bytes()).map_err(fail)?;
        let mut r = BufReader::new(s);
        let mut status_line = String::new();
        r.read_line(&mut status_line).map_err(fail)?;
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| err(format!("Get \"{url}\": malformed HTTP response")))?;
        let mut length = None;
        let mut chunked = false;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).map_err(fail)? == 0 || h == "\r\n" || h == "\n" {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse::<usize>().ok();
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        let body = if chunked {
            read_chunked(&mut r).map_err(fail)?
        } else if let Some(n) = length {
            let mut b = vec![0; n];
            r.read_exact(&mut b).map_err(fail)?;
            b
        } else {
            let mut b = Vec::new();
            r.read_to_end(&mut b).map_err(fail)?;
            b
        };
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(Ok(value));
        }
        let message = value
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("the server responded with status {status}"));
        Ok(Err(ApiError { message }))
    }

    /// GET that treats any API error as a CNI error with its message (client-go's text).
    pub fn get_object(&self, path: &str) -> Result<Value, CniError> {
        self.get(path)?.map_err(|e| err(e.message))
    }
}

fn read_chunked(r: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size)?;
        let n =
            usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        if n == 0 {
            return Ok(out);
        }
        let start = out.len();
        out.resize(start + n, 0);
        r.read_exact(&mut out[start..])?;
        let mut crlf = String::new();
        r.read_line(&mut crlf)?;
    }
}

/// (server, token) of the kubeconfig's current context.
fn from_kubeconfig(kc: &Value) -> (String, String) {
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
    let cluster_name = ctx
        .as_ref()
        .and_then(|c| c.get("cluster")?.as_str().map(str::to_string));
    let user_name = ctx
        .as_ref()
        .and_then(|c| c.get("user")?.as_str().map(str::to_string));
    let cluster = cluster_name
        .and_then(|n| named("clusters", &n))
        .or_else(|| first("clusters"));
    let user = user_name
        .and_then(|n| named("users", &n))
        .or_else(|| first("users"));
    let server = cluster
        .as_ref()
        .and_then(|c| c.pointer("/cluster/server")?.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut token = user
        .as_ref()
        .and_then(|u| u.pointer("/user/token")?.as_str().map(str::to_string))
        .unwrap_or_default();
    if token.is_empty() {
        if let Some(file) = user
            .as_ref()
            .and_then(|u| u.pointer("/user/tokenFile")?.as_str().map(str::to_string))
        {
            token = std::fs::read_to_string(file)
                .map(|t| t.trim().to_string())
                .unwrap_or_default();
        }
    }
    (server, token)
}
