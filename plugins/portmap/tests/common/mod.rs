//! Test helpers: a throwaway "host" netns in which the plugin runs (so its iptables/nft rules
//! never touch the real host), container and client namespaces wired to it with veth pairs,
//! a tiny TCP/UDP echo server, and clients.
//!
//! Topology (every test builds its own, so addresses can repeat across tests):
//!
//! ```text
//!   client ns (eth0 192.168.99.2, fd98::2) --- ve0 [host ns: 192.168.99.1, fd98::1 = hostIP]
//!   container i (eth0 10.99.i.2, fd99:i::2) --- vc<i> [host ns: 10.99.i.1, fd99:i::1]
//! ```
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use netkit::NetNs;
use serde_json::{json, Value};
use testkit::{Invocation, PluginRun, TempNetns};

pub const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";
pub const HOST_IP4: &str = "192.168.99.1";
pub const HOST_IP6: &str = "fd98::1";

pub fn ours() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_portmap"))
}

pub fn go() -> PathBuf {
    testkit::go_plugin("portmap").expect("Go portmap in /usr/lib/cni (containernetworking-plugins)")
}

/// Runs `args` in `ns` and panics unless it succeeds; returns stdout.
pub fn sh(ns: &TempNetns, args: &[&str]) -> String {
    let out = ns.exec(args);
    assert!(
        out.status.success(),
        "{:?} in {} failed: {}",
        args,
        ns.name(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A namespace the plugin runs in, as if it were the node.
pub struct Host {
    pub ns: TempNetns,
    pub netns: NetNs,
}

impl Host {
    pub fn new() -> Self {
        let ns = TempNetns::new();
        ns.ip_stdout(&["link", "set", "lo", "up"]);
        let netns = NetNs::open(ns.path()).unwrap();
        netns
            .run(|| {
                netkit::sysctl_set("net/ipv4/ip_forward", "1").unwrap();
                netkit::sysctl_set("net/ipv6/conf/all/forwarding", "1").unwrap();
            })
            .unwrap();
        Host { ns, netns }
    }

    /// Runs a plugin binary in this namespace as a runtime would.
    pub fn run(&self, bin: &Path, cmd: &str, cid: &str, netns: &Path, stdin: &str) -> PluginRun {
        self.run_env(bin, cmd, cid, netns, stdin, &[])
    }

    /// [`Host::run`] with extra environment (e.g. another `PATH`).
    pub fn run_env(
        &self,
        bin: &Path,
        cmd: &str,
        cid: &str,
        netns: &Path,
        stdin: &str,
        env: &[(&str, &str)],
    ) -> PluginRun {
        let mut inv = Invocation::new(bin)
            .command(cmd)
            .container_id(cid)
            .netns(netns)
            .ifname("eth0")
            .path("/usr/lib/cni")
            .env("PATH", PATH)
            .stdin(stdin);
        for (k, v) in env {
            inv = inv.env(k, v);
        }
        self.netns.run(|| inv.run()).unwrap()
    }

    /// `iptables-save -t nat` (or ip6tables) without the comment lines.
    pub fn nat(&self, v6: bool) -> String {
        self.nat_with(if v6 {
            "ip6tables-save"
        } else {
            "iptables-save"
        })
    }

    /// `<save command> -t nat` without the comment lines.
    pub fn nat_with(&self, save: &str) -> String {
        sh(&self.ns, &[save, "-t", "nat"])
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    /// Our nftables table in one family, or "" if it does not exist.
    pub fn nft(&self, family: &str) -> String {
        let out = self
            .ns
            .exec(&["nft", "list", "table", family, "cni_hostport"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Host plus client plus containers, wired as in the module docs.
pub struct Topology {
    pub host: Host,
    pub client: TempNetns,
    pub containers: Vec<TempNetns>,
}

impl Topology {
    pub fn new(containers: usize) -> Self {
        let host = Host::new();
        let client = TempNetns::new();
        client.ip_stdout(&["link", "set", "lo", "up"]);
        link(
            &host.ns,
            "ve0",
            &client,
            &[HOST_IP4, "24", HOST_IP6, "64"],
            &["192.168.99.2/24", "fd98::2/64"],
            ("192.168.99.1", "fd98::1"),
        );
        let mut cs = Vec::new();
        for i in 0..containers {
            let c = TempNetns::new();
            c.ip_stdout(&["link", "set", "lo", "up"]);
            let h4 = format!("10.99.{i}.1");
            let h6 = format!("fd99:{i}::1");
            link(
                &host.ns,
                &format!("vc{i}"),
                &c,
                &[&h4, "24", &h6, "64"],
                &[&format!("10.99.{i}.2/24"), &format!("fd99:{i}::2/64")],
                (&h4, &h6),
            );
            cs.push(c);
        }
        Topology {
            host,
            client,
            containers: cs,
        }
    }

    pub fn ip4(i: usize) -> IpAddr {
        format!("10.99.{i}.2").parse().unwrap()
    }

    pub fn ip6(i: usize) -> IpAddr {
        format!("fd99:{i}::2").parse().unwrap()
    }

    /// A prevResult for container `i` (both families, on the sandbox's eth0).
    pub fn prev_result(&self, i: usize, version: &str) -> Value {
        json!({
            "cniVersion": version,
            "interfaces": [
                {"name": format!("vc{i}")},
                {"name": "eth0", "sandbox": self.containers[i].path()}
            ],
            "ips": [
                {"address": format!("10.99.{i}.2/24"), "gateway": format!("10.99.{i}.1"), "interface": 1},
                {"address": format!("fd99:{i}::2/64"), "gateway": format!("fd99:{i}::1"), "interface": 1}
            ]
        })
    }
}

/// A veth `host_if` (in `host`) ↔ `eth0` (in `other`), addresses on both ends, default
/// routes in `other` via the host end, no IPv6 DAD (so addresses work at once).
fn link(
    host: &TempNetns,
    host_if: &str,
    other: &TempNetns,
    host_addrs: &[&str],
    other_addrs: &[&str],
    gw: (&str, &str),
) {
    host.ip_stdout(&[
        "link",
        "add",
        host_if,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        other.name(),
    ]);
    for pair in host_addrs.chunks(2) {
        let cidr = format!("{}/{}", pair[0], pair[1]);
        host.ip_stdout(&["addr", "add", &cidr, "dev", host_if, "nodad"]);
    }
    for a in other_addrs {
        other.ip_stdout(&["addr", "add", a, "dev", "eth0", "nodad"]);
    }
    host.ip_stdout(&["link", "set", host_if, "up"]);
    other.ip_stdout(&["link", "set", "eth0", "up"]);
    other.ip_stdout(&["route", "add", "default", "via", gw.0]);
    other.ip_stdout(&["-6", "route", "add", "default", "via", gw.1]);
}

/// The network config for one invocation.
pub struct Conf {
    pub value: Value,
}

impl Conf {
    pub fn new(name: &str, version: &str, mappings: Value) -> Self {
        Conf {
            value: json!({
                "cniVersion": version,
                "name": name,
                "type": "portmap",
                "capabilities": {"portMappings": true},
                "runtimeConfig": {"portMappings": mappings}
            }),
        }
    }

    pub fn set(mut self, key: &str, v: Value) -> Self {
        self.value[key] = v;
        self
    }

    pub fn prev(self, prev: Value) -> Self {
        self.set("prevResult", prev)
    }

    pub fn text(&self) -> String {
        self.value.to_string()
    }
}

/// A TCP and UDP server answering every connection or datagram with `tag`.
pub struct Server {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    pub fn start(ns: &TempNetns, addrs: &[SocketAddr], tag: &str) -> Server {
        let netns = NetNs::open(ns.path()).unwrap();
        let (tcps, udps) = netns
            .run(|| {
                let tcps: Vec<TcpListener> = addrs
                    .iter()
                    .map(|a| TcpListener::bind(a).unwrap())
                    .collect();
                let udps: Vec<UdpSocket> =
                    addrs.iter().map(|a| UdpSocket::bind(a).unwrap()).collect();
                (tcps, udps)
            })
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for l in tcps {
            let (stop, tag) = (stop.clone(), tag.to_string());
            l.set_nonblocking(true).unwrap();
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match l.accept() {
                        Ok((mut s, _)) => {
                            let _ = s.set_nonblocking(false);
                            let _ = s.write_all(format!("{tag}\n").as_bytes());
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            }));
        }
        for u in udps {
            let (stop, tag) = (stop.clone(), tag.to_string());
            u.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            threads.push(std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((n, from)) = u.recv_from(&mut buf) {
                        // Echo the question's nonce so the client can drop late answers.
                        let nonce = String::from_utf8_lossy(&buf[..n]);
                        let _ = u.send_to(format!("{tag} {nonce}").as_bytes(), from);
                    }
                }
            }));
        }
        Server { stop, threads }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Connects from `ns` to `to` over TCP and returns the server's tag.
pub fn tcp_ask(ns: &TempNetns, to: SocketAddr) -> Result<String, String> {
    let netns = NetNs::open(ns.path()).unwrap();
    netns
        .run(|| {
            let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(3))
                .map_err(|e| format!("connect {to}: {e}"))?;
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out)
                .map_err(|e| format!("read {to}: {e}"))?;
            Ok(out.trim().to_string())
        })
        .unwrap()
}

/// A UDP socket in `ns`, kept across questions (so it keeps its source port).
pub fn udp_socket(ns: &TempNetns, v6: bool) -> UdpSocket {
    let netns = NetNs::open(ns.path()).unwrap();
    let any = if v6 { "[::]:0" } else { "0.0.0.0:0" };
    let s = netns.run(|| UdpSocket::bind(any).unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    s
}

/// Sends a datagram to `to` (a few tries) and returns the tag answered. Each question
/// carries a fresh nonce and only an answer echoing it counts, so a late answer to an earlier
/// try (or an earlier question) is never mistaken for this one.
pub fn udp_ask(s: &UdpSocket, to: SocketAddr) -> Result<String, String> {
    static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let mut buf = [0u8; 64];
    for _ in 0..3 {
        let nonce = NONCE.fetch_add(1, Ordering::Relaxed).to_string();
        s.send_to(nonce.as_bytes(), to)
            .map_err(|e| format!("send {to}: {e}"))?;
        while let Ok((n, _)) = s.recv_from(&mut buf) {
            let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
            if let Some(tag) = answer.strip_suffix(&format!(" {nonce}")) {
                return Ok(tag.to_string());
            }
        }
    }
    Err(format!("no UDP answer from {to}"))
}

pub fn sa(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}
