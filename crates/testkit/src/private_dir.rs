//! Running a plugin with a private view of a fixed host directory (Calico's
//! `/var/lib/calico/mtu`, tuning's `/etc/cni/tuning/allowlist.conf`, ...): the plugin reads
//! the real path, the host's directory is never written, and nothing can be left behind.
//!
//! The launcher is a script placed where the plugin binary would be: it enters a private
//! mount namespace (`unshare --mount --propagation private`), mounts a fresh tmpfs over the
//! directory holding only the entries asked for, and execs the plugin with the same
//! environment, stdin and arguments. The mounts die with the plugin process. When the
//! directory does not exist on the host, its nearest existing ancestor is first covered by an
//! overlay whose upper layer is itself on a tmpfs, so the directory can be created there
//! without touching the host.

use std::path::{Path, PathBuf};

/// One entry of the private directory.
pub enum PrivateEntry<'a> {
    /// A regular file with these contents.
    File(&'a str),
    /// An empty directory (reading it as a file fails with EISDIR even as root, which a
    /// mode-000 file would not).
    Dir,
    /// A symbolic link to this target (e.g. `/dev/zero`).
    Symlink(&'a str),
    /// A FIFO nobody writes to.
    Fifo,
}

/// A launcher running a binary with a private `target` directory; see the module docs.
pub struct PrivateDirLauncher {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl PrivateDirLauncher {
    /// `target` is replaced, for the launched process only, by a tmpfs holding exactly
    /// `entries` (names relative to `target`).
    pub fn new(bin: &Path, target: &Path, entries: &[(&str, PrivateEntry<'_>)]) -> Self {
        use std::os::unix::fs::PermissionsExt;
        assert!(
            target.is_absolute(),
            "private directory {} must be absolute",
            target.display()
        );
        let dir = crate::temp_dir();
        let content = dir.path().join("content");
        std::fs::create_dir(&content).unwrap();
        for (name, entry) in entries {
            let p = content.join(name);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            match entry {
                PrivateEntry::File(text) => std::fs::write(&p, text).unwrap(),
                PrivateEntry::Dir => std::fs::create_dir_all(&p).unwrap(),
                PrivateEntry::Symlink(target) => std::os::unix::fs::symlink(target, &p).unwrap(),
                PrivateEntry::Fifo => {
                    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
                    // SAFETY: a valid NUL-terminated path. `cp -a` below copies the FIFO
                    // (and links) as they are.
                    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
                }
            }
        }
        let scratch = dir.path().join("scratch");
        std::fs::create_dir(&scratch).unwrap();
        let script = format!(
            r#"#!/bin/sh
exec unshare --mount --propagation private /bin/sh -c '
set -e
scratch=$1 content=$2 target=$3 bin=$4
shift 4
mount -t tmpfs tmpfs "$scratch"
parent=$target
while [ ! -d "$parent" ]; do parent=$(dirname "$parent"); done
if [ "$parent" != "$target" ]; then
  mkdir "$scratch/upper" "$scratch/work"
  mount -t overlay overlay -o "lowerdir=$parent,upperdir=$scratch/upper,workdir=$scratch/work" "$parent"
  mkdir -p "$target"
fi
mount -t tmpfs tmpfs "$target"
cp -a "$content/." "$target/"
exec "$bin" "$@"
' sh '{}' '{}' '{}' '{}' "$@"
"#,
            scratch.display(),
            content.display(),
            target.display(),
            bin.display()
        );
        // Same file name as the plugin: whatever reads argv[0] sees the usual name.
        let name = bin.file_name().expect("plugin binary has a file name");
        let path = dir.path().join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        PrivateDirLauncher { dir, path }
    }

    /// The launcher to run in place of the plugin binary.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The scratch directory backing this launcher (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The launched process sees exactly the entries; the host sees none of it, whether the
    /// directory exists on the host or not.
    #[test]
    fn private_view_of_existing_and_missing_directories() {
        crate::require_root();
        let host = crate::temp_dir();
        std::fs::write(host.path().join("host-file"), "host").unwrap();
        let missing = host.path().join("a/b");
        for target in [host.path().to_path_buf(), missing.clone()] {
            let l = PrivateDirLauncher::new(
                Path::new("/bin/sh"),
                &target,
                &[
                    ("f", PrivateEntry::File("42")),
                    ("d", PrivateEntry::Dir),
                    ("l", PrivateEntry::Symlink("/dev/null")),
                    ("p", PrivateEntry::Fifo),
                ],
            );
            let script = format!(
                "cat {t}/f; test -d {t}/d && echo dir; test -e {t}/host-file && echo leak; \
                 test \"$(readlink {t}/l)\" = /dev/null && echo link; test -p {t}/p && echo fifo; \
                 true",
                t = target.display()
            );
            let out = std::process::Command::new(l.path())
                .args(["-c", &script])
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), "42dir\nlink\nfifo\n");
            assert!(!missing.exists());
            assert!(!host.path().join("f").exists());
            assert_eq!(
                std::fs::read_to_string(host.path().join("host-file")).unwrap(),
                "host"
            );
        }
    }
}
