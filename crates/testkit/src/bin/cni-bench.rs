//! `cni-bench`: our plugins against Debian's Go reference plugins, run as a runtime runs them
//! (env + stdin, one process per verb). For each plugin it alternates ours and Go's ADD+DEL
//! pairs, takes the median wall time and median peak RSS (from `wait4`'s rusage, so no shell
//! sits in the numbers) and writes a markdown table.
//!
//! Usage: cni-bench --ours DIR --go DIR [--iterations N] [--out FILE]

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::TempNetns;

struct Sample {
    wall: Duration,
    max_rss_kib: i64,
}

/// Spawns one plugin invocation and waits for it with `wait4` to get its own peak RSS.
fn exec(bin: &Path, env: &[(&str, &str)], stdin: &[u8]) -> Sample {
    let start = Instant::now();
    let mut child = Command::new(bin)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    // A plugin may exit without reading stdin (VERSION does): a broken pipe is fine.
    if let Err(e) = child.stdin.take().expect("stdin is piped").write_all(stdin) {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "write plugin stdin: {e}"
        );
    }
    let pid = child.id() as libc::pid_t;
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
        max_rss_kib: usage.ru_maxrss,
    }
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
    vec![Case {
        plugin: "loopback",
        ifname: "eth0",
        setup: loopback_case,
    }]
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

fn add_del(bin: &Path, case: &Case, stdin: &str, netns: &str) -> (f64, i64) {
    let env = |cmd| {
        [
            ("CNI_COMMAND", cmd),
            ("CNI_CONTAINERID", "bench-ctr"),
            ("CNI_NETNS", netns),
            ("CNI_IFNAME", case.ifname),
            ("CNI_PATH", "/nonexistent"),
        ]
    };
    let add = exec(bin, &env("ADD"), stdin.as_bytes());
    let del = exec(bin, &env("DEL"), stdin.as_bytes());
    (
        (add.wall + del.wall).as_secs_f64() * 1000.0,
        add.max_rss_kib.max(del.max_rss_kib),
    )
}

fn run_case(case: &Case, ours: &Path, go: &Path, iterations: usize) -> (Stats, Stats) {
    let ns = TempNetns::new();
    let netns = ns.path().to_str().expect("utf-8 netns path").to_string();
    let stdin = (case.setup)(&ns);
    // Warm the page cache for both binaries before measuring.
    add_del(ours, case, &stdin, &netns);
    add_del(go, case, &stdin, &netns);
    let (mut ow, mut or, mut gw, mut gr) = (vec![], vec![], vec![], vec![]);
    for _ in 0..iterations {
        let (w, r) = add_del(ours, case, &stdin, &netns);
        ow.push(w);
        or.push(r);
        let (w, r) = add_del(go, case, &stdin, &netns);
        gw.push(w);
        gr.push(r);
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
    testkit::require_root();

    let mut table = String::new();
    table.push_str(&format!(
        "Machine: {}\n\nIterations per plugin: {iterations} ADD+DEL pairs each, ours and Go's alternating; medians.\n\n",
        machine()
    ));
    table.push_str("| plugin | ours ADD+DEL (ms) | Go ADD+DEL (ms) | wall ratio | ours peak RSS (KiB) | Go peak RSS (KiB) | RSS ratio | ours size (KiB) | Go size (KiB) | size ratio |\n");
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
