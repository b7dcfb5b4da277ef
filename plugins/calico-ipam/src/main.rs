//! CNI `calico-ipam`: Calico's IPAM plugin. ADD assigns addresses from Calico IP pools (or the
//! specific `IP=` of CNI_ARGS) through the datastore, DEL releases the container's handle (and
//! the pre-v3 legacy handle; a KubeVirt VM's addresses outlive its pods: `kubevirt`), CHECK is
//! a no-op as in Calico, and GC/STATUS (CNI 1.1), which
//! Calico does not have, are real: GC frees this node's handles of dead containers, STATUS
//! says whether the datastore and a usable pool are there.

mod config;
mod gc;
mod kubevirt;
mod lock;
mod status;
mod upgrade;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::SystemTime;

use calicolog::{debug, info};
use datastore::batch::Read;
use datastore::model::{ATTR_NAMESPACE, ATTR_NODE, ATTR_POD, ATTR_TIMESTAMP};
use datastore::resources::{Node, NodeSpec};
use datastore::{Datastore, HandleKey, ResourceKey};
use ipam::pools;
use ipam::{AutoAssignArgs, Ipam, IpamError, NamespaceLabels};
use ipnetwork::IpNetwork;
use libcni::skel::{self, CmdArgs, Plugin};
use libcni::types::{v100, Route};
use libcni::{version, CniCode, CniError, CniResult, PluginInfo};

#[global_allocator]
static ALLOC: skel::PluginAllocator = skel::PluginAllocator;

struct CalicoIpam;

impl Plugin for CalicoIpam {
    fn add(&self, args: &CmdArgs) -> Result<CniResult, CniError> {
        let (conf, keys) = config::parse(&args.stdin_data)?;
        let node = conf.node_name();
        start_logging(&conf);
        let ds = open(&keys, &node)?;
        let cni_args = config::args(&args.args)?;
        // Without persistence a launcher pod is an ordinary pod, but a migration target
        // cannot be one.
        let vm = match virt_launcher(&conf, &ds, &cni_args)? {
            Some(v) if v.persistent => Some(v.vmi),
            Some(v) if v.vmi.is_migration_target() => {
                return Err(CniError::internal(
                    "live migration target pod is not allowed when KubeVirtVMAddressPersistence is disabled",
                ))
            }
            _ => None,
        };
        let handle = match &vm {
            Some(vmi) => vmi.handle(&conf.name),
            None => format!("{}.{}", conf.name, args.container_id),
        };
        let ids = format!("ContainerID={:?} HandleID={handle:?}", args.container_id);
        let mut attrs = BTreeMap::from([
            (ATTR_NODE.to_string(), node.clone()),
            (
                ATTR_TIMESTAMP.to_string(),
                datastore::time::go_utc_string(SystemTime::now()),
            ),
        ]);
        if cni_args.is_k8s() {
            attrs.insert(ATTR_POD.into(), cni_args.pod.clone());
            attrs.insert(ATTR_NAMESPACE.into(), cni_args.namespace.clone());
        }
        let ipam = Ipam::new(&ds);
        if let Some(vmi) = &vm {
            vmi.add_attrs(&mut attrs);
            if let Some(reused) = kubevirt::reuse(&ipam, &handle, &attrs, vmi)? {
                return result(&reused.ips, reused.routes, &conf.cni_version);
            }
        }
        let ips: Vec<IpNetwork> = match cni_args.ip {
            Some(ip) => {
                info!("Calico CNI IPAM request IP: {ip} {ids}");
                let _lock = lock::acquire(&conf.ipam_lock_file, &ds);
                upgrade::maybe_upgrade_host(&conf.ipam_lock_file, &ds, &node)
                    .map_err(|e| e.to_cni())?;
                ipam.assign_ip(ip, &handle, &attrs, &node)
                    .map_err(|e| e.to_cni())?;
                vec![IpNetwork::from(ip)]
            }
            None => {
                let (num4, num6) = (conf.ipam.num4(), conf.ipam.num6());
                info!("Calico CNI IPAM request count IPv4={num4} IPv6={num6} {ids}");
                debug!("Calico CNI IPAM handle={handle} {ids}");
                auto_assign(&ipam, &conf, &ds, handle, attrs, node, &cni_args.namespace)?
            }
        };
        debug!(
            "IPAM Result ips={:?} {ids}",
            ips.iter().map(ToString::to_string).collect::<Vec<_>>()
        );
        // Calico v3.32: one route per address, keeping the block mask.
        result(&ips, true, &conf.cni_version)
    }

    fn del(&self, args: &CmdArgs) -> Result<(), CniError> {
        let (conf, keys) = config::parse(&args.stdin_data)?;
        start_logging(&conf);
        let node = conf.node_name();
        let ds = open(&keys, &node)?;
        let cni_args = config::args(&args.args)?;
        let vm = virt_launcher(&conf, &ds, &cni_args)?;
        let ipam = Ipam::new(&ds);
        let _lock = lock::acquire(&conf.ipam_lock_file, &ds);
        if let Some(v) = vm.filter(|v| v.persistent) {
            let pod = ipam::owner::Owner::new(&cni_args.namespace, &cni_args.pod);
            return kubevirt::release(&ipam, &v.vmi.handle(&conf.name), &v.vmi, &pod);
        }
        let handles = [
            cni_args.legacy_handle(&args.container_id),
            format!("{}.{}", conf.name, args.container_id),
        ];
        // Both handles in one round trip. The legacy (pre-v3) one goes first: it is almost
        // never there, so releasing it writes nothing and keeps the other read valid.
        ds.prefetch(
            handles
                .iter()
                .map(|h| Read::of(&HandleKey::new(h)))
                .collect(),
        )
        .map_err(|e| e.to_cni())?;
        for handle in handles {
            let ids = format!("ContainerID={:?} HandleID={handle:?}", args.container_id);
            info!("Releasing address using handle {ids}");
            match ipam.release_by_handle(&handle) {
                Ok(()) => info!("Released address using handle {ids}"),
                Err(e) if e.is_not_found() => {
                    debug!("Asked to release address but it doesn't exist. Ignoring {ids}")
                }
                Err(e) => {
                    calicolog::error!("Failed to release address: {e} {ids}");
                    return Err(e.to_cni());
                }
            }
        }
        Ok(())
    }

    /// Calico's calico-ipam has no CHECK: success, no output.
    fn check(&self, _args: &CmdArgs) -> Result<(), CniError> {
        Ok(())
    }

    fn gc(&self, args: &CmdArgs) -> Result<(), CniError> {
        gc::run(args)
    }

    fn status(&self, args: &CmdArgs) -> Result<(), CniError> {
        status::run(args)
    }
}

/// The ADD result: every address, with a route to each when `routes` (as Calico v3.32's
/// calico-ipam), printed in the config's version.
fn result(ips: &[IpNetwork], routes: bool, cni_version: &str) -> Result<CniResult, CniError> {
    let result = v100::Result100 {
        cni_version: v100::IMPLEMENTED.into(),
        interfaces: Vec::new(),
        ips: ips
            .iter()
            .map(|&address| v100::IpConfig {
                interface: None,
                address,
                gateway: None,
            })
            .collect(),
        routes: if routes {
            ips.iter().map(|&dst| Route::new(dst, None)).collect()
        } else {
            Vec::new()
        },
        dns: Default::default(),
    };
    CniResult::V100(result)
        .get_as_version(cni_version)
        .map_err(CniError::internal)
}

/// A KubeVirt launcher pod's VMI, and whether the IPAM configuration lets its VM keep its
/// addresses (read only for such pods).
struct VirtLauncher {
    vmi: kubevirt::Vmi,
    persistent: bool,
}

fn virt_launcher(
    conf: &config::Conf,
    ds: &Datastore,
    cni_args: &config::Args,
) -> Result<Option<VirtLauncher>, CniError> {
    let vmi = kubevirt::lookup(cni_args, || {
        Ok(ds.kube_client_or_new(&conf.kube_settings())?)
    })?;
    Ok(vmi.map(|vmi| VirtLauncher {
        vmi,
        persistent: kubevirt::persistence_enabled(ds),
    }))
}

/// Auto-assignment with Calico's dual-stack rollback: a family that came up short releases
/// what the other family got, then the shortfall is the error.
fn auto_assign(
    ipam: &Ipam,
    conf: &config::Conf,
    ds: &Datastore,
    handle: String,
    attrs: BTreeMap<String, String>,
    node: String,
    namespace: &str,
) -> Result<Vec<IpNetwork>, CniError> {
    let (num4, num6) = (conf.ipam.num4(), conf.ipam.num6());
    let namespace_labels = namespace_labels(conf, ds, namespace)?;
    let v4pools = pools::resolve(ds, &conf.ipam.ipv4_pools, true).map_err(|e| e.to_cni())?;
    let v6pools = pools::resolve(ds, &conf.ipam.ipv6_pools, false).map_err(|e| e.to_cni())?;
    let args = AutoAssignArgs {
        num4,
        num6,
        handle,
        attrs,
        host: node,
        ipv4_pools: v4pools,
        ipv6_pools: v6pools,
        max_blocks_per_host: 0,
        namespace_labels,
    };
    let (v4, v6) = {
        let _lock = lock::acquire(&conf.ipam_lock_file, ds);
        info!("Auto assigning IP");
        ipam.auto_assign(&args).map_err(|e| e.to_cni())?
    };
    info!(
        "Calico CNI IPAM assigned addresses IPv4={:?} IPv6={:?}",
        v4.ips.iter().map(ToString::to_string).collect::<Vec<_>>(),
        v6.ips.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
    let release = |ips: &[IpNetwork]| {
        let addrs: Vec<IpAddr> = ips.iter().map(IpNetwork::ip).collect();
        // Best effort, as in Calico: the DEL by handle frees anything left.
        let _ = ipam.release_ips(&addrs);
    };
    if num4 == 1 && v4.ips.len() < num4 && num6 == 1 && !v6.ips.is_empty() {
        release(&v6.ips);
    }
    if num6 == 1 && v6.ips.len() < num6 && num4 == 1 && !v4.ips.is_empty() {
        release(&v4.ips);
    }
    let mut out = Vec::new();
    if num4 == 1 {
        if let Some(e) = v4.partial_fulfillment_error() {
            return Err(CniError::internal(format!(
                "failed to request IPv4 addresses: {e}"
            )));
        }
        out.push(v4.ips[0]);
    }
    if num6 == 1 {
        if let Some(e) = v6.partial_fulfillment_error() {
            return Err(CniError::internal(format!(
                "failed to request IPv6 addresses: {e}"
            )));
        }
        out.push(v6.ips[0]);
    }
    Ok(out)
}

/// The labels of the workload's Kubernetes namespace, for pools' `namespaceSelector`: from
/// the API when one is configured (a kubeconfig, or `policy.type` k8s) and CNI_ARGS name a
/// namespace, as Calico's calico-ipam does, read only if a pool selects by namespace (Calico
/// reads it on every such ADD); a failed read fails the ADD. Empty otherwise.
fn namespace_labels(
    conf: &config::Conf,
    ds: &Datastore,
    namespace: &str,
) -> Result<NamespaceLabels, CniError> {
    if namespace.is_empty() || !conf.has_kubernetes() {
        return Ok(NamespaceLabels::default());
    }
    let client = ds.kube_client_or_new(&conf.kube_settings())?;
    let path = format!("/api/v1/namespaces/{namespace}");
    Ok(NamespaceLabels::read_with(move || {
        let ns = client
            .get(&path)
            .map_err(|e| IpamError::msg(e.to_string()))?;
        Ok(ns
            .pointer("/metadata/labels")
            .and_then(serde_json::Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default())
    }))
}

/// Calico's `ConfigureLogging`: calico-ipam reads the same `log_*` keys as calico and writes
/// to the same file.
pub(crate) fn start_logging(conf: &config::Conf) {
    calicolog::init("ipam", &conf.log_settings());
}

/// Opens the datastore the NetConf names. On the local store (one machine, no calico-node) the
/// first use initialises ClusterInformation and this Node, which calico-node would otherwise
/// create.
pub(crate) fn open(keys: &datastore::NetConfDatastore, node: &str) -> Result<Datastore, CniError> {
    // A client it cannot create is returned as it is (Calico: code 999 for all; ours says
    // whether a retry helps: 7 config, 11 outage).
    let ds = Datastore::from_keys(keys).map_err(|e| e.to_cni())?;
    if ds.backend() == "local" {
        ensure_local_node(&ds, node).map_err(|e| e.to_cni())?;
    }
    Ok(ds)
}

pub(crate) fn ensure_local_node(ds: &Datastore, node: &str) -> Result<(), IpamError> {
    ds.ensure_cluster_information(env!("CARGO_PKG_VERSION"), "cni-rs")?;
    if ds
        .get_resource(&ResourceKey::<NodeSpec>::global(node))?
        .is_none()
    {
        match ds.create_resource(&Node::new(node, NodeSpec::default())) {
            Ok(_) => {}
            Err(e) if e.is_already_exists() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn main() {
    // Calico parses its flags before skel: `-v` prints the version, `-upgrade` migrates
    // host-local's allocations.
    if let Some(flag) = std::env::args().nth(1) {
        match flag.as_str() {
            "-v" | "--v" => {
                println!("v{}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            "-upgrade" | "--upgrade" => std::process::exit(upgrade::run()),
            _ => {}
        }
    }
    skel::run(
        &CalicoIpam,
        &PluginInfo::supports(version::ALL),
        &format!("Calico CNI IPAM v{}", env!("CARGO_PKG_VERSION")),
    )
}
