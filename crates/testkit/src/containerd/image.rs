//! The sandbox ("pause") image, built here because no registry is reachable from the test
//! machines: one layer holding Debian's static busybox, whose `sleep` stands in for pause (the
//! sandbox process only has to hold the namespaces; containerd stops a sandbox with SIGKILL).
//! Written as a `docker save` archive, which `ctr images import` reads.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use sha2::{Digest, Sha256};

/// The sandbox image's name, as `sandbox_image` names it.
pub const PAUSE_IMAGE: &str = "localhost/cni-rs-e2e/pause:1";

/// The static binary the image is made of (Debian's `busybox-static`).
pub const BUSYBOX: &str = "/bin/busybox";

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The image's architecture in OCI terms (ctr imports only the host's platform).
fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn tar(dir: &Path, out: &Path, entries: &[&str]) {
    let status = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .args(["--owner=0", "--group=0", "--numeric-owner", "-cf"])
        .arg(out)
        .args(entries)
        .status()
        .unwrap_or_else(|e| panic!("cannot run tar: {e}"));
    assert!(status.success(), "tar -cf {} failed", out.display());
}

/// Writes the archive under `dir`; returns its path.
pub(super) fn build_pause_archive(dir: &Path) -> PathBuf {
    if !Path::new(BUSYBOX).is_file() {
        panic!("{BUSYBOX} is missing: apt-get install busybox-static (scripts/test installs it)");
    }
    let rootfs = dir.join("rootfs");
    let image = dir.join("image");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::create_dir_all(&image).unwrap();
    std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sleep")).unwrap();

    let layer = image.join("layer.tar");
    tar(&rootfs, &layer, &["."]);
    let layer_digest = sha256_hex(&std::fs::read(&layer).unwrap());
    let config = json!({
        "architecture": oci_arch(),
        "os": "linux",
        "config": {"Entrypoint": ["/bin/sleep", "2147483647"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_digest}")]},
    });
    std::fs::write(image.join("config.json"), config.to_string()).unwrap();
    let manifest = json!([{
        "Config": "config.json",
        "RepoTags": [PAUSE_IMAGE],
        "Layers": ["layer.tar"],
    }]);
    std::fs::write(image.join("manifest.json"), manifest.to_string()).unwrap();

    let archive = dir.join("pause.tar");
    tar(
        &image,
        &archive,
        &["manifest.json", "config.json", "layer.tar"],
    );
    archive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_lowercase_hex_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
