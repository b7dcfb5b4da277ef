//! GC and STATUS (CNI 1.1), which the Go plugin only stubs.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};

fn net(data: &DataDir, name: &str, ipam: Value) -> String {
    conf("1.1.0", name, data.path(), ipam, json!({}))
}

fn with_key(stdin: &str, key: &str, value: Value) -> String {
    let mut v: Value = serde_json::from_str(stdin).unwrap();
    v[key] = value;
    v.to_string()
}

fn gc(stdin: &str, valid: Value) -> testkit::PluginRun {
    gc_or_status(
        ours(),
        "GC",
        &with_key(stdin, "cni.dev/valid-attachments", valid),
    )
}

fn names(store: &std::path::Path) -> BTreeSet<String> {
    files(store).into_keys().collect()
}

#[test]
fn gc_releases_what_the_runtime_no_longer_lists() {
    let data = DataDir::new();
    let stdin = net(&data, "mynet", json!({"subnet": "10.1.2.0/24"}));
    let other = net(&data, "othernet", json!({"subnet": "10.9.0.0/24"}));
    for (id, ifname) in [
        ("keep", "eth0"),
        ("gone", "eth0"),
        ("twoif", "eth0"),
        ("twoif", "eth1"),
    ] {
        add(ours(), id, ifname, &stdin).assert_success();
    }
    add(ours(), "gone", "eth0", &other).assert_success();
    let store = data.store("mynet");
    reserve(&store, "10.1.2.100", "legacy-id");
    reserve(&store, "10.1.2.101", "legacy-stale");
    reserve(&store, "10.1.2.102", ""); // left by a writer that died

    let run = gc(
        &stdin,
        json!([{"containerID": "keep", "ifname": "eth0"},
               {"containerID": "twoif", "ifname": "eth0"},
               {"containerID": "legacy-id", "ifname": "eth0"}]),
    );
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{run}");
    let f = files(&store);
    let kept: BTreeSet<&str> = f
        .iter()
        .filter(|(n, _)| n.parse::<std::net::IpAddr>().is_ok())
        .map(|(_, c)| c.as_str())
        .collect();
    assert_eq!(
        kept,
        BTreeSet::from(["keep\r\neth0", "twoif\r\neth0", "legacy-id"]),
        "matched on container and interface; legacy reservations by container"
    );
    assert!(f.contains_key("lock") && f.contains_key("last_reserved_ip.0"));
    assert_eq!(
        reservations(&data.store("othernet")).len(),
        1,
        "another network's store is never touched"
    );
}

#[test]
fn gc_with_no_live_attachments_releases_everything_and_frees_the_addresses() {
    for valid in [json!([]), Value::Null] {
        let data = DataDir::new();
        let stdin = net(&data, "mynet", json!({"subnet": "10.1.2.0/24"}));
        add(ours(), "a", "eth0", &stdin).assert_success();
        add(ours(), "b", "eth0", &stdin).assert_success();
        gc(&stdin, valid.clone()).assert_success();
        let store = data.store("mynet");
        assert_eq!(
            names(&store),
            BTreeSet::from(["lock".to_string(), "last_reserved_ip.0".to_string()])
        );
        let again = with_key(&stdin, "args", json!({"cni": {"ips": ["10.1.2.2"]}}));
        assert_eq!(ips_of(&add(ours(), "c", "eth0", &again)), ["10.1.2.2/24"]);
    }
}

#[test]
fn gc_without_any_attachment_list_releases_nothing() {
    // libcni omits both keys when its caller gave no list (`cnitool gc`): nothing is known to
    // be stale, so live reservations must survive.
    let data = DataDir::new();
    let stdin = net(&data, "mynet", json!({"subnet": "10.1.2.0/24"}));
    add(ours(), "a", "eth0", &stdin).assert_success();
    gc_or_status(ours(), "GC", &stdin).assert_success();
    assert_eq!(reservations(&data.store("mynet")), ["10.1.2.2"]);
}

#[test]
fn gc_honours_the_old_attachments_key() {
    let data = DataDir::new();
    let stdin = net(&data, "mynet", json!({"subnet": "10.1.2.0/24"}));
    add(ours(), "a", "eth0", &stdin).assert_success();
    add(ours(), "b", "eth0", &stdin).assert_success();
    let old = with_key(
        &stdin,
        "cni.dev/attachments",
        json!([{"containerID": "a", "ifname": "eth0"}]),
    );
    gc_or_status(ours(), "GC", &old).assert_success();
    assert_eq!(reservations(&data.store("mynet")), ["10.1.2.2"]);
}

#[test]
fn gc_of_a_missing_store_creates_nothing() {
    let data = DataDir::new();
    let stdin = net(&data, "mynet", json!({"subnet": "10.1.2.0/24"}));
    gc(&stdin, json!([])).assert_success();
    assert!(!data.store("mynet").exists());
}

#[test]
fn gc_and_status_need_1_1_0() {
    let data = DataDir::new();
    for cmd in ["GC", "STATUS"] {
        let stdin = mynet(&data, json!({"subnet": "10.1.2.0/24"}));
        assert_eq!(
            error_of(&gc_or_status(ours(), cmd, &stdin)),
            (1, format!("config version does not allow {cmd}"))
        );
    }
}

#[test]
fn gc_never_collects_an_add_in_progress() {
    // GCs run back to back while ADDs land, every ADD's attachment listed as live: if a GC
    // ever saw a reservation before it was complete (an empty file), it would release it.
    let data = DataDir::new();
    let stdin = net(&data, "mynet", json!({"subnet": "10.1.0.0/16"}));
    let ids: Vec<String> = (0..24).map(|i| format!("ctr-{i}")).collect();
    let valid: Vec<Value> = ids
        .iter()
        .map(|id| json!({"containerID": id, "ifname": "eth0"}))
        .collect();
    let gc_stdin = with_key(&stdin, "cni.dev/valid-attachments", Value::Array(valid));
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let collector = s.spawn(|| {
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || runs < 5 {
                gc_or_status(ours(), "GC", &gc_stdin).assert_success();
                runs += 1;
            }
        });
        let adds: Vec<_> = ids
            .iter()
            .map(|id| spawn(ours(), "ADD", id, "eth0", &stdin))
            .collect();
        for child in adds {
            assert_eq!(finish(child).0, 0);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        collector.join().unwrap();
    });
    assert_eq!(reservations(&data.store("mynet")).len(), ids.len());
}

#[test]
fn status_succeeds_on_a_usable_store() {
    let data = DataDir::new();
    let stdin = net(&data, "mynet", json!({"subnet": "10.1.2.0/24"}));
    let run = gc_or_status(ours(), "STATUS", &stdin);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{run}");
    assert!(
        reservations(&data.store("mynet")).is_empty(),
        "STATUS reserves nothing"
    );
}

#[test]
fn status_fails_with_50_when_a_range_set_is_exhausted() {
    let data = DataDir::new();
    let stdin = net(
        &data,
        "mynet",
        json!({"ranges": [[{"subnet": "10.1.2.0/24"}], [{"subnet": "10.1.3.0/30"}]]}),
    );
    gc_or_status(ours(), "STATUS", &stdin).assert_success();
    add(ours(), "a", "eth0", &stdin).assert_success();
    // 10.1.3.0/30 had one address (.2) besides its gateway: no ADD can succeed any more.
    assert_eq!(
        error_of(&gc_or_status(ours(), "STATUS", &stdin)),
        (
            50,
            "no IP addresses available in range set 1: 10.1.3.1-10.1.3.2".to_string()
        )
    );
    assert!(msg_of(&add(ours(), "b", "eth0", &stdin)).contains("no IP addresses available"));
    del(ours(), "a", "eth0", &stdin).assert_success();
    gc_or_status(ours(), "STATUS", &stdin).assert_success();

    // A set with several ranges is exhausted only when all of them are.
    let multi = net(
        &data,
        "multi",
        json!({"ranges": [[{"subnet": "10.2.3.0/30"}, {"subnet": "10.2.4.0/29"}]]}),
    );
    add(ours(), "a", "eth0", &multi).assert_success();
    gc_or_status(ours(), "STATUS", &multi).assert_success();
}

#[test]
fn status_fails_with_50_when_the_store_is_not_writable() {
    testkit::require_root();
    let data = DataDir::new();
    // The store would have to live below a regular file.
    let file = data.dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let stdin = conf(
        "1.1.0",
        "mynet",
        file.to_str().unwrap(),
        json!({"subnet": "10.1.2.0/24"}),
        json!({}),
    );
    let (code, msg) = error_of(&gc_or_status(ours(), "STATUS", &stdin));
    assert_eq!(code, 50);
    assert_eq!(
        msg,
        format!(
            "host-local store is not available: mkdir {}: not a directory",
            file.display()
        )
    );

    // An immutable store directory: even root cannot create reservations in it.
    let stdin = net(&data, "mynet", json!({"subnet": "10.1.2.0/24"}));
    gc_or_status(ours(), "STATUS", &stdin).assert_success();
    let store = data.store("mynet");
    let chattr = |flag: &str| {
        let ok = std::process::Command::new("chattr")
            .arg(flag)
            .arg(&store)
            .status()
            .expect("chattr (e2fsprogs) is needed")
            .success();
        assert!(ok, "chattr {flag} {}", store.display());
    };
    chattr("+i");
    let run = gc_or_status(ours(), "STATUS", &stdin);
    let add_run = add(ours(), "a", "eth0", &stdin);
    chattr("-i");
    let (code, msg) = error_of(&run);
    assert_eq!(code, 50);
    assert!(
        msg.starts_with(&format!(
            "host-local store {} is not writable: ",
            store.display()
        )),
        "{msg}"
    );
    assert_ne!(add_run.code, 0, "and ADD indeed fails there");
}
