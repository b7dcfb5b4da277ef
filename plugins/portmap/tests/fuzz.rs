//! Config fuzzing through the binary (`testkit::fuzz`): mutations of valid portmap configs
//! (mappings with hostIP, conditions, snat, masqAll, mark bit, iptables and nftables
//! backends, prevResults of every shape), each run as ADD, CHECK and DEL in a throwaway host
//! netns (the rules land there). No run may panic, hang or exit other than 0 or 1, and its
//! output is a result or nothing on success, a CNI error `{code, msg[, details]}` on failure.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use testkit::{Invocation, TempNetns};

#[test]
fn mutated_configs() {
    testkit::require_root();
    let host = Host::new();
    let ctr = TempNetns::new();
    let work = testkit::temp_dir();
    let prev = json!({"cniVersion": "1.0.0",
        "interfaces": [{"name": "vc0"}, {"name": "eth0", "sandbox": ctr.path()}],
        "ips": [{"address": "10.99.0.2/24", "gateway": "10.99.0.1", "interface": 1},
                {"address": "fd99::2/64", "interface": 1}]});
    let mappings = json!([
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
        {"hostPort": 8053, "containerPort": 53, "protocol": "udp", "hostIP": "192.168.99.1"},
        {"HostPort": 8443, "ContainerPort": 443, "Protocol": "tcp", "HostIP": "fd98::1"}
    ]);
    let bases: Vec<Value> = vec![
        json!({"cniVersion": "1.0.0", "name": "fuzz", "type": "portmap",
               "capabilities": {"portMappings": true}, "snat": true,
               "runtimeConfig": {"portMappings": mappings}, "prevResult": prev}),
        json!({"cniVersion": "1.0.0", "name": "fuzz", "type": "portmap", "backend": "iptables",
               "conditionsV4": ["!", "-d", "192.0.2.0/24"], "markMasqBit": 5, "masqAll": true,
               "runtimeConfig": {"portMappings": mappings}, "prevResult": prev}),
        json!({"cniVersion": "1.0.0", "name": "fuzz", "type": "portmap", "backend": "nftables",
               "conditionsV6": ["ip6", "saddr", "!=", "fd00::1"], "snat": false,
               "runtimeConfig": {"portMappings": mappings}, "prevResult": prev}),
        json!({"cniVersion": "0.3.1", "name": "fuzz", "type": "portmap",
               "externalSetMarkChain": "KUBE-MARK-MASQ",
               "runtimeConfig": {"portMappings": [{"hostPort": 9000, "containerPort": 90,
                                                   "protocol": "sctp"}]},
               "prevResult": {"cniVersion": "0.3.1",
                              "ips": [{"version": "4", "address": "10.99.0.2/24"}]}}),
    ];
    testkit::fuzz::run_cases(
        "portmap",
        300,
        &bases,
        &["ADD", "CHECK", "DEL"],
        |verb, stdin| {
            let inv = Invocation::new(ours())
                .command(verb)
                .container_id("fuzz")
                .netns(ctr.path())
                .ifname("eth0")
                .path("/usr/lib/cni")
                .env("PATH", PATH);
            let inv = testkit::fuzz::guarded(inv, stdin, work.path(), Duration::from_secs(30));
            host.netns.run(|| inv.run()).unwrap()
        },
    );
}
