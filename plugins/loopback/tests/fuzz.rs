//! Config fuzzing through the binary (`testkit::fuzz`): mutations of valid loopback configs
//! (with and without a prevResult), each run as ADD, CHECK and DEL in a throwaway netns. No
//! run may panic, hang or exit other than 0 or 1, and its output is a result or nothing on
//! success, a CNI error `{code, msg[, details]}` on failure.

use std::time::Duration;

use serde_json::{json, Value};
use testkit::{require_root, Invocation, TempNetns};

const OURS: &str = env!("CARGO_BIN_EXE_loopback");

#[test]
fn mutated_configs() {
    require_root();
    let ns = TempNetns::new();
    let work = testkit::temp_dir();
    let bases: Vec<Value> = vec![
        json!({"cniVersion": "1.0.0", "name": "lo", "type": "loopback"}),
        json!({"cniVersion": "0.4.0", "name": "lo", "type": "loopback",
               "prevResult": {"cniVersion": "0.4.0",
                              "interfaces": [{"name": "lo", "sandbox": ns.path()}],
                              "ips": [{"version": "4", "address": "127.0.0.1/8", "interface": 0}],
                              "dns": {}}}),
        json!({"cniVersion": "0.2.0", "name": "lo", "type": "loopback",
               "prevResult": {"cniVersion": "0.2.0", "ip4": {"ip": "127.0.0.1/8"}}}),
        json!({"name": "lo", "type": "loopback", "args": {"cni": {"x": 1}}}),
    ];
    testkit::fuzz::run_cases(
        "loopback",
        600,
        &bases,
        &["ADD", "CHECK", "DEL"],
        |verb, stdin| {
            let inv = Invocation::new(OURS)
                .command(verb)
                .container_id("fuzz")
                .netns(ns.path())
                .ifname("eth0")
                .path("/opt/cni/bin");
            testkit::fuzz::guarded(inv, stdin, work.path(), Duration::from_secs(20)).run()
        },
    );
}
