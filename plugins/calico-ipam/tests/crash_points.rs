//! calico-ipam killed (SIGKILL) at every call of an ADD and of a DEL that changes the
//! datastore or talks to it, on the local store and on etcd (`testkit::crash`, strace).
//!
//! After each kill, before anything else touches the store, the IPAM data must be consistent
//! the way `calicoctl ipam check` counts it: every handle's per-block count matches the
//! addresses its block records for it ("handles with no matching IPs"), and every recorded
//! address names a handle that exists ("IPs with no matching handle"). Then DEL and a retried
//! ADD succeed, and a final DEL leaves nothing of the container behind.
//!
//! The calls: `openat` with `O_CREAT`; `write`, `writev`, `pwrite64` to the store's files, the
//! lock file, the etcd socket or stdout; `sendto`/`sendmsg` (the etcd client's sends);
//! `rename`, `unlink`, `mkdir`, `fsync`, `fdatasync`, `sync_file_range`, `ftruncate`. Left
//! out: reads (they change nothing), `openat` without `O_CREAT` (a kill there equals one at
//! the next state-changing call), writes to stderr (logs).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::*;
use datastore::{BlockAffinityList, BlockList, HandleKey, HandleList};
use serde_json::{json, Value};
use testkit::crash::{self, Call, CrashPoint};
use testkit::Invocation;

const SYSCALLS: &[&str] = &[
    "openat",
    "write",
    "writev",
    "pwrite64",
    "sendto",
    "sendmsg",
    "rename",
    "unlink",
    "mkdir",
    "fsync",
    "fdatasync",
    "sync_file_range",
    "ftruncate",
];

const CID: &str = "crash";

/// The IPAM data as `calicoctl ipam check` cross-references it; `Err` names what is wrong.
fn consistent(b: &Backend) -> Result<(), String> {
    let ds = b.ds();
    // handle → block → addresses the blocks record for it
    let mut recorded: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for (_, block) in ds.list(&BlockList::default()).map_err(|e| e.to_string())? {
        let block = block.value;
        for ord in 0..block.allocations.len() {
            let Some(attr) = block.attributes_at(ord) else {
                continue;
            };
            let handle = attr.handle_id.clone().unwrap_or_default();
            *recorded
                .entry(handle)
                .or_default()
                .entry(block.cidr.to_string())
                .or_default() += 1;
        }
    }
    let mut handles: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for (key, h) in ds.list(&HandleList).map_err(|e| e.to_string())? {
        let counts: BTreeMap<String, i64> =
            h.value.block.into_iter().filter(|(_, n)| *n > 0).collect();
        handles.insert(key.id, counts);
    }
    for (id, counts) in &handles {
        let have = recorded.get(id).cloned().unwrap_or_default();
        if &have != counts {
            return Err(format!(
                "handle {id} counts {counts:?}, the blocks record {have:?}"
            ));
        }
    }
    for (id, have) in &recorded {
        if !handles.contains_key(id) {
            return Err(format!(
                "addresses {have:?} name handle {id:?}, which does not exist"
            ));
        }
    }
    Ok(())
}

/// What the container holds: its handle, and the addresses recorded for it.
fn held(b: &Backend) -> (bool, Vec<String>) {
    let handle = format!("{NET}.{CID}");
    let exists = b
        .ds()
        .get(&HandleKey::new(handle.clone()))
        .unwrap()
        .is_some();
    let ips = b
        .allocations()
        .into_iter()
        .filter(|(_, h)| *h == handle)
        .map(|(ip, _)| ip)
        .collect();
    (exists, ips)
}

/// The IPAM state a point starts from on etcd: the pool and node1, no block, affinity or
/// handle.
fn reset(b: &Backend) {
    let ds = b.ds();
    for (k, _) in ds.list(&HandleList).unwrap() {
        ds.delete(&k, None).unwrap();
    }
    for (k, _) in ds.list(&BlockList::default()).unwrap() {
        ds.delete(&k, None).unwrap();
    }
    for (k, _) in ds.list(&BlockAffinityList::default()).unwrap() {
        ds.delete(&k, None).unwrap();
    }
}

fn invocation(cmd: &str, conf: &Value) -> Invocation {
    Invocation::new(BIN)
        .command(cmd)
        .container_id(CID)
        .netns("/var/run/netns/none")
        .ifname("eth0")
        .path("/opt/cni/bin")
        .stdin(serde_json::to_vec(conf).unwrap())
        .timeout(std::time::Duration::from_secs(60))
}

/// The calls of a traced run that change state: see the module docs. `files` are the paths
/// (prefixes) whose writes count; `port` the etcd client port.
fn state_changing(calls: &[Call], files: &[PathBuf], port: Option<u16>) -> Vec<CrashPoint> {
    let ours = |args: &str| {
        files
            .iter()
            .any(|f| args.contains(&format!("<{}", f.display())))
            || port.is_some_and(|p| args.contains(&format!(":{p}]>")))
            || args.starts_with("1<")
    };
    crash::points(calls, |c| match c.syscall.as_str() {
        "openat" => c.args.contains("O_CREAT"),
        "write" | "writev" | "pwrite64" | "sendto" | "sendmsg" => ours(&c.args),
        _ => true,
    })
}

struct Scenario<'a> {
    backend: &'a Backend,
    /// Resets the backend to where the traced run started.
    fresh: &'a dyn Fn(),
    conf: Value,
    files: Vec<PathBuf>,
    port: Option<u16>,
}

impl Scenario<'_> {
    fn add(&self) {
        let r = invocation("ADD", &self.conf).run();
        assert!(r.success(), "ADD: {r}");
    }

    fn del(&self) {
        let r = invocation("DEL", &self.conf).run();
        assert!(r.success(), "DEL: {r}");
    }

    /// Kills `cmd` at each of its state-changing calls (after `before`), then checks the
    /// store, DEL, a retried ADD and a final DEL. Returns how many runs were killed.
    fn sweep(&self, cmd: &str, before: &dyn Fn(&Self)) -> usize {
        (self.fresh)();
        before(self);
        let (run, calls) = crash::trace(&invocation(cmd, &self.conf), SYSCALLS);
        run.assert_success();
        let points = state_changing(&calls, &self.files, self.port);
        let mut killed = 0;
        for point in &points {
            (self.fresh)();
            before(self);
            let run = point.run(&invocation(cmd, &self.conf));
            if run.code != 137 {
                // A run that took another path (fewer such calls) finished normally.
                assert!(run.code == 0 || run.code == 1, "{cmd} at {point}: {run}");
                continue;
            }
            killed += 1;
            if let Err(e) = consistent(self.backend) {
                panic!("{cmd} killed at {point}: inconsistent IPAM data: {e}");
            }
            self.del();
            self.add();
            self.del();
            assert_eq!(
                held(self.backend),
                (false, vec![]),
                "{cmd} killed at {point}"
            );
            consistent(self.backend)
                .unwrap_or_else(|e| panic!("{cmd} killed at {point}, after DEL: {e}"));
        }
        assert!(
            killed * 4 >= points.len() * 3,
            "{cmd}: only {killed} of {} points killed the run",
            points.len()
        );
        let mut by_call: BTreeMap<&str, usize> = BTreeMap::new();
        for p in &points {
            *by_call.entry(p.syscall.as_str()).or_default() += 1;
        }
        eprintln!(
            "{cmd}: killed at {killed} of {} points {by_call:?}",
            points.len()
        );
        killed
    }
}

fn pool(b: &Backend) {
    b.pool("p1", "10.77.0.0/16", |s| s.block_size = 26);
}

#[test]
fn local_store() {
    testkit::require_root();
    let b = Backend::local();
    pool(&b);
    let store = b.dir.path().join("store");
    // A new store each time: the same files and directories to create as in the traced run.
    let fresh = || {
        std::fs::remove_dir_all(&store).unwrap();
        b.node("node1", &[]);
        pool(&b);
    };
    let conf = b.conf("1.0.0", "node1", json!({"assign_ipv4": "true"}));
    let s = Scenario {
        backend: &b,
        fresh: &fresh,
        files: vec![b.dir.path().to_path_buf()],
        port: None,
        conf,
    };
    let adds = s.sweep("ADD", &|_| {});
    let dels = s.sweep("DEL", &|s| s.add());
    assert!(adds >= 10 && dels >= 5, "{adds} {dels}");
}

#[test]
fn etcd() {
    testkit::require_root();
    let b = Backend::etcd();
    pool(&b);
    let port = b.etcd.as_ref().map(|e| e.client_port());
    let fresh = || reset(&b);
    let conf = b.conf("1.0.0", "node1", json!({"assign_ipv4": "true"}));
    let s = Scenario {
        backend: &b,
        fresh: &fresh,
        files: vec![b.dir.path().to_path_buf()],
        port,
        conf,
    };
    let adds = s.sweep("ADD", &|_| {});
    let dels = s.sweep("DEL", &|s| s.add());
    assert!(adds >= 5 && dels >= 3, "{adds} {dels}");
}
