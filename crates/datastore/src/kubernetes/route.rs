//! Which API object a datastore key is, and which API listing a key prefix is: the keys are
//! Calico's etcd paths (the typed layer's [`crate::keys`]), so the Kubernetes backend parses
//! them back, as libcalico-go's KDD client dispatches on the model key type.

use ipnetwork::IpNetwork;

use crate::keys::{
    AffinityType, BlockAffinityKey, BlockAffinityList, BlockList, HandleList, ListOptions,
    BLOCKS_PREFIX, HANDLES_PREFIX, IPAM_CONFIG_PATH, IPAM_PREFIX, RESOURCES_PREFIX,
};

/// The v3 kinds whose objects live in a namespace.
const NAMESPACED: &[&str] = &[
    "workloadendpoints",
    "networkpolicies",
    "networksets",
    "stagednetworkpolicies",
    "stagedkubernetesnetworkpolicies",
];

/// One object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Block(IpNetwork),
    Affinity(BlockAffinityKey),
    Handle(String),
    /// The IPAM settings (`/calico/ipam/v2/config`).
    IpamConfig,
    /// A v3 resource (`namespace` empty for global kinds).
    Resource {
        plural: String,
        namespace: String,
        name: String,
    },
}

pub fn target(path: &str) -> Option<Target> {
    if path == IPAM_CONFIG_PATH {
        return Some(Target::IpamConfig);
    }
    if path.starts_with(BLOCKS_PREFIX) {
        return BlockList::default()
            .key_from_path(path)
            .map(|k| Target::Block(k.cidr));
    }
    if path.starts_with(HANDLES_PREFIX) {
        return HandleList.key_from_path(path).map(|k| Target::Handle(k.id));
    }
    if path.starts_with(IPAM_PREFIX) {
        for kind in [AffinityType::Host, AffinityType::Virtual] {
            let list = BlockAffinityList {
                affinity_type: kind,
                ..BlockAffinityList::default()
            };
            if let Some(k) = list.key_from_path(path) {
                return Some(Target::Affinity(k));
            }
        }
        return None;
    }
    let rest = path.strip_prefix(RESOURCES_PREFIX)?;
    let (plural, rest) = rest.split_once('/')?;
    let (namespace, name) = if NAMESPACED.contains(&plural) {
        rest.split_once('/')?
    } else {
        ("", rest)
    };
    if plural.is_empty() || name.is_empty() || name.contains('/') {
        return None;
    }
    Some(Target::Resource {
        plural: plural.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
    })
}

/// A listing. Items are filtered by the exact key prefix afterwards, so a listing may be wider
/// than its prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    Blocks,
    Affinities {
        kind: AffinityType,
        host: Option<String>,
        version: Option<u8>,
    },
    Handles,
    Resources {
        plural: String,
        namespace: Option<String>,
        name_prefix: String,
    },
}

pub fn listing(prefix: &str) -> Option<Listing> {
    if prefix.starts_with(BLOCKS_PREFIX) {
        return Some(Listing::Blocks);
    }
    if prefix.starts_with(HANDLES_PREFIX) {
        return Some(Listing::Handles);
    }
    if let Some(rest) = prefix.strip_prefix(IPAM_PREFIX) {
        for kind in [AffinityType::Host, AffinityType::Virtual] {
            let Some(rest) = rest
                .strip_prefix(kind.as_str())
                .and_then(|r| r.strip_prefix('/'))
            else {
                continue;
            };
            // `<host>/ipv4/block/`, `<host>/`, or a partial host name.
            let mut parts = rest.split('/');
            let host = parts.next().filter(|h| !h.is_empty() && rest.contains('/'));
            let version = match parts.next() {
                Some("ipv4") => Some(4),
                Some("ipv6") => Some(6),
                _ => None,
            };
            return Some(Listing::Affinities {
                kind,
                host: host.map(str::to_string),
                version,
            });
        }
        return None;
    }
    let rest = prefix.strip_prefix(RESOURCES_PREFIX)?;
    let (plural, rest) = rest.split_once('/')?;
    if plural.is_empty() {
        return None;
    }
    let (namespace, name_prefix) = if NAMESPACED.contains(&plural) {
        match rest.split_once('/') {
            Some((ns, name)) => (Some(ns.to_string()), name),
            None => (None, ""),
        }
    } else {
        (None, rest)
    };
    Some(Listing::Resources {
        plural: plural.to_string(),
        namespace,
        name_prefix: name_prefix.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{BlockKey, HandleKey, Key, ResourceKey, ResourceList};
    use crate::resources::{IpPoolSpec, WorkloadEndpointSpec};

    #[test]
    fn every_typed_key_routes() {
        let cidr: IpNetwork = "10.0.0.0/26".parse().unwrap();
        assert_eq!(
            target(&BlockKey::new(cidr).path()),
            Some(Target::Block(cidr))
        );
        let a = BlockAffinityKey::host("node1", cidr);
        assert_eq!(target(&a.path()), Some(Target::Affinity(a)));
        assert_eq!(
            target(&HandleKey::new("Net.ABC").path()),
            Some(Target::Handle("Net.ABC".into()))
        );
        assert_eq!(target(IPAM_CONFIG_PATH), Some(Target::IpamConfig));
        assert_eq!(
            target(&ResourceKey::<IpPoolSpec>::global("p1").path()),
            Some(Target::Resource {
                plural: "ippools".into(),
                namespace: String::new(),
                name: "p1".into()
            })
        );
        assert_eq!(
            target(&ResourceKey::<WorkloadEndpointSpec>::namespaced("ns", "n-k8s-p-eth0").path()),
            Some(Target::Resource {
                plural: "workloadendpoints".into(),
                namespace: "ns".into(),
                name: "n-k8s-p-eth0".into()
            })
        );
        assert_eq!(target("/calico/ipam/v2/host/node1"), None);
    }

    #[test]
    fn every_typed_listing_routes() {
        assert_eq!(
            listing(&BlockList::default().prefix()),
            Some(Listing::Blocks)
        );
        assert_eq!(
            listing(
                &BlockList {
                    ip_version: Some(6)
                }
                .prefix()
            ),
            Some(Listing::Blocks)
        );
        assert_eq!(listing(&HandleList.prefix()), Some(Listing::Handles));
        assert_eq!(
            listing(&BlockAffinityList::host("node1", Some(4)).prefix()),
            Some(Listing::Affinities {
                kind: AffinityType::Host,
                host: Some("node1".into()),
                version: Some(4)
            })
        );
        assert_eq!(
            listing(&BlockAffinityList::default().prefix()),
            Some(Listing::Affinities {
                kind: AffinityType::Host,
                host: None,
                version: None
            })
        );
        assert_eq!(
            listing(
                &ResourceList::<WorkloadEndpointSpec>::in_namespace("ns")
                    .name_prefix("node1-k8s-pod-")
                    .prefix()
            ),
            Some(Listing::Resources {
                plural: "workloadendpoints".into(),
                namespace: Some("ns".into()),
                name_prefix: "node1-k8s-pod-".into()
            })
        );
        assert_eq!(
            listing(&ResourceList::<WorkloadEndpointSpec>::all().prefix()),
            Some(Listing::Resources {
                plural: "workloadendpoints".into(),
                namespace: None,
                name_prefix: String::new()
            })
        );
        assert_eq!(
            listing(&ResourceList::<IpPoolSpec>::all().prefix()),
            Some(Listing::Resources {
                plural: "ippools".into(),
                namespace: None,
                name_prefix: String::new()
            })
        );
    }
}
