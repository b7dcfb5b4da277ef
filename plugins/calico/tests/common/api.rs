//! A stand-in for the Kubernetes API server (no apiserver can be installed here): a tiny HTTP
//! server on the test host netns's loopback that answers GETs for the objects a test put in
//! it (Namespaces, Pods, Nodes) and Kubernetes' 404 Status otherwise. It speaks just enough
//! HTTP/1.1 for the plugin's client (one request per connection).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::Host;

pub struct FakeApi {
    pub port: u16,
    objects: Arc<Mutex<HashMap<String, Value>>>,
    /// Paths requested, in order, with the Authorization header seen.
    pub requests: Arc<Mutex<Vec<(String, String)>>>,
}

impl FakeApi {
    pub fn start(h: &Host) -> FakeApi {
        let listener = h
            .netns
            .run(|| TcpListener::bind("127.0.0.1:0").unwrap())
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let objects: Arc<Mutex<HashMap<String, Value>>> = Arc::default();
        let requests: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let (objs, reqs) = (objects.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut r = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
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
                let mut s = stream;
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(&body);
            }
        });
        FakeApi {
            port,
            objects,
            requests,
        }
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
