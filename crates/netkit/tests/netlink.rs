//! Links, addresses, routes and veth pairs against the real kernel, each
//! test in its own throwaway namespace. Needs root.

use std::net::IpAddr;
use std::process::Command;

use netkit::ipnetwork::IpNetwork;
use netkit::{IpFamily, Link, NetNs, Netlink, Route, SCOPE_LINK, TABLE_MAIN};
use testkit::{require_root, TempNetns};

fn net(s: &str) -> IpNetwork {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A namespace with its handle and a netlink client inside it.
struct Ns {
    tmp: TempNetns,
    ns: NetNs,
    nl: Netlink,
}

impl Ns {
    fn new() -> Self {
        let tmp = TempNetns::new();
        let ns = NetNs::open(tmp.path()).unwrap();
        let nl = Netlink::open_in(&ns).unwrap();
        Self { tmp, ns, nl }
    }

    fn link(&self, name: &str) -> Link {
        self.nl
            .link_by_name(name)
            .unwrap()
            .unwrap_or_else(|| panic!("no link {name} in {}", self.tmp.name()))
    }
}

#[test]
fn open_in_does_not_move_the_caller() {
    require_root();
    let before = NetNs::current().unwrap();
    let ns = Ns::new();
    assert!(NetNs::current().unwrap().same_as(&before).unwrap());
    // The client sees the namespace's links, not the host's: only lo.
    let names: Vec<String> = ns.nl.links().unwrap().into_iter().map(|l| l.name).collect();
    assert_eq!(names, ["lo"]);
}

#[test]
fn loopback_up_and_its_addresses() {
    require_root();
    let ns = Ns::new();
    let lo = ns.link("lo");
    assert!(!lo.up, "a fresh namespace has lo down");
    assert_eq!(lo.index, 1);
    assert_eq!(lo.kind, None);
    assert!(ns.nl.addresses(lo.index, None).unwrap().is_empty());

    ns.nl.link_set_up(lo.index).unwrap();
    let lo = ns.link("lo");
    assert!(lo.up);
    assert_eq!(lo.mac.as_deref(), Some("00:00:00:00:00:00"));

    assert_eq!(
        ns.nl.addresses(lo.index, Some(IpFamily::V4)).unwrap(),
        [net("127.0.0.1/8")]
    );
    assert_eq!(
        ns.nl.addresses(lo.index, Some(IpFamily::V6)).unwrap(),
        [net("::1/128")]
    );
    let all = ns.nl.addresses(lo.index, None).unwrap();
    assert!(
        all.contains(&net("127.0.0.1/8")) && all.contains(&net("::1/128")),
        "{all:?}"
    );

    // `ip` agrees that lo is up.
    let shown = ns.tmp.ip_stdout(&["-o", "link", "show", "lo"]);
    assert!(shown.contains("<LOOPBACK,UP,LOWER_UP>"), "{shown}");

    ns.nl.link_set_down(lo.index).unwrap();
    assert!(!ns.link("lo").up);
}

#[test]
fn missing_link_is_none() {
    require_root();
    let ns = Ns::new();
    assert_eq!(ns.nl.link_by_name("nosuchlink0").unwrap(), None);
    assert_eq!(ns.nl.link_by_name("a-name-longer-than-15").unwrap(), None);
    assert_eq!(ns.nl.link_by_index(9999).unwrap(), None);
    let err = ns.nl.link_set_up(9999).unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = ns.nl.link_delete(9999).unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[test]
fn veth_between_two_namespaces() {
    require_root();
    let a = Ns::new();
    let b = Ns::new();

    let local =
        a.nl.veth_create("eth0", "peer0", Some(&b.ns), Some(1400))
            .unwrap();
    assert_eq!(local.name, "eth0");
    assert_eq!(local.kind.as_deref(), Some("veth"));
    assert_eq!(local.mtu, Some(1400));
    assert!(!local.up);

    let peer = b.link("peer0");
    assert_eq!(peer.kind.as_deref(), Some("veth"));
    assert_eq!(peer.mtu, Some(1400));
    // The peer exists only in b.
    assert_eq!(a.nl.link_by_name("peer0").unwrap(), None);
    assert_eq!(b.nl.link_by_name("eth0").unwrap(), None);
    // Each end names the other as its IFLA_LINK.
    assert_eq!(local.parent_index, Some(peer.index));
    assert_eq!(peer.parent_index, Some(local.index));

    // Creating it again collides.
    let err =
        a.nl.veth_create("eth0", "peer1", Some(&b.ns), None)
            .unwrap_err();
    assert!(err.is_exists(), "{err}");

    // Deleting one end removes both.
    a.nl.link_delete(local.index).unwrap();
    assert_eq!(a.nl.link_by_name("eth0").unwrap(), None);
    assert_eq!(b.nl.link_by_name("peer0").unwrap(), None);
}

#[test]
fn veth_in_one_namespace_and_move_an_end() {
    require_root();
    let a = Ns::new();
    let b = Ns::new();
    let local = a.nl.veth_create("va", "vb", None, None).unwrap();
    let vb = a.link("vb");
    assert_eq!(local.parent_index, Some(vb.index));

    a.nl.link_move_to_netns(vb.index, &b.ns).unwrap();
    assert_eq!(a.nl.link_by_name("vb").unwrap(), None);
    assert_eq!(b.link("vb").kind.as_deref(), Some("veth"));
}

/// Removes a host-side link by name when dropped, even on panic.
struct HostLinkGuard(String);

impl Drop for HostLinkGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

#[test]
fn veth_between_host_and_namespace() {
    require_root();
    let ns = Ns::new();
    let host = Netlink::open_current().unwrap();
    let host_name = format!("nkt{:x}", std::process::id());
    let _guard = HostLinkGuard(host_name.clone());

    // Created from inside the namespace with the peer in the host, the way
    // the Go plugins' SetupVeth does it.
    let host_ns = NetNs::current().unwrap();
    let cont = ns
        .nl
        .veth_create("eth0", &host_name, Some(&host_ns), Some(1450))
        .unwrap();
    let host_end = host
        .link_by_name(&host_name)
        .unwrap()
        .expect("host end missing");
    assert_eq!(host_end.kind.as_deref(), Some("veth"));
    assert_eq!(host_end.mtu, Some(1450));
    assert_eq!(cont.mtu, Some(1450));
    assert_eq!(host_end.parent_index, Some(cont.index));

    host.link_set_up(host_end.index).unwrap();
    ns.nl.link_set_up(cont.index).unwrap();
    assert!(host.link_by_index(host_end.index).unwrap().unwrap().up);

    // Deleting the namespace end removes the host end too.
    ns.nl.link_delete(cont.index).unwrap();
    assert_eq!(host.link_by_name(&host_name).unwrap(), None);
}

#[test]
fn link_attributes_round_trip() {
    require_root();
    let ns = Ns::new();
    let link = ns.nl.veth_create("v0", "v1", None, None).unwrap();
    let i = link.index;

    ns.nl.link_set_mtu(i, 1280).unwrap();
    ns.nl
        .link_set_mac(i, &[0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc])
        .unwrap();
    ns.nl.link_set_promisc(i, true).unwrap();
    ns.nl.link_set_allmulti(i, true).unwrap();
    ns.nl.link_set_txqlen(i, 500).unwrap();

    let got = ns.nl.link_by_index(i).unwrap().unwrap();
    assert_eq!(got.mtu, Some(1280));
    assert_eq!(got.mac.as_deref(), Some("02:00:00:aa:bb:cc"));
    assert!(got.promisc);
    assert!(got.allmulti);
    assert_eq!(got.txqlen, Some(500));

    let shown = ns.tmp.ip_stdout(&["-d", "link", "show", "v0"]);
    for needle in [
        "PROMISC",
        "ALLMULTI",
        "mtu 1280",
        "qlen 500",
        "02:00:00:aa:bb:cc",
    ] {
        assert!(shown.contains(needle), "{needle} not in {shown}");
    }

    ns.nl.link_set_promisc(i, false).unwrap();
    ns.nl.link_set_allmulti(i, false).unwrap();
    let got = ns.nl.link_by_index(i).unwrap().unwrap();
    assert!(!got.promisc && !got.allmulti);

    // Renaming keeps the index.
    ns.nl.link_set_name(i, "renamed0").unwrap();
    assert_eq!(ns.link("renamed0").index, i);
    assert_eq!(ns.nl.link_by_name("v0").unwrap(), None);

    // Out-of-range values come back as kernel errors, not panics.
    let err = ns.nl.link_set_mtu(i, 10).unwrap_err();
    assert_eq!(err.errno(), Some(libc::EINVAL), "{err}");
}

#[test]
fn addresses_add_and_delete() {
    require_root();
    let ns = Ns::new();
    let link = ns.nl.veth_create("v0", "v1", None, None).unwrap();
    let i = link.index;

    ns.nl.address_add(i, net("10.99.1.5/24")).unwrap();
    ns.nl.address_add(i, net("fd00:99::5/64")).unwrap();

    assert_eq!(
        ns.nl.addresses(i, Some(IpFamily::V4)).unwrap(),
        [net("10.99.1.5/24")]
    );
    let v6 = ns.nl.addresses(i, Some(IpFamily::V6)).unwrap();
    assert!(v6.contains(&net("fd00:99::5/64")), "{v6:?}");

    let shown = ns.tmp.ip_stdout(&["-4", "-o", "addr", "show", "dev", "v0"]);
    assert!(
        shown.contains("inet 10.99.1.5/24 brd 10.99.1.255"),
        "{shown}"
    );

    let err = ns.nl.address_add(i, net("10.99.1.5/24")).unwrap_err();
    assert!(err.is_exists(), "{err}");

    ns.nl.address_del(i, net("10.99.1.5/24")).unwrap();
    assert!(ns.nl.addresses(i, Some(IpFamily::V4)).unwrap().is_empty());
    let err = ns.nl.address_del(i, net("10.99.1.5/24")).unwrap_err();
    assert!(err.is_not_found(), "{err}");

    ns.nl.address_del(i, net("fd00:99::5/64")).unwrap();
    assert!(!ns
        .nl
        .addresses(i, Some(IpFamily::V6))
        .unwrap()
        .contains(&net("fd00:99::5/64")));
}

#[test]
fn routes_add_list_replace_delete() {
    require_root();
    let ns = Ns::new();
    let link = ns.nl.veth_create("v0", "v1", None, None).unwrap();
    let peer = ns.link("v1");
    let i = link.index;
    ns.nl.link_set_up(peer.index).unwrap();
    ns.nl.link_set_up(i).unwrap();
    ns.nl.address_add(i, net("10.99.2.1/24")).unwrap();

    // The kernel's connected route is listed.
    let routes = ns.nl.routes(Some(IpFamily::V4)).unwrap();
    let connected = routes
        .iter()
        .find(|r| r.dst == net("10.99.2.0/24"))
        .unwrap_or_else(|| panic!("no connected route in {routes:?}"));
    assert_eq!(connected.oif, Some(i));
    assert_eq!(connected.scope, Some(SCOPE_LINK));
    assert_eq!(connected.table, Some(TABLE_MAIN));

    // A gateway route with metrics.
    let mut route = Route::new(net("192.168.50.0/24"));
    route.gw = Some(ip("10.99.2.254"));
    route.oif = Some(i);
    route.priority = Some(100);
    route.mtu = Some(1300);
    route.advmss = Some(1200);
    ns.nl.route_add(&route).unwrap();

    let got = ns
        .nl
        .routes(Some(IpFamily::V4))
        .unwrap()
        .into_iter()
        .find(|r| r.dst == route.dst)
        .expect("route not listed");
    assert_eq!(got.gw, route.gw);
    assert_eq!(got.oif, Some(i));
    assert_eq!(got.priority, Some(100));
    assert_eq!(got.mtu, Some(1300));
    assert_eq!(got.advmss, Some(1200));

    let shown = ns.tmp.ip_stdout(&["route", "show", "192.168.50.0/24"]);
    assert!(shown.contains("via 10.99.2.254 dev v0"), "{shown}");
    assert!(
        shown.contains("mtu 1300") && shown.contains("advmss 1200"),
        "{shown}"
    );

    let err = ns.nl.route_add(&route).unwrap_err();
    assert!(err.is_exists(), "{err}");

    // Replace changes the MTU in place.
    route.mtu = Some(1250);
    ns.nl.route_replace(&route).unwrap();
    let got: Vec<Route> = ns
        .nl
        .routes(Some(IpFamily::V4))
        .unwrap()
        .into_iter()
        .filter(|r| r.dst == route.dst)
        .collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].mtu, Some(1250));

    // Default route; a destination with host bits is masked like Go does.
    let mut default = Route::new(net("0.0.0.0/0"));
    default.gw = Some(ip("10.99.2.254"));
    ns.nl.route_add(&default).unwrap();
    let mut device = Route::new(net("172.30.1.7/16"));
    device.oif = Some(i);
    device.scope = Some(SCOPE_LINK);
    ns.nl.route_add(&device).unwrap();
    let listed = ns.nl.routes(None).unwrap();
    assert!(
        listed
            .iter()
            .any(|r| r.dst == net("0.0.0.0/0") && r.gw == default.gw),
        "{listed:?}"
    );
    assert!(
        listed
            .iter()
            .any(|r| r.dst == net("172.30.0.0/16") && r.scope == Some(SCOPE_LINK)),
        "{listed:?}"
    );
    let shown = ns.tmp.ip_stdout(&["route", "show", "default"]);
    assert!(shown.contains("default via 10.99.2.254 dev v0"), "{shown}");

    // Delete matches on the fields given; deleting again is not-found.
    ns.nl
        .route_del(&Route::new(net("192.168.50.0/24")))
        .unwrap();
    let err = ns.nl.route_del(&route).unwrap_err();
    assert!(err.is_not_found(), "{err}");
    ns.nl.route_del(&default).unwrap();
    ns.nl.route_del(&Route::new(net("172.30.0.0/16"))).unwrap();
    let left = ns.nl.routes(Some(IpFamily::V4)).unwrap();
    assert_eq!(
        left.len(),
        1,
        "only the connected route should remain: {left:?}"
    );
}

#[test]
fn ipv6_routes_and_other_tables() {
    require_root();
    let ns = Ns::new();
    let link = ns.nl.veth_create("v0", "v1", None, None).unwrap();
    let i = link.index;
    ns.nl.link_set_up(i).unwrap();

    let mut route = Route::new(net("fd00:50::/64"));
    route.oif = Some(i);
    route.table = Some(1000);
    ns.nl.route_add(&route).unwrap();

    // Not in main, but in table 1000 and in the all-tables listing.
    assert!(!ns
        .nl
        .routes(Some(IpFamily::V6))
        .unwrap()
        .iter()
        .any(|r| r.dst == route.dst));
    let in_table = ns
        .nl
        .routes_in_table(Some(IpFamily::V6), Some(1000))
        .unwrap();
    assert_eq!(in_table.len(), 1, "{in_table:?}");
    assert_eq!(in_table[0].dst, route.dst);
    assert_eq!(in_table[0].table, Some(1000));
    assert!(ns
        .nl
        .routes_in_table(None, None)
        .unwrap()
        .iter()
        .any(|r| r.dst == route.dst));

    let shown = ns.tmp.ip_stdout(&["-6", "route", "show", "table", "1000"]);
    assert!(shown.contains("fd00:50::/64 dev v0"), "{shown}");

    ns.nl.route_del(&route).unwrap();
    assert!(ns
        .nl
        .routes_in_table(Some(IpFamily::V6), Some(1000))
        .unwrap()
        .is_empty());
}
