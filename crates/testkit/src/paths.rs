//! Finding binaries under test and scratch directories.

use std::path::{Path, PathBuf};

/// Where Debian installs the Go reference plugins (`containernetworking-plugins`).
pub const GO_PLUGIN_DIR: &str = "/usr/lib/cni";

/// A binary of this workspace, built into the same target directory and
/// profile as the running test (`target/<profile>/deps/<test>` →
/// `target/<profile>/<name>`). Panics if it has not been built.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe()
        .unwrap_or_else(|e| panic!("cannot locate the running test binary: {e}"));
    let mut dir = exe
        .parent()
        .unwrap_or_else(|| panic!("test binary {} has no parent directory", exe.display()));
    // Integration and unit tests live in deps/; binaries one level up.
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().unwrap_or(dir);
    }
    let bin = dir.join(name);
    if !bin.is_file() {
        panic!(
            "{} not found; build it first: cargo build --workspace",
            bin.display()
        );
    }
    bin
}

/// The Calico CNI image's view under `root`, as the end-to-end tests lay it out for `install`:
/// the workspace's `binaries` in `opt/cni/bin` (the image's), and empty `host/opt/cni/bin` and
/// `host/etc/cni/net.d` (the host's, as mounted).
pub fn image_root(root: &Path, binaries: &[&str]) {
    for d in ["opt/cni/bin", "host/opt/cni/bin", "host/etc/cni/net.d"] {
        std::fs::create_dir_all(root.join(d))
            .unwrap_or_else(|e| panic!("cannot create {d} under {}: {e}", root.display()));
    }
    for name in binaries {
        std::fs::copy(workspace_bin(name), root.join("opt/cni/bin").join(name))
            .unwrap_or_else(|e| panic!("cannot copy {name} into {}: {e}", root.display()));
    }
}

/// The Go reference plugin `name` from Debian's package, if installed; used
/// for differential tests.
pub fn go_plugin(name: &str) -> Option<PathBuf> {
    let path = Path::new(GO_PLUGIN_DIR).join(name);
    path.is_file().then_some(path)
}

/// A fresh directory removed when the returned guard drops.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("cnitest-")
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_workspace_binary_says_how_to_build_it() {
        let err = std::panic::catch_unwind(|| workspace_bin("no-such-binary-xyz"))
            .expect_err("must panic");
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            msg.contains("build it first: cargo build --workspace"),
            "{msg}"
        );
        assert!(msg.contains("no-such-binary-xyz"), "{msg}");
    }

    #[test]
    fn go_plugin_absent_is_none() {
        assert_eq!(go_plugin("no-such-plugin-xyz"), None);
    }

    #[test]
    fn temp_dir_is_removed_on_drop() {
        let dir = temp_dir();
        let path = dir.path().to_path_buf();
        assert!(path.is_dir());
        drop(dir);
        assert!(!path.exists());
    }
}
