//! Calico's etcd key layout (libcalico-go `backend/model`): each key type knows its path, the
//! value type stored there and its `String()` form for error texts; each list type knows the
//! prefix to list and which listed paths belong to it.
//!
//! ```text
//! /calico/resources/v3/projectcalico.org/<plural>/<name>              global v3 resources
//! /calico/resources/v3/projectcalico.org/<plural>/<namespace>/<name>  namespaced (WEPs)
//! /calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26                   blocks ('/' → '-')
//! /calico/ipam/v2/host/<node>/ipv4/block/10.0.0.0-26                  block affinities
//! /calico/ipam/v2/handle/<handle id>                                  handles
//! /calico/ipam/v2/config                                              IPAM config
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;

use ipnetwork::IpNetwork;

use crate::model::Block;
use crate::model::{BlockAffinity, Handle, IpamConfig, Model};
use crate::resources::{Object, Spec};

pub const RESOURCES_PREFIX: &str = "/calico/resources/v3/projectcalico.org/";
pub const IPAM_PREFIX: &str = "/calico/ipam/v2/";
pub const BLOCKS_PREFIX: &str = "/calico/ipam/v2/assignment/";
pub const HANDLES_PREFIX: &str = "/calico/ipam/v2/handle/";
pub const IPAM_CONFIG_PATH: &str = "/calico/ipam/v2/config";

/// A typed key: where a value lives and what it is.
pub trait Key: fmt::Display + Clone {
    type Value: Model;
    fn path(&self) -> String;
}

/// A typed listing: the prefix to list and how to recognise its keys among the listed paths.
pub trait ListOptions {
    type Key: Key;
    fn prefix(&self) -> String;
    /// The key at `path`, or `None` when the path is not one of this listing's (paths under the
    /// prefix that do not parse, or that a filter rules out, are skipped like libcalico-go does).
    fn key_from_path(&self, path: &str) -> Option<Self::Key>;
}

/// The IP version as Calico writes it in paths (`ipv4`, `ipv6`).
pub fn ip_version(net: &IpNetwork) -> u8 {
    if net.is_ipv4() {
        4
    } else {
        6
    }
}

/// A CIDR with its host bits cleared (`10.0.0.5/26` → `10.0.0.0/26`).
pub fn normalize(net: IpNetwork) -> IpNetwork {
    IpNetwork::new(net.network(), net.prefix()).unwrap_or(net)
}

/// The path form of a CIDR: its first `/` becomes `-` (`fd80::-122`).
fn cidr_segment(net: &IpNetwork) -> String {
    net.to_string().replacen('/', "-", 1)
}

fn parse_cidr_segment(seg: &str) -> Option<IpNetwork> {
    let (ip, len) = seg.split_once('-')?;
    let ip: IpAddr = ip.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    IpNetwork::new(ip, len).ok().map(normalize)
}

fn parse_version(seg: &str) -> Option<u8> {
    match seg {
        "ipv4" => Some(4),
        "ipv6" => Some(6),
        _ => None,
    }
}

// ---- blocks -------------------------------------------------------------------------------

/// An allocation block (`model.BlockKey`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlockKey {
    pub cidr: IpNetwork,
}

impl BlockKey {
    pub fn new(cidr: IpNetwork) -> Self {
        BlockKey {
            cidr: normalize(cidr),
        }
    }
}

impl Key for BlockKey {
    type Value = Block;
    fn path(&self) -> String {
        format!(
            "{BLOCKS_PREFIX}ipv{}/block/{}",
            ip_version(&self.cidr),
            cidr_segment(&self.cidr)
        )
    }
}

impl fmt::Display for BlockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockKey(cidr={})", self.cidr)
    }
}

/// All blocks, or those of one IP version.
#[derive(Debug, Clone, Default)]
pub struct BlockList {
    pub ip_version: Option<u8>,
}

impl ListOptions for BlockList {
    type Key = BlockKey;
    fn prefix(&self) -> String {
        match self.ip_version {
            Some(v) => format!("{BLOCKS_PREFIX}ipv{v}/block/"),
            None => BLOCKS_PREFIX.to_string(),
        }
    }
    fn key_from_path(&self, path: &str) -> Option<BlockKey> {
        let rest = path.strip_prefix(BLOCKS_PREFIX)?;
        let (version, rest) = rest.split_once('/')?;
        let version = parse_version(version)?;
        let cidr = parse_cidr_segment(rest.strip_prefix("block/")?)?;
        if ip_version(&cidr) != version || self.ip_version.is_some_and(|v| v != version) {
            return None;
        }
        Some(BlockKey { cidr })
    }
}

// ---- block affinities ---------------------------------------------------------------------

/// Who a block is affine to: a host (the CNI case) or a virtual owner (LoadBalancer IPs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AffinityType {
    #[default]
    Host,
    Virtual,
}

impl AffinityType {
    pub fn as_str(self) -> &'static str {
        match self {
            AffinityType::Host => "host",
            AffinityType::Virtual => "virtual",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "host" => Some(AffinityType::Host),
            "virtual" => Some(AffinityType::Virtual),
            _ => None,
        }
    }
}

/// A host's claim on a block (`model.BlockAffinityKey`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlockAffinityKey {
    pub cidr: IpNetwork,
    pub host: String,
    pub affinity_type: AffinityType,
}

impl BlockAffinityKey {
    pub fn host(host: impl Into<String>, cidr: IpNetwork) -> Self {
        BlockAffinityKey {
            cidr: normalize(cidr),
            host: host.into(),
            affinity_type: AffinityType::Host,
        }
    }
}

impl Key for BlockAffinityKey {
    type Value = BlockAffinity;
    fn path(&self) -> String {
        format!(
            "{IPAM_PREFIX}{}/{}/ipv{}/block/{}",
            self.affinity_type.as_str(),
            self.host,
            ip_version(&self.cidr),
            cidr_segment(&self.cidr)
        )
    }
}

impl fmt::Display for BlockAffinityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BlockAffinityKey(cidr={}, host={}, affinityType={})",
            self.cidr,
            self.host,
            self.affinity_type.as_str()
        )
    }
}

/// Affinities of one type, optionally of one host and IP version.
#[derive(Debug, Clone, Default)]
pub struct BlockAffinityList {
    pub host: Option<String>,
    pub affinity_type: AffinityType,
    pub ip_version: Option<u8>,
}

impl BlockAffinityList {
    /// This host's affinities of one IP version: the affine blocks IPAM tries first.
    pub fn host(host: impl Into<String>, ip_version: Option<u8>) -> Self {
        BlockAffinityList {
            host: Some(host.into()),
            affinity_type: AffinityType::Host,
            ip_version,
        }
    }
}

impl ListOptions for BlockAffinityList {
    type Key = BlockAffinityKey;
    fn prefix(&self) -> String {
        // Unlike libcalico-go, always end host prefixes with '/': "host/node1" would also list
        // "host/node10" (it filters those out afterwards; so do we, but fewer bytes travel).
        let mut p = format!("{IPAM_PREFIX}{}/", self.affinity_type.as_str());
        if let Some(host) = &self.host {
            p.push_str(host);
            p.push('/');
            if let Some(v) = self.ip_version {
                p.push_str(&format!("ipv{v}/block/"));
            }
        }
        p
    }
    fn key_from_path(&self, path: &str) -> Option<BlockAffinityKey> {
        let rest = path.strip_prefix(IPAM_PREFIX)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let [kind, host, version, "block", cidr] = parts[..] else {
            return None;
        };
        let affinity_type = AffinityType::parse(kind)?;
        let version = parse_version(version)?;
        let cidr = parse_cidr_segment(cidr)?;
        if host.is_empty()
            || affinity_type != self.affinity_type
            || ip_version(&cidr) != version
            || self.host.as_deref().is_some_and(|h| h != host)
            || self.ip_version.is_some_and(|v| v != version)
        {
            return None;
        }
        Some(BlockAffinityKey {
            cidr,
            host: host.to_string(),
            affinity_type,
        })
    }
}

// ---- handles ------------------------------------------------------------------------------

/// An IPAM handle (`model.IPAMHandleKey`): `<network>.<containerID>` for the CNI plugin.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HandleKey {
    pub id: String,
}

impl HandleKey {
    pub fn new(id: impl Into<String>) -> Self {
        HandleKey { id: id.into() }
    }
}

impl Key for HandleKey {
    type Value = Handle;
    fn path(&self) -> String {
        format!("{HANDLES_PREFIX}{}", self.id)
    }
}

impl fmt::Display for HandleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IPAMHandleKey(id={})", self.id)
    }
}

/// All handles.
#[derive(Debug, Clone, Default)]
pub struct HandleList;

impl ListOptions for HandleList {
    type Key = HandleKey;
    fn prefix(&self) -> String {
        HANDLES_PREFIX.to_string()
    }
    fn key_from_path(&self, path: &str) -> Option<HandleKey> {
        let id = path.strip_prefix(HANDLES_PREFIX)?;
        (!id.is_empty() && !id.contains('/')).then(|| HandleKey::new(id))
    }
}

// ---- IPAM config --------------------------------------------------------------------------

/// The global IPAM settings (`model.IPAMConfigKey`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IpamConfigKey;

impl Key for IpamConfigKey {
    type Value = IpamConfig;
    fn path(&self) -> String {
        IPAM_CONFIG_PATH.to_string()
    }
}

impl fmt::Display for IpamConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IPAMConfigKey()")
    }
}

// ---- v3 resources -------------------------------------------------------------------------

/// A v3 resource (`model.ResourceKey`); `namespace` is empty for global kinds.
pub struct ResourceKey<S> {
    pub namespace: String,
    pub name: String,
    spec: PhantomData<fn() -> S>,
}

impl<S: Spec> ResourceKey<S> {
    /// A global resource (everything but workload endpoints).
    pub fn global(name: impl Into<String>) -> Self {
        ResourceKey {
            namespace: String::new(),
            name: name.into(),
            spec: PhantomData,
        }
    }

    pub fn namespaced(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ResourceKey {
            namespace: namespace.into(),
            name: name.into(),
            spec: PhantomData,
        }
    }

    /// The key of a resource object, from its metadata.
    pub fn of(obj: &Object<S>) -> Self {
        ResourceKey {
            namespace: if S::NAMESPACED {
                obj.metadata.namespace.clone()
            } else {
                String::new()
            },
            name: obj.metadata.name.clone(),
            spec: PhantomData,
        }
    }
}

impl<S> Clone for ResourceKey<S> {
    fn clone(&self) -> Self {
        ResourceKey {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            spec: PhantomData,
        }
    }
}

impl<S> PartialEq for ResourceKey<S> {
    fn eq(&self, other: &Self) -> bool {
        self.namespace == other.namespace && self.name == other.name
    }
}

impl<S> fmt::Debug for ResourceKey<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceKey")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .finish()
    }
}

impl<S: Spec> Key for ResourceKey<S> {
    type Value = Object<S>;
    fn path(&self) -> String {
        if S::NAMESPACED {
            format!(
                "{RESOURCES_PREFIX}{}/{}/{}",
                S::PLURAL,
                self.namespace,
                self.name
            )
        } else {
            format!("{RESOURCES_PREFIX}{}/{}", S::PLURAL, self.name)
        }
    }
}

impl<S: Spec> fmt::Display for ResourceKey<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if S::NAMESPACED {
            write!(f, "{}({}/{})", S::KIND, self.namespace, self.name)
        } else {
            write!(f, "{}({})", S::KIND, self.name)
        }
    }
}

/// Resources of one kind; for namespaced kinds optionally of one namespace; optionally only
/// names starting with `name_prefix` (how the CNI plugin finds a pod's endpoints).
pub struct ResourceList<S> {
    pub namespace: Option<String>,
    pub name_prefix: Option<String>,
    spec: PhantomData<fn() -> S>,
}

impl<S> Default for ResourceList<S> {
    fn default() -> Self {
        ResourceList {
            namespace: None,
            name_prefix: None,
            spec: PhantomData,
        }
    }
}

impl<S: Spec> ResourceList<S> {
    pub fn all() -> Self {
        Self::default()
    }

    pub fn in_namespace(namespace: impl Into<String>) -> Self {
        ResourceList {
            namespace: Some(namespace.into()),
            ..Self::default()
        }
    }

    pub fn name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.name_prefix = Some(prefix.into());
        self
    }
}

impl<S: Spec> ListOptions for ResourceList<S> {
    type Key = ResourceKey<S>;
    fn prefix(&self) -> String {
        let mut p = format!("{RESOURCES_PREFIX}{}/", S::PLURAL);
        if S::NAMESPACED {
            match &self.namespace {
                Some(ns) => {
                    p.push_str(ns);
                    p.push('/');
                }
                // A name prefix without a namespace cannot narrow an etcd prefix.
                None => return p,
            }
        }
        if let Some(name) = &self.name_prefix {
            p.push_str(name);
        }
        p
    }
    fn key_from_path(&self, path: &str) -> Option<ResourceKey<S>> {
        let rest = path
            .strip_prefix(RESOURCES_PREFIX)?
            .strip_prefix(S::PLURAL)?
            .strip_prefix('/')?;
        let (namespace, name) = if S::NAMESPACED {
            let (ns, name) = rest.split_once('/')?;
            if self.namespace.as_deref().is_some_and(|want| want != ns) {
                return None;
            }
            (ns, name)
        } else {
            ("", rest)
        };
        if name.is_empty()
            || name.contains('/')
            || self
                .name_prefix
                .as_deref()
                .is_some_and(|p| !name.starts_with(p))
        {
            return None;
        }
        Some(ResourceKey {
            namespace: namespace.to_string(),
            name: name.to_string(),
            spec: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{IpPoolSpec, WorkloadEndpointSpec};

    fn net(s: &str) -> IpNetwork {
        s.parse().unwrap()
    }

    #[test]
    fn block_paths_match_calico() {
        assert_eq!(
            BlockKey::new(net("10.0.0.0/26")).path(),
            "/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26"
        );
        assert_eq!(
            BlockKey::new(net("fd80:24e2:f998:72d6::45/122")).path(),
            "/calico/ipam/v2/assignment/ipv6/block/fd80:24e2:f998:72d6::40-122"
        );
        assert_eq!(
            BlockKey::new(net("10.0.0.5/26")).to_string(),
            "BlockKey(cidr=10.0.0.0/26)"
        );
        let list = BlockList { ip_version: None };
        assert_eq!(list.prefix(), "/calico/ipam/v2/assignment/");
        assert_eq!(
            list.key_from_path("/calico/ipam/v2/assignment/ipv6/block/fd80::-122"),
            Some(BlockKey::new(net("fd80::/122")))
        );
        let v4 = BlockList {
            ip_version: Some(4),
        };
        assert_eq!(v4.prefix(), "/calico/ipam/v2/assignment/ipv4/block/");
        assert_eq!(
            v4.key_from_path("/calico/ipam/v2/assignment/ipv6/block/fd80::-122"),
            None
        );
        for bad in [
            "/calico/ipam/v2/assignment/ipv4/block/10.0.0.0",
            "/calico/ipam/v2/assignment/ipv4/block/fd80::-122",
            "/calico/ipam/v2/assignment/ipv4/blocks/10.0.0.0-26",
            "/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26/x",
        ] {
            assert_eq!(list.key_from_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn affinity_paths_match_calico() {
        let k = BlockAffinityKey::host("node1", net("10.0.0.0/26"));
        assert_eq!(
            k.path(),
            "/calico/ipam/v2/host/node1/ipv4/block/10.0.0.0-26"
        );
        assert_eq!(
            k.to_string(),
            "BlockAffinityKey(cidr=10.0.0.0/26, host=node1, affinityType=host)"
        );
        let list = BlockAffinityList::host("node1", Some(4));
        assert_eq!(list.prefix(), "/calico/ipam/v2/host/node1/ipv4/block/");
        assert_eq!(list.key_from_path(&k.path()), Some(k.clone()));
        assert_eq!(
            list.key_from_path("/calico/ipam/v2/host/node10/ipv4/block/10.0.0.0-26"),
            None
        );
        let all = BlockAffinityList::default();
        assert_eq!(all.prefix(), "/calico/ipam/v2/host/");
        assert_eq!(
            all.key_from_path("/calico/ipam/v2/host/n2/ipv6/block/fd80::-122"),
            Some(BlockAffinityKey::host("n2", net("fd80::/122")))
        );
        // The IPAM host key (not used by CNI) is not an affinity.
        assert_eq!(all.key_from_path("/calico/ipam/v2/host/n2"), None);
        let v = BlockAffinityKey {
            affinity_type: AffinityType::Virtual,
            ..BlockAffinityKey::host("lb", net("10.1.0.0/26"))
        };
        assert_eq!(
            v.path(),
            "/calico/ipam/v2/virtual/lb/ipv4/block/10.1.0.0-26"
        );
        assert_eq!(all.key_from_path(&v.path()), None);
    }

    #[test]
    fn handle_and_config_paths() {
        let h = HandleKey::new("k8s-pod-network.abc");
        assert_eq!(h.path(), "/calico/ipam/v2/handle/k8s-pod-network.abc");
        assert_eq!(h.to_string(), "IPAMHandleKey(id=k8s-pod-network.abc)");
        assert_eq!(HandleList.key_from_path(&h.path()), Some(h));
        assert_eq!(IpamConfigKey.path(), "/calico/ipam/v2/config");
    }

    #[test]
    fn resource_paths_match_calico() {
        let pool = ResourceKey::<IpPoolSpec>::global("default-ipv4-ippool");
        assert_eq!(
            pool.path(),
            "/calico/resources/v3/projectcalico.org/ippools/default-ipv4-ippool"
        );
        assert_eq!(pool.to_string(), "IPPool(default-ipv4-ippool)");
        let wep = ResourceKey::<WorkloadEndpointSpec>::namespaced("ns1", "node1-cni-abc-eth0");
        assert_eq!(
            wep.path(),
            "/calico/resources/v3/projectcalico.org/workloadendpoints/ns1/node1-cni-abc-eth0"
        );
        assert_eq!(wep.to_string(), "WorkloadEndpoint(ns1/node1-cni-abc-eth0)");

        let list =
            ResourceList::<WorkloadEndpointSpec>::in_namespace("ns1").name_prefix("node1-k8s-pod-");
        assert_eq!(
            list.prefix(),
            "/calico/resources/v3/projectcalico.org/workloadendpoints/ns1/node1-k8s-pod-"
        );
        assert_eq!(
            list.key_from_path(
                "/calico/resources/v3/projectcalico.org/workloadendpoints/ns1/node1-k8s-pod-eth0"
            ),
            Some(ResourceKey::namespaced("ns1", "node1-k8s-pod-eth0"))
        );
        assert_eq!(
            ResourceList::<IpPoolSpec>::all()
                .key_from_path("/calico/resources/v3/projectcalico.org/ippoolsx/p"),
            None
        );
    }
}
