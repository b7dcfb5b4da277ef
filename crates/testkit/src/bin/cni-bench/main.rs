//! `cni-bench`: our plugins against Debian's Go reference plugins, run as a runtime runs them
//! (env + stdin, one process per verb). For each plugin it alternates ours and Go's ADD+DEL
//! pairs and writes a markdown table of medians:
//! - wall time of plain runs, spawn to reap (no shell in the numbers);
//! - peak RSS of the plugin process itself, read from `/proc/<pid>/status` (VmHWM) when it
//!   exits, in separate traced runs. `wait4`'s rusage would fold in reaped children, such as
//!   the `iptables` processes portmap runs, and report their size instead.
//!
//! Usage: cni-bench --ours DIR --go DIR [--iterations N] [--out FILE] [--chains-only | --istio-only]

use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::TempNetns;

mod chains;
mod istio;

struct Sample {
    wall: Duration,
    max_rss_kib: i64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Measure {
    /// Untraced: the wall time is meaningful; RSS is wait4's (includes reaped children).
    Wall,
    /// Traced to its exit: RSS is the process's own VmHWM; the wall time is not reported.
    OwnRss,
}

/// Spawns one plugin invocation, feeds it stdin and reaps it.
fn exec(bin: &Path, env: &[(&str, &str)], stdin: &[u8], measure: Measure) -> Sample {
    let start = Instant::now();
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if measure == Measure::OwnRss {
        // SAFETY: ptrace(PTRACE_TRACEME) is async-signal-safe and touches no parent state.
        unsafe {
            cmd.pre_exec(|| {
                if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    // A plugin may exit without reading stdin (VERSION does): a broken pipe is fine. The pipe
    // buffer holds a config, so this cannot block on a traced child that is still stopped.
    if let Err(e) = child.stdin.take().expect("stdin is piped").write_all(stdin) {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "write plugin stdin: {e}"
        );
    }
    let pid = child.id() as libc::pid_t;
    let own_rss = match measure {
        Measure::Wall => None,
        Measure::OwnRss => Some(trace_to_exit(pid)),
    };
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, status and usage point to live locals.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(rc, pid, "wait4 failed");
    let status = std::process::ExitStatus::from_raw(status);
    assert!(status.success(), "{} failed: {status}", bin.display());
    std::mem::forget(child); // already reaped by wait4
    Sample {
        wall,
        max_rss_kib: own_rss.unwrap_or(usage.ru_maxrss),
    }
}

/// Runs a `PTRACE_TRACEME` child (stopped at its exec) to its exit, returning its own VmHWM
/// read at the exit stop; signals are passed through. The child is left to be reaped.
fn trace_to_exit(pid: libc::pid_t) -> i64 {
    let wait = || {
        let mut status = 0;
        // SAFETY: pid is our traced child; status is a live local.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(rc, pid, "waitpid on traced child failed");
        status
    };
    let cont = |sig: libc::c_int| {
        // SAFETY: pid is stopped under our trace.
        unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, sig as libc::c_long) };
    };
    let status = wait();
    assert!(
        libc::WIFSTOPPED(status),
        "traced child did not stop at exec"
    );
    // SAFETY: pid is stopped under our trace.
    unsafe {
        libc::ptrace(
            libc::PTRACE_SETOPTIONS,
            pid,
            0,
            libc::PTRACE_O_TRACEEXIT as libc::c_long,
        )
    };
    cont(0);
    let mut hwm = 0;
    loop {
        let status = wait();
        if libc::WIFSTOPPED(status) && status >> 8 == libc::SIGTRAP | (libc::PTRACE_EVENT_EXIT << 8)
        {
            hwm = vm_hwm_kib(pid);
            cont(0);
            return hwm;
        }
        if !libc::WIFSTOPPED(status) {
            return hwm;
        }
        let sig = libc::WSTOPSIG(status);
        cont(if sig == libc::SIGTRAP { 0 } else { sig });
    }
}

fn vm_hwm_kib(pid: libc::pid_t) -> i64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// One benchmark case: a plugin and how to set up one ADD/DEL pair of it. `setup` runs once per
/// case with the throwaway netns both binaries work in, and returns the stdin for ADD and DEL
/// (it may create links in the netns, write a prevResult, point dataDir at a temp dir, ...).
struct Case {
    plugin: &'static str,
    ifname: &'static str,
    setup: fn(&TempNetns) -> String,
}

/// Every plugin we benchmark; each plugin adds its own row and setup function here.
fn cases() -> Vec<Case> {
    vec![
        Case {
            plugin: "loopback",
            ifname: "eth0",
            setup: loopback_case,
        },
        Case {
            plugin: "tuning",
            ifname: "eth0",
            setup: tuning_case,
        },
        Case {
            plugin: "host-local",
            ifname: "eth0",
            setup: host_local_case,
        },
        Case {
            plugin: "portmap",
            ifname: "eth0",
            setup: portmap_case,
        },
    ]
}

/// One TCP host port for a v4 container, default backend (iptables), snat on. A veth from
/// the bench's netns into the container netns with a route to the container address stands
/// in for the bridge/ptp plugin, so ADD sets route_localnet on that veth (gone with the netns)
/// rather than on a real interface. The rules go into the netns cni-bench runs in: the
/// per-container chain is deleted by each DEL, the shared CNI-HOSTPORT-* chains stay (as the
/// Go plugin leaves them); run the bench in a throwaway netns to keep even those off a host.
fn portmap_case(ns: &TempNetns) -> String {
    let host_if = format!("pmb{}", std::process::id());
    let ip = |args: &[&str]| {
        let ok = Command::new("ip")
            .args(args)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip {args:?} failed");
    };
    let peer = ["type", "veth", "peer", "name", "eth0", "netns", ns.name()];
    ip(&[&["link", "add", host_if.as_str()][..], &peer].concat());
    ip(&["link", "set", &host_if, "up"]);
    ns.ip_stdout(&["link", "set", "eth0", "up"]);
    ip(&["route", "add", "198.51.100.2/32", "dev", &host_if]);
    format!(
        r#"{{"cniVersion":"1.0.0","name":"bench","type":"portmap",
        "runtimeConfig":{{"portMappings":[{{"hostPort":18080,"containerPort":80,"protocol":"tcp"}}]}},
        "prevResult":{{"cniVersion":"1.0.0","interfaces":[{{"name":"eth0","sandbox":"{}"}}],
        "ips":[{{"address":"198.51.100.2/24","interface":0}}]}}}}"#,
        ns.path().display()
    )
}

/// A veth `eth0` in the netns and a prevResult naming it; ADD writes a sysctl, saves the
/// backup (default dataDir) and changes MAC, MTU, promisc and allmulti; DEL restores them.
fn tuning_case(ns: &TempNetns) -> String {
    ns.ip_stdout(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "peer0",
    ]);
    r#"{"cniVersion":"1.0.0","name":"bench","type":"tuning",
        "sysctl":{"net.ipv4.conf.IFNAME.log_martians":"1"},
        "mac":"c2:11:22:33:44:55","mtu":1400,"promisc":true,"allmulti":true,
        "prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/x"}],
        "ips":[{"address":"10.0.0.2/24","interface":0}]}}"#
        .into()
}

/// A dual-stack host-local config with its store in a scratch dataDir (emptied first; ours
/// and Go's share it, as they can on a node). ADD reserves one address per family, DEL frees
/// them; round-robin moves on, so the store stays small.
fn host_local_case(_ns: &TempNetns) -> String {
    let dir = std::env::temp_dir().join("cni-bench-host-local");
    let _ = std::fs::remove_dir_all(&dir);
    format!(
        r#"{{"cniVersion":"1.0.0","name":"bench","type":"bridge","ipam":{{"type":"host-local",
        "dataDir":"{}","ranges":[[{{"subnet":"10.66.0.0/16"}}],[{{"subnet":"2001:db8:66::/64"}}]],
        "routes":[{{"dst":"0.0.0.0/0"}}]}}}}"#,
        dir.display()
    )
}

/// host-local's cost as its store fills: 1000 sequential ADDs (distinct containers, never
/// deleted) into one store, ours and Go's interleaved into separate stores. Every ADD reads
/// the whole store for the duplicate check, so the last ADDs show the scan's cost.
fn host_local_fill(ours: &Path, go: &Path) -> String {
    const ADDS: usize = 1000;
    let (ob, gb) = (ours.join("host-local"), go.join("host-local"));
    if !ob.exists() || !gb.exists() {
        return String::new();
    }
    let base = std::env::temp_dir().join("cni-bench-host-local-fill");
    let _ = std::fs::remove_dir_all(&base);
    let stdin = |which: &str| {
        format!(
            r#"{{"cniVersion":"1.0.0","name":"fill","ipam":{{"type":"host-local","dataDir":"{}","subnet":"10.67.0.0/20"}}}}"#,
            base.join(which).display()
        )
    };
    let (os, gs) = (stdin("ours"), stdin("go"));
    let (mut ow, mut gw, mut orss, mut grss) = (vec![], vec![], 0, 0);
    for i in 0..ADDS {
        let id = format!("fill-{i}");
        let env = [
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", id.as_str()),
            ("CNI_NETNS", "/some/where"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/nonexistent"),
        ];
        let o = exec(&ob, &env, os.as_bytes(), Measure::Wall);
        let g = exec(&gb, &env, gs.as_bytes(), Measure::Wall);
        ow.push(o.wall.as_secs_f64() * 1000.0);
        gw.push(g.wall.as_secs_f64() * 1000.0);
        orss = orss.max(o.max_rss_kib);
        grss = grss.max(g.max_rss_kib);
    }
    let _ = std::fs::remove_dir_all(&base);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let row = |what: &str, o: f64, g: f64| format!("| {what} | {o:.2} | {g:.2} | {:.2} |\n", o / g);
    let mut t = format!(
        "\n### host-local store fill: {ADDS} sequential ADDs into one store\n\n| measure | ours | Go | ratio |\n|---|---:|---:|---:|\n"
    );
    t.push_str(&row("total wall (ms)", ow.iter().sum(), gw.iter().sum()));
    let (first, last) = (..100, ADDS - 100..);
    t.push_str(&row(
        "mean ADD, first 100 (ms)",
        mean(&ow[first]),
        mean(&gw[first]),
    ));
    t.push_str(&row(
        "mean ADD, last 100 (ms)",
        mean(&ow[last.clone()]),
        mean(&gw[last]),
    ));
    t.push_str(&row("peak RSS (KiB)", orss as f64, grss as f64));
    t
}

fn loopback_case(_ns: &TempNetns) -> String {
    r#"{"cniVersion":"1.0.0","name":"bench","type":"loopback"}"#.into()
}

struct Stats {
    wall_ms: f64,
    rss_kib: i64,
}

fn median<T: Copy + PartialOrd>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).expect("comparable"));
    v[v.len() / 2]
}

fn add_del(bin: &Path, case: &Case, stdin: &str, netns: &str, measure: Measure) -> (f64, i64) {
    let env = |cmd| {
        [
            ("CNI_COMMAND", cmd),
            ("CNI_CONTAINERID", "bench-ctr"),
            ("CNI_NETNS", netns),
            ("CNI_IFNAME", case.ifname),
            ("CNI_PATH", "/nonexistent"),
        ]
    };
    let add = exec(bin, &env("ADD"), stdin.as_bytes(), measure);
    let del = exec(bin, &env("DEL"), stdin.as_bytes(), measure);
    (
        (add.wall + del.wall).as_secs_f64() * 1000.0,
        add.max_rss_kib.max(del.max_rss_kib),
    )
}

fn run_case(case: &Case, ours: &Path, go: &Path, iterations: usize) -> (Stats, Stats) {
    let ns = TempNetns::new();
    let netns = ns.path().to_str().expect("utf-8 netns path").to_string();
    let stdin = (case.setup)(&ns);
    let run = |bin, measure| add_del(bin, case, &stdin, &netns, measure);
    // Warm the page cache for both binaries before measuring.
    run(ours, Measure::Wall);
    run(go, Measure::Wall);
    let (mut ow, mut gw) = (vec![], vec![]);
    for _ in 0..iterations {
        ow.push(run(ours, Measure::Wall).0);
        gw.push(run(go, Measure::Wall).0);
    }
    // Own peak RSS is stable from run to run; fewer traced runs suffice.
    let (mut or, mut gr) = (vec![], vec![]);
    for _ in 0..iterations.clamp(1, 25) {
        or.push(run(ours, Measure::OwnRss).1);
        gr.push(run(go, Measure::OwnRss).1);
    }
    (
        Stats {
            wall_ms: median(ow),
            rss_kib: median(or),
        },
        Stats {
            wall_ms: median(gw),
            rss_kib: median(gr),
        },
    )
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .unwrap_or(0);
    format!(
        "{cpu}, {cores} cores, {:.0} GiB RAM, Linux {kernel}",
        mem_kib as f64 / 1024.0 / 1024.0
    )
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ours = PathBuf::from(arg(&args, "--ours").expect("--ours DIR"));
    let go = PathBuf::from(arg(&args, "--go").unwrap_or_else(|| "/usr/lib/cni".into()));
    let iterations: usize = arg(&args, "--iterations")
        .map(|n| n.parse().expect("--iterations N"))
        .unwrap_or(200);
    let out = arg(&args, "--out").map(PathBuf::from);
    // For iterating on the chains alone (nothing is written to --out then).
    let chains_only = args.iter().any(|a| a == "--chains-only");
    testkit::require_root();
    // The release profile aborts on panic, so TempNetns destructors would never run: remove
    // this run's namespaces from the panic hook instead.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        for name in testkit::remove_leftovers() {
            eprintln!("cni-bench: removed namespace {name} after a panic");
        }
        default_hook(info);
    }));
    if chains_only {
        print!("{}", chains::run(&ours, &go, iterations.clamp(1, 30)));
        return;
    }
    // For iterating on the istio-cni figures alone (nothing is written to --out then).
    if args.iter().any(|a| a == "--istio-only") {
        print!("{}", istio::run(&ours, iterations.clamp(1, 30)));
        return;
    }

    let mut table = String::new();
    table.push_str(&format!(
        "Machine: {}\n\nIterations per plugin: {iterations} ADD+DEL pairs each, ours and Go's alternating; medians.\n\n",
        machine()
    ));
    table.push_str("| plugin | ours ADD+DEL (ms) | Go ADD+DEL (ms) | wall ratio | ours peak RSS, own (KiB) | Go peak RSS, own (KiB) | RSS ratio | ours size (KiB) | Go size (KiB) | size ratio |\n");
    table.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for case in cases() {
        let (ob, gb) = (ours.join(case.plugin), go.join(case.plugin));
        if !gb.exists() || !ob.exists() {
            eprintln!(
                "skipping {}: {} or {} missing",
                case.plugin,
                ob.display(),
                gb.display()
            );
            continue;
        }
        let (o, g) = run_case(&case, &ob, &gb, iterations);
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0) as f64 / 1024.0;
        let (os, gs) = (size(&ob), size(&gb));
        table.push_str(&format!(
            "| {} | {:.2} | {:.2} | {:.2} | {} | {} | {:.2} | {:.0} | {:.0} | {:.2} |\n",
            case.plugin,
            o.wall_ms,
            g.wall_ms,
            o.wall_ms / g.wall_ms,
            o.rss_kib,
            g.rss_kib,
            o.rss_kib as f64 / g.rss_kib as f64,
            os,
            gs,
            os / gs
        ));
    }
    table.push_str(&host_local_fill(&ours, &go));
    if ours.join("calico").exists() && go.join("bridge").exists() {
        table.push_str(&chains::run(&ours, &go, iterations.clamp(1, 30)));
    }
    if ours.join("istio-cni").exists() && ours.join("calico").exists() {
        table.push_str(&istio::run(&ours, iterations.clamp(1, 30)));
    }
    print!("{table}");
    if let Some(out) = out {
        let doc = format!(
            "# Benchmarks: our plugins vs the Go reference plugins\n\nWritten by `scripts/bench`; do not edit by hand. Go binaries: Debian's containernetworking-plugins in `{}`. Ours: release build.\n\n{table}",
            go.display()
        );
        std::fs::write(&out, doc).expect("write results");
        eprintln!("wrote {}", out.display());
    }
}
