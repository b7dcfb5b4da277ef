//! `cnitool version <plugin>`: a plugin's VERSION answer.

use anyhow::Result;
use libcni::runtime::{invoke::split_path, CniConfig};

pub fn run(plugin: &str) -> Result<()> {
    let path = split_path(&std::env::var("CNI_PATH").unwrap_or_default());
    let cni = CniConfig::new(path.into_iter().map(Into::into).collect());
    let info = cni.get_version_info(plugin)?;
    println!("{}", libcni::json::to_indented(&info));
    Ok(())
}
