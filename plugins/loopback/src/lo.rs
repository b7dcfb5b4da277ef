//! The `lo` link inside the container netns. `CNI_IFNAME` is validated by skel but ignored:
//! this plugin only ever works on `lo`.

use ipnetwork::IpNetwork;
use libcni::types::{v100, CniResult};
use libcni::CniError;
use netkit::{NetNs, NetkitError, Netlink};

const LO: &str = "lo";

fn internal(e: NetkitError) -> CniError {
    CniError::internal(e)
}

fn lo_link(nl: &Netlink) -> Result<netkit::Link, CniError> {
    nl.link_by_name(LO)
        .map_err(internal)?
        .ok_or_else(|| CniError::internal("Link not found"))
}

/// Sets `lo` up and returns its first IPv4 and IPv6 addresses, refusing a `lo` that carries a
/// non-loopback address.
pub fn bring_up(netns: &str) -> Result<Vec<IpNetwork>, CniError> {
    let ns = NetNs::open(netns).map_err(internal)?;
    let nl = Netlink::open_in(&ns).map_err(internal)?;
    let lo = lo_link(&nl)?;
    nl.link_set_up(lo.index).map_err(internal)?;
    // One dump for both families (the kernel lists IPv4 before IPv6); the reference checks
    // IPv4 first, then IPv6, which is the same order.
    let addrs = nl.addresses(lo.index, None).map_err(internal)?;
    let mut firsts = Vec::new();
    for v4 in [true, false] {
        let family: Vec<&IpNetwork> = addrs.iter().filter(|a| a.is_ipv4() == v4).collect();
        if let Some(bad) = family.iter().find(|a| !a.ip().is_loopback()) {
            return Err(CniError::internal(format!(
                "loopback interface found with non-loopback address \"{}\"",
                bad.ip()
            )));
        }
        firsts.extend(family.first().map(|a| **a));
    }
    Ok(firsts)
}

/// The new result: built in the 1.x layout and labelled with the config's version, exactly as
/// the reference does (so 0.x configs get a 1.x-shaped result; see README).
pub fn result(cni_version: &str, netns: &str, addrs: &[IpNetwork]) -> CniResult {
    CniResult::V100(v100::Result100 {
        cni_version: cni_version.to_string(),
        interfaces: vec![v100::Interface {
            name: LO.into(),
            mac: "00:00:00:00:00:00".into(),
            sandbox: netns.into(),
            ..Default::default()
        }],
        ips: addrs
            .iter()
            .map(|a| v100::IpConfig {
                interface: Some(0),
                address: *a,
                gateway: None,
            })
            .collect(),
        ..Default::default()
    })
}

/// DEL: no netns, or a netns that no longer exists, is success.
pub fn bring_down(netns: &str) -> Result<(), CniError> {
    if netns.is_empty() {
        return Ok(());
    }
    let ns = match NetNs::open(netns) {
        Ok(ns) => ns,
        Err(NetkitError::NetnsNotFound { .. }) => return Ok(()),
        Err(e) => return Err(internal(e)),
    };
    let nl = Netlink::open_in(&ns).map_err(internal)?;
    let lo = lo_link(&nl)?;
    nl.link_set_down(lo.index).map_err(internal)
}

pub fn check_up(netns: &str) -> Result<(), CniError> {
    let ns = NetNs::open(netns).map_err(internal)?;
    let nl = Netlink::open_in(&ns).map_err(internal)?;
    if !lo_link(&nl)?.up {
        return Err(CniError::internal("loopback interface is down"));
    }
    Ok(())
}
