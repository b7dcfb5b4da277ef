//! The best-effort host-wide IPAM lock (`ipam_lock_file`, default `/var/run/calico/ipam.lock`):
//! serialises this host's plugin processes so they do not race each other on the host's
//! block. Any failure just means running unlocked, as in Calico.

use std::fs::{DirBuilder, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use calicolog::{error, info};

pub const DEFAULT_LOCK_FILE: &str = "/var/run/calico/ipam.lock";

/// How long the IPAM work under the lock may take: Calico's context, started once the lock is
/// held, so time spent waiting for the lock does not count.
pub const IPAM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(90);

/// Held until dropped (closing the descriptor drops the flock).
pub struct HostLock(Option<File>);

impl Drop for HostLock {
    fn drop(&mut self) {
        if self.0.take().is_some() {
            info!("Released host-wide IPAM lock.");
        }
    }
}

/// Takes the host lock, then starts the datastore's 90 s deadline.
pub fn acquire(path: &str, ds: &datastore::Datastore) -> HostLock {
    let lock = acquire_lock(path);
    ds.set_timeout(Some(IPAM_TIMEOUT));
    lock
}

fn acquire_lock(path: &str) -> HostLock {
    info!("About to acquire host-wide IPAM lock.");
    let lock = try_lock(path);
    match lock.0 {
        Some(_) => info!("Acquired host-wide IPAM lock."),
        None => error!("Failed to grab IPAM lock, may contend for datastore updates"),
    }
    lock
}

fn try_lock(path: &str) -> HostLock {
    let path = if path.is_empty() {
        DEFAULT_LOCK_FILE
    } else {
        path
    };
    if let Some(dir) = Path::new(path).parent() {
        let _ = DirBuilder::new().recursive(true).mode(0o777).create(dir);
    }
    let Ok(file) = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
    else {
        return HostLock(None);
    };
    loop {
        // SAFETY: a valid descriptor we own.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc == 0 {
            return HostLock(Some(file));
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return HostLock(None);
        }
    }
}
