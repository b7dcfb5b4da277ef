//! Config fuzzing through the binary (`testkit::fuzz`): mutations of valid host-local configs,
//! each run as ADD, CHECK and DEL. No run may panic, hang or exit other than 0 or 1, and its
//! output is a result or nothing on success, a CNI error `{code, msg[, details]}` on failure.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use testkit::Invocation;

#[test]
fn mutated_configs() {
    let scratch = testkit::temp_dir();
    let data = scratch.path().join("data");
    let resolv = scratch.path().join("etc").join("resolv.conf");
    std::fs::create_dir_all(resolv.parent().unwrap()).unwrap();
    std::fs::write(
        &resolv,
        "nameserver 10.0.0.53\nsearch a.example\noptions ndots:2\n",
    )
    .unwrap();
    let work = scratch.path().join("cwd");
    std::fs::create_dir_all(&work).unwrap();
    let bases: Vec<Value> = vec![
        json!({"cniVersion": "1.0.0", "name": "fuzz", "type": "bridge",
               "ipam": {"type": "host-local", "dataDir": data,
                        "ranges": [[{"subnet": "10.7.0.0/24", "rangeStart": "10.7.0.10",
                                     "rangeEnd": "10.7.0.20", "gateway": "10.7.0.1"}],
                                   [{"subnet": "2001:db8:7::/64"}]],
                        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0", "gw": "2001:db8:7::1"}],
                        "resolvConf": resolv}}),
        json!({"cniVersion": "0.3.1", "name": "fuzz-legacy", "type": "ptp",
               "ipam": {"type": "host-local", "dataDir": data, "subnet": "10.8.0.0/24",
                        "rangeStart": "10.8.0.5", "gateway": "10.8.0.254"},
               "args": {"cni": {"ips": ["10.8.0.7"]}}}),
        json!({"cniVersion": "1.1.0", "name": "fuzz-rt", "type": "bridge",
               "ipam": {"type": "host-local", "dataDir": data,
                        "ranges": [[{"subnet": "10.9.0.0/28"}]]},
               "runtimeConfig": {"ips": ["10.9.0.3/28"],
                                 "ipRanges": [[{"subnet": "10.10.0.0/30"}]]}}),
    ];
    testkit::fuzz::run_cases(
        "host-local",
        1000,
        &bases,
        &["ADD", "CHECK", "DEL"],
        |verb, stdin| {
            let inv = Invocation::new(ours())
                .command(verb)
                .container_id("fuzz")
                .netns(NETNS)
                .ifname("eth0")
                .path("/opt/cni/bin");
            testkit::fuzz::guarded(inv, stdin, &work, Duration::from_secs(20)).run()
        },
    );
}
