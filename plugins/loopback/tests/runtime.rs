//! Our loopback and Go's, each driven through our libcni runtime (the same code cnitool and a
//! container runtime use): a conflist per spec version, ADD → CHECK → DEL, comparing results,
//! the cached result, and the netns state.

use std::path::{Path, PathBuf};

use libcni::runtime::api::{CniConfig, RuntimeConf};
use libcni::runtime::conf::NetworkConfigList;
use serde_json::{json, Value};
use testkit::{go_plugin, require_root, TempNetns};

/// A CNI bin dir holding one `loopback`, ours or Go's.
fn bin_dir(plugin: &Path) -> tempfile::TempDir {
    let dir = testkit::temp_dir();
    std::os::unix::fs::symlink(plugin, dir.path().join("loopback")).unwrap();
    dir
}

fn conflist(version: &str) -> NetworkConfigList {
    let text = format!(
        r#"{{"cniVersion":"{version}","name":"lo-net","plugins":[{{"type":"loopback"}}]}}"#
    );
    NetworkConfigList::from_bytes(text.as_bytes()).unwrap()
}

struct Outcome {
    add: Value,
    cached: Option<Value>,
    lo_after_add: String,
    check_ok: Option<bool>,
    lo_after_del: String,
    cache_left: bool,
}

fn drive(plugin: &Path, version: &str) -> Outcome {
    let bins = bin_dir(plugin);
    let cache = testkit::temp_dir();
    let ns = TempNetns::new();
    let netns = ns.path().to_str().unwrap().to_string();
    let cni = CniConfig::with_cache_dir(vec![PathBuf::from(bins.path())], cache.path());
    let rt = RuntimeConf {
        container_id: "ctr-runtime".into(),
        netns: netns.clone(),
        ifname: "eth0".into(),
        ..Default::default()
    };
    let list = conflist(version);
    let state = || {
        ns.ip_stdout(&["-o", "link", "show", "lo"])
            .replace(ns.name(), "NS")
    };

    let add = cni
        .add_network_list(&list, &rt)
        .expect("ADD through libcni");
    let add: Value = serde_json::from_str(&add.to_json()).unwrap();
    let cache_file = cache.path().join("results/lo-net-ctr-runtime-eth0");
    let cached = std::fs::read(&cache_file)
        .ok()
        .map(|b| serde_json::from_slice::<Value>(&b).unwrap()["result"].clone());
    let lo_after_add = state();
    let check_ok = (version >= "0.4.0").then(|| cni.check_network_list(&list, &rt).is_ok());
    cni.del_network_list(&list, &rt)
        .expect("DEL through libcni");
    Outcome {
        add: normalise(add, &netns),
        cached: cached.map(|c| normalise(c, &netns)),
        lo_after_add,
        check_ok,
        lo_after_del: state(),
        cache_left: cache_file.exists(),
    }
}

/// The netns path differs per run; Debian's Go library prints `"dns": {}` in 1.x-shaped
/// results where the latest omits it (reference notes §5).
fn normalise(v: Value, netns: &str) -> Value {
    let mut v: Value = serde_json::from_str(&v.to_string().replace(netns, "NETNS")).unwrap();
    if v.get("dns") == Some(&json!({})) && v.get("ip4").is_none() && v.get("ip6").is_none() {
        v.as_object_mut().unwrap().remove("dns");
    }
    v
}

#[test]
fn ours_and_gos_loopback_agree_through_libcni() {
    require_root();
    let go = go_plugin("loopback").expect("Debian's containernetworking-plugins must be installed");
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_loopback"));
    // Debian's Go loopback (1.1.1) stops at 1.0.0.
    for version in ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"] {
        let (a, b) = (drive(&ours, version), drive(&go, version));
        assert_eq!(a.add, b.add, "ADD result {version}");
        assert_eq!(a.add["cniVersion"], version);
        assert_eq!(a.cached, b.cached, "cached result {version}");
        assert!(a.cached.is_some(), "ADD wrote the result cache ({version})");
        assert_eq!(a.lo_after_add, b.lo_after_add, "lo after ADD {version}");
        assert!(a.lo_after_add.contains(",UP"), "{}", a.lo_after_add);
        assert_eq!(a.check_ok, b.check_ok, "CHECK {version}");
        if version >= "0.4.0" {
            assert_eq!(a.check_ok, Some(true));
        }
        assert_eq!(a.lo_after_del, b.lo_after_del, "lo after DEL {version}");
        assert!(!a.lo_after_del.contains(",UP"), "{}", a.lo_after_del);
        assert!(
            !a.cache_left && !b.cache_left,
            "DEL removed the cache ({version})"
        );
    }
}

#[test]
fn ours_runs_a_110_list_through_libcni_with_gc_and_status() {
    require_root();
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_loopback"));
    let out = drive(&ours, "1.1.0");
    assert_eq!(out.add["cniVersion"], "1.1.0");
    assert_eq!(out.check_ok, Some(true));
    let bins = bin_dir(&ours);
    let cni =
        CniConfig::with_cache_dir(vec![PathBuf::from(bins.path())], testkit::temp_dir().path());
    cni.get_status_network_list(&conflist("1.1.0"))
        .expect("STATUS");
    cni.gc_network_list(&conflist("1.1.0"), Some(&[]))
        .expect("GC");
}
