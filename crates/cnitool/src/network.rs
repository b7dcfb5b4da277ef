//! The network commands: add, check, del, gc, status.

use std::path::PathBuf;

use anyhow::{bail, Result};
use libcni::runtime::{
    invoke::split_path, load_conf_list, load_file, CniConfig, NetworkConfigList, RuntimeConf,
};

use crate::cli::{Global, NetArgs};
use crate::{netns, runtime_args};

const DEFAULT_NET_DIR: &str = "/etc/cni/net.d";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

/// The network: `--conf FILE` (whose name must match), else by name in NETCONFPATH.
fn load_network(global: &Global, name: &str) -> Result<NetworkConfigList> {
    if let Some(file) = &global.conf {
        let list = load_file(file)?;
        if list.name != name {
            bail!(
                "{} defines network {}, not {}",
                file.display(),
                libcni::json::go_quote(&list.name),
                libcni::json::go_quote(name)
            );
        }
        return Ok(list);
    }
    let dir = match env("NETCONFPATH") {
        d if d.is_empty() => DEFAULT_NET_DIR.to_string(),
        d => d,
    };
    Ok(load_conf_list(std::path::Path::new(&dir), name)?)
}

fn cni_config(global: &Global) -> CniConfig {
    let path: Vec<PathBuf> = split_path(&env("CNI_PATH"))
        .into_iter()
        .map(Into::into)
        .collect();
    CniConfig {
        path,
        cache_dir: global.cache_dir.clone(),
    }
}

/// The netns path: the positional one, or /run/netns/NAME with --netns-create.
fn netns_path(net: &NetArgs, create: bool, required: bool) -> Result<Option<PathBuf>> {
    match (&net.netns, &net.netns_create) {
        (Some(_), Some(_)) => bail!("give either <NETNS> or --netns-create, not both"),
        (Some(p), None) => Ok(Some(runtime_args::abs_path(p)?)),
        (None, Some(name)) => Ok(Some(netns::named(name, create)?)),
        (None, None) if required => bail!("missing <NETNS> (or --netns-create NAME)"),
        (None, None) => Ok(None),
    }
}

/// Everything a network command needs, read as Go cnitool reads it.
struct Setup {
    cni: CniConfig,
    list: NetworkConfigList,
    rt: RuntimeConf,
}

fn setup(global: &Global, net: &NetArgs, create_netns: bool) -> Result<Setup> {
    let list = load_network(global, &net.network)?;
    let capability_args = runtime_args::parse_cap_args(&env("CAP_ARGS"))?;
    let args = runtime_args::parse_cni_args(&env("CNI_ARGS"))?;
    let ifname = match global.ifname.as_deref() {
        None | Some("") => "eth0".to_string(),
        Some(i) => i.to_string(),
    };
    let netns = netns_path(net, create_netns, true)?.unwrap_or_default();
    let rt = RuntimeConf {
        container_id: runtime_args::container_id(&netns),
        netns: netns.display().to_string(),
        ifname,
        args,
        capability_args,
        cache_dir: None,
    };
    Ok(Setup {
        cni: cni_config(global),
        list,
        rt,
    })
}

pub fn add(global: &Global, net: &NetArgs) -> Result<()> {
    let s = setup(global, net, true)?;
    let result = s.cni.add_network_list(&s.list, &s.rt)?;
    // Go's Result.Print: 4-space indent, no trailing newline.
    print!("{}", result.to_json());
    Ok(())
}

pub fn check(global: &Global, net: &NetArgs) -> Result<()> {
    let s = setup(global, net, true)?;
    Ok(s.cni.check_network_list(&s.list, &s.rt)?)
}

pub fn del(global: &Global, net: &NetArgs, delete_netns: bool) -> Result<()> {
    let s = setup(global, net, false)?;
    s.cni.del_network_list(&s.list, &s.rt)?;
    if delete_netns {
        if let Some(name) = &net.netns_create {
            netns::delete(name)?;
        }
    }
    Ok(())
}

/// GC without a valid-attachment list, as Go cnitool does: every cached attachment of the
/// network is deleted. The netns argument is accepted but not needed.
pub fn gc(global: &Global, net: &NetArgs) -> Result<()> {
    let list = load_network(global, &net.network)?;
    netns_path(net, false, false)?;
    Ok(cni_config(global).gc_network_list(&list, None)?)
}

pub fn status(global: &Global, net: &NetArgs) -> Result<()> {
    let list = load_network(global, &net.network)?;
    netns_path(net, false, false)?;
    Ok(cni_config(global).get_status_network_list(&list)?)
}
