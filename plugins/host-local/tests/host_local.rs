//! The reference's `host_local_test.go` scenarios, through our binary, for every spec version.

mod common;

use common::*;
use serde_json::{json, Value};

fn legacy(v: &Value) -> bool {
    v.get("ip4").is_some() || v.get("ip6").is_some()
}

#[test]
fn allocates_and_releases_addresses_with_add_del() {
    for version in VERSIONS {
        let data = DataDir::new();
        let resolv = data.dir.path().join("resolv.conf");
        std::fs::write(&resolv, "nameserver 192.0.2.3").unwrap();
        let stdin = conf(
            version,
            "mynet",
            data.path(),
            json!({
                "resolvConf": resolv,
                "ranges": [
                    [{"subnet": "10.1.2.0/24"}, {"subnet": "10.2.2.0/24"}],
                    [{"subnet": "2001:db8:1::0/64"}]
                ],
                "routes": [
                    {"dst": "0.0.0.0/0"},
                    {"dst": "::/0"},
                    {"dst": "192.168.0.0/16", "gw": "1.1.1.1"},
                    {"dst": "2001:db8:2::0/64", "gw": "2001:db8:3::1"}
                ]
            }),
            json!({}),
        );
        let run = add(ours(), "dummy", "eth0", &stdin);
        run.assert_success();
        assert!(!run.stdout.ends_with('\n'), "Go prints no trailing newline");
        assert!(run.stderr.is_empty(), "no noise on stderr: {run}");
        let has_version_field = run.stdout.contains("\"version\":");
        assert_eq!(
            has_version_field,
            ["0.3.0", "0.3.1", "0.4.0"].contains(version),
            "{version}: {run}"
        );
        let v = run.json();
        assert_eq!(v["cniVersion"], *version);
        assert_eq!(v["dns"]["nameservers"], json!(["192.0.2.3"]), "{version}");
        let routes = |v: &Value| -> Vec<Value> {
            if legacy(v) {
                let mut r = v["ip4"]["routes"].as_array().unwrap().clone();
                r.extend(v["ip6"]["routes"].as_array().unwrap().iter().cloned());
                r
            } else {
                v["routes"].as_array().unwrap().clone()
            }
        };
        let got = routes(&v);
        for want in [
            json!({"dst": "0.0.0.0/0"}),
            json!({"dst": "::/0"}),
            json!({"dst": "192.168.0.0/16", "gw": "1.1.1.1"}),
            json!({"dst": "2001:db8:2::/64", "gw": "2001:db8:3::1"}),
        ] {
            assert!(
                got.contains(&want),
                "{version}: {want} missing from {got:?}"
            );
        }
        assert_eq!(got.len(), 4);
        if legacy(&v) {
            assert_eq!(
                v["ip4"],
                json!({"ip": "10.1.2.2/24", "gateway": "10.1.2.1", "routes": v["ip4"]["routes"]})
            );
            assert_eq!(v["ip6"]["ip"], "2001:db8:1::2/64");
            assert_eq!(v["ip6"]["gateway"], "2001:db8:1::1");
        } else {
            let ips = v["ips"].as_array().unwrap();
            assert_eq!(ips.len(), 2);
            assert_eq!(ips[0]["address"], "10.1.2.2/24");
            assert_eq!(ips[0]["gateway"], "10.1.2.1");
            assert_eq!(ips[1]["address"], "2001:db8:1::2/64");
            assert_eq!(ips[1]["gateway"], "2001:db8:1::1");
            assert!(ips[0].get("interface").is_none(), "IPAM sets no interface");
        }

        let store = data.store("mynet");
        let f = files(&store);
        assert_eq!(f["10.1.2.2"], "dummy\r\neth0");
        assert_eq!(f["2001:db8:1::2"], "dummy\r\neth0");
        assert_eq!(f["last_reserved_ip.0"], "10.1.2.2");
        assert_eq!(f["last_reserved_ip.1"], "2001:db8:1::2");

        if *version >= "0.4.0" {
            check(ours(), "dummy", "eth0", &stdin).assert_success();
        }
        del(ours(), "dummy", "eth0", &stdin).assert_success();
        assert!(
            reservations(&store).is_empty(),
            "{version}: DEL removes both"
        );
        assert!(store.join("last_reserved_ip.0").exists(), "kept across DEL");
        if *version >= "0.4.0" {
            assert_eq!(
                msg_of(&check(ours(), "dummy", "eth0", &stdin)),
                "host-local: Failed to find address added by container dummy"
            );
        }
    }
}

#[test]
fn allocates_and_releases_on_specific_interfaces() {
    for version in VERSIONS {
        let data = DataDir::new();
        let net = |name: &str, subnet: &str| {
            conf(
                version,
                name,
                data.path(),
                json!({"subnet": subnet}),
                json!({}),
            )
        };
        let (c0, c1) = (net("mynet0", "10.1.2.0/24"), net("mynet1", "10.2.2.0/24"));
        assert_eq!(ips_of(&add(ours(), "dummy", "eth0", &c0)), ["10.1.2.2/24"]);
        assert_eq!(ips_of(&add(ours(), "dummy", "eth1", &c1)), ["10.2.2.2/24"]);
        let eth0 = data.store("mynet0").join("10.1.2.2");
        let eth1 = data.store("mynet1").join("10.2.2.2");
        assert_eq!(std::fs::read_to_string(&eth0).unwrap(), "dummy\r\neth0");
        assert_eq!(std::fs::read_to_string(&eth1).unwrap(), "dummy\r\neth1");
        del(ours(), "dummy", "eth0", &c0).assert_success();
        assert!(!eth0.exists());
        assert!(eth1.exists(), "{version}: DEL of eth0 keeps eth1's address");
    }
}

#[test]
fn repeat_add_for_the_same_attachment_fails() {
    for version in VERSIONS {
        let data = DataDir::new();
        let stdin = conf(
            version,
            "mynet",
            data.path(),
            json!({"subnet": "10.1.2.0/24"}),
            json!({}),
        );
        assert_eq!(
            ips_of(&add(ours(), "dummy", "eth0", &stdin)),
            ["10.1.2.2/24"]
        );
        let dup = "failed to allocate for range 0: 10.1.2.2 has been allocated to dummy, duplicate allocation is not allowed";
        assert_eq!(msg_of(&add(ours(), "dummy", "eth0", &stdin)), dup);
        assert_eq!(
            ips_of(&add(ours(), "dummy1", "eth0", &stdin)),
            ["10.1.2.3/24"]
        );
        assert_eq!(msg_of(&add(ours(), "dummy", "eth0", &stdin)), dup);
        del(ours(), "dummy", "eth0", &stdin).assert_success();
        del(ours(), "dummy1", "eth0", &stdin).assert_success();
        assert!(reservations(&data.store("mynet")).is_empty(), "{version}");
        // DEL is idempotent.
        del(ours(), "dummy", "eth0", &stdin).assert_success();
    }
}

#[test]
fn del_releases_backwards_compatible_reservations() {
    for version in VERSIONS {
        let data = DataDir::new();
        let stdin = conf(
            version,
            "mynet",
            data.path(),
            json!({"subnet": "10.1.2.0/24"}),
            json!({}),
        );
        ips_of(&add(ours(), "dummy", "eth0", &stdin));
        let file = data.store("mynet").join("10.1.2.2");
        std::fs::write(&file, "dummy").unwrap();
        if *version >= "0.4.0" {
            check(ours(), "dummy", "eth0", &stdin).assert_success();
        }
        // A legacy reservation still counts as this attachment's.
        assert_eq!(
            msg_of(&add(ours(), "dummy", "eth0", &stdin)),
            "failed to allocate for range 0: 10.1.2.2 has been allocated to dummy, duplicate allocation is not allowed"
        );
        del(ours(), "dummy", "eth0", &stdin).assert_success();
        assert!(!file.exists(), "{version}");
    }
}

#[test]
fn no_error_on_unknown_id_on_del() {
    for version in VERSIONS {
        let data = DataDir::new();
        let stdin = conf(
            version,
            "mynet",
            data.path(),
            json!({"subnet": "10.1.2.0/24"}),
            json!({}),
        );
        let run = del(ours(), "dummy", "eth0", &stdin);
        run.assert_success();
        assert_eq!(run.stdout, "");
    }
}

#[test]
fn whitespace_in_container_ids_never_reaches_the_store() {
    // Upstream's in-process test passes "   dummy\n " and expects "dummy\r\neth0" on disk;
    // through the binary, skel refuses such an ID before host-local runs.
    let data = DataDir::new();
    let stdin = mynet(&data, json!({"subnet": "10.1.2.0/24"}));
    let (code, msg) = error_of(&add(ours(), "   dummy\n ", "eth0", &stdin));
    assert_eq!(
        (code, msg.as_str()),
        (4, "invalid characters in containerID")
    );
    assert!(!data.store("mynet").exists());
}

#[test]
fn no_error_message_on_initial_subnet_creation() {
    let data = DataDir::new();
    let stdin = mynet(&data, json!({"subnet": "10.1.2.0/24"}));
    let run = add(ours(), "dummy", "eth0", &stdin);
    run.assert_success();
    assert!(!run.stdout.contains("Error retrieving last reserved ip"));
    assert!(!run.stderr.contains("Error retrieving last reserved ip"));
}

#[test]
fn custom_ip_from_cni_args_in_config() {
    for version in VERSIONS {
        let data = DataDir::new();
        let stdin = conf(
            version,
            "mynet",
            data.path(),
            json!({"subnet": "10.1.2.0/24"}),
            json!({"args": {"cni": {"ips": ["10.1.2.88"]}}}),
        );
        assert_eq!(
            ips_of(&add(ours(), "dummy", "eth0", &stdin)),
            ["10.1.2.88/24"]
        );
        assert_eq!(
            files(&data.store("mynet"))["10.1.2.88"],
            "dummy\r\neth0",
            "{version}"
        );
    }
}

#[test]
fn custom_ips_from_multiple_ranges() {
    for version in VERSIONS {
        let data = DataDir::new();
        let stdin = conf(
            version,
            "mynet",
            data.path(),
            json!({"ranges": [[{"subnet": "10.1.2.0/24"}], [{"subnet": "10.1.3.0/24"}]]}),
            json!({"args": {"cni": {"ips": ["10.1.2.88", "10.1.3.77"]}}}),
        );
        let run = add(ours(), "dummy", "eth0", &stdin);
        if *version < "0.3.0" {
            assert_eq!(
                msg_of(&run),
                format!("CNI version {version} does not support more than 1 address per family")
            );
            assert!(!data.store("mynet").exists(), "nothing touched");
        } else {
            assert_eq!(ips_of(&run), ["10.1.2.88/24", "10.1.3.77/24"]);
        }
    }
}

#[test]
fn custom_ips_from_multiple_protocols() {
    for version in VERSIONS {
        let data = DataDir::new();
        let stdin = conf(
            version,
            "mynet",
            data.path(),
            json!({"ranges": [
                [{"subnet": "172.16.1.0/24"}, {"subnet": "10.1.2.0/24"}],
                [{"subnet": "2001:db8:1::/48"}]
            ]}),
            json!({"args": {"cni": {"ips": ["10.1.2.88", "2001:db8:1::999"]}}}),
        );
        assert_eq!(
            ips_of(&add(ours(), "dummy", "eth0", &stdin)),
            ["10.1.2.88/24", "2001:db8:1::999/48"],
            "{version}"
        );
    }
}

#[test]
fn fails_if_a_requested_ip_is_unused() {
    for version in VERSIONS {
        let data = DataDir::new();
        let stdin = conf(
            version,
            "mynet",
            data.path(),
            json!({"subnet": "10.1.2.0/24"}),
            json!({"args": {"cni": {"ips": ["10.1.2.88", "10.1.2.77"]}}}),
        );
        let msg = msg_of(&add(ours(), "dummy", "eth0", &stdin));
        assert!(
            msg.starts_with("failed to allocate all requested IPs: 10.1.2."),
            "{version}: {msg}"
        );
        assert!(
            reservations(&data.store("mynet")).is_empty(),
            "{version}: the granted one is released again"
        );
    }
}

#[test]
fn requested_ip_from_cni_args_env_and_runtime_config() {
    let data = DataDir::new();
    let stdin = mynet(&data, json!({"subnet": "10.1.2.0/24"}));
    let run = call(ours(), "ADD", "a", "eth0", "IP=10.1.2.10/24", &stdin);
    assert_eq!(ips_of(&run), ["10.1.2.10/24"]);
    let run = call(
        ours(),
        "ADD",
        "b",
        "eth0",
        "IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.1.2.11",
        &stdin,
    );
    assert_eq!(ips_of(&run), ["10.1.2.11/24"]);
    let run = call(ours(), "ADD", "c", "eth0", "IP=", &stdin);
    // Round-robin after the last reservation (.11).
    assert_eq!(
        ips_of(&run),
        ["10.1.2.12/24"],
        "an empty IP requests nothing"
    );
    let with_rc = conf(
        "1.0.0",
        "mynet",
        data.path(),
        json!({"subnet": "10.1.2.0/24"}),
        json!({"runtimeConfig": {"ips": ["10.1.2.99/24"]}}),
    );
    assert_eq!(
        ips_of(&add(ours(), "d", "eth0", &with_rc)),
        ["10.1.2.99/24"]
    );

    assert_eq!(
        msg_of(&call(ours(), "ADD", "e", "eth0", "IP=bad", &stdin)),
        "ARGS: error parsing value of pair \"IP=bad\": invalid IP address bad"
    );
    assert_eq!(
        msg_of(&call(ours(), "ADD", "e", "eth0", "FOO=1", &stdin)),
        "ARGS: unknown args [\"FOO=1\"]"
    );
    assert_eq!(
        msg_of(&call(ours(), "ADD", "e", "eth0", "none", &stdin)),
        "ARGS: invalid pair \"none\""
    );
    // A requested address that is the gateway, or taken, is refused.
    assert_eq!(
        msg_of(&call(ours(), "ADD", "e", "eth0", "IP=10.1.2.1", &stdin)),
        "failed to allocate for range 0: requested ip 10.1.2.1 is subnet's gateway"
    );
    assert_eq!(
        msg_of(&call(ours(), "ADD", "e", "eth0", "IP=10.1.2.10", &stdin)),
        "failed to allocate for range 0: requested IP address 10.1.2.10 is not available in range set 10.1.2.1-10.1.2.254"
    );
    // A requested address outside every set is never tried.
    assert_eq!(
        msg_of(&call(ours(), "ADD", "e", "eth0", "IP=10.9.9.9", &stdin)),
        "failed to allocate all requested IPs: 10.9.9.9"
    );
}

#[test]
fn a_failing_range_set_rolls_back_the_whole_add() {
    let data = DataDir::new();
    let stdin = mynet(
        &data,
        json!({"ranges": [[{"subnet": "10.1.2.0/24"}], [{"subnet": "10.1.3.0/30"}]]}),
    );
    // Fill the second set (its only address besides the gateway is .2).
    reserve(&data.store("mynet"), "10.1.3.2", "other\r\neth0");
    assert_eq!(
        msg_of(&add(ours(), "dummy", "eth0", &stdin)),
        "failed to allocate for range 1: no IP addresses available in range set: 10.1.3.1-10.1.3.2"
    );
    assert_eq!(reservations(&data.store("mynet")), ["10.1.3.2"]);
}

#[test]
fn routes_carry_the_1_1_fields() {
    let data = DataDir::new();
    let stdin = conf(
        "1.1.0",
        "mynet",
        data.path(),
        json!({"subnet": "10.1.2.0/24", "routes": [
            {"dst": "10.9.0.0/16", "gw": "10.1.2.1", "mtu": 1400, "advmss": 1360,
             "priority": 5, "table": 0, "scope": 253}
        ]}),
        json!({}),
    );
    let v = add(ours(), "dummy", "eth0", &stdin).json();
    assert_eq!(
        v["routes"],
        json!([{"dst": "10.9.0.0/16", "gw": "10.1.2.1", "mtu": 1400, "advmss": 1360,
                "priority": 5, "table": 0, "scope": 253}])
    );
    assert!(v.get("dns").is_none(), "latest omits an empty dns");
}

#[test]
fn a_route_without_dst_is_refused_before_anything_is_reserved() {
    let data = DataDir::new();
    let stdin = mynet(
        &data,
        json!({"subnet": "10.1.2.0/24", "routes": [{"gw": "10.1.2.1"}]}),
    );
    assert_eq!(
        msg_of(&add(ours(), "dummy", "eth0", &stdin)),
        "invalid route in ipam.routes: missing \"dst\""
    );
    assert!(!data.store("mynet").exists());
    del(ours(), "dummy", "eth0", &stdin).assert_success();
}

#[test]
fn version_and_about() {
    let run = testkit::Invocation::new(OURS).command("VERSION").run();
    run.assert_success();
    assert_eq!(
        run.stdout,
        "{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\"0.1.0\",\"0.2.0\",\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]}\n"
    );
    let run = testkit::Invocation::new(OURS).run();
    run.assert_success();
    assert!(run.stderr.starts_with("CNI host-local plugin "), "{run}");
    assert_eq!(run.stdout, "");
}

/// Entries no writer makes, under names of addresses: a FIFO, a link to `/dev/zero` and a link
/// to a FIFO. They hold their address, but reading them must neither block (Go's ADD and DEL
/// wait on the FIFO for ever) nor grow memory (Go's read of `/dev/zero` never ends). DEL
/// leaves the FIFO and the oversized file alone; the link to the FIFO reads as empty (no
/// writer: EOF) and goes as any empty reservation does.
#[test]
fn odd_entries_in_the_store_are_taken_but_never_read() {
    let data = DataDir::new();
    let store = data.store("mynet");
    std::fs::create_dir_all(&store).unwrap();
    let fifo = store.join("10.1.2.2");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    std::os::unix::fs::symlink("/dev/zero", store.join("10.1.2.3")).unwrap();
    std::os::unix::fs::symlink(&fifo, store.join("10.1.2.4")).unwrap();
    let stdin = mynet(&data, json!({"subnet": "10.1.2.0/24"}));
    let run_with_deadline = |cmd: &str| {
        testkit::Invocation::new(ours())
            .command(cmd)
            .container_id("ctr")
            .netns(NETNS)
            .ifname("eth0")
            .path("/opt/cni/bin")
            .stdin(stdin.clone())
            .timeout(std::time::Duration::from_secs(5))
            .memory_limit(256 << 20)
            .run()
    };
    let added = run_with_deadline("ADD");
    assert_eq!(ips_of(&added), ["10.1.2.5/24"], "{added}");
    run_with_deadline("CHECK").assert_success();
    run_with_deadline("DEL").assert_success();
    // Names only: reading the link to /dev/zero here would never end either.
    let mut left: Vec<String> = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["10.1.2.2", "10.1.2.3", "last_reserved_ip.0", "lock"]);
}
