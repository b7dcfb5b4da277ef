//! Allocation throughput of the calico-ipam binary: ADDs per second at 1, 8 and 32 concurrent
//! plugin processes (16 node names, each with its own host lock, as 16 hosts would), on the
//! local store and on a real etcd, next to the raw etcd transaction rate (32 threads of
//! create-if-absent transactions, each its own client) measured in the same run, the rate at
//! which this machine can start a do-nothing plugin process at all, the CPU each ADD costs in
//! the plugin and in etcd, and the peak RSS of a plugin process.
//!
//! ```sh
//! RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" cargo build --release \
//!     --target x86_64-unknown-linux-musl -p calico-ipam
//! cargo run --release -p calico-ipam --example ipam-bench -- \
//!     target/x86_64-unknown-linux-musl/release/calico-ipam 400
//! ```

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Instant;

use datastore::resources::{IpPool, IpPoolSpec, Node, NodeSpec};
use datastore::Datastore;
use serde_json::{json, Value};

const NODES: usize = 16;

struct Target {
    name: &'static str,
    keys: Value,
    dir: tempfile::TempDir,
}

fn run(bin: &str, cmd: &str, cid: &str, conf: &[u8]) -> bool {
    let mut child = Command::new(bin)
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", cid)
        .env("CNI_NETNS", "/var/run/netns/bench")
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", "/opt/cni/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        // Its info log lines (Calico's, on stderr) go where a runtime's drained pipe would
        // take them; writing them into the bench's own output file would measure the disk.
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn calico-ipam");
    let _ = child.stdin.take().unwrap().write_all(conf);
    // wait4 gives this process's own peak RSS (calico-ipam starts no children of its own);
    // getrusage(RUSAGE_CHILDREN) would report the largest child ever reaped here instead.
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child; status and usage are live locals.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    std::mem::forget(child); // reaped by wait4
    MAX_PLUGIN_RSS_KIB.fetch_max(usage.ru_maxrss, Ordering::Relaxed);
    let cpu_us = |t: libc::timeval| t.tv_sec * 1_000_000 + t.tv_usec;
    PLUGIN_CPU_US.fetch_add(
        cpu_us(usage.ru_utime) + cpu_us(usage.ru_stime),
        Ordering::Relaxed,
    );
    rc == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

/// The largest own peak RSS of any calico-ipam process run so far.
static MAX_PLUGIN_RSS_KIB: AtomicI64 = AtomicI64::new(0);
/// CPU time (user + system) of every calico-ipam process run so far, in microseconds.
static PLUGIN_CPU_US: AtomicI64 = AtomicI64::new(0);

/// CPU time (user + system) a process has used so far, in microseconds.
fn process_cpu_us(pid: u32) -> i64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<i64> = rest
        .split_whitespace()
        .map(|w| w.parse().unwrap_or(0))
        .collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
    f.get(11)
        .zip(f.get(12))
        .map_or(0, |(u, s)| (u + s) * 1_000_000 / hz)
}

/// Spawns of a do-nothing calico-ipam (VERSION) per second at `conc` concurrency: the
/// ceiling for any design that runs one plugin process per ADD on this machine.
fn exec_floor(bin: &str, n: usize, conc: usize) -> f64 {
    let secs = parallel(n, conc, |_| {
        let ok = Command::new(bin)
            .env("CNI_COMMAND", "VERSION")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "calico-ipam VERSION failed");
    });
    n as f64 / secs
}

fn conf(t: &Target, node: usize) -> Vec<u8> {
    let mut c = json!({"cniVersion": "1.0.0", "name": "bench", "type": "calico",
        "nodename": format!("node{node}"),
        "ipam_lock_file": t.dir.path().join(format!("node{node}.lock")).display().to_string(),
        "ipam": {"type": "calico-ipam"}});
    for (k, v) in t.keys.as_object().unwrap() {
        c[k] = v.clone();
    }
    serde_json::to_vec(&c).unwrap()
}

fn parallel(n: usize, conc: usize, f: impl Fn(usize) + Sync) -> f64 {
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..conc {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    break;
                }
                f(i);
            });
        }
    });
    start.elapsed().as_secs_f64()
}

fn setup(t: &Target) {
    let ds = Datastore::from_netconf(&t.keys).unwrap();
    ds.apply_resource(&IpPool::new("bench", IpPoolSpec::with_cidr("10.0.0.0/12")))
        .unwrap();
    for n in 0..NODES {
        ds.apply_resource(&Node::new(format!("node{n}"), NodeSpec::default()))
            .unwrap();
    }
}

fn raw_etcd_rate(keys: &Value, n: usize) -> f64 {
    let secs = parallel(32, 32, |t| {
        let ds = Datastore::from_netconf(keys).unwrap();
        for i in 0..n / 32 {
            ds.kv()
                .create(&format!("/bench/raw/{t}/{i}"), b"{\"x\":1}")
                .unwrap();
        }
    });
    (n / 32 * 32) as f64 / secs
}

fn main() {
    let mut argv = std::env::args().skip(1);
    let bin = argv
        .next()
        .unwrap_or_else(|| "target/x86_64-unknown-linux-musl/release/calico-ipam".into());
    let n: usize = argv.next().and_then(|s| s.parse().ok()).unwrap_or(400);
    let etcd = testkit::EtcdServer::start();
    let local_dir = tempfile::tempdir().unwrap();
    let targets = [
        Target {
            name: "local",
            keys: json!({"datastore_type": "local",
                         "datastore_path": local_dir.path().join("store").display().to_string()}),
            dir: tempfile::tempdir().unwrap(),
        },
        Target {
            name: "etcd",
            keys: json!({"etcd_endpoints": etcd.endpoint()}),
            dir: tempfile::tempdir().unwrap(),
        },
    ];
    let raw_cpu0 = etcd.pid().map_or(0, process_cpu_us);
    let raw = raw_etcd_rate(&targets[1].keys, 3200);
    let raw_cpu_ms = (etcd.pid().map_or(0, process_cpu_us) - raw_cpu0) as f64 / 3200.0 / 1000.0;
    let floor = exec_floor(&bin, n, 32);
    println!(
        "calico-ipam: {bin}, {n} ADDs per run, {NODES} node names, its stderr (info log) discarded\n"
    );
    println!("| backend | concurrency | ADD/s | DEL/s |");
    println!("|---|---|---|---|");
    let mut round = 0;
    let mut cpu_notes = Vec::new();
    for t in &targets {
        setup(t);
        for conc in [1, 8, 32] {
            round += 1;
            let confs: Vec<Vec<u8>> = (0..NODES).map(|k| conf(t, k)).collect();
            let failed = AtomicUsize::new(0);
            // Each run starts without the previous run's writeback pending.
            // SAFETY: sync(2) has no preconditions.
            unsafe { libc::sync() };
            let etcd_cpu0 = etcd.pid().map_or(0, process_cpu_us);
            let plugin_cpu0 = PLUGIN_CPU_US.load(Ordering::Relaxed);
            let add = parallel(n, conc, |i| {
                if !run(&bin, "ADD", &format!("r{round}c{i}"), &confs[i % NODES]) {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
            });
            if conc == 32 {
                let per_add = |us: i64| us as f64 / n as f64 / 1000.0;
                let plugin = per_add(PLUGIN_CPU_US.load(Ordering::Relaxed) - plugin_cpu0);
                let server = if t.name == "etcd" {
                    per_add(etcd.pid().map_or(0, process_cpu_us) - etcd_cpu0)
                } else {
                    0.0
                };
                cpu_notes.push(format!(
                    "CPU per ADD at 32 concurrency, {}: calico-ipam process {plugin:.2} ms{}",
                    t.name,
                    if t.name == "etcd" {
                        format!(", etcd server {server:.2} ms")
                    } else {
                        String::new()
                    }
                ));
            }
            let del = parallel(n, conc, |i| {
                run(&bin, "DEL", &format!("r{round}c{i}"), &confs[i % NODES]);
            });
            println!(
                "| {} | {conc} | {:.0} | {:.0} |{}",
                t.name,
                n as f64 / add,
                n as f64 / del,
                match failed.load(Ordering::SeqCst) {
                    0 => String::new(),
                    f => format!(" {f} ADDs failed"),
                }
            );
        }
    }
    println!("\nraw etcd create transactions (32 clients): {raw:.0}/s ({raw_cpu_ms:.2} ms of etcd CPU each)");
    println!(
        "exec floor: calico-ipam VERSION, 32 at a time: {floor:.0} processes/s (the ceiling for one plugin process per ADD)"
    );
    for note in cpu_notes {
        println!("{note}");
    }
    println!(
        "peak RSS of a calico-ipam process: {} KiB",
        MAX_PLUGIN_RSS_KIB.load(Ordering::Relaxed)
    );
}
