//! Calico's objects as custom resources, in both directions: IPAMBlock, BlockAffinity,
//! IPAMHandle and IPAMConfig from the IPAM model values, and the v3 resources (IPPool,
//! IPReservation, ClusterInformation, ...) from their v3 objects — with Calico's names,
//! labels, field spellings and the `crd.projectcalico.org/v1` conventions (the
//! `projectcalico.org/metadata` annotation, UIDs bit-reversed, v1 affinities' string
//! `deleted`); `projectcalico.org/v3` objects are written as they are.

use std::collections::BTreeMap;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::group::ApiGroup;
use super::route::Target;
use super::uid::convert_uid;
use crate::error::{DatastoreError, Result};
use crate::keys::{
    AffinityType, BlockAffinityKey, BlockKey, HandleKey, Key, IPAM_CONFIG_PATH, RESOURCES_PREFIX,
};
use crate::kv::Revision;
use crate::model::{
    AffinityState, AllocationAttribute, Block, BlockAffinity, Handle, IpamConfig, Model,
};
use crate::names::{affinity_name, cidr_to_name, hostname_hash};
use crate::resources::{IpamConfigurationSpec, ObjectMeta, API_VERSION};

/// The annotation v1 custom resources carry the rest of Calico's metadata in.
pub const METADATA_ANNOTATION: &str = "projectcalico.org/metadata";
pub const LABEL_HOSTNAME_HASH: &str = "projectcalico.org/hostname-hash";
pub const LABEL_AFFINITY_TYPE: &str = "projectcalico.org/affinity-type";
pub const LABEL_IP_VERSION: &str = "projectcalico.org/ip-version";

/// A Calico object kind stored as a custom resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Block,
    Affinity,
    Handle,
    /// `/calico/ipam/v2/config` and the v3 `IPAMConfiguration`: one object in KDD.
    IpamConfig {
        as_resource: bool,
    },
    /// Any other v3 resource, by its plural.
    Resource(String),
}

impl Kind {
    /// The kind and custom-resource name of a key; `None` for what is not a custom resource
    /// (pods, nodes, profiles).
    pub fn of(target: &Target) -> Option<(Kind, String)> {
        Some(match target {
            Target::Block(cidr) => (Kind::Block, cidr_to_name(cidr)),
            Target::Affinity(k) => (Kind::Affinity, affinity_name(&k.host, &k.cidr)),
            Target::Handle(id) => (Kind::Handle, id.to_lowercase()),
            Target::IpamConfig => (Kind::IpamConfig { as_resource: false }, "default".into()),
            Target::Resource { plural, name, .. } => match plural.as_str() {
                "workloadendpoints" | "nodes" | "profiles" => return None,
                "ipamconfigurations" => (Kind::IpamConfig { as_resource: true }, name.clone()),
                p => (Kind::Resource(p.to_string()), name.clone()),
            },
        })
    }

    pub fn plural(&self, group: ApiGroup) -> &str {
        match self {
            Kind::Block => "ipamblocks",
            Kind::Affinity => "blockaffinities",
            Kind::Handle => "ipamhandles",
            Kind::IpamConfig { .. } => match group {
                ApiGroup::V1 => "ipamconfigs",
                ApiGroup::V3 => "ipamconfigurations",
            },
            Kind::Resource(p) => p,
        }
    }

    /// Deleted by Calico's soft delete: `deleted: true` written first, then the object.
    pub fn soft_deleted(&self) -> bool {
        matches!(self, Kind::Block | Kind::Affinity | Kind::Handle)
    }

    /// The object's path: `<collection>/<name>`.
    pub fn path(&self, group: ApiGroup, name: &str) -> String {
        format!("{}/{name}", group.collection(self.plural(group)))
    }
}

/// A custom resource's metadata as Calico writes it (Go's ObjectMeta order; an unset
/// `creationTimestamp` is written `null`, as Go's struct field is).
type Meta = ObjectMeta;

#[derive(Debug, Serialize, Deserialize)]
struct Cr<S> {
    #[serde(default)]
    kind: String,
    #[serde(rename = "apiVersion", default)]
    api_version: String,
    #[serde(default)]
    metadata: Meta,
    spec: S,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<Box<RawValue>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct BlockSpec {
    cidr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    affinity: Option<String>,
    #[serde(
        rename = "affinityClaimTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    affinity_claim_time: Option<String>,
    #[serde(default, deserialize_with = "crate::model::null_as_default")]
    allocations: Vec<Option<usize>>,
    #[serde(default, deserialize_with = "crate::model::null_as_default")]
    unallocated: Vec<usize>,
    #[serde(default, deserialize_with = "crate::model::null_as_default")]
    attributes: Vec<AllocationAttribute>,
    #[serde(rename = "sequenceNumber", default)]
    sequence_number: u64,
    #[serde(
        rename = "sequenceNumberForAllocation",
        default,
        deserialize_with = "crate::model::null_as_default"
    )]
    sequence_number_for_allocation: BTreeMap<String, u64>,
    #[serde(default)]
    deleted: bool,
    /// Deprecated; always written `false`.
    #[serde(rename = "strictAffinity", default)]
    strict_affinity: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct AffinitySpec {
    #[serde(default)]
    state: String,
    #[serde(default)]
    node: String,
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    affinity_type: String,
    cidr: String,
    /// v1: the string `"true"`/`"false"` (kept for older releases); v3: a boolean.
    #[serde(default)]
    deleted: Value,
}

#[derive(Debug, Serialize, Deserialize)]
struct HandleSpec {
    #[serde(rename = "handleID")]
    handle_id: String,
    #[serde(default, deserialize_with = "crate::model::null_as_default")]
    block: BTreeMap<String, i64>,
    #[serde(default)]
    deleted: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct IpamConfigSpec {
    #[serde(rename = "strictAffinity", default)]
    strict_affinity: bool,
    #[serde(rename = "autoAllocateBlocks", default)]
    auto_allocate_blocks: bool,
    #[serde(rename = "maxBlocksPerHost", default, skip_serializing_if = "is_zero")]
    max_blocks_per_host: i64,
    #[serde(
        rename = "kubeVirtVMAddressPersistence",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    kube_virt_vm_address_persistence: Option<String>,
    #[serde(rename = "ipCooldownSeconds", default, skip_serializing_if = "is_zero")]
    ip_cooldown_seconds: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// A v3 object as the etcd backend stores it, the spec kept verbatim.
#[derive(Debug, Serialize, Deserialize)]
struct V3Object {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    kind: String,
    #[serde(
        rename = "apiVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    api_version: String,
    #[serde(default)]
    metadata: ObjectMeta,
    spec: Box<RawValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<Box<RawValue>>,
}

/// What a write adds to the metadata: the revision a PUT must match and the UID to check.
#[derive(Debug, Clone, Default)]
pub struct WriteMeta {
    pub resource_version: Option<Revision>,
    /// The custom resource's real UID (handles send it on update, as Calico does).
    pub uid: Option<String>,
}

/// A custom resource read back as a datastore pair.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub path: String,
    pub value: Vec<u8>,
    pub revision: Revision,
    /// The custom resource's real UID.
    pub uid: String,
    /// Soft-deleted (`spec.deleted`): to be finished off and treated as absent.
    pub deleted: bool,
}

fn decode_error(what: &str, e: impl std::fmt::Display) -> DatastoreError {
    DatastoreError::Request(format!(
        "failed to parse {what} from the Kubernetes API: {e}"
    ))
}

/// The `{"creationTimestamp":null}` annotation of objects Calico writes without a creation
/// time (IPAM objects), and nothing in v3.
fn ipam_meta(group: ApiGroup, name: String, w: &WriteMeta) -> Meta {
    let mut annotations = BTreeMap::new();
    if group == ApiGroup::V1 {
        annotations.insert(
            METADATA_ANNOTATION.to_string(),
            r#"{"creationTimestamp":null}"#.to_string(),
        );
    }
    Meta {
        name,
        uid: w.uid.clone().unwrap_or_default(),
        resource_version: w
            .resource_version
            .map(|r| r.to_string())
            .unwrap_or_default(),
        annotations,
        ..Meta::default()
    }
}

/// The labels every BlockAffinity carries (`EnsureBlockAffinityLabels`).
pub fn affinity_labels(k: &BlockAffinityKey) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            LABEL_AFFINITY_TYPE.to_string(),
            k.affinity_type.as_str().to_string(),
        ),
        (LABEL_HOSTNAME_HASH.to_string(), hostname_hash(&k.host)),
        (
            LABEL_IP_VERSION.to_string(),
            if k.cidr.is_ipv6() { "6" } else { "4" }.to_string(),
        ),
    ])
}

/// The custom resource for the datastore value `value` at `target`, to POST or PUT. The result
/// serialises in Go's field order (`to_compact`).
pub fn encode(
    kind: &Kind,
    group: ApiGroup,
    target: &Target,
    name: &str,
    value: &[u8],
    w: &WriteMeta,
) -> Result<Vec<u8>> {
    let bad = |e: serde_json::Error| decode_error("the value to write", e);
    let body = match (kind, target) {
        (Kind::Block, Target::Block(_)) => {
            let b = Block::decode(value).map_err(bad)?;
            let spec = BlockSpec {
                cidr: b.cidr.to_string(),
                affinity: b.affinity,
                affinity_claim_time: b.affinity_claim_time,
                allocations: b.allocations,
                unallocated: b.unallocated,
                attributes: b.attributes,
                sequence_number: b.sequence_number,
                sequence_number_for_allocation: b.sequence_number_for_allocation,
                deleted: b.deleted,
                strict_affinity: false,
            };
            // Calico sends no UID with blocks.
            let meta = ipam_meta(
                group,
                name.to_string(),
                &WriteMeta {
                    uid: None,
                    ..w.clone()
                },
            );
            cr_bytes("IPAMBlock", group, meta, spec)?
        }
        (Kind::Affinity, Target::Affinity(k)) => {
            let a = BlockAffinity::decode(value).map_err(bad)?;
            let mut meta = ipam_meta(
                group,
                name.to_string(),
                &WriteMeta {
                    uid: None,
                    ..w.clone()
                },
            );
            meta.labels = affinity_labels(k);
            let spec = AffinitySpec {
                state: state_text(a.state).to_string(),
                node: k.host.clone(),
                affinity_type: k.affinity_type.as_str().to_string(),
                cidr: k.cidr.to_string(),
                deleted: match group {
                    ApiGroup::V1 => Value::String(a.deleted.to_string()),
                    ApiGroup::V3 => Value::Bool(a.deleted),
                },
            };
            cr_bytes("BlockAffinity", group, meta, spec)?
        }
        (Kind::Handle, Target::Handle(id)) => {
            let h = Handle::decode(value).map_err(bad)?;
            let meta = ipam_meta(group, name.to_string(), w);
            let spec = HandleSpec {
                handle_id: id.clone(),
                block: h.block,
                deleted: h.deleted,
            };
            cr_bytes("IPAMHandle", group, meta, spec)?
        }
        (Kind::IpamConfig { as_resource }, _) => {
            let c: IpamConfig = if *as_resource {
                let obj: V3Object = serde_json::from_slice(value).map_err(bad)?;
                let spec: IpamConfigurationSpec =
                    serde_json::from_str(obj.spec.get()).map_err(bad)?;
                IpamConfig::from(&spec)
            } else {
                IpamConfig::decode(value).map_err(bad)?
            };
            let meta = ipam_meta(
                group,
                "default".into(),
                &WriteMeta {
                    uid: None,
                    ..w.clone()
                },
            );
            let spec = IpamConfigSpec {
                strict_affinity: c.strict_affinity,
                auto_allocate_blocks: c.auto_allocate_blocks,
                max_blocks_per_host: c.max_blocks_per_host,
                kube_virt_vm_address_persistence: c.kube_virt_vm_address_persistence,
                ip_cooldown_seconds: c.ip_cooldown_seconds,
            };
            let kind = match group {
                ApiGroup::V1 => "IPAMConfig",
                ApiGroup::V3 => "IPAMConfiguration",
            };
            cr_bytes(kind, group, meta, spec)?
        }
        (Kind::Resource(_), _) => encode_resource(group, value, w)?,
        _ => {
            return Err(DatastoreError::Request(format!(
                "cannot write {name} as {kind:?}"
            )))
        }
    };
    Ok(body)
}

fn cr_bytes<S: Serialize>(kind: &str, group: ApiGroup, metadata: Meta, spec: S) -> Result<Vec<u8>> {
    let cr = Cr {
        kind: kind.to_string(),
        api_version: group.api_version().to_string(),
        metadata,
        spec,
        status: None,
    };
    Ok(libcni::json::to_compact(&cr).into_bytes())
}

fn state_text(s: AffinityState) -> &'static str {
    match s {
        AffinityState::Confirmed => "confirmed",
        AffinityState::Pending => "pending",
        AffinityState::PendingDeletion => "pendingDeletion",
        AffinityState::Unset => "",
    }
}

fn parse_state(s: &str) -> AffinityState {
    match s {
        "confirmed" => AffinityState::Confirmed,
        "pending" => AffinityState::Pending,
        "pendingDeletion" => AffinityState::PendingDeletion,
        _ => AffinityState::Unset,
    }
}

/// libcalico-go's `isOurs`: labels and annotations that stay real on the custom resource.
fn is_ours(key: &str) -> bool {
    key.contains("projectcalico.org/") || key.contains("operator.tigera.io/")
}

/// A v3 resource as a custom resource (`ConvertCalicoResourceToK8sResource`).
fn encode_resource(group: ApiGroup, value: &[u8], w: &WriteMeta) -> Result<Vec<u8>> {
    let mut obj: V3Object =
        serde_json::from_slice(value).map_err(|e| decode_error("the value to write", e))?;
    if group == ApiGroup::V3 {
        obj.api_version = API_VERSION.to_string();
        obj.metadata.resource_version = w
            .resource_version
            .map(|r| r.to_string())
            .unwrap_or_default();
        return Ok(libcni::json::to_compact(&obj).into_bytes());
    }
    let rom = &obj.metadata;
    // Everything but name, namespace, resourceVersion and uid rides in the annotation.
    let mut copy = rom.clone();
    copy.name.clear();
    copy.namespace.clear();
    copy.resource_version.clear();
    copy.uid.clear();
    let mut meta = Meta {
        name: rom.name.clone(),
        namespace: rom.namespace.clone(),
        resource_version: w
            .resource_version
            .map(|r| r.to_string())
            .unwrap_or_default(),
        uid: if rom.uid.is_empty() {
            String::new()
        } else {
            convert_uid(&rom.uid)
        },
        labels: rom
            .labels
            .iter()
            .filter(|(k, _)| is_ours(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        annotations: rom
            .annotations
            .iter()
            .filter(|(k, _)| is_ours(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ..Meta::default()
    };
    meta.annotations.insert(
        METADATA_ANNOTATION.to_string(),
        libcni::json::to_compact(&copy),
    );
    let cr = Cr {
        kind: obj.kind,
        api_version: group.api_version().to_string(),
        metadata: meta,
        spec: obj.spec,
        status: obj.status,
    };
    Ok(libcni::json::to_compact(&cr).into_bytes())
}

/// A custom resource as a datastore pair.
pub fn decode(kind: &Kind, group: ApiGroup, body: &Value) -> Result<Decoded> {
    let text = body.to_string();
    let bad = |e: serde_json::Error| decode_error(kind.plural(group), e);
    let meta: Meta =
        serde_json::from_value(body.get("metadata").cloned().unwrap_or_default()).map_err(bad)?;
    let revision: Revision = meta.resource_version.parse().map_err(|_| {
        decode_error(
            "a resourceVersion",
            format!("{:?} is not a revision number", meta.resource_version),
        )
    })?;
    let (path, value, deleted) = match kind {
        Kind::Block => {
            let c: Cr<BlockSpec> = serde_json::from_str(&text).map_err(bad)?;
            let s = c.spec;
            let cidr: IpNetwork = s
                .cidr
                .parse()
                .map_err(|_| decode_error("an IPAMBlock", format!("bad cidr {:?}", s.cidr)))?;
            let b = Block {
                cidr,
                affinity: s.affinity,
                affinity_claim_time: s.affinity_claim_time,
                allocations: s.allocations,
                unallocated: s.unallocated,
                attributes: s.attributes,
                sequence_number: s.sequence_number,
                sequence_number_for_allocation: s.sequence_number_for_allocation,
                deleted: s.deleted,
                host_affinity: None,
            };
            (BlockKey::new(cidr).path(), b.encode(), s.deleted)
        }
        Kind::Affinity => {
            let c: Cr<AffinitySpec> = serde_json::from_str(&text).map_err(bad)?;
            let s = c.spec;
            let cidr: IpNetwork = s
                .cidr
                .parse()
                .map_err(|_| decode_error("a BlockAffinity", format!("bad cidr {:?}", s.cidr)))?;
            let deleted = match &s.deleted {
                Value::Bool(b) => *b,
                // strconv.ParseBool; "" and anything unparsable read as false.
                Value::String(t) => {
                    matches!(t.as_str(), "1" | "t" | "T" | "TRUE" | "true" | "True")
                }
                _ => false,
            };
            let affinity_type = match s.affinity_type.as_str() {
                "virtual" => AffinityType::Virtual,
                _ => AffinityType::Host,
            };
            let key = BlockAffinityKey {
                cidr: crate::keys::normalize(cidr),
                host: s.node,
                affinity_type,
            };
            let a = BlockAffinity {
                state: parse_state(&s.state),
                deleted,
            };
            (key.path(), a.encode(), deleted)
        }
        Kind::Handle => {
            let c: Cr<HandleSpec> = serde_json::from_str(&text).map_err(bad)?;
            let h = Handle {
                block: c.spec.block,
                deleted: c.spec.deleted,
            };
            (
                HandleKey::new(c.spec.handle_id).path(),
                h.encode(),
                c.spec.deleted,
            )
        }
        Kind::IpamConfig { as_resource } => {
            let c: Cr<IpamConfigSpec> = serde_json::from_str(&text).map_err(bad)?;
            let s = c.spec;
            let cfg = IpamConfig {
                strict_affinity: s.strict_affinity,
                auto_allocate_blocks: s.auto_allocate_blocks,
                max_blocks_per_host: s.max_blocks_per_host,
                kube_virt_vm_address_persistence: s.kube_virt_vm_address_persistence,
                ip_cooldown_seconds: s.ip_cooldown_seconds,
            };
            if *as_resource {
                let spec = IpamConfigurationSpec::from(&cfg);
                let obj = serde_json::json!({
                    "kind": "IPAMConfiguration",
                    "apiVersion": API_VERSION,
                    "metadata": read_meta(group, &meta),
                    "spec": spec,
                });
                (
                    format!("{RESOURCES_PREFIX}ipamconfigurations/{}", meta.name),
                    libcni::json::to_compact(&obj).into_bytes(),
                    false,
                )
            } else {
                (IPAM_CONFIG_PATH.to_string(), cfg.encode(), false)
            }
        }
        Kind::Resource(plural) => {
            let c: Cr<Box<RawValue>> = serde_json::from_str(&text).map_err(bad)?;
            let m = read_meta(group, &meta);
            let path = if m.namespace.is_empty() {
                format!("{RESOURCES_PREFIX}{plural}/{}", m.name)
            } else {
                format!("{RESOURCES_PREFIX}{plural}/{}/{}", m.namespace, m.name)
            };
            let obj = V3Object {
                kind: c.kind,
                api_version: API_VERSION.to_string(),
                metadata: m,
                spec: c.spec,
                status: c.status,
            };
            (path, libcni::json::to_compact(&obj).into_bytes(), false)
        }
    };
    Ok(Decoded {
        path,
        value,
        revision,
        uid: meta.uid.clone(),
        deleted,
    })
}

/// Calico's metadata of a custom resource (`ConvertK8sResourceToCalicoResource`): the
/// annotation's fields over the real ones, the UID reversed, the revision left to the caller.
fn read_meta(group: ApiGroup, real: &Meta) -> ObjectMeta {
    let mut out = real.clone();
    out.resource_version.clear();
    out.managed_fields.clear();
    if group == ApiGroup::V3 {
        return out;
    }
    out.uid = if real.uid.is_empty() {
        String::new()
    } else {
        convert_uid(&real.uid)
    };
    let Some(annotation) = out.annotations.remove(METADATA_ANNOTATION) else {
        return out;
    };
    let Ok(stored) = serde_json::from_str::<ObjectMeta>(&annotation) else {
        return out;
    };
    if !stored.name.is_empty() {
        out.name = stored.name;
    }
    out.generate_name = stored.generate_name;
    out.labels.extend(stored.labels);
    out.annotations.extend(stored.annotations);
    if stored.creation_timestamp.is_some() {
        out.creation_timestamp = stored.creation_timestamp;
    }
    out.deletion_timestamp = stored.deletion_timestamp.or(out.deletion_timestamp);
    out.owner_references = stored.owner_references;
    out.finalizers = stored.finalizers;
    out
}

/// The same object marked `deleted: true` (the first step of Calico's soft delete).
pub fn mark_deleted(kind: &Kind, value: &[u8]) -> Result<Vec<u8>> {
    let bad = |e: serde_json::Error| decode_error("the value to delete", e);
    Ok(match kind {
        Kind::Block => {
            let mut b = Block::decode(value).map_err(bad)?;
            b.deleted = true;
            b.encode()
        }
        Kind::Affinity => {
            let mut a = BlockAffinity::decode(value).map_err(bad)?;
            a.deleted = true;
            a.encode()
        }
        Kind::Handle => {
            let mut h = Handle::decode(value).map_err(bad)?;
            h.deleted = true;
            h.encode()
        }
        _ => value.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn target_of(path: &str) -> (Kind, Target, String) {
        let t = super::super::route::target(path).unwrap();
        let (k, name) = Kind::of(&t).unwrap();
        (k, t, name)
    }

    #[test]
    fn affinity_as_calico_writes_it() {
        let key = BlockAffinityKey::host("node1", "10.244.1.0/26".parse().unwrap());
        let (k, t, name) = target_of(&key.path());
        let body = encode(
            &k,
            ApiGroup::V1,
            &t,
            &name,
            &BlockAffinity::new(AffinityState::Confirmed).encode(),
            &WriteMeta::default(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(body.clone()).unwrap(),
            r#"{"kind":"BlockAffinity","apiVersion":"crd.projectcalico.org/v1","metadata":{"name":"node1-10-244-1-0-26","creationTimestamp":null,"labels":{"projectcalico.org/affinity-type":"host","projectcalico.org/hostname-hash":"7DS2CCNJGGLTHBDQLLFO6SX24SY2YDDEG3W2VN556FA2W4DLLV5A","projectcalico.org/ip-version":"4"},"annotations":{"projectcalico.org/metadata":"{\"creationTimestamp\":null}"}},"spec":{"state":"confirmed","node":"node1","type":"host","cidr":"10.244.1.0/26","deleted":"false"}}"#
        );
        let mut v: Value = serde_json::from_slice(&body).unwrap();
        v["metadata"]["resourceVersion"] = "7".into();
        v["metadata"]["uid"] = "u".into();
        let d = decode(&k, ApiGroup::V1, &v).unwrap();
        assert_eq!(d.path, key.path());
        assert_eq!(d.revision, 7);
        assert!(!d.deleted);
        assert_eq!(
            BlockAffinity::decode(&d.value).unwrap(),
            BlockAffinity::new(AffinityState::Confirmed)
        );
        v["spec"]["deleted"] = "true".into();
        assert!(decode(&k, ApiGroup::V1, &v).unwrap().deleted);
    }

    #[test]
    fn block_round_trip_and_v1_shape() {
        let now = UNIX_EPOCH + Duration::from_secs(1_787_405_600);
        let b = Block::new(
            "10.244.1.0/26".parse().unwrap(),
            Some("host:node1".into()),
            now,
        );
        let (k, t, name) = target_of(&BlockKey::new(b.cidr).path());
        assert_eq!(name, "10-244-1-0-26");
        let body = encode(
            &k,
            ApiGroup::V1,
            &t,
            &name,
            &b.encode(),
            &WriteMeta {
                resource_version: Some(5),
                uid: Some("ignored-for-blocks".into()),
            },
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["metadata"]["resourceVersion"], "5");
        assert!(v["metadata"].get("uid").is_none());
        assert_eq!(v["spec"]["affinity"], "host:node1");
        assert_eq!(v["spec"]["affinityClaimTime"], "2026-08-22T13:33:20Z");
        assert_eq!(v["spec"]["attributes"], serde_json::json!([]));
        assert_eq!(v["spec"]["strictAffinity"], false);
        assert_eq!(
            v["spec"]["sequenceNumberForAllocation"],
            serde_json::json!({})
        );
        let d = decode(&k, ApiGroup::V1, &v).unwrap();
        assert_eq!(Block::decode(&d.value).unwrap(), b);
    }

    #[test]
    fn handles_keep_their_case_in_the_spec() {
        let (k, t, name) = target_of(&HandleKey::new("k8s-pod-network.ABC").path());
        assert_eq!(name, "k8s-pod-network.abc");
        let mut h = Handle::default();
        h.increment("10.244.1.0/26", 1);
        let body = encode(
            &k,
            ApiGroup::V1,
            &t,
            &name,
            &h.encode(),
            &WriteMeta {
                resource_version: Some(9),
                uid: Some("0f1e".into()),
            },
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(body.clone()).unwrap(),
            r#"{"kind":"IPAMHandle","apiVersion":"crd.projectcalico.org/v1","metadata":{"name":"k8s-pod-network.abc","uid":"0f1e","resourceVersion":"9","creationTimestamp":null,"annotations":{"projectcalico.org/metadata":"{\"creationTimestamp\":null}"}},"spec":{"handleID":"k8s-pod-network.ABC","block":{"10.244.1.0/26":1},"deleted":false}}"#
        );
        let d = decode(&k, ApiGroup::V1, &serde_json::from_slice(&body).unwrap()).unwrap();
        assert_eq!(d.path, HandleKey::new("k8s-pod-network.ABC").path());
    }

    #[test]
    fn resources_carry_calicos_metadata_in_the_annotation() {
        let pool = br#"{"kind":"IPPool","apiVersion":"projectcalico.org/v3","metadata":{"name":"p1","uid":"6d0a1f3c-8a2e-4b7d-9c1e-2f3a4b5c6d7e","creationTimestamp":"2026-01-02T03:04:05Z","labels":{"team":"a","projectcalico.org/x":"y"}},"spec":{"cidr":"10.0.0.0/16","blockSize":26}}"#;
        let path = format!("{RESOURCES_PREFIX}ippools/p1");
        let (k, t, name) = target_of(&path);
        let body = encode(&k, ApiGroup::V1, &t, &name, pool, &WriteMeta::default()).unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["apiVersion"], "crd.projectcalico.org/v1");
        assert_eq!(
            v["metadata"]["labels"],
            serde_json::json!({"projectcalico.org/x": "y"})
        );
        assert_eq!(
            v["metadata"]["annotations"][METADATA_ANNOTATION],
            r#"{"creationTimestamp":"2026-01-02T03:04:05Z","labels":{"projectcalico.org/x":"y","team":"a"}}"#
        );
        assert_eq!(
            v["spec"],
            serde_json::json!({"cidr": "10.0.0.0/16", "blockSize": 26})
        );
        let mut stored = v.clone();
        stored["metadata"]["resourceVersion"] = "3".into();
        let d = decode(&k, ApiGroup::V1, &stored).unwrap();
        assert_eq!(d.path, path);
        let back: Value = serde_json::from_slice(&d.value).unwrap();
        assert_eq!(back["metadata"]["labels"]["team"], "a");
        assert_eq!(
            back["metadata"]["uid"],
            "6d0a1f3c-8a2e-4b7d-9c1e-2f3a4b5c6d7e"
        );
        assert_eq!(
            back["metadata"]["creationTimestamp"],
            "2026-01-02T03:04:05Z"
        );
        assert_eq!(back["apiVersion"], "projectcalico.org/v3");
    }
}
