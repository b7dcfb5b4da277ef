//! End to end under a real runtime: `install` puts the suite and a calico + portmap + tuning
//! conflist on a "host"; podman (CNI backend) runs two busybox containers on that network.
//! They get addresses from calico-ipam, reach each other, a published port works from outside,
//! tuning's sysctl is set, and removing them leaves no veth, route, rule, iptables chain,
//! WorkloadEndpoint, IPAM handle or libcni cache entry behind.
//!
//! The "host" is a throwaway netns (`H`) with an uplink veth to a "client" netns (`C`), so
//! nothing touches the machine's network: podman runs inside `H` (via `nsenter --net`, which,
//! unlike `ip netns exec`, keeps /sys/fs/cgroup visible to runc), the plugins make their
//! host-side changes there, and both netns are deleted at the end. The uplink gives `H` a
//! default route, which proxy ARP for Calico's 169.254.1.1 gateway needs, as on a real node.
//! Podman's storage, config and the Calico datastore (our local store) live in a temp dir.
//!
//! Skipped, loudly, only when podman (or busybox-static for the rootfs) cannot be installed.

mod common;

use std::fs;
use std::process::{Command, Output};

use common::*;
use testkit::{kv_files, loud_skip, show_output, Podman, TempNetns};

const POOL: &str = "10.244.0.0/24";
const POOL_PREFIX: &str = "10.244.0.";

fn stdout(out: Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn two_containers_on_the_installed_calico_network() {
    testkit::require_root();
    if let Err(why) = testkit::require_podman() {
        loud_skip("podman e2e", why);
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("install-e2e-")
        .tempdir()
        .unwrap();
    let t = tmp.path();
    let net = format!("calico-e2e-{}", std::process::id());

    // 1. The image's view: our binaries in <root>/opt/cni/bin; install them on the "host".
    let root = t.join("root");
    testkit::image_root(
        &root,
        &[
            "calico",
            "calico-ipam",
            "portmap",
            "tuning",
            "loopback",
            "host-local",
        ],
    );
    let ds = t.join("datastore");
    let template = format!(
        r#"{{
  "name": "{net}",
  "cniVersion": "1.0.0",
  "plugins": [
    {{
      "type": "calico",
      "log_level": "info",
      "log_file_path": "{log}",
      "datastore_type": "local",
      "datastore_path": "{ds}",
      "nodename": "__KUBERNETES_NODE_NAME__",
      "nodename_file_optional": true,
      "mtu": __CNI_MTU__,
      "ipam": {{"type": "calico-ipam"}}
    }},
    {{"type": "portmap", "snat": true, "capabilities": {{"portMappings": true}}}},
    {{"type": "tuning", "sysctl": {{"net.core.somaxconn": "512"}}}}
  ]
}}"#,
        log = t.join("cni.log").display(),
        ds = ds.display(),
    );
    fs::write(t.join("template"), &template).unwrap();
    let out = Command::new(INSTALL)
        .env_clear()
        .env("CNI_INSTALL_ROOT", &root)
        .env("SLEEP", "false")
        .env("KUBERNETES_NODE_NAME", "e2e-node")
        .env("CNI_NETWORK_CONFIG_FILE", t.join("template"))
        .env("CNI_CONF_NAME", "10-calico-e2e.conflist")
        .output()
        .unwrap();
    show_output("install", &out);
    assert!(out.status.success());
    let bin_dir = root.join("host/opt/cni/bin");
    let net_d = root.join("host/etc/cni/net.d");

    // 2. An IP pool for calico-ipam.
    testkit::add_ip_pool(&ds, "e2e-pool", POOL);

    // 3. Host and client netns, joined by an uplink.
    let host = TempNetns::new();
    let client = TempNetns::new();
    let (h, c) = (host.name().to_string(), client.name().to_string());
    let ip = |args: &[&str]| {
        let out = Command::new("ip").args(args).output().unwrap();
        assert!(out.status.success(), "ip {args:?}: {out:?}");
    };
    ip(&[
        "link", "add", "up0", "netns", &h, "type", "veth", "peer", "name", "cl0", "netns", &c,
    ]);
    host.ip_stdout(&["link", "set", "lo", "up"]);
    host.ip_stdout(&["addr", "add", "10.99.0.1/24", "dev", "up0"]);
    host.ip_stdout(&["link", "set", "up0", "up"]);
    host.ip_stdout(&["route", "add", "default", "via", "10.99.0.2"]);
    client.ip_stdout(&["link", "set", "lo", "up"]);
    client.ip_stdout(&["addr", "add", "10.99.0.2/24", "dev", "cl0"]);
    client.ip_stdout(&["link", "set", "cl0", "up"]);
    client.ip_stdout(&["route", "add", POOL, "via", "10.99.0.1"]);
    let out = host.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    assert!(out.status.success(), "{out:?}");
    let rules_before = stdout(host.exec(&["ip", "rule"]));

    // 4. Podman with the CNI backend, our bin dir and conflist dir.
    let podman = Podman::new(host.path(), t, &bin_dir, &net_d);
    let rootfs = podman.busybox_rootfs(&["www"], &["ip", "wget", "httpd", "cat", "sleep"]);
    fs::write(rootfs.join("www/index.html"), "hello-from-a\n").unwrap();
    let rootfs_s = rootfs.to_str().unwrap();
    let limits = [
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ];
    let mut run_a = vec![
        "run",
        "-d",
        "--name",
        "a",
        "--network",
        &net,
        "-p",
        "8080:80",
    ];
    run_a.extend(limits);
    run_a.extend([
        "--rootfs",
        rootfs_s,
        "/bin/httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    podman.ok(&run_a);
    let mut run_b = vec!["run", "-d", "--name", "b", "--network", &net];
    run_b.extend(limits);
    run_b.extend(["--rootfs", rootfs_s, "/bin/sleep", "600"]);
    podman.ok(&run_b);

    let fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}";
    let ip_a = podman.ok(&["inspect", "a", "--format", fmt]);
    let ip_b = podman.ok(&["inspect", "b", "--format", fmt]);
    assert!(
        ip_a.starts_with(POOL_PREFIX),
        "a got {ip_a:?} from calico-ipam"
    );
    assert!(
        ip_b.starts_with(POOL_PREFIX),
        "b got {ip_b:?} from calico-ipam"
    );
    assert_ne!(ip_a, ip_b);
    let routes = podman.ok(&["exec", "b", "ip", "route"]);
    assert!(
        routes.contains("default via 169.254.1.1 dev eth0"),
        "{routes}"
    );

    // Container to container, through the host's routes and proxy ARP.
    let page = podman.ok(&[
        "exec",
        "b",
        "wget",
        "-q",
        "-O",
        "-",
        &format!("http://{ip_a}/index.html"),
    ]);
    assert_eq!(page, "hello-from-a");
    // The published port, from outside the host (portmap's DNAT).
    let out = client.exec(&[
        "busybox",
        "wget",
        "-q",
        "-O",
        "-",
        "http://10.99.0.1:8080/index.html",
    ]);
    show_output("client wget", &out);
    assert_eq!(stdout(out).trim(), "hello-from-a");
    // tuning ran as the last link of the chain.
    assert_eq!(
        podman.ok(&["exec", "b", "cat", "/proc/sys/net/core/somaxconn"]),
        "512"
    );

    // While running: two veths, two routes, two WEPs, two handles, a DNAT chain.
    let links = stdout(host.exec(&["ip", "-o", "link"]));
    assert_eq!(links.matches(": cali").count(), 2, "{links}");
    let weps = ds.join("data/calico/resources/v3/projectcalico.org/workloadendpoints");
    let handles = ds.join("data/calico/ipam/v2/handle");
    assert_eq!(kv_files(&weps).len(), 2, "WorkloadEndpoints while running");
    assert_eq!(kv_files(&handles).len(), 2, "IPAM handles while running");
    let nat = stdout(host.exec(&["iptables-save", "-t", "nat"]));
    assert!(nat.contains("CNI-DN-"), "{nat}");

    // 5. Stop and remove: everything the plugins made is gone.
    podman.ok(&["rm", "-f", "-t", "0", "a", "b"]);
    let links = stdout(host.exec(&["ip", "-o", "link"]));
    assert!(!links.contains("cali"), "veths left: {links}");
    let routes = stdout(host.exec(&["ip", "route"]));
    assert!(!routes.contains(POOL_PREFIX), "routes left: {routes}");
    assert_eq!(stdout(host.exec(&["ip", "rule"])), rules_before);
    let nat = stdout(host.exec(&["iptables-save", "-t", "nat"]));
    assert!(!nat.contains("CNI-DN-"), "portmap chains left: {nat}");
    assert!(!nat.contains(&ip_a), "rules naming a's address left: {nat}");
    assert!(
        kv_files(&weps).is_empty(),
        "WorkloadEndpoints left: {:?}",
        kv_files(&weps)
    );
    assert!(
        kv_files(&handles).is_empty(),
        "IPAM handles left: {:?}",
        kv_files(&handles)
    );
    let cache: Vec<_> = fs::read_dir("/var/lib/cni/results")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&net))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    assert!(cache.is_empty(), "libcni cache left: {cache:?}");
}
