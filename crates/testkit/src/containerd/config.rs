//! containerd's configuration for a test instance: every directory and socket in the instance's
//! temp dir, the CRI plugin pointed at the test's CNI bin and conf dirs.
//!
//! Config version 2: the format of containerd 1.5–1.7 (Debian 12 ships 1.6), which 2.x still
//! reads and converts.

use std::path::Path;

/// A TOML basic string: a JSON string literal is one (same escapes).
fn s(path: &Path) -> String {
    serde_json::Value::String(path.display().to_string()).to_string()
}

/// The `config.toml` of an instance living in `dir`.
pub(super) fn render(dir: &Path, cni_bin: &Path, cni_conf: &Path, sandbox_image: &str) -> String {
    format!(
        r#"version = 2
root = {root}
state = {state}
# Snapshotters this test does not use: they only log errors on a machine without them.
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = {sock}

[ttrpc]
  address = {ttrpc}

[plugins."io.containerd.internal.v1.opt"]
  path = {opt}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = {image}
  # Root here lacks CAP_SYS_RESOURCE: the sandbox's default oom_score_adj (-998) cannot be
  # set, so keep it at containerd's own.
  restrict_oom_score_adj = true
  disable_apparmor = true
  # Sandbox netns under the state dir, not in the host's /run/netns.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    # The image is one small layer; native needs no overlay support from the filesystem.
    snapshotter = "native"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # runc's state, else /run/containerd/runc.
        Root = {runc}

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = {bin}
    conf_dir = {conf}
    max_conf_num = 1
"#,
        root = s(&dir.join("root")),
        state = s(&dir.join("state")),
        sock = s(&dir.join("containerd.sock")),
        ttrpc = s(&dir.join("containerd.sock.ttrpc")),
        opt = s(&dir.join("opt")),
        image = serde_json::Value::String(sandbox_image.into()),
        runc = s(&dir.join("runc")),
        bin = s(cni_bin),
        conf = s(cni_conf),
    )
}
