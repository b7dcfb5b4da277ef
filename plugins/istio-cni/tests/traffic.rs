//! Real traffic through the rules an ADD writes: a pod netns wired to an "outside" netns, the
//! proxy's two listeners (15001 outbound, 15006 inbound) in the pod, reading where each
//! connection was going with SO_ORIGINAL_DST. Root needed.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::*;
use netkit::NetNs;
use serde_json::json;
use testkit::TempNetns;

const POD: &str = "10.55.0.2";
const OUTSIDE: &str = "10.55.0.1";

fn in_ns<T: Send>(ns: &TempNetns, f: impl FnOnce() -> T + Send) -> T {
    NetNs::open(ns.path()).unwrap().run(f).unwrap()
}

/// Where a redirected connection was going (netfilter's SO_ORIGINAL_DST).
fn original_dst(s: &TcpStream) -> SocketAddr {
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a valid socket and a buffer of the length passed.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_IP,
            libc::SO_ORIGINAL_DST,
            &mut addr as *mut _ as *mut libc::c_void,
            &mut len,
        )
    };
    assert_eq!(
        rc,
        0,
        "SO_ORIGINAL_DST: {}",
        std::io::Error::last_os_error()
    );
    SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr)),
        u16::from_be(addr.sin_port),
    ))
}

/// Serves `listener`: each connection gets `<name> <original destination>` (or just `<name>`
/// when it was not redirected).
fn serve(listener: TcpListener, name: &'static str, redirected: bool) {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let reply = if redirected {
                format!("{name} {}", original_dst(&conn))
            } else {
                name.to_string()
            };
            let _ = conn.write_all(reply.as_bytes());
        }
    });
}

fn listen(ns: &TempNetns, addr: &str) -> TcpListener {
    let addr = addr.to_string();
    in_ns(ns, move || TcpListener::bind(addr).unwrap())
}

/// Connects from `ns` to `to` as `uid`/`gid` (this thread only: raw set*id syscalls change
/// the calling thread, not the test process) and returns what the other end said.
fn fetch(ns: &TempNetns, ids: Option<(u32, u32)>, to: &str) -> String {
    let to: SocketAddr = to.parse().unwrap();
    in_ns(ns, move || {
        if let Some((uid, gid)) = ids {
            // SAFETY: plain syscalls on this (short-lived) thread.
            unsafe {
                assert_eq!(
                    libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()),
                    0
                );
                assert_eq!(libc::syscall(libc::SYS_setresgid, gid, gid, gid), 0);
                assert_eq!(libc::syscall(libc::SYS_setresuid, uid, uid, uid), 0);
            }
        }
        let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(3))
            .unwrap_or_else(|e| panic!("connect {to}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
}

#[test]
fn outbound_to_15001_inbound_to_15006_proxy_and_excluded_ports_pass() {
    let c = Cluster::start();
    c.pod("apps", "traffic", json!({STATUS: "{}"}), json!({}));
    let pod = TempNetns::new();
    let outside = TempNetns::new();
    for ns in [&pod, &outside] {
        ns.ip_stdout(&["link", "set", "lo", "up"]);
    }
    pod.ip_stdout(&[
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        "out0",
        "netns",
        outside.name(),
    ]);
    pod.ip_stdout(&["addr", "add", &format!("{POD}/24"), "dev", "eth0"]);
    pod.ip_stdout(&["link", "set", "eth0", "up"]);
    outside.ip_stdout(&["addr", "add", &format!("{OUTSIDE}/24"), "dev", "out0"]);
    outside.ip_stdout(&["link", "set", "out0", "up"]);

    add(
        pod.path(),
        "apps",
        "traffic",
        &c.conf("1.0.0", Some(prev_result("10.55.0.2/24"))),
    )
    .run()
    .assert_success();

    serve(listen(&pod, "0.0.0.0:15001"), "outbound-proxy", true);
    serve(listen(&pod, "0.0.0.0:15006"), "inbound-proxy", true);
    serve(listen(&pod, "0.0.0.0:15021"), "pod-15021", false);
    serve(listen(&outside, "0.0.0.0:8080"), "outside-8080", false);
    serve(listen(&outside, "0.0.0.0:15020"), "outside-15020", false);

    let app = Some((1000, 1000));
    // The app's outbound TCP lands on the proxy's 15001, original destination intact.
    assert_eq!(
        fetch(&pod, app, "10.55.0.1:8080"),
        "outbound-proxy 10.55.0.1:8080"
    );
    // The proxy's own traffic (UID 1337, or only its group) goes out untouched.
    assert_eq!(
        fetch(&pod, Some((1337, 1337)), "10.55.0.1:8080"),
        "outside-8080"
    );
    assert_eq!(
        fetch(&pod, Some((1000, 1337)), "10.55.0.1:8080"),
        "outside-8080"
    );
    // Excluded outbound port (15020, the default) bypasses the proxy.
    assert_eq!(fetch(&pod, app, "10.55.0.1:15020"), "outside-15020");
    // Inbound TCP lands on 15006 with the pod's address and port as original destination.
    assert_eq!(
        fetch(&outside, None, "10.55.0.2:9090"),
        "inbound-proxy 10.55.0.2:9090"
    );
    // Excluded inbound port (15021, always) reaches the pod's own listener.
    assert_eq!(fetch(&outside, None, "10.55.0.2:15021"), "pod-15021");
    // Inside the pod, the app reaching itself on localhost is not captured.
    serve(listen(&pod, "127.0.0.1:7070"), "pod-local", false);
    assert_eq!(fetch(&pod, app, "127.0.0.1:7070"), "pod-local");
}
