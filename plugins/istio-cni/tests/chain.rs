//! The whole deployment on one throwaway "host" netns: our Calico `install` writes a calico +
//! portmap + tuning conflist (local Calico datastore), Istio's agent (`install istio-cni`)
//! joins istio-cni to it, and a pod with a sidecar is attached through the full chain
//! (calico → calico-ipam → portmap → tuning → istio-cni), first by our cnitool, then by Go
//! libcni inside podman. The pod gets its Calico address and the sidecar rules in its netns; a
//! pod without a sidecar only the address; DEL cleans up; stopping the agent takes istio-cni
//! back out. The stand-in API server is served inside the host netns, where the plugin runs.
//!
//! Needs the workspace's binaries (`cargo build --workspace --bins`). The podman half is
//! skipped, loudly, when podman or busybox-static cannot be installed.

mod common;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use netkit::NetNs;
use serde_json::{json, Value};
use testkit::{loud_skip, show_output, KubeApi, KubeApiOptions, Podman, TempNetns};

const POOL: &str = "10.246.0.0/24";

/// The node: host netns, Calico's and Istio's installers' files, the API in the host netns.
struct Node {
    host: TempNetns,
    api: KubeApi,
    dir: tempfile::TempDir,
    net: String,
    agent: Option<Child>,
}

impl Node {
    fn t(&self) -> &Path {
        self.dir.path()
    }
    fn root(&self) -> PathBuf {
        self.t().join("root")
    }
    fn bin_dir(&self) -> PathBuf {
        self.root().join("host/opt/cni/bin")
    }
    fn net_d(&self) -> PathBuf {
        self.root().join("host/etc/cni/net.d")
    }
    fn conflist(&self) -> PathBuf {
        self.net_d().join("10-calico.conflist")
    }

    fn new() -> Node {
        testkit::require_root();
        let dir = testkit::temp_dir();
        let host = TempNetns::new();
        host.ip_stdout(&["link", "set", "lo", "up"]);
        // A default route, as proxy ARP for Calico's gateway needs (no uplink is used).
        host.ip_stdout(&["link", "add", "up0", "type", "veth", "peer", "name", "up1"]);
        host.ip_stdout(&["addr", "add", "10.98.0.1/24", "dev", "up0"]);
        host.ip_stdout(&["link", "set", "up0", "up"]);
        host.ip_stdout(&["link", "set", "up1", "up"]);
        host.ip_stdout(&["route", "add", "default", "via", "10.98.0.2"]);
        let api = NetNs::open(host.path())
            .unwrap()
            .run(|| KubeApi::start(KubeApiOptions::default()))
            .unwrap();
        add_plugin_token(&api);
        let net = format!("k8s-pod-network-{}", std::process::id());
        let n = Node {
            host,
            api,
            dir,
            net,
            agent: None,
        };
        testkit::image_root(
            &n.root(),
            &[
                "calico",
                "calico-ipam",
                "portmap",
                "tuning",
                "loopback",
                "istio-cni",
            ],
        );
        n
    }

    /// Calico's install with a local-datastore template (as the podman e2e), then a pool.
    fn install_calico(&self) {
        let ds = self.t().join("datastore");
        let template = json!({
            "name": self.net, "cniVersion": "1.0.0",
            "plugins": [
                {"type": "calico", "log_level": "info",
                 "log_file_path": self.t().join("calico.log"),
                 "datastore_type": "local", "datastore_path": ds,
                 "nodename": "__KUBERNETES_NODE_NAME__", "nodename_file_optional": true,
                 "mtu": 1500, "ipam": {"type": "calico-ipam"}},
                {"type": "portmap", "snat": true, "capabilities": {"portMappings": true}},
                {"type": "tuning", "sysctl": {"net.core.somaxconn": "512"}}
            ]
        });
        fs::write(self.t().join("template"), template.to_string()).unwrap();
        let out = Command::new(testkit::workspace_bin("install"))
            .env_clear()
            .env("CNI_INSTALL_ROOT", self.root())
            .env("SLEEP", "false")
            .env("KUBERNETES_NODE_NAME", "chain-node")
            .env("CNI_NETWORK_CONFIG_FILE", self.t().join("template"))
            .env("CNI_CONF_NAME", "10-calico.conflist")
            .output()
            .unwrap();
        show_output("calico install", &out);
        assert!(out.status.success());
        testkit::add_ip_pool(&ds, "chain-pool", POOL);
    }

    /// Istio's agent, left running; returns once istio-cni is in the conflist.
    fn start_istio_agent(&mut self) {
        // The istio-cni-node pod's service account (Calico's installer ran outside a pod).
        let sa = self
            .root()
            .join("var/run/secrets/kubernetes.io/serviceaccount");
        fs::create_dir_all(&sa).unwrap();
        fs::write(sa.join("token"), TOKEN).unwrap();
        fs::write(sa.join("ca.crt"), fs::read(self.api.ca_pem()).unwrap()).unwrap();
        let child = Command::new(testkit::workspace_bin("install"))
            .arg("istio-cni")
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CNI_INSTALL_ROOT", self.root())
            .env("CNI_AGENT_RUN_DIR", self.t().join("istio-run"))
            .env("CNI_INSTALL_HEALTH_ADDR", "127.0.0.1:0")
            .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
            .env("KUBERNETES_SERVICE_PORT", self.api.port().to_string())
            .env("EXCLUDE_NAMESPACES", "kube-system")
            .env("POD_NAMESPACE", "istio-system")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        self.agent = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.types() != ["calico", "portmap", "tuning", "istio-cni"] {
            assert!(
                Instant::now() < deadline,
                "istio-cni never joined {:?}",
                self.types()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop_istio_agent(&mut self) {
        let mut child = self.agent.take().unwrap();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait().unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        eprintln!("--- istio agent\n{err}");
        assert_eq!(status.code(), Some(0));
    }

    fn types(&self) -> Vec<String> {
        let v: Value = serde_json::from_slice(&fs::read(self.conflist()).unwrap_or_default())
            .unwrap_or(Value::Null);
        v["plugins"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| p["type"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn pod(&self, ns: &str, name: &str, sidecar: bool) {
        let _ = self
            .api
            .try_create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        let mut containers = vec![json!({"name": "app", "image": "busybox"})];
        let mut annotations = json!({});
        if sidecar {
            containers.push(json!({"name": "istio-proxy", "image": "proxyv2",
                "args": ["proxy", "sidecar"], "securityContext": {"runAsUser": 1337, "runAsGroup": 1337}}));
            annotations = json!({STATUS: "{\"containers\":[\"istio-proxy\"]}",
                "sidecar.istio.io/interceptionMode": "REDIRECT",
                "traffic.sidecar.istio.io/includeInboundPorts": "*",
                "traffic.sidecar.istio.io/excludeInboundPorts": "15020",
                "traffic.sidecar.istio.io/includeOutboundIPRanges": "*"});
        }
        self.api.create(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "annotations": annotations},
            "spec": {"containers": containers}}));
    }

    fn cnitool(&self, verb: &str, netns: &Path, ns: &str, name: &str) -> Output {
        let out = Command::new("nsenter")
            .arg(format!("--net={}", self.host.path().display()))
            .arg(testkit::workspace_bin("cnitool"))
            .args([verb, &self.net])
            .arg(netns)
            .env("NETCONFPATH", self.net_d())
            .env("CNI_PATH", self.bin_dir())
            .env(
                "CNI_ARGS",
                format!("IgnoreUnknown=1;K8S_POD_NAMESPACE={ns};K8S_POD_NAME={name}"),
            )
            .output()
            .unwrap();
        show_output(&format!("cnitool {verb}"), &out);
        out
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.agent.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn nat_of(netns: &TempNetns) -> String {
    table(&save(netns, "iptables-nft-save"), "nat")
}

#[test]
fn full_chain_through_cnitool_and_podman() {
    let mut node = Node::new();
    node.install_calico();
    node.start_istio_agent();
    let conf: Value = serde_json::from_slice(&fs::read(node.conflist()).unwrap()).unwrap();
    assert_eq!(
        conf["plugins"][3]["cni_agent_run_dir"],
        node.t().join("istio-run").to_string_lossy().as_ref()
    );

    // --- our cnitool, as a runtime ---
    node.pod("mesh", "web", true);
    node.pod("mesh", "plain", false);
    let pod = TempNetns::new();
    let out = node.cnitool("add", pod.path(), "mesh", "web");
    assert!(out.status.success());
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ip = result["ips"][0]["address"].as_str().unwrap().to_string();
    assert!(
        ip.starts_with("10.246.0."),
        "calico-ipam's address passed through: {result}"
    );
    assert_eq!(result["cniVersion"], "1.0.0");
    assert_eq!(
        nat_of(&pod),
        NOTES_NAT,
        "the sidecar rules in the pod netns"
    );
    let somaxconn = pod.exec(&["cat", "/proc/sys/net/core/somaxconn"]);
    assert_eq!(
        String::from_utf8_lossy(&somaxconn.stdout).trim(),
        "512",
        "tuning ran"
    );
    assert_eq!(node.api.count("GET", "/api/v1/namespaces/mesh/pods/web"), 1);

    let plain = TempNetns::new();
    assert!(node
        .cnitool("add", plain.path(), "mesh", "plain")
        .status
        .success());
    assert_eq!(nat_of(&plain), "", "no sidecar, no rules");

    assert!(node
        .cnitool("del", pod.path(), "mesh", "web")
        .status
        .success());
    assert!(node
        .cnitool("del", plain.path(), "mesh", "plain")
        .status
        .success());
    let links = String::from_utf8_lossy(&node.host.exec(&["ip", "-o", "link"]).stdout).into_owned();
    assert!(!links.contains("cali"), "veths removed: {links}");

    // --- Go libcni, inside podman ---
    podman_half(&node);

    node.stop_istio_agent();
    assert_eq!(node.types(), ["calico", "portmap", "tuning"]);
    assert!(!node.bin_dir().join("istio-cni").exists());
}

fn podman_half(node: &Node) {
    if let Err(why) = testkit::require_podman() {
        loud_skip("istio-cni podman chain", why);
        return;
    }
    let podman = Podman::new(node.host.path(), node.t(), &node.bin_dir(), &node.net_d());
    let rootfs = podman.busybox_rootfs(&[], &["sleep", "cat"]);
    // Podman's CNI backend passes only K8S_POD_NAME (the container name); it appends the
    // pairs of its own CNI_ARGS, which is how a pod's namespace reaches the plugins here.
    let podman_with = |cni_args: &str, args: &[&str]| -> Output {
        let out = podman
            .cmd()
            .args(args)
            .env("CNI_ARGS", cni_args)
            .output()
            .unwrap();
        show_output(&format!("podman {args:?}"), &out);
        out
    };
    let rootfs_s = rootfs.to_str().unwrap();
    let run = |name: &str| {
        let out = podman_with(
            &format!("K8S_POD_NAMESPACE=mesh;K8S_POD_NAME={name}"),
            &[
                "run",
                "-d",
                "--name",
                name,
                "--network",
                &node.net,
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
                "--rootfs",
                rootfs_s,
                "/bin/sleep",
                "600",
            ],
        );
        assert!(out.status.success(), "podman run {name}");
    };
    node.pod("mesh", "sidecar-pod", true);
    run("sidecar-pod");
    run("plain");
    let pid = |name: &str| podman.ok(&["inspect", name, "--format", "{{.State.Pid}}"]);
    let nat_in = |name: &str| {
        let out = Command::new("nsenter")
            .args(["-t", &pid(name), "-n", "iptables-nft-save"])
            .output()
            .unwrap();
        table(&normalize(&String::from_utf8_lossy(&out.stdout)), "nat")
    };
    let ip = podman.ok(&[
        "inspect",
        "sidecar-pod",
        "--format",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
    ]);
    assert!(ip.starts_with("10.246.0."));
    assert_eq!(nat_in("sidecar-pod"), NOTES_NAT, "rules through Go libcni");
    assert_eq!(nat_in("plain"), "");
    assert_eq!(
        node.api
            .count("GET", "/api/v1/namespaces/mesh/pods/sidecar-pod"),
        1
    );
    podman.ok(&["rm", "-f", "-t", "0", "sidecar-pod", "plain"]);
    let links = String::from_utf8_lossy(&node.host.exec(&["ip", "-o", "link"]).stdout).into_owned();
    assert!(!links.contains("cali"), "veths removed: {links}");
}
