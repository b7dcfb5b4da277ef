//! Which pools an allocation may use (libcalico-go `determinePools`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use datastore::resources::{IpPool, ALLOWED_USE_WORKLOAD};
use datastore::{Datastore, ResourceList};
use ipnetwork::IpNetwork;

use crate::error::{IpamError, Result};
use crate::selector;

/// A usable pool: its name, CIDR and block prefix length.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub name: String,
    pub cidr: IpNetwork,
    pub block_size: u8,
    pub node_selector: String,
    /// Empty: every namespace.
    pub namespace_selector: String,
    pub allowed_uses: Vec<String>,
    pub automatic: bool,
}

impl Pool {
    fn from_resource(p: &IpPool) -> Option<Pool> {
        let cidr = datastore::keys::normalize(p.spec.network()?);
        Some(Pool {
            name: p.metadata.name.clone(),
            cidr,
            block_size: p.spec.block_size,
            node_selector: p.spec.node_selector.clone(),
            namespace_selector: p.spec.namespace_selector.clone(),
            allowed_uses: p.spec.allowed_uses.clone(),
            automatic: p.spec.is_automatic(),
        })
    }

    /// The block of this pool that holds `ip`.
    pub fn block_of(&self, ip: IpAddr) -> IpNetwork {
        datastore::keys::normalize(IpNetwork::new(ip, self.block_size).expect("valid prefix"))
    }

    pub fn allows(&self, used_for: &str) -> bool {
        self.allowed_uses.iter().any(|u| u == used_for)
    }

    pub fn selects(&self, node_labels: &BTreeMap<String, String>) -> bool {
        selector::matches(&self.node_selector, node_labels).unwrap_or(false)
    }

    /// The pool's `namespaceSelector` against the workload's namespace labels (empty when
    /// the workload has no Kubernetes namespace); an empty selector selects every namespace.
    /// Does the pool take workloads of this namespace? The labels are only read when the
    /// pool has a selector.
    pub fn selects_namespace(&self, namespace_labels: &NamespaceLabels) -> Result<bool> {
        if self.namespace_selector.trim().is_empty() {
            return Ok(true);
        }
        Ok(selector::matches(&self.namespace_selector, namespace_labels.get()?).unwrap_or(false))
    }
}

/// Enabled pools of one IP version (4 or 6): not disabled, not being deleted, no
/// `Allocatable=False` condition, a block size the family allows.
pub fn enabled_pools(ds: &Datastore, version: u8) -> Result<Vec<Pool>> {
    let all = ds.list_resources(&ResourceList::<datastore::resources::IpPoolSpec>::all())?;
    Ok(all
        .iter()
        .filter(|p| !p.spec.disabled && p.metadata.deletion_timestamp.is_none())
        .filter(|p| !not_allocatable(p))
        .filter_map(Pool::from_resource)
        .filter(|p| {
            let max = if version == 4 { 32 } else { 128 };
            (p.cidr.is_ipv4() == (version == 4))
                && p.block_size <= max
                && p.block_size >= p.cidr.prefix()
        })
        .collect())
}

fn not_allocatable(p: &IpPool) -> bool {
    let Some(conds) = p
        .status
        .as_ref()
        .and_then(|s| s.get("conditions"))
        .and_then(|c| c.as_array())
    else {
        return false;
    };
    conds.iter().any(|c| {
        c.get("type").and_then(|t| t.as_str()) == Some("Allocatable")
            && c.get("status").and_then(|t| t.as_str()) == Some("False")
    })
}

/// The pools an auto-assignment on `host` uses, in order. `requested` (CIDRs) are taken as
/// is (selectors ignored) and must each be an enabled pool; otherwise the automatic pools whose
/// node selector matches the node's labels and whose namespace selector matches
/// `namespace_labels`. Then only those allowing `Workload`.
pub fn select(
    ds: &Datastore,
    version: u8,
    host: &str,
    requested: &[IpNetwork],
    namespace_labels: &NamespaceLabels,
) -> Result<Vec<Pool>> {
    select_full(ds, version, host, requested, namespace_labels).map(|s| s.pools)
}

/// What pool selection read, for callers that need more than the chosen pools.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The pools to allocate from, in order.
    pub pools: Vec<Pool>,
    /// Every enabled pool of the family.
    pub enabled: Vec<Pool>,
    /// The Calico Node's labels.
    pub labels: BTreeMap<String, String>,
}

/// [`select`], also returning the enabled pools and node labels it read (one read each).
/// The node must exist, requested pools or not (libcalico-go reads it first).
pub fn select_full(
    ds: &Datastore,
    version: u8,
    host: &str,
    requested: &[IpNetwork],
    namespace_labels: &NamespaceLabels,
) -> Result<Selection> {
    let labels = node_labels(ds, host)?;
    let enabled = enabled_pools(ds, version)?;
    let pools = choose(&enabled, &labels, namespace_labels, host, requested)?;
    Ok(Selection {
        pools,
        enabled,
        labels,
    })
}

fn choose(
    enabled: &[Pool],
    labels: &BTreeMap<String, String>,
    namespace_labels: &NamespaceLabels,
    host: &str,
    requested: &[IpNetwork],
) -> Result<Vec<Pool>> {
    if enabled.is_empty() {
        return Err(IpamError::msg("cannot find a qualified ippool"));
    }
    let chosen: Vec<Pool> = if !requested.is_empty() {
        let mut out = Vec::new();
        for want in requested {
            let want = datastore::keys::normalize(*want);
            match enabled.iter().find(|p| p.cidr == want) {
                Some(p) => out.push(p.clone()),
                None => {
                    return Err(IpamError::msg(format!(
                        "the given pool ({want}) does not exist, or is not enabled"
                    )))
                }
            }
        }
        out
    } else {
        let mut out: Vec<Pool> = Vec::new();
        for p in enabled {
            if p.automatic && p.selects(labels) && p.selects_namespace(namespace_labels)? {
                out.push(p.clone());
            }
        }
        if out.is_empty() {
            return Err(IpamError::msg(format!(
                "no configured Calico pools for node {host}"
            )));
        }
        out
    };
    let usable: Vec<Pool> = chosen
        .into_iter()
        .filter(|p| p.allows(ALLOWED_USE_WORKLOAD))
        .collect();
    if usable.is_empty() {
        return Err(IpamError::msg(format!(
            "cannot find a qualified ippool, no pools match the required use ({ALLOWED_USE_WORKLOAD})"
        )));
    }
    Ok(usable)
}

/// The Calico Node's labels; the node must exist.
pub fn node_labels(ds: &Datastore, host: &str) -> Result<BTreeMap<String, String>> {
    match ds
        .get_resource(&datastore::ResourceKey::<datastore::resources::NodeSpec>::global(host))?
    {
        Some(n) => Ok(n.metadata.labels),
        None => Err(IpamError::Datastore(datastore::DatastoreError::NotFound {
            identifier: format!("Node({host})"),
        })),
    }
}

/// Resolves `ipv4_pools`/`ipv6_pools` entries (CIDRs or pool names) to CIDRs, as the plugin's
/// `ResolvePools` does.
pub fn resolve(ds: &Datastore, entries: &[String], v4: bool) -> Result<Vec<IpNetwork>> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let mut pools: Option<Vec<IpPool>> = None;
    let mut out = Vec::new();
    for e in entries {
        let cidr = match e.parse::<IpNetwork>() {
            Ok(c) => c,
            Err(_) => {
                if pools.is_none() {
                    pools =
                        Some(ds.list_resources(
                            &ResourceList::<datastore::resources::IpPoolSpec>::all(),
                        )?);
                }
                let found = pools
                    .as_ref()
                    .and_then(|ps| ps.iter().find(|p| p.metadata.name == *e))
                    .and_then(|p| p.spec.network());
                match found {
                    Some(c) => c,
                    None => {
                        return Err(IpamError::msg(format!(
                            "error parsing pool \"{e}\": invalid CIDR address: {e}"
                        )))
                    }
                }
            }
        };
        if cidr.is_ipv4() != v4 {
            let fam = if v4 { "IPv4" } else { "IPv6" };
            return Err(IpamError::msg(format!(
                "\"{}\" isn't a {fam} address",
                cidr.ip()
            )));
        }
        out.push(cidr);
    }
    Ok(out)
}

/// Reads a namespace's labels (the Kubernetes API, for calico-ipam).
pub type LabelReader = dyn Fn() -> Result<BTreeMap<String, String>> + Send + Sync;

/// A workload's Kubernetes namespace labels, for pools' `namespaceSelector`: given, or read
/// the first time a pool with a selector needs them (so an ADD where no pool selects by
/// namespace does not read the Namespace at all).
#[derive(Clone, Default)]
pub struct NamespaceLabels {
    known: Arc<OnceLock<BTreeMap<String, String>>>,
    read: Option<Arc<LabelReader>>,
}

impl NamespaceLabels {
    pub fn known(labels: BTreeMap<String, String>) -> Self {
        let known = OnceLock::new();
        let _ = known.set(labels);
        NamespaceLabels {
            known: Arc::new(known),
            read: None,
        }
    }

    pub fn read_with(
        f: impl Fn() -> Result<BTreeMap<String, String>> + Send + Sync + 'static,
    ) -> Self {
        NamespaceLabels {
            known: Arc::default(),
            read: Some(Arc::new(f)),
        }
    }

    /// The labels (none when neither given nor readable).
    pub fn get(&self) -> Result<&BTreeMap<String, String>> {
        if let Some(l) = self.known.get() {
            return Ok(l);
        }
        let labels = match &self.read {
            Some(read) => read()?,
            None => BTreeMap::new(),
        };
        Ok(self.known.get_or_init(|| labels))
    }
}

impl std::fmt::Debug for NamespaceLabels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceLabels")
            .field("known", &self.known.get())
            .field("read", &self.read.is_some())
            .finish()
    }
}
