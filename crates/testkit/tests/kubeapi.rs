//! The stand-in Kubernetes API server: raw protocol tests over HTTPS (a small keep-alive client
//! below), kubectl against it, concurrency, faults and the `kube-standin` binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use testkit::{KubeApi, KubeApiOptions, Rule, ADMIN_TOKEN, CNI_TOKEN, CNI_USER};

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
}

impl Client {
    fn new(api: &KubeApi, token: Option<&str>) -> Client {
        let url = api.url();
        let https = url.starts_with("https://");
        let tls = https.then(|| {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(api.ca_pem()).unwrap() {
                roots.add(c.unwrap()).unwrap();
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            Arc::new(
                rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .unwrap()
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            )
        });
        Client {
            addr: url.split("://").nth(1).unwrap().to_string(),
            tls,
            token: token.map(String::from),
            conn: None,
            timeout: None,
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
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n",
            self.addr
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
