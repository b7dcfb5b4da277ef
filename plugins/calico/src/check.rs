//! CHECK, for real (Calico prints `OK` without looking): the prevResult's container interface,
//! addresses and routes, the host veth and its routes, and the stored endpoint must all match;
//! then the IPAM plugin checks its own records.

use std::net::IpAddr;

use datastore::resources::WorkloadEndpointSpec;
use datastore::ResourceKey;
use libcni::runtime::delegate;
use libcni::types::v100;
use libcni::{code, CmdArgs, CniError, CniResult};
use netkit::{NetNs, Netlink, SCOPE_LINK};

use crate::config::{self, NetConf};
use crate::context::{ds_err, Context, Verb};
use crate::dataplane::{self, HOST_MAC_TEXT, IPV4_GATEWAY};
use crate::names;

fn fail(msg: String) -> CniError {
    CniError::new(code::INTERNAL, msg)
}

/// The prevResult in the current result format (a missing one in the reference plugins' words).
fn prev_result(conf: &NetConf) -> Result<v100::Result100, CniError> {
    let prev = conf
        .prev_result
        .as_ref()
        .ok_or_else(|| fail("Required prevResult missing".into()))?;
    let bytes = serde_json::to_vec(prev).map_err(CniError::internal)?;
    CniResult::create(&conf.cni_version, &bytes)
        .and_then(|r| r.to_current())
        .map_err(|e| fail(format!("failed to parse prevResult: {e}")))
}

pub fn check(args: &CmdArgs) -> Result<(), CniError> {
    // The prevResult first, as the reference plugins check it, right after the config: a
    // CHECK that cannot be answered must not get as far as the readiness check, which
    // creates ClusterInformation on a fresh local store.
    let loaded = config::load(&args.stdin_data)?;
    let prev = prev_result(&loaded.conf)?;
    let ctx = Context::from_loaded(args, loaded, Verb::Check)?;
    ctx.check_ready()?;

    // The endpoint.
    let key = ResourceKey::<WorkloadEndpointSpec>::namespaced(
        &ctx.ids.namespace,
        ctx.ids.wep_name(false)?,
    );
    let ep = ctx
        .ds
        .get_resource(&key)
        .map_err(ds_err)?
        .ok_or_else(|| fail(format!("WorkloadEndpoint {} not found", key.name)))?;
    // With the external gRPC dataplane the interfaces are its business (it names the host
    // end): the endpoint and IPAM are what CHECK can verify.
    let host_veth = match &ctx.grpc {
        Some(_) => ep.spec.interface_name.clone(),
        None => names::host_veth_name(&ctx.ids),
    };
    if ep.spec.container_id != args.container_id {
        return Err(fail(format!(
            "WorkloadEndpoint {} belongs to container {:?}",
            key.name, ep.spec.container_id
        )));
    }
    if ep.spec.interface_name != host_veth {
        return Err(fail(format!(
            "WorkloadEndpoint {} names interface {:?}, expected {host_veth:?}",
            key.name, ep.spec.interface_name
        )));
    }
    let mut want: Vec<String> = prev
        .ips
        .iter()
        .map(|i| {
            let p = if i.address.is_ipv4() { 32 } else { 128 };
            format!("{}/{p}", i.address.ip())
        })
        .collect();
    let mut have = ep.spec.ip_networks.clone();
    want.sort();
    have.sort();
    if want != have {
        return Err(fail(format!(
            "WorkloadEndpoint {} has IPs {have:?}, prevResult has {want:?}",
            key.name
        )));
    }

    if ctx.grpc.is_some() {
        return delegate::delegate_check(&ctx.conf.ipam.ipam_type, &args.stdin_data, args);
    }

    // The container side.
    let ns = NetNs::open(&args.netns).map_err(|e| fail(format!("{e}")))?;
    let cont = Netlink::open_in(&ns).map_err(|e| fail(format!("{e}")))?;
    let link = cont
        .link_by_name(&args.ifname)
        .map_err(|e| fail(format!("{e}")))?
        .ok_or_else(|| {
            fail(format!(
                "failed to find container interface {:?}",
                args.ifname
            ))
        })?;
    if link.kind.as_deref() != Some("veth") {
        return Err(fail(format!("interface {:?} is not a veth", args.ifname)));
    }
    if !ep.spec.mac.is_empty() && link.mac.as_deref() != Some(ep.spec.mac.as_str()) {
        return Err(fail(format!(
            "interface {:?} has MAC {:?}, the endpoint says {:?}",
            args.ifname, link.mac, ep.spec.mac
        )));
    }
    let addrs = cont
        .addresses(link.index, None)
        .map_err(|e| fail(format!("{e}")))?;
    for w in &want {
        if !addrs.iter().any(|a| a.to_string() == *w) {
            return Err(fail(format!(
                "container interface {:?} lacks address {w}",
                args.ifname
            )));
        }
    }
    let routes = cont.routes(None).map_err(|e| fail(format!("{e}")))?;
    let has_v4 = prev.ips.iter().any(|i| i.address.is_ipv4());
    if has_v4
        && !routes.iter().any(|r| {
            r.oif == Some(link.index)
                && r.dst.prefix() == 0
                && r.dst.is_ipv4()
                && r.gw == Some(IpAddr::V4(IPV4_GATEWAY))
        })
    {
        let any_v4_via_gw = routes
            .iter()
            .any(|r| r.oif == Some(link.index) && r.gw == Some(IpAddr::V4(IPV4_GATEWAY)));
        if !any_v4_via_gw {
            return Err(fail(format!(
                "no route via {IPV4_GATEWAY} in the container"
            )));
        }
    }
    if prev.ips.iter().any(|i| i.address.is_ipv6())
        && !routes
            .iter()
            .any(|r| r.oif == Some(link.index) && r.dst.is_ipv6() && r.gw.is_some())
    {
        return Err(fail("no IPv6 route via the host in the container".into()));
    }

    // The host side.
    let host = Netlink::open_current().map_err(|e| fail(format!("{e}")))?;
    let hl = host
        .link_by_name(&host_veth)
        .map_err(|e| fail(format!("{e}")))?
        .ok_or_else(|| fail(format!("host interface {host_veth:?} not found")))?;
    if !hl.up {
        return Err(fail(format!("host interface {host_veth:?} is down")));
    }
    if hl.mac.as_deref() != Some(HOST_MAC_TEXT) {
        return Err(fail(format!(
            "host interface {host_veth:?} has MAC {:?}, expected {HOST_MAC_TEXT}",
            hl.mac
        )));
    }
    let skip = ctx.conf.ipam.ipam_type == "calico-ipam" && prev.routes.is_empty();
    if !skip {
        let host_routes = host.routes(None).map_err(|e| fail(format!("{e}")))?;
        for w in &want {
            if !host_routes.iter().any(|r| {
                r.oif == Some(hl.index) && r.dst.to_string() == *w && r.scope == Some(SCOPE_LINK)
            }) {
                return Err(fail(format!("host route {w} dev {host_veth} missing")));
            }
        }
    }
    let _ = dataplane::expected_link_local;

    delegate::delegate_check(&ctx.conf.ipam.ipam_type, &args.stdin_data, args)
}
