//! Network namespace handles.
//!
//! A `NetNs` is an open file descriptor on a namespace file (`/run/netns/x`,
//! `/proc/<pid>/ns/net`). Code runs inside a namespace only on a dedicated,
//! short-lived thread (`NetNs::run`): setns(2) changes the calling thread, so
//! doing it on a shared thread would risk leaking the switch into unrelated
//! work (the bug class Go's `ns.Do` fights with `LockOSThread`).

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sched::{sched_getaffinity, sched_setaffinity, setns, CloneFlags, CpuSet};
use nix::sys::stat::fstat;
use nix::sys::statfs::{statfs, NSFS_MAGIC, PROC_SUPER_MAGIC};
use nix::unistd::Pid;

use crate::{NetkitError, Result};

/// The namespace file of the calling thread. `thread-self` rather than
/// `self`: `/proc/self` is the thread-group leader, which may sit in another
/// netns than the thread asking.
const CURRENT_THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// An open network namespace.
#[derive(Debug)]
pub struct NetNs {
    file: File,
    path: PathBuf,
}

impl NetNs {
    /// Opens the namespace at `path`, checking first that it is a namespace
    /// file at all, with the same checks and error texts as Go's `ns.GetNS`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let fs = statfs(path).map_err(|errno| match errno {
            Errno::ENOENT => NetkitError::NetnsNotFound {
                path: path.to_path_buf(),
            },
            errno => NetkitError::Statfs {
                path: path.to_path_buf(),
                errno: errno as i32,
            },
        })?;

        // Namespace files live on nsfs; old kernels exposed them on procfs.
        let fs_type = fs.filesystem_type();
        if fs_type != NSFS_MAGIC && fs_type != PROC_SUPER_MAGIC {
            // f_type is a signed long on glibc, unsigned on musl; kernel
            // magics are 32-bit so the conversion never changes them.
            #[allow(clippy::unnecessary_cast)]
            let magic = fs_type.0 as u64;
            return Err(NetkitError::NotNetns {
                path: path.to_path_buf(),
                magic,
            });
        }

        // std opens with O_RDONLY | O_CLOEXEC.
        let file = File::open(path).map_err(|source| NetkitError::Io {
            op: "open",
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The network namespace of the calling thread.
    pub fn current() -> Result<Self> {
        Self::open(CURRENT_THREAD_NETNS)
    }

    /// The path this namespace was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when both handles refer to the same namespace (same device and
    /// inode), whatever paths they were opened from.
    pub fn same_as(&self, other: &NetNs) -> Result<bool> {
        let a = self.stat()?;
        let b = other.stat()?;
        Ok(a.st_dev == b.st_dev && a.st_ino == b.st_ino)
    }

    fn stat(&self) -> Result<nix::sys::stat::FileStat> {
        fstat(self.file.as_fd()).map_err(|errno| NetkitError::Io {
            op: "stat",
            path: self.path.clone(),
            source: errno.into(),
        })
    }

    /// Runs `f` inside this namespace and returns its value.
    ///
    /// `f` runs on a new thread that enters the namespace and then exits, so
    /// the switch can never leak into the caller or into a reused thread. A
    /// panic in `f` is resumed on the caller's thread.
    ///
    /// `/proc/sys/net` and netlink sockets opened inside `f` belong to this
    /// namespace; file descriptors stay bound to it after `f` returns.
    pub fn run<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let fd = self.file.as_fd();
        let path = self.path.as_path();
        let _pin = PinToCurrentCpu::new();
        std::thread::scope(|scope| {
            // Unnamed: naming costs a prctl on a path every plugin invocation takes.
            let worker = std::thread::Builder::new()
                .spawn_scoped(scope, move || {
                    setns(fd, CloneFlags::CLONE_NEWNET).map_err(|errno| NetkitError::Setns {
                        path: path.to_path_buf(),
                        errno: errno as i32,
                    })?;
                    Ok(f())
                })
                .map_err(NetkitError::Thread)?;
            match worker.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

/// Keeps the calling thread, and so the worker it spawns, on its current CPU until dropped.
///
/// The caller only waits for the worker, so the worker might as well run where the caller
/// sits. Left alone, the scheduler starts it on an idle CPU and then wakes the caller on its
/// own idle CPU again; on a VM each of those wake-ups is an expensive IPI, and together they
/// cost more than the worker's whole job. Best effort: if affinity cannot be read or set, the
/// thread simply runs unpinned.
struct PinToCurrentCpu(Option<CpuSet>);

impl PinToCurrentCpu {
    fn new() -> Self {
        let me = Pid::from_raw(0);
        // SAFETY: sched_getcpu has no preconditions.
        let cpu = unsafe { libc::sched_getcpu() };
        let (Ok(old), Ok(cpu)) = (sched_getaffinity(me), usize::try_from(cpu)) else {
            return PinToCurrentCpu(None);
        };
        let mut only = CpuSet::new();
        if only.set(cpu).is_err() || sched_setaffinity(me, &only).is_err() {
            return PinToCurrentCpu(None);
        }
        PinToCurrentCpu(Some(old))
    }
}

impl Drop for PinToCurrentCpu {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            let _ = sched_setaffinity(Pid::from_raw(0), old);
        }
    }
}

impl AsFd for NetNs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_path_is_not_found_with_go_text() {
        let err = NetNs::open("/nonexistent/netns/nope").unwrap_err();
        assert!(matches!(err, NetkitError::NetnsNotFound { .. }));
        assert!(err.is_not_found());
        assert_eq!(
            err.to_string(),
            r#"failed to Statfs "/nonexistent/netns/nope": no such file or directory"#
        );
    }

    #[test]
    fn non_namespace_path_reports_fs_magic_in_hex() {
        // The expected magic is whatever /tmp is on this machine (ext4:
        // ef53, tmpfs: 1021994, ...), printed the way Go's %x does.
        let magic = statfs("/tmp").unwrap().filesystem_type().0;
        let err = NetNs::open("/tmp").unwrap_err();
        assert!(matches!(err, NetkitError::NotNetns { .. }));
        assert_eq!(
            err.to_string(),
            format!(r#"unknown FS magic on "/tmp": {magic:x}"#)
        );
    }

    #[test]
    fn statfs_error_other_than_enoent_keeps_errno_text() {
        // A path through a regular file fails with ENOTDIR.
        let err = NetNs::open("/proc/self/stat/x").unwrap_err();
        assert!(matches!(err, NetkitError::Statfs { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            r#"failed to Statfs "/proc/self/stat/x": not a directory"#
        );
    }

    #[test]
    fn current_namespace_opens_and_equals_itself() {
        // Opening your own namespace file needs no privilege.
        let a = NetNs::current().unwrap();
        let b = NetNs::open("/proc/self/ns/net").unwrap();
        assert_eq!(a.path(), Path::new(CURRENT_THREAD_NETNS));
        assert!(a.same_as(&b).unwrap());
    }
}
