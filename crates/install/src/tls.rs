//! etcd TLS assets: copied from the mounted secret (`TLS_ASSETS_DIR`) to
//! `/host/etc/cni/net.d/calico-tls`, where the conflist's `etcd_*_file` keys
//! point.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::copy::{copy_file_and_permissions, directory_exists, file_exists};
use crate::{info, warn};

/// The files Calico installs, in its order.
pub const ASSETS: [&str; 3] = ["etcd-ca", "etcd-cert", "etcd-key"];

/// Step 1 of the install: drop whatever a previous install left.
pub fn remove_old(config: &Config) {
    let dir = config.root.host_tls_dir();
    if let Err(e) = fs::remove_dir_all(&dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            warn!("Error removing old TLS directory {}: {e}", dir.display());
        }
    }
}

/// Copies the three assets when at least one exists; a missing one is only a warning.
pub fn install(config: &Config) -> Result<()> {
    if !directory_exists(&config.tls_assets_dir)? {
        return Ok(());
    }
    let mut any = false;
    for name in ASSETS {
        any |= file_exists(&config.tls_asset(name))?;
    }
    if !any {
        info!(
            "No TLS assets found in {}, skipping",
            config.tls_assets_dir.display()
        );
        return Ok(());
    }
    info!("Installing any TLS assets");
    let host_dir = config.root.host_tls_dir();
    fs::create_dir_all(&host_dir)
        .with_context(|| format!("Failed to create directory {}", host_dir.display()))?;
    for name in ASSETS {
        if let Err(e) = copy_file_and_permissions(&config.tls_asset(name), &host_dir.join(name)) {
            warn!("Missing {name}: {e:#}");
        }
    }
    Ok(())
}

/// The `SLEEP=true` refresh: re-copies every regular file of the secret.
/// Hidden entries are skipped: in a Kubernetes secret volume they are the
/// `..data` symlink and timestamped directories, not assets.
pub fn recopy_all(config: &Config) {
    info!("Updating installed secrets");
    let host_dir = config.root.host_tls_dir();
    if let Err(e) = fs::create_dir_all(&host_dir) {
        warn!("Failed to create directory {}: {e}", host_dir.display());
        return;
    }
    let entries = match fs::read_dir(&config.tls_assets_dir) {
        Ok(entries) => entries,
        Err(e) => {
            warn!("{}: {e}", config.tls_assets_dir.display());
            return;
        }
    };
    let mut names: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .filter(|n| !n.to_string_lossy().starts_with('.'))
        .collect();
    names.sort();
    for name in names {
        let src = config.tls_assets_dir.join(&name);
        if !Path::new(&src).is_file() {
            continue;
        }
        if let Err(e) = copy_file_and_permissions(&src, &host_dir.join(&name)) {
            warn!("{e:#}");
        }
    }
}
