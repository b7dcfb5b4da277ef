//! The store lock is the one Go's host-local takes (flock on `<store>/lock`): both plugins
//! wait for a holder, so they can share one node's stores. Plus the reference's `lock_test.go`
//! (locking a file path and a folder path) as unit tests in `src/store/lock.rs`.

mod common;

use std::path::Path;

use common::*;
use serde_json::json;

fn waits_for_the_lock(bin: &Path, cmd: &str) {
    let data = DataDir::new();
    let store = data.store("mynet");
    let stdin = mynet(&data, json!({"subnet": "10.1.2.0/24"}));
    if cmd == "DEL" {
        add(ours(), "ctr", "eth0", &stdin).assert_success();
    }
    let held = HeldLock::take(&store);
    let before = files(&store);
    let child = spawn(bin, cmd, "ctr", "eth0", &stdin);
    wait_until_blocked_in_flock(child.id());
    assert_eq!(
        files(&store),
        before,
        "{cmd} changed the store while the lock was held"
    );
    drop(held);
    let (code, out) = finish(child);
    assert_eq!(code, 0, "{out}");
    assert_ne!(
        files(&store),
        before,
        "{cmd} did its work once the lock was free"
    );
}

#[test]
fn our_add_and_del_wait_for_the_lock() {
    testkit::require_root();
    waits_for_the_lock(ours(), "ADD");
    waits_for_the_lock(ours(), "DEL");
}

#[test]
fn go_add_waits_for_the_same_lock() {
    testkit::require_root();
    // The test holds the lock exactly as our store does (std's flock); Go's plugin waits.
    waits_for_the_lock(&go(), "ADD");
}

#[test]
fn our_gc_waits_for_the_lock() {
    testkit::require_root();
    let data = DataDir::new();
    let store = data.store("mynet");
    let stdin = conf(
        "1.1.0",
        "mynet",
        data.path(),
        json!({"subnet": "10.1.2.0/24"}),
        json!({}),
    );
    add(ours(), "stale", "eth0", &stdin).assert_success();
    let held = HeldLock::take(&store);
    let mut gc: serde_json::Value = serde_json::from_str(&stdin).unwrap();
    gc["cni.dev/valid-attachments"] = json!([]);
    let child = {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut c = Command::new(OURS)
            .env_clear()
            .env("CNI_COMMAND", "GC")
            .env("CNI_PATH", "/opt/cni/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all(gc.to_string().as_bytes())
            .unwrap();
        c
    };
    wait_until_blocked_in_flock(child.id());
    assert_eq!(
        reservations(&store),
        ["10.1.2.2"],
        "GC must not work without the lock"
    );
    drop(held);
    let (code, out) = finish(child);
    assert_eq!((code, out.as_str()), (0, ""));
    assert!(reservations(&store).is_empty());
}
