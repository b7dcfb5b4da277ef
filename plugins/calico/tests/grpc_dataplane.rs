//! §10.1 case 5: `dataplane_options` and the external gRPC dataplane, through the binary, with
//! a stand-in dataplane server (tests/common/grpc.rs) on a unix socket. Both datastores.

mod common;

use common::grpc::{GrpcServer, Received};
use common::*;
use serde_json::json;
use testkit::TempNetns;

const CID: &str = "grpctest01";
const MAC: &str = "de:ad:be:ef:00:01";

fn grpc_conf(h: &Host, socket: &str) -> serde_json::Value {
    h.conf(
        "1.0.0",
        "net1",
        json!({"dataplane_options": {"type": "grpc", "socket": format!("unix://{socket}"),
                                     "option": "value"}}),
    )
}

/// An unknown dataplane type fails before anything is allocated, in Calico's words.
#[test]
fn invalid_dataplane_type_is_an_error() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        let conf = h.conf(
            "1.0.0",
            "net1",
            json!({"dataplane_options": {"type": "wrong"}}),
        );
        let run = h.run("ADD", CID, c.path(), &conf);
        assert_eq!(run.code, 1, "{run}");
        assert_eq!(run.json()["msg"], "Invalid dataplane type: wrong");
        assert!(h.reservations("net1").is_empty());
        let conf = h.conf(
            "1.0.0",
            "net1",
            json!({"dataplane_options": {"type": "grpc"}}),
        );
        let run = h.run("ADD", CID, c.path(), &conf);
        assert_eq!(run.json()["msg"], "GRPC dataplane socket not configured");
    });
}

/// A socket nobody listens on: ADD fails and the allocation is given back.
#[test]
fn unreachable_dataplane_fails_and_releases() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        let dir = testkit::temp_dir();
        let conf = grpc_conf(&h, &dir.path().join("nobody.sock").display().to_string());
        let run = h.run("ADD", CID, c.path(), &conf);
        assert_eq!(run.code, 1, "{run}");
        let msg = run.json()["msg"].as_str().unwrap().to_string();
        assert!(msg.starts_with("rpc error: code = Unavailable"), "{msg}");
        assert!(h.reservations("net1").is_empty(), "released");
        assert!(h.weps().is_empty());
    });
}

/// The dataplane gets Add with the netns, the forwarded options and the addresses; the result
/// and the endpoint carry the host interface and MAC it reported; DEL sends Del and the
/// interface it made goes.
#[test]
fn dataplane_does_the_networking() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        let server = GrpcServer::start(true, MAC);
        let conf = grpc_conf(&h, &server.socket.display().to_string());
        let run = h.run("ADD", CID, c.path(), &conf);
        run.assert_success();
        let result = run.json();

        let received = server.received();
        let Some(Received::Add(add)) = received.first() else {
            panic!("no Add: {received:?}");
        };
        assert_eq!(add.netns, c.path().display().to_string());
        assert_eq!(add.interface_name, "eth0");
        assert_eq!(add.desired_host_interface_name, cni_veth(CID));
        assert_eq!(
            add.dataplane_options.get("option").map(String::as_str),
            Some("value")
        );
        assert!(!add.container_ips.is_empty());
        assert_eq!(add.container_ips[0].address, result["ips"][0]["address"]);
        assert!(add.container_ips[0].address.ends_with("/32"));
        let workload = add.workload.as_ref().unwrap();
        assert_eq!(workload.orchestrator, "cni");
        assert_eq!(workload.node, NODE);
        assert_eq!(
            add.container_routes,
            ["0.0.0.0/0", "::/0"],
            "the default routes, as the Linux dataplane would add"
        );

        assert_eq!(result["interfaces"][0]["name"], cni_veth(CID));
        assert_eq!(result["interfaces"][1]["mac"], MAC);
        assert_eq!(
            result["interfaces"][1]["sandbox"],
            c.path().display().to_string()
        );
        let weps = h.weps();
        assert_eq!(weps.len(), 1);
        assert_eq!(weps[0].spec.mac, MAC);
        assert_eq!(weps[0].spec.interface_name, cni_veth(CID));
        assert!(
            c.ip_stdout(&["-o", "link"]).contains("eth0@"),
            "the dataplane made the interface"
        );
        assert!(
            !h.ip(&["-o", "link"]).contains(&cni_veth(CID)),
            "calico made no veth of its own"
        );

        let mut check = conf.clone();
        check["prevResult"] = result.clone();
        h.run("CHECK", CID, c.path(), &check).assert_success();

        h.run("DEL", CID, c.path(), &conf).assert_success();
        let received = server.received();
        let Some(Received::Del(del)) = received.last() else {
            panic!("no Del: {received:?}");
        };
        assert_eq!(del.interface_name, "eth0");
        assert_eq!(del.netns, c.path().display().to_string());
        assert_eq!(
            del.dataplane_options.get("option").map(String::as_str),
            Some("value")
        );
        assert!(!c.ip_stdout(&["-o", "link"]).contains("eth0"));
        assert!(h.weps().is_empty());
        assert!(h.reservations("net1").is_empty());
    });
}

/// The dataplane refuses: ADD fails with its message and leaves nothing; a refused Del makes
/// DEL fail.
#[test]
fn dataplane_failures_are_errors() {
    each_store(|store| {
        let h = Host::new(store);
        let c = TempNetns::new();
        let server = GrpcServer::start(false, MAC);
        let conf = grpc_conf(&h, &server.socket.display().to_string());
        let run = h.run("ADD", CID, c.path(), &conf);
        assert_eq!(run.code, 1, "{run}");
        assert_eq!(
            run.json()["msg"],
            "grpc dataplane error: the test server says no"
        );
        assert!(h.weps().is_empty());
        assert!(h.reservations("net1").is_empty());

        let run = h.run("DEL", CID, c.path(), &conf);
        assert_eq!(run.code, 1, "{run}");
        assert_eq!(
            run.json()["msg"],
            "grpc dataplane error: the test server says no"
        );
        server.set_succeed(true);
        h.run("DEL", CID, c.path(), &conf);
    });
}
