//! Podman with its CNI backend inside a throwaway "host" netns, as the end-to-end tests run
//! the plugins under Go libcni: storage, config and a busybox rootfs in the test's directory
//! (vfs driver, so the machine's images are untouched), podman entered with `nsenter --net`
//! (unlike `ip netns exec` it keeps /sys/fs/cgroup visible to runc).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::tools::{apt_install, have, show_output};

/// The busybox the containers' rootfs is made of (Debian's `busybox-static`).
const BUSYBOX: &str = "/bin/busybox";

/// Installs podman, runc and busybox-static with apt where missing; `Err` says what is still
/// missing (the caller skips, loudly).
pub fn require_podman() -> Result<(), &'static str> {
    if !have("podman", "--version") {
        apt_install(&["podman", "runc"]);
    }
    if !Path::new(BUSYBOX).is_file() {
        apt_install(&["busybox-static"]);
    }
    if !have("podman", "--version") {
        return Err("podman is not installed and `apt-get install podman runc` failed");
    }
    if !Path::new(BUSYBOX).is_file() {
        return Err("busybox-static (the containers' rootfs) cannot be installed");
    }
    Ok(())
}

/// Podman run in the netns at `netns`, its state under `dir`, networks from the CNI plugins in
/// `bin_dir` and conflists in `net_d`. Dropping it removes every container (their DEL runs the
/// plugins), so keep the netns alive until then.
pub struct Podman {
    netns: PathBuf,
    dir: PathBuf,
}

impl Podman {
    pub fn new(netns: &Path, dir: &Path, bin_dir: &Path, net_d: &Path) -> Podman {
        std::fs::write(
            dir.join("containers.conf"),
            format!(
                "[network]\nnetwork_backend = \"cni\"\ncni_plugin_dirs = [\"{}\"]\n\
                 network_config_dir = \"{}\"\n[engine]\nruntime = \"runc\"\n\
                 cgroup_manager = \"cgroupfs\"\nevents_logger = \"none\"\ntmp_dir = \"{}\"\n",
                bin_dir.display(),
                net_d.display(),
                dir.join("libpod").display()
            ),
        )
        .expect("write containers.conf");
        Podman {
            netns: netns.to_path_buf(),
            dir: dir.to_path_buf(),
        }
    }

    /// A rootfs of busybox `applets` (plus `sh`) with the directories `dirs` (plus what a
    /// container needs), for `podman run --rootfs`.
    pub fn busybox_rootfs(&self, dirs: &[&str], applets: &[&str]) -> PathBuf {
        let rootfs = self.dir.join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "etc", "tmp"]
            .iter()
            .chain(dirs)
        {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
        for applet in std::iter::once(&"sh").chain(applets) {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        rootfs
    }

    /// The podman command, to add arguments and environment to.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.netns.display()))
            .arg("podman")
            .arg("--root")
            .arg(self.dir.join("storage"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .args(["--storage-driver", "vfs"])
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"));
        c
    }

    /// `podman args`, its output shown.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd().args(args).output().expect("run podman");
        show_output(&format!("podman {args:?}"), &out);
        out
    }

    /// `podman args`, which must succeed; its stdout, trimmed.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "podman {args:?} failed");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd().args(["rm", "-af", "-t", "0"]).output();
    }
}
