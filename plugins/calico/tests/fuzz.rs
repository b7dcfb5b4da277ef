//! Config fuzzing through the binary (`testkit::fuzz`): mutations of valid calico configs on
//! the local store (IPAM by host-local and by calico-ipam, MTU, log settings, policy,
//! feature flags, args, runtimeConfig), each run as ADD, CHECK and DEL inside a throwaway host
//! netns with a throwaway container netns. No run may panic, hang or exit other than 0 or 1,
//! and its output is a result or nothing on success, a CNI error `{code, msg[, details]}` on
//! failure.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use testkit::TempNetns;

#[test]
fn mutated_configs() {
    let host = Host::new(Store::Local);
    host.install_calico_ipam(&["10.55.0.0/16"]);
    let ctr = TempNetns::new();
    let work = testkit::temp_dir();
    let log = host.dir.path().join("log").join("cni.log");
    let bases: Vec<Value> = vec![
        host.conf(
            "1.0.0",
            "fuzz",
            json!({"mtu": 1400, "log_file_path": log, "log_level": "info",
                   "container_settings": {"allow_ip_forwarding": true},
                   "args": {"cni": {"x": "y"}}}),
        ),
        host.conf(
            "0.3.1",
            "fuzz",
            json!({"ipam": {"type": "calico-ipam", "assign_ipv4": "true",
                            "ipv4_pools": ["10.55.0.0/16"]},
                   "log_file_path": log, "log_level": "debug",
                   "feature_control": {"floating_ips": false},
                   "policy": {"type": "none"}}),
        ),
        host.conf(
            "1.1.0",
            "fuzz",
            json!({"ipam": {"type": "calico-ipam"}, "log_file_path": log,
                   "runtimeConfig": {"ips": ["10.55.0.9"], "mac": "c2:00:00:00:00:01"},
                   "capabilities": {"ips": true, "mac": true}}),
        ),
    ];
    testkit::fuzz::run_cases(
        "calico",
        250,
        &bases,
        &["ADD", "CHECK", "DEL"],
        |verb, stdin| {
            let inv = host.invocation(verb, "fuzz", ctr.path(), &json!(null));
            let inv = testkit::fuzz::guarded(inv, stdin, work.path(), Duration::from_secs(30));
            host.exec(inv)
        },
    );
}
