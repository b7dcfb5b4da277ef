//! A strict stand-in for the Kubernetes API server (v1.32): core `v1` namespaces, pods (with
//! `status`), nodes and service accounts (with `token`), Calico's custom resources in
//! `crd.projectcalico.org/v1` and/or `projectcalico.org/v3` with their structural schemas,
//! client-certificate and bearer-token authentication, RBAC, discovery, and injectable faults.
//! See README.md here for what it does and does not do.

mod api;
mod core;
mod discovery;
mod faults;
mod http;
mod meta;
mod openapi;
mod patch;
mod rbac;
mod regex;
mod resources;
mod schema;
mod selector;
mod status;
mod store;
mod table;
mod util;
mod wire;
mod x509;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::{json, Value};

use crate::TlsFiles;

pub use faults::{Action, Fault, Method};
pub use rbac::Rule;

use api::{lock, State, WriteOpts};
use rbac::{Auth, Identity};
use resources::Registry;
use store::Store;

/// The token of the admin user (`system:admin`, group `system:masters`: everything).
pub const ADMIN_TOKEN: &str = "kube-standin-admin-token";
/// The token of Calico's CNI service account, bound to the `calico-cni-plugin` ClusterRole.
pub const CNI_TOKEN: &str = "kube-standin-calico-cni-plugin-token";
/// The user name of [`CNI_TOKEN`].
pub const CNI_USER: &str = "system:serviceaccount:kube-system:calico-cni-plugin";
/// The user name of [`ADMIN_TOKEN`].
pub const ADMIN_USER: &str = "system:admin";

/// Which Calico API groups the server serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiGroups {
    /// `crd.projectcalico.org/v1` only (a cluster with Calico's v1 CRDs).
    #[default]
    V1,
    /// `projectcalico.org/v3` only (native v3 CRDs).
    V3,
    /// Both.
    Both,
}

/// How to start a [`KubeApi`].
#[derive(Debug, Clone)]
pub struct KubeApiOptions {
    /// Serve TLS (default) or plain HTTP.
    pub https: bool,
    pub groups: ApiGroups,
    /// Seed of the dice of faults with a `probability`.
    pub fault_seed: u64,
    /// Serve this certificate and key (`cert`, `key`) instead of one made for the server;
    /// [`KubeApi::ca_pem`] is then `ca`. Needs `https`.
    pub tls: Option<TlsFiles>,
    /// Ask clients for certificates and verify them against the CA certificates (PEM) in this
    /// file, as the apiserver's `--client-ca-file`: a request on a connection with a verified
    /// client certificate is the user of its subject CN, in the groups of its O values. Needs
    /// `https`.
    pub client_ca: Option<PathBuf>,
    /// Refuse TLS handshakes without a client certificate (a real apiserver only asks for
    /// one). Needs `client_ca`.
    pub require_client_cert: bool,
    /// Also serve KubeVirt's `kubevirt.io/v1` VirtualMachine, VirtualMachineInstance and
    /// VirtualMachineInstanceMigration (any object accepted), as a cluster with KubeVirt.
    pub kubevirt: bool,
}

impl Default for KubeApiOptions {
    fn default() -> Self {
        KubeApiOptions {
            https: true,
            groups: ApiGroups::V1,
            fault_seed: 1,
            tls: None,
            client_ca: None,
            require_client_cert: false,
            kubevirt: false,
        }
    }
}

/// One API request as the server saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    pub method: String,
    /// The path, percent-decoded.
    pub path: String,
    /// The raw query string (without `?`).
    pub query: String,
    pub content_type: Option<String>,
    /// The authenticated user, by client certificate or bearer token (`system:anonymous`
    /// without credentials; empty when authentication failed).
    pub user: String,
    /// Whether the request came on a connection with a (verified) client certificate.
    pub client_cert: bool,
    /// The bearer token of the `Authorization` header, if the request had one (also when the
    /// client certificate authenticated the request, or the token was refused).
    pub token: Option<String>,
    /// The response code (0 for a hung or dropped request).
    pub status: u16,
    pub body: Vec<u8>,
}

impl RequestRecord {
    /// The body as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// `METHOD path[?query]`, handy in assertion messages.
    pub fn line(&self) -> String {
        if self.query.is_empty() {
            format!("{} {}", self.method, self.path)
        } else {
            format!("{} {}?{}", self.method, self.path, self.query)
        }
    }

    pub fn to_json(&self) -> Value {
        let body = match self.body_json() {
            Some(v) => v,
            None if self.body.is_empty() => Value::Null,
            None => json!(String::from_utf8_lossy(&self.body)),
        };
        json!({"method": self.method, "path": self.path, "query": self.query,
               "contentType": self.content_type, "user": self.user, "clientCert": self.client_cert,
               "token": self.token, "status": self.status, "body": body})
    }
}

/// A running stand-in API server; dropping it stops the server and closes its connections.
pub struct KubeApi {
    state: Arc<State>,
    server: http::Server,
    url: String,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

/// Makes a server certificate for 127.0.0.1, ::1 and localhost signed by a new test CA in `dir`.
fn server_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let pki = crate::make_pki(dir);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\n\
         basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n",
    )
    .expect("write the server certificate extensions");
    crate::ec_key(dir, "apiserver.key");
    crate::sign(dir, "apiserver.key", "kube-apiserver", "apiserver.pem");
    (pki.ca, dir.join("apiserver.pem"), dir.join("apiserver.key"))
}

impl KubeApi {
    /// Starts a server on 127.0.0.1 (an ephemeral port) in the calling thread's network
    /// namespace; connections are served on other threads.
    ///
    /// Panics on options that do not go together (`tls` or `client_ca` without `https`,
    /// `require_client_cert` without `client_ca`) and on unreadable certificates or keys.
    pub fn start(opts: KubeApiOptions) -> KubeApi {
        assert!(
            opts.https || (opts.tls.is_none() && opts.client_ca.is_none()),
            "KubeApiOptions: tls and client_ca need https"
        );
        assert!(
            !opts.require_client_cert || opts.client_ca.is_some(),
            "KubeApiOptions: require_client_cert needs client_ca"
        );
        let dir = crate::temp_dir();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let (ca, tls) = if opts.https {
            let (ca, cert, key) = match &opts.tls {
                Some(t) => (t.ca.clone(), t.cert.clone(), t.key.clone()),
                None => server_pki(dir.path()),
            };
            let client_auth = opts.client_ca.as_deref().map(|ca| http::ClientAuth {
                ca,
                required: opts.require_client_cert,
            });
            (ca, Some(http::tls_config(&cert, &key, client_auth)))
        } else {
            (PathBuf::new(), None)
        };
        let scheme = if opts.https { "https" } else { "http" };
        let mut auth = Auth {
            bindings: rbac::bootstrap_bindings(),
            ..Auth::default()
        };
        auth.tokens.insert(
            ADMIN_TOKEN.into(),
            Identity {
                user: ADMIN_USER.into(),
                groups: vec!["system:masters".into(), "system:authenticated".into()],
                rules: Vec::new(),
            },
        );
        auth.tokens.insert(
            CNI_TOKEN.into(),
            Identity::service_account("kube-system", "calico-cni-plugin"),
        );
        auth.bindings
            .insert(format!("user:{CNI_USER}"), Rule::calico_cni_plugin());
        let state = Arc::new(State {
            registry: Registry::new(opts.groups, opts.kubevirt),
            store: Mutex::new(Store::new()),
            auth: Mutex::new(auth),
            faults: Mutex::new(faults::Faults::new(opts.fault_seed)),
            records: Mutex::new(Vec::new()),
            address: format!("127.0.0.1:{port}"),
        });
        // What a fresh cluster has.
        for ns in ["default", "kube-node-lease", "kube-public", "kube-system"] {
            api_create(
                &state,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )
            .expect("bootstrap namespace");
        }
        api_create(
            &state,
            json!({"apiVersion": "v1", "kind": "ServiceAccount",
                   "metadata": {"name": "calico-cni-plugin", "namespace": "kube-system"}}),
        )
        .expect("bootstrap service account");
        let st = state.clone();
        let server = http::Server::start(listener, tls, Arc::new(move |req| api::handle(&st, req)));
        KubeApi {
            state,
            server,
            url: format!("{scheme}://127.0.0.1:{port}"),
            ca,
            _dir: dir,
        }
    }

    /// `https://127.0.0.1:PORT` (or `http://`).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// The CA certificate (PEM) the server's certificate chains to (empty path over http).
    pub fn ca_pem(&self) -> &Path {
        &self.ca
    }

    /// Writes a kubeconfig in the shape Calico's installer writes (`calico-kubeconfig`: cluster
    /// `local` with the server and `certificate-authority-data`, user `calico` with `token`,
    /// context `calico-context`) and returns its path.
    pub fn write_kubeconfig(&self, path: &Path, token: &str) -> PathBuf {
        let tls = if self.url.starts_with("https") {
            let pem = std::fs::read(&self.ca).expect("read the CA");
            format!(
                "\n    certificate-authority-data: {}",
                base64::engine::general_purpose::STANDARD.encode(pem)
            )
        } else {
            String::new()
        };
        std::fs::write(
            path,
            format!(
                "# Kubeconfig file for Calico CNI plugin.\napiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {}{tls}\nusers:\n- name: calico\n  user:\n    token: {token}\ncontexts:\n- name: calico-context\n  context:\n    cluster: local\n    user: calico\ncurrent-context: calico-context\n",
                self.url
            ),
        )
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path.to_path_buf()
    }

    /// A token for `user` with `rules` of its own (on top of any bindings of the user).
    pub fn add_token(&self, token: &str, user: &str, rules: Vec<Rule>) {
        lock(&self.state.auth).tokens.insert(
            token.into(),
            Identity {
                user: user.into(),
                groups: vec!["system:authenticated".into()],
                rules,
            },
        );
    }

    /// From now on `token` gets 401.
    pub fn revoke_token(&self, token: &str) {
        lock(&self.state.auth).tokens.remove(token);
    }

    /// Binds `rules` to a user (like a ClusterRoleBinding), e.g.
    /// `system:serviceaccount:<ns>:<name>` for tokens of a service account.
    pub fn bind(&self, user: &str, rules: Vec<Rule>) {
        lock(&self.state.auth)
            .bindings
            .entry(format!("user:{user}"))
            .or_default()
            .extend(rules);
    }

    /// Binds `rules` to a group (like a ClusterRoleBinding to a Group subject), e.g. an O of
    /// client certificates.
    pub fn bind_group(&self, group: &str, rules: Vec<Rule>) {
        lock(&self.state.auth)
            .bindings
            .entry(format!("group:{group}"))
            .or_default()
            .extend(rules);
    }

    /// Removes every binding of a user.
    pub fn unbind(&self, user: &str) {
        lock(&self.state.auth)
            .bindings
            .remove(&format!("user:{user}"));
    }

    // -- direct access (no HTTP, RBAC or faults; the same bookkeeping and validation) --------

    /// Creates an object (its `apiVersion` and `kind` pick the resource, `metadata.namespace`
    /// the namespace); panics with the Status message if the server would refuse it.
    pub fn create(&self, obj: Value) -> Value {
        self.try_create(obj)
            .unwrap_or_else(|e| panic!("create: {}", e["message"]))
    }

    /// [`KubeApi::create`], the refusal as the Status it would be.
    pub fn try_create(&self, obj: Value) -> Result<Value, Value> {
        api_create(&self.state, obj)
    }

    /// The object, if it exists.
    pub fn get(
        &self,
        api_version: &str,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let rd = self.def(api_version, resource);
        lock(&self.state.store)
            .get(&rd, namespace.filter(|_| rd.namespaced), name)
            .cloned()
    }

    /// Every object of a resource, in all namespaces, in key order.
    pub fn list(&self, api_version: &str, resource: &str) -> Vec<Value> {
        let rd = self.def(api_version, resource);
        lock(&self.state.store)
            .scan(&rd, None, None)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Replaces an object as a whole (status included); without `metadata.resourceVersion` the
    /// write is unconditional. Panics with the Status message if refused.
    pub fn update(&self, obj: Value) -> Value {
        self.try_update(obj)
            .unwrap_or_else(|e| panic!("update: {}", e["message"]))
    }

    /// [`KubeApi::update`], the refusal as the Status it would be.
    pub fn try_update(&self, mut obj: Value) -> Result<Value, Value> {
        let rd = self.def_of(&obj);
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(String::from);
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            if let Some(cur) = self.get(&rd.api_version(), rd.plural, ns.as_deref(), &name) {
                obj["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"].clone();
            }
        }
        api::update_raw(&self.state, &rd, ns.as_deref(), &name, obj).map_err(|e| e.status)
    }

    /// Deletes an object (namespaces take their contents along); returns it if it existed.
    pub fn delete(
        &self,
        api_version: &str,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let rd = self.def(api_version, resource);
        api::delete(&self.state, &rd, namespace, name, &json!({}), &[], false).ok()
    }

    fn def(&self, api_version: &str, resource: &str) -> Arc<resources::ResourceDef> {
        let (g, v) = resources::split_api_version(api_version);
        self.state
            .registry
            .find(g, v, resource)
            .unwrap_or_else(|| panic!("{resource} in {api_version} is not served"))
    }

    fn def_of(&self, obj: &Value) -> Arc<resources::ResourceDef> {
        let av = obj["apiVersion"].as_str().unwrap_or("");
        let kind = obj["kind"].as_str().unwrap_or("");
        self.state
            .registry
            .by_kind(av, kind)
            .unwrap_or_else(|| panic!("kind {kind} in {av} is not served"))
    }

    // -- requests and faults ------------------------------------------------------------------

    /// Every API request so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.state.records).clone()
    }

    /// How many requests had this method and a path containing `path_contains`.
    pub fn count(&self, method: &str, path_contains: &str) -> usize {
        lock(&self.state.records)
            .iter()
            .filter(|r| r.method == method && r.path.contains(path_contains))
            .count()
    }

    pub fn clear_requests(&self) {
        lock(&self.state.records).clear();
    }

    /// Per TLS connection whose handshake completed, in order of completion: whether the
    /// client presented a certificate. A handshake that failed (the client refused the
    /// server's certificate, or a client certificate was missing or not verified) is not in
    /// the list.
    pub fn client_certs(&self) -> Vec<bool> {
        self.server.client_certs()
    }

    /// Adds a fault after those already installed.
    pub fn inject(&self, fault: Fault) {
        lock(&self.state.faults).list.push(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.state.faults).list.clear();
    }

    /// Stops serving (also done on drop).
    pub fn stop(&mut self) {
        self.server.stop();
    }
}

fn api_create(state: &State, obj: Value) -> Result<Value, Value> {
    let av = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    let rd = state
        .registry
        .by_kind(av, kind)
        .unwrap_or_else(|| panic!("kind {kind} in {av} is not served"));
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(String::from);
    let admin = Identity {
        user: ADMIN_USER.into(),
        groups: vec!["system:masters".into()],
        rules: Vec::new(),
    };
    api::create(state, &rd, ns.as_deref(), obj, WriteOpts::direct(), &admin)
        .map(|(v, _)| v)
        .map_err(|e| e.status)
}
