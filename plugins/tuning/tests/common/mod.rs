//! Shared by the tuning tests: a throwaway netns holding a veth `dummy0` (this kernel has no
//! dummy links), configs shaped like the upstream tests', running a tuning binary as a
//! runtime does, reading the link back with iproute2, and running the binary with a private
//! `/etc/cni/tuning/allowlist.conf`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use testkit::{require_root, Invocation, PluginRun, TempNetns};

pub const OURS: &str = env!("CARGO_BIN_EXE_tuning");
/// Upstream's tuning tests run 0.3.0 to 1.0.0; we add 1.1.0.
pub const VERSIONS: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];
/// Debian's Go tuning (1.1.1) stops at 1.0.0.
pub const GO_VERSIONS: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0"];
pub const IFNAME: &str = "dummy0";
pub const CONTAINER_ID: &str = "dummy";
/// The veth's address before any test touches it (set at creation, so runs compare).
pub const ORIGINAL_MAC: &str = "02:00:00:00:00:01";

/// CHECK exists from 0.4.0 on.
pub fn has_check(version: &str) -> bool {
    version >= "0.4.0"
}

/// The interface attributes tuning changes, as `ip -j link` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    pub mac: String,
    pub mtu: u64,
    pub promisc: bool,
    pub allmulti: bool,
    pub txqlen: u64,
}

/// A netns with a veth `dummy0` (peer `peer0`, both inside), and a backup folder.
pub struct Fixture {
    pub ns: TempNetns,
    pub data: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        Self::with_link(IFNAME)
    }

    pub fn with_link(ifname: &str) -> Self {
        require_root();
        assert!(
            !Path::new("/etc/cni/tuning/allowlist.conf").exists(),
            "these tests expect no sysctl allowlist on the host (/etc/cni/tuning/allowlist.conf)"
        );
        let ns = TempNetns::new();
        ns.ip_stdout(&[
            "link",
            "add",
            ifname,
            "address",
            ORIGINAL_MAC,
            "type",
            "veth",
            "peer",
            "name",
            "peer0",
        ]);
        Fixture {
            ns,
            data: testkit::temp_dir(),
        }
    }

    /// A netns with no link at all.
    pub fn empty() -> Self {
        require_root();
        Fixture {
            ns: TempNetns::new(),
            data: testkit::temp_dir(),
        }
    }

    pub fn netns(&self) -> &str {
        self.ns.path().to_str().unwrap()
    }

    pub fn data_dir(&self) -> &str {
        self.data.path().to_str().unwrap()
    }

    pub fn backup(&self) -> PathBuf {
        self.data
            .path()
            .join(format!("{CONTAINER_ID}_{IFNAME}.json"))
    }

    pub fn link(&self) -> LinkState {
        self.link_named(IFNAME)
    }

    pub fn link_named(&self, ifname: &str) -> LinkState {
        link_state(&self.ns, ifname)
    }

    pub fn has_link(&self, ifname: &str) -> bool {
        self.ns
            .ip(&["link", "show", "dev", ifname])
            .status
            .success()
    }

    /// A file under /proc/sys as seen from inside the netns.
    pub fn sysctl(&self, path: &str) -> String {
        let out = self.ns.exec(&["cat", path]);
        assert!(out.status.success(), "cat {path} in the netns failed");
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    /// The upstream tests' config: name `test`, the given extra members, our backup folder,
    /// and a prevResult naming `dummy0`.
    pub fn conf(&self, version: &str, members: &str) -> String {
        conf(version, self.data_dir(), members)
    }

    pub fn run(&self, bin: &str, cmd: &str, stdin: &str, cni_args: Option<&str>) -> PluginRun {
        invoke(bin, cmd, self.netns(), IFNAME, stdin, cni_args)
    }
}

pub fn link_state(ns: &TempNetns, ifname: &str) -> LinkState {
    let out = ns.ip_stdout(&["-j", "link", "show", "dev", ifname]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let l = &v[0];
    let flags: Vec<&str> = l["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    LinkState {
        mac: l["address"].as_str().unwrap().to_string(),
        mtu: l["mtu"].as_u64().unwrap(),
        promisc: flags.contains(&"PROMISC"),
        allmulti: flags.contains(&"ALLMULTI"),
        // iproute2 leaves txqlen out for links with the `noqueue` qdisc (a veth that is up).
        txqlen: l["txqlen"].as_u64().unwrap_or_else(|| {
            let path = format!("/sys/class/net/{ifname}/tx_queue_len");
            let out = ns.exec(&["cat", path.as_str()]);
            assert!(out.status.success(), "cat {path} in the netns failed");
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        }),
    }
}

pub const PREV_RESULT: &str = r#"{
    "interfaces": [{"name": "dummy0", "sandbox": "netns"}],
    "ips": [{"version": "4", "address": "10.0.0.2/24", "gateway": "10.0.0.1", "interface": 0}]
}"#;

pub fn conf(version: &str, data_dir: &str, members: &str) -> String {
    let sep = if members.is_empty() { "" } else { "," };
    format!(
        r#"{{"name":"test","type":"tuning","cniVersion":"{version}","dataDir":"{data_dir}"{sep}{members},"prevResult":{PREV_RESULT}}}"#
    )
}

/// The same config with the prevResult replaced (upstream CHECKs with the ADD result).
pub fn with_prev_result(stdin: &str, prev: &Value) -> String {
    let mut v: Value = serde_json::from_str(stdin).unwrap();
    v["prevResult"] = prev.clone();
    v["name"] = "testConfig".into();
    v.to_string()
}

/// The same config without a prevResult.
pub fn without_prev_result(stdin: &str) -> String {
    let mut v: Value = serde_json::from_str(stdin).unwrap();
    v.as_object_mut().unwrap().remove("prevResult");
    v.to_string()
}

pub fn invoke(
    bin: &str,
    cmd: &str,
    netns: &str,
    ifname: &str,
    stdin: &str,
    cni_args: Option<&str>,
) -> PluginRun {
    let mut inv = Invocation::new(bin)
        .command(cmd)
        .container_id(CONTAINER_ID)
        .netns(netns)
        .ifname(ifname)
        .path("/opt/cni/bin")
        .stdin(stdin.as_bytes().to_vec());
    if let Some(args) = cni_args {
        inv = inv.args(args);
    }
    inv.run()
}

/// (code, msg) of a CNI error run; panics on anything else.
pub fn error_of(run: &PluginRun) -> (u64, String) {
    assert_eq!(run.code, 1, "expected a CNI error, got:\n{run}");
    let v = run.json();
    (
        v["code"].as_u64().unwrap(),
        v["msg"].as_str().unwrap().to_string(),
    )
}

/// What `/etc/cni/tuning/allowlist.conf` is for one run.
pub enum Allowlist<'a> {
    Lines(&'a str),
    Directory,
    /// A symbolic link to this path (`/dev/zero`, ...).
    Symlink(&'a str),
    /// A FIFO nobody writes to.
    Fifo,
}

/// A launcher that runs `plugin` with a private `/etc/cni/tuning` holding only the given
/// allowlist (testkit's [`PrivateDirLauncher`](testkit::PrivateDirLauncher)): the plugin reads
/// the real path, the host's /etc is never written, and nothing can be left behind.
pub struct AllowlistLauncher(testkit::PrivateDirLauncher);

impl AllowlistLauncher {
    pub fn new(plugin: &str, list: Allowlist<'_>) -> Self {
        let entry = match list {
            Allowlist::Lines(text) => testkit::PrivateEntry::File(text),
            Allowlist::Directory => testkit::PrivateEntry::Dir,
            Allowlist::Symlink(target) => testkit::PrivateEntry::Symlink(target),
            Allowlist::Fifo => testkit::PrivateEntry::Fifo,
        };
        AllowlistLauncher(testkit::PrivateDirLauncher::new(
            std::path::Path::new(plugin),
            std::path::Path::new("/etc/cni/tuning"),
            &[("allowlist.conf", entry)],
        ))
    }

    pub fn bin(&self) -> String {
        self.0.path().to_str().unwrap().to_string()
    }
}
