//! The Linux dataplane (Calico's `dataplane/linux`): a veth pair per workload, the host end
//! with a fixed MAC, proxy ARP/NDP and a /32 or /128 route per workload IP; the container end
//! with the workload's addresses and routes via a link-scoped dummy gateway (169.254.1.1) or
//! the host end's IPv6 link-local address.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use calicolog::{debug, warning};
use ipnetwork::IpNetwork;
use libcni::types::v100::Result100;
use libcni::{code, CniError};
use netkit::{IpFamily, NetNs, NetkitError, Netlink, Route, SCOPE_LINK};

pub const HOST_MAC: [u8; 6] = [0xee; 6];
pub const HOST_MAC_TEXT: &str = "ee:ee:ee:ee:ee:ee";
pub const IPV4_GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

/// What one ADD asks of the dataplane.
pub struct Request<'a> {
    pub netns: &'a str,
    pub ifname: &'a str,
    pub host_veth: &'a str,
    /// 0 = kernel default.
    pub mtu: u32,
    pub queues: u32,
    pub allow_ip_forwarding: bool,
    /// Container routes (destinations), of both families.
    pub routes: &'a [IpNetwork],
    pub skip_host_routes: bool,
    /// A MAC for the container end (the `hwAddr` annotation).
    pub container_mac: Option<[u8; 6]>,
}

fn err(msg: impl Into<String>) -> CniError {
    CniError::new(code::INTERNAL, msg)
}

fn nk(context: &str) -> impl Fn(NetkitError) -> CniError + '_ {
    move |e| err(format!("{context}: {e}"))
}

/// Forces result IPs to /32 and /128 (Calico narrows whatever the IPAM returned).
pub fn narrow(result: &mut Result100) {
    for ip in &mut result.ips {
        let prefix = if ip.address.is_ipv4() { 32 } else { 128 };
        ip.address = IpNetwork::new(ip.address.ip(), prefix).expect("full-length prefix");
    }
}

/// The veth pair of one workload, made before its addresses are known, so that it can be
/// made while the IPAM plugin runs. Dropping it without [`Pair::configure`] leaves the links;
/// call [`Pair::remove`] to take them back.
pub struct Pair {
    host: Netlink,
    cont: Netlink,
    cont_ns: NetNs,
    cont_index: u32,
    host_index: u32,
    /// The container end's MAC as the kernel made it.
    cont_mac: String,
}

/// Steps 1–3 of Calico's `DoNetworking`: a stale host link of the same name goes, the pair is
/// created in the container with its peer straight in the host netns, the host end gets its
/// fixed MAC. Nothing here depends on the workload's addresses.
pub fn create_pair(req: &Request) -> Result<Pair, CniError> {
    let host_ns = NetNs::current().map_err(nk("failed to open the host netns"))?;
    let host = Netlink::open_current().map_err(nk("failed to open netlink"))?;

    // 1. A stale host link of the same name goes first.
    if let Some(old) = host
        .link_by_name(req.host_veth)
        .map_err(nk("failed to look up host veth"))?
    {
        debug!("deleting existing host link {}", req.host_veth);
        host.link_delete(old.index)
            .map_err(nk("failed to delete existing host link"))?;
    }

    let cont_ns = NetNs::open(req.netns)
        .map_err(|e| err(format!("failed to open netns {:?}: {e}", req.netns)))?;
    let cont = Netlink::open_in(&cont_ns).map_err(nk("failed to open netlink in netns"))?;

    // 2. The pair.
    let mtu = (req.mtu > 0).then_some(req.mtu);
    let cont_link = if req.queues > 1 {
        cont.veth_create_with_queues(req.ifname, req.host_veth, Some(&host_ns), mtu, req.queues)
    } else {
        cont.veth_create(req.ifname, req.host_veth, Some(&host_ns), mtu)
    }
    .map_err(|e| {
        err(format!(
            "failed to create veth pair {:?} <-> {:?}: {e}",
            req.ifname, req.host_veth
        ))
    })?;
    let mut pair = Pair {
        host,
        cont,
        cont_ns,
        cont_index: cont_link.index,
        host_index: 0,
        cont_mac: cont_link.mac.clone().unwrap_or_default(),
    };
    // Past this point a failure removes the pair again (deleting one end deletes both).
    match pair.host_end(req) {
        Ok(index) => pair.host_index = index,
        Err(e) => {
            pair.remove();
            return Err(e);
        }
    }
    // 3. The host end's MAC, read back until it sticks (udev may race to set its own).
    set_host_mac(&pair.host, pair.host_index, req.host_veth);
    Ok(pair)
}

impl Pair {
    fn host_end(&self, req: &Request) -> Result<u32, CniError> {
        Ok(self
            .host
            .link_by_name(req.host_veth)
            .map_err(nk("failed to look up host veth"))?
            .ok_or_else(|| {
                err(format!(
                    "failed to look up {:?}: Link not found",
                    req.host_veth
                ))
            })?
            .index)
    }

    /// The container end's MAC once configured: `requested` (the hwAddr annotation) if any,
    /// else the one the kernel gave it (a veth keeps it).
    pub fn container_mac(&self, requested: Option<[u8; 6]>) -> String {
        match requested {
            Some(m) => m
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
            None => self.cont_mac.clone(),
        }
    }

    /// Deletes both ends (best effort: this is already a failure path).
    pub fn remove(&self) {
        let _ = self.cont.link_delete(self.cont_index);
    }

    /// The rest of `DoNetworking` with the workload's addresses; on failure the pair is
    /// removed.
    pub fn configure(self, req: &Request, result: &Result100) -> Result<(), CniError> {
        let configured = self.configure_inner(req, result);
        if configured.is_err() {
            self.remove();
        }
        configured
    }

    fn configure_inner(&self, req: &Request, result: &Result100) -> Result<(), CniError> {
        let has_v4 = result.ips.iter().any(|i| i.address.is_ipv4());
        let has_v6 = result.ips.iter().any(|i| i.address.is_ipv6());
        let (host, cont, cont_ns) = (&self.host, &self.cont, &self.cont_ns);
        let (host_index, cont_index) = (self.host_index, self.cont_index);

        // 5. No DAD inside the container: addresses must be usable at once.
        if has_v6 {
            sysctl_in(
                cont_ns,
                &format!("net/ipv6/conf/{}/accept_dad", req.ifname),
                "0",
                true,
            )?;
        }
        // 6. Host sysctls.
        host_sysctls(req.host_veth, has_v4, has_v6)?;

        // 7. Both ends up.
        host.link_set_up(host_index)
            .map_err(nk("failed to set host veth up"))?;
        cont.link_set_up(cont_index)
            .map_err(nk("failed to set container veth up"))?;

        // 8. hwAddr annotation.
        if let Some(mac) = req.container_mac {
            cont.link_set_mac(cont_index, &mac)
                .map_err(nk("failed to set container MAC"))?;
        }
        // 9. IPv4: a link route to the dummy gateway, then every IPv4 route via it.
        if has_v4 {
            let mut gw_route = Route::new(IpNetwork::new(IpAddr::V4(IPV4_GATEWAY), 32).unwrap());
            gw_route.oif = Some(cont_index);
            gw_route.scope = Some(SCOPE_LINK);
            add_route(cont, &gw_route).map_err(nk("failed to add route inside the container"))?;
            for dst in req.routes.iter().filter(|r| r.is_ipv4()) {
                let mut r = Route::new(*dst);
                r.oif = Some(cont_index);
                r.gw = Some(IpAddr::V4(IPV4_GATEWAY));
                add_route(cont, &r).map_err(|e| {
                    err(format!(
                        "failed to add IP route {dst} via {IPV4_GATEWAY}: {e}"
                    ))
                })?;
            }
        }

        // 10. IPv6: enable it in the container, route via the host end's link-local address.
        if has_v6 {
            for k in ["all", "default", "lo"] {
                sysctl_in(
                    cont_ns,
                    &format!("net/ipv6/conf/{k}/disable_ipv6"),
                    "0",
                    true,
                )?;
            }
            let gw = host_link_local(host, host_index, req.host_veth)?;
            for dst in req.routes.iter().filter(|r| r.is_ipv6()) {
                let mut r = Route::new(*dst);
                r.oif = Some(cont_index);
                r.gw = Some(gw);
                add_route(cont, &r)
                    .map_err(|e| err(format!("failed to add IPv6 route {dst} via {gw}: {e}")))?;
            }
        }

        // 11. Addresses.
        for ip in &result.ips {
            cont.address_add(cont_index, ip.address).map_err(|e| {
                err(format!(
                    "failed to add IP addr {} to {:?}: {e}",
                    ip.address, req.ifname
                ))
            })?;
        }

        // 12. Forwarding inside the container.
        let fwd = if req.allow_ip_forwarding { "1" } else { "0" };
        if has_v4 {
            sysctl_in(cont_ns, "net/ipv4/ip_forward", fwd, true)?;
        }
        if has_v6 {
            sysctl_in(cont_ns, "net/ipv6/conf/all/forwarding", fwd, true)?;
        }

        // 13. Host routes.
        if !req.skip_host_routes {
            setup_host_routes(host, host_index, req.host_veth, result)?;
        }
        Ok(())
    }
}

/// Adds a route; one already there is fine (a retried ADD).
fn add_route(nl: &Netlink, r: &Route) -> netkit::Result<()> {
    match nl.route_add(r) {
        Err(e) if e.is_exists() => Ok(()),
        other => other,
    }
}

fn set_host_mac(host: &Netlink, index: u32, name: &str) {
    for _ in 0..50 {
        if let Err(e) = host.link_set_mac(index, &HOST_MAC) {
            warning!("failed to set MAC of {name}, keeping the kernel's: {e}");
            return;
        }
        match host.link_by_index(index) {
            Ok(Some(l)) if l.mac.as_deref() == Some(HOST_MAC_TEXT) => return,
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    warning!("MAC of {name} did not stick");
}

fn sysctl_in(ns: &NetNs, key: &str, value: &str, required: bool) -> Result<(), CniError> {
    let r = ns.run(|| netkit::sysctl_set(key, value)).and_then(|r| r);
    match r {
        Ok(()) => Ok(()),
        Err(e) if required => Err(err(format!(
            "failed to set {}={value}: {e}",
            key.replace('/', ".")
        ))),
        Err(e) => {
            warning!("failed to set {}={value}: {e}", key.replace('/', "."));
            Ok(())
        }
    }
}

fn sysctl_here(key: &str, value: &str, required: bool) -> Result<(), CniError> {
    match netkit::sysctl_set(key, value) {
        Ok(()) => Ok(()),
        Err(e) if required => Err(err(format!(
            "failed to set {}={value}: {e}",
            key.replace('/', ".")
        ))),
        Err(e) => {
            warning!("failed to set {}={value}: {e}", key.replace('/', "."));
            Ok(())
        }
    }
}

/// The host end's sysctls, in the plugin's own (host) netns.
fn host_sysctls(h: &str, v4: bool, v6: bool) -> Result<(), CniError> {
    if v4 {
        sysctl_here(&format!("net/ipv4/conf/{h}/route_localnet"), "1", true)?;
        sysctl_here(&format!("net/ipv4/neigh/{h}/proxy_delay"), "0", false)?;
        sysctl_here(&format!("net/ipv4/conf/{h}/proxy_arp"), "1", true)?;
        sysctl_here(&format!("net/ipv4/conf/{h}/forwarding"), "1", true)?;
    }
    if v6 {
        sysctl_here(&format!("net/ipv6/conf/{h}/accept_dad"), "0", true)?;
        sysctl_here(&format!("net/ipv6/conf/{h}/disable_ipv6"), "0", true)?;
        sysctl_here(&format!("net/ipv6/conf/{h}/proxy_ndp"), "1", true)?;
        sysctl_here(&format!("net/ipv6/conf/{h}/forwarding"), "1", true)?;
    }
    sysctl_here(&format!("net/ipv6/conf/{h}/accept_ra"), "0", false)
}

/// The EUI-64 link-local address of ee:ee:ee:ee:ee:ee.
pub fn expected_link_local() -> IpAddr {
    "fe80::ecee:eeff:feee:eeee".parse().unwrap()
}

/// Waits for the host end's link-local address; if the kernel derived it from another MAC,
/// bounces the link so it is derived again from ee:ee:...
fn host_link_local(host: &Netlink, index: u32, name: &str) -> Result<IpAddr, CniError> {
    let want = expected_link_local();
    for attempt in 0..10 {
        let addrs = host
            .addresses(index, Some(IpFamily::V6))
            .map_err(nk("failed to list host veth addresses"))?;
        let ll: Vec<IpAddr> = addrs
            .iter()
            .map(|a| a.ip())
            .filter(|ip| matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80))
            .collect();
        if ll.contains(&want) {
            return Ok(want);
        }
        if !ll.is_empty() && attempt >= 5 {
            return Ok(ll[0]);
        }
        if !ll.is_empty() {
            let _ = host.link_set_down(index);
            let _ = host.link_set_up(index);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(err(format!(
        "failed to get IPv6 link-local address of host interface {name:?}"
    )))
}

/// One `<ip>/32|128 dev <hostveth> scope link` route per workload IP. An existing identical
/// route is fine; one through another interface is an error naming it.
fn setup_host_routes(
    host: &Netlink,
    index: u32,
    name: &str,
    result: &Result100,
) -> Result<(), CniError> {
    for ip in &result.ips {
        let mut r = Route::new(ip.address);
        r.oif = Some(index);
        r.scope = Some(SCOPE_LINK);
        match host.route_add(&r) {
            Ok(()) => {}
            Err(e) if e.is_exists() => {
                let all = host.routes(None).map_err(nk("error listing routes"))?;
                if all
                    .iter()
                    .any(|x| x.oif == Some(index) && x.dst == r.dst && x.scope == r.scope)
                {
                    continue;
                }
                let other = all.iter().find(|x| x.dst.ip() == r.dst.ip());
                let (oidx, oname, oscope) = match other {
                    Some(x) => {
                        let n = x
                            .oif
                            .and_then(|i| host.link_by_index(i).ok().flatten())
                            .map(|l| l.name)
                            .unwrap_or_default();
                        (x.oif.unwrap_or(0), n, x.scope.unwrap_or(0))
                    }
                    None => (0, String::new(), 0),
                };
                return Err(err(format!(
                    "error adding host side routes for interface: {name}, error: route (Ifindex: {index}, Dst: {}, Scope: link) already exists for an interface other than '{name}': route (Ifindex: {oidx}, Dst: {}, Scope: {}, Iface: {oname})",
                    r.dst, r.dst, scope_name(oscope)
                )));
            }
            Err(e) => {
                return Err(err(format!(
                    "error adding host side routes for interface: {name}, error: failed to add route (Ifindex: {index}, Dst: {}, Scope: link, Iface: {name}): {e}",
                    r.dst
                )))
            }
        }
    }
    Ok(())
}

fn scope_name(s: u8) -> &'static str {
    match s {
        0 => "universe",
        253 => "link",
        254 => "host",
        _ => "unknown",
    }
}

/// Deletes the container interface (which takes the host end with it). A missing netns or
/// link is success, as in Calico.
pub fn cleanup_interface(netns: &str, ifname: &str) -> Result<(), CniError> {
    if netns.is_empty() {
        return Ok(());
    }
    let ns = match NetNs::open(netns) {
        Ok(ns) => ns,
        Err(e) if e.is_not_found() || !std::path::Path::new(netns).exists() => return Ok(()),
        Err(e) => return Err(err(format!("failed to open netns {netns:?}: {e}"))),
    };
    let nl = Netlink::open_in(&ns).map_err(nk("failed to open netlink in netns"))?;
    match nl
        .link_by_name(ifname)
        .map_err(nk("failed to look up link"))?
    {
        None => Ok(()),
        Some(l) => match nl.link_delete(l.index) {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(err(format!("failed to delete link {ifname:?}: {e}"))),
        },
    }
}
