//! HTTP/1.1 over TCP or TLS (rustls): persistent connections, `Content-Length` and chunked
//! request bodies, a thread per connection. The listener is polled so the server can stop.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    /// The path, percent-decoded.
    pub path: String,
    /// The raw query (without `?`).
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The client certificate (DER, the end entity) the connection presented, verified in the
    /// TLS handshake against the client CA.
    pub client_cert: Option<Arc<Vec<u8>>>,
}

impl Request {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    pub code: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What to do with a request.
pub enum Outcome {
    Respond(Response),
    /// Keep the connection open without answering.
    Hang,
    /// Close the connection without answering.
    Drop,
}

pub type Handler = Arc<dyn Fn(&Request) -> Outcome + Send + Sync>;

/// A running listener; [`Server::stop`] (or drop) ends it and every connection.
pub struct Server {
    stop: Arc<AtomicBool>,
    conns: Conns,
    accept: Option<JoinHandle<()>>,
    client_certs: ClientCerts,
}

/// Per TLS connection whose handshake completed, in order: whether the client presented a
/// certificate.
type ClientCerts = Arc<Mutex<Vec<bool>>>;

/// Open connections by id: a clone of each socket, to shut it down when the connection's
/// thread ends (its own handle may sit inside a TLS stream) or the server stops.
type Conns = Arc<Mutex<HashMap<u64, TcpStream>>>;

/// Client certificates: verified against the CA certificates (PEM) in `ca`, optional unless
/// `required`.
pub struct ClientAuth<'a> {
    pub ca: &'a Path,
    pub required: bool,
}

/// A rustls server configuration (ring provider) for a PEM certificate chain and key, asking
/// for client certificates with `client_auth`.
pub fn tls_config(
    cert: &Path,
    key: &Path,
    client_auth: Option<ClientAuth>,
) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let read = |p: &Path| -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_file_iter(p)
            .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("parse {}: {e}", p.display()))
    };
    let chain = read(cert);
    let key = PrivateKeyDer::from_pem_file(key)
        .unwrap_or_else(|e| panic!("read the server key {}: {e}", key.display()));
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("TLS versions");
    let builder = match client_auth {
        None => builder.with_no_client_auth(),
        Some(ClientAuth { ca, required }) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in read(ca) {
                roots
                    .add(c)
                    .unwrap_or_else(|e| panic!("client CA {}: {e}", ca.display()));
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let verifier = if required {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            builder.with_client_cert_verifier(verifier.build().expect("client verifier"))
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .expect("server certificate and key");
    Arc::new(config)
}

impl Server {
    /// Serves `listener` on a background thread until stopped.
    pub fn start(
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: Handler,
    ) -> Server {
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Conns = Arc::default();
        let client_certs: ClientCerts = Arc::default();
        let (s, c, cc) = (stop.clone(), conns.clone(), client_certs.clone());
        let accept = std::thread::Builder::new()
            .name("kube-standin-accept".into())
            .spawn(move || accept_loop(listener, tls, handler, s, c, cc))
            .expect("spawn the accept thread");
        Server {
            stop,
            conns,
            accept: Some(accept),
            client_certs,
        }
    }

    /// Per TLS connection whose handshake completed, in order: whether the client presented
    /// a certificate (a verified one: a certificate the verifier refuses fails the handshake).
    pub fn client_certs(&self) -> Vec<bool> {
        self.client_certs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for (_, c) in self.conns.lock().unwrap_or_else(|e| e.into_inner()).drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    handler: Handler,
    stop: Arc<AtomicBool>,
    conns: Conns,
    client_certs: ClientCerts,
) {
    let mut next_id = 0u64;
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_nodelay(true);
                next_id += 1;
                let id = next_id;
                if let Ok(clone) = stream.try_clone() {
                    conns
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(id, clone);
                }
                let (tls, handler, stop, conns, certs) = (
                    tls.clone(),
                    handler.clone(),
                    stop.clone(),
                    conns.clone(),
                    client_certs.clone(),
                );
                let _ = std::thread::Builder::new()
                    .name("kube-standin-conn".into())
                    .spawn(move || {
                        match tls {
                            None => connection(stream, &handler, &stop, None),
                            Some(cfg) => {
                                if let Some((tls, peer)) = handshake(cfg, stream) {
                                    certs
                                        .lock()
                                        .unwrap_or_else(|e| e.into_inner())
                                        .push(peer.is_some());
                                    connection(tls, &handler, &stop, peer)
                                }
                            }
                        }
                        if let Some(c) = conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&id)
                        {
                            let _ = c.shutdown(Shutdown::Both);
                        }
                    });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let mut pfd = libc::pollfd {
                    fd: listener.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd for the duration of the call.
                unsafe { libc::poll(&mut pfd, 1, 100) };
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

type TlsStream = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

/// Completes the TLS handshake (a client the server or the client itself rejects sends no
/// request); returns the stream and the client's certificate, if it presented one.
fn handshake(
    cfg: Arc<rustls::ServerConfig>,
    mut sock: TcpStream,
) -> Option<(TlsStream, Option<Arc<Vec<u8>>>)> {
    let mut conn = rustls::ServerConnection::new(cfg).ok()?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).ok()?;
    }
    let peer = conn
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|c| Arc::new(c.to_vec()));
    Some((rustls::StreamOwned::new(conn, sock), peer))
}

/// Serves requests on one connection until it closes, errs, or asks to close.
fn connection<S: Read + Write>(
    stream: S,
    handler: &Handler,
    stop: &AtomicBool,
    client_cert: Option<Arc<Vec<u8>>>,
) {
    let mut r = BufReader::new(stream);
    loop {
        let req = match read_request(&mut r) {
            Ok(Some(mut req)) => {
                req.client_cert = client_cert.clone();
                req
            }
            Ok(None) => return,
            Err(code) => {
                let body = format!("{code} Bad Request").into_bytes();
                let resp = Response {
                    code,
                    headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
                    body,
                };
                let _ = write_response(r.get_mut(), &resp, true);
                return;
            }
        };
        let close = req
            .header("Connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        match handler(&req) {
            Outcome::Respond(mut resp) => {
                if req.method == "HEAD" {
                    // The length of what a GET would return, without the body.
                    let len = resp.body.len();
                    resp.body.clear();
                    resp.headers
                        .push(("Content-Length".into(), len.to_string()));
                }
                if write_response(r.get_mut(), &resp, close).is_err() || close {
                    return;
                }
            }
            Outcome::Drop => return,
            Outcome::Hang => {
                let until = Instant::now() + Duration::from_secs(600);
                while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(50));
                }
                return;
            }
        }
    }
}

/// Reads one request; `Ok(None)` at a clean end of the connection, `Err(code)` for a request
/// that cannot be parsed.
fn read_request<S: Read + Write>(r: &mut BufReader<S>) -> Result<Option<Request>, u16> {
    let mut line = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) if line.trim().is_empty() => continue, // tolerate stray CRLFs between requests
            Ok(_) => break,
        }
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    let (Some(method), Some(target), Some(_version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    let mut headers = Vec::new();
    let mut total = 0;
    loop {
        let mut h = String::new();
        match r.read_line(&mut h) {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => total += n,
        }
        if total > 1 << 20 {
            return Err(431);
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').ok_or(400u16)?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    if header("Expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
        let _ = r.get_mut().write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        let _ = r.get_mut().flush();
    }
    let mut body = Vec::new();
    if header("Transfer-Encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked")) {
        loop {
            let mut size = String::new();
            if r.read_line(&mut size).unwrap_or(0) == 0 {
                return Ok(None);
            }
            let size = size.trim().split(';').next().unwrap_or("");
            let n = usize::from_str_radix(size, 16).map_err(|_| 400u16)?;
            if n == 0 {
                // Trailers until the blank line.
                loop {
                    let mut t = String::new();
                    if r.read_line(&mut t).unwrap_or(0) == 0 || t.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + n, 0);
            r.read_exact(&mut body[start..]).map_err(|_| 400u16)?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf).map_err(|_| 400u16)?;
        }
    } else if let Some(len) = header("Content-Length") {
        let n: usize = len.parse().map_err(|_| 400u16)?;
        body.resize(n, 0);
        r.read_exact(&mut body).map_err(|_| 400u16)?;
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    Ok(Some(Request {
        method: method.to_string(),
        target: target.to_string(),
        path: super::util::percent_decode(path, false),
        query: query.to_string(),
        headers,
        body,
        client_cert: None,
    }))
}

fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        410 => "Gone",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// An RFC 1123 date in GMT (`Mon, 02 Jan 2006 15:04:05 GMT`), as Go's `http.TimeFormat`.
fn http_date() -> String {
    let now = SystemTime::now();
    let u = libcni::time::Utc::of(now);
    let days = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{wd}, {:02} {} {} {} GMT",
        u.day,
        months[u.month as usize - 1],
        u.year,
        u.hms()
    )
}

fn write_response<W: Write>(w: &mut W, resp: &Response, close: bool) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.code, reason_phrase(resp.code));
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Date: {}\r\n", http_date()));
    if close {
        head.push_str("Connection: close\r\n");
    }
    if !resp.headers.iter().any(|(k, _)| k == "Content-Length") {
        head.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
    }
    head.push_str("\r\n");
    let mut buf = head.into_bytes();
    buf.extend_from_slice(&resp.body);
    w.write_all(&buf)?;
    w.flush()
}
