//! The runtime side driven through real executables: `examples/noop.rs` (built by
//! `cargo test`) symlinked under several plugin names into a scratch `CNI_PATH`.

use std::path::PathBuf;

use base64::Engine;
use libcni::runtime::{load_conf_list, CniConfig, NetworkConfigList, RuntimeConf, RuntimeError};
use libcni::types::GcAttachment;
use serde_json::{json, Map, Value};

/// The noop example next to this test binary (`target/<profile>/examples/noop`).
fn noop_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let mut dir = exe.parent().unwrap();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().unwrap();
    }
    let bin = dir.join("examples").join("noop");
    assert!(
        bin.is_file(),
        "{} missing: build it with `cargo test -p libcni` or `cargo build -p libcni --example noop`",
        bin.display()
    );
    bin
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    bin: PathBuf,
    cache: PathBuf,
    log: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let bin = root.join("bin");
        std::fs::create_dir(&bin).unwrap();
        Fixture {
            bin,
            cache: root.join("cache"),
            log: root.join("commands.log"),
            root,
            _tmp: tmp,
        }
    }

    /// A plugin named `name` whose behaviour is `debug` (see examples/noop.rs). Every plugin
    /// logs `<COMMAND> <type>` to the shared command log.
    fn plugin(&self, name: &str, mut debug: Value) {
        let link = self.bin.join(name);
        if !link.exists() {
            std::os::unix::fs::symlink(noop_binary(), &link).unwrap();
        }
        debug["commandLog"] = json!(self.log);
        std::fs::write(self.bin.join(format!("{name}.debug")), debug.to_string()).unwrap();
    }

    fn cni(&self) -> CniConfig {
        CniConfig::with_cache_dir(vec![self.bin.clone()], &self.cache)
    }

    fn calls(&self, name: &str) -> Vec<Value> {
        let path = self.bin.join(format!("{name}.debug.calls"));
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn commands(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn clear_log(&self) {
        let _ = std::fs::remove_file(&self.log);
        for e in std::fs::read_dir(&self.bin).unwrap() {
            let p = e.unwrap().path();
            if p.to_string_lossy().ends_with(".calls") {
                std::fs::remove_file(p).unwrap();
            }
        }
    }

    fn cache_file(&self, net: &str, cid: &str, ifname: &str) -> PathBuf {
        self.cache
            .join("results")
            .join(format!("{net}-{cid}-{ifname}"))
    }
}

fn list(v: Value) -> NetworkConfigList {
    NetworkConfigList::from_bytes(v.to_string().as_bytes()).unwrap()
}

fn rt(cid: &str) -> RuntimeConf {
    RuntimeConf {
        container_id: cid.into(),
        netns: format!("/run/netns/{cid}"),
        ifname: "eth0".into(),
        args: vec![("K1".into(), "V1".into()), ("K2".into(), "V2".into())],
        ..Default::default()
    }
}

const RESULT_A: &str = r#"{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/run/netns/c1"}],"ips":[{"interface":0,"address":"10.1.2.3/24","gateway":"10.1.2.1"}]}"#;

fn chain(version: &str) -> NetworkConfigList {
    list(json!({
        "cniVersion": version,
        "name": "testnet",
        "plugins": [
            {"type": "noop-a", "name": "first", "some": {"nested": true}},
            {"type": "noop-b"}
        ]
    }))
}

#[test]
fn add_chains_prev_result_and_writes_the_cache() {
    let f = Fixture::new();
    f.plugin("noop-a", json!({"reportResult": RESULT_A}));
    f.plugin("noop-b", json!({"reportResult": "PASSTHROUGH"}));
    let l = chain("1.0.0");
    let result = f.cni().add_network_list(&l, &rt("c1")).unwrap();
    assert_eq!(result.to_value()["ips"][0]["address"], "10.1.2.3/24");

    let a = f.calls("noop-a");
    let b = f.calls("noop-b");
    assert_eq!((a.len(), b.len()), (1, 1));
    // The first plugin: no prevResult; list name and version injected; compact, sorted.
    assert_eq!(
        a[0]["stdinRaw"],
        r#"{"cniVersion":"1.0.0","name":"testnet","some":{"nested":true},"type":"noop-a"}"#
    );
    assert_eq!(a[0]["command"], "ADD");
    assert_eq!(a[0]["containerID"], "c1");
    assert_eq!(a[0]["netns"], "/run/netns/c1");
    assert_eq!(a[0]["ifname"], "eth0");
    assert_eq!(a[0]["args"], "K1=V1;K2=V2");
    assert_eq!(a[0]["path"], f.bin.display().to_string());
    // The second gets the first's result.
    assert_eq!(b[0]["stdin"]["prevResult"]["ips"][0]["gateway"], "10.1.2.1");
    assert_eq!(b[0]["stdin"]["name"], "testnet");

    let cache = f.cache_file("testnet", "c1", "eth0");
    let cached: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    assert_eq!(cached["kind"], "cniCacheV1");
    assert_eq!(cached["containerId"], "c1");
    assert_eq!(cached["ifName"], "eth0");
    assert_eq!(cached["networkName"], "testnet");
    assert_eq!(cached["netns"], "/run/netns/c1");
    assert_eq!(cached["cniArgs"], json!([["K1", "V1"], ["K2", "V2"]]));
    assert!(cached.get("capabilityArgs").is_none());
    let config = base64::engine::general_purpose::STANDARD
        .decode(cached["config"].as_str().unwrap())
        .unwrap();
    assert_eq!(config, l.bytes);
    assert_eq!(
        cached["result"]["interfaces"][0]["sandbox"],
        "/run/netns/c1"
    );
    let text = std::fs::read_to_string(&cache).unwrap();
    assert!(text.starts_with(r#"{"kind":"cniCacheV1","containerId":"c1","config":""#));

    // The cached result reads back in the list's version.
    let back = f
        .cni()
        .get_network_list_cached_result(&l, &rt("c1"))
        .unwrap()
        .unwrap();
    assert_eq!(back.to_value(), result.to_value());
    let (bytes, conf) = f
        .cni()
        .get_network_list_cached_config(&l, &rt("c1"))
        .unwrap()
        .unwrap();
    assert_eq!(bytes, l.bytes);
    assert_eq!(conf.args, rt("c1").args);
}

#[test]
fn result_without_version_takes_the_config_version() {
    let f = Fixture::new();
    f.plugin(
        "noop-a",
        json!({"reportResult": r#"{"ips":[{"version":"4","address":"10.0.0.2/24"}]}"#}),
    );
    let l = list(json!({"cniVersion": "0.4.0", "name": "n", "plugins": [{"type": "noop-a"}]}));
    let r = f.cni().add_network_list(&l, &rt("c1")).unwrap();
    assert_eq!(r.version(), "0.4.0");
}

#[test]
fn failing_second_plugin_caches_nothing() {
    let f = Fixture::new();
    f.plugin("noop-a", json!({"reportResult": RESULT_A}));
    f.plugin(
        "noop-b",
        json!({"reportError": "boom", "reportErrorCode": 7, "reportErrorDetails": "why"}),
    );
    let err = f
        .cni()
        .add_network_list(&chain("1.0.0"), &rt("c1"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin type=\"noop-b\" failed (add): boom; why"
    );
    assert_eq!(err.code(), 7);
    let plugin_err = err.cni_error().unwrap();
    assert_eq!(
        (plugin_err.msg.as_str(), plugin_err.details.as_str()),
        ("boom", "why")
    );
    assert!(!f.cache_file("testnet", "c1", "eth0").exists());
    // No rollback DEL either.
    assert_eq!(f.commands(), vec!["ADD noop-a", "ADD noop-b"]);

    // The first plugin failing names the plugin-level name too.
    f.plugin(
        "noop-a",
        json!({"reportError": "first fails", "reportErrorCode": 11}),
    );
    let err = f
        .cni()
        .add_network_list(&chain("1.0.0"), &rt("c1"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin type=\"noop-a\" name=\"first\" failed (add): first fails"
    );
}

#[test]
fn del_runs_in_reverse_with_the_cached_result() {
    let f = Fixture::new();
    f.plugin("noop-a", json!({"reportResult": RESULT_A}));
    f.plugin("noop-b", json!({}));
    let l = chain("1.1.0");
    f.cni().add_network_list(&l, &rt("c1")).unwrap();
    f.clear_log();
    f.cni().del_network_list(&l, &rt("c1")).unwrap();
    assert_eq!(f.commands(), vec!["DEL noop-b", "DEL noop-a"]);
    for name in ["noop-a", "noop-b"] {
        let calls = f.calls(name);
        assert_eq!(
            calls[0]["stdin"]["prevResult"]["ips"][0]["address"],
            "10.1.2.3/24"
        );
        // Converted to the list version.
        assert_eq!(calls[0]["stdin"]["prevResult"]["cniVersion"], "1.1.0");
        assert_eq!(calls[0]["containerID"], "c1");
    }
    assert!(!f.cache_file("testnet", "c1", "eth0").exists());

    // A second DEL works, with no prevResult.
    f.clear_log();
    f.cni().del_network_list(&l, &rt("c1")).unwrap();
    assert!(f.calls("noop-a")[0]["stdin"].get("prevResult").is_none());

    // A broken cache is tolerated and removed.
    std::fs::create_dir_all(f.cache.join("results")).unwrap();
    std::fs::write(f.cache_file("testnet", "c1", "eth0"), b"not json").unwrap();
    f.clear_log();
    f.cni().del_network_list(&l, &rt("c1")).unwrap();
    assert!(f.calls("noop-b")[0]["stdin"].get("prevResult").is_none());
    assert!(!f.cache_file("testnet", "c1", "eth0").exists());

    // DEL failures are wrapped with (delete) and stop the chain.
    f.plugin(
        "noop-b",
        json!({"reportError": "nope", "reportErrorCode": 5}),
    );
    f.clear_log();
    let err = f.cni().del_network_list(&l, &rt("c1")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin type=\"noop-b\" failed (delete): nope"
    );
    assert_eq!(f.commands(), vec!["DEL noop-b"]);
}

#[test]
fn del_before_040_sends_no_prev_result() {
    let f = Fixture::new();
    f.plugin("noop-a", json!({"reportResult": r#"{"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.0.0.2/24"}]}"#}));
    f.plugin("noop-b", json!({}));
    let l = chain("0.3.1");
    f.cni().add_network_list(&l, &rt("c1")).unwrap();
    assert!(f.cache_file("testnet", "c1", "eth0").exists());
    f.clear_log();
    f.cni().del_network_list(&l, &rt("c1")).unwrap();
    assert!(f.calls("noop-a")[0]["stdin"].get("prevResult").is_none());
    assert_eq!(f.commands(), vec!["DEL noop-b", "DEL noop-a"]);
}

#[test]
fn check_rules() {
    let f = Fixture::new();
    f.plugin("noop-a", json!({"reportResult": RESULT_A}));
    f.plugin("noop-b", json!({}));
    let cni = f.cni();

    // Below 0.4.0: refused before anything runs.
    let err = cni
        .check_network_list(&chain("0.3.1"), &rt("c1"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "configuration version \"0.3.1\" does not support the CHECK command"
    );
    assert!(f.commands().is_empty());

    // disableCheck: nothing runs.
    let mut disabled = chain("1.0.0");
    disabled.disable_check = true;
    cni.check_network_list(&disabled, &rt("c1")).unwrap();
    assert!(f.commands().is_empty());

    // With a cached result, every plugin gets it, in order.
    let l = chain("1.0.0");
    cni.add_network_list(&l, &rt("c1")).unwrap();
    f.clear_log();
    cni.check_network_list(&l, &rt("c1")).unwrap();
    assert_eq!(f.commands(), vec!["CHECK noop-a", "CHECK noop-b"]);
    assert_eq!(
        f.calls("noop-a")[0]["stdin"]["prevResult"]["ips"][0]["address"],
        "10.1.2.3/24"
    );

    // Errors come back unwrapped, code kept.
    f.plugin(
        "noop-b",
        json!({"reportError": "gone", "reportErrorCode": 3, "failOn": "CHECK"}),
    );
    let err = cni.check_network_list(&l, &rt("c1")).unwrap_err();
    assert_eq!(err.to_string(), "gone");
    assert_eq!(err.code(), 3);

    // A broken cache is fatal for CHECK.
    std::fs::write(f.cache_file("testnet", "c1", "eth0"), b"{broken").unwrap();
    let err = cni.check_network_list(&l, &rt("c1")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("failed to get network \"testnet\" cached result: "),
        "{err}"
    );
}

#[test]
fn capability_args_only_for_declared_capabilities() {
    let f = Fixture::new();
    f.plugin("noop-a", json!({"reportResult": RESULT_A}));
    f.plugin("noop-b", json!({}));
    f.plugin("noop-c", json!({}));
    let l = list(json!({
        "cniVersion": "1.0.0",
        "name": "caps",
        "plugins": [
            {"type": "noop-a", "capabilities": {"portMappings": true, "bandwidth": false}},
            {"type": "noop-b", "capabilities": {"mac": true}, "runtimeConfig": {"kept": 1}},
            {"type": "noop-c"}
        ]
    }));
    let mut conf = rt("c1");
    conf.capability_args = serde_json::from_value::<Map<String, Value>>(json!({
        "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
        "bandwidth": {"ingressRate": 1000}
    }))
    .unwrap();
    f.cni().add_network_list(&l, &conf).unwrap();
    let a = &f.calls("noop-a")[0]["stdin"];
    assert_eq!(
        a["runtimeConfig"],
        json!({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]})
    );
    // The plugin still sees its own capabilities map (Go does not remove it).
    assert_eq!(a["capabilities"]["portMappings"], true);
    // Nothing matched: no runtimeConfig injected.
    assert_eq!(
        f.calls("noop-b")[0]["stdin"]["runtimeConfig"],
        json!({"kept": 1})
    );
    assert!(f.calls("noop-c")[0]["stdin"].get("runtimeConfig").is_none());
    // The cache keeps every capability arg the runtime passed.
    let cached: Value =
        serde_json::from_slice(&std::fs::read(f.cache_file("caps", "c1", "eth0")).unwrap())
            .unwrap();
    assert_eq!(cached["capabilityArgs"]["bandwidth"]["ingressRate"], 1000);
}

#[test]
fn gc_deletes_stale_attachments_and_sends_both_keys() {
    let f = Fixture::new();
    f.plugin("noop-a", json!({"reportResult": RESULT_A}));
    f.plugin("noop-b", json!({}));
    let l = chain("1.1.0");
    let other =
        list(json!({"cniVersion": "1.1.0", "name": "other", "plugins": [{"type": "noop-a"}]}));
    let cni = f.cni();
    let mut c2 = rt("c2");
    c2.capability_args
        .insert("mac".into(), json!("aa:bb:cc:dd:ee:ff"));
    cni.add_network_list(&l, &rt("c1")).unwrap();
    cni.add_network_list(&l, &c2).unwrap();
    cni.add_network_list(&other, &rt("c3")).unwrap();
    assert_eq!(cni.get_cached_attachments("").unwrap().len(), 3);
    assert_eq!(
        cni.get_cached_attachments("c2").unwrap()[0].network,
        "testnet"
    );
    f.clear_log();

    let valid = [GcAttachment {
        container_id: "c1".into(),
        ifname: "eth0".into(),
    }];
    cni.gc_network_list(&l, Some(&valid)).unwrap();
    assert_eq!(
        f.commands(),
        vec!["DEL noop-b", "DEL noop-a", "GC noop-a", "GC noop-b"]
    );
    let a = f.calls("noop-a");
    // The stale DEL uses the cached netns and args.
    assert_eq!(a[0]["containerID"], "c2");
    assert_eq!(a[0]["netns"], "/run/netns/c2");
    assert_eq!(a[0]["args"], "K1=V1;K2=V2");
    assert_eq!(
        a[0]["stdin"]["prevResult"]["ips"][0]["address"],
        "10.1.2.3/24"
    );
    // GC: empty per-attachment variables, both keys.
    let gc = &a[1];
    assert_eq!(gc["command"], "GC");
    for k in ["containerID", "netns", "ifname", "args"] {
        assert_eq!(gc[k], "", "{k}");
    }
    assert_eq!(gc["path"], f.bin.display().to_string());
    let expected = json!([{"containerID": "c1", "ifname": "eth0"}]);
    assert_eq!(gc["stdin"]["cni.dev/valid-attachments"], expected);
    assert_eq!(gc["stdin"]["cni.dev/attachments"], expected);
    assert_eq!(gc["stdin"]["name"], "testnet");
    assert_eq!(gc["stdin"]["cniVersion"], "1.1.0");
    assert!(gc["stdin"].get("prevResult").is_none());
    assert!(f.cache_file("testnet", "c1", "eth0").exists());
    assert!(!f.cache_file("testnet", "c2", "eth0").exists());
    assert!(f.cache_file("other", "c3", "eth0").exists());

    // No list (cnitool gc): every cached attachment of the network goes; no keys sent.
    f.clear_log();
    cni.gc_network_list(&l, None).unwrap();
    assert_eq!(
        f.commands(),
        vec!["DEL noop-b", "DEL noop-a", "GC noop-a", "GC noop-b"]
    );
    let gc = &f.calls("noop-b")[1];
    assert!(gc["stdin"].get("cni.dev/valid-attachments").is_none());
    assert!(gc["stdin"].get("cni.dev/attachments").is_none());
    assert!(!f.cache_file("testnet", "c1", "eth0").exists());
    assert!(f.cache_file("other", "c3", "eth0").exists());

    // Errors are collected: a failing GC does not stop the next plugin.
    f.plugin(
        "noop-a",
        json!({"reportError": "gc broke", "reportErrorCode": 999, "failOn": "GC"}),
    );
    f.clear_log();
    let err = cni.gc_network_list(&l, Some(&[])).unwrap_err();
    assert_eq!(err.to_string(), "failed to GC plugin noop-a: gc broke");
    assert_eq!(f.commands(), vec!["GC noop-a", "GC noop-b"]);
    assert_eq!(
        f.calls("noop-b")[0]["stdin"]["cni.dev/valid-attachments"],
        json!([])
    );

    // disableGC: nothing at all.
    let mut disabled = chain("1.1.0");
    disabled.disable_gc = true;
    f.clear_log();
    cni.gc_network_list(&disabled, None).unwrap();
    assert!(f.commands().is_empty());

    // Below 1.1.0: stale DELs only, no GC calls.
    let old = chain("1.0.0");
    cni.add_network_list(&old, &rt("c9")).unwrap();
    f.plugin("noop-a", json!({}));
    f.clear_log();
    cni.gc_network_list(&old, None).unwrap();
    assert_eq!(f.commands(), vec!["DEL noop-b", "DEL noop-a"]);
}

#[test]
fn gc_collects_delete_and_gc_errors() {
    let f = Fixture::new();
    f.plugin("noop-a", json!({"reportResult": RESULT_A}));
    f.plugin(
        "noop-b",
        json!({"reportError": "cannot", "reportErrorCode": 11, "failOn": "DEL"}),
    );
    let l = chain("1.1.0");
    f.cni().add_network_list(&l, &rt("c1")).unwrap();
    f.cni().add_network_list(&l, &rt("c2")).unwrap();
    let err = f.cni().gc_network_list(&l, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to delete stale attachment c1 eth0: plugin type=\"noop-b\" failed (delete): cannot\n\
         failed to delete stale attachment c2 eth0: plugin type=\"noop-b\" failed (delete): cannot"
    );
}

#[test]
fn status() {
    let f = Fixture::new();
    f.plugin("noop-a", json!({}));
    f.plugin(
        "noop-b",
        json!({"reportError": "not ready", "reportErrorCode": 50, "failOn": "STATUS"}),
    );
    let cni = f.cni();
    let err = cni.get_status_network_list(&chain("1.1.0")).unwrap_err();
    assert_eq!(err.to_string(), "not ready");
    assert_eq!(err.code(), 50);
    let a = f.calls("noop-a");
    assert_eq!(a[0]["command"], "STATUS");
    assert_eq!(
        a[0]["stdinRaw"],
        r#"{"cniVersion":"1.1.0","name":"testnet","some":{"nested":true},"type":"noop-a"}"#
    );
    for k in ["containerID", "netns", "ifname", "args"] {
        assert_eq!(a[0][k], "", "{k}");
    }
    // Below 1.1.0: nothing runs.
    f.clear_log();
    cni.get_status_network_list(&chain("1.0.0")).unwrap();
    assert!(f.commands().is_empty());
    f.plugin("noop-b", json!({}));
    cni.get_status_network_list(&chain("1.1.0")).unwrap();
}

#[test]
fn missing_plugins() {
    let f = Fixture::new();
    let l = list(json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "absent"}]}));
    let cni = f.cni();
    let not_found = format!(
        "failed to find plugin \"absent\" in path [{}]",
        f.bin.display()
    );
    assert_eq!(
        cni.add_network_list(&l, &rt("c1")).unwrap_err().to_string(),
        format!("plugin type=\"absent\" failed (add): {not_found}")
    );
    assert_eq!(
        cni.del_network_list(&l, &rt("c1")).unwrap_err().to_string(),
        format!("plugin type=\"absent\" failed (delete): {not_found}")
    );
    assert_eq!(
        cni.check_network_list(&l, &rt("c1"))
            .unwrap_err()
            .to_string(),
        not_found
    );
    let l11 = list(json!({"cniVersion": "1.1.0", "name": "n", "plugins": [{"type": "absent"}]}));
    assert_eq!(
        cni.get_status_network_list(&l11).unwrap_err().to_string(),
        not_found
    );
    assert_eq!(
        CniConfig::new(vec![])
            .add_network_list(&l, &rt("c1"))
            .unwrap_err()
            .to_string(),
        "plugin type=\"absent\" failed (add): no paths provided"
    );
    let bad = list(json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "../x"}]}));
    assert_eq!(
        cni.add_network_list(&bad, &rt("c1"))
            .unwrap_err()
            .to_string(),
        "plugin type=\"../x\" failed (add): invalid plugin name: ../x"
    );
}

#[test]
fn plugin_output_decoding() {
    let f = Fixture::new();
    let l = list(json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "noop-a"}]}));
    let add = |debug: Value| {
        f.plugin("noop-a", debug);
        f.cni().add_network_list(&l, &rt("c1")).unwrap_err()
    };
    let e = add(json!({"exitCode": 2}));
    assert_eq!(
        e.to_string(),
        "plugin type=\"noop-a\" failed (add): netplugin failed with no error message: exit status 2"
    );
    assert_eq!(e.code(), 0);
    let e = add(json!({"exitCode": 1, "reportStderr": "it hurts"}));
    assert_eq!(
        e.to_string(),
        "plugin type=\"noop-a\" failed (add): netplugin failed: \"it hurts\": exit status 1"
    );
    let e =
        add(json!({"exitCode": 1, "reportStdout": "{\"code\":6,\"msg\":\"m\",\"details\":\"d\"}"}));
    assert_eq!(e.cni_error().unwrap().code, 6);
    let e = add(json!({"exitCode": 1, "reportStdout": "garbage"}));
    assert!(e
        .to_string()
        .starts_with("plugin type=\"noop-a\" failed (add): netplugin failed but error parsing its diagnostic message \"garbage\": "));
    // A success whose stdout is not a result.
    let e = add(json!({"reportResult": "[1]"}));
    assert!(
        e.to_string().contains("failed to unmarshal raw result"),
        "{e}"
    );
    // A result with a version nobody knows.
    let e = add(json!({"reportResult": "{\"cniVersion\":\"7.0.0\"}"}));
    assert_eq!(
        e.to_string(),
        "plugin type=\"noop-a\" failed (add): unsupported CNI result version \"7.0.0\""
    );
    // stderr of a successful plugin does not fail anything.
    f.plugin("noop-a", json!({"reportStderr": "just a log line\n"}));
    f.cni().add_network_list(&l, &rt("c1")).unwrap();
}

#[test]
fn conf_dir_loading_and_version_selection() {
    let f = Fixture::new();
    f.plugin("noop-a", json!({}));
    f.plugin("noop-b", json!({}));
    let confdir = f.root.join("net.d");
    std::fs::create_dir(&confdir).unwrap();
    std::fs::write(
        confdir.join("10-net.conflist"),
        json!({
            "cniVersion": "0.4.0",
            "cniVersions": ["1.0.0", "0.3.1", "99.0.0"],
            "name": "mynet",
            "plugins": [{"type": "noop-a"}]
        })
        .to_string(),
    )
    .unwrap();
    // Plugins of <confdir>/<name>/*.conf are appended.
    std::fs::create_dir(confdir.join("mynet")).unwrap();
    std::fs::write(
        confdir.join("mynet").join("50-b.conf"),
        r#"{"type":"noop-b","extra":"x"}"#,
    )
    .unwrap();
    std::fs::write(
        confdir.join("05-single.conf"),
        r#"{"cniVersion":"0.3.1","name":"single","type":"noop-b"}"#,
    )
    .unwrap();

    let l = load_conf_list(&confdir, "mynet").unwrap();
    assert_eq!(l.cni_version, "1.0.0");
    f.cni().add_network_list(&l, &rt("c1")).unwrap();
    assert_eq!(f.commands(), vec!["ADD noop-a", "ADD noop-b"]);
    let b = &f.calls("noop-b")[0]["stdin"];
    assert_eq!(b["cniVersion"], "1.0.0");
    assert_eq!(b["name"], "mynet");
    assert_eq!(b["extra"], "x");

    let single = load_conf_list(&confdir, "single").unwrap();
    assert_eq!(single.plugins.len(), 1);
    f.clear_log();
    f.cni().add_network_list(&single, &rt("c1")).unwrap();
    assert_eq!(f.calls("noop-b")[0]["stdin"]["cniVersion"], "0.3.1");

    assert_eq!(
        load_conf_list(&confdir, "none").unwrap_err().to_string(),
        format!(
            "no net configuration with name \"none\" in {}",
            confdir.display()
        )
    );
    let empty = f.root.join("empty");
    assert!(matches!(
        load_conf_list(&empty, "x"),
        Err(RuntimeError::NoConfigsFound { .. })
    ));
}

#[test]
fn validate_and_version_info() {
    let f = Fixture::new();
    f.plugin(
        "noop-a",
        json!({"reportVersionSupport": ["0.4.0", "1.0.0"]}),
    );
    f.plugin("noop-b", json!({"versionUnknown": true}));
    let cni = f.cni();
    assert_eq!(
        cni.get_version_info("noop-a").unwrap().supported_versions,
        vec!["0.4.0", "1.0.0"]
    );
    assert_eq!(
        cni.get_version_info("noop-b").unwrap().supported_versions,
        vec!["0.1.0"]
    );
    let v = f.calls("noop-a");
    assert_eq!(v[0]["command"], "VERSION");
    assert_eq!(v[0]["stdinRaw"], r#"{"cniVersion":"1.1.0"}"#);
    assert_eq!(
        (
            v[0]["netns"].as_str(),
            v[0]["ifname"].as_str(),
            v[0]["path"].as_str()
        ),
        (Some("dummy"), Some("dummy"), Some("dummy"))
    );

    let ok = list(json!({"cniVersion": "1.0.0", "name": "n", "plugins": [
        {"type": "noop-a", "capabilities": {"portMappings": true, "mac": false}}
    ]}));
    assert_eq!(
        cni.validate_network_list(&ok).unwrap(),
        vec!["portMappings"]
    );
    let bad = list(
        json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "noop-a"}, {"type": "noop-b"}, {"type": "zz"}]}),
    );
    assert_eq!(
        cni.validate_network_list(&bad).unwrap_err().to_string(),
        format!(
            "[plugin noop-b does not support config version \"1.0.0\" failed to find plugin \"zz\" in path [{}]]",
            f.bin.display()
        )
    );
}

#[test]
fn single_plugin_wrappers() {
    let f = Fixture::new();
    f.plugin("noop-a", json!({"reportResult": RESULT_A}));
    let conf = libcni::runtime::PluginConfig::from_bytes(
        br#"{"cniVersion":"1.0.0","name":"solo","type":"noop-a"}"#,
    )
    .unwrap();
    let cni = f.cni();
    cni.add_network(&conf, &rt("c1")).unwrap();
    let cached: Value =
        serde_json::from_slice(&std::fs::read(f.cache_file("solo", "c1", "eth0")).unwrap())
            .unwrap();
    let config = base64::engine::general_purpose::STANDARD
        .decode(cached["config"].as_str().unwrap())
        .unwrap();
    assert_eq!(config, conf.bytes);
    cni.check_network(&conf, &rt("c1")).unwrap();
    cni.del_network(&conf, &rt("c1")).unwrap();
    assert!(!f.cache_file("solo", "c1", "eth0").exists());
    assert_eq!(
        f.commands(),
        vec!["ADD noop-a", "CHECK noop-a", "DEL noop-a"]
    );
}

#[test]
fn cache_is_separate_per_attachment() {
    let f = Fixture::new();
    f.plugin("noop-a", json!({"reportResult": RESULT_A}));
    let l = list(json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "noop-a"}]}));
    let mut eth1 = rt("c1");
    eth1.ifname = "eth1".into();
    f.cni().add_network_list(&l, &rt("c1")).unwrap();
    f.cni().add_network_list(&l, &eth1).unwrap();
    assert!(f.cache_file("n", "c1", "eth0").exists());
    assert!(f.cache_file("n", "c1", "eth1").exists());
    f.cni().del_network_list(&l, &eth1).unwrap();
    assert!(f.cache_file("n", "c1", "eth0").exists());
    assert!(!f.cache_file("n", "c1", "eth1").exists());
}
