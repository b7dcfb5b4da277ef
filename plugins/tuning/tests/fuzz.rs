//! Config fuzzing through the binary (`testkit::fuzz`): mutations of valid tuning configs
//! (sysctls, mac, mtu, promisc, allmulti, txQLen, args, runtimeConfig), each run as ADD, CHECK
//! and DEL against a veth in a throwaway netns. No run may panic, hang or exit other than 0
//! or 1, and its output is a result or nothing on success, a CNI error `{code, msg[,
//! details]}` on failure. Sysctl keys only ever grow or become names without `/`, so writes
//! stay under the netns's own `/proc/sys/net`.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use testkit::Invocation;

#[test]
fn mutated_configs() {
    let fx = Fixture::new();
    let work = testkit::temp_dir();
    let data = fx.data.path().join("backups");
    let prev: Value = serde_json::from_str(PREV_RESULT).unwrap();
    let bases: Vec<Value> = vec![
        json!({"cniVersion": "1.0.0", "name": "fuzz", "type": "tuning", "dataDir": data,
               "sysctl": {"net.ipv4.conf.IFNAME.log_martians": "1",
                          "net.ipv4.conf.all.arp_filter": "0"},
               "mac": "c2:11:22:33:44:55", "mtu": 1400, "promisc": true, "allmulti": false,
               "txQLen": 500, "prevResult": prev}),
        json!({"cniVersion": "0.4.0", "name": "fuzz", "type": "tuning", "dataDir": data,
               "capabilities": {"mac": true},
               "runtimeConfig": {"mac": "c2:11:22:33:44:66"},
               "args": {"cni": {"mtu": 1300, "promisc": false,
                                "sysctl": {"net.ipv4.conf.IFNAME.arp_ignore": "1"}}},
               "prevResult": prev}),
        json!({"cniVersion": "1.1.0", "name": "fuzz", "type": "tuning", "dataDir": data,
               "sysctl": {"net.core.somaxconn": "512"}, "prevResult": prev}),
    ];
    testkit::fuzz::run_cases(
        "tuning",
        400,
        &bases,
        &["ADD", "CHECK", "DEL"],
        |verb, stdin| {
            let inv = Invocation::new(OURS)
                .command(verb)
                .container_id(CONTAINER_ID)
                .netns(fx.netns())
                .ifname(IFNAME)
                .path("/opt/cni/bin");
            testkit::fuzz::guarded(inv, stdin, work.path(), Duration::from_secs(20)).run()
        },
    );
}
