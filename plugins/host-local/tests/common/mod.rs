//! Shared helpers: run host-local (ours or Go's) as a runtime does, against a store in a
//! throwaway directory, and look at what it left on disk.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use testkit::{Invocation, PluginRun};

pub const OURS: &str = env!("CARGO_BIN_EXE_host-local");
pub const VERSIONS: &[&str] = &[
    "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
];
/// What the reference's tests put in CNI_NETNS: host-local never opens it.
pub const NETNS: &str = "/some/where";

/// Debian's Go host-local; these tests need it (package containernetworking-plugins).
pub fn go() -> PathBuf {
    testkit::go_plugin("host-local")
        .expect("Go host-local missing: apt-get install containernetworking-plugins")
}

/// A data directory removed when dropped.
pub struct DataDir {
    pub dir: tempfile::TempDir,
}

impl DataDir {
    pub fn new() -> Self {
        DataDir {
            dir: testkit::temp_dir(),
        }
    }

    pub fn path(&self) -> &str {
        self.dir.path().to_str().expect("utf-8 temp dir")
    }

    /// The store of network `name`.
    pub fn store(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A network config: `ipam` gets `dataDir` added; `extra` are more top-level keys.
pub fn conf(version: &str, name: &str, data_dir: &str, ipam: Value, extra: Value) -> String {
    let mut ipam = ipam;
    ipam["type"] = "host-local".into();
    ipam["dataDir"] = data_dir.into();
    let mut c =
        serde_json::json!({"cniVersion": version, "name": name, "type": "bridge", "ipam": ipam});
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            c[k] = v;
        }
    }
    c.to_string()
}

/// A CNI 1.0.0 config of network `mynet` whose store is in `data`, with `ipam`.
pub fn mynet(data: &DataDir, ipam: Value) -> String {
    conf("1.0.0", "mynet", data.path(), ipam, serde_json::json!({}))
}

/// [`mynet`] with two range sets (one IPv4, one IPv6), so a kill can also fall between the
/// two reservations of one ADD.
pub fn two_range_sets(data: &DataDir) -> String {
    mynet(
        data,
        serde_json::json!({"ranges": [[{"subnet": "10.1.2.0/24"}], [{"subnet": "2001:db8:1::/64"}]]}),
    )
}

pub fn call(bin: &Path, cmd: &str, id: &str, ifname: &str, args: &str, stdin: &str) -> PluginRun {
    let mut inv = Invocation::new(bin)
        .command(cmd)
        .container_id(id)
        .netns(NETNS)
        .ifname(ifname)
        .path("/opt/cni/bin")
        .stdin(stdin.as_bytes().to_vec());
    if !args.is_empty() {
        inv = inv.args(args);
    }
    inv.run()
}

pub fn ours() -> &'static Path {
    Path::new(OURS)
}

pub fn add(bin: &Path, id: &str, ifname: &str, stdin: &str) -> PluginRun {
    call(bin, "ADD", id, ifname, "", stdin)
}

pub fn del(bin: &Path, id: &str, ifname: &str, stdin: &str) -> PluginRun {
    call(bin, "DEL", id, ifname, "", stdin)
}

pub fn check(bin: &Path, id: &str, ifname: &str, stdin: &str) -> PluginRun {
    call(bin, "CHECK", id, ifname, "", stdin)
}

/// GC and STATUS as Go's libcni calls them: no container ID, netns, ifname or args.
pub fn gc_or_status(bin: &Path, cmd: &str, stdin: &str) -> PluginRun {
    Invocation::new(bin)
        .command(cmd)
        .path("/opt/cni/bin")
        .stdin(stdin.as_bytes().to_vec())
        .run()
}

/// `(code, msg)` of a CNI error, asserting it is one.
pub fn error_of(run: &PluginRun) -> (u64, String) {
    assert_eq!(run.code, 1, "expected a CNI error, got:\n{run}");
    let v = run.json();
    (
        v["code"].as_u64().expect("code"),
        v["msg"].as_str().expect("msg").to_string(),
    )
}

/// The message of a code-999 error.
pub fn msg_of(run: &PluginRun) -> String {
    let (code, msg) = error_of(run);
    assert_eq!(code, 999, "{run}");
    msg
}

/// The addresses of a successful ADD's result, as printed (any version).
pub fn ips_of(run: &PluginRun) -> Vec<String> {
    run.assert_success();
    let v = run.json();
    if let Some(ips) = v["ips"].as_array() {
        return ips
            .iter()
            .map(|ip| ip["address"].as_str().unwrap().to_string())
            .collect();
    }
    ["ip4", "ip6"]
        .iter()
        .filter_map(|k| v[k]["ip"].as_str().map(str::to_string))
        .collect()
}

/// Every file of a store: name → content.
pub fn files(store: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(rd) = std::fs::read_dir(store) else {
        return out;
    };
    for e in rd {
        let e = e.unwrap();
        let content = std::fs::read(e.path()).unwrap_or_default();
        out.insert(
            e.file_name().to_string_lossy().into_owned(),
            String::from_utf8_lossy(&content).into_owned(),
        );
    }
    out
}

/// Names of the reservations (files named by an address) in a store.
pub fn reservations(store: &Path) -> Vec<String> {
    files(store)
        .into_keys()
        .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
        .collect()
}

pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Pre-creates a reservation the way the plugin writes one.
pub fn reserve(store: &Path, ip: &str, content: &str) {
    std::fs::create_dir_all(store).unwrap();
    std::fs::write(store.join(ip), content).unwrap();
}

/// Starts a plugin without waiting for it (stdin written and closed, output piped).
pub fn spawn(bin: &Path, cmd: &str, id: &str, ifname: &str, stdin: &str) -> std::process::Child {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(bin)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", id)
        .env("CNI_NETNS", NETNS)
        .env("CNI_IFNAME", ifname)
        .env("CNI_PATH", "/opt/cni/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let mut pipe = child.stdin.take().unwrap();
    let _ = pipe.write_all(stdin.as_bytes());
    drop(pipe);
    child
}

/// Waits for a spawned plugin: (exit code, stdout).
pub fn finish(child: std::process::Child) -> (i32, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Holds `<store>/lock` the way both plugins take it (flock, exclusive) until dropped.
pub struct HeldLock(std::fs::File);

impl HeldLock {
    pub fn take(store: &Path) -> HeldLock {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::create_dir_all(store).unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CREAT)
            .mode(0o750)
            .open(store.join("lock"))
            .unwrap();
        f.lock().unwrap();
        HeldLock(f)
    }
}

/// Whether some thread of `pid` is blocked in flock(2), read from /proc (not timed: the
/// caller polls until it is, with a generous bound that only guards against hanging).
pub fn blocked_in_flock(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|t| {
        std::fs::read_to_string(t.path().join("syscall"))
            .ok()
            .and_then(|s| s.split_whitespace().next().map(str::to_string))
            .is_some_and(|nr| nr == libc::SYS_flock.to_string())
    })
}

/// Polls until `pid` waits for the store lock; panics after a minute (a hang, not a speed
/// measurement).
pub fn wait_until_blocked_in_flock(pid: u32) {
    for _ in 0..60_000 {
        if blocked_in_flock(pid) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    panic!("process {pid} never waited for the store lock");
}
