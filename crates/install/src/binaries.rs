//! Installing the plugin binaries from the image's `/opt/cni/bin` into every
//! writeable host binary directory (`/host/opt/cni/bin`, `/host/secondary-bin-dir`).

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::config::Config;
use crate::copy::{
    copy_file_and_permissions, destination_up_to_date, file_exists, is_dir_writeable,
};
use crate::{error, info};

/// The installer itself stays in the image, and so does `istio-cni`: the image carries it
/// for `install istio-cni` (Istio's agent), which installs it when Istio is deployed.
fn is_installer(name: &str) -> bool {
    name == "install" || name == "install.exe" || name == crate::istio::PLUGIN
}

pub fn install(config: &Config) -> Result<()> {
    let source_dir = config.root.source_bin_dir();
    let mut written = false;
    for dir in config.root.host_bin_dirs() {
        if let Err(e) = is_dir_writeable(&dir) {
            info!("{} is not writeable, skipping ({e:#})", dir.display());
            continue;
        }
        let mut calico_ok = false;
        for name in source_names(&source_dir)? {
            if is_installer(&name) || config.skip_binary(&name) {
                continue;
            }
            let target = dir.join(&name);
            let source = source_dir.join(&name);
            if !config.update_cni_binaries && file_exists(&target)? {
                info!("Skipping installation of {}", target.display());
                continue;
            }
            if let Err(e) = copy_file_and_permissions(&source, &target) {
                error!("Failed to install {}: {e:#}", target.display());
                bail!("Failed to install {}: {e:#}", target.display());
            }
            // Verify, so a failed write makes the pod retry rather than leave a bad plugin.
            match destination_up_to_date(&source, &target) {
                Ok(true) => {}
                Ok(false) => bail!("Failed to verify installed binary {}", target.display()),
                Err(e) => bail!(
                    "Failed to verify installed binary {}: {e:#}",
                    target.display()
                ),
            }
            calico_ok |= name == "calico";
            info!("Installed {}", target.display());
        }
        info!("Wrote Calico CNI binaries to {}", dir.display());
        written = true;
        if calico_ok {
            info!("CNI plugin version: {}", env!("CARGO_PKG_VERSION"));
        }
    }
    if written {
        return Ok(());
    }
    // Nothing writeable is fine only when the host already has the plugins and
    // we were told not to update them (read-only /opt/cni/bin on immutable OSes).
    if !config.update_cni_binaries {
        for dir in config.root.host_bin_dirs() {
            if file_exists(&dir.join("calico"))? && file_exists(&dir.join("calico-ipam"))? {
                info!(
                    "No writeable directory, but calico and calico-ipam are already in {} and UPDATE_CNI_BINARIES=false",
                    dir.display()
                );
                return Ok(());
            }
        }
    }
    bail!("found no writeable directory, exiting")
}

/// The entries of the image's bin dir, sorted like Go's `os.ReadDir`.
fn source_names(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("open {}", dir.display()))? {
        let entry = entry.with_context(|| format!("read {}", dir.display()))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}
