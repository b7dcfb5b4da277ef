//! The `k8s` orchestrator without API access (`policy.type` other than `k8s`): names, hashed
//! host veths, endpoints and DEL's container-ID rule (scenarios 10.2.11 and 10.2.13), on both
//! datastores.

mod common;

use common::*;
use serde_json::json;
use testkit::TempNetns;

fn k8s_args(pod: &str) -> String {
    format!("K8S_POD_NAMESPACE=test;K8S_POD_NAME={pod};K8S_POD_INFRA_CONTAINER_ID=whatever")
}

#[test]
fn k8s_pod_gets_hashed_veth_and_endpoint() {
    for store in STORES {
        let h = Host::new(store);
        let c = TempNetns::new();
        let conf = h.conf("0.3.1", "k8s-pod-network", json!({}));
        let run = h.exec(
            h.invocation("ADD", "cid1", c.path(), &conf)
                .args(k8s_args("my-pod"))
                .env("FELIX_INTERFACEPREFIX", "eni,cali"),
        );
        run.assert_success();
        // eni + SHA1("test.my-pod")[..11]
        let veth = {
            let out = std::process::Command::new("sh")
                .args(["-c", "printf test.my-pod | sha1sum | cut -c1-11"])
                .output()
                .unwrap();
            format!("eni{}", String::from_utf8_lossy(&out.stdout).trim())
        };
        assert_eq!(run.json()["interfaces"][0]["name"], veth.as_str());
        assert!(h.ip(&["-o", "link"]).contains(&veth));
        let wep = h
            .wep("test", &format!("{NODE}-k8s-my--pod-eth0"))
            .expect("endpoint");
        assert_eq!(wep.spec.orchestrator, "k8s");
        assert_eq!(wep.spec.pod, "my-pod");
        assert_eq!(wep.spec.container_id, "cid1");
        assert_eq!(wep.spec.interface_name, veth);
        assert_eq!(wep.metadata.labels["projectcalico.org/orchestrator"], "k8s");
        assert_eq!(wep.metadata.labels["projectcalico.org/namespace"], "test");
        // k8s without policy: the profile allows all ingress.
        let p = h.profile("k8s-pod-network").unwrap();
        assert_eq!(
            serde_json::to_value(&p.spec.ingress).unwrap(),
            json!([{ "action": "Allow", "source": {}, "destination": {} }])
        );

        // 10.2.13: a second ADD with eth1 keeps one endpoint named for eth0.
        let run2 = h.exec(
            h.invocation("ADD", "cid1", c.path(), &conf)
                .ifname("eth1")
                .args(k8s_args("my-pod"))
                .env("FELIX_INTERFACEPREFIX", "eni"),
        );
        run2.assert_success();
        let weps = h.weps();
        assert_eq!(weps.len(), 1);
        assert_eq!(weps[0].spec.endpoint, "eth0");
        h.exec(
            h.invocation("DEL", "cid1", c.path(), &conf)
                .ifname("eth1")
                .args(k8s_args("my-pod")),
        )
        .assert_success();
        h.exec(
            h.invocation("DEL", "cid1", c.path(), &conf)
                .args(k8s_args("my-pod")),
        )
        .assert_success();
        assert!(h.weps().is_empty());
        assert!(h.reservations("k8s-pod-network").is_empty());
    }
}

/// 10.2.11: ADD X, ADD Y (new sandbox), DEL X keeps Y's endpoint; DEL Y removes it.
#[test]
fn del_of_an_old_sandbox_keeps_the_new_endpoint() {
    for store in STORES {
        let h = Host::new(store);
        let (cx, cy) = (TempNetns::new(), TempNetns::new());
        let conf = h.conf("1.0.0", "k8s-pod-network", json!({}));
        let inv = |cmd: &str, cid: &str, ns: &TempNetns| {
            h.exec(
                h.invocation(cmd, cid, ns.path(), &conf)
                    .args(k8s_args("pod1")),
            )
        };
        inv("ADD", "x", &cx).assert_success();
        inv("DEL", "x", &cx).assert_success();
        inv("ADD", "y", &cy).assert_success();
        inv("DEL", "x", &cx).assert_success();
        let weps = h.weps();
        assert_eq!(weps.len(), 1, "{store:?}");
        assert_eq!(weps[0].spec.container_id, "y");

        inv("ADD", "x", &cx).assert_success();
        assert_eq!(h.weps()[0].spec.container_id, "x");
        inv("DEL", "y", &cy).assert_success();
        assert_eq!(h.weps().len(), 1);
        assert_eq!(h.weps()[0].spec.container_id, "x");
        inv("DEL", "x", &cx).assert_success();
        assert!(h.weps().is_empty());
        assert!(h.reservations("k8s-pod-network").is_empty());
    }
}
