//! `calico-ipam -upgrade`: the host-local → calico-ipam migration Calico runs in calico-node's
//! `upgrade-ipam` init container (Kubernetes datastore only). The pods host-local addressed
//! on this node keep their addresses, now held in Calico IPAM under the handles calico-ipam
//! would have used:
//!
//! 1. nothing to do without `/var/lib/cni/networks/k8s-pod-network`;
//! 2. the node gets its IPIP tunnel address (the first host of its pod CIDR, handle
//!    `ipip-tunnel-addr-<node>`) unless it has one;
//! 3. an empty directory is removed, done; otherwise ClusterInformation goes not-ready and
//!    `/host/opt/cni/bin/{calico,host-local}` are removed so no new pod is networked
//!    meanwhile;
//! 4. under host-local's own lock, each reservation file (`<ip>` holding the container ID) of
//!    a pod still running on this node becomes an allocation of handle
//!    `k8s-pod-network.<container ID>`; the files go;
//! 5. ClusterInformation ready again, the directory removed.
//!
//! A failure retries the whole migration every second, as Calico does (each step is
//! idempotent).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use datastore::model::{ATTR_NAMESPACE, ATTR_NODE, ATTR_POD};
use datastore::resources::{
    ClusterInformationSpec, NodeBgpSpec, NodeSpec, CLUSTER_INFORMATION_NAME,
};
use datastore::{Datastore, DatastoreConfig, NetConfDatastore, ResourceKey};
use ipam::Ipam;
use ipnetwork::IpNetwork;
use serde_json::Value;

pub const HOST_LOCAL_DIR: &str = "/var/lib/cni/networks/k8s-pod-network";
/// What is removed from the host so that no pod is networked during the migration.
pub const HOST_BINARIES: [&str; 2] = ["/host/opt/cni/bin/calico", "/host/opt/cni/bin/host-local"];

/// A container path under `CNI_INSTALL_ROOT` (ours, as the install tool's: to run the
/// migration outside calico-node's init container, e.g. in tests); `/` by default.
fn container_path(path: &str) -> std::path::PathBuf {
    match std::env::var_os("CNI_INSTALL_ROOT").filter(|r| !r.is_empty()) {
        Some(root) => Path::new(&root).join(path.trim_start_matches('/')),
        None => path.into(),
    }
}
/// The network name host-local reservations were made under.
const NETWORK: &str = "k8s-pod-network";

fn log(msg: &str) {
    eprintln!("calico-ipam -upgrade: {msg}");
}

/// Runs the migration until it succeeds; the process's exit status.
pub fn run() -> i32 {
    let node = std::env::var("KUBERNETES_NODE_NAME").unwrap_or_default();
    if node.is_empty() {
        log("KUBERNETES_NODE_NAME not specified, refusing to migrate...");
        return 1;
    }
    // Calico: the client config from the environment, forced to the Kubernetes datastore.
    let config = DatastoreConfig::resolve(
        &NetConfDatastore {
            datastore_type: datastore::config::KUBERNETES.into(),
            ..NetConfDatastore::default()
        },
        &|k| std::env::var(k).ok(),
    );
    let opened = config.and_then(|c| {
        let sources = match &c {
            DatastoreConfig::Kubernetes(k) => k.sources.clone(),
            _ => kubeclient::Sources::default(),
        };
        Ok((c.open()?, sources))
    });
    let (ds, sources) = match opened {
        Ok(o) => o,
        Err(e) => {
            log(&format!("failed to create the datastore client: {e}"));
            return 1;
        }
    };
    let Some(client) = ds.kube_client_for(&sources) else {
        log("the migration needs the Kubernetes datastore");
        return 1;
    };
    loop {
        match migrate(&ds, client, &node, &container_path(HOST_LOCAL_DIR)) {
            Ok(()) => return 0,
            Err(e) => {
                log(&format!("migration failed, retrying in 1s: {e}"));
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

type Result<T> = std::result::Result<T, String>;

fn migrate(ds: &Datastore, client: &kubeclient::Client, node: &str, dir: &Path) -> Result<()> {
    if !dir.exists() {
        log(&format!(
            "{} does not exist: nothing to migrate",
            dir.display()
        ));
        return Ok(());
    }
    ensure_tunnel_address(ds, client, node)?;
    let entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .flatten()
        .collect();
    if entries.is_empty() {
        return std::fs::remove_dir(dir).map_err(|e| e.to_string());
    }
    set_ready(ds, false)?;
    for bin in HOST_BINARIES.map(container_path) {
        match std::fs::remove_file(&bin) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("remove {}: {e}", bin.display())),
        }
    }
    // Let a plugin that was already running finish.
    std::thread::sleep(Duration::from_secs(5));
    {
        let _lock = HostLocalLock::take(dir)?;
        let pods = pods_by_ip(client, node)?;
        let ipam = Ipam::new(ds);
        for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "lock" {
                continue;
            }
            let path = entry.path();
            if !name.contains("last") {
                import(&ipam, node, &name, &path, &pods)?;
            }
            std::fs::remove_file(&path).map_err(|e| format!("remove {}: {e}", path.display()))?;
        }
    }
    set_ready(ds, true)?;
    std::fs::remove_dir_all(dir).map_err(|e| e.to_string())
}

/// One reservation file: the address becomes an allocation of the pod's handle if a pod on
/// this node still has it.
fn import(
    ipam: &Ipam,
    node: &str,
    name: &str,
    path: &Path,
    pods: &HashMap<IpAddr, (String, String)>,
) -> Result<()> {
    let Ok(ip) = name.parse::<IpAddr>() else {
        return Ok(());
    };
    let Some((namespace, pod)) = pods.get(&ip) else {
        log(&format!(
            "no pod on this node has {ip}: dropping its reservation"
        ));
        return Ok(());
    };
    let contents = libcni::fs::read_bounded(path, 4096).map_err(|e| e.to_string())?;
    let container = String::from_utf8_lossy(&contents)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let handle = format!("{NETWORK}.{container}");
    let attrs = BTreeMap::from([
        (ATTR_NODE.to_string(), node.to_string()),
        (ATTR_POD.to_string(), pod.clone()),
        (ATTR_NAMESPACE.to_string(), namespace.clone()),
    ]);
    match ipam.assign_ip(ip, &handle, &attrs, node) {
        Ok(()) => Ok(()),
        // Imported by an earlier attempt.
        Err(e) if e.to_string().contains("already assigned") => Ok(()),
        Err(e) => Err(format!("assign {ip} to {handle}: {e}")),
    }
}

/// The marker of a host whose IPAM objects are upgraded, next to the host lock (Calico:
/// `/var/run/calico/cni/ipam_upgraded`, beside the default `/var/run/calico/ipam.lock`).
pub fn marker_path(lock_file: &str) -> std::path::PathBuf {
    let lock = if lock_file.is_empty() {
        crate::lock::DEFAULT_LOCK_FILE
    } else {
        lock_file
    };
    Path::new(lock)
        .parent()
        .unwrap_or(Path::new("/"))
        .join("cni")
        .join("ipam_upgraded")
}

/// Calico's `maybeUpgradeIPAM`, run by the first specific-IP ADD on a host: the host's
/// objects upgraded (`UpgradeHost`), then the marker written so later ADDs skip it.
pub fn maybe_upgrade_host(
    lock_file: &str,
    ds: &Datastore,
    node: &str,
) -> std::result::Result<(), datastore::DatastoreError> {
    let marker = marker_path(lock_file);
    if marker.exists() {
        return Ok(());
    }
    ds.upgrade_host(node)?;
    if let Some(dir) = marker.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::File::create(&marker);
    Ok(())
}

/// The running pods of this node by address (Calico lists them with a field selector).
fn pods_by_ip(
    client: &kubeclient::Client,
    node: &str,
) -> Result<HashMap<IpAddr, (String, String)>> {
    let list = client
        .get(&format!(
            "/api/v1/pods?fieldSelector=spec.nodeName%3D{node}"
        ))
        .map_err(|e| e.to_string())?;
    let mut out = HashMap::new();
    for pod in list
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = |p: &str| {
            pod.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        for ip in pod
            .pointer("/status/podIPs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|i| i.get("ip").and_then(Value::as_str))
            .chain(pod.pointer("/status/podIP").and_then(Value::as_str))
        {
            if let Ok(ip) = ip.parse() {
                out.insert(ip, (text("/metadata/namespace"), text("/metadata/name")));
            }
        }
    }
    Ok(out)
}

/// The IPIP tunnel address (the pod CIDR's first host) unless the node has one.
fn ensure_tunnel_address(ds: &Datastore, client: &kubeclient::Client, node: &str) -> Result<()> {
    let key = ResourceKey::<NodeSpec>::global(node);
    let calico = ds
        .get_resource(&key)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("node {node} not found"))?;
    if calico
        .spec
        .bgp
        .as_ref()
        .is_some_and(|b| !b.ipv4_ipip_tunnel_addr.is_empty())
    {
        return Ok(());
    }
    let k8s = client
        .get(&format!("/api/v1/nodes/{node}"))
        .map_err(|e| e.to_string())?;
    let cidr = k8s
        .pointer("/spec/podCIDR")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Ok(IpNetwork::V4(net)) = cidr.parse::<IpNetwork>() else {
        log(&format!(
            "node {node} has no IPv4 pod CIDR: no tunnel address"
        ));
        return Ok(());
    };
    let ip = IpAddr::V4((u32::from(net.network()) + 1).into());
    let attrs = BTreeMap::from([
        (ATTR_NODE.to_string(), node.to_string()),
        ("type".to_string(), "ipipTunnelAddress".to_string()),
    ]);
    match Ipam::new(ds).assign_ip(ip, &format!("ipip-tunnel-addr-{node}"), &attrs, node) {
        Ok(()) => {}
        Err(e) if e.to_string().contains("already assigned") => {}
        Err(e) => return Err(format!("assign the tunnel address {ip}: {e}")),
    }
    for _ in 0..5 {
        let Some(mut n) = ds.get_resource(&key).map_err(|e| e.to_string())? else {
            return Err(format!("node {node} not found"));
        };
        n.spec
            .bgp
            .get_or_insert_with(NodeBgpSpec::default)
            .ipv4_ipip_tunnel_addr = ip.to_string();
        match ds.update_resource(&n) {
            Ok(_) => return Ok(()),
            Err(e) if e.is_conflict() => std::thread::sleep(Duration::from_secs(1)),
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(format!(
        "node {node}: too many conflicts setting the tunnel address"
    ))
}

fn set_ready(ds: &Datastore, ready: bool) -> Result<()> {
    let key = ResourceKey::<ClusterInformationSpec>::global(CLUSTER_INFORMATION_NAME);
    for _ in 0..5 {
        let Some(mut ci) = ds.get_resource(&key).map_err(|e| e.to_string())? else {
            return Err("ClusterInformation default not found".into());
        };
        if ci.spec.datastore_ready == Some(ready) {
            return Ok(());
        }
        ci.spec.datastore_ready = Some(ready);
        match ds.update_resource(&ci) {
            Ok(_) => return Ok(()),
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("ClusterInformation: too many conflicts".into())
}

/// host-local's store lock (`flock` on `<dir>/lock`), so no host-local process allocates
/// while the files move.
struct HostLocalLock(#[allow(dead_code)] std::fs::File);

impl HostLocalLock {
    fn take(dir: &Path) -> Result<HostLocalLock> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))
            .map_err(|e| format!("open the host-local lock: {e}"))?;
        // SAFETY: a valid descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(format!(
                "lock the host-local store: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(HostLocalLock(f))
    }
}
