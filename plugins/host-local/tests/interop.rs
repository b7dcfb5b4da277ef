//! Interchangeability with Debian's Go host-local (`/usr/lib/cni/host-local`): either
//! plugin releases what the other reserved, and both leave the same files for the same
//! sequence of operations. Debian's 1.1.1 writes 0644 where upstream (and we) write 0600, so
//! contents are compared and modes checked against upstream's.

mod common;

use std::path::Path;

use common::*;
use serde_json::{json, Value};

/// The configs Debian's Go plugin can run (it stops at 1.0.0).
const GO_VERSIONS: &[&str] = &["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"];

fn dual_stack(version: &str, data: &DataDir) -> String {
    conf(
        version,
        "mynet",
        data.path(),
        json!({"ranges": [[{"subnet": "10.1.2.0/24"}], [{"subnet": "2001:db8:1::/64"}]],
               "routes": [{"dst": "0.0.0.0/0"}]}),
        json!({}),
    )
}

fn only_bookkeeping(store: &Path) -> bool {
    files(store)
        .keys()
        .all(|n| n == "lock" || n.starts_with("last_reserved_ip."))
}

/// A result without Debian's empty `"dns": {}`, which latest upstream omits for 1.x.
fn normalized(stdout: &str) -> Value {
    let mut v: Value = serde_json::from_str(stdout).unwrap_or(Value::Null);
    if v.get("dns") == Some(&json!({})) && v["cniVersion"].as_str().unwrap_or("") >= "1.0.0" {
        v.as_object_mut().unwrap().remove("dns");
    }
    v
}

#[test]
fn our_add_then_go_del_leaves_an_empty_store() {
    let go = go();
    for version in GO_VERSIONS {
        let data = DataDir::new();
        let stdin = dual_stack(version, &data);
        add(ours(), "ctr", "eth0", &stdin).assert_success();
        assert_eq!(reservations(&data.store("mynet")).len(), 2);
        if *version >= "0.4.0" {
            check(&go, "ctr", "eth0", &stdin).assert_success();
        }
        del(&go, "ctr", "eth0", &stdin).assert_success();
        assert!(only_bookkeeping(&data.store("mynet")), "{version}");
    }
}

#[test]
fn go_add_then_our_del_leaves_an_empty_store() {
    let go = go();
    for version in GO_VERSIONS {
        let data = DataDir::new();
        let stdin = dual_stack(version, &data);
        add(&go, "ctr", "eth0", &stdin).assert_success();
        assert_eq!(reservations(&data.store("mynet")).len(), 2);
        if *version >= "0.4.0" {
            check(ours(), "ctr", "eth0", &stdin).assert_success();
        }
        // Our duplicate check sees Go's reservation.
        assert!(msg_of(&add(ours(), "ctr", "eth0", &stdin)).contains("duplicate allocation"));
        del(ours(), "ctr", "eth0", &stdin).assert_success();
        assert!(only_bookkeeping(&data.store("mynet")), "{version}");
    }
}

/// Runs the same operations with one plugin in a fresh store; returns the outputs.
fn script(bin: &Path, data: &DataDir, version: &str) -> Vec<(i32, Value)> {
    let base = dual_stack(version, data);
    let with_ip = conf(
        version,
        "mynet",
        data.path(),
        json!({"ranges": [[{"subnet": "10.1.2.0/24"}], [{"subnet": "2001:db8:1::/64"}]]}),
        json!({"args": {"cni": {"ips": ["10.1.2.50", "2001:db8:1::50"]}}}),
    );
    let other_net = conf(
        version,
        "othernet",
        data.path(),
        json!({"subnet": "10.9.0.0/29"}),
        json!({}),
    );
    let ops: Vec<(&str, &str, &str, &str)> = vec![
        ("ADD", "a", "eth0", &base),
        ("ADD", "b", "eth0", &base),
        ("ADD", "c", "eth0", &with_ip),
        ("ADD", "a", "eth0", &base),
        ("ADD", "a", "eth1", &base),
        ("DEL", "b", "eth0", &base),
        ("ADD", "d", "eth0", &base),
        ("DEL", "a", "eth0", &base),
        ("DEL", "a", "eth0", &base),
        ("ADD", "x", "eth0", &other_net),
        ("ADD", "y", "eth0", &other_net),
        ("DEL", "x", "eth0", &other_net),
        ("ADD", "z", "eth0", &other_net),
        ("DEL", "nobody", "eth0", &base),
    ];
    ops.into_iter()
        .map(|(cmd, id, ifname, stdin)| {
            let run = call(bin, cmd, id, ifname, "", stdin);
            (run.code, normalized(&run.stdout))
        })
        .collect()
}

#[test]
fn the_same_operations_leave_byte_identical_files() {
    let go = go();
    for version in ["0.2.0", "0.4.0", "1.0.0"] {
        let (ours_dir, go_dir) = (DataDir::new(), DataDir::new());
        let ours_out = script(ours(), &ours_dir, version);
        let go_out = script(&go, &go_dir, version);
        assert_eq!(ours_out, go_out, "{version}: outputs differ");
        for net in ["mynet", "othernet"] {
            let (o, g) = (ours_dir.store(net), go_dir.store(net));
            assert_eq!(
                files(&o),
                files(&g),
                "{version}/{net}: store contents differ"
            );
            assert!(files(&o).len() > 2, "the script leaves reservations behind");
            for (name, _) in files(&o) {
                let want = if name == "lock" { 0o750 } else { 0o600 };
                assert_eq!(mode(&o.join(&name)), want, "{name}: upstream's mode");
            }
            assert_eq!(mode(&o), 0o755);
            assert_eq!(mode(&g), 0o755);
        }
    }
}

#[test]
fn alternating_plugins_share_round_robin_and_reservations() {
    let go = go();
    let data = DataDir::new();
    let stdin = mynet(&data, json!({"subnet": "10.1.2.0/24"}));
    let mut got = Vec::new();
    for i in 0..10 {
        let bin: &Path = if i % 2 == 0 { ours() } else { &go };
        got.push(ips_of(&add(bin, &format!("c{i}"), "eth0", &stdin))[0].clone());
    }
    let want: Vec<String> = (2..12).map(|i| format!("10.1.2.{i}/24")).collect();
    assert_eq!(got, want);
    for i in 0..10 {
        let bin: &Path = if i % 3 == 0 { &go } else { ours() };
        del(bin, &format!("c{i}"), "eth0", &stdin).assert_success();
    }
    assert!(only_bookkeeping(&data.store("mynet")));
    assert_eq!(
        files(&data.store("mynet"))["last_reserved_ip.0"],
        "10.1.2.11"
    );
}

#[test]
fn both_release_legacy_reservations() {
    let go = go();
    for bin in [ours(), go.as_path()] {
        let data = DataDir::new();
        let stdin = mynet(&data, json!({"subnet": "10.1.2.0/24"}));
        reserve(&data.store("mynet"), "10.1.2.7", "old-ctr");
        check(bin, "old-ctr", "eth0", &stdin).assert_success();
        del(bin, "old-ctr", "eth0", &stdin).assert_success();
        assert!(
            reservations(&data.store("mynet")).is_empty(),
            "{}",
            bin.display()
        );
    }
}
