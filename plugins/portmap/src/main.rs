//! CNI `portmap`: forwards host ports to a container (a chained plugin; the container's
//! addresses come from the prevResult). Rules, texts and behaviour follow the reference plugin
//! (containernetworking/plugins v1.9.x), with iptables or nftables as the backend; see the
//! README for the deliberate differences.
//!
//! ADD, per container address family: forwarding rules, then deletion of stale UDP conntrack
//! entries for the mapped host ports, then (IPv4 with snat) `route_localnet` on the host
//! interface routing to the container. DEL removes the rules, CHECK verifies them.

mod backend;
mod config;
mod localnet;

use std::net::{IpAddr, IpAddr::V4};

use firewall::conntrack::{self, PROTOCOL_UDP};
use firewall::portmap::PortMapping;
use firewall::Family;
use ipnetwork::IpNetwork;
use libcni::skel::{self, CmdArgs, Plugin};
use libcni::{code, version, CniError, CniResult, NetConf, PluginInfo};

use backend::{Firewall, HostProbe};
use config::{Backend, Config};

#[global_allocator]
static ALLOC: skel::PluginAllocator = skel::PluginAllocator;

struct Portmap;

fn internal(e: impl std::fmt::Display) -> CniError {
    CniError::internal(e)
}

/// Parses the config for this invocation, with the container ID filled in.
fn load(args: &CmdArgs) -> Result<Config, String> {
    let mut conf = config::parse(&args.stdin_data, &args.ifname, &HostProbe)?;
    conf.attachment.container_id = args.container_id.clone();
    Ok(conf)
}

/// The container addresses in the order upstream handles them: IPv4, then IPv6.
fn container_nets(conf: &Config) -> impl Iterator<Item = IpNetwork> {
    [conf.cont_ipv4, conf.cont_ipv6].into_iter().flatten()
}

/// Deletes conntrack entries of UDP flows to the mapped host ports, so traffic that was going
/// to an earlier container on the same port finds the new one. Failures are only logged.
fn clear_udp_conntrack(mappings: &[PortMapping], container: IpNetwork) {
    let ports: Vec<u16> = mappings
        .iter()
        .filter(|m| m.protocol.eq_ignore_ascii_case("udp"))
        .map(|m| m.host_port as u16) // upstream's uint16 conversion
        .collect();
    let family = Family::of(&container.ip());
    if let Err(e) = conntrack::delete_by_dst_port(family, PROTOCOL_UDP, &ports) {
        eprintln!(
            "failed to delete stale UDP conntrack entries for {}: {e}",
            container.ip()
        );
    }
}

impl Plugin for Portmap {
    fn add(&self, args: &CmdArgs) -> Result<CniResult, CniError> {
        let conf = load(args)
            .and_then(|c| c.check_host_ips().map(|()| c))
            .map_err(|e| internal(format!("failed to parse config: {e}")))?;
        let Some(prev) = &conf.prev_result else {
            return Err(internal("must be called as chained plugin"));
        };
        let att = &conf.attachment;
        if !att.mappings.is_empty() {
            let mut fw = Firewall::new(conf.backend);
            for net in container_nets(&conf) {
                fw.run(|m| m.forward_ports(att, net)).map_err(internal)?;
                clear_udp_conntrack(&att.mappings, net);
                if let (V4(ip), true) = (net.ip(), att.snat) {
                    localnet::enable(ip).map_err(internal)?;
                }
            }
        }
        prev.get_as_version(&conf.cni_version).map_err(internal)
    }

    fn del(&self, args: &CmdArgs) -> Result<(), CniError> {
        let conf = load(args).map_err(|e| internal(format!("failed to parse config: {e}")))?;
        // The attachment's addresses, when the runtime still has its result: they tell
        // nftables rules of this network from the same container's rules of other networks.
        let ips: Option<Vec<IpAddr>> = conf
            .prev_result
            .as_ref()
            .map(|_| container_nets(&conf).map(|n| n.ip()).collect());
        let att = &conf.attachment;
        if att.mappings.is_empty() {
            // Upstream stops here, leaking the rules of a container whose DEL lacks the
            // mappings. The iptables chain is named after network and container alone, so we
            // remove it anyway; nftables rules only when the prevResult's addresses tell this
            // network's rules from other networks'. Never an error: upstream would not try.
            let backend = match (conf.backend, &ips) {
                (Backend::Nftables, None) => return Ok(()),
                (Backend::Auto, None) => Backend::Iptables,
                (backend, _) => backend,
            };
            let _ = Firewall::new(backend).run(|m| m.unforward_ports(att, ips.as_deref()));
            return Ok(());
        }
        Firewall::new(conf.backend)
            .run(|m| m.unforward_ports(att, ips.as_deref()))
            .map_err(internal)
    }

    fn check(&self, args: &CmdArgs) -> Result<(), CniError> {
        let conf = load(args)
            .and_then(|c| c.check_host_ips().map(|()| c))
            .map_err(internal)?;
        if conf.prev_result.is_none() {
            return Err(internal("Required prevResult missing"));
        }
        let att = &conf.attachment;
        if att.mappings.is_empty() {
            return Ok(());
        }
        let mut fw = Firewall::new(conf.backend);
        for net in container_nets(&conf) {
            fw.run(|m| m.check_ports(att, net)).map_err(internal)?;
        }
        Ok(())
    }

    /// Removes this network's iptables chains of containers the runtime no longer knows.
    fn gc(&self, args: &CmdArgs) -> Result<(), CniError> {
        let conf = load(args).map_err(|e| internal(format!("failed to parse config: {e}")))?;
        let net = NetConf::parse(&args.stdin_data).map_err(internal)?;
        // libcni's rule: without the list we cannot tell live containers from stale ones, so
        // keep everything; `null` or `[]` means none is live, so every chain of this network goes.
        let Some(valid) = net.gc_valid_attachments() else {
            return Ok(());
        };
        let valid: Vec<String> = valid.iter().map(|a| a.container_id.clone()).collect();
        let mut fw = Firewall::new(conf.backend);
        fw.run(|m| m.gc(&conf.attachment.network, &valid))
            .map_err(internal)
    }

    /// Ready when the backend's tool works on this host.
    fn status(&self, args: &CmdArgs) -> Result<(), CniError> {
        let conf = load(args).map_err(|e| internal(format!("failed to parse config: {e}")))?;
        let mut fw = Firewall::new(conf.backend);
        fw.run(|m| m.status())
            .map_err(|e| CniError::new(code::PLUGIN_NOT_AVAILABLE, e.to_string()))
    }
}

fn main() {
    skel::run(
        &Portmap,
        &PluginInfo::supports(version::ALL),
        &skel::about("portmap"),
    )
}
