//! The stand-in Kubernetes API server: raw protocol tests over HTTPS (a small keep-alive client
//! below), kubectl against it, concurrency, faults and the `kube-standin` binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{json, Value};
use testkit::{
    Action, ApiGroups, Fault, KubeApi, KubeApiOptions, Method, Rule, TlsFiles, ADMIN_TOKEN,
    ADMIN_USER, CNI_TOKEN, CNI_USER,
};

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client with one kept-alive connection, over TLS or plain TCP.

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

struct Client {
    addr: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    token: Option<String>,
    conn: Option<BufReader<Box<dyn Stream>>>,
    timeout: Option<Duration>,
    accept: String,
}

impl Client {
    fn new(api: &KubeApi, token: Option<&str>) -> Client {
        Client::to(&api.url(), api.ca_pem(), token)
    }

    fn to(url: &str, ca: &std::path::Path, token: Option<&str>) -> Client {
        Client::with_cert(url, ca, None, token)
    }

    /// Over https, trusting the CA certificates in `ca`, presenting `cert` (its `cert` and
    /// `key`) if given.
    fn with_cert(
        url: &str,
        ca: &std::path::Path,
        cert: Option<&TlsFiles>,
        token: Option<&str>,
    ) -> Client {
        let https = url.starts_with("https://");
        let tls = https.then(|| {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).unwrap() {
                roots.add(c.unwrap()).unwrap();
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let builder = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots);
            Arc::new(match cert {
                None => builder.with_no_client_auth(),
                Some(f) => {
                    let chain = CertificateDer::pem_file_iter(&f.cert)
                        .unwrap()
                        .collect::<Result<Vec<_>, _>>()
                        .unwrap();
                    let key = PrivateKeyDer::from_pem_file(&f.key).unwrap();
                    builder.with_client_auth_cert(chain, key).unwrap()
                }
            })
        });
        Client {
            addr: url.split("://").nth(1).unwrap().to_string(),
            tls,
            token: token.map(String::from),
            conn: None,
            timeout: None,
            accept: "application/json".into(),
        }
    }

    fn connect(&self) -> std::io::Result<BufReader<Box<dyn Stream>>> {
        let tcp = TcpStream::connect(&self.addr)?;
        tcp.set_read_timeout(self.timeout)?;
        let s: Box<dyn Stream> = match &self.tls {
            None => Box::new(tcp),
            Some(cfg) => {
                let name = ServerName::try_from("127.0.0.1").unwrap();
                let conn = rustls::ClientConnection::new(cfg.clone(), name).unwrap();
                Box::new(rustls::StreamOwned::new(conn, tcp))
            }
        };
        Ok(BufReader::new(s))
    }

    fn try_request(
        &mut self,
        method: &str,
        path: &str,
        ct: Option<&str>,
        body: Option<&[u8]>,
    ) -> std::io::Result<Resp> {
        if self.conn.is_none() {
            self.conn = Some(self.connect()?);
        }
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: {}\r\n",
            self.addr, self.accept
        );
        if let Some(t) = &self.token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        if let Some(ct) = ct {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        let body = body.unwrap_or_default();
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let r = self.conn.as_mut().unwrap();
        let mut buf = head.into_bytes();
        buf.extend_from_slice(body);
        let res = (|| {
            r.get_mut().write_all(&buf)?;
            r.get_mut().flush()?;
            read_response(r)
        })();
        if res.is_err() {
            self.conn = None;
        }
        res
    }

    /// A request; a connection the server closed while idle is reopened once.
    fn request(&mut self, method: &str, path: &str, ct: Option<&str>, body: Option<&[u8]>) -> Resp {
        match self.try_request(method, path, ct, body) {
            Ok(r) => r,
            Err(_) => self
                .try_request(method, path, ct, body)
                .unwrap_or_else(|e| panic!("{method} {path}: {e}")),
        }
    }

    fn get(&mut self, path: &str) -> Resp {
        self.request("GET", path, None, None)
    }

    fn send(&mut self, method: &str, path: &str, body: &Value) -> Resp {
        self.request(
            method,
            path,
            Some("application/json"),
            Some(body.to_string().as_bytes()),
        )
    }

    fn patch(&mut self, path: &str, ct: &str, body: &str) -> Resp {
        self.request("PATCH", path, Some(ct), Some(body.as_bytes()))
    }
}

fn read_response<R: BufRead>(r: &mut R) -> std::io::Result<Resp> {
    let eof = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed");
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(eof());
    }
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(eof)?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            return Err(eof());
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Content-Length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(Resp {
        status,
        headers,
        body,
    })
}

// ---------------------------------------------------------------------------------------------
// Objects.

const V1: &str = "/apis/crd.projectcalico.org/v1";

fn block(name: &str, cidr: &str) -> Value {
    json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMBlock",
           "metadata": {"name": name, "annotations": {"projectcalico.org/metadata": "{\"creationTimestamp\":null}"}},
           "spec": {"cidr": cidr, "affinity": "host:node1", "allocations": [0, null, null, null],
                    "unallocated": [1, 2, 3], "attributes": [{"handle_id": "h", "secondary": {"node": "node1"}}],
                    "sequenceNumber": 7, "sequenceNumberForAllocation": {"0": 6}, "deleted": false,
                    "strictAffinity": false}})
}

fn handle(name: &str) -> Value {
    json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMHandle", "metadata": {"name": name},
           "spec": {"handleID": name, "block": {"10.0.0.0/26": 1}, "deleted": false}})
}

fn pod(ns: &str, name: &str, labels: Value, node: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": ns, "labels": labels},
           "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}})
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn rv(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn start() -> KubeApi {
    KubeApi::start(KubeApiOptions::default())
}

// ---------------------------------------------------------------------------------------------

#[test]
fn custom_resource_crud_with_the_apiservers_status_errors() {
    let api = start();
    let mut c = Client::new(&api, Some(ADMIN_TOKEN));

    // Create: 201 with the stored object and server-set metadata.
    let r = c.send(
        "POST",
        &format!("{V1}/ipamblocks"),
        &block("10-0-0-0-30", "10.0.0.0/30"),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let created = r.json();
    let m = &created["metadata"];
    assert!(rv(&created) > 0);
    assert_eq!(m["uid"].as_str().unwrap().len(), 36);
    assert_eq!(m["generation"], 1);
    let ts = m["creationTimestamp"].as_str().unwrap();
    assert!(ts.ends_with('Z') && ts.len() == 20, "{ts}");
    assert_eq!(created["spec"]["allocations"], json!([0, null, null, null]));

    // GET: the same object; absent → 404 with the registry's text and details.
    let got = c.get(&format!("{V1}/ipamblocks/10-0-0-0-30")).json();
    assert_eq!(got, created);
    let r = c.get(&format!("{V1}/ipamblocks/x"));
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "ipamblocks.crd.projectcalico.org \"x\" not found", "reason": "NotFound",
               "details": {"name": "x", "group": "crd.projectcalico.org", "kind": "ipamblocks"}, "code": 404})
    );
    assert!(String::from_utf8_lossy(&r.body).starts_with(
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\""
    ));

    // POST of an existing name → 409 AlreadyExists; with a resourceVersion → 500.
    let r = c.send(
        "POST",
        &format!("{V1}/ipamblocks"),
        &block("10-0-0-0-30", "10.0.0.0/30"),
    );
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (409, json!("AlreadyExists"))
    );
    assert_eq!(
        r.message(),
        "ipamblocks.crd.projectcalico.org \"10-0-0-0-30\" already exists"
    );
    let mut with_rv = block("10-0-0-4-30", "10.0.0.4/30");
    with_rv["metadata"]["resourceVersion"] = json!("5");
    let r = c.send("POST", &format!("{V1}/ipamblocks"), &with_rv);
    assert_eq!(r.status, 500);
    assert_eq!(
        r.message(),
        "resourceVersion should not be set on objects to be created"
    );

    // Wrong group version → 400; wrong kind → 422.
    let mut wrong = block("10-0-0-8-30", "10.0.0.8/30");
    wrong["apiVersion"] = json!("crd.projectcalico.org/v2");
    let r = c.send("POST", &format!("{V1}/ipamblocks"), &wrong);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message(),
        "the API version in the data (crd.projectcalico.org/v2) does not match the expected API version (crd.projectcalico.org/v1)"
    );
    let mut wrong = block("10-0-0-8-30", "10.0.0.8/30");
    wrong["kind"] = json!("IPAMHandle");
    let r = c.send("POST", &format!("{V1}/ipamblocks"), &wrong);
    assert_eq!(r.status, 422);
    assert_eq!(
        r.message(),
        "IPAMHandle.crd.projectcalico.org \"10-0-0-8-30\" is invalid: kind: Invalid value: \"IPAMHandle\": must be IPAMBlock"
    );

    // LIST: typed list of the kind, items carry apiVersion/kind, list RV is the latest.
    c.send("POST", &format!("{V1}/ipamhandles"), &handle("h1"));
    let list = c.get(&format!("{V1}/ipamblocks")).json();
    assert_eq!(list["kind"], "IPAMBlockList");
    assert_eq!(list["apiVersion"], "crd.projectcalico.org/v1");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["kind"], "IPAMBlock");
    assert!(
        list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > rv(&created)
    );

    // PUT: needs the resourceVersion (422), fails on a stale one (409), on another UID (409).
    let path = format!("{V1}/ipamblocks/10-0-0-0-30");
    let mut upd = created.clone();
    upd["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    let r = c.send("PUT", &path, &upd);
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "ipamblocks.crd.projectcalico.org \"10-0-0-0-30\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
               "reason": "Invalid",
               "details": {"name": "10-0-0-0-30", "group": "crd.projectcalico.org", "kind": "ipamblocks",
                           "causes": [{"reason": "FieldValueInvalid", "message": "Invalid value: 0x0: must be specified for an update",
                                       "field": "metadata.resourceVersion"}]},
               "code": 422})
    );
    let mut upd = created.clone();
    upd["spec"]["sequenceNumber"] = json!(8);
    let r = c.send("PUT", &path, &upd);
    assert_eq!(r.status, 200);
    let updated = r.json();
    assert!(rv(&updated) > rv(&created));
    assert_eq!(updated["metadata"]["generation"], 2);
    assert_eq!(updated["metadata"]["uid"], created["metadata"]["uid"]);
    assert_eq!(
        updated["metadata"]["creationTimestamp"],
        created["metadata"]["creationTimestamp"]
    );
    let r = c.send("PUT", &path, &upd); // stale now
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["reason"], "Conflict");
    assert_eq!(
        r.message(),
        "Operation cannot be fulfilled on ipamblocks.crd.projectcalico.org \"10-0-0-0-30\": the object has been modified; please apply your changes to the latest version and try again"
    );
    let mut other_uid = updated.clone();
    other_uid["metadata"]["uid"] = json!("00000000-0000-4000-8000-000000000000");
    let r = c.send("PUT", &path, &other_uid);
    assert_eq!(r.status, 409);
    assert_eq!(
        r.message(),
        format!(
            "Operation cannot be fulfilled on ipamblocks.crd.projectcalico.org \"10-0-0-0-30\": StorageError: invalid object, Code: 4, Key: /registry/crd.projectcalico.org/ipamblocks/10-0-0-0-30, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: 00000000-0000-4000-8000-000000000000, UID in object meta: {}",
            created["metadata"]["uid"].as_str().unwrap()
        )
    );
    // A no-op update writes nothing.
    let same = c.send("PUT", &path, &updated).json();
    assert_eq!(rv(&same), rv(&updated));
    // Name mismatch → 400; absent → 404.
    let r = c.send("PUT", &format!("{V1}/ipamblocks/other"), &updated);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message(),
        "the name of the object (10-0-0-0-30) does not match the name on the URL (other)"
    );
    let mut absent = updated.clone();
    absent["metadata"]["name"] = json!("absent");
    let r = c.send("PUT", &format!("{V1}/ipamblocks/absent"), &absent);
    assert_eq!(r.status, 404);

    // DELETE with Calico's DeleteOptions: a UID or RV precondition mismatch → 409.
    let opts = |uid: &str| json!({"kind": "DeleteOptions", "apiVersion": "crd.projectcalico.org/v1", "preconditions": {"uid": uid}});
    let r = c.send(
        "DELETE",
        &path,
        &opts("00000000-0000-4000-8000-000000000000"),
    );
    assert_eq!(r.status, 409);
    assert_eq!(
        r.json()["details"],
        json!({"name": "10-0-0-0-30", "group": "crd.projectcalico.org", "kind": "IPAMBlock"})
    );
    assert_eq!(
        r.message(),
        format!(
            "Operation cannot be fulfilled on IPAMBlock.crd.projectcalico.org \"10-0-0-0-30\": the UID in the precondition (00000000-0000-4000-8000-000000000000) does not match the UID in record ({}). The object might have been deleted and then recreated",
            created["metadata"]["uid"].as_str().unwrap()
        )
    );
    let r = c.send(
        "DELETE",
        &path,
        &json!({"preconditions": {"resourceVersion": "1"}}),
    );
    assert_eq!(r.status, 409);
    assert!(r.message().ends_with(&format!(
        "the ResourceVersion in the precondition (1) does not match the ResourceVersion in record ({}). The object might have been modified",
        rv(&updated)
    )));
    let r = c.send(
        "DELETE",
        &path,
        &opts(created["metadata"]["uid"].as_str().unwrap()),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["metadata"]["name"], "10-0-0-0-30");
    assert_eq!(c.get(&path).status, 404);
    assert_eq!(c.send("DELETE", &path, &json!({})).status, 404);
}

#[test]
fn core_objects_namespaces_and_lists() {
    let api = start();
    let mut c = Client::new(&api, Some(ADMIN_TOKEN));
    // A pod needs its namespace.
    let r = c.send(
        "POST",
        "/api/v1/namespaces/test/pods",
        &pod("test", "p1", json!({}), "n1"),
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.message(), "namespaces \"test\" not found");
    let ns = c.send("POST", "/api/v1/namespaces", &namespace("test"));
    assert_eq!(ns.status, 201);
    assert_eq!(
        ns.json()["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "test"
    );
    assert_eq!(ns.json()["status"]["phase"], "Active");
    let r = c.send(
        "POST",
        "/api/v1/namespaces/test/pods",
        &pod("test", "p1", json!({"app": "x"}), "n1"),
    );
    assert_eq!(r.status, 201, "{}", r.message());
    let p = r.json();
    assert_eq!(p["kind"], "Pod");
    assert_eq!(p["status"]["phase"], "Pending");
    assert_eq!(p["spec"]["serviceAccountName"], "default");
    // The object's namespace must match the URL's.
    let r = c.send(
        "POST",
        "/api/v1/namespaces/default/pods",
        &pod("test", "p2", json!({}), "n1"),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message(),
        "the namespace of the provided object does not match the namespace sent on the request"
    );
    // Validation of core objects: containers and images are required.
    let mut bad = pod("test", "p3", json!({}), "n1");
    bad["spec"]["containers"] = json!([{"name": "c"}]);
    let r = c.send("POST", "/api/v1/namespaces/test/pods", &bad);
    assert_eq!(r.status, 422);
    assert_eq!(
        r.message(),
        "Pod \"p3\" is invalid: spec.containers[0].image: Required value"
    );
    let r = c.get("/api/v1/namespaces/test/pods/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["details"], json!({"name": "nope", "kind": "pods"}));
    assert_eq!(r.message(), "pods \"nope\" not found");
    // Lists: core items carry no kind/apiVersion; namespaced and all-namespaces.
    c.send(
        "POST",
        "/api/v1/namespaces/default/pods",
        &pod("default", "p0", json!({"app": "y"}), "n2"),
    );
    let list = c.get("/api/v1/namespaces/test/pods").json();
    assert_eq!(list["kind"], "PodList");
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["items"][0].get("kind").is_none());
    let all = c.get("/api/v1/pods").json();
    let names: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["p0", "p1"],
        "etcd key order: default/p0, test/p1"
    );
    // A pod by name needs the namespace in the path; a cluster-scoped resource has none.
    assert_eq!(c.get("/api/v1/pods/p1").status, 404);
    assert_eq!(c.get("/api/v1/namespaces/test/nodes").status, 404);
    assert_eq!(
        c.get("/api/v1/widgets").message(),
        "the server could not find the requested resource"
    );
    // PUT of a core object without a resourceVersion is unconditional.
    let mut upd = p.clone();
    upd["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    upd["metadata"]["labels"]["extra"] = json!("1");
    let r = c.send("PUT", "/api/v1/namespaces/test/pods/p1", &upd);
    assert_eq!(r.status, 200, "{}", r.message());
    assert_eq!(r.json()["metadata"]["labels"]["extra"], "1");
    // The spec of a pod is immutable (but images).
    let mut upd = r.json();
    upd["spec"]["nodeName"] = json!("elsewhere");
    let r = c.send("PUT", "/api/v1/namespaces/test/pods/p1", &upd);
    assert_eq!(r.status, 422);
    assert!(r.message().starts_with(
        "Pod \"p1\" is invalid: spec: Forbidden: pod updates may not change fields other than"
    ));
    // DELETE returns the pod; a namespace takes its contents along.
    let r = c.send("DELETE", "/api/v1/namespaces/test/pods/p1", &json!({}));
    assert_eq!(
        (r.status, r.json()["metadata"]["name"].clone()),
        (200, json!("p1"))
    );
    c.send(
        "POST",
        "/api/v1/namespaces/test/pods",
        &pod("test", "p4", json!({}), ""),
    );
    let r = c.send("DELETE", "/api/v1/namespaces/test", &json!({}));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"]["phase"], "Terminating");
    assert_eq!(c.get("/api/v1/namespaces/test/pods/p4").status, 404);
    assert_eq!(c.get("/api/v1/namespaces/test").status, 404);
    // Nodes answer a delete with a Success Status.
    c.send(
        "POST",
        "/api/v1/nodes",
        &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}),
    );
    let r = c.send("DELETE", "/api/v1/nodes/n1", &json!({}));
    assert_eq!(r.json()["status"], "Success");
    assert_eq!(r.json()["details"]["kind"], "nodes");
}

#[test]
fn rbac_for_calicos_cni_service_account() {
    let api = start();
    api.create(namespace("test"));
    api.create(pod("test", "p1", json!({"app": "x"}), "n1"));
    let mut cni = Client::new(&api, Some(CNI_TOKEN));
    let forbidden = |r: &Resp, msg: &str| {
        assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["reason"], "Forbidden");
        assert_eq!(r.message(), msg);
    };
    // Allowed: GET pods, PATCH pods/status, CRUD but PATCH on the IPAM resources.
    assert_eq!(cni.get("/api/v1/namespaces/test/pods/p1").status, 200);
    let r = cni.patch(
        "/api/v1/namespaces/test/pods/p1/status",
        "application/strategic-merge-patch+json",
        r#"{"metadata":{"annotations":{"cni.projectcalico.org/podIP":"10.0.0.1/32"}}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.message());
    // Denied: LIST pods (namespace and cluster scope), PATCH pods, PATCH a CRD, watch.
    forbidden(
        &cni.get("/api/v1/namespaces/test/pods"),
        &format!("pods is forbidden: User \"{CNI_USER}\" cannot list resource \"pods\" in API group \"\" in the namespace \"test\""),
    );
    forbidden(
        &cni.get("/api/v1/pods"),
        &format!("pods is forbidden: User \"{CNI_USER}\" cannot list resource \"pods\" in API group \"\" at the cluster scope"),
    );
    let r = cni.patch(
        "/api/v1/namespaces/test/pods/p1",
        "application/strategic-merge-patch+json",
        r#"{"metadata":{"annotations":{"a":"b"}}}"#,
    );
    forbidden(
        &r,
        &format!("pods \"p1\" is forbidden: User \"{CNI_USER}\" cannot patch resource \"pods\" in API group \"\" in the namespace \"test\""),
    );
    assert_eq!(r.json()["details"], json!({"name": "p1", "kind": "pods"}));
    let r = cni.send(
        "POST",
        &format!("{V1}/ipamblocks"),
        &block("10-0-0-0-30", "10.0.0.0/30"),
    );
    assert_eq!(r.status, 201);
    let b = r.json();
    assert_eq!(cni.get(&format!("{V1}/ipamblocks/10-0-0-0-30")).status, 200);
    assert_eq!(cni.get(&format!("{V1}/ipamblocks")).status, 200);
    assert_eq!(
        cni.send("PUT", &format!("{V1}/ipamblocks/10-0-0-0-30"), &b)
            .status,
        200
    );
    let r = cni.patch(
        &format!("{V1}/ipamblocks/10-0-0-0-30"),
        "application/merge-patch+json",
        "{}",
    );
    forbidden(
        &r,
        &format!("ipamblocks.crd.projectcalico.org \"10-0-0-0-30\" is forbidden: User \"{CNI_USER}\" cannot patch resource \"ipamblocks\" in API group \"crd.projectcalico.org\" at the cluster scope"),
    );
    assert_eq!(
        r.json()["details"],
        json!({"name": "10-0-0-0-30", "group": "crd.projectcalico.org", "kind": "ipamblocks"})
    );
    forbidden(
        &cni.get(&format!("{V1}/ipamblocks?watch=true")),
        &format!("ipamblocks.crd.projectcalico.org is forbidden: User \"{CNI_USER}\" cannot watch resource \"ipamblocks\" in API group \"crd.projectcalico.org\" at the cluster scope"),
    );
    assert_eq!(
        cni.send(
            "DELETE",
            &format!("{V1}/ipamblocks/10-0-0-0-30"),
            &json!({})
        )
        .status,
        200
    );
    // Namespaces: a GET is checked in the namespace itself.
    assert_eq!(cni.get("/api/v1/namespaces/test").status, 200);
    forbidden(
        &cni.send("DELETE", "/api/v1/namespaces/test", &json!({})),
        &format!("namespaces \"test\" is forbidden: User \"{CNI_USER}\" cannot delete resource \"namespaces\" in API group \"\" in the namespace \"test\""),
    );
    // Authorization comes before existence: a missing object is still 403 to a user who may not.
    forbidden(
        &cni.send("DELETE", "/api/v1/nodes/absent", &json!({})),
        &format!("nodes \"absent\" is forbidden: User \"{CNI_USER}\" cannot delete resource \"nodes\" in API group \"\" at the cluster scope"),
    );
    // Discovery and /version are open to any authenticated user; other paths are not.
    assert_eq!(cni.get("/api").status, 200);
    assert_eq!(cni.get("/version").status, 200);
    forbidden(
        &cni.get("/metrics"),
        &format!("forbidden: User \"{CNI_USER}\" cannot get path \"/metrics\""),
    );

    // Unknown and revoked tokens: 401 with the authenticator's Status.
    let unauthorized = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": "Unauthorized", "reason": "Unauthorized", "code": 401});
    let r = Client::new(&api, Some("nope")).get("/version");
    assert_eq!((r.status, r.json()), (401, unauthorized.clone()));
    api.revoke_token(CNI_TOKEN);
    let r = cni.get("/api/v1/namespaces/test/pods/p1");
    assert_eq!((r.status, r.json()), (401, unauthorized));

    // Anonymous: /version, health and discovery only.
    let mut anon = Client::new(&api, None);
    assert_eq!(anon.get("/version").status, 200);
    assert_eq!(anon.get("/healthz").body, b"ok");
    assert_eq!(anon.get("/apis").status, 200);
    forbidden(
        &anon.get("/api/v1/namespaces/test/pods/p1"),
        "pods \"p1\" is forbidden: User \"system:anonymous\" cannot get resource \"pods\" in API group \"\" in the namespace \"test\"",
    );

    // Tokens with rule sets of their own.
    api.add_token(
        "reader",
        "reader",
        vec![Rule::new(&["get", "list"], &[""], &["pods"]).names(&["p1"])],
    );
    let mut reader = Client::new(&api, Some("reader"));
    assert_eq!(reader.get("/api/v1/namespaces/test/pods/p1").status, 200);
    assert_eq!(reader.get("/api/v1/namespaces/test/pods/p2").status, 403);
    // Who asked is recorded.
    let users: Vec<String> = api.requests().iter().map(|r| r.user.clone()).collect();
    assert!(users.contains(&CNI_USER.to_string()) && users.contains(&"reader".to_string()));
}

#[test]
fn patches_and_the_pod_status_subresource() {
    let api = start();
    let mut c = Client::new(&api, Some(ADMIN_TOKEN));
    let pool = api.create(
        json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
                                 "metadata": {"name": "p"}, "spec": {"cidr": "10.244.0.0/16"}}),
    );
    let path = format!("{V1}/ippools/p");
    const MERGE: &str = "application/merge-patch+json";
    const JSON: &str = "application/json-patch+json";
    const SMP: &str = "application/strategic-merge-patch+json";

    // Merge patch: applied to the current object, generation bumped for a spec change.
    let r = c.patch(
        &path,
        MERGE,
        r#"{"spec":{"disabled":true},"metadata":{"labels":{"a":"b"}}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.message());
    let p1 = r.json();
    assert_eq!(
        (
            p1["spec"]["disabled"].clone(),
            p1["metadata"]["generation"].clone()
        ),
        (json!(true), json!(2))
    );
    // A metadata-only change keeps the generation.
    let p2 = c
        .patch(&path, MERGE, r#"{"metadata":{"labels":{"a":"c"}}}"#)
        .json();
    assert_eq!(p2["metadata"]["generation"], 2);
    assert!(rv(&p2) > rv(&p1));
    // JSON patch, with a test operation.
    let r = c.patch(&path, JSON, r#"[{"op":"test","path":"/spec/disabled","value":true},{"op":"replace","path":"/spec/disabled","value":false}]"#);
    assert_eq!(
        (r.status, r.json()["spec"]["disabled"].clone()),
        (200, json!(false))
    );
    let r = c.patch(
        &path,
        JSON,
        r#"[{"op":"test","path":"/spec/disabled","value":true}]"#,
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "the server rejected our request due to an error in our request", "reason": "Invalid",
               "details": {"causes": [{"reason": "UnexpectedServerResponse", "message": "testing value /spec/disabled failed: test failed"}]},
               "code": 422})
    );
    // Strategic merge patches are for built-in types only.
    let r = c.patch(&path, SMP, r#"{"spec":{"disabled":true}}"#);
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (415, json!("UnsupportedMediaType"))
    );
    assert_eq!(
        r.message(),
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    );
    assert_eq!(c.patch(&path, "application/json", "{}").status, 415);
    // A resourceVersion in the patch is a precondition; a different uid is an immutable field.
    let r = c.patch(
        &path,
        MERGE,
        &format!(
            r#"{{"metadata":{{"resourceVersion":"{}"}},"spec":{{"disabled":true}}}}"#,
            rv(&pool)
        ),
    );
    assert_eq!(r.status, 409);
    assert_eq!(r.message(), format!("Operation cannot be fulfilled on ippools.crd.projectcalico.org \"p\": {}", "the object has been modified; please apply your changes to the latest version and try again"));
    let r = c.patch(
        &path,
        MERGE,
        r#"{"metadata":{"uid":"00000000-0000-4000-8000-000000000000"}}"#,
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        r.message(),
        "IPPool.crd.projectcalico.org \"p\" is invalid: metadata.uid: Invalid value: \"00000000-0000-4000-8000-000000000000\": field is immutable"
    );
    assert_eq!(r.json()["details"]["causes"][0]["field"], "metadata.uid");
    // Removing the resourceVersion makes the write unconditional — not allowed for a custom resource.
    let r = c.patch(&path, MERGE, r#"{"metadata":{"resourceVersion":null}}"#);
    assert_eq!(r.status, 422);
    assert_eq!(
        c.patch(&format!("{V1}/ippools/absent"), MERGE, "{}").status,
        404
    );

    // Pods: Calico's ADD patch of pods/status sets annotations; the spec cannot change there.
    api.create(namespace("test"));
    let p = api.create(pod("test", "p1", json!({"app": "x"}), "node1"));
    let status = "/api/v1/namespaces/test/pods/p1/status";
    let add = r#"{"metadata":{"annotations":{"cni.projectcalico.org/containerID":"cid1","cni.projectcalico.org/podIP":"10.244.1.5/32","cni.projectcalico.org/podIPs":"10.244.1.5/32"}},"spec":{"nodeName":"other"},"status":{"podIP":"10.244.1.5"}}"#;
    let r = c.patch(status, SMP, add);
    assert_eq!(r.status, 200, "{}", r.message());
    let after = r.json();
    assert_eq!(
        after["metadata"]["annotations"]["cni.projectcalico.org/podIP"],
        "10.244.1.5/32"
    );
    assert_eq!(after["spec"]["nodeName"], "node1");
    assert_eq!(after["status"]["podIP"], "10.244.1.5");
    assert_eq!(c.get(status).json(), after);
    // Calico's DEL patch: the resourceVersion and uid it read are preconditions.
    let del = |rv: &str, uid: &str| {
        format!(
            r#"{{"metadata":{{"annotations":{{"cni.projectcalico.org/podIP":"","cni.projectcalico.org/podIPs":""}},"resourceVersion":"{rv}","uid":"{uid}"}}}}"#
        )
    };
    let uid = p["metadata"]["uid"].as_str().unwrap();
    let r = c.patch(status, SMP, &del(&rv(&p).to_string(), uid));
    assert_eq!(r.status, 409);
    assert_eq!(
        r.message(),
        "Operation cannot be fulfilled on pods \"p1\": the object has been modified; please apply your changes to the latest version and try again"
    );
    let r = c.patch(
        status,
        SMP,
        &del(
            &rv(&after).to_string(),
            "00000000-0000-4000-8000-000000000000",
        ),
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json()["details"],
        json!({"name": "p1", "kind": "Pod", "causes": [{"reason": "FieldValueInvalid",
               "message": "Invalid value: \"00000000-0000-4000-8000-000000000000\": field is immutable", "field": "metadata.uid"}]})
    );
    let r = c.patch(status, SMP, &del(&rv(&after).to_string(), uid));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["metadata"]["annotations"]["cni.projectcalico.org/podIP"],
        ""
    );
    assert_eq!(
        r.json()["metadata"]["annotations"]["cni.projectcalico.org/containerID"],
        "cid1"
    );
    // The main resource cannot change the status; PUT on status keeps the spec.
    let r = c.patch(
        "/api/v1/namespaces/test/pods/p1",
        SMP,
        r#"{"status":{"podIP":"1.2.3.4"},"metadata":{"labels":{"b":"c"}}}"#,
    );
    assert_eq!(r.json()["status"]["podIP"], "10.244.1.5");
    assert_eq!(
        r.json()["metadata"]["labels"],
        json!({"app": "x", "b": "c"})
    );
    let mut put = r.json();
    put["spec"]["nodeName"] = json!("other");
    put["status"]["phase"] = json!("Running");
    let r = c.send("PUT", status, &put);
    assert_eq!(r.status, 200, "{}", r.message());
    assert_eq!(
        (
            r.json()["spec"]["nodeName"].clone(),
            r.json()["status"]["phase"].clone()
        ),
        (json!("node1"), json!("Running"))
    );
    // Strategic merge of containers by name.
    let r = c.patch(
        "/api/v1/namespaces/test/pods/p1",
        SMP,
        r#"{"spec":{"containers":[{"name":"c","image":"busybox:2"}]}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.message());
    assert_eq!(r.json()["spec"]["containers"][0]["image"], "busybox:2");
    assert_eq!(
        r.json()["spec"]["containers"][0]["terminationMessagePath"],
        "/dev/termination-log"
    );
}

#[test]
fn structural_schemas_prune_default_and_validate() {
    let api = start();
    let mut c = Client::new(&api, Some(ADMIN_TOKEN));
    // Unknown fields are pruned silently (a warning per field), known ones kept, nulls in
    // nullable items kept, defaults applied.
    let mut b = block("10-0-0-0-30", "10.0.0.0/30");
    b["spec"]["bogus"] = json!({"x": 1});
    b["spec"]["attributes"][0]["extra"] = json!(true);
    b["spec"].as_object_mut().unwrap().remove("sequenceNumber");
    b["metadata"]["bogus"] = json!("m");
    b["status"] = json!({"x": 1});
    let r = c.send("POST", &format!("{V1}/ipamblocks"), &b);
    assert_eq!(r.status, 201, "{}", r.message());
    let warnings: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k == "Warning")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        warnings,
        vec![
            r#"299 - "unknown field \"metadata.bogus\"""#,
            r#"299 - "unknown field \"spec.attributes[0].extra\"""#,
            r#"299 - "unknown field \"spec.bogus\"""#,
            r#"299 - "unknown field \"status\"""#,
        ]
    );
    let stored = r.json();
    assert!(stored["spec"].get("bogus").is_none() && stored.get("status").is_none());
    assert!(stored["metadata"].get("bogus").is_none());
    assert_eq!(
        stored["spec"]["attributes"][0],
        json!({"handle_id": "h", "secondary": {"node": "node1"}})
    );
    assert_eq!(stored["spec"]["allocations"], json!([0, null, null, null]));
    assert_eq!(stored["spec"]["sequenceNumber"], 0);
    // kubectl's fieldValidation=Strict turns them into a 400.
    let mut b = block("10-0-0-4-30", "10.0.0.4/30");
    b["spec"]["bogus"] = json!(1);
    let r = c.send(
        "POST",
        &format!("{V1}/ipamblocks?fieldValidation=Strict"),
        &b,
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message(),
        "strict decoding error: unknown field \"spec.bogus\""
    );
    // A type error: v1 BlockAffinity's `deleted` is a string.
    let aff = json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "BlockAffinity",
                     "metadata": {"name": "node1-10-0-0-0-30"},
                     "spec": {"state": "confirmed", "node": "node1", "type": "host", "cidr": "10.0.0.0/30", "deleted": false}});
    let r = c.send("POST", &format!("{V1}/blockaffinities"), &aff);
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "BlockAffinity.crd.projectcalico.org \"node1-10-0-0-0-30\" is invalid: spec.deleted: Invalid value: \"boolean\": spec.deleted in body must be of type string: \"boolean\"",
               "reason": "Invalid",
               "details": {"name": "node1-10-0-0-0-30", "group": "crd.projectcalico.org", "kind": "BlockAffinity",
                           "causes": [{"reason": "FieldValueTypeInvalid",
                                       "message": "Invalid value: \"boolean\": spec.deleted in body must be of type string: \"boolean\"",
                                       "field": "spec.deleted"}]},
               "code": 422})
    );
    // `null` in a non-nullable field is dropped, then the field is missing.
    let mut b = block("10-0-0-8-30", "10.0.0.8/30");
    b["spec"]["attributes"] = Value::Null;
    let r = c.send("POST", &format!("{V1}/ipamblocks"), &b);
    assert_eq!(r.status, 422);
    assert_eq!(r.message(), "IPAMBlock.crd.projectcalico.org \"10-0-0-8-30\" is invalid: spec.attributes: Required value");
    assert_eq!(
        r.json()["details"]["causes"][0]["reason"],
        "FieldValueRequired"
    );
    // Several errors are listed in brackets.
    let mut h = handle("h2");
    h["spec"] = json!({"block": {"10.0.0.0/26": "one"}});
    let r = c.send("POST", &format!("{V1}/ipamhandles"), &h);
    assert_eq!(
        r.message(),
        "IPAMHandle.crd.projectcalico.org \"h2\" is invalid: [spec.block.10.0.0.0/26: Invalid value: \"string\": spec.block.10.0.0.0/26 in body must be of type integer: \"string\", spec.handleID: Required value]"
    );
    // Names: a DNS-1123 subdomain (a container ID with `_` cannot name a handle).
    let r = c.send(
        "POST",
        &format!("{V1}/ipamhandles"),
        &handle("k8s-pod-network.a_b"),
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        r.message(),
        "IPAMHandle.crd.projectcalico.org \"k8s-pod-network.a_b\" is invalid: metadata.name: Invalid value: \"k8s-pod-network.a_b\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    );
    // Label values are at most 63 characters.
    let mut h = handle("h3");
    h["metadata"]["labels"] = json!({"projectcalico.org/hostname-hash": "x".repeat(64)});
    let r = c.send("POST", &format!("{V1}/ipamhandles"), &h);
    assert_eq!(
        r.message(),
        format!("IPAMHandle.crd.projectcalico.org \"h3\" is invalid: metadata.labels: Invalid value: \"{}\": must be no more than 63 characters", "x".repeat(64))
    );
    // generateName.
    let mut h = handle("");
    h["metadata"] = json!({"generateName": "h-"});
    let r = c.send("POST", &format!("{V1}/ipamhandles"), &h);
    assert_eq!(r.status, 201, "{}", r.message());
    let name = r.json()["metadata"]["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("h-") && name.len() == 7, "{name}");
    // Defaults from the CRD (IPPool assignmentMode) and the v1 IPAMConfig range.
    let pool = api.create(
        json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
                                 "metadata": {"name": "p"}, "spec": {"cidr": "10.244.0.0/16"}}),
    );
    assert_eq!(pool["spec"]["assignmentMode"], "Automatic");
    let cfg = json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMConfig", "metadata": {"name": "default"},
                     "spec": {"strictAffinity": false, "autoAllocateBlocks": true, "maxBlocksPerHost": 3000000000i64}});
    let r = c.send("POST", &format!("{V1}/ipamconfigs"), &cfg);
    assert_eq!(
        r.message(),
        "IPAMConfig.crd.projectcalico.org \"default\" is invalid: spec.maxBlocksPerHost: Invalid value: 3000000000: spec.maxBlocksPerHost in body should be less than or equal to 2147483647"
    );
}

#[test]
fn native_v3_schemas() {
    let api = KubeApi::start(KubeApiOptions {
        groups: ApiGroups::V3,
        ..KubeApiOptions::default()
    });
    let mut c = Client::new(&api, Some(CNI_TOKEN));
    let v3 = "/apis/projectcalico.org/v3";
    assert_eq!(c.get(&format!("{V1}/ipamblocks")).status, 404);
    let mut b = block("10-0-0-0-30", "10.0.0.0/30");
    b["apiVersion"] = json!("projectcalico.org/v3");
    b["spec"]["affinity"] = json!("node:x");
    b["spec"]["cidr"] = json!("10.0.0.0/33");
    let r = c.send("POST", &format!("{v3}/ipamblocks"), &b);
    assert_eq!(
        r.message(),
        "IPAMBlock.projectcalico.org \"10-0-0-0-30\" is invalid: [spec.affinity: Invalid value: \"node:x\": spec.affinity in body should match '^(host|virtual):[a-zA-Z0-9\\.\\-_]+$', spec.cidr: Invalid value: \"10.0.0.0/33\": spec.cidr in body must be of type cidr: \"10.0.0.0/33\"]"
    );
    let aff = json!({"apiVersion": "projectcalico.org/v3", "kind": "BlockAffinity", "metadata": {"name": "a"},
                     "spec": {"state": "claimed", "node": "n", "cidr": "10.0.0.0/30"}});
    let r = c.send("POST", &format!("{v3}/blockaffinities"), &aff);
    assert_eq!(
        r.message(),
        "BlockAffinity.projectcalico.org \"a\" is invalid: spec.state: Unsupported value: \"claimed\": supported values: \"\", \"confirmed\", \"pending\", \"pendingDeletion\""
    );
    let mut aff = aff;
    aff["spec"]["state"] = json!("pending");
    let r = c.send("POST", &format!("{v3}/blockaffinities"), &aff);
    assert_eq!(r.status, 201, "{}", r.message());
    assert_eq!(r.json()["spec"]["deleted"], false, "CRD default");
    let cfg = json!({"apiVersion": "projectcalico.org/v3", "kind": "IPAMConfiguration", "metadata": {"name": "default"}, "spec": {}});
    let r = c.send("POST", &format!("{v3}/ipamconfigurations"), &cfg);
    assert_eq!(r.status, 201, "{}", r.message());
    assert_eq!(
        r.json()["spec"],
        json!({"autoAllocateBlocks": true, "maxBlocksPerHost": 0, "strictAffinity": false})
    );
}

/// Runs kubectl against `kubeconfig`; (success, stdout, stderr).
fn kubectl(
    kubeconfig: &std::path::Path,
    cache: &std::path::Path,
    args: &[&str],
) -> (bool, String, String) {
    let out = std::process::Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .output()
        .expect("run kubectl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const KUBECTL: &str = "/usr/bin/kubectl";

#[test]
fn kubectl_speaks_the_protocol() {
    if !std::path::Path::new(KUBECTL).exists() {
        eprintln!("skipped: no {KUBECTL}");
        return;
    }
    let api = start();
    let dir = testkit::temp_dir();
    let kc = api.write_kubeconfig(&dir.path().join("kubeconfig"), ADMIN_TOKEN);
    let cache = dir.path().join("cache");
    let run = |args: &[&str]| {
        let (ok, out, err) = kubectl(&kc, &cache, args);
        assert!(ok, "kubectl {args:?} failed: {err}");
        out
    };
    let manifest = dir.path().join("objects.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: crd.projectcalico.org/v1\nkind: IPPool\nmetadata:\n  name: default-pool\nspec:\n  cidr: 10.244.0.0/16\n  ipipMode: Never\n  natOutgoing: true\n  nodeSelector: all()\n\
         ---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: test\n\
         ---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p1\n  namespace: test\n  labels:\n    app: x\nspec:\n  containers:\n  - name: c\n    image: busybox\n",
    )
    .unwrap();
    let out = run(&["apply", "-f", manifest.to_str().unwrap()]);
    assert_eq!(out, "ippool.crd.projectcalico.org/default-pool created\nnamespace/test created\npod/p1 created\n");
    // The stored pool as kubectl shows it.
    let pool: Value =
        serde_json::from_str(&run(&["get", "ippool", "default-pool", "-o", "json"])).unwrap();
    assert_eq!(pool["spec"]["cidr"], "10.244.0.0/16");
    assert!(rv(&pool) > 0);
    assert_eq!(pool["metadata"]["uid"].as_str().unwrap().len(), 36);
    assert!(pool["metadata"]["creationTimestamp"].is_string());
    assert!(
        pool["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );
    // Apply again: unchanged, then configured (a merge patch for a custom resource).
    assert_eq!(
        run(&["apply", "-f", manifest.to_str().unwrap()]),
        "ippool.crd.projectcalico.org/default-pool unchanged\nnamespace/test unchanged\npod/p1 unchanged\n"
    );
    // Patches: merge on the custom resource, strategic on the pod.
    assert_eq!(
        run(&[
            "patch",
            "ippool",
            "default-pool",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"disabled":true}}"#
        ]),
        "ippool.crd.projectcalico.org/default-pool patched\n"
    );
    assert_eq!(
        api.get("crd.projectcalico.org/v1", "ippools", None, "default-pool")
            .unwrap()["spec"]["disabled"],
        true
    );
    assert_eq!(
        run(&[
            "patch",
            "pod",
            "p1",
            "-n",
            "test",
            "-p",
            r#"{"metadata":{"annotations":{"a":"b"}}}"#
        ]),
        "pod/p1 patched\n"
    );
    let p = api.get("v1", "pods", Some("test"), "p1").unwrap();
    assert_eq!(p["metadata"]["annotations"]["a"], "b");
    // replace with a stale resourceVersion: the optimistic-lock conflict.
    let stale = dir.path().join("stale.json");
    std::fs::write(&stale, pool.to_string()).unwrap();
    let (ok, _, err) = kubectl(&kc, &cache, &["replace", "-f", stale.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(
        err.trim_end(),
        format!(
            "Error from server (Conflict): error when replacing \"{}\": Operation cannot be fulfilled on ippools.crd.projectcalico.org \"default-pool\": the object has been modified; please apply your changes to the latest version and try again",
            stale.display()
        )
    );
    // Label selectors across namespaces, tables, errors.
    assert_eq!(
        run(&["get", "pods", "-A", "-l", "app=x", "-o", "name"]),
        "pod/p1\n"
    );
    assert_eq!(run(&["get", "pods", "-A", "-l", "app=y", "-o", "name"]), "");
    let table = run(&["get", "pods", "-n", "test"]);
    assert!(
        table.starts_with("NAME   READY   STATUS    RESTARTS   AGE\np1     0/1     Pending   0"),
        "{table}"
    );
    let (ok, _, err) = kubectl(&kc, &cache, &["get", "ippool", "nope"]);
    assert!(!ok);
    assert_eq!(
        err.trim_end(),
        "Error from server (NotFound): ippools.crd.projectcalico.org \"nope\" not found"
    );
    // Server-side field validation (kubectl sends fieldValidation=Strict).
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: crd.projectcalico.org/v1\nkind: IPPool\nmetadata:\n  name: bad\nspec:\n  cidr: 10.0.0.0/8\n  bogus: 1\n").unwrap();
    let (ok, _, err) = kubectl(&kc, &cache, &["create", "-f", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("strict decoding error: unknown field \"spec.bogus\""),
        "{err}"
    );
    // Delete.
    assert_eq!(
        run(&["delete", "pod", "p1", "-n", "test"]),
        "pod \"p1\" deleted\n"
    );
    assert_eq!(
        run(&["delete", "ippool", "default-pool"]),
        "ippool.crd.projectcalico.org \"default-pool\" deleted\n"
    );
    assert!(api.list("crd.projectcalico.org/v1", "ippools").is_empty());
    assert!(api.get("v1", "pods", Some("test"), "p1").is_none());
    // The CNI user cannot list pods.
    let cni_kc = api.write_kubeconfig(&dir.path().join("cni"), CNI_TOKEN);
    let (ok, _, err) = kubectl(&cni_kc, &cache, &["get", "pods", "-n", "test"]);
    assert!(!ok);
    assert_eq!(
        err.trim_end(),
        format!("Error from server (Forbidden): pods is forbidden: User \"{CNI_USER}\" cannot list resource \"pods\" in API group \"\" in the namespace \"test\"")
    );
}

#[test]
fn discovery_documents_follow_the_groups_option() {
    for (groups, want) in [
        (ApiGroups::V1, vec!["crd.projectcalico.org"]),
        (ApiGroups::V3, vec!["projectcalico.org"]),
        (
            ApiGroups::Both,
            vec!["crd.projectcalico.org", "projectcalico.org"],
        ),
    ] {
        let api = KubeApi::start(KubeApiOptions {
            groups,
            ..KubeApiOptions::default()
        });
        let mut c = Client::new(&api, Some(CNI_TOKEN));
        let apis = c.get("/apis").json();
        assert_eq!(apis["kind"], "APIGroupList");
        let names: Vec<&str> = apis["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, want);
        assert_eq!(
            apis["groups"][0]["preferredVersion"]["groupVersion"],
            format!(
                "{}/{}",
                want[0],
                if want[0] == "projectcalico.org" {
                    "v3"
                } else {
                    "v1"
                }
            )
        );
        let core = c.get("/api").json();
        assert_eq!(core["versions"], json!(["v1"]));
        let v1 = c.get("/api/v1").json();
        let pods_status = v1["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "pods/status")
            .cloned()
            .unwrap();
        assert_eq!(
            pods_status,
            json!({"name": "pods/status", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get", "patch", "update"]})
        );
        let pods = v1["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "pods")
            .cloned()
            .unwrap();
        assert_eq!(pods["shortNames"], json!(["po"]));
        let gv = format!(
            "/apis/{}/{}",
            want[0],
            if want[0] == "projectcalico.org" {
                "v3"
            } else {
                "v1"
            }
        );
        let list = c.get(&gv).json();
        let blocks = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "ipamblocks")
            .cloned()
            .unwrap();
        assert_eq!(
            (blocks["kind"].clone(), blocks["namespaced"].clone()),
            (json!("IPAMBlock"), json!(false))
        );
        assert_eq!(c.get("/apis/unknown.example.com/v1").status, 404);
        // Aggregated discovery when asked for it (as kubectl and client-go do first).
        c.accept =
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
                .into();
        let r = c.get("/apis");
        assert_eq!(
            r.header("Content-Type"),
            Some("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
        );
        let agg = r.json();
        assert_eq!(agg["kind"], "APIGroupDiscoveryList");
        let names: Vec<&str> = agg["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, want);
        let core = c.get("/api").json();
        let pods = core["items"][0]["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "pods")
            .cloned()
            .unwrap();
        assert_eq!(pods["subresources"][0]["subresource"], "status");
        assert_eq!(pods["scope"], "Namespaced");
        c.accept = "application/json".into();
        let version = c.get("/version").json();
        assert_eq!(
            (version["major"].clone(), version["minor"].clone()),
            (json!("1"), json!("32"))
        );
    }
}

#[test]
fn label_and_field_selectors_limit_and_continue() {
    let api = start();
    api.create(namespace("a"));
    api.create(namespace("b"));
    for (ns, name, labels, node) in [
        ("a", "p1", json!({"app": "x", "tier": "web"}), "n1"),
        ("a", "p2", json!({"app": "y"}), "n2"),
        ("b", "p3", json!({"app": "x", "tier": "db"}), "n1"),
        ("b", "p4", json!({}), ""),
    ] {
        api.create(pod(ns, name, labels, node));
    }
    let mut c = Client::new(&api, Some(ADMIN_TOKEN));
    let names = |c: &mut Client, q: &str| -> Vec<String> {
        let r = c.get(&format!("/api/v1/pods?{q}"));
        assert_eq!(r.status, 200, "{q}: {}", r.message());
        r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&mut c, "labelSelector=app%3Dx"), ["p1", "p3"]);
    assert_eq!(
        names(&mut c, "labelSelector=app%3D%3Dx%2Ctier%3Dweb"),
        ["p1"]
    );
    assert_eq!(names(&mut c, "labelSelector=app%21%3Dx"), ["p2", "p4"]);
    assert_eq!(names(&mut c, "labelSelector=tier"), ["p1", "p3"]);
    assert_eq!(names(&mut c, "labelSelector=%21tier"), ["p2", "p4"]);
    assert_eq!(
        names(&mut c, "labelSelector=tier+in+%28db%2Ccache%29"),
        ["p3"]
    );
    assert_eq!(
        names(&mut c, "labelSelector=app+notin+%28x%29"),
        ["p2", "p4"]
    );
    assert_eq!(
        names(&mut c, "fieldSelector=spec.nodeName%3Dn1"),
        ["p1", "p3"]
    );
    assert_eq!(names(&mut c, "fieldSelector=spec.nodeName%3D"), ["p4"]);
    assert_eq!(names(&mut c, "fieldSelector=metadata.name%3Dp2"), ["p2"]);
    assert_eq!(
        names(&mut c, "fieldSelector=metadata.namespace%21%3Da"),
        ["p3", "p4"]
    );
    assert_eq!(
        names(
            &mut c,
            "fieldSelector=spec.nodeName%3Dn1&labelSelector=tier%3Ddb"
        ),
        ["p3"]
    );
    let r = c.get("/api/v1/pods?labelSelector=%3Dx");
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (400, json!("BadRequest"))
    );
    let r = c.get("/api/v1/pods?fieldSelector=spec.bogus%3Dx");
    assert_eq!(r.status, 400);
    assert_eq!(r.message(), "field label not supported: spec.bogus");
    let r = c.get(&format!("{V1}/ipamblocks?fieldSelector=spec.cidr%3Dx"));
    assert_eq!(r.message(), "field label not supported: spec.cidr");
    // Paging: limit + continue, remainingItemCount without selectors.
    let page = c.get("/api/v1/pods?limit=3").json();
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    assert_eq!(page["metadata"]["remainingItemCount"], 1);
    let token = page["metadata"]["continue"].as_str().unwrap().to_string();
    let rest = c
        .get(&format!("/api/v1/pods?limit=3&continue={token}"))
        .json();
    let rest_names: Vec<&str> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(rest_names, ["p4"]);
    assert!(rest["metadata"].get("continue").is_none());
    assert_eq!(
        rest["metadata"]["resourceVersion"],
        page["metadata"]["resourceVersion"]
    );
    let sel = c.get("/api/v1/pods?limit=1&labelSelector=app%3Dx").json();
    assert_eq!(sel["items"].as_array().unwrap().len(), 1);
    assert!(sel["metadata"]["continue"].is_string());
    assert!(sel["metadata"].get("remainingItemCount").is_none());
    assert_eq!(c.get("/api/v1/pods?limit=1&continue=garbage!").status, 400);
    // Namespaced list.
    let r = c
        .get("/api/v1/namespaces/b/pods?labelSelector=app%3Dx")
        .json();
    assert_eq!(r["items"].as_array().unwrap().len(), 1);
    // deletecollection with a selector.
    let r = c.send(
        "DELETE",
        "/api/v1/namespaces/b/pods?labelSelector=app%3Dx",
        &json!({}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["items"][0]["metadata"]["name"], "p3");
    assert_eq!(names(&mut c, "labelSelector=app%3Dx"), ["p1"]);
}

#[test]
fn faults_apply_in_order_and_count_down() {
    let api = start();
    api.create(block("10-0-0-0-30", "10.0.0.0/30"));
    let mut c = Client::new(&api, Some(CNI_TOKEN));
    let path = format!("{V1}/ipamblocks/10-0-0-0-30");
    let b = c.get(&path).json();
    // Conflict: the write is not applied.
    api.inject(
        Fault::new("/ipamblocks/", Action::Conflict)
            .method(Method::Put)
            .times(1),
    );
    let r = c.send("PUT", &path, &b);
    assert_eq!(r.status, 409);
    assert_eq!(
        r.message(),
        "Operation cannot be fulfilled on ipamblocks.crd.projectcalico.org \"10-0-0-0-30\": the object has been modified; please apply your changes to the latest version and try again"
    );
    assert_eq!(
        c.get(&path).json(),
        b,
        "GET is not affected, and nothing was written"
    );
    let mut b2 = b.clone();
    b2["spec"]["sequenceNumber"] = json!(9);
    assert_eq!(c.send("PUT", &path, &b2).status, 200, "times ran out");
    // A Status of our choosing; 429 carries Retry-After.
    api.inject(
        Fault::new(
            "/ipamblocks",
            Action::Status(
                500,
                "InternalError".into(),
                "etcdserver: request timed out".into(),
            ),
        )
        .times(1),
    );
    let r = c.get(&path);
    assert_eq!(
        (r.status, r.json()),
        (
            500,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                     "message": "etcdserver: request timed out", "reason": "InternalError", "code": 500})
        )
    );
    api.inject(
        Fault::new(
            "/ipamblocks",
            Action::Status(429, "TooManyRequests".into(), "slow down".into()),
        )
        .times(1),
    );
    let r = c.get(&path);
    assert_eq!((r.status, r.header("Retry-After")), (429, Some("1")));
    assert_eq!(r.json()["details"]["retryAfterSeconds"], 1);
    // Delay, then served.
    api.inject(Fault::new("/ipamblocks", Action::Delay(Duration::from_millis(300))).times(1));
    let t = Instant::now();
    assert_eq!(c.get(&path).status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    // Drop: the connection closes without an answer; the next one works.
    api.inject(Fault::new("/ipamblocks", Action::Drop).times(1));
    assert!(c.try_request("GET", &path, None, None).is_err());
    assert_eq!(c.get(&path).status, 200);
    // Hang: no answer (the client times out).
    api.inject(Fault::new("/ipamblocks", Action::Hang).times(1));
    let mut slow = Client::new(&api, Some(CNI_TOKEN));
    slow.timeout = Some(Duration::from_millis(300));
    assert!(slow.try_request("GET", &path, None, None).is_err());
    // Order: the first matching fault wins; a method filter only matches its method.
    api.inject(
        Fault::new(
            "/ipamblocks",
            Action::Status(503, "ServiceUnavailable".into(), "first".into()),
        )
        .method(Method::Delete)
        .times(1),
    );
    api.inject(
        Fault::new(
            "/ipamblocks",
            Action::Status(503, "ServiceUnavailable".into(), "second".into()),
        )
        .times(1),
    );
    assert_eq!(c.get(&path).message(), "second");
    assert_eq!(c.send("DELETE", &path, &json!({})).message(), "first");
    // Probability, with the seeded dice.
    api.inject(
        Fault::new(
            "/version",
            Action::Status(500, "InternalError".into(), "dice".into()),
        )
        .probability(0.5),
    );
    let failed = (0..100).filter(|_| c.get("/version").status == 500).count();
    assert!((25..75).contains(&failed), "{failed}");
    api.clear_faults();
    assert_eq!(c.get("/version").status, 200);
    // Every request is recorded with its outcome (0: no answer).
    let statuses: Vec<u16> = api
        .requests()
        .iter()
        .filter(|r| r.path == path)
        .map(|r| r.status)
        .collect();
    assert_eq!(&statuses[..7], &[200, 409, 200, 200, 500, 429, 200]);
    assert!(statuses.contains(&0));
    let puts: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .collect();
    assert_eq!(puts[0].body_json().unwrap(), b);
    assert_eq!(puts[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(api.count("PUT", "/ipamblocks/"), 2);
}

#[test]
fn sixteen_writers_never_lose_an_increment() {
    let api = Arc::new(start());
    api.create(handle("counter"));
    const THREADS: usize = 16;
    const EACH: usize = 20;
    let conflicts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (api, conflicts) = (api.clone(), conflicts.clone());
            std::thread::spawn(move || {
                let mut c = Client::new(&api, Some(CNI_TOKEN));
                let path = format!("{V1}/ipamhandles/counter");
                for _ in 0..EACH {
                    loop {
                        let mut h = c.get(&path).json();
                        let n = h["spec"]["block"]["10.0.0.0/26"].as_i64().unwrap();
                        h["spec"]["block"]["10.0.0.0/26"] = json!(n + 1);
                        let r = c.send("PUT", &path, &h);
                        match r.status {
                            200 => break,
                            409 => {
                                assert_eq!(r.json()["reason"], "Conflict");
                                conflicts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            s => panic!("unexpected {s}: {}", r.message()),
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let h = api
        .get("crd.projectcalico.org/v1", "ipamhandles", None, "counter")
        .unwrap();
    assert_eq!(h["spec"]["block"]["10.0.0.0/26"], json!(1 + THREADS * EACH));
    assert_eq!(h["metadata"]["generation"], json!(1 + THREADS * EACH));
    eprintln!(
        "{} conflicts",
        conflicts.load(std::sync::atomic::Ordering::Relaxed)
    );
}

#[test]
fn direct_access_keeps_the_bookkeeping() {
    let api = start();
    let a = api.create(handle("h1"));
    let b = api.create(handle("h2"));
    assert_eq!(rv(&b), rv(&a) + 1, "one counter for every write");
    // An update without a resourceVersion is unconditional; with a stale one it is refused.
    let mut upd = a.clone();
    upd["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    upd["spec"]["deleted"] = json!(true);
    let u = api.update(upd);
    assert_eq!(u["metadata"]["generation"], 2);
    assert_eq!(u["metadata"]["uid"], a["metadata"]["uid"]);
    let err = api.try_update(a.clone()).unwrap_err();
    assert_eq!(err["reason"], "Conflict");
    // Whole objects: a pod's status is written as given.
    api.create(namespace("t"));
    let mut p = api.create(pod("t", "p", json!({}), "n1"));
    p["status"] = json!({"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}]});
    assert_eq!(api.update(p)["status"]["podIP"], "10.0.0.5");
    // Validation still applies.
    let err = api.try_create(handle("Bad_Name")).unwrap_err();
    assert_eq!(err["code"], 422);
    assert_eq!(api.list("crd.projectcalico.org/v1", "ipamhandles").len(), 2);
    assert_eq!(
        api.delete("crd.projectcalico.org/v1", "ipamhandles", None, "h1")
            .unwrap()["metadata"]["name"],
        "h1"
    );
    assert!(api
        .delete("crd.projectcalico.org/v1", "ipamhandles", None, "h1")
        .is_none());
    // Direct calls are not requests.
    assert!(api.requests().is_empty());
}

#[test]
fn service_account_tokens_and_plain_http() {
    let api = start();
    let mut admin = Client::new(&api, Some(ADMIN_TOKEN));
    let r = admin.send(
        "POST",
        "/api/v1/namespaces/kube-system/serviceaccounts/calico-cni-plugin/token",
        &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 86400}}),
    );
    assert_eq!(r.status, 201, "{}", r.message());
    let tr = r.json();
    assert_eq!(tr["kind"], "TokenRequest");
    let token = tr["status"]["token"].as_str().unwrap().to_string();
    assert_eq!(token.split('.').count(), 3);
    // The token is the service account, with its bindings.
    let mut sa = Client::new(&api, Some(&token));
    assert_eq!(sa.get(&format!("{V1}/ippools")).status, 200);
    assert_eq!(sa.get("/api/v1/pods").status, 403);
    let r = admin.send(
        "POST",
        "/api/v1/namespaces/kube-system/serviceaccounts/nope/token",
        &json!({}),
    );
    assert_eq!(r.message(), "serviceaccounts \"nope\" not found");
    // Plain http: clients send no credentials there, so requests are anonymous.
    let plain = KubeApi::start(KubeApiOptions {
        https: false,
        ..KubeApiOptions::default()
    });
    assert!(plain.url().starts_with("http://127.0.0.1:"));
    let mut anon = Client::new(&plain, None);
    assert_eq!(anon.get("/version").status, 200);
    assert_eq!(anon.get("/api").status, 200);
    assert_eq!(
        anon.get(&format!("{V1}/clusterinformations/default"))
            .status,
        403
    );
    let kc = plain.write_kubeconfig(&testkit::temp_dir().path().join("kc"), CNI_TOKEN);
    let _ = kc;
    assert_eq!(
        Client::new(&plain, Some(ADMIN_TOKEN))
            .get("/api/v1/namespaces")
            .json()["items"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn calicos_kubeconfig_shape() {
    let api = start();
    let dir = testkit::temp_dir();
    let kc =
        std::fs::read_to_string(api.write_kubeconfig(&dir.path().join("calico-kubeconfig"), "tok"))
            .unwrap();
    let ca = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        std::fs::read(api.ca_pem()).unwrap(),
    );
    assert_eq!(
        kc,
        format!(
            "# Kubeconfig file for Calico CNI plugin.\napiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\nusers:\n- name: calico\n  user:\n    token: tok\ncontexts:\n- name: calico-context\n  context:\n    cluster: local\n    user: calico\ncurrent-context: calico-context\n",
            api.url()
        )
    );
}

#[test]
fn the_kube_standin_binary() {
    let dir = testkit::temp_dir();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kube-standin"))
        .args(["--dir", dir.path().to_str().unwrap(), "--groups", "both"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_string();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("url"))
            .unwrap()
            .trim(),
        url
    );
    let ca = dir.path().join("ca.pem");
    for f in ["admin.kubeconfig", "cni.kubeconfig"] {
        let kc = std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert!(kc.contains(&format!("server: {url}")), "{kc}");
    }
    assert!(std::fs::read_to_string(dir.path().join("cni.kubeconfig"))
        .unwrap()
        .contains(CNI_TOKEN));
    let mut admin = Client::to(&url, &ca, Some(ADMIN_TOKEN));
    let groups = admin.get("/apis").json()["groups"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(groups, 2);
    // Faults and request records from another process.
    let r = admin.send(
        "POST",
        "/standin/faults",
        &json!({"method": "GET", "pathContains": "/version",
                "action": {"status": 503, "reason": "ServiceUnavailable", "message": "not now"}, "times": 1}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let mut cni = Client::to(&url, &ca, Some(CNI_TOKEN));
    assert_eq!(cni.get("/version").status, 503);
    assert_eq!(cni.get("/version").status, 200);
    assert_eq!(cni.get("/standin/requests").status, 403, "admin only");
    let recs = admin.get("/standin/requests").json();
    let lines: Vec<(String, String, u64, String)> = recs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().into(),
                r["path"].as_str().unwrap().into(),
                r["status"].as_u64().unwrap(),
                r["user"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            ("GET".into(), "/apis".into(), 200, ADMIN_USER.into()),
            ("GET".into(), "/version".into(), 503, CNI_USER.into()),
            ("GET".into(), "/version".into(), 200, CNI_USER.into()),
        ]
    );
    assert_eq!(
        admin.send("DELETE", "/standin/requests", &json!({})).status,
        200
    );
    assert_eq!(admin.get("/standin/requests").json(), json!([]));
    // SIGTERM stops it.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success());
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "kube-standin did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn http_details_chunked_bodies_keep_alive_head_and_media_types() {
    let api = KubeApi::start(KubeApiOptions {
        https: false,
        ..KubeApiOptions::default()
    });
    api.add_token("t", "writer", vec![Rule::new(&["*"], &["*"], &["*"])]);
    let addr = api.url().trim_start_matches("http://").to_string();
    let tcp = TcpStream::connect(&addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = tcp.try_clone().unwrap();
    let mut r = BufReader::new(tcp);
    // A chunked POST after `Expect: 100-continue`, then more requests on the same connection.
    let body = handle("chunked").to_string();
    let (a, b) = body.split_at(body.len() / 2);
    write!(
        w,
        "POST {V1}/ipamhandles HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    let mut cont = String::new();
    r.read_line(&mut cont).unwrap();
    assert_eq!(cont, "HTTP/1.1 100 Continue\r\n");
    r.read_line(&mut cont).unwrap();
    write!(
        w,
        "{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    )
    .unwrap();
    let resp = read_response(&mut r).unwrap();
    assert_eq!(resp.status, 201, "{}", String::from_utf8_lossy(&resp.body));
    for _ in 0..20 {
        write!(
            w,
            "GET {V1}/ipamhandles/chunked HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n"
        )
        .unwrap();
        assert_eq!(read_response(&mut r).unwrap().status, 200);
    }
    // HEAD: the headers of a GET, no body.
    write!(
        w,
        "HEAD {V1}/ipamhandles/chunked HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n"
    )
    .unwrap();
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"));
    let mut len = 0;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        if h == "\r\n" {
            break;
        }
        if let Some(v) = h.strip_prefix("Content-Length: ") {
            len = v.trim().parse().unwrap();
        }
    }
    assert!(len > 0);
    // The connection is still in step: the next response is the next request's.
    write!(
        w,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let last = read_response(&mut r).unwrap();
    assert_eq!((last.status, last.body.as_slice()), (200, &b"ok"[..]));
    assert_eq!(last.header("Connection"), Some("close"));
    // Bodies must be JSON.
    let mut c = Client::new(&api, Some("t"));
    let r = c.request(
        "POST",
        &format!("{V1}/ipamhandles"),
        Some("application/vnd.kubernetes.protobuf"),
        Some(b"x"),
    );
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (415, json!("UnsupportedMediaType"))
    );
    let r = c.request(
        "POST",
        &format!("{V1}/ipamhandles"),
        Some("application/json"),
        Some(b"{not json"),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        c.request(
            "PUT",
            &format!("{V1}/ipamhandles"),
            Some("application/json"),
            Some(b"{}")
        )
        .status,
        405
    );
}

/// Runs `f` on a thread in the network namespace at `path`.
fn in_netns<T: Send + 'static>(
    path: std::path::PathBuf,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        let ns = std::fs::File::open(&path).unwrap();
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
    .join()
    .unwrap()
}

#[test]
fn serves_in_the_network_namespace_it_was_started_in() {
    testkit::require_root();
    let ns = testkit::TempNetns::new();
    ns.ip(&["link", "set", "lo", "up"]);
    let path = ns.path().to_path_buf();
    let api = in_netns(path.clone(), || KubeApi::start(KubeApiOptions::default()));
    // Served from the connection threads while the starting thread is gone.
    let (url, ca) = (api.url(), api.ca_pem().to_path_buf());
    let status = in_netns(path, move || {
        Client::to(&url, &ca, Some(ADMIN_TOKEN))
            .get("/version")
            .status
    });
    assert_eq!(status, 200);
    // Nothing listens on that port in this test's own namespace.
    let err = TcpStream::connect(format!("127.0.0.1:{}", api.port())).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

// ---------------------------------------------------------------------------------------------
// TLS from the test's own PKI, client certificates.

/// A new test PKI (`testkit::make_pki`) in a fresh directory under `dir`.
fn new_pki(dir: &std::path::Path, name: &str) -> TlsFiles {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    testkit::make_pki(&d)
}

#[test]
fn serves_the_certificate_of_the_tests_pki() {
    let dir = testkit::temp_dir();
    let ours = new_pki(dir.path(), "ours");
    let other = new_pki(dir.path(), "other");
    let api = KubeApi::start(KubeApiOptions {
        tls: Some(ours.clone()),
        ..KubeApiOptions::default()
    });
    assert_eq!(api.ca_pem(), ours.ca.as_path());
    let r = Client::to(&api.url(), &ours.ca, Some(ADMIN_TOKEN)).get("/api/v1/namespaces");
    assert_eq!(r.status, 200);
    // The kubeconfig carries that CA.
    let kc =
        std::fs::read_to_string(api.write_kubeconfig(&dir.path().join("kc"), CNI_TOKEN)).unwrap();
    let ca_data = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        std::fs::read(&ours.ca).unwrap(),
    );
    assert!(
        kc.contains(&format!("certificate-authority-data: {ca_data}\n")),
        "{kc}"
    );
    // A client that trusts another CA (same name, other key) refuses the server before any
    // request; the server's own generated PKI is not what it serves.
    let err = Client::to(&api.url(), &other.ca, Some(ADMIN_TOKEN))
        .try_request("GET", "/version", None, None)
        .err()
        .expect("the handshake fails");
    assert!(
        err.to_string().starts_with("invalid peer certificate"),
        "{err}"
    );
    let lines: Vec<String> = api.requests().iter().map(|r| r.line()).collect();
    assert_eq!(lines, vec!["GET /api/v1/namespaces"]);
    // No client CA: no client certificates asked for, every connection recorded without one.
    assert_eq!(api.client_certs(), vec![false]);
}

#[test]
fn client_certificates_authenticate_as_their_cn_with_o_groups() {
    let dir = testkit::temp_dir();
    let pki = new_pki(dir.path(), "pki");
    let d = pki.ca.parent().unwrap();
    let alice = testkit::issue(d, "alice", "/CN=alice/O=devs/O=ops");
    let root = testkit::issue(d, "root", "/CN=kubernetes-admin/O=system:masters");
    let no_cn = testkit::issue(d, "nocn", "/O=ops");
    let stranger = testkit::issue(
        new_pki(dir.path(), "other").ca.parent().unwrap(),
        "stranger",
        "/CN=alice/O=ops",
    );
    let api = KubeApi::start(KubeApiOptions {
        tls: Some(pki.clone()),
        client_ca: Some(pki.ca.clone()),
        ..KubeApiOptions::default()
    });
    let url = api.url();
    let client = |cert: Option<&TlsFiles>, token: Option<&str>| {
        Client::with_cert(&url, &pki.ca, cert, token)
    };
    let pods = "/api/v1/namespaces/default/pods";
    let last = |api: &KubeApi| api.requests().pop().unwrap();

    // The CN is the user: no rules yet.
    let mut c = client(Some(&alice), None);
    let r = c.get(pods);
    assert_eq!(r.status, 403);
    assert_eq!(
        r.message(),
        "pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
    );
    let rec = last(&api);
    assert_eq!(
        (rec.user.as_str(), rec.client_cert, rec.token.as_deref()),
        ("alice", true, None)
    );
    // The O values are the groups.
    api.bind_group("ops", vec![Rule::new(&["list"], &[""], &["pods"])]);
    assert_eq!(c.get(pods).status, 200);
    api.bind_group("devs", vec![Rule::new(&["get"], &[""], &["namespaces"])]);
    assert_eq!(c.get("/api/v1/namespaces/default").status, 200);
    assert_eq!(c.get("/api/v1/nodes").status, 403);
    // x509 comes before tokens: with a certificate, a token is not even checked.
    for token in [ADMIN_TOKEN, "no-such-token"] {
        let mut c = client(Some(&alice), Some(token));
        let r = c.get("/api/v1/nodes");
        assert_eq!(r.status, 403, "{}", r.message());
        assert!(r.message().contains("User \"alice\""), "{}", r.message());
        assert_eq!(c.get(pods).status, 200);
        let rec = last(&api);
        assert_eq!(
            (rec.user.as_str(), rec.client_cert, rec.token.as_deref()),
            ("alice", true, Some(token))
        );
    }
    // O=system:masters is the admin group.
    let mut c = client(Some(&root), None);
    assert_eq!(c.get("/api/v1/nodes").status, 200);
    assert_eq!(last(&api).user, "kubernetes-admin");
    // A certificate without a CN authenticates nobody: the token decides, or anonymous.
    let mut c = client(Some(&no_cn), Some(CNI_TOKEN));
    assert_eq!(c.get("/api/v1/namespaces/default").status, 200);
    let rec = last(&api);
    assert_eq!((rec.user.as_str(), rec.client_cert), (CNI_USER, true));
    let mut c = client(Some(&no_cn), None);
    assert_eq!(c.get(pods).status, 403);
    assert_eq!(last(&api).user, "system:anonymous");
    // Without a certificate (optional here): tokens as usual, a bad one is 401.
    let mut c = client(None, Some(ADMIN_TOKEN));
    assert_eq!(c.get("/api/v1/nodes").status, 200);
    let rec = last(&api);
    assert_eq!(
        (rec.user.as_str(), rec.client_cert, rec.token.as_deref()),
        (ADMIN_USER, false, Some(ADMIN_TOKEN))
    );
    let mut c = client(None, Some("no-such-token"));
    assert_eq!(c.get(pods).status, 401);
    assert_eq!(last(&api).user, "");
    // A certificate from another CA fails the handshake: no request, no connection recorded.
    let before = api.requests().len();
    let err = client(Some(&stranger), Some(ADMIN_TOKEN))
        .try_request("GET", pods, None, None)
        .err()
        .expect("the server refuses the certificate");
    // (Both CAs are named `cnitest-ca`: the signature check fails, rustls's alert for it.)
    assert_eq!(err.to_string(), "received fatal alert: DecryptError");
    assert_eq!(api.requests().len(), before);
    // One entry per connection whose handshake completed, in order.
    assert_eq!(
        api.client_certs(),
        vec![true, true, true, true, true, true, false, false]
    );
    // The record's JSON (kube-standin's /standin/requests) says it too.
    let j = api.requests()[0].to_json();
    assert_eq!(
        (&j["user"], &j["clientCert"], &j["token"]),
        (&json!("alice"), &json!(true), &Value::Null)
    );
}

#[test]
fn required_client_certificates() {
    let dir = testkit::temp_dir();
    let pki = new_pki(dir.path(), "pki");
    let cni = testkit::issue(pki.ca.parent().unwrap(), "cni", "/CN=calico-cni-plugin");
    let api = KubeApi::start(KubeApiOptions {
        tls: Some(pki.clone()),
        client_ca: Some(pki.ca.clone()),
        require_client_cert: true,
        ..KubeApiOptions::default()
    });
    api.bind("calico-cni-plugin", Rule::calico_cni_plugin());
    // No certificate: the handshake fails, whatever the token.
    let err = Client::with_cert(&api.url(), &pki.ca, None, Some(ADMIN_TOKEN))
        .try_request("GET", "/version", None, None)
        .err()
        .expect("the server requires a certificate");
    assert_eq!(err.to_string(), "received fatal alert: CertificateRequired");
    assert!(api.requests().is_empty());
    assert!(api.client_certs().is_empty());
    // With one: served as its CN, with that user's bindings.
    let mut c = Client::with_cert(&api.url(), &pki.ca, Some(&cni), None);
    assert_eq!(c.get("/api/v1/namespaces/kube-system").status, 200);
    assert_eq!(c.get("/api/v1/namespaces").status, 403);
    assert_eq!(api.client_certs(), vec![true]);
    let users: Vec<String> = api.requests().into_iter().map(|r| r.user).collect();
    assert_eq!(users, vec!["calico-cni-plugin", "calico-cni-plugin"]);
}

#[test]
fn finalizers_hold_a_deleted_object_and_kubevirt_kinds_are_served_on_request() {
    let plain = start();
    let mut c = Client::new(&plain, Some(ADMIN_TOKEN));
    assert_eq!(
        c.get("/apis/kubevirt.io/v1/namespaces/default/virtualmachines")
            .status,
        404,
        "KubeVirt only where asked for"
    );
    let api = KubeApi::start(KubeApiOptions {
        kubevirt: true,
        ..KubeApiOptions::default()
    });
    let mut c = Client::new(&api, Some(ADMIN_TOKEN));
    api.create(namespace("vms"));
    let vms = "/apis/kubevirt.io/v1/namespaces/vms/virtualmachines";
    let r = c.send(
        "POST",
        vms,
        &json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
                "metadata": {"name": "vm1", "finalizers": ["kubevirt.io/virtualMachineControllerFinalize"]},
                "spec": {"running": true}}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // DELETE marks it: 200 with the object, which stays readable, deletionTimestamp set.
    let r = c.send("DELETE", &format!("{vms}/vm1"), &json!({}));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let marked = c.get(&format!("{vms}/vm1")).json();
    assert!(
        marked["metadata"]["deletionTimestamp"].is_string(),
        "{marked}"
    );
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 0);
    // A second DELETE changes nothing.
    c.send("DELETE", &format!("{vms}/vm1"), &json!({}));
    assert_eq!(rv(&c.get(&format!("{vms}/vm1")).json()), rv(&marked));
    // Removing the last finalizer completes the deletion.
    let r = c.patch(
        &format!("{vms}/vm1"),
        "application/merge-patch+json",
        r#"{"metadata":{"finalizers":null}}"#,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(c.get(&format!("{vms}/vm1")).status, 404);
    // The CNI's role may read VMs and VMIs, not write them.
    let mut cni = Client::new(&api, Some(CNI_TOKEN));
    assert_eq!(cni.get(&format!("{vms}/vm1")).status, 404);
    let r = cni.send(
        "POST",
        vms,
        &json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
                "metadata": {"name": "vm2"}, "spec": {}}),
    );
    assert_eq!(r.status, 403);
}
