//! A fake container + host tree for running `install` as Calico's tests run
//! its image: `<root>/opt/cni/bin` is the image's suite, `<root>/host/...` the
//! mounted host dirs, `<root>/var/run/secrets/...` the service account — of calico-node,
//! whose token may request one for `calico-cni-plugin` — and the apiserver, testkit's
//! stand-in (Calico's tests run a real one; none can be installed here).

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const INSTALL: &str = env!("CARGO_BIN_EXE_install");

/// What the Calico CNI image ships in /opt/cni/bin.
pub const SUITE: [&str; 7] = [
    "calico",
    "calico-ipam",
    "host-local",
    "install",
    "loopback",
    "portmap",
    "tuning",
];

/// The pod's (calico-node's) own token.
pub const TOKEN: &str = "my-secret-key";
pub const NODE_USER: &str = "system:serviceaccount:kube-system:calico-node";
pub const CNI_USER: &str = testkit::CNI_USER;

pub struct Fixture {
    /// The apiserver (its CA is the service account's `ca.crt`).
    pub api: testkit::KubeApi,
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
    /// Host directories mounted read-only (via a private mount namespace).
    pub read_only: Vec<PathBuf>,
}

impl Fixture {
    /// The upstream test setup: writable host bin and net.d dirs, a service
    /// account, `SLEEP=false`, apiserver 127.0.0.1:6443, node `my-node`.
    pub fn new() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("install-test-")
            .tempdir()
            .expect("temp dir");
        let api = testkit::KubeApi::start(testkit::KubeApiOptions::default());
        // calico-node's RBAC includes requesting tokens for the CNI plugin's account.
        api.add_token(
            TOKEN,
            NODE_USER,
            vec![
                testkit::Rule::new(&["create"], &[""], &["serviceaccounts/token"])
                    .names(&["calico-cni-plugin"]),
            ],
        );
        // (The stand-in has kube-system's calico-cni-plugin account with Calico's CNI role.)
        let port = api.port().to_string();
        let f = Fixture {
            api,
            dir,
            env: Vec::new(),
            read_only: Vec::new(),
        };
        for d in ["opt/cni/bin", "host/opt/cni/bin", "host/etc/cni/net.d"] {
            fs::create_dir_all(f.path(d)).unwrap();
        }
        for name in SUITE {
            f.write_source(name, format!("#!/bin/sh\necho {name}\n").as_bytes());
        }
        let sa = f.path("var/run/secrets/kubernetes.io/serviceaccount");
        fs::create_dir_all(&sa).unwrap();
        fs::write(sa.join("token"), TOKEN).unwrap();
        fs::write(sa.join("ca.crt"), fs::read(f.api.ca_pem()).unwrap()).unwrap();
        fs::write(sa.join("namespace"), "kube-system").unwrap();
        f.with_env("SLEEP", "false")
            .with_env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
            .with_env("KUBERNETES_SERVICE_PORT", &port)
            .with_env("KUBERNETES_NODE_NAME", "my-node")
            .with_env("TEST_FILE_PERMISSION", "0644")
    }

    pub fn with_env(mut self, key: &str, value: &str) -> Fixture {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn without_env(mut self, key: &str) -> Fixture {
        self.env.retain(|(k, _)| k != key);
        self
    }

    /// Mounts `dir` (relative to the root) read-only for the installer.
    pub fn read_only(mut self, dir: &str) -> Fixture {
        let p = self.path(dir);
        fs::create_dir_all(&p).unwrap();
        self.read_only.push(p);
        self
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn host_bin(&self, name: &str) -> PathBuf {
        self.path("host/opt/cni/bin").join(name)
    }

    pub fn net_d(&self, name: &str) -> PathBuf {
        self.path("host/etc/cni/net.d").join(name)
    }

    pub fn write_source(&self, name: &str, content: &[u8]) {
        let p = self.path("opt/cni/bin").join(name);
        fs::write(&p, content).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }

    pub fn command(&self) -> Command {
        let mut cmd = if self.read_only.is_empty() {
            Command::new(INSTALL)
        } else {
            // Root ignores permission bits, so "read-only" must be a read-only
            // mount, as in Calico's tests; a private mount namespace keeps it
            // away from the host and undoes it when the installer exits.
            let mut script = String::from("set -e\n");
            for p in &self.read_only {
                let p = p.display();
                script.push_str(&format!(
                    "mount --bind '{p}' '{p}'\nmount -o remount,bind,ro '{p}'\n"
                ));
            }
            script.push_str("exec \"$0\"\n");
            let mut c = Command::new("unshare");
            c.args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                &script,
                INSTALL,
            ]);
            c
        };
        cmd.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CNI_INSTALL_ROOT", self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self) -> Output {
        let out = self.command().output().expect("run install");
        testkit::show_output("install", &out);
        out
    }

    pub fn run_ok(&self) -> Output {
        let out = self.run();
        assert!(out.status.success(), "install failed");
        out
    }

    pub fn run_fails(&self) -> Output {
        let out = self.run();
        assert_eq!(out.status.code(), Some(1), "install must exit 1");
        out
    }
}

pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

pub fn expected_default() -> &'static str {
    include_str!("../data/expected-default.conflist")
}
