//! The Kubernetes datastore (KDD, `datastore_type: kubernetes`): Calico's objects as the
//! Kubernetes API holds them, behind the same [`Kv`] interface as etcd and the local store,
//! as libcalico-go's KDD client serves the same backend interface as its etcd client.
//!
//! The keys stay Calico's etcd paths; [`route`] says which API object each is:
//!
//! | key | API object |
//! |---|---|
//! | blocks, affinities, handles, `/calico/ipam/v2/config` | `ipamblocks`, `blockaffinities`, `ipamhandles`, `ipamconfigs` custom resources ([`crd`]) |
//! | v3 resources (IPPool, IPReservation, ClusterInformation, ...) | custom resources of the same plural |
//! | WorkloadEndpoints | Pods ([`pod`]: read = the pod, write = its annotations) |
//! | Nodes | Kubernetes Nodes ([`node`]) |
//! | Profiles | derived from Namespaces and ServiceAccounts ([`profile`]), read-only |
//!
//! The revision is the object's `resourceVersion`, so compare-and-swap is a `PUT` with the
//! revision read and a lost race is a 409 Conflict. Blocks, affinities and handles are
//! deleted as Calico deletes them: `deleted: true` written with the revision (the
//! compare-and-delete), then a `DELETE` with a UID precondition; one read with `deleted: true`
//! (a delete cut short) is finished and reads as absent. The API has no multi-object
//! transaction: [`Kv::txn`] applies its writes in order and undoes the applied ones when one
//! fails — Calico's own handle-then-block order with its handle decrement on a failed block
//! write. Reads are not batched (nothing to batch them with); each is one request.

mod crd;
mod errors;
mod group;
mod meta;
mod node;
mod pod;
mod profile;
mod route;
mod txn;
mod uid;

pub use crd::{LABEL_AFFINITY_TYPE, LABEL_HOSTNAME_HASH, LABEL_IP_VERSION, METADATA_ANNOTATION};
pub use errors::to_datastore as errors_to_datastore;
pub use group::ApiGroup;
pub use meta::string_map;
pub use pod::{
    container_port, endpoint_labels, ports, profiles, service_account, ANN_CONTAINER_ID,
    ANN_POD_IP, ANN_POD_IPS, LABEL_NAMESPACE, LABEL_ORCHESTRATOR, LABEL_SERVICE_ACCOUNT,
};

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use kubeclient::{Client, PatchType};
use serde_json::{json, Value};

use crate::batch::{Read, Write};
use crate::error::{DatastoreError, Result};
use crate::kv::{Kv, KvPair, Revision};
use crate::resources::{Node, WorkloadEndpoint};
use crd::{Kind, WriteMeta};
use route::{Listing, Target};

/// Page size of lists (client-go's pager default).
const PAGE: usize = 500;

/// What was last read or written at a key: enough to send the UID back, undo a write, or
/// soft-delete without reading again.
#[derive(Debug, Clone)]
struct Seen {
    revision: Revision,
    uid: String,
    value: Vec<u8>,
}

pub struct KubeStore {
    client: Client,
    sources: kubeclient::Sources,
    /// `calico_api_group`, when pinned.
    pinned: Option<ApiGroup>,
    discovered: OnceLock<ApiGroup>,
    seen: Mutex<HashMap<String, Seen>>,
}

fn invalid_key(key: &str) -> DatastoreError {
    DatastoreError::InvalidKey {
        key: key.to_string(),
        reason: "not a key the Kubernetes datastore holds",
    }
}

fn unsupported(op: &str, key: &str) -> DatastoreError {
    DatastoreError::Request(format!("operation {op} is not supported on {key}"))
}

fn revision_of(obj: &Value) -> Result<Revision> {
    let rv = obj
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    rv.parse().map_err(|_| {
        DatastoreError::Request(format!(
            "the Kubernetes API returned resourceVersion {rv:?}, not a revision number"
        ))
    })
}

fn uid_of(obj: &Value) -> String {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

impl KubeStore {
    /// A store over `client` (made from `sources`); `api_group` is `calico_api_group`
    /// (empty: discover it).
    pub fn new(client: Client, sources: kubeclient::Sources, api_group: &str) -> KubeStore {
        KubeStore {
            client,
            sources,
            pinned: (!api_group.is_empty()).then(|| ApiGroup::parse(api_group)),
            discovered: OnceLock::new(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// The API client (for the plugins' own reads through the same connection).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The group of Calico's resources: pinned, or discovered once per process.
    pub fn group(&self) -> ApiGroup {
        if let Some(g) = self.pinned {
            return g;
        }
        *self
            .discovered
            .get_or_init(|| match self.client.get("/apis") {
                Ok(groups) => ApiGroup::from_discovery(&groups),
                // Calico: a failed discovery means v1.
                Err(_) => ApiGroup::V1,
            })
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<String, Seen>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remember(&self, path: &str, revision: Revision, uid: String, value: Vec<u8>) {
        self.seen().insert(
            path.to_string(),
            Seen {
                revision,
                uid,
                value,
            },
        );
    }

    /// What was seen at `path` at exactly `revision`.
    fn seen_at(&self, path: &str, revision: Revision) -> Option<Seen> {
        self.seen()
            .get(path)
            .filter(|s| s.revision == revision)
            .cloned()
    }

    /// What a delete of `key` at `revision` deletes: this process's last read of it when that
    /// is at the revision, else the object as `read` finds it now — absent is NotFound, at
    /// another revision a Conflict.
    fn to_delete(
        &self,
        key: &str,
        revision: Option<Revision>,
        read: impl FnOnce() -> Result<Option<KvPair>>,
    ) -> Result<Seen> {
        if let Some(seen) = revision.and_then(|r| self.seen_at(key, r)) {
            return Ok(seen);
        }
        let pair = read()?.ok_or_else(|| DatastoreError::NotFound {
            identifier: key.to_string(),
        })?;
        if revision.is_some_and(|r| r != pair.revision) {
            return Err(DatastoreError::Conflict {
                identifier: key.to_string(),
                current: Some(Box::new(pair)),
            });
        }
        Ok(self.seen_at(key, pair.revision).expect("just read"))
    }

    fn err(&self, e: kubeclient::Error, key: &str) -> DatastoreError {
        errors::to_datastore(e, key)
    }

    // ---- custom resources ------------------------------------------------------------

    fn crd_get(&self, key: &str, kind: &Kind, name: &str) -> Result<Option<KvPair>> {
        let group = self.group();
        let obj = match self.client.get_opt(&kind.path(group, name)) {
            Ok(Some(o)) => o,
            Ok(None) => return Ok(None),
            Err(e) => return Err(self.err(e, key)),
        };
        let d = crd::decode(kind, group, &obj)?;
        if d.deleted && kind.soft_deleted() {
            // A delete that stopped half-way: finish it, as Calico's readers do.
            let _ = self.hard_delete(key, kind, name, &d.uid);
            return Ok(None);
        }
        self.remember(key, d.revision, d.uid, d.value.clone());
        Ok(Some(KvPair {
            key: key.to_string(),
            value: d.value,
            revision: d.revision,
        }))
    }

    /// POST or PUT a custom resource; returns the new revision.
    fn crd_write(
        &self,
        key: &str,
        target: &Target,
        kind: &Kind,
        name: &str,
        value: &[u8],
        revision: Option<Revision>,
    ) -> Result<Revision> {
        let group = self.group();
        let uid = revision.and_then(|r| self.seen_at(key, r)).map(|s| s.uid);
        let body = crd::encode(
            kind,
            group,
            target,
            name,
            value,
            &WriteMeta {
                resource_version: revision,
                // Calico sends the UID with handle updates; the server checks it.
                uid: if *kind == Kind::Handle { uid } else { None },
            },
        )?;
        let (method, path) = match revision {
            None => ("POST", group.collection(kind.plural(group))),
            Some(_) => ("PUT", kind.path(group, name)),
        };
        let obj = self
            .client
            .call(method, &path, Some(("application/json", &body)))
            .map_err(|e| self.err(e, key))?;
        let d = crd::decode(kind, group, &obj)?;
        self.remember(key, d.revision, d.uid, d.value);
        Ok(d.revision)
    }

    /// The last step of a delete: `DELETE` with the UID as the only precondition (a UID that no
    /// longer matches means somebody else deleted it and made it anew: not ours to delete).
    fn hard_delete(&self, key: &str, kind: &Kind, name: &str, uid: &str) -> Result<()> {
        let group = self.group();
        let options = json!({ "kind": "DeleteOptions", "apiVersion": group.api_version(),
                              "preconditions": { "uid": uid } });
        match self.client.delete(&kind.path(group, name), Some(&options)) {
            Ok(_) => {
                self.seen().remove(key);
                Ok(())
            }
            // Gone already, or (a UID precondition that fails is a 409 whose text Calico's
            // mapping does not recognise on DELETE) deleted and made anew by someone else:
            // either way not ours to delete any more.
            Err(e) => match self.err(e, key) {
                DatastoreError::NotFound { .. } | DatastoreError::Conflict { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    fn crd_delete(
        &self,
        key: &str,
        target: &Target,
        kind: &Kind,
        name: &str,
        revision: Option<Revision>,
    ) -> Result<KvPair> {
        let current = self.to_delete(key, revision, || self.crd_get(key, kind, name))?;
        let old = KvPair {
            key: key.to_string(),
            value: current.value.clone(),
            revision: current.revision,
        };
        if kind.soft_deleted() {
            // The compare-and-delete: `deleted: true` at the revision read.
            let marked = crd::mark_deleted(kind, &current.value)?;
            self.crd_write(key, target, kind, name, &marked, Some(current.revision))?;
            let uid = self
                .seen()
                .get(key)
                .map(|s| s.uid.clone())
                .unwrap_or(current.uid);
            self.hard_delete(key, kind, name, &uid)?;
            return Ok(old);
        }
        let group = self.group();
        let options = json!({ "kind": "DeleteOptions", "apiVersion": group.api_version(),
                              "preconditions": { "resourceVersion": current.revision.to_string() } });
        self.client
            .delete(&kind.path(group, name), Some(&options))
            .map_err(|e| self.err(e, key))?;
        self.seen().remove(key);
        Ok(old)
    }

    /// Every item of a collection, page by page.
    fn list_all(&self, path: &str, query: &str) -> Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut cont = String::new();
        loop {
            let mut q = format!("limit={PAGE}");
            if !query.is_empty() {
                q = format!("{query}&{q}");
            }
            if !cont.is_empty() {
                q.push_str(&format!("&continue={}", percent_encode(&cont)));
            }
            let page = self
                .client
                .get(&format!("{path}?{q}"))
                .map_err(|e| self.err(e, path))?;
            items.extend(
                page.get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
            cont = page
                .pointer("/metadata/continue")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if cont.is_empty() {
                return Ok(items);
            }
        }
    }

    fn crd_list(&self, kind: &Kind, query: &str) -> Result<Vec<KvPair>> {
        let group = self.group();
        let items = self.list_all(&group.collection(kind.plural(group)), query)?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let d = crd::decode(kind, group, &item)?;
            // Affinity listings drop soft-deleted ones (blocks and handles lists do not).
            if d.deleted && *kind == Kind::Affinity {
                continue;
            }
            self.remember(&d.path, d.revision, d.uid, d.value.clone());
            out.push(KvPair {
                key: d.path,
                value: d.value,
                revision: d.revision,
            });
        }
        Ok(out)
    }

    // ---- pods as workload endpoints ------------------------------------------------------

    fn pod_path(namespace: &str, pod: &str) -> String {
        format!("/api/v1/namespaces/{namespace}/pods/{pod}")
    }

    fn wep_pair(&self, pod: &Value) -> Result<(String, KvPair)> {
        let wep = pod::to_wep(pod).map_err(DatastoreError::Request)?;
        let key = crate::keys::ResourceKey::<crate::resources::WorkloadEndpointSpec>::of(&wep);
        let path = crate::keys::Key::path(&key);
        let value = libcni::json::to_compact(&wep).into_bytes();
        let revision = revision_of(pod)?;
        self.remember(&path, revision, uid_of(pod), value.clone());
        Ok((
            path.clone(),
            KvPair {
                key: path,
                value,
                revision,
            },
        ))
    }

    /// The endpoint named `name`: its pod, if scheduled, not on the host network, and the
    /// endpoint name is the one Calico derives from it (always `eth0`).
    fn wep_get(&self, key: &str, namespace: &str, name: &str) -> Result<Option<KvPair>> {
        let Some((_, pod_name)) = pod::pod_of_wep_name(name) else {
            return Ok(None);
        };
        let pod = match self.client.get_opt(&Self::pod_path(namespace, &pod_name)) {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(None),
            Err(e) => return Err(self.err(e, key)),
        };
        if !pod::is_valid(&pod) {
            return Ok(None);
        }
        let (path, pair) = self.wep_pair(&pod)?;
        Ok((path == key).then_some(pair))
    }

    /// Endpoints by name prefix: the one pod a `<node>-k8s-<pod>-` prefix names (read as
    /// Calico's "force get" list mode: no validity filter), else the pods of a namespace or
    /// of all namespaces.
    fn wep_list(&self, namespace: Option<&str>, prefix: &str) -> Result<Vec<KvPair>> {
        if !prefix.is_empty() {
            // A name prefix names one workload: a pod, or nothing KDD can hold (Calico: a
            // `cni`-orchestrated name does not exist here).
            let (Some(ns), Some((_, pod_name))) = (namespace, pod::pod_of_wep_name(prefix)) else {
                return Err(DatastoreError::NotFound {
                    identifier: format!("WorkloadEndpoint({}/{prefix})", namespace.unwrap_or("")),
                });
            };
            let pod = match self.client.get_opt(&Self::pod_path(ns, &pod_name)) {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(Vec::new()),
                Err(e) => return Err(self.err(e, prefix)),
            };
            return Ok(vec![self.wep_pair(&pod)?.1]);
        }
        let path = match namespace {
            Some(ns) => format!("/api/v1/namespaces/{ns}/pods"),
            None => "/api/v1/pods".to_string(),
        };
        let mut out = Vec::new();
        for pod in self.list_all(&path, "")? {
            if pod::is_valid(&pod) {
                out.push(self.wep_pair(&pod)?.1);
            }
        }
        Ok(out)
    }

    /// Writing an endpoint = patching its pod's annotations on the status subresource.
    fn wep_write(&self, key: &str, namespace: &str, value: &[u8]) -> Result<Revision> {
        let wep: WorkloadEndpoint =
            serde_json::from_slice(value).map_err(|e| DatastoreError::Decode {
                key: key.to_string(),
                source: e,
            })?;
        let pod_name = if wep.spec.pod.is_empty() {
            pod::pod_of_wep_name(&wep.metadata.name)
                .map(|(_, p)| p)
                .ok_or_else(|| DatastoreError::NotFound {
                    identifier: key.to_string(),
                })?
        } else {
            wep.spec.pod.clone()
        };
        let pod = self
            .client
            .patch(
                &format!("{}/status", Self::pod_path(namespace, &pod_name)),
                PatchType::StrategicMerge,
                &pod::add_patch(&wep),
            )
            .map_err(|e| self.err(e, key))?;
        let revision = revision_of(&pod)?;
        self.remember(key, revision, uid_of(&pod), value.to_vec());
        Ok(revision)
    }

    fn wep_delete(
        &self,
        key: &str,
        namespace: &str,
        name: &str,
        revision: Option<Revision>,
    ) -> Result<KvPair> {
        let seen = self.to_delete(key, revision, || self.wep_get(key, namespace, name))?;
        let (_, pod_name) = pod::pod_of_wep_name(name).ok_or_else(|| invalid_key(key))?;
        self.client
            .patch(
                &format!("{}/status", Self::pod_path(namespace, &pod_name)),
                PatchType::StrategicMerge,
                &pod::del_patch(&seen.revision.to_string(), &seen.uid),
            )
            .map_err(|e| self.err(e, key))?;
        self.seen().remove(key);
        Ok(KvPair {
            key: key.to_string(),
            value: seen.value,
            revision: seen.revision,
        })
    }

    // ---- nodes and profiles -------------------------------------------------------------

    fn node_get(&self, key: &str, name: &str) -> Result<Option<KvPair>> {
        let node = match self.client.get_opt(&format!("/api/v1/nodes/{name}")) {
            Ok(Some(n)) => n,
            Ok(None) => return Ok(None),
            Err(e) => return Err(self.err(e, key)),
        };
        Ok(Some(self.node_pair(&node)?))
    }

    fn node_pair(&self, node: &Value) -> Result<KvPair> {
        let calico = node::to_calico(node);
        let name = calico["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let key = format!("{}nodes/{name}", crate::keys::RESOURCES_PREFIX);
        let value = libcni::json::to_compact(&calico).into_bytes();
        let revision = revision_of(node)?;
        self.remember(&key, revision, uid_of(node), value.clone());
        Ok(KvPair {
            key,
            value,
            revision,
        })
    }

    fn node_update(
        &self,
        key: &str,
        name: &str,
        value: &[u8],
        revision: Option<Revision>,
    ) -> Result<Revision> {
        let calico: Node = serde_json::from_slice(value).map_err(|e| DatastoreError::Decode {
            key: key.to_string(),
            source: e,
        })?;
        let path = format!("/api/v1/nodes/{name}");
        let mut k8s = self.client.get(&path).map_err(|e| self.err(e, key))?;
        if revision.is_some_and(|r| Some(r) != revision_of(&k8s).ok()) {
            return Err(DatastoreError::Conflict {
                identifier: key.to_string(),
                current: None,
            });
        }
        node::merge_into(&mut k8s, &calico).map_err(DatastoreError::Request)?;
        let stored = self.client.put(&path, &k8s).map_err(|e| self.err(e, key))?;
        Ok(self.node_pair(&stored)?.revision)
    }

    fn profile_get(&self, key: &str, name: &str) -> Result<Option<KvPair>> {
        let Some(source) = profile::Source::of(name) else {
            // Only kns./ksa. profiles exist in KDD (Calico: an invalid name).
            return Err(DatastoreError::Request(format!("Invalid name {name}")));
        };
        let obj = match self.client.get_opt(&source.api_path()) {
            Ok(Some(o)) => o,
            Ok(None) => return Ok(None),
            Err(e) => return Err(self.err(e, key)),
        };
        Ok(Some(KvPair {
            key: key.to_string(),
            value: libcni::json::to_compact(&profile::to_profile(&source, &obj)).into_bytes(),
            revision: revision_of(&obj)?,
        }))
    }

    fn profile_list(&self) -> Result<Vec<KvPair>> {
        let mut out = Vec::new();
        for ns in self.list_all("/api/v1/namespaces", "")? {
            let name = ns["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let p = profile::to_profile(&profile::Source::Namespace(name), &ns);
            out.push(self.profile_pair(&p, &ns)?);
        }
        for sa in self.list_all("/api/v1/serviceaccounts", "")? {
            let source = profile::Source::ServiceAccount {
                namespace: sa["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
                name: sa["metadata"]["name"].as_str().unwrap_or_default().into(),
            };
            let p = profile::to_profile(&source, &sa);
            out.push(self.profile_pair(&p, &sa)?);
        }
        Ok(out)
    }

    fn profile_pair(&self, profile: &Value, source: &Value) -> Result<KvPair> {
        Ok(KvPair {
            key: format!(
                "{}profiles/{}",
                crate::keys::RESOURCES_PREFIX,
                profile["metadata"]["name"].as_str().unwrap_or_default()
            ),
            value: libcni::json::to_compact(profile).into_bytes(),
            revision: revision_of(source)?,
        })
    }

    // ---- dispatch ---------------------------------------------------------------------------

    fn write(&self, key: &str, value: &[u8], revision: Option<Revision>) -> Result<Revision> {
        match routed(key)? {
            Routed::Crd(target, kind, name) => {
                self.crd_write(key, &target, &kind, &name, value, revision)
            }
            Routed::Derived {
                plural,
                namespace,
                name,
            } => match plural.as_str() {
                "workloadendpoints" => self.wep_write(key, &namespace, value),
                "nodes" if revision.is_some() => self.node_update(key, &name, value, revision),
                "nodes" => Err(unsupported("Create", key)),
                _ => Err(unsupported(
                    if revision.is_some() {
                        "Update"
                    } else {
                        "Create"
                    },
                    key,
                )),
            },
        }
    }
}

/// What a key names: a custom resource (its target, kind and name), or an object Calico
/// derives from a Kubernetes one (endpoints, nodes, profiles).
enum Routed {
    Crd(Target, Kind, String),
    Derived {
        plural: String,
        namespace: String,
        name: String,
    },
}

fn routed(key: &str) -> Result<Routed> {
    let target = route::target(key).ok_or_else(|| invalid_key(key))?;
    if let Some((kind, name)) = Kind::of(&target) {
        return Ok(Routed::Crd(target, kind, name));
    }
    match target {
        Target::Resource {
            plural,
            namespace,
            name,
        } => Ok(Routed::Derived {
            plural,
            namespace,
            name,
        }),
        // Kind::of names every other target.
        _ => Err(invalid_key(key)),
    }
}

/// Percent-encodes a `continue` token for a query string.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Kv for KubeStore {
    fn backend(&self) -> &'static str {
        crate::config::KUBERNETES
    }

    fn batches_reads(&self) -> bool {
        false
    }

    fn set_timeout(&self, after: Option<std::time::Duration>) {
        self.client.set_timeout(after);
    }

    fn derives_endpoints(&self) -> bool {
        true
    }

    fn upgrade_host(&self, host: &str) -> Result<()> {
        let selector = format!(
            "labelSelector={}",
            percent_encode(&format!("!{LABEL_AFFINITY_TYPE}"))
        );
        for pair in self.crd_list(&Kind::Affinity, &selector)? {
            let Some(Target::Affinity(key)) = route::target(&pair.key) else {
                continue;
            };
            if key.host != host {
                continue;
            }
            // Rewritten as is: the write adds the labels. A lost race is someone else's
            // (newer, labelled) write.
            let target = Target::Affinity(key.clone());
            let name = crate::names::affinity_name(&key.host, &key.cidr);
            match self.crd_write(
                &pair.key,
                &target,
                &Kind::Affinity,
                &name,
                &pair.value,
                Some(pair.revision),
            ) {
                Ok(_)
                | Err(DatastoreError::Conflict { .. })
                | Err(DatastoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn kube_client(&self) -> Option<(&Client, &kubeclient::Sources)> {
        Some((&self.client, &self.sources))
    }

    fn absence_cause(&self, key: &str) -> Option<String> {
        let Ok(Routed::Crd(_, kind, name)) = routed(key) else {
            return None;
        };
        let group = self.group();
        Some(format!(
            "{}.{} \"{name}\" not found",
            kind.plural(group),
            group.group()
        ))
    }

    fn get(&self, key: &str) -> Result<Option<KvPair>> {
        match routed(key)? {
            Routed::Crd(_, kind, name) => self.crd_get(key, &kind, &name),
            Routed::Derived {
                plural,
                namespace,
                name,
            } => match plural.as_str() {
                "workloadendpoints" => self.wep_get(key, &namespace, &name),
                "nodes" => self.node_get(key, &name),
                "profiles" => self.profile_get(key, &name),
                _ => Err(invalid_key(key)),
            },
        }
    }

    fn create(&self, key: &str, value: &[u8]) -> Result<Revision> {
        self.write(key, value, None)
    }

    fn update(&self, key: &str, value: &[u8], revision: Revision) -> Result<Revision> {
        self.write(key, value, Some(revision))
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<Revision> {
        match self.get(key)? {
            Some(cur) => self.update(key, value, cur.revision),
            None => self.create(key, value),
        }
    }

    fn delete(&self, key: &str, revision: Option<Revision>) -> Result<KvPair> {
        match routed(key)? {
            Routed::Crd(target, kind, name) => {
                self.crd_delete(key, &target, &kind, &name, revision)
            }
            Routed::Derived {
                plural,
                namespace,
                name,
            } if plural == "workloadendpoints" => self.wep_delete(key, &namespace, &name, revision),
            Routed::Derived { .. } => Err(unsupported("Delete", key)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<KvPair>> {
        let listing = route::listing(prefix).ok_or_else(|| invalid_key(prefix))?;
        let mut pairs = match &listing {
            Listing::Blocks => self.crd_list(&Kind::Block, "")?,
            Listing::Handles => self.crd_list(&Kind::Handle, "")?,
            Listing::Affinities {
                kind,
                host,
                version,
            } => {
                // Calico's selector, built from a map (so its keys are sorted).
                let mut sel = vec![format!("{LABEL_AFFINITY_TYPE}={}", kind.as_str())];
                if let Some(h) = host {
                    sel.push(format!(
                        "{LABEL_HOSTNAME_HASH}={}",
                        crate::names::hostname_hash(h)
                    ));
                }
                if let Some(v) = version {
                    sel.push(format!("{LABEL_IP_VERSION}={v}"));
                }
                self.crd_list(
                    &Kind::Affinity,
                    &format!("labelSelector={}", percent_encode(&sel.join(","))),
                )?
            }
            Listing::Resources {
                plural,
                namespace,
                name_prefix,
            } => match plural.as_str() {
                "workloadendpoints" => self.wep_list(namespace.as_deref(), name_prefix)?,
                "nodes" => self
                    .list_all("/api/v1/nodes", "")?
                    .iter()
                    .map(|n| self.node_pair(n))
                    .collect::<Result<_>>()?,
                "profiles" => self.profile_list()?,
                // The IPAM settings object is not listable in Calico's KDD client: the one
                // object there is, if any.
                "ipamconfigurations" => {
                    let key = format!(
                        "{}ipamconfigurations/default",
                        crate::keys::RESOURCES_PREFIX
                    );
                    self.get(&key)?.into_iter().collect()
                }
                p => self.crd_list(&Kind::Resource(p.to_string()), "")?,
            },
        };
        pairs.retain(|p| p.key.starts_with(prefix));
        pairs.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(pairs)
    }

    fn revision(&self) -> Result<Revision> {
        let group = self.group();
        let list = self
            .client
            .get(&format!(
                "{}?limit=1",
                group.collection("clusterinformations")
            ))
            .map_err(|e| self.err(e, "clusterinformations"))?;
        revision_of(&list)
    }

    fn read_many(&self, reads: &[Read]) -> Result<Vec<Vec<KvPair>>> {
        reads
            .iter()
            .map(|r| match r {
                Read::Key(k) => Ok(self.get(k)?.into_iter().collect()),
                Read::Prefix(p) => self.list(p),
            })
            .collect()
    }

    fn txn(&self, writes: &[Write]) -> Result<Revision> {
        txn::apply(self, writes)
    }
}
