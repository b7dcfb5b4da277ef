//! `--netns-create` / `--netns-delete`: named network namespaces under /run/netns, managed
//! with iproute2 like `ip netns add|delete`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

const NETNS_DIR: &str = "/run/netns";

fn path_of(name: &str) -> Result<PathBuf> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        bail!("invalid netns name {}", libcni::json::go_quote(name));
    }
    Ok(PathBuf::from(NETNS_DIR).join(name))
}

fn ip_netns(verb: &str, name: &str) -> Result<()> {
    let out = Command::new("ip")
        .args(["netns", verb, name])
        .output()
        .with_context(|| format!("running ip netns {verb} {name}"))?;
    if !out.status.success() {
        bail!(
            "ip netns {verb} {name} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The path of the named netns, created first when `create` is set and it does not exist.
pub fn named(name: &str, create: bool) -> Result<PathBuf> {
    let path = path_of(name)?;
    if create && !path.exists() {
        ip_netns("add", name)?;
    }
    Ok(path)
}

/// Deletes the named netns if it exists.
pub fn delete(name: &str) -> Result<()> {
    if path_of(name)?.exists() {
        ip_netns("delete", name)?;
    }
    Ok(())
}
