//! `install istio-cni`: Istio's install-cni agent. Upstream's before/after conflist fixtures
//! (byte for byte), the kubeconfig, and the agent run as a process in a fake host tree:
//! waiting for a primary config, a `.conf` becoming a `.conflist`, re-inserting after our
//! Calico `install` rewrites `10-calico.conflist` under it, `/readyz`, SIGTERM cleanup.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::Fixture;
use install::istio::{cniconf, gojson, kubeconfig, settings::Settings};
use serde_json::{json, Value};

fn data(name: &str) -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/istio")
            .join(name),
    )
    .unwrap()
}

fn settings(env: &[(&'static str, &'static str)]) -> Settings {
    Settings::load(&[], &install::config::FixedEnv(env)).unwrap()
}

/// HEAD's plugin keys the stored goldens predate (reference notes §1.2), and HEAD's `null`
/// for an empty exclusion list.
fn upgrade(golden: &Value) -> Value {
    let mut v = golden.clone();
    for p in v["plugins"].as_array_mut().unwrap() {
        if p["type"] == "istio-cni" {
            let o = p.as_object_mut().unwrap();
            o.entry("native_nftables").or_insert(json!(false));
            o.entry("enable_ambient_detection_retry")
                .or_insert(json!(false));
            if o["exclude_namespaces"] == json!([""]) {
                o.insert("exclude_namespaces".into(), Value::Null);
            }
        }
    }
    v
}

fn fixture_pair(input: &str, golden: &str, s: &Settings) {
    let golden_bytes = data(golden);
    let golden_text = String::from_utf8(golden_bytes).unwrap();
    let parsed: Value = serde_json::from_str(&golden_text).unwrap();
    // Our writer reproduces upstream's bytes.
    assert_eq!(
        format!("{}\n", gojson::marshal_indent(&parsed, "  ")),
        golden_text,
        "{golden}: Go's MarshalIndent"
    );
    let ours = cniconf::insert(&data(input), &cniconf::plugin_entry(s)).unwrap();
    let want = format!("{}\n", gojson::marshal_indent(&upgrade(&parsed), "  "));
    assert_eq!(ours, want, "{input} → {golden}");
}

#[test]
fn upstream_fixture_pairs() {
    // cni/test: Calico's conflist with the agent's test settings.
    fixture_pair(
        "calico.conflist",
        "10-calico.conflist-istioconfig",
        &settings(&[
            ("CNI_AGENT_RUN_DIR", "/tmp"),
            ("EXCLUDE_NAMESPACES", "istio-system"),
            ("PLUGIN_LOG_LEVEL", "debug"),
        ]),
    );
    // cni/pkg/install: the unit tests' settings.
    let s = settings(&[
        ("CNI_AGENT_RUN_DIR", "/path/to/kubeconfig"),
        ("PLUGIN_LOG_LEVEL", "debug"),
        ("POD_NAMESPACE", "my-namespace"),
    ]);
    fixture_pair("bridge.conf", "bridge.conf.golden", &s);
    fixture_pair(
        "list-with-istio.conflist",
        "list-with-istio.conflist.golden",
        &s,
    );
}

#[test]
fn kubeconfig_golden() {
    let text = kubeconfig::render(
        "https",
        "10.96.0.1",
        "443",
        None,
        "service_account_token_string",
    );
    assert_eq!(text.as_bytes(), data("kubeconfig-skip-tls"));
    let tls = kubeconfig::render("", "fd00::1", "6443", Some(b"PEM"), "t");
    assert!(
        tls.contains("    certificate-authority-data: UEVN\n    server: https://[fd00::1]:6443\n"),
        "{tls}"
    );
}

#[test]
fn standalone_config_in_struct_order() {
    let s = settings(&[
        ("CNI_AGENT_RUN_DIR", "/tmp"),
        ("EXCLUDE_NAMESPACES", "istio-system, kube-system,"),
        ("POD_NAMESPACE", "istio-system"),
    ]);
    let text = gojson::marshal_struct_indent(&cniconf::plugin_config(&s), "  ");
    assert_eq!(
        text,
        "{\n  \"cniVersion\": \"0.3.1\",\n  \"name\": \"istio-cni\",\n  \"type\": \"istio-cni\",\n  \"ipam\": {},\n  \"dns\": {},\n  \"plugin_log_level\": \"info\",\n  \"cni_agent_run_dir\": \"/tmp\",\n  \"ambient_enabled\": false,\n  \"enablement_selectors\": [],\n  \"exclude_namespaces\": [\n    \"istio-system\",\n    \"kube-system\"\n  ],\n  \"pod_namespace\": \"istio-system\",\n  \"native_nftables\": false,\n  \"enable_ambient_detection_retry\": false\n}"
    );
}

// ---- the agent as a process ----

struct Agent {
    child: Child,
    health: String,
}

impl Agent {
    fn start(f: &Fixture, extra: &[(&str, &str)]) -> Agent {
        let port = free_port();
        let health = format!("127.0.0.1:{port}");
        let mut cmd = f.command();
        cmd.arg("istio-cni")
            .env("CNI_AGENT_RUN_DIR", f.path("run"))
            .env("CNI_INSTALL_HEALTH_ADDR", &health)
            .env("EXCLUDE_NAMESPACES", "kube-system")
            .env("POD_NAMESPACE", "istio-system")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        Agent { child, health }
    }

    /// `GET <path>` on the health port: the status code, 0 when not answering.
    fn probe(&self, path: &str) -> u16 {
        let Ok(mut s) = TcpStream::connect(&self.health) else {
            return 0;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }

    /// SIGTERM, then the exit code and stderr.
    fn stop(mut self) -> (Option<i32>, String) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                eprintln!("--- agent stderr\n{err}");
                return (st.code(), err);
            }
            assert!(Instant::now() < deadline, "agent did not exit on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn plugin_types(path: &Path) -> Vec<String> {
    let v: Value =
        serde_json::from_slice(&fs::read(path).unwrap_or_default()).unwrap_or(Value::Null);
    v["plugins"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| p["type"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn istio_fixture() -> Fixture {
    let f = Fixture::new();
    f.write_source("istio-cni", b"#!/bin/sh\necho istio-cni\n");
    f
}

/// The agent beside our Calico installer: inserted into Calico's conflist (its mode kept),
/// kubeconfig and binary installed, ready; Calico's `install` rewrites `10-calico.conflist`
/// while the agent runs and the entry comes back; SIGTERM takes entry, kubeconfig and binary
/// away and leaves Calico's conflist.
#[test]
fn beside_calico_install_reinserts_and_cleans_up() {
    let f = istio_fixture();
    f.run_ok(); // Calico's install (SLEEP=false) writes 10-calico.conflist, 0644 here
    let conflist = f.net_d("10-calico.conflist");
    assert_eq!(plugin_types(&conflist), ["calico", "portmap"]);
    assert!(
        !f.host_bin("istio-cni").exists(),
        "Calico's install leaves istio-cni to Istio's"
    );
    let agent = Agent::start(&f, &[]);
    wait_for("ready", Duration::from_secs(10), || {
        agent.probe("/readyz") == 200
    });
    assert_eq!(agent.probe("/healthz"), 200);
    assert_eq!(plugin_types(&conflist), ["calico", "portmap", "istio-cni"]);
    assert_eq!(mode(&conflist), 0o644, "the primary's mode is kept");
    let v: Value = serde_json::from_slice(&fs::read(&conflist).unwrap()).unwrap();
    assert_eq!(
        v["plugins"][2]["cni_agent_run_dir"],
        f.path("run").to_string_lossy().as_ref()
    );
    assert_eq!(
        v["plugins"][2]["exclude_namespaces"],
        json!(["kube-system"])
    );
    assert!(v["plugins"][2].get("cniVersion").is_none());
    let kc = f.path("run/istio-cni-kubeconfig");
    assert_eq!(mode(&kc), 0o600);
    let kc_text = fs::read_to_string(&kc).unwrap();
    assert!(kc_text.contains(&format!("server: https://127.0.0.1:{}\n", f.api.port())));
    assert!(kc_text.contains("    token: my-secret-key\n"), "{kc_text}");
    assert_eq!(
        fs::read(f.host_bin("istio-cni")).unwrap(),
        b"#!/bin/sh\necho istio-cni\n"
    );
    assert_eq!(mode(&f.host_bin("istio-cni")), 0o755);
    // The kubeconfig works for the plugin's client.
    let client = kubeclient::Client::from_sources(&kubeclient::Sources {
        kubeconfig: kc.to_string_lossy().into_owned(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(client.server(), f.api.url());

    // Calico's installer rewrites its conflist (as a calico-node restart does).
    let before = Instant::now();
    f.run_ok();
    wait_for("re-insertion", Duration::from_secs(10), || {
        plugin_types(&conflist) == ["calico", "portmap", "istio-cni"]
    });
    eprintln!("re-inserted after {:?}", before.elapsed());
    wait_for("ready again", Duration::from_secs(10), || {
        agent.probe("/readyz") == 200
    });

    let (code, _) = agent.stop();
    assert_eq!(code, Some(0));
    assert_eq!(
        plugin_types(&conflist),
        ["calico", "portmap"],
        "entry removed, file kept"
    );
    assert!(!kc.exists());
    assert!(!f.host_bin("istio-cni").exists());
    assert!(f.host_bin("calico").exists(), "other plugins untouched");
}

/// No primary config yet: not ready, waiting; a `.conf` appears and becomes a `.conflist`
/// with our entry (upstream's rename); SIGTERM while waiting exits cleanly too.
#[test]
fn waits_for_a_primary_and_converts_a_conf() {
    let f = istio_fixture();
    let agent = Agent::start(&f, &[]);
    wait_for("health server", Duration::from_secs(10), || {
        agent.probe("/healthz") == 200
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(agent.probe("/readyz"), 503, "waiting for a primary config");
    fs::write(f.net_d("10-bridge.conf"), data("bridge.conf")).unwrap();
    fs::set_permissions(f.net_d("10-bridge.conf"), fs::Permissions::from_mode(0o640)).unwrap();
    let list = f.net_d("10-bridge.conflist");
    wait_for("conversion", Duration::from_secs(10), || {
        plugin_types(&list) == ["bridge", "istio-cni"]
    });
    assert!(!f.net_d("10-bridge.conf").exists());
    assert_eq!(mode(&list), 0o640);
    wait_for("ready", Duration::from_secs(10), || {
        agent.probe("/readyz") == 200
    });
    let (code, _) = agent.stop();
    assert_eq!(code, Some(0));
    assert_eq!(
        plugin_types(&list),
        ["bridge"],
        "stays a .conflist, without us"
    );

    let f = istio_fixture();
    let agent = Agent::start(&f, &[]);
    wait_for("health server", Duration::from_secs(10), || {
        agent.probe("/healthz") == 200
    });
    let (code, _) = agent.stop();
    assert_eq!(code, Some(0), "stopped while waiting");
    assert!(!f.path("run/istio-cni-kubeconfig").exists());
}

/// A pod without the apiserver's address fails at once (exit 1), as upstream's.
#[test]
fn misconfigured_agent_exits() {
    let f = istio_fixture().without_env("KUBERNETES_SERVICE_HOST");
    let mut agent = Agent::start(&f, &[]);
    let status = agent.child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    let mut err = String::new();
    agent
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains("KUBERNETES_SERVICE_HOST not set. Is this not running within a pod?"),
        "{err}"
    );
}

/// Standalone (Multus): our own `.conf`, deleted on SIGTERM.
#[test]
fn standalone_file_and_cleanup() {
    let f = istio_fixture();
    let agent = Agent::start(&f, &[("CHAINED_CNI_PLUGIN", "false")]);
    let own: PathBuf = f.net_d("YYY-istio-cni.conf");
    wait_for("ready", Duration::from_secs(10), || {
        agent.probe("/readyz") == 200
    });
    let v: Value = serde_json::from_slice(&fs::read(&own).unwrap()).unwrap();
    assert_eq!(v["cniVersion"], "0.3.1");
    assert_eq!(v["type"], "istio-cni");
    assert_eq!(mode(&own), 0o600);
    let (code, _) = agent.stop();
    assert_eq!(code, Some(0));
    assert!(!own.exists());
}
