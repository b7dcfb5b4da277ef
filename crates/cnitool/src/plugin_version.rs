//! `cnitool version <plugin>`: a plugin's VERSION answer.

use anyhow::Result;
use std::path::Path;

use libcni::runtime::invoke::{get_version_info, split_path};
use libcni::runtime::CniConfig;

/// `plugin` is a plugin name looked up in `CNI_PATH`, or a path to a plugin binary.
pub fn run(plugin: &str) -> Result<()> {
    let info = if plugin.contains('/') {
        get_version_info(Path::new(plugin))?
    } else {
        let path = split_path(&std::env::var("CNI_PATH").unwrap_or_default());
        let cni = CniConfig::new(path.into_iter().map(Into::into).collect());
        cni.get_version_info(plugin)?
    };
    println!("{}", libcni::json::to_indented(&info));
    Ok(())
}
