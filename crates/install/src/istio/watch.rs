//! What the installer waits on: file events (inotify, as upstream's fsnotify watcher) and
//! SIGTERM/SIGINT (a signalfd, so a signal is just another readable descriptor).

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};

/// Why [`Watcher::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A Create, Write or Remove event on a watched path.
    Changed,
    /// SIGTERM or SIGINT.
    Signal,
    Timeout,
}

/// Blocks SIGTERM and SIGINT for this thread (and threads it starts later) and returns a
/// descriptor that becomes readable when one arrives. Call before starting threads.
pub fn signals() -> Result<OwnedFd> {
    // SAFETY: plain libc calls on a local sigset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            bail!("pthread_sigmask: {}", std::io::Error::last_os_error());
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
        if fd < 0 {
            bail!("signalfd: {}", std::io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

const EVENTS: u32 =
    libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_MODIFY | libc::IN_DELETE | libc::IN_DELETE_SELF;

/// A watch on directories; for each, optionally only events on one file name.
pub struct Watcher {
    fd: OwnedFd,
    /// (watch descriptor, only this name)
    watches: Vec<(i32, Option<Vec<u8>>)>,
}

impl Watcher {
    /// Watches each existing directory of `dirs` (upstream skips paths that do not exist).
    pub fn new(dirs: &[(PathBuf, Option<&str>)]) -> Result<Watcher> {
        // SAFETY: inotify_init1 has no preconditions.
        let raw = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if raw < 0 {
            bail!("inotify_init1: {}", std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut watches = Vec::new();
        for (dir, only) in dirs {
            if !dir.is_dir() {
                continue;
            }
            let c = CString::new(dir.as_os_str().as_bytes())?;
            // SAFETY: a valid descriptor and NUL-terminated path.
            let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), EVENTS) };
            if wd < 0 {
                bail!(
                    "watch {}: {}",
                    dir.display(),
                    std::io::Error::last_os_error()
                );
            }
            watches.push((wd, only.map(|n| n.as_bytes().to_vec())));
        }
        Ok(Watcher { fd, watches })
    }

    /// Whether the queued events include one that counts; drains the queue.
    fn drain(&self) -> bool {
        let mut buf = [0u8; 8192];
        let mut hit = false;
        loop {
            // SAFETY: reading into a local buffer of the given size.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                )
            };
            if n <= 0 {
                return hit;
            }
            let mut off = 0usize;
            let head = std::mem::size_of::<libc::inotify_event>();
            while off + head <= n as usize {
                // SAFETY: the kernel wrote whole events; read the header unaligned.
                let ev: libc::inotify_event = unsafe {
                    std::ptr::read_unaligned(buf[off..].as_ptr() as *const libc::inotify_event)
                };
                let name_bytes = &buf[off + head..off + head + ev.len as usize];
                let name: Vec<u8> = name_bytes.iter().copied().take_while(|b| *b != 0).collect();
                let wanted = self
                    .watches
                    .iter()
                    .find(|(wd, _)| *wd == ev.wd)
                    .map(|(_, only)| only.as_ref().is_none_or(|o| *o == name))
                    .unwrap_or(ev.mask & libc::IN_IGNORED == 0);
                if wanted && ev.mask & EVENTS != 0 {
                    hit = true;
                }
                off += head + ev.len as usize;
            }
        }
    }

    /// Waits for an event that counts, a signal on `signal`, or `timeout`.
    pub fn wait(&self, signal: &OwnedFd, timeout: Option<Duration>) -> Wake {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            let mut fds = [
                libc::pollfd {
                    fd: signal.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            let ms = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Wake::Timeout;
                    }
                    left.as_millis().min(i32::MAX as u128) as i32
                }
                None => -1,
            };
            // SAFETY: two valid pollfds.
            let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
            if rc < 0 {
                continue; // EINTR
            }
            if fds[0].revents & libc::POLLIN != 0 {
                return Wake::Signal;
            }
            if fds[1].revents & libc::POLLIN != 0 && self.drain() {
                return Wake::Changed;
            }
            if rc == 0 {
                return Wake::Timeout;
            }
        }
    }
}

/// Whether a signal is pending on `signal` (without waiting).
pub fn signalled(signal: &OwnedFd) -> bool {
    let mut fd = libc::pollfd {
        fd: signal.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    unsafe { libc::poll(&mut fd, 1, 0) > 0 && fd.revents & libc::POLLIN != 0 }
}

/// A watcher on one directory, any event.
pub fn dir(path: &Path) -> Result<Watcher> {
    Watcher::new(&[(path.to_path_buf(), None)])
}
