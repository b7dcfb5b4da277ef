//! The reference's `allocator_test.go` scenarios through our binary: the store is prepared on
//! disk (taken addresses, `last_reserved_ip.0`), then ADD shows what the allocator picks.

mod common;

use common::*;
use serde_json::{json, Value};

struct Case {
    ranges: Value,
    last: Option<&'static str>,
    taken: &'static [&'static str],
}

fn subnets(subnets: &[&str]) -> Value {
    json!([subnets
        .iter()
        .map(|s| json!({"subnet": s}))
        .collect::<Vec<_>>()])
}

fn setup(data: &DataDir, case: &Case) -> String {
    let store = data.store("mynet");
    std::fs::create_dir_all(&store).unwrap();
    for ip in case.taken {
        reserve(&store, ip, "someone-else\r\neth0");
    }
    if let Some(last) = case.last {
        std::fs::write(store.join("last_reserved_ip.0"), last).unwrap();
    }
    mynet(data, json!({"ranges": case.ranges}))
}

/// The address one ADD gets (without prefix).
fn allocate(case: Case) -> String {
    let data = DataDir::new();
    let stdin = setup(&data, &case);
    let ips = ips_of(&add(ours(), "ctr", "eth0", &stdin));
    ips[0].split('/').next().unwrap().to_string()
}

#[test]
fn round_robin_table() {
    let table: Vec<(Case, &str)> = vec![
        (
            Case {
                ranges: subnets(&["10.0.0.0/29"]),
                last: None,
                taken: &[],
            },
            "10.0.0.2",
        ),
        (
            Case {
                ranges: subnets(&["2001:db8:1::0/64"]),
                last: None,
                taken: &[],
            },
            "2001:db8:1::2",
        ),
        (
            Case {
                ranges: subnets(&["10.0.0.0/30"]),
                last: None,
                taken: &[],
            },
            "10.0.0.2",
        ),
        (
            Case {
                ranges: subnets(&["10.0.0.0/29"]),
                last: None,
                taken: &["10.0.0.2"],
            },
            "10.0.0.3",
        ),
        (
            Case {
                ranges: subnets(&["10.0.0.0/29"]),
                last: Some("10.0.0.5"),
                taken: &[],
            },
            "10.0.0.6",
        ),
        (
            Case {
                ranges: subnets(&["10.0.0.0/29"]),
                last: Some("10.0.0.3"),
                taken: &["10.0.0.4", "10.0.0.5"],
            },
            "10.0.0.6",
        ),
        (
            Case {
                ranges: subnets(&["10.0.0.0/29"]),
                last: Some("10.0.0.5"),
                taken: &["10.0.0.6"],
            },
            "10.0.0.2",
        ),
        (
            // A last reservation outside the set starts from the beginning.
            Case {
                ranges: subnets(&["10.0.0.0/29"]),
                last: Some("10.0.0.128"),
                taken: &["10.0.0.2"],
            },
            "10.0.0.3",
        ),
        (
            // The last reserved address itself is tried last.
            Case {
                ranges: subnets(&["10.0.0.0/29"]),
                last: Some("10.0.0.3"),
                taken: &["10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"],
            },
            "10.0.0.3",
        ),
        (
            Case {
                ranges: subnets(&["10.0.0.0/30", "10.0.1.0/30"]),
                last: None,
                taken: &[],
            },
            "10.0.0.2",
        ),
        (
            Case {
                ranges: subnets(&["10.0.0.0/30", "10.0.1.0/30"]),
                last: Some("10.0.0.2"),
                taken: &[],
            },
            "10.0.1.2",
        ),
        (
            Case {
                ranges: subnets(&["10.0.0.0/30", "10.0.1.0/30", "10.0.2.0/30"]),
                last: Some("10.0.2.2"),
                taken: &[],
            },
            "10.0.0.2",
        ),
        (
            // A last_reserved_ip that does not parse (Go reads it untrimmed) is ignored.
            Case {
                ranges: subnets(&["10.0.0.0/29"]),
                last: Some("10.0.0.4\n"),
                taken: &[],
            },
            "10.0.0.2",
        ),
    ];
    for (i, (case, want)) in table.into_iter().enumerate() {
        assert_eq!(allocate(case), want, "case {i}");
    }
}

#[test]
fn iterates_a_29_round_robin_and_never_hands_out_the_broadcast() {
    let data = DataDir::new();
    let stdin = mynet(&data, json!({"subnet": "192.168.1.0/29"}));
    for (i, want) in ["2", "3", "4", "5", "6"].iter().enumerate() {
        let got = ips_of(&add(ours(), &format!("c{i}"), "eth0", &stdin));
        assert_eq!(got, [format!("192.168.1.{want}/29")]);
        assert_eq!(
            files(&data.store("mynet"))["last_reserved_ip.0"],
            format!("192.168.1.{want}")
        );
    }
    assert_eq!(
        msg_of(&add(ours(), "c5", "eth0", &stdin)),
        "failed to allocate for range 0: no IP addresses available in range set: 192.168.1.1-192.168.1.6"
    );
}

#[test]
fn iterates_from_the_last_reservation() {
    // last=.3: .4 .5 .6 .2 .3
    let data = DataDir::new();
    let stdin = setup(
        &data,
        &Case {
            ranges: subnets(&["192.168.1.0/29"]),
            last: Some("192.168.1.3"),
            taken: &[],
        },
    );
    let got: Vec<String> = (0..5)
        .map(|i| ips_of(&add(ours(), &format!("c{i}"), "eth0", &stdin))[0].clone())
        .collect();
    assert_eq!(
        got,
        [
            "192.168.1.4/29",
            "192.168.1.5/29",
            "192.168.1.6/29",
            "192.168.1.2/29",
            "192.168.1.3/29"
        ]
    );
}

#[test]
fn release_then_allocate_gives_the_next_address() {
    let data = DataDir::new();
    let stdin = mynet(&data, json!({"subnet": "192.168.1.0/29"}));
    assert_eq!(
        ips_of(&add(ours(), "a", "eth0", &stdin)),
        ["192.168.1.2/29"]
    );
    del(ours(), "a", "eth0", &stdin).assert_success();
    assert_eq!(
        ips_of(&add(ours(), "b", "eth0", &stdin)),
        ["192.168.1.3/29"]
    );
}

#[test]
fn requested_addresses() {
    let data = DataDir::new();
    let stdin = |ip: &str| {
        conf(
            "1.0.0",
            "mynet",
            data.path(),
            json!({"ranges": [[{"subnet": "192.168.1.0/29", "rangeStart": "192.168.1.3",
                                "rangeEnd": "192.168.1.5"}]]}),
            json!({"args": {"cni": {"ips": [ip]}}}),
        )
    };
    assert_eq!(
        ips_of(&add(ours(), "a", "eth0", &stdin("192.168.1.5"))),
        ["192.168.1.5/29"]
    );
    assert_eq!(
        msg_of(&add(ours(), "b", "eth0", &stdin("192.168.1.5"))),
        "failed to allocate for range 0: requested IP address 192.168.1.5 is not available in range set 192.168.1.3-192.168.1.5"
    );
    // Outside rangeStart..rangeEnd the request matches no set and is never tried.
    for outside in ["192.168.1.6", "192.168.1.2"] {
        assert_eq!(
            msg_of(&add(ours(), "c", "eth0", &stdin(outside))),
            format!("failed to allocate all requested IPs: {outside}")
        );
    }
    assert_eq!(reservations(&data.store("mynet")), ["192.168.1.5"]);
}

#[test]
fn exhausted_sets() {
    let cases = [
        Case {
            ranges: subnets(&["10.0.0.0/30"]),
            last: None,
            taken: &["10.0.0.2"],
        },
        Case {
            ranges: subnets(&["10.0.0.0/29"]),
            last: None,
            taken: &["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"],
        },
        Case {
            ranges: subnets(&["10.0.0.0/30", "10.0.1.0/30"]),
            last: None,
            taken: &["10.0.0.2", "10.0.1.2"],
        },
    ];
    for (i, case) in cases.into_iter().enumerate() {
        let data = DataDir::new();
        let stdin = setup(&data, &case);
        let before = files(&data.store("mynet"));
        let msg = msg_of(&add(ours(), "ctr", "eth0", &stdin));
        assert!(
            msg.starts_with(
                "failed to allocate for range 0: no IP addresses available in range set"
            ),
            "case {i}: {msg}"
        );
        let mut after = files(&data.store("mynet"));
        after.remove("lock");
        assert_eq!(after, before, "case {i}: a failed ADD changes nothing");
    }
}

#[test]
fn multi_range_iteration_starts_at_explicit_network_addresses() {
    let ranges = json!([[
        {"subnet": "192.168.1.0/24", "rangeStart": "192.168.1.0", "rangeEnd": "192.168.1.3"},
        {"subnet": "192.168.2.0/24", "rangeStart": "192.168.2.0", "rangeEnd": "192.168.2.3"}
    ]]);
    let resumed = Case {
        ranges: ranges.clone(),
        last: Some("192.168.1.3"),
        taken: &[],
    };
    assert_eq!(allocate(resumed), "192.168.2.0");
    let fresh = Case {
        ranges,
        last: None,
        taken: &[],
    };
    assert_eq!(allocate(fresh), "192.168.1.0");
}
