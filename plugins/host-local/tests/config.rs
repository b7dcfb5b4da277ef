//! The reference's `config_test.go`, `range_test.go` and `range_set_test.go` scenarios,
//! observed through our binary: what ADD allocates, or the error it prints.

mod common;

use common::*;
use serde_json::{json, Value};

/// ADD with `ipam` (+ top-level `extra`) in a fresh store.
fn add_with(version: &str, ipam: Value, extra: Value, args: &str) -> testkit::PluginRun {
    let data = DataDir::new();
    let stdin = conf(version, "mynet", data.path(), ipam, extra);
    call(ours(), "ADD", "ctr", "eth0", args, &stdin)
}

fn ranges_error(ranges: Value) -> String {
    msg_of(&add_with("1.0.0", json!({"ranges": ranges}), json!({}), ""))
}

#[test]
fn old_style_config() {
    let run = add_with(
        "0.3.1",
        json!({"subnet": "10.1.2.0/24", "rangeStart": "10.1.2.9", "rangeEnd": "10.1.2.20",
               "gateway": "10.1.2.30"}),
        json!({"master": "foo0"}),
        "",
    );
    let v = run.json();
    assert_eq!(v["ips"][0]["address"], "10.1.2.9/24", "{run}");
    assert_eq!(v["ips"][0]["gateway"], "10.1.2.30");
    assert_eq!(v["ips"][0]["version"], "4");
}

#[test]
fn new_style_defaults() {
    // 10.1.4.0/24 defaults to 10.1.4.1-10.1.4.254 with gateway .1 (skipped, so .2 first).
    let data = DataDir::new();
    let stdin = conf(
        "1.0.0",
        "mynet",
        data.path(),
        json!({"ranges": [[{"subnet": "10.1.4.0/24"}]]}),
        json!({"args": {"cni": {"ips": ["10.1.4.254"]}}}),
    );
    let v = add(ours(), "a", "eth0", &stdin).json();
    assert_eq!(v["ips"][0]["gateway"], "10.1.4.1");
    assert_eq!(
        msg_of(&add(ours(), "b", "eth0", &stdin)),
        "failed to allocate for range 0: requested IP address 10.1.4.254 is not available in range set 10.1.4.1-10.1.4.254"
    );
    let fresh = mynet(&data, json!({"ranges": [[{"subnet": "10.1.5.0/24"}]]}));
    assert_eq!(ips_of(&add(ours(), "c", "eth0", &fresh)), ["10.1.5.2/24"]);
}

#[test]
fn runtime_ranges_then_legacy_then_ranges() {
    let run = add_with(
        "1.0.0",
        json!({"subnet": "10.1.2.0/24", "ranges": [[{"subnet": "10.1.3.0/24"}]]}),
        json!({"runtimeConfig": {"ipRanges": [[{"subnet": "10.1.1.0/24"}]]}}),
        "",
    );
    assert_eq!(ips_of(&run), ["10.1.1.2/24", "10.1.2.2/24", "10.1.3.2/24"]);
}

#[test]
fn env_ip_comes_before_args_ips() {
    let run = add_with(
        "1.0.0",
        json!({"subnet": "10.1.2.0/24"}),
        json!({"args": {"cni": {"ips": ["10.1.2.11/24"]}}}),
        "IP=10.1.2.10",
    );
    assert_eq!(
        msg_of(&run),
        "failed to allocate all requested IPs: 10.1.2.11",
        "the CNI_ARGS address is taken first"
    );
}

#[test]
fn runtime_config_ips() {
    let run = add_with(
        "1.0.0",
        json!({"ranges": [
            [{"subnet": "192.168.0.0/29", "rangeEnd": "192.168.0.2", "gateway": "192.168.0.6"}],
            [{"subnet": "192.168.0.4/30", "gateway": "192.168.0.6"}],
            [{"subnet": "2001:db8::/64", "gateway": "2001:db8::ffff"}]
        ]}),
        json!({"runtimeConfig": {"ips": ["192.168.0.1", "192.168.0.5/24", "2001:db8::1/64"]}}),
        "",
    );
    assert_eq!(
        ips_of(&run),
        ["192.168.0.1/29", "192.168.0.5/30", "2001:db8::1/64"]
    );
}

#[test]
fn overlapping_range_sets() {
    assert_eq!(
        ranges_error(json!([[{"subnet": "10.1.2.0/24"}], [{"subnet": "10.1.2.0/24"}]])),
        "range set 0 overlaps with 1"
    );
    assert_eq!(
        ranges_error(json!([[{"subnet": "10.1.0.0/22"}, {"subnet": "10.1.2.0/24"}]])),
        "invalid range set 0: subnets 10.1.0.1-10.1.3.254 and 10.1.2.1-10.1.2.254 overlap"
    );
    assert_eq!(
        ranges_error(json!([[{"subnet": "10.1.0.0/22"}, {"subnet": "2001:db8:5::/64"}]])),
        "invalid range set 0: mixed address families"
    );
    // Across sets, by the range (not the subnet): the first set's range is inside the second's.
    assert_eq!(
        ranges_error(json!([
            [{"subnet": "192.168.0.0/24"}, {"subnet": "172.16.1.0/24"}],
            [{"subnet": "10.0.0.0/8"}, {"subnet": "172.16.0.0/16"}]
        ])),
        "range set 0 overlaps with 1"
    );
}

#[test]
fn one_address_per_family_below_0_3_0() {
    for version in ["0.1.0", "0.2.0"] {
        let run = add_with(
            version,
            json!({"ranges": [[{"subnet": "10.1.2.0/24"}], [{"subnet": "10.1.3.0/24"}]]}),
            json!({}),
            "",
        );
        assert_eq!(
            msg_of(&run),
            format!("CNI version {version} does not support more than 1 address per family")
        );
        let run = add_with(
            version,
            json!({"ranges": [[{"subnet": "10.1.2.0/24"}], [{"subnet": "2001:db8:1::/64"}]]}),
            json!({}),
            "",
        );
        let v = run.json();
        assert_eq!(v["ip4"]["ip"], "10.1.2.2/24", "{run}");
        assert_eq!(v["ip6"]["ip"], "2001:db8:1::2/64");
    }
    // No cniVersion is 0.1.0; the message shows it empty, as Go's does.
    let data = DataDir::new();
    let stdin = json!({"name": "mynet", "ipam": {"dataDir": data.path(),
        "ranges": [[{"subnet": "10.1.2.0/24"}], [{"subnet": "10.1.3.0/24"}]]}})
    .to_string();
    assert_eq!(
        msg_of(&add(ours(), "ctr", "eth0", &stdin)),
        "CNI version  does not support more than 1 address per family"
    );
}

#[test]
fn range_defaults_show_in_range_texts() {
    assert_eq!(
        ranges_error(json!([[{"subnet": "192.0.2.0/25"}, {"subnet": "192.0.2.0/24"}]])),
        "invalid range set 0: subnets 192.0.2.1-192.0.2.126 and 192.0.2.1-192.0.2.254 overlap"
    );
    assert_eq!(
        ranges_error(json!([[{"subnet": "2001:DB8:1::/64"}, {"subnet": "2001:db8:1::/48"}]])),
        "invalid range set 0: subnets 2001:db8:1::1-2001:db8:1:0:ffff:ffff:ffff:ffff and 2001:db8:1::1-2001:db8:1:ffff:ffff:ffff:ffff:ffff overlap"
    );
}

#[test]
fn range_validation_errors() {
    let one = |range: Value| ranges_error(json!([[range]]));
    for (subnet, prefix, network) in [
        ("192.0.2.12/24", 24, "192.0.2.0"),
        ("2001:DB8:1::24:19ff:fee1:c44a/64", 64, "2001:db8:1::"),
        ("2001:DB8:24:19ff::/63", 63, "2001:db8:24:19fe::"),
        ("192.168.127.0/23", 23, "192.168.126.0"),
    ] {
        assert_eq!(
            one(json!({"subnet": subnet})),
            format!("invalid range set 0: Network has host bits set. For a subnet mask of length {prefix} the network address is {network}")
        );
    }
    assert_eq!(
        one(json!({"subnet": "192.0.2.0/31"})),
        "invalid range set 0: Network 192.0.2.0/31 too small to allocate from"
    );
    assert_eq!(
        one(json!({"subnet": "192.0.2.0/24", "rangeStart": "192.0.3.0"})),
        "invalid range set 0: RangeStart 192.0.3.0 not in network 192.0.2.0/24"
    );
    assert_eq!(
        one(json!({"subnet": "192.0.2.0/24", "rangeEnd": "192.0.4.0"})),
        "invalid range set 0: RangeEnd 192.0.4.0 not in network 192.0.2.0/24"
    );
    assert_eq!(
        one(
            json!({"subnet": "192.0.2.0/24", "rangeStart": "192.0.2.50", "rangeEnd": "192.0.2.40"})
        ),
        "invalid range set 0: RangeStart 192.0.2.50 not in network 192.0.2.0/24"
    );
    assert_eq!(
        one(json!({"subnet": "::ffff:10.0.0.0/120"})),
        "invalid range set 0: IPNet IP and Mask version mismatch"
    );
    assert_eq!(
        one(json!({})),
        "invalid range set 0: IP <nil> not v4 nor v6"
    );
    assert_eq!(
        ranges_error(json!([[]])),
        "invalid range set 0: empty range set"
    );
    assert_eq!(ranges_error(json!([])), "no IP ranges specified");
}

#[test]
fn all_range_fields_parse_and_bounds_are_inclusive() {
    let data = DataDir::new();
    let stdin = |ip: &str| {
        conf(
            "1.0.0",
            "mynet",
            data.path(),
            json!({"ranges": [[{"subnet": "192.0.2.0/24", "rangeStart": "192.0.2.40",
                                "rangeEnd": "192.0.2.50", "gateway": "192.0.2.254"}],
                              [{"subnet": "2001:db8:1::/64", "rangeStart": "2001:db8:1::40",
                                "rangeEnd": "2001:db8:1::50"}]]}),
            json!({"args": {"cni": {"ips": [ip]}}}),
        )
    };
    let v = add(ours(), "a", "eth0", &stdin("192.0.2.40")).json();
    assert_eq!(
        v["ips"][0],
        json!({"address": "192.0.2.40/24", "gateway": "192.0.2.254"})
    );
    assert_eq!(v["ips"][1]["address"], "2001:db8:1::40/64");
    assert_eq!(
        ips_of(&add(ours(), "b", "eth0", &stdin("192.0.2.50")))[0],
        "192.0.2.50/24"
    );
    assert_eq!(
        ips_of(&add(ours(), "c", "eth0", &stdin("2001:db8:1::50")))[1],
        "2001:db8:1::50/64"
    );
    for outside in [
        "192.0.2.39",
        "192.0.2.51",
        "2001:db8:1::39",
        "2001:db8:1::51",
    ] {
        assert_eq!(
            msg_of(&add(ours(), "d", "eth0", &stdin(outside))),
            format!("failed to allocate all requested IPs: {outside}")
        );
    }
}

#[test]
fn overlap_table() {
    let set = |a: Value, b: Value| add_with("1.0.0", json!({"ranges": [[a, b]]}), json!({}), "");
    let r = |subnet: &str, start: &str, end: &str| json!({"subnet": subnet, "rangeStart": start, "rangeEnd": end});
    // Disjoint, and split at .127/.128: fine.
    set(
        json!({"subnet": "10.0.0.0/24"}),
        json!({"subnet": "10.0.1.0/24"}),
    )
    .assert_success();
    set(
        r("10.0.0.0/24", "10.0.0.1", "10.0.0.127"),
        r("10.0.0.0/24", "10.0.0.128", "10.0.0.254"),
    )
    .assert_success();
    // Different families never overlap (across sets).
    add_with(
        "1.0.0",
        json!({"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "2001:db8::/64"}]]}),
        json!({}),
        "",
    )
    .assert_success();
    // Identical, containing, sharing .127: overlap.
    for (a, b) in [
        (
            json!({"subnet": "10.0.0.0/24"}),
            json!({"subnet": "10.0.0.0/24"}),
        ),
        (
            json!({"subnet": "10.0.0.0/20"}),
            json!({"subnet": "10.0.1.0/24"}),
        ),
        (
            r("10.0.0.0/24", "10.0.0.1", "10.0.0.127"),
            r("10.0.0.0/24", "10.0.0.127", "10.0.0.254"),
        ),
    ] {
        let msg = msg_of(&set(a, b));
        assert!(msg.ends_with("overlap"), "{msg}");
    }
}

#[test]
fn range_set_membership() {
    let run = add_with(
        "1.0.0",
        json!({"ranges": [[{"subnet": "192.168.0.0/24"}, {"subnet": "172.16.1.0/24"}]]}),
        json!({"args": {"cni": {"ips": ["172.16.1.254"]}}}),
        "",
    );
    assert_eq!(ips_of(&run), ["172.16.1.254/24"]);
    let run = add_with(
        "1.0.0",
        json!({"ranges": [[{"subnet": "192.168.0.0/24"}, {"subnet": "172.16.1.0/24"}]]}),
        json!({"args": {"cni": {"ips": ["192.168.99.99"]}}}),
        "",
    );
    assert_eq!(
        msg_of(&run),
        "failed to allocate all requested IPs: 192.168.99.99"
    );
}

#[test]
fn decode_errors_read_like_go() {
    let ipam_error = |ipam: Value| msg_of(&add_with("1.0.0", ipam, json!({}), ""));
    assert_eq!(
        ipam_error(json!({"subnet": 5})),
        "json: cannot unmarshal number into Go struct field IPAMConfig.ipam.subnet of type string"
    );
    assert_eq!(
        ipam_error(json!({"ranges": [[{"subnet": "10.0.0.0/8", "rangeStart": 5}]]})),
        "json: cannot unmarshal number into Go struct field Range.ipam.ranges.rangeStart of type net.IP"
    );
    assert_eq!(
        ipam_error(json!({"ranges": [5]})),
        "json: cannot unmarshal number into Go struct field IPAMConfig.ipam.ranges of type allocator.RangeSet"
    );
    assert_eq!(
        ipam_error(json!({"subnet": "10.0.0.0/8", "routes": [{"dst": "1.0.0.0/8", "gw": 5}]})),
        "json: cannot unmarshal number into Go struct field IPAMConfig.ipam.routes of type net.IP"
    );
    assert_eq!(
        ipam_error(json!({"subnet": "10.0.0.0/8", "routes": [{"dst": "1.0.0.0/8", "mtu": "x"}]})),
        "json: cannot unmarshal string into Go struct field IPAMConfig.ipam.routes of type int"
    );
    assert_eq!(
        ipam_error(json!({"subnet": "10.1.2.0/24x"})),
        "invalid CIDR address: 10.1.2.0/24x"
    );
    assert_eq!(
        ipam_error(json!({"subnet": null})),
        "invalid CIDR address: "
    );
    assert_eq!(
        ipam_error(json!({"subnet": "10.0.0.0/8", "gateway": "x"})),
        "invalid IP address: x"
    );
    assert_eq!(
        msg_of(&add_with(
            "1.0.0",
            json!({"subnet": "10.0.0.0/8"}),
            json!({"runtimeConfig": {"ips": [5]}}),
            ""
        )),
        "json: cannot unmarshal number into Go struct field .runtimeConfig.ips of type *ip.IP"
    );
    assert_eq!(
        msg_of(&add_with(
            "1.0.0",
            json!({"subnet": "10.0.0.0/8"}),
            json!({"args": {"cni": {"ips": ["x"]}}}),
            ""
        )),
        "invalid IP address x"
    );
    // Go panics on a null entry; we refuse it like an empty one.
    for bad in [json!(""), json!(null)] {
        assert_eq!(
            msg_of(&add_with(
                "1.0.0",
                json!({"subnet": "10.0.0.0/8"}),
                json!({"args": {"cni": {"ips": [bad]}}}),
                ""
            )),
            "cannot understand ip: IP <nil> not v4 nor v6"
        );
    }
    let data = DataDir::new();
    let no_ipam = json!({"cniVersion": "1.0.0", "name": "mynet"}).to_string();
    assert_eq!(
        msg_of(&add(ours(), "c", "eth0", &no_ipam)),
        "IPAM config missing 'ipam' key"
    );
    assert_eq!(
        msg_of(&del(ours(), "c", "eth0", &no_ipam)),
        "IPAM config missing 'ipam' key",
        "DEL loads the config too"
    );
    drop(data);
}

#[test]
fn config_errors_match_go_host_local() {
    // The same bad configs through Debian's Go host-local: identical error JSON.
    let go = go();
    for ipam in [
        json!({"subnet": 5}),
        json!({"ranges": 5}),
        json!({"ranges": [[5]]}),
        json!({"routes": [5]}),
        json!({"ranges": [[{}]]}),
        json!({"ranges": [[{"subnet": "10.0.0.0/8"}, {"subnet": "10.1.0.0/16"}]]}),
        json!({"ranges": [[{"subnet": "10.0.0.0/8"}], [{"subnet": "10.1.0.0/16"}]]}),
        json!({"ranges": [[{"subnet": "10.0.0.1/24"}]]}),
        json!({"ranges": [[{"subnet": "10.0.0.0/24", "rangeEnd": "10.0.1.5"}]]}),
        json!({"subnet": "10.0.0.0/8", "resolvConf": "/nonexistent/resolv.conf"}),
        json!({"subnet": "10.0.0.0/8", "routes": [{"dst": "x"}]}),
        json!({"subnet": "10.0.0.0/8", "resolvConf": true}),
    ] {
        let (a, b) = (DataDir::new(), DataDir::new());
        let ours_run = add(
            ours(),
            "c",
            "eth0",
            &conf("1.0.0", "n", a.path(), ipam.clone(), json!({})),
        );
        let go_run = add(
            &go,
            "c",
            "eth0",
            &conf("1.0.0", "n", b.path(), ipam.clone(), json!({})),
        );
        assert_eq!(ours_run.stdout, go_run.stdout, "{ipam}");
        assert_eq!(ours_run.code, go_run.code);
    }
}
