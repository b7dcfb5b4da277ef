//! A stand-in for the Kubernetes API server (no apiserver can be installed here): a tiny HTTP
//! server on the test host netns's loopback that answers GETs for the objects a test put in
//! it (Namespaces, Pods, Nodes) and Kubernetes' 404 Status otherwise. It speaks just enough
//! HTTP/1.1 for the plugin's client (one request per connection), in plain HTTP or over TLS
//! (rustls, certificates made by `testkit::make_pki`), optionally requiring client certificates.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use testkit::TlsFiles;

use super::Host;

pub struct FakeApi {
    pub port: u16,
    objects: Arc<Mutex<HashMap<String, Value>>>,
    https: bool,
    /// Paths requested, in order, with the Authorization header seen.
    pub requests: Arc<Mutex<Vec<(String, String)>>>,
    /// Over TLS: per accepted connection, whether the client presented a certificate.
    pub client_certs: Arc<Mutex<Vec<bool>>>,
}

/// How the stand-in serves: plain HTTP, or TLS with a certificate of `pki` (optionally
/// requiring a client certificate signed by `pki`'s CA).
pub struct Tls {
    pub pki: TlsFiles,
    pub require_client_cert: bool,
}

impl FakeApi {
    pub fn start(h: &Host) -> FakeApi {
        Self::start_with(h, None)
    }

    /// An https stand-in serving `pki`'s certificate (valid for 127.0.0.1).
    pub fn start_https(h: &Host, pki: &TlsFiles, require_client_cert: bool) -> FakeApi {
        Self::start_with(
            h,
            Some(Tls {
                pki: pki.clone(),
                require_client_cert,
            }),
        )
    }

    fn start_with(h: &Host, tls: Option<Tls>) -> FakeApi {
        let listener = h
            .netns
            .run(|| TcpListener::bind("127.0.0.1:0").unwrap())
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let objects: Arc<Mutex<HashMap<String, Value>>> = Arc::default();
        let requests: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let client_certs: Arc<Mutex<Vec<bool>>> = Arc::default();
        let https = tls.is_some();
        let config = tls.map(|t| server_config(&t));
        let (objs, reqs, certs) = (objects.clone(), requests.clone(), client_certs.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                // A client that gives up mid-handshake must not stall the next one.
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
                match &config {
                    None => {
                        serve(stream, &objs, &reqs);
                    }
                    Some(config) => {
                        let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                        let mut tls = rustls::StreamOwned::new(conn, stream);
                        // Handshake first: a client the server rejects sends no request.
                        let mut ok = true;
                        while tls.conn.is_handshaking() {
                            if tls.conn.complete_io(&mut tls.sock).is_err() {
                                ok = false;
                                break;
                            }
                        }
                        if !ok {
                            continue;
                        }
                        certs
                            .lock()
                            .unwrap()
                            .push(tls.conn.peer_certificates().is_some_and(|c| !c.is_empty()));
                        if let Some(mut tls) = serve(tls, &objs, &reqs) {
                            tls.conn.send_close_notify();
                            let _ = tls.flush();
                        }
                    }
                }
            }
        });
        FakeApi {
            port,
            https,
            objects,
            requests,
            client_certs,
        }
    }

    /// The server URL for a kubeconfig.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// A kubeconfig at `path` pointing at this server, with `cluster` and `user` (YAML lines,
    /// each `key: value`) added to the cluster and user entries.
    pub fn kubeconfig_at(&self, path: &Path, cluster: &[&str], user: &[&str]) -> PathBuf {
        let indent =
            |lines: &[&str]| -> String { lines.iter().map(|l| format!("    {l}\n")).collect() };
        std::fs::write(
            path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {}\n{}users:\n- name: calico\n  user:\n{}contexts:\n- name: calico-context\n  context:\n    cluster: local\n    user: calico\ncurrent-context: calico-context\n",
                self.url(),
                indent(cluster),
                indent(user),
            ),
        )
        .unwrap();
        path.to_path_buf()
    }

    pub fn put(&self, path: &str, obj: Value) {
        self.objects.lock().unwrap().insert(path.to_string(), obj);
    }

    pub fn namespace(&self, name: &str, annotations: Value) {
        self.put(
            &format!("/api/v1/namespaces/{name}"),
            json!({ "kind": "Namespace", "apiVersion": "v1",
                    "metadata": { "name": name, "annotations": annotations } }),
        );
    }

    /// A pod in `ns` with service account `default` unless `spec` says otherwise.
    pub fn pod(&self, ns: &str, name: &str, annotations: Value, spec: Value) {
        let mut s = json!({ "serviceAccountName": "default", "containers": [{ "name": "c" }] });
        if let (Some(base), Some(extra)) = (s.as_object_mut(), spec.as_object()) {
            for (k, v) in extra {
                base.insert(k.clone(), v.clone());
            }
        }
        self.put(
            &format!("/api/v1/namespaces/{ns}/pods/{name}"),
            json!({ "kind": "Pod", "apiVersion": "v1",
                    "metadata": { "name": name, "namespace": ns, "annotations": annotations,
                                  "labels": { "app": "test" } },
                    "spec": s }),
        );
    }

    pub fn node(&self, name: &str, pod_cidrs: &[&str]) {
        self.put(
            &format!("/api/v1/nodes/{name}"),
            json!({ "kind": "Node", "apiVersion": "v1", "metadata": { "name": name },
                    "spec": { "podCIDR": pod_cidrs[0], "podCIDRs": pod_cidrs } }),
        );
    }

    /// A kubeconfig (YAML, as Calico's installer writes it) pointing at this server.
    pub fn kubeconfig(&self, h: &Host) -> PathBuf {
        let path = h.dir.path().join("calico-kubeconfig");
        std::fs::write(
            &path,
            format!(
                "# Kubeconfig file for Calico CNI plugin.\napiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: http://127.0.0.1:{}\nusers:\n- name: calico\n  user:\n    token: \"test-token\"\ncontexts:\n- name: calico-context\n  context:\n    cluster: local\n    user: calico\ncurrent-context: calico-context\n",
                self.port
            ),
        )
        .unwrap();
        path
    }
}

type Objects = Arc<Mutex<HashMap<String, Value>>>;
type Requests = Arc<Mutex<Vec<(String, String)>>>;

/// Answers one request on `stream`; gives the stream back when the response was written.
fn serve<S: Read + Write>(stream: S, objs: &Objects, reqs: &Requests) -> Option<S> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let path = line.split(' ').nth(1).unwrap_or("").to_string();
    let mut auth = String::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some(v) = h.strip_prefix("Authorization: ") {
            auth = v.trim().to_string();
        }
    }
    reqs.lock().unwrap().push((path.clone(), auth));
    let found = objs.lock().unwrap().get(&path).cloned();
    let (status, body) = match found {
        Some(v) => ("200 OK", v),
        None => {
            let name = path.rsplit('/').next().unwrap_or("");
            let kind = path.rsplit('/').nth(1).unwrap_or("objects");
            (
                "404 Not Found",
                json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "message": format!("{kind} \"{name}\" not found"),
                        "reason": "NotFound", "code": 404 }),
            )
        }
    };
    let body = serde_json::to_vec(&body).unwrap();
    let s = r.get_mut();
    write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .ok()?;
    s.write_all(&body).ok()?;
    s.flush().ok()?;
    Some(r.into_inner())
}

fn server_config(t: &Tls) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&t.pki.cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&t.pki.key).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if t.require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(&t.pki.ca).unwrap() {
            roots.add(ca.unwrap()).unwrap();
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    Arc::new(builder.with_single_cert(chain, key).unwrap())
}
