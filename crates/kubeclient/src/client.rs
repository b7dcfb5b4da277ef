//! A minimal Kubernetes API client: the server, CA and credentials of `kubernetes.kubeconfig`
//! (current context) with Calico's NetConf overrides, and JSON GETs over HTTP/1.1, plain or
//! over TLS (k8s/tls.rs) with one code path for both streams.
//!
//! Why not kube-rs/hyper: the plugin makes two or three GETs per ADD; a full async client
//! would multiply the binary (and so its RSS and start-up cost). The TLS stack is the rustls
//! the datastore's etcd client already links, driven synchronously.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use libcni::{code, CniError};
use serde_json::Value;

use crate::kubeconfig::{KubeConfig, Pem};
use crate::tls;

/// Calico's NetConf `policy` object, as both the calico plugin and calico-ipam read it: its
/// `type` and the API overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct Policy {
    #[serde(rename = "type")]
    pub policy_type: String,
    pub k8s_api_root: String,
    pub k8s_auth_token: String,
    pub k8s_client_certificate: String,
    pub k8s_client_key: String,
    pub k8s_certificate_authority: String,
}

/// Where the API is and how to reach it: Calico's NetConf keys (`kubernetes.kubeconfig`,
/// `kubernetes.k8s_api_root` and the `policy.k8s_*` overrides), empty when unset.
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
}

pub struct Client {
    /// `http` or `https`.
    scheme: &'static str,
    /// `host[:port]` as the server URL has it: for URLs in errors and the Host header.
    authority: String,
    /// The host without IPv6 brackets: what is dialled and, over TLS, verified.
    host: String,
    port: u16,
    /// Path prefix of the server URL (usually empty).
    prefix: String,
    token: Option<String>,
    /// Set for `https` servers.
    tls: Option<Arc<rustls::ClientConfig>>,
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
    /// `/api/`, token, CA, client certificate and key), then `kubernetes.k8s_api_root`.
    pub fn new(s: &Settings) -> Result<Client, CniError> {
        let mut kc = if s.kubeconfig.is_empty() {
            KubeConfig::default()
        } else {
            crate::kubeconfig::load(&s.kubeconfig)?
        };
        let p = &s.policy;
        let api_root = p.k8s_api_root.split("/api/").next().unwrap_or_default();
        if !api_root.is_empty() {
            kc.server = api_root.to_string();
        }
        if !p.k8s_auth_token.is_empty() {
            kc.token = p.k8s_auth_token.clone();
        }
        // client-go: an overriding CA also replaces the kubeconfig's CA data and insecure flag.
        // Override paths are taken as given (relative to the working directory).
        if !p.k8s_certificate_authority.is_empty() {
            kc.ca = Some(Pem::File(p.k8s_certificate_authority.clone().into()));
            kc.insecure = false;
        }
        if !p.k8s_client_certificate.is_empty() {
            kc.client_cert = Some(Pem::File(p.k8s_client_certificate.clone().into()));
        }
        if !p.k8s_client_key.is_empty() {
            kc.client_key = Some(Pem::File(p.k8s_client_key.clone().into()));
        }
        if !s.k8s_api_root.is_empty() {
            kc.server = s.k8s_api_root.clone();
        }
        let server = kc.server.clone();
        if server.is_empty() {
            return Err(err(
                "invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER environment variable",
            ));
        }
        // client-go's DefaultServerURL: a server without a scheme is https when TLS settings
        // are present.
        let tls_wanted = kc.ca.is_some() || kc.client_cert.is_some() || kc.insecure;
        let (scheme, rest) = if let Some(r) = server.strip_prefix("https://") {
            ("https", r)
        } else if let Some(r) = server.strip_prefix("http://") {
            ("http", r)
        } else if let Some((other, _)) = server.split_once("://") {
            return Err(CniError::new(
                code::UNSUPPORTED_FIELD,
                format!("Kubernetes API server {server:?}: unsupported protocol scheme {other:?}"),
            ));
        } else if tls_wanted {
            ("https", server.as_str())
        } else {
            ("http", server.as_str())
        };
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let bad = || err(format!("invalid Kubernetes API server {server:?}"));
        let (host, port) = match authority.strip_prefix('[') {
            // [v6] or [v6]:port
            Some(r) => {
                let (h, after) = r.split_once(']').ok_or_else(bad)?;
                match after.strip_prefix(':') {
                    Some(p) => (h, Some(p)),
                    None if after.is_empty() => (h, None),
                    None => return Err(bad()),
                }
            }
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            },
        };
        if host.is_empty() {
            return Err(bad());
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if scheme == "https" => 443,
            None => 80,
        };
        let tls = if scheme == "https" {
            Some(tls_config(&kc)?)
        } else {
            None
        };
        Ok(Client {
            scheme,
            authority: authority.to_string(),
            host: host.to_string(),
            port,
            prefix: prefix.to_string(),
            token: (!kc.token.is_empty()).then_some(kc.token),
            tls,
        })
    }

    /// GET `path` (e.g. `/api/v1/namespaces/ns`) → the decoded JSON, or the API's error.
    pub fn get(&self, path: &str) -> Result<Result<Value, ApiError>, CniError> {
        let url = format!("{}://{}{}{path}", self.scheme, self.authority, self.prefix);
        let fail = |e: io::Error| err(format!("Get \"{url}\": {}", tls::describe(&e, &self.host)));
        let addr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(fail)?
            .next()
            .ok_or_else(|| err(format!("no address for {}", self.host)))?;
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(fail)?;
        // Also bounds the TLS handshake.
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(fail)?;
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let req = format!(
            "GET {}{path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nUser-Agent: calico-cni\r\n{auth}Connection: close\r\n\r\n",
            self.prefix, self.authority
        );
        let (status, body) = match &self.tls {
            None => exchange(s, req.as_bytes()),
            Some(config) => {
                tls::connect(config, &self.host, s).and_then(|t| exchange(t, req.as_bytes()))
            }
        }
        .map_err(fail)?;
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

/// The TLS client configuration of an https server, files read now (as client-go's transport
/// does when the client is built), errors in client-go's words.
fn tls_config(kc: &KubeConfig) -> Result<Arc<rustls::ClientConfig>, CniError> {
    let read = |pem: &Option<Pem>, what: &str, owner: &str| -> Result<Option<Vec<u8>>, CniError> {
        match pem {
            None => Ok(None),
            Some(Pem::Data(d)) => Ok(Some(d.clone())),
            Some(Pem::File(f)) => std::fs::read(f).map(Some).map_err(|e| {
                err(format!(
                    "invalid configuration: unable to read {what} {} for {owner} due to {}",
                    f.display(),
                    libcni::error::path_error_text("open", Path::new(f), &e)
                ))
            }),
        }
    };
    let ca = read(&kc.ca, "certificate-authority", &kc.cluster_name)?;
    let cert = read(&kc.client_cert, "client-cert", &kc.user_name)?;
    let key = read(&kc.client_key, "client-key", &kc.user_name)?;
    let client = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        // client-go's transport: both or neither.
        _ => {
            return Err(err(
                "client-cert and client-key must both be specified for client certificate authentication",
            ))
        }
    };
    tls::client_config(&tls::Settings {
        ca,
        insecure: kc.insecure,
        client,
    })
    .map_err(err)
}

/// One request, one response (`Connection: close`) on a plain or TLS stream: (status, body).
fn exchange<S: Read + Write>(mut s: S, req: &[u8]) -> io::Result<(u16, Vec<u8>)> {
    s.write_all(req)?;
    s.flush()?;
    let mut r = BufReader::new(s);
    let mut status_line = String::new();
    r.read_line(&mut status_line)?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed HTTP response"))?;
    let mut length = None;
    let mut chunked = false;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
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
        read_chunked(&mut r)?
    } else if let Some(n) = length {
        let mut b = vec![0; n];
        r.read_exact(&mut b)?;
        b
    } else {
        let mut b = Vec::new();
        match r.read_to_end(&mut b) {
            // A TLS peer that closes without close_notify: the body is what arrived.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {}
            other => {
                other?;
            }
        }
        b
    };
    Ok((status, body))
}
