//! tuning chained behind Debian's Go bridge + host-local, driven by our libcni runtime (the
//! code cnitool and a container runtime use), once with our tuning and once with Go's, for
//! every version Go supports: same ADD result, same cached result, same container link and
//! sysctl, same backup, CHECK passes, DEL removes the backup and the link.
//!
//! The bridge works on the "host" side, so each run gets a throwaway host netns too: the
//! runtime runs on a thread inside it, and the plugins it starts inherit that netns.

mod common;

use std::path::{Path, PathBuf};

use common::{link_state, LinkState, GO_VERSIONS};
use libcni::runtime::api::{CniConfig, RuntimeConf};
use libcni::runtime::conf::NetworkConfigList;
use serde_json::{json, Value};
use testkit::{go_plugin, require_root, TempNetns};

const OURS: &str = env!("CARGO_BIN_EXE_tuning");

fn go(name: &str) -> PathBuf {
    go_plugin(name).unwrap_or_else(|| {
        panic!("Debian's containernetworking-plugins must be installed (/usr/lib/cni/{name})")
    })
}

/// A CNI bin dir with Go's bridge and host-local and the given tuning.
fn bin_dir(tuning: &Path) -> tempfile::TempDir {
    let dir = testkit::temp_dir();
    for (name, target) in [
        ("bridge", go("bridge")),
        ("host-local", go("host-local")),
        ("tuning", tuning.to_path_buf()),
    ] {
        std::os::unix::fs::symlink(target, dir.path().join(name)).unwrap();
    }
    dir
}

#[derive(Clone, Copy, Debug)]
enum Variant {
    /// Everything from the config.
    Config,
    /// The MAC from the runtime (capability `mac`), promisc from `args.cni`.
    Capability,
}

fn conflist(version: &str, variant: Variant, state: &Path) -> NetworkConfigList {
    let tuning = match variant {
        Variant::Config => json!({
            "type": "tuning",
            "mac": "c2:11:22:33:44:55",
            "mtu": 1400,
            "promisc": true,
            "allmulti": true,
            // Not IFNAME: Debian's 1.1.1 CHECK does not replace it (fixed upstream in v1.3.0).
            "sysctl": {"net.ipv4.conf.eth0.log_martians": "1"},
            "dataDir": state.join("tuning"),
        }),
        Variant::Capability => json!({
            "type": "tuning",
            "capabilities": {"mac": true},
            "mtu": 1450,
            "args": {"cni": {"promisc": true}},
            "dataDir": state.join("tuning"),
        }),
    };
    let list = json!({
        "cniVersion": version,
        "name": "tuning-chain",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cnitb0",
                "isGateway": true,
                "ipam": {
                    "type": "host-local",
                    "subnet": "10.99.0.0/24",
                    "dataDir": state.join("ipam"),
                },
            },
            tuning,
        ],
    });
    NetworkConfigList::from_bytes(list.to_string().as_bytes()).unwrap()
}

#[derive(Debug, PartialEq)]
struct Outcome {
    add: Value,
    cached: Value,
    eth0: LinkState,
    martians: String,
    backup: Value,
    check_ok: Option<bool>,
    backup_left: bool,
    eth0_left: bool,
}

fn drive(tuning: &Path, version: &str, variant: Variant) -> Outcome {
    let bins = bin_dir(tuning);
    let state = testkit::temp_dir();
    let host = TempNetns::new();
    let container = TempNetns::new();
    let netns = container.path().to_str().unwrap().to_string();
    let cni =
        CniConfig::with_cache_dir(vec![bins.path().to_path_buf()], state.path().join("cache"));
    let mut rt = RuntimeConf {
        container_id: "ctr-tuning".into(),
        netns: netns.clone(),
        ifname: "eth0".into(),
        ..Default::default()
    };
    if let Variant::Capability = variant {
        rt.capability_args
            .insert("mac".into(), json!("c2:11:22:33:44:99"));
    }
    let list = conflist(version, variant, state.path());
    let in_host = |f: &(dyn Fn() -> Result<(), String> + Sync)| {
        netkit::NetNs::open(host.path()).unwrap().run(f).unwrap()
    };

    let add = std::sync::Mutex::new(None);
    in_host(&|| {
        let r = cni
            .add_network_list(&list, &rt)
            .map_err(|e| e.to_string())?;
        *add.lock().unwrap() = Some(r.to_json());
        Ok(())
    })
    .unwrap_or_else(|e| panic!("ADD {version} {variant:?}: {e}"));
    let add: Value = serde_json::from_str(&add.into_inner().unwrap().unwrap()).unwrap();
    let cache_file = state
        .path()
        .join("cache/results/tuning-chain-ctr-tuning-eth0");
    let cached: Value = serde_json::from_slice(&std::fs::read(&cache_file).unwrap()).unwrap();
    let eth0 = link_state(&container, "eth0");
    let out = container.exec(&["cat", "/proc/sys/net/ipv4/conf/eth0/log_martians"]);
    let martians = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let backup_path = state.path().join("tuning/ctr-tuning_eth0.json");
    let mut backup: Value = serde_json::from_slice(&std::fs::read(&backup_path).unwrap()).unwrap();
    // The original MAC is the bridge's random one; that there is one is what matters.
    assert!(
        backup["mac"].as_str().is_some_and(|m| m.len() == 17),
        "{backup}"
    );
    backup["mac"] = "ORIGINAL".into();

    let check_ok = (version >= "0.4.0").then(|| {
        in_host(&|| {
            cni.check_network_list(&list, &rt)
                .map_err(|e| e.to_string())
        })
        .is_ok()
    });
    in_host(&|| cni.del_network_list(&list, &rt).map_err(|e| e.to_string()))
        .unwrap_or_else(|e| panic!("DEL {version} {variant:?}: {e}"));

    Outcome {
        add: normalise(add, &netns),
        cached: normalise(cached["result"].clone(), &netns),
        eth0,
        martians,
        backup,
        check_ok,
        backup_left: backup_path.exists(),
        eth0_left: container
            .ip(&["link", "show", "dev", "eth0"])
            .status
            .success(),
    }
}

/// The bridge's and host veth's MACs and the veth's name are random; the netns path differs
/// per run; Debian's library prints `"dns": {}` in 1.x results where the latest omits it.
fn normalise(v: Value, netns: &str) -> Value {
    let mut v: Value = serde_json::from_str(&v.to_string().replace(netns, "NETNS")).unwrap();
    if let Some(ifaces) = v.get_mut("interfaces").and_then(Value::as_array_mut) {
        for iface in ifaces.iter_mut().filter(|i| i["name"] != "eth0") {
            iface["mac"] = "RANDOM".into();
            if iface["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("veth"))
            {
                iface["name"] = "VETH".into();
            }
        }
    }
    if v["cniVersion"].as_str().is_some_and(|s| s.starts_with('1'))
        && v.get("dns") == Some(&json!({}))
    {
        v.as_object_mut().unwrap().remove("dns");
    }
    v
}

#[test]
fn ours_and_gos_tuning_agree_behind_the_go_bridge() {
    require_root();
    let go_tuning = go("tuning");
    for version in GO_VERSIONS {
        for variant in [Variant::Config, Variant::Capability] {
            let ours = drive(Path::new(OURS), version, variant);
            let theirs = drive(&go_tuning, version, variant);
            assert_eq!(ours, theirs, "{version} {variant:?}");

            let (mac, mtu) = match variant {
                Variant::Config => ("c2:11:22:33:44:55", 1400),
                Variant::Capability => ("c2:11:22:33:44:99", 1450),
            };
            let eth0 = ours.add["interfaces"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["name"] == "eth0")
                .cloned()
                .unwrap();
            assert_eq!(
                eth0["mac"], mac,
                "the result carries tuning's MAC ({version})"
            );
            assert_eq!(ours.eth0.mac, mac);
            assert_eq!(ours.eth0.mtu, mtu);
            assert!(ours.eth0.promisc);
            assert_eq!(ours.cached, ours.add);
            if let Variant::Config = variant {
                assert!(ours.eth0.allmulti);
                assert_eq!(ours.martians, "1");
            }
            if *version >= "0.4.0" {
                assert_eq!(ours.check_ok, Some(true), "CHECK {version} {variant:?}");
            }
            assert!(!ours.backup_left, "DEL removed the backup");
            assert!(!ours.eth0_left, "the bridge's DEL removed the veth");
        }
    }
}
