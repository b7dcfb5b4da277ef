//! A throwaway containerd (with its CRI plugin) for end-to-end tests of the CNI plugins as
//! Kubernetes runs them.
//!
//! The instance runs inside the test's "node" network namespace, entered with `nsenter --net`:
//! unlike `ip netns exec` it does not remount /sys, so /sys/fs/cgroup stays what runc needs.
//! It also gets
//!
//! - its own PID namespace (`unshare --pid --fork --kill-child --mount-proc`): containerd is its
//!   init, so killing it kills every shim and sandbox process it started, whatever state the
//!   test left them in;
//! - its own mount namespace, with overlays on /var and /run whose upper layers are in the
//!   instance's temp dir: what containerd and the plugins it runs write to the node's fixed
//!   paths (libcni's result cache in /var/lib/cni, tuning's backups in /run/cni/tuning, the
//!   shims' sockets in /run/containerd) lands there ([`Containerd::written`]), and the sandbox
//!   netns and rootfs mounts are invisible outside and vanish with the namespace;
//! - a config (config version 2, `config.rs`) with root, state, sockets, runc's root and the
//!   CNI bin and conf dirs given by the test, `restrict_oom_score_adj` (root here lacks
//!   CAP_SYS_RESOURCE) and the pause image built and imported by `image.rs`.
//!
//! Dropping the instance kills it, waits for its PID namespace to empty and removes the
//! sandboxes' cgroups; the temp dir goes last.

mod config;
mod image;

pub use image::{BUSYBOX, PAUSE_IMAGE};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::cri::messages::{LinuxPodSandboxConfig, PodSandboxConfig, PodSandboxMetadata};
use crate::cri::CriClient;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// What the instance needs from Debian's `containerd` package (and runc, its dependency).
const REQUIRED: [&str; 4] = ["containerd", "ctr", "containerd-shim-runc-v2", "runc"];

/// The PATH containerd and the plugins it runs see (iptables and runc live in sbin).
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn find_in_path(name: &str) -> Option<PathBuf> {
    PATH.split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// Panics unless containerd, ctr, the runc shim and runc are installed: a test that needs them
/// must fail, not skip, where they are missing.
#[track_caller]
pub fn require_containerd() {
    let missing: Vec<_> = REQUIRED
        .iter()
        .filter(|b| find_in_path(b).is_none())
        .collect();
    if !missing.is_empty() {
        panic!("{missing:?} not installed: apt-get install containerd (scripts/test installs it)");
    }
}

/// A running containerd; see the module docs.
pub struct Containerd {
    child: Child,
    /// containerd's pid in the host's numbering (its own namespace calls it 1).
    pid: u32,
    /// `/proc/<pid>/ns/pid` of containerd, to know when its namespace is gone.
    pid_ns: PathBuf,
    cgroup_parent: String,
    cri: Option<CriClient>,
    dir: tempfile::TempDir,
}

impl Containerd {
    /// Starts containerd in the network namespace at `node_netns`, with the CNI plugins in
    /// `cni_bin` and the network config (already written) in `cni_conf`, imports the pause image
    /// and returns once the CRI plugin has the image and reports `NetworkReady`.
    pub fn start(node_netns: &Path, cni_bin: &Path, cni_conf: &Path) -> Containerd {
        crate::require_root();
        require_containerd();
        let dir = tempfile::Builder::new()
            .prefix("cnitest-containerd-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let d = dir.path();
        for sub in ["root", "state", "runc", "opt", "image"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        for top in ["var", "run"] {
            for layer in ["upper", "work"] {
                std::fs::create_dir_all(d.join("overlay").join(top).join(layer)).unwrap();
            }
        }
        std::fs::write(
            d.join("config.toml"),
            config::render(d, cni_bin, cni_conf, PAUSE_IMAGE),
        )
        .unwrap();
        // $1: the overlays' dir, $2: the config. The new mount namespace starts as a copy of
        // the host's, including the bind mounts of every named netns (other tests' nodes):
        // those copies would keep them alive for as long as containerd runs, so drop them.
        let script = "set -e\n\
             findmnt -rn -t nsfs -o TARGET | while read -r m; do umount -l \"$m\" || true; done\n\
             for top in var run; do\n\
             \x20 o=\"$1/$top\"\n\
             \x20 mount -t overlay overlay -o \"lowerdir=/$top,upperdir=$o/upper,workdir=$o/work\" /$top\n\
             done\n\
             exec containerd --config \"$2\"\n";
        let log = std::fs::File::create(d.join("containerd.log")).unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net={}", node_netns.display()))
            .args([
                "unshare",
                "--pid",
                "--fork",
                "--kill-child",
                "--mount-proc",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                "sh",
            ])
            .arg(d.join("overlay"))
            .arg(d.join("config.toml"))
            // Nothing from the test's environment (a developer's DATASTORE_TYPE, say) reaches
            // the plugins, which get containerd's environment.
            .env_clear()
            .env("PATH", PATH)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run nsenter: {e}"));
        let cgroup_parent = format!(
            "/cnitest-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut me = Containerd {
            pid: 0,
            pid_ns: PathBuf::new(),
            child,
            cgroup_parent,
            cri: None,
            dir,
        };
        me.pid = me.wait_for(Duration::from_secs(10), "unshare's child", |me| {
            first_child_of(me.child.id())
        });
        me.pid_ns = std::fs::read_link(format!("/proc/{}/ns/pid", me.pid)).unwrap_or_default();
        let socket = me.socket();
        let cri = me.wait_for(Duration::from_secs(30), "the CRI service", |_| {
            let c = CriClient::connect(&socket).ok()?;
            c.version().ok()?;
            Some(c)
        });
        me.cri = Some(cri);

        let archive = image::build_pause_archive(&me.dir.path().join("image"));
        let out = me.ctr(&[
            "images",
            "import",
            "--snapshotter",
            "native",
            archive.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "ctr images import: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        me.wait_for(Duration::from_secs(10), "the pause image in CRI", |me| {
            me.cri().image_status(PAUSE_IMAGE).ok()?
        });
        me.wait_for(Duration::from_secs(10), "NetworkReady", |me| {
            let status = me.cri().status().ok()?;
            status
                .conditions
                .iter()
                .any(|c| c.r#type == "NetworkReady" && c.status)
                .then_some(())
        });
        me
    }

    /// Polls `probe` until it gives a value; panics (showing containerd's log) after `limit`
    /// or when containerd has exited.
    fn wait_for<T>(
        &mut self,
        limit: Duration,
        what: &str,
        mut probe: impl FnMut(&Containerd) -> Option<T>,
    ) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = probe(self) {
                return v;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "containerd exited ({status}) while waiting for {what}; its log:\n{}",
                    self.log()
                );
            }
            if start.elapsed() > limit {
                panic!(
                    "no {what} after {limit:?}; containerd's log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The CRI client connected to this instance.
    pub fn cri(&self) -> &CriClient {
        self.cri.as_ref().expect("connected in start")
    }

    /// containerd's gRPC socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    /// The instance's temp dir (root, state, config, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// containerd's pid, in the host's numbering.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// containerd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// Runs `ctr` against this instance, in the `k8s.io` namespace the CRI plugin uses.
    pub fn ctr(&self, args: &[&str]) -> std::process::Output {
        Command::new("ctr")
            .arg("--address")
            .arg(self.socket())
            .args(["--namespace", "k8s.io"])
            .args(args)
            .env("PATH", PATH)
            .output()
            .unwrap_or_else(|e| panic!("cannot run ctr: {e}"))
    }

    /// `path` as containerd sees it (in its mount namespace), reachable from the host: e.g. a
    /// sandbox's netns file, to enter with `nsenter --net` or setns.
    pub fn in_mount_ns(&self, path: &Path) -> PathBuf {
        let rel = path.strip_prefix("/").unwrap_or(path);
        Path::new(&format!("/proc/{}/root", self.pid)).join(rel)
    }

    /// Where what containerd or a plugin wrote at `path` (under /var or /run, e.g.
    /// `/var/lib/cni/results`) is: the upper layer of the instance's overlay. Holds only what
    /// was written since the instance started, not the host's files below.
    pub fn written(&self, path: &str) -> PathBuf {
        let path = path.strip_prefix("/var/run/").map_or_else(
            || path.to_string(),
            |rest| format!("/run/{rest}"), // /var/run is a link to /run on Debian
        );
        for top in ["var", "run"] {
            if let Some(rest) = path.strip_prefix(&format!("/{top}/")) {
                return self
                    .dir
                    .path()
                    .join("overlay")
                    .join(top)
                    .join("upper")
                    .join(rest);
            }
        }
        panic!("{path} is neither under /var nor /run: not private to containerd");
    }

    /// The cgroup parent (cgroupfs syntax) sandboxes of this instance should use, so that drop
    /// can remove their cgroups.
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    /// A sandbox config as the kubelet sends it for pod `namespace/name` with `uid`: metadata,
    /// hostname = name, this instance's cgroup parent; the caller adds port mappings etc.
    pub fn sandbox_config(&self, namespace: &str, name: &str, uid: &str) -> PodSandboxConfig {
        PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: name.into(),
                uid: uid.into(),
                namespace: namespace.into(),
                attempt: 0,
            }),
            hostname: name.into(),
            linux: Some(LinuxPodSandboxConfig {
                cgroup_parent: self.cgroup_parent.clone(),
            }),
            ..PodSandboxConfig::default()
        }
    }

    /// containerd's verbose information on sandbox `id` (its `info` JSON: pid, runtimeSpec,
    /// cniResult, ...).
    pub fn sandbox_info(&self, id: &str) -> serde_json::Value {
        let reply = self
            .cri()
            .pod_sandbox_status(id, true)
            .unwrap_or_else(|e| panic!("PodSandboxStatus {id}: {e}"));
        let info = reply
            .info
            .get("info")
            .unwrap_or_else(|| panic!("no verbose info for sandbox {id}: {:?}", reply.info));
        serde_json::from_str(info).unwrap_or_else(|e| panic!("sandbox info is not JSON: {e}"))
    }

    /// The network namespace file of sandbox `id`, reachable from the host.
    pub fn sandbox_netns(&self, id: &str) -> PathBuf {
        let info = self.sandbox_info(id);
        let path = info["runtimeSpec"]["linux"]["namespaces"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|ns| ns["type"] == "network")
            .and_then(|ns| ns["path"].as_str())
            .unwrap_or_else(|| panic!("sandbox {id} has no network namespace path: {info}"));
        self.in_mount_ns(Path::new(path))
    }

    fn remove_cgroups(&self) {
        let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
            return;
        };
        let rel = self.cgroup_parent.trim_start_matches('/');
        // cgroup v1 has one hierarchy per controller; v2 is /sys/fs/cgroup itself.
        let mut roots: Vec<PathBuf> = hierarchies.flatten().map(|e| e.path()).collect();
        roots.push(PathBuf::from("/sys/fs/cgroup"));
        for root in roots {
            let dir = root.join(rel);
            if dir.is_dir() {
                remove_cgroup_tree(&dir);
            }
        }
    }
}

/// A child of process `parent`, found by scanning /proc (kernels without
/// CONFIG_PROC_CHILDREN have no `/proc/<pid>/task/<pid>/children`).
fn first_child_of(parent: u32) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so cut at the last ')'.
        let ppid: u32 = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        (ppid == parent).then_some(pid)
    })
}

/// Removes a cgroup and its children, deepest first (a cgroup directory holds only kernel
/// files and child cgroups; rmdir is how one is removed).
fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    if let Err(e) = std::fs::remove_dir(dir) {
        eprintln!("testkit: cannot remove cgroup {}: {e}", dir.display());
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.cri = None;
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<_> = log.lines().rev().take(60).collect();
            eprintln!(
                "--- containerd's log (last {} lines)\n{}",
                tail.len(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        // unshare passes SIGKILL on to containerd (--kill-child); containerd being the init
        // of its PID namespace, the kernel then kills everything in it, sandboxes included.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let start = Instant::now();
        while !self.pid_ns.as_os_str().is_empty()
            && std::fs::read_link(format!("/proc/{}/ns/pid", self.pid))
                .ok()
                .as_deref()
                == Some(self.pid_ns.as_path())
        {
            if start.elapsed() > Duration::from_secs(10) {
                eprintln!(
                    "testkit: containerd (pid {}) still alive after SIGKILL",
                    self.pid
                );
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.remove_cgroups();
    }
}
