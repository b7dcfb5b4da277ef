//! host-local killed (SIGKILL) at every call of an ADD and of a DEL that changes its store
//! (`testkit::crash`, strace): `openat` with `O_CREAT` or `O_TMPFILE` (the lock, a
//! reservation's unnamed file, `last_reserved_ip.N`), `write` (a reservation, the last
//! reserved address, the result on stdout), `linkat` (a reservation gets its name),
//! `ftruncate`, `unlinkat`, `mkdir`; `rename`, `fsync` and `fdatasync` too, though host-local
//! makes none of them today. Reads and `flock` change nothing and are left out.
//!
//! After each kill, before anything else runs: every reservation in the store is whole
//! (`<id>\r\n<ifname>` of its owner, never empty or cut), someone else's are untouched, and
//! each `last_reserved_ip.N` is absent or an address of range set N. Then DEL and a retried
//! ADD succeed, and a final DEL leaves only the others' reservations.
//! (`kill.rs` sweeps every call of an ADD, reads included, and random moments.)

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use common::*;
use testkit::crash::{self, Call, CrashPoint};
use testkit::Invocation;

const SYSCALLS: &[&str] = &[
    "openat",
    "write",
    "linkat",
    "ftruncate",
    "unlinkat",
    "unlink",
    "mkdir",
    "mkdirat",
    "rename",
    "renameat",
    "renameat2",
    "fsync",
    "fdatasync",
];

const ID: &str = "victim";

fn invocation(bin: &Path, cmd: &str, stdin: &str) -> Invocation {
    Invocation::new(bin)
        .command(cmd)
        .container_id(ID)
        .netns(NETNS)
        .ifname("eth0")
        .path("/opt/cni/bin")
        .stdin(stdin.as_bytes().to_vec())
        .timeout(std::time::Duration::from_secs(30))
}

/// A store with two other attachments' reservations, as the traced run saw it.
fn fresh(data: &DataDir, stdin: &str) -> BTreeMap<String, String> {
    let store = data.store("mynet");
    let _ = std::fs::remove_dir_all(&store);
    add(ours(), "other-1", "eth0", stdin).assert_success();
    add(ours(), "other-2", "eth0", stdin).assert_success();
    reservations_of(&store)
}

/// The store's reservations: address → content.
fn reservations_of(store: &Path) -> BTreeMap<String, String> {
    files(store)
        .into_iter()
        .filter(|(name, _)| name.parse::<IpAddr>().is_ok())
        .collect()
}

/// The store as a killed run may leave it: `Err` says what is wrong.
fn whole(store: &Path, others: &BTreeMap<String, String>) -> Result<(), String> {
    let ranges = ["10.1.2.0/24", "2001:db8:1::/64"];
    for (name, content) in files(store) {
        if name == "lock" {
            continue;
        }
        if let Some(n) = name.strip_prefix("last_reserved_ip.") {
            let set: ipnetwork::IpNetwork = ranges
                .get(n.parse::<usize>().map_err(|_| format!("stray {name}"))?)
                .ok_or_else(|| format!("stray {name}"))?
                .parse()
                .unwrap();
            let ip: IpAddr = content
                .parse()
                .map_err(|_| format!("{name} holds {content:?}"))?;
            if !set.contains(ip) {
                return Err(format!("{name} holds {ip}, outside {set}"));
            }
            continue;
        }
        if name.parse::<IpAddr>().is_err() {
            return Err(format!("stray file {name} ({content:?})"));
        }
        match others.get(&name) {
            Some(theirs) if *theirs == content => {}
            Some(theirs) => return Err(format!("{name} changed: {theirs:?} → {content:?}")),
            None if content == format!("{ID}\r\neth0") => {}
            None => return Err(format!("reservation {name} is not whole: {content:?}")),
        }
    }
    for name in others.keys() {
        if !store.join(name).exists() {
            return Err(format!("someone else's {name} is gone"));
        }
    }
    Ok(())
}

/// The state-changing calls of a traced run (module docs).
fn state_changing(calls: &[Call]) -> Vec<CrashPoint> {
    crash::points(calls, |c| {
        c.syscall != "openat" || c.args.contains("O_CREAT") || c.args.contains("O_TMPFILE")
    })
}

/// Kills `cmd` at each of its state-changing calls (run after `before`), checks the store,
/// then DEL, a retried ADD and a final DEL. Returns how many runs were killed.
fn sweep(cmd: &str, before: &dyn Fn(&str)) -> usize {
    let data = DataDir::new();
    let stdin = two_range_sets(&data);
    let store = data.store("mynet");
    fresh(&data, &stdin);
    before(&stdin);
    let (run, calls) = crash::trace(&invocation(ours(), cmd, &stdin), SYSCALLS);
    run.assert_success();
    let points = state_changing(&calls);
    let mut killed = 0;
    for point in &points {
        let others = fresh(&data, &stdin);
        before(&stdin);
        let run = point.run(&invocation(ours(), cmd, &stdin));
        assert_eq!(run.code, 137, "{cmd} not killed at {point}: {run}");
        killed += 1;
        if let Err(e) = whole(&store, &others) {
            panic!("{cmd} killed at {point}: {e}");
        }
        del(ours(), ID, "eth0", &stdin).assert_success();
        let ips = ips_of(&add(ours(), ID, "eth0", &stdin));
        assert_eq!(ips.len(), 2, "{cmd} killed at {point}: retried ADD {ips:?}");
        del(ours(), ID, "eth0", &stdin).assert_success();
        assert_eq!(
            reservations_of(&store),
            others,
            "{cmd} killed at {point}: left behind"
        );
        whole(&store, &others).unwrap_or_else(|e| panic!("{cmd} killed at {point}: {e}"));
    }
    eprintln!("{cmd}: killed at {killed} points");
    killed
}

#[test]
fn add_killed_at_every_store_change() {
    testkit::require_root();
    let killed = sweep("ADD", &|_| {});
    // Lock, then per range set: unnamed file, its write, its name, last_reserved_ip's open,
    // write and truncate; and the result.
    assert!(killed >= 15, "{killed}");
}

#[test]
fn del_killed_at_every_store_change() {
    testkit::require_root();
    let killed = sweep("DEL", &|stdin| {
        add(ours(), ID, "eth0", stdin).assert_success();
    });
    // Lock, and one unlinkat per reservation.
    assert!(killed >= 3, "{killed}");
}

/// The check can fail: Go's host-local creates a reservation with `O_EXCL` and writes it
/// afterwards, so killed in between it leaves an empty reservation, which `whole` reports.
#[test]
fn the_check_finds_what_a_killed_go_add_leaves() {
    testkit::require_root();
    let go = go();
    let data = DataDir::new();
    let stdin = two_range_sets(&data);
    let store = data.store("mynet");
    fresh(&data, &stdin);
    let (run, calls) = crash::trace(&invocation(&go, "ADD", &stdin), &["write"]);
    run.assert_success();
    let mut torn = 0;
    for call in calls.iter().filter(|c| c.args.contains("victim")) {
        let others = fresh(&data, &stdin);
        call.point().run(&invocation(&go, "ADD", &stdin));
        torn += usize::from(whole(&store, &others).is_err());
    }
    assert!(torn > 0, "no kill between Go's create and write was caught");
}
