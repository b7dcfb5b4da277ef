//! The plugins as Kubernetes runs them: containerd's CRI plugin (go-cni over Go's libcni)
//! drives the CNI chain, with its capitalised `portMappings` keys, its `K8S_POD_*` CNI_ARGS,
//! its loopback network and its own DEL after a failed ADD. Our CRI client plays the kubelet:
//! RunPodSandbox with a port mapping → PodSandboxStatus → StopPodSandbox → RemovePodSandbox.
//!
//! Three chains, one test each:
//! - calico + calico-ipam + portmap + tuning on the local datastore (a private store dir);
//! - the same on the Kubernetes datastore, testkit's stand-in API server (no kube-apiserver can
//!   be installed here) holding the Node and the Pod;
//! - Debian's Go `bridge` + our host-local + portmap + tuning.
//!
//! Each checks that the pod IP containerd reports is what IPAM allocated to the sandbox, that
//! portmap's DNAT is in the node's nat table, that a connection from outside the node to the
//! published port reaches a listener in the pod's netns, and that after Remove nothing is
//! left: no veth, no portmap chain, no libcni cache entry, no IPAM allocation, no tuning
//! backup. Then a sandbox whose ADD fails in portmap (a host IP that is not an address):
//! RunPodSandbox fails with portmap's error and containerd's cleanup DEL leaves nothing.
//!
//! The node is a throwaway netns with an uplink veth to a "client" netns; containerd runs in
//! it with everything private (see `testkit::containerd`), so nothing touches the machine.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::containerd::Containerd;
use testkit::cri::messages::{PodSandboxConfig, PodSandboxState, PortMapping, Protocol};
use testkit::{KubeApi, KubeApiOptions, TempNetns, CNI_TOKEN};

const NET: &str = "k8s-pod-network";
const NODE: &str = "node1";
const NODE_IP: &str = "10.99.0.1";
const CLIENT_IP: &str = "10.99.0.2";
const HOST_PORT: u16 = 8080;
const CONTAINER_PORT: u16 = 80;
const POD_NS: &str = "default";
const POD: &str = "web-0";
const POOL: &str = "10.244.0.0/24";
const BRIDGE_SUBNET: &str = "10.88.0.0/24";
/// tuning's change to the pod interface, which it backs up and restores.
const TUNED_MTU: u32 = 1400;
/// What the listener in the pod answers.
const GREETING: &str = "hello from the pod\n";

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stdout_ok(what: &str, out: Output) -> String {
    assert!(out.status.success(), "{what}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `args` in the network namespace at `netns` (nsenter: no /sys remount, no named netns
/// needed, so a sandbox's netns file under containerd's state dir works).
fn in_netns(netns: &Path, args: &[&str]) -> String {
    let out = Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run nsenter: {e}"));
    stdout_ok(&format!("{args:?} in {}", netns.display()), out)
}

/// Names of the entries of `dir`, sorted; none when it does not exist.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The node netns and a client netns on its uplink (the node's default route points at the
/// client, which proxy ARP for Calico's 169.254.1.1 gateway needs, as on a real node).
struct Node {
    node: TempNetns,
    client: TempNetns,
}

impl Node {
    fn new() -> Node {
        let node = TempNetns::new();
        let client = TempNetns::new();
        let out = Command::new("ip")
            .args(["link", "add", "up0", "netns", node.name(), "type", "veth"])
            .args(["peer", "name", "cl0", "netns", client.name()])
            .output()
            .unwrap();
        stdout_ok("ip link add up0", out);
        for (ns, addr, dev) in [(&node, NODE_IP, "up0"), (&client, CLIENT_IP, "cl0")] {
            ns.ip_stdout(&["link", "set", "lo", "up"]);
            ns.ip_stdout(&["addr", "add", &format!("{addr}/24"), "dev", dev]);
            ns.ip_stdout(&["link", "set", dev, "up"]);
        }
        node.ip_stdout(&["route", "add", "default", "via", CLIENT_IP]);
        in_netns(node.path(), &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        Node { node, client }
    }

    fn links(&self) -> String {
        self.node.ip_stdout(&["-o", "link"])
    }

    fn nat(&self) -> String {
        in_netns(self.node.path(), &["iptables-save", "-t", "nat"])
    }
}

/// Where IPAM keeps its allocations, per chain.
enum Ipam {
    /// calico-ipam on the local store at this directory.
    LocalStore(PathBuf),
    /// calico-ipam on the Kubernetes datastore.
    Kdd(KubeApi),
    /// host-local with its default dataDir (/var/lib/cni/networks), private to containerd.
    HostLocal,
}

/// The address at `index` in the IPv4 block `cidr`.
fn nth_ip(cidr: &str, index: usize) -> String {
    let base: Ipv4Addr = cidr.split('/').next().unwrap().parse().unwrap();
    Ipv4Addr::from(u32::from(base) + index as u32).to_string()
}

/// Allocations in Calico's AllocationBlocks (the same fields in the local store's values and
/// in IPAMBlock specs): (IP, handle id) of every allocated ordinal.
fn block_allocations(blocks: &[Value]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for b in blocks {
        let cidr = b["cidr"].as_str().unwrap_or_else(|| panic!("block: {b}"));
        for (i, a) in b["allocations"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(attr) = a.as_u64() {
                let handle = b["attributes"][attr as usize]["handle_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                out.push((nth_ip(cidr, i), handle));
            }
        }
    }
    out
}

impl Ipam {
    /// Every allocation IPAM holds: (IP, owner: calico's handle id, host-local's container id).
    fn allocations(&self, containerd: &Containerd) -> Vec<(String, String)> {
        match self {
            Ipam::LocalStore(ds) => {
                let blocks: Vec<Value> =
                    testkit::kv_files(&ds.join("data/calico/ipam/v2/assignment"))
                        .iter()
                        .map(|f| testkit::kv_entry(f).1)
                        .collect();
                block_allocations(&blocks)
            }
            Ipam::Kdd(api) => {
                let blocks: Vec<Value> = api
                    .list("crd.projectcalico.org/v1", "ipamblocks")
                    .into_iter()
                    .map(|b| b["spec"].clone())
                    .collect();
                block_allocations(&blocks)
            }
            Ipam::HostLocal => {
                let dir = containerd.written(&format!("/var/lib/cni/networks/{NET}"));
                names(&dir)
                    .into_iter()
                    .filter(|n| n.parse::<Ipv4Addr>().is_ok())
                    .map(|ip| {
                        let owner = std::fs::read_to_string(dir.join(&ip)).unwrap();
                        (ip, owner.lines().next().unwrap_or_default().to_string())
                    })
                    .collect()
            }
        }
    }

    /// What else IPAM keeps per allocation: calico-ipam's handles.
    fn handles(&self) -> Vec<String> {
        match self {
            Ipam::LocalStore(ds) => testkit::kv_files(&ds.join("data/calico/ipam/v2/handle"))
                .iter()
                .map(|f| testkit::kv_entry(f).0)
                .collect(),
            Ipam::Kdd(api) => api
                .list("crd.projectcalico.org/v1", "ipamhandles")
                .iter()
                .map(|h| {
                    h["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect(),
            Ipam::HostLocal => Vec::new(),
        }
    }

    /// Calico's workload endpoints as (pod, containerID, IP network): what shows that
    /// containerd's `K8S_POD_*` CNI_ARGS reached calico (the k8s orchestrator). On KDD the
    /// endpoint is the pod's annotations. `None` for the bridge chain, which has none.
    fn endpoints(&self) -> Option<Vec<(String, String, String)>> {
        let str_of = |v: &Value| v.as_str().unwrap_or_default().to_string();
        match self {
            Ipam::LocalStore(ds) => Some(
                testkit::kv_files(
                    &ds.join("data/calico/resources/v3/projectcalico.org/workloadendpoints"),
                )
                .iter()
                .map(|f| {
                    let spec = testkit::kv_entry(f).1["spec"].clone();
                    assert_eq!(spec["orchestrator"], "k8s", "{spec}");
                    (
                        str_of(&spec["pod"]),
                        str_of(&spec["containerID"]),
                        str_of(&spec["ipNetworks"][0]),
                    )
                })
                .collect(),
            ),
            Ipam::Kdd(api) => {
                let pod = api.get("v1", "pods", Some(POD_NS), POD).unwrap();
                let ann = &pod["metadata"]["annotations"];
                let ip = str_of(&ann["cni.projectcalico.org/podIP"]);
                Some(if ip.is_empty() {
                    Vec::new()
                } else {
                    vec![(
                        POD.to_string(),
                        str_of(&ann["cni.projectcalico.org/containerID"]),
                        ip,
                    )]
                })
            }
            Ipam::HostLocal => None,
        }
    }

    /// The owner IPAM records for sandbox `id`.
    fn owner(&self, id: &str) -> String {
        match self {
            Ipam::HostLocal => id.to_string(),
            _ => format!("{NET}.{id}"),
        }
    }
}

/// One chain under containerd: the instance, where IPAM keeps its state, the node, the prefix
/// of the host-side veth the main plugin makes, the pod's uid.
struct Chain {
    // Dropped in this order: containerd (and its sandboxes) before the node's netns.
    containerd: Containerd,
    ipam: Ipam,
    node: Node,
    veth_prefix: &'static str,
    uid: String,
}

impl Chain {
    fn sandbox(&self, attempt: u32, host_ip: &str) -> PodSandboxConfig {
        let mut config = self.containerd.sandbox_config(POD_NS, POD, &self.uid);
        config.metadata.as_mut().unwrap().attempt = attempt;
        config.port_mappings = vec![PortMapping {
            protocol: Protocol::Tcp as i32,
            container_port: CONTAINER_PORT.into(),
            host_port: HOST_PORT.into(),
            host_ip: host_ip.into(),
        }];
        config
    }

    fn host_veths(&self) -> Vec<String> {
        self.node
            .links()
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .filter(|n| n.starts_with(self.veth_prefix))
            .collect()
    }

    fn cache_entries(&self) -> Vec<String> {
        names(&self.containerd.written("/var/lib/cni/results"))
    }

    fn tuning_backups(&self) -> Vec<String> {
        names(&self.containerd.written("/run/cni/tuning"))
    }

    /// The full life of a pod, then a failed ADD; see the module docs.
    fn run(&self) {
        let cri = self.containerd.cri();
        let started = Instant::now();
        let id = cri
            .run_pod_sandbox(self.sandbox(0, ""))
            .unwrap_or_else(|e| panic!("RunPodSandbox: {e}"));
        eprintln!("RunPodSandbox took {:?}", started.elapsed());

        let status = cri
            .pod_sandbox_status(&id, false)
            .unwrap()
            .status
            .expect("a status");
        assert_eq!(status.state, PodSandboxState::SandboxReady as i32);
        let ip = status.network.expect("network status").ip;
        let allocations = self.ipam.allocations(&self.containerd);
        assert_eq!(
            allocations,
            [(ip.clone(), self.ipam.owner(&id))],
            "containerd's pod IP is IPAM's one allocation, for this sandbox"
        );

        if let Some(endpoints) = self.ipam.endpoints() {
            assert_eq!(
                endpoints,
                [(POD.to_string(), id.clone(), format!("{ip}/32"))]
            );
        }

        // portmap's DNAT, with containerd's capitalised portMappings keys understood.
        let nat = self.node.nat();
        assert!(
            nat.lines()
                .any(|l| l.contains(&format!("--dport {HOST_PORT} "))
                    && l.contains(&format!("-j DNAT --to-destination {ip}:{CONTAINER_PORT}"))),
            "no DNAT of {HOST_PORT} to {ip}:{CONTAINER_PORT}:\n{nat}"
        );
        assert_eq!(self.host_veths().len(), 1, "{}", self.node.links());
        // libcni's cache, where go-cni keeps it (/var/lib/cni): the pod network and the
        // loopback network containerd adds.
        assert_eq!(
            self.cache_entries(),
            [format!("cni-loopback-{id}-lo"), format!("{NET}-{id}-eth0")]
        );
        assert_eq!(self.tuning_backups(), [format!("{id}_eth0.json")]);

        let netns = self.containerd.sandbox_netns(&id);
        let eth0 = in_netns(&netns, &["ip", "-o", "link", "show", "eth0"]);
        assert!(eth0.contains(&format!(" mtu {TUNED_MTU} ")), "{eth0}");
        let arp_filter = in_netns(&netns, &["cat", "/proc/sys/net/ipv4/conf/eth0/arp_filter"]);
        assert_eq!(arp_filter.trim(), "1", "tuning's sysctl");
        assert_eq!(
            self.traffic(&netns),
            CLIENT_IP,
            "the pod saw the client's own address (DNAT only, no SNAT from outside)"
        );

        let started = Instant::now();
        cri.stop_pod_sandbox(&id)
            .unwrap_or_else(|e| panic!("StopPodSandbox: {e}"));
        cri.remove_pod_sandbox(&id)
            .unwrap_or_else(|e| panic!("RemovePodSandbox: {e}"));
        eprintln!("Stop+Remove took {:?}", started.elapsed());
        assert!(cri.list_pod_sandbox().unwrap().is_empty());
        self.assert_clean(Some(&ip));

        // ADD fails in portmap, after calico/bridge and IPAM did their part: containerd runs
        // DEL on the chain itself, which must undo everything.
        let err = cri
            .run_pod_sandbox(self.sandbox(1, "not-an-ip"))
            .expect_err("a host IP that is no address fails the ADD");
        assert!(
            err.message()
                .contains(r#"Invalid host IP address: "not-an-ip""#),
            "{err:?}"
        );
        assert!(cri.list_pod_sandbox().unwrap().is_empty());
        self.assert_clean(None);
    }

    /// A listener in the pod's netns answers one connection made from the client netns to
    /// the node's published port; returns the peer address the pod saw.
    fn traffic(&self, pod_netns: &Path) -> String {
        let listener = netkit::NetNs::open(pod_netns)
            .unwrap()
            .run(|| TcpListener::bind(("0.0.0.0", CONTAINER_PORT)))
            .unwrap()
            .expect("listen in the pod");
        listener.set_nonblocking(true).unwrap();
        let server = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match listener.accept() {
                    Ok((mut conn, peer)) => {
                        conn.set_nonblocking(false).unwrap();
                        conn.write_all(GREETING.as_bytes()).unwrap();
                        return Some(peer);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if Instant::now() > deadline {
                            return None;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
        });
        let target: SocketAddr = format!("{NODE_IP}:{HOST_PORT}").parse().unwrap();
        let mut conn = netkit::NetNs::open(self.node.client.path())
            .unwrap()
            .run(|| TcpStream::connect_timeout(&target, Duration::from_secs(5)))
            .unwrap()
            .unwrap_or_else(|e| panic!("connect to {target} from the client: {e}"));
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, GREETING);
        let peer = server
            .join()
            .unwrap()
            .expect("the pod accepted a connection");
        peer.ip().to_string()
    }

    /// Nothing of a sandbox is left: veth, portmap's per-pod chains and rules, libcni cache,
    /// tuning backups, IPAM allocations and handles, Calico's endpoint.
    fn assert_clean(&self, ip: Option<&str>) {
        assert!(self.host_veths().is_empty(), "{}", self.node.links());
        let nat = self.node.nat();
        assert!(!nat.contains("CNI-DN-"), "portmap chains left:\n{nat}");
        if let Some(ip) = ip {
            assert!(!nat.contains(ip), "rules naming {ip} left:\n{nat}");
            let routes = self.node.node.ip_stdout(&["route"]);
            assert!(!routes.contains(ip), "route to {ip} left:\n{routes}");
        }
        assert!(
            self.cache_entries().is_empty(),
            "{:?}",
            self.cache_entries()
        );
        assert!(
            self.tuning_backups().is_empty(),
            "{:?}",
            self.tuning_backups()
        );
        assert!(
            self.ipam.allocations(&self.containerd).is_empty(),
            "{:?}",
            self.ipam.allocations(&self.containerd)
        );
        assert!(self.ipam.handles().is_empty(), "{:?}", self.ipam.handles());
        if let Some(endpoints) = self.ipam.endpoints() {
            assert!(endpoints.is_empty(), "{endpoints:?}");
        }
    }
}

/// A CNI bin dir with our plugins (as built in target/) and `extra` (name, path) ones.
fn bin_dir(work: &Path, extra: &[(&str, PathBuf)]) -> PathBuf {
    let bin = work.join("bin");
    std::fs::create_dir(&bin).unwrap();
    // loopback: containerd sets up the sandbox's lo with it, a network of its own.
    for name in [
        "calico",
        "calico-ipam",
        "host-local",
        "loopback",
        "portmap",
        "tuning",
    ] {
        std::os::unix::fs::symlink(testkit::workspace_bin(name), bin.join(name)).unwrap();
    }
    for (name, path) in extra {
        std::os::unix::fs::symlink(path, bin.join(name)).unwrap();
    }
    bin
}

/// portmap and tuning, chained after the main plugin as on a Calico node.
fn chained() -> [Value; 2] {
    [
        json!({"type": "portmap", "snat": true, "capabilities": {"portMappings": true}}),
        json!({"type": "tuning", "mtu": TUNED_MTU,
               "sysctl": {"net.ipv4.conf.IFNAME.arp_filter": "1"}}),
    ]
}

fn write_conflist(work: &Path, main: Value) -> PathBuf {
    let conf = work.join("net.d");
    std::fs::create_dir(&conf).unwrap();
    let [portmap, tuning] = chained();
    let conflist = json!({
        "cniVersion": "1.0.0",
        "name": NET,
        "plugins": [main, portmap, tuning],
    });
    std::fs::write(conf.join("10-e2e.conflist"), conflist.to_string()).unwrap();
    conf
}

fn require() {
    testkit::require_root();
    testkit::containerd::require_containerd();
}

#[test]
fn calico_chain_on_the_local_store() {
    require();
    let started = Instant::now();
    let work = testkit::temp_dir();
    let w = work.path();
    let ds = w.join("datastore");
    testkit::add_ip_pool(&ds, "e2e-pool", POOL);
    let conf = write_conflist(
        w,
        json!({"type": "calico", "log_level": "info",
               "log_file_path": w.join("calico.log"),
               "datastore_type": "local", "datastore_path": ds,
               "nodename": NODE, "nodename_file_optional": true,
               "ipam": {"type": "calico-ipam"}}),
    );
    let bin = bin_dir(w, &[]);
    let node = Node::new();
    let containerd = Containerd::start(node.node.path(), &bin, &conf);
    Chain {
        node,
        containerd,
        ipam: Ipam::LocalStore(ds),
        veth_prefix: "cali",
        uid: "4ae0d6e4-54a1-4b4c-9d5e-0c3f4f1b2a10".into(),
    }
    .run();
    eprintln!("local store chain: {:?}", started.elapsed());
}

#[test]
fn calico_chain_on_the_kubernetes_datastore() {
    require();
    let started = Instant::now();
    let work = testkit::temp_dir();
    let w = work.path();
    let node = Node::new();
    // The API server listens in the node's netns, where containerd runs the plugins.
    let api = netkit::NetNs::open(node.node.path())
        .unwrap()
        .run(|| KubeApi::start(KubeApiOptions::default()))
        .unwrap();
    for obj in [
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}}),
        json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "ClusterInformation",
               "metadata": {"name": "default"}, "spec": {"datastoreReady": true}}),
        json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
               "metadata": {"name": "default-ipv4-ippool"},
               "spec": {"cidr": POOL, "blockSize": 26, "nodeSelector": "all()"}}),
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": POD, "namespace": POD_NS, "labels": {"app": "web"}},
               "spec": {"nodeName": NODE, "containers": [{"name": "web", "image": "nginx"}]}}),
    ] {
        api.create(obj);
    }
    // The sandbox carries the Pod's own uid, as the kubelet's does.
    let pod = api.get("v1", "pods", Some(POD_NS), POD).unwrap();
    let uid = pod["metadata"]["uid"].as_str().unwrap().to_string();
    let kubeconfig = api.write_kubeconfig(&w.join("calico-kubeconfig"), CNI_TOKEN);
    let conf = write_conflist(
        w,
        json!({"type": "calico", "log_level": "info",
               "log_file_path": w.join("calico.log"),
               "datastore_type": "kubernetes", "kubernetes": {"kubeconfig": kubeconfig},
               "policy": {"type": "k8s"}, "nodename": NODE, "nodename_file_optional": true,
               "ipam": {"type": "calico-ipam", "assign_ipv4": "true"}}),
    );
    let bin = bin_dir(w, &[]);
    let containerd = Containerd::start(node.node.path(), &bin, &conf);
    let chain = Chain {
        node,
        containerd,
        ipam: Ipam::Kdd(api),
        veth_prefix: "cali",
        uid,
    };
    chain.run();
    if let Ipam::Kdd(api) = &chain.ipam {
        // Every request was the CNI account's and within Calico's CNI role.
        let requests = api.requests();
        assert!(!requests.is_empty());
        for r in requests {
            assert_eq!(r.user, testkit::CNI_USER, "{}", r.line());
            assert!(r.status != 401 && r.status != 403, "{}", r.line());
        }
    }
    eprintln!("KDD chain: {:?}", started.elapsed());
}

#[test]
fn go_bridge_with_our_host_local_portmap_and_tuning() {
    require();
    let started = Instant::now();
    let bridge = testkit::go_plugin("bridge").unwrap_or_else(|| {
        panic!(
            "{}/bridge missing: apt-get install containernetworking-plugins",
            testkit::GO_PLUGIN_DIR
        )
    });
    let work = testkit::temp_dir();
    let w = work.path();
    let conf = write_conflist(
        w,
        json!({"type": "bridge", "bridge": "cni-e2e0", "isGateway": true,
               "ipam": {"type": "host-local", "ranges": [[{"subnet": BRIDGE_SUBNET}]],
                        "routes": [{"dst": "0.0.0.0/0"}]}}),
    );
    let bin = bin_dir(w, &[("bridge", bridge)]);
    let node = Node::new();
    let containerd = Containerd::start(node.node.path(), &bin, &conf);
    Chain {
        node,
        containerd,
        ipam: Ipam::HostLocal,
        veth_prefix: "veth",
        uid: "0b7e3f52-8c2d-4f7a-a1e6-3d9c5b2e4f81".into(),
    }
    .run();
    eprintln!("bridge chain: {:?}", started.elapsed());
}
