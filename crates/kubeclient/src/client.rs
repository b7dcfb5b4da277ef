//! The API client: JSON requests over kept-alive HTTP/1.1 connections, plain or TLS, with
//! client-go's behaviour where a user can see it — credentials only over TLS, a token file
//! re-read when it changes, `429`/`5xx` with `Retry-After` retried (up to 10 times), a request
//! on a connection the server closed while idle sent again, errors in client-go's words.
//!
//! Why not kube-rs/hyper: a plugin makes a handful of requests per ADD; an async client with
//! its own TLS stack would multiply the binary (and so its RSS and start-up cost). The TLS
//! stack is the rustls the datastore's etcd client already links, driven synchronously.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use libcni::json::go_quote;
use serde_json::Value;

use crate::config::{self, Settings, Sources};
use crate::error::{Error, Status};
use crate::http::{self, Conn, ExchangeError, Request, Response, Stream};
use crate::kubeconfig::{KubeConfig, Pem, Token, FILE_LIMIT};
use crate::tls;
use crate::url::{server_url, ServerUrl};

/// client-go's default for requests the server asks to retry (`Retry-After`).
const MAX_RETRIES: u32 = 10;
/// Go's `net.Dialer` timeout in client-go's transport.
const DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// How a PATCH body is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 6902.
    Json,
    /// RFC 7386.
    Merge,
    /// Kubernetes' strategic merge (core types only; Calico's pod annotation patch).
    StrategicMerge,
}

impl PatchType {
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
        }
    }
}

/// The bearer token, re-read from its file when the file changes.
struct TokenSource {
    token: Token,
    cache: Mutex<Option<(SystemTime, String)>>,
}

impl TokenSource {
    fn current(&self) -> Result<Option<String>, Error> {
        match &self.token {
            // The plugin's token is the client's `exec` to fetch.
            Token::None | Token::Exec(_) => Ok(None),
            Token::Static(t) => Ok(Some(t.clone())),
            Token::File(path) => {
                let mtime = std::fs::metadata(path)
                    .and_then(|m| m.modified())
                    .map_err(|e| Error::Config(libcni::error::path_error_text("open", path, &e)))?;
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                if let Some((when, token)) = cache.as_ref() {
                    if *when == mtime {
                        return Ok(Some(token.clone()));
                    }
                }
                let bytes = libcni::fs::read_bounded(path, FILE_LIMIT)
                    .map_err(|e| Error::Config(e.to_string()))?;
                let token = String::from_utf8_lossy(&bytes).trim().to_string();
                *cache = Some((mtime, token.clone()));
                Ok(Some(token))
            }
        }
    }
}

/// A client; clones share its connections, deadline and recent answers (one per process is
/// the idea: every reader of a plugin run on one TLS connection).
#[derive(Clone)]
pub struct Client(Arc<Inner>);

impl std::ops::Deref for Client {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

pub struct Inner {
    url: ServerUrl,
    /// Set for `https` servers.
    tls: Option<Arc<rustls::ClientConfig>>,
    /// The credential plugin (`https` only, as every credential).
    exec: Option<crate::exec::ExecAuth>,
    /// The TLS configuration the idle connections were made with: a plugin's new client
    /// certificate closes them, as client-go's connection rotation does.
    pool_tls: Mutex<Option<Arc<rustls::ClientConfig>>>,
    /// Only ever sent over TLS (client-go attaches credentials to TLS transports only).
    token: TokenSource,
    idle: Mutex<Vec<Conn>>,
    /// No request may end after this (Calico's context deadlines, e.g. calico-ipam's 90 s).
    deadline: Mutex<Option<Instant>>,
    /// Requests sent (retries included): what a datastore benchmark counts.
    sent: AtomicU64,
    /// The body of each path's last successful GET, for [`Client::get_recent`].
    recent: Mutex<HashMap<String, Value>>,
}

impl Client {
    /// The plugins' own client (Calico's `NewK8sClient`): the NetConf's kubeconfig with its
    /// `policy.*` and `kubernetes.k8s_api_root` overrides.
    pub fn new(s: &Settings) -> Result<Client, Error> {
        Client::from_sources(&s.sources())
    }

    pub fn from_sources(s: &Sources) -> Result<Client, Error> {
        Client::from_config(&config::load(s)?)
    }

    /// A client for a resolved configuration: the server URL is checked and the TLS files are
    /// read now, as client-go's transport does when the client is built.
    pub fn from_config(kc: &KubeConfig) -> Result<Client, Error> {
        let url = server_url(&kc.server, kc.has_tls_settings()).map_err(Error::Config)?;
        if let Some(name) = &kc.auth_provider {
            return Err(Error::Config(removed_auth_provider(name)));
        }
        let (tls, exec) = if url.is_https() {
            let (config, ca) = tls_config(kc)?;
            let exec = match &kc.token {
                Token::Exec(e) => Some(
                    crate::exec::ExecAuth::new(
                        e,
                        &kc.server,
                        tls::Settings {
                            ca,
                            insecure: kc.insecure,
                            client: None,
                        },
                    )
                    .map_err(Error::Config)?,
                ),
                _ => None,
            };
            (Some(config), exec)
        } else {
            (None, None)
        };
        Ok(Client(Arc::new(Inner {
            exec,
            pool_tls: Mutex::new(None),
            token: TokenSource {
                token: if tls.is_some() {
                    kc.token.clone()
                } else {
                    Token::None
                },
                cache: Mutex::new(None),
            },
            url,
            tls,
            idle: Mutex::new(Vec::new()),
            deadline: Mutex::new(None),
            sent: AtomicU64::new(0),
            recent: Mutex::new(HashMap::new()),
        })))
    }

    /// The server's base URL (`https://10.96.0.1:443`).
    pub fn server(&self) -> String {
        self.url.base()
    }

    /// Requests end by `after` from now, or fail with `context deadline exceeded`.
    pub fn set_timeout(&self, after: Option<Duration>) {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) =
            after.map(|d| Instant::now() + d);
    }

    /// How many requests this client has sent.
    pub fn requests_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    fn deadline(&self) -> Option<Instant> {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn connect(&self, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<Conn, String> {
        let addrs: Vec<SocketAddr> = (self.url.host.as_str(), self.url.port)
            .to_socket_addrs()
            .map_err(|_| format!("dial tcp: lookup {}: no such host", self.url.host))?
            .collect();
        let mut last = format!("dial tcp: lookup {}: no such host", self.url.host);
        for addr in addrs {
            let timeout = match self.deadline() {
                Some(d) => d
                    .saturating_duration_since(Instant::now())
                    .min(DIAL_TIMEOUT),
                None => DIAL_TIMEOUT,
            };
            if timeout.is_zero() {
                return Err("context deadline exceeded".into());
            }
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    let stream = match tls {
                        None => Stream::Plain(s),
                        Some(config) => {
                            // Bounds the handshake (client-go: 10 s TLS handshake timeout).
                            let _ = s.set_read_timeout(Some(timeout.min(Duration::from_secs(10))));
                            Stream::Tls(Box::new(
                                tls::connect(config, &self.url.host, s)
                                    .map_err(|e| tls::describe(&e, &self.url.host))?,
                            ))
                        }
                    };
                    return Ok(Conn::new(stream));
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    last = format!("dial tcp {addr}: i/o timeout");
                }
                Err(e) => {
                    last = format!(
                        "dial tcp {addr}: connect: {}",
                        libcni::error::io_error_text(&e)
                    );
                }
            }
        }
        Err(last)
    }

    /// One request; `path` is from the API root (`/api/v1/...`) with its query. The response
    /// of any status comes back; only a request that got no answer is an error.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<Response, Error> {
        let target = format!("{}{path}", self.url.prefix);
        let url = format!("{}://{}{target}", self.url.scheme, self.url.authority);
        // Go's url.Error: `Get "https://...": <cause>`.
        let op = {
            let lower = method.to_ascii_lowercase();
            let mut c = lower.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        };
        let fail = |why: String| Error::Transport(format!("{op} {}: {why}", go_quote(&url)));
        let mut headers = vec![
            ("Accept", "application/json".to_string()),
            (
                "User-Agent",
                concat!("cni-rs/", env!("CARGO_PKG_VERSION")).to_string(),
            ),
        ];
        // client-go's exec round tripper: the plugin's credentials, fetched (or cached)
        // before the request.
        let creds = match &self.exec {
            Some(a) => Some(
                a.credentials()
                    .map_err(|e| fail(format!("getting credentials: {e}")))?,
            ),
            None => None,
        };
        let token = match creds.as_ref().filter(|c| !c.token.is_empty()) {
            Some(c) => Some(c.token.clone()),
            None => self.token.current()?,
        };
        if let Some(token) = token {
            headers.push(("Authorization", format!("Bearer {token}")));
        }
        let tls = creds
            .as_ref()
            .and_then(|c| c.tls.clone())
            .or_else(|| self.tls.clone());
        self.rotate_pool(tls.as_ref());
        let req = Request {
            method,
            target: &target,
            host: &self.url.authority,
            headers: &headers,
            body,
        };
        let mut attempt = 0;
        loop {
            let deadline = self.deadline();
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if remaining.is_some_and(|r| r.is_zero()) {
                return Err(fail("context deadline exceeded".into()));
            }
            let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut conn = match pooled {
                Some(c) => c,
                None => self.connect(tls.as_ref()).map_err(fail)?,
            };
            conn.set_timeout(remaining)
                .map_err(|e| fail(libcni::error::io_error_text(&e)))?;
            self.sent.fetch_add(1, Ordering::Relaxed);
            let resp = match http::exchange(&mut conn, &req) {
                Ok(r) => r,
                // The server closed a connection we kept: send again on a new one.
                Err(ExchangeError::NoResponse(_)) if conn.reused => continue,
                Err(ExchangeError::NoResponse(e)) | Err(ExchangeError::Broken(e)) => {
                    let timed_out = matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    );
                    return Err(fail(if timed_out {
                        "context deadline exceeded".into()
                    } else if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        "EOF".into()
                    } else {
                        tls::describe(&e, &self.url.host)
                    }));
                }
            };
            if !resp.close {
                conn.reused = true;
                self.idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(conn);
            }
            if resp.status == 401 {
                if let (Some(a), Some(c)) = (&self.exec, &creds) {
                    a.unauthorized(c);
                }
            }
            let retryable = resp.status == 429 || resp.status >= 500;
            if let (true, Some(secs)) = (retryable, resp.retry_after) {
                if attempt < MAX_RETRIES {
                    attempt += 1;
                    let wait = Duration::from_secs(secs);
                    if deadline.is_some_and(|d| Instant::now() + wait >= d) {
                        return Err(fail("context deadline exceeded".into()));
                    }
                    std::thread::sleep(wait);
                    continue;
                }
            }
            return Ok(resp);
        }
    }

    /// Drops the idle connections when they were made with another TLS identity.
    fn rotate_pool(&self, tls: Option<&Arc<rustls::ClientConfig>>) {
        let mut current = self.pool_tls.lock().unwrap_or_else(|p| p.into_inner());
        let same = match (current.as_ref(), tls) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
            *current = tls.cloned();
        }
    }

    /// A request whose 2xx answer is JSON; other answers are `Error::Api`.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<Value, Error> {
        let resp = self.request(method, path, body)?;
        if (200..300).contains(&resp.status) {
            return Ok(serde_json::from_slice(&resp.body).unwrap_or(Value::Null));
        }
        Err(Error::Api(Box::new(Status::from_response(
            resp.status,
            &resp.body,
            resp.retry_after,
        ))))
    }

    pub fn get(&self, path: &str) -> Result<Value, Error> {
        let v = self.call("GET", path, None)?;
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_string(), v.clone());
        Ok(v)
    }

    /// What this client's last GET of `path` answered, or a new GET: for a reader that may
    /// use an object this run read moments ago (the calico plugin reads a pod for its
    /// endpoint and again for its labels; Calico makes two requests, this makes one).
    pub fn get_recent(&self, path: &str) -> Result<Value, Error> {
        let known = self
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
            .cloned();
        match known {
            Some(v) => Ok(v),
            None => self.get(path),
        }
    }

    /// GET, with 404 as `None`.
    pub fn get_opt(&self, path: &str) -> Result<Option<Value>, Error> {
        match self.get(path) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, Error> {
        self.call("POST", path, Some(("application/json", &to_bytes(body))))
    }

    pub fn put(&self, path: &str, body: &Value) -> Result<Value, Error> {
        self.call("PUT", path, Some(("application/json", &to_bytes(body))))
    }

    pub fn patch(&self, path: &str, kind: PatchType, body: &Value) -> Result<Value, Error> {
        self.call("PATCH", path, Some((kind.content_type(), &to_bytes(body))))
    }

    /// DELETE with an optional `DeleteOptions` body.
    pub fn delete(&self, path: &str, options: Option<&Value>) -> Result<Value, Error> {
        match options {
            Some(o) => self.call("DELETE", path, Some(("application/json", &to_bytes(o)))),
            None => self.call("DELETE", path, None),
        }
    }
}

/// Go's encoding/json bytes (HTML-safe escaping, as client-go sends).
fn to_bytes(v: &Value) -> Vec<u8> {
    libcni::json::to_compact(v).into_bytes()
}

/// client-go (1.26+) has no built-in `auth-provider` any more: gcp's and azure's say what
/// replaced them, others are unknown.
fn removed_auth_provider(name: &str) -> String {
    match name {
        "gcp" => "The gcp auth plugin has been removed.\nPlease use the \"gke-gcloud-auth-plugin\" kubectl/client-go credential plugin instead.\nSee https://cloud.google.com/blog/products/containers-kubernetes/kubectl-auth-changes-in-gke for further details".into(),
        "azure" => "The azure auth plugin has been removed.\nPlease use the https://github.com/Azure/kubelogin kubectl/client-go credential plugin instead.\nSee https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins for further details".into(),
        other => format!("no Auth Provider found for name {}", go_quote(other)),
    }
}

/// The TLS client configuration of an https server, files read now (as client-go's transport
/// does when the client is built), errors in client-go's words; and the CA bytes.
fn tls_config(kc: &KubeConfig) -> Result<(Arc<rustls::ClientConfig>, Option<Vec<u8>>), Error> {
    let read = |pem: &Option<Pem>, what: &str, owner: &str| -> Result<Option<Vec<u8>>, Error> {
        match pem {
            None => Ok(None),
            Some(Pem::Data(d)) => Ok(Some(d.clone())),
            Some(Pem::File(f)) => libcni::fs::read_bounded(f, FILE_LIMIT)
                .map(Some)
                .map_err(|e| {
                    Error::Config(format!(
                        "invalid configuration: unable to read {what} {} for {owner} due to {e}",
                        f.display(),
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
            return Err(Error::Config(
                "client-cert and client-key must both be specified for client certificate authentication".into(),
            ))
        }
    };
    let config = tls::client_config(&tls::Settings {
        ca: ca.clone(),
        insecure: kc.insecure,
        client,
    })
    .map_err(Error::Config)?;
    Ok((config, ca))
}
