//! CNI `tuning`, a chained plugin: writes network sysctls and sets link attributes (MAC, MTU,
//! promisc, allmulti, txqlen) of the container interface (ADD), checks them (CHECK), and
//! puts the link attributes back from a backup file (DEL). Behaviour, texts and the backup
//! format follow the reference plugin (containernetworking/plugins v1.9).

mod allowlist;
mod backup;
mod config;

mod link;
mod mac;
mod regex;
mod sysctl;

use libcni::skel::{self, CmdArgs, Plugin};
use libcni::{version, CniError, CniResult, PluginInfo};
use netkit::{NetNs, Netlink};

use crate::backup::Backup;
use crate::config::Conf;

#[global_allocator]
static ALLOC: skel::PluginAllocator = skel::PluginAllocator;

struct Tuning;

impl Plugin for Tuning {
    fn add(&self, args: &CmdArgs) -> Result<CniResult, CniError> {
        let conf = config::parse(&args.stdin_data, &args.args, true)?;
        allowlist::check(conf.sysctls.iter().map(|(key, _)| key.as_str()))?;
        config::check_ifname(&args.ifname)?;
        let prev = conf.prev_result()?;
        let ns = NetNs::open(&args.netns).map_err(CniError::internal)?;

        // Everything that can be refused is refused before anything changes.
        let sysctls = sysctl::resolve(&conf.sysctls, &args.ifname)?;
        let mac = match conf.mac.as_str() {
            "" => None,
            typed => Some(mac::parse(typed).map_err(|e| {
                CniError::internal(format!("invalid args {typed} for MAC addr: {e}"))
            })?),
        };

        if !sysctls.is_empty() {
            in_netns(&ns, || sysctl::write_all(&sysctls))?;
        }
        if conf.changes_link() {
            let nl = netlink(&ns)?;
            let link = link::find(&nl, &args.ifname)?;
            // Saved before the first change, so DEL can undo whatever part of ADD happened.
            link::snapshot(&link, &conf).save(&conf.data_dir, &args.container_id, &args.ifname)?;
            link::apply(&nl, &link, &conf, mac.as_deref())?;
        }

        let result = if conf.mac.is_empty() {
            prev
        } else {
            with_mac(&prev, &args.ifname, &conf.mac)?
        };
        result
            .get_as_version(&conf.cni_version)
            .map_err(CniError::internal)
    }

    fn check(&self, args: &CmdArgs) -> Result<(), CniError> {
        let conf = config::parse(&args.stdin_data, &args.args, true)?;
        conf.prev_result()?
            .to_current()
            .map_err(CniError::internal)?;
        let ns = NetNs::open(&args.netns).map_err(CniError::internal)?;
        let sysctls = sysctl::resolve(&conf.sysctls, &args.ifname)?;
        if !sysctls.is_empty() {
            in_netns(&ns, || sysctl::check_all(&sysctls))?;
        }
        // CHECK always looks at the link (promisc is compared even when not configured).
        let link = match netlink(&ns)?.link_by_name(&args.ifname) {
            Ok(Some(link)) => link,
            _ => {
                return Err(CniError::internal(format!(
                    "Cannot find container link {}",
                    args.ifname
                )))
            }
        };
        link::check(&link, &conf, &args.ifname)
    }

    /// Only a config that does not parse fails DEL; everything after that is best effort and
    /// DEL succeeds whatever happens (no netns, no backup, no link), as the reference does.
    fn del(&self, args: &CmdArgs) -> Result<(), CniError> {
        let conf = config::parse(&args.stdin_data, &args.args, false)?;
        let _ = restore(args, &conf);
        Ok(())
    }
}

/// Runs `f` on a short-lived thread inside the container netns: sysctl files follow the netns
/// of the thread that opens them.
fn in_netns(ns: &NetNs, f: impl FnOnce() -> Result<(), CniError> + Send) -> Result<(), CniError> {
    ns.run(f).map_err(CniError::internal)?
}

/// A netlink socket in the container netns. netkit makes the socket inside the netns and keeps
/// its runtime on this thread; building the runtime on the netns thread instead (to share the
/// sysctl trip) measured about 100 KiB more peak RSS.
fn netlink(ns: &NetNs) -> Result<Netlink, CniError> {
    Netlink::open_in(ns).map_err(CniError::internal)
}

/// DEL's restore; the reason it stopped is of no use to anyone (DEL succeeds regardless), the
/// `Option` only makes the early exits short. The backup is removed only after a full restore.
fn restore(args: &CmdArgs, conf: &Conf) -> Option<()> {
    if args.netns.is_empty() {
        return None;
    }
    let ns = NetNs::open(&args.netns).ok()?;
    let path = backup::file(&conf.data_dir, &args.container_id, &args.ifname);
    let saved = Backup::load(&path).ok()??;
    let nl = netlink(&ns).ok()?;
    let link = nl.link_by_name(&args.ifname).ok()??;
    link::restore(&nl, &link, &saved).ok()?;
    std::fs::remove_file(&path).ok()
}

/// The prevResult, in the 1.x layout, with the MAC of the interfaces named `ifname` set to
/// the configured string as typed (the caller converts it back to the config's version).
fn with_mac(prev: &CniResult, ifname: &str, mac: &str) -> Result<CniResult, CniError> {
    let mut current = prev.to_current().map_err(CniError::internal)?;
    for iface in current.interfaces.iter_mut().filter(|i| i.name == ifname) {
        iface.mac = mac.to_string();
    }
    Ok(CniResult::V100(current))
}

fn main() {
    skel::run(
        &Tuning,
        &PluginInfo::supports(version::ALL),
        &skel::about("tuning"),
    )
}
