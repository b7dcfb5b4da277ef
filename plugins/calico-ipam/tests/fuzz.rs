//! Config fuzzing through the binary (`testkit::fuzz`): mutations of valid calico-ipam
//! configs on the local store (pools, assign flags, handle and IP args, lock file, datastore
//! keys), each run as ADD, CHECK and DEL in a network namespace of its own with no network
//! (`unshare -n`: a mutated etcd endpoint or API server fails at once instead of waiting for
//! a resolver). No run may panic, hang or exit other than 0 or 1, and its output is a result
//! or nothing on success, a CNI error `{code, msg[, details]}` on failure.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use testkit::Invocation;

#[test]
fn mutated_configs() {
    testkit::require_root();
    let b = Backend::local();
    b.pool("p4", "10.66.0.0/16", |s| s.block_size = 26);
    b.pool("p6", "fd66::/48", |s| s.block_size = 122);
    let work = testkit::temp_dir();
    let bases: Vec<Value> = vec![
        b.conf(
            "1.0.0",
            "node1",
            json!({"assign_ipv4": "true", "assign_ipv6": "true"}),
        ),
        b.conf(
            "0.3.1",
            "node1",
            json!({"assign_ipv4": "true", "ipv4_pools": ["10.66.0.0/16"],
                   "subnet": "usePodCidr"}),
        ),
        {
            let mut c = b.conf(
                "1.1.0",
                "node1",
                json!({"assign_ipv4": "false",
                                                        "assign_ipv6": "true"}),
            );
            c["args"] = json!({"cni": {"ips": ["fd66::77"]}});
            c["log_level"] = json!("debug");
            c["log_file_path"] = json!(work.path().join("log").join("ipam.log"));
            c
        },
    ];
    testkit::fuzz::run_cases(
        "calico-ipam",
        300,
        &bases,
        &["ADD", "CHECK", "DEL"],
        |verb, stdin| {
            let inv = Invocation::new(BIN)
                .command(verb)
                .container_id("fuzz")
                .netns("/var/run/netns/none")
                .ifname("eth0")
                .path("/opt/cni/bin")
                .wrapped("/usr/bin/unshare", ["-n", "--"]);
            testkit::fuzz::guarded(inv, stdin, work.path(), Duration::from_secs(30)).run()
        },
    );
}
