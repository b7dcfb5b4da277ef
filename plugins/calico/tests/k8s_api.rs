//! The `k8s` orchestrator with `policy.type: k8s` (Calico's calico_cni_k8s_test.go, run on
//! etcd and KDD as upstream does, plus our local store): Pod and Namespace come from the
//! Kubernetes API named by `kubernetes.kubeconfig`. No apiserver can be installed on this
//! machine, so the API is testkit's stand-in server (`Host::api`); on KDD it is also the
//! datastore, so the endpoint is the pod itself. The plugin runs with the calico-cni-plugin
//! service account's token and RBAC. Annotations that only apply with calico-ipam are
//! observed through a recording `calico-ipam` wrapper around host-local.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine;
use common::*;
use serde_json::{json, Value};
use testkit::{
    openssl, Invocation, KubeApi, KubeApiOptions, PluginRun, RequestRecord, Rule, TempNetns,
    TlsFiles, CNI_TOKEN, CNI_USER,
};

const NET: &str = "k8s-pod-network";

fn k8s_args(pod: &str) -> String {
    format!("K8S_POD_NAMESPACE=test;K8S_POD_NAME={pod};K8S_POD_INFRA_CONTAINER_ID=whatever")
}

fn conf(h: &Host, extra: Value) -> Value {
    let mut c = h.conf(
        "1.0.0",
        NET,
        json!({ "policy": { "type": "k8s" },
                "kubernetes": { "kubeconfig": h.kubeconfig() } }),
    );
    merge(&mut c, &extra);
    c
}

fn calico_ipam(h: &Host) -> Value {
    json!({ "type": "calico-ipam", "subnet": "10.22.0.0/24", "dataDir": h.ipam_dir() })
}

fn inv(h: &Host, cmd: &str, cid: &str, ns: &TempNetns, conf: &Value, pod: &str) -> Invocation {
    h.invocation(cmd, cid, ns.path(), conf).args(k8s_args(pod))
}

fn wep_name(pod: &str) -> String {
    format!("{NODE}-k8s-{}-eth0", pod.replace('-', "--"))
}

/// 10.2.1 and 10.2.2 and 10.2.14: labels, profiles, service account, named port,
/// generateName, k8s host sysctls; DEL removes it all.
#[test]
fn pod_fields_reach_the_endpoint() {
    for store in K8S_STORES {
        let h = Host::new(store);
        h.namespace("test", json!({}));
        h.api().create(json!({ "apiVersion": "v1", "kind": "ServiceAccount",
                               "metadata": { "name": "testserviceaccount", "namespace": "test" } }));
        h.pod(
            "test",
            "pod-1",
            json!({}),
            json!({ "serviceAccountName": "testserviceaccount",
                    "containers": [{ "name": "c", "image": "pause",
                        "ports": [{ "name": "anamedport", "containerPort": 555 }] }] }),
        );
        let c = TempNetns::new();
        let conf = conf(&h, json!({}));
        let run = h.exec(inv(&h, "ADD", "cid1", &c, &conf, "pod-1"));
        run.assert_success();
        let wep = h.wep("test", &wep_name("pod-1")).expect("endpoint");
        assert_eq!(
            serde_json::to_value(&wep.metadata.labels).unwrap(),
            json!({ "app": "test", "projectcalico.org/namespace": "test",
                    "projectcalico.org/orchestrator": "k8s",
                    "projectcalico.org/serviceaccount": "testserviceaccount" })
        );
        let veth = run.json()["interfaces"][0]["name"]
            .as_str()
            .unwrap()
            .to_string();
        let mac = run.json()["interfaces"][1]["mac"]
            .as_str()
            .unwrap()
            .to_string();
        let ip = run.json()["ips"][0]["address"]
            .as_str()
            .unwrap()
            .to_string();
        let mut expected = json!({ "orchestrator": "k8s", "node": NODE, "containerID": "cid1",
                "pod": "pod-1", "endpoint": "eth0", "serviceAccountName": "testserviceaccount",
                "ipNetworks": [ip], "profiles": ["kns.test", "ksa.test.testserviceaccount"],
                "interfaceName": veth, "mac": mac,
                "ports": [{ "name": "anamedport", "protocol": "TCP", "port": 555,
                            "hostPort": 0, "hostIP": "" }] });
        if store == Store::Kdd {
            // The pod is the endpoint: the MAC is not stored (upstream's KDD test patches it
            // back before comparing).
            expected.as_object_mut().unwrap().remove("mac");
        }
        assert_eq!(
            serde_json::to_value(&wep.spec).unwrap(),
            expected,
            "{store:?}"
        );
        assert_eq!(h.sysctl(&format!("net/ipv6/conf/{veth}/accept_ra")), "0");
        assert_eq!(
            h.sysctl(&format!("net/ipv4/conf/{veth}/route_localnet")),
            "1"
        );
        // No profile is created with policy k8s (KDD has none but kns./ksa. ones).
        if store != Store::Kdd {
            assert!(h.profile(NET).is_none());
        }
        // The pod was read with the kubeconfig's credentials (the CNI service account).
        assert!(h.api().requests().iter().any(|r| r.method == "GET"
            && r.path == "/api/v1/namespaces/test/pods/pod-1"
            && r.user == testkit::CNI_USER
            && r.status == 200));
        if store == Store::Kdd {
            let pod = h.api().get("v1", "pods", Some("test"), "pod-1").unwrap();
            assert_eq!(
                pod["metadata"]["annotations"],
                json!({ "cni.projectcalico.org/containerID": "cid1",
                        "cni.projectcalico.org/podIP": ip,
                        "cni.projectcalico.org/podIPs": ip })
            );
        }

        h.exec(inv(&h, "DEL", "cid1", &c, &conf, "pod-1"))
            .assert_success();
        assert!(h.live_weps().is_empty());
        assert!(!h.ip(&["-o", "link"]).contains(&veth));
        assert!(h.reservations(NET).is_empty());
    }
}

/// generateName is copied.
#[test]
fn generate_name_is_copied() {
    each_of(&K8S_STORES, |store| {
        let h = Host::new(store);
        h.namespace("test", json!({}));
        h.api().create(json!({ "apiVersion": "v1", "kind": "Pod",
            "metadata": { "name": "gen-abcde", "namespace": "test", "generateName": "gen-" },
            "spec": { "nodeName": NODE, "containers": [{ "name": "c", "image": "pause" }] } }));
        let c = TempNetns::new();
        let conf = conf(&h, json!({}));
        h.exec(inv(&h, "ADD", "cid1", &c, &conf, "gen-abcde"))
            .assert_success();
        let wep = h.wep("test", &wep_name("gen-abcde")).unwrap();
        assert_eq!(wep.metadata.generate_name, "gen-");
        // No service account given: the API server's admission gave it `default`.
        assert_eq!(wep.spec.profiles, vec!["kns.test", "ksa.test.default"]);
        h.exec(inv(&h, "DEL", "cid1", &c, &conf, "gen-abcde"))
            .assert_success();
    });
}

/// A pod the API does not know fails ADD before any allocation.
#[test]
fn unknown_pod_fails_cleanly() {
    each_of(&K8S_STORES, |store| {
        let h = Host::new(store);
        h.namespace("test", json!({}));
        let c = TempNetns::new();
        let conf = conf(&h, json!({}));
        let run = h.exec(inv(&h, "ADD", "cid1", &c, &conf, "ghost"));
        assert_eq!(run.code, 1);
        assert_eq!(run.json()["msg"], "pods \"ghost\" not found");
        assert!(h.reservations(NET).is_empty());
        assert!(h.live_weps().is_empty());
    });
}

/// 10.2.4: host-local `usePodCidr` from the Node's podCIDRs; custom routes with and without
/// `include_default_routes`; a requested `IP=`.
#[test]
fn host_local_use_pod_cidr_and_routes() {
    for store in K8S_STORES {
        let h = Host::new(store);
        h.namespace("test", json!({}));
        h.pod("test", "p1", json!({}), json!({}));
        h.node_pod_cidrs(&["10.10.0.0/24", "dead:beef::/96"]);
        for include_default in [false, true] {
            let c = TempNetns::new();
            let conf = conf(
                &h,
                json!({ "include_default_routes": include_default,
                        "ipam": { "type": "host-local", "dataDir": h.ipam_dir(),
                          "ranges": [[{ "subnet": "usePodCidr" }], [{ "subnet": "usePodCidrIPv6" }]],
                          "routes": [{ "dst": "10.123.0.0/16" }, { "dst": "10.124.0.0/16" },
                                     { "dst": "dead:beef::/96" }] } }),
            );
            let run = h.exec(
                h.invocation("ADD", "cid1", c.path(), &conf)
                    .args(format!("{};IP=10.10.0.42", k8s_args("p1"))),
            );
            run.assert_success();
            let ips: Vec<String> = run.json()["ips"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["address"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(ips[0], "10.10.0.42/32", "{store:?}");
            assert!(ips[1].starts_with("dead:beef::"), "{ips:?}");
            let r4 = c.ip_stdout(&["route"]);
            assert!(
                r4.contains("10.123.0.0/16 via 169.254.1.1 dev eth0"),
                "{r4}"
            );
            assert!(
                r4.contains("10.124.0.0/16 via 169.254.1.1 dev eth0"),
                "{r4}"
            );
            assert_eq!(
                r4.contains("default via 169.254.1.1"),
                include_default,
                "{r4}"
            );
            let r6 = c.ip_stdout(&["-6", "route"]);
            assert!(
                r6.contains("dead:beef::/96 via fe80::ecee:eeff:feee:eeee dev eth0"),
                "{r6}"
            );
            assert_eq!(r6.contains("default via"), include_default, "{r6}");
            let a = c.ip_stdout(&["addr"]);
            assert!(!a.contains("tentative"), "{a}");
            // DEL needs no API for usePodCidr; the address is free again.
            h.exec(inv(&h, "DEL", "cid1", &c, &conf, "p1"))
                .assert_success();
            assert!(h.reservations(NET).is_empty());
        }
        // No podCIDR on the node → Calico's error.
        h.node_pod_cidrs(&[]);
        let c = TempNetns::new();
        let conf = conf(
            &h,
            json!({ "ipam": { "type": "host-local", "dataDir": h.ipam_dir(),
                              "subnet": "usePodCidr" } }),
        );
        let run = h.exec(inv(&h, "ADD", "cid1", &c, &conf, "p1"));
        assert_eq!(run.code, 1);
        assert_eq!(run.json()["msg"], format!("no podCidr for node {NODE}"));
    }
}

/// 10.2.5: pool annotations (pod over namespace) and ipFamilies reach calico-ipam's config.
#[test]
fn pool_and_family_annotations_reach_calico_ipam() {
    each_of(&K8S_STORES, |store| {
        let h = Host::new(store);
        let log = h.install_fake_calico_ipam();
        h.namespace(
            "test",
            json!({ "cni.projectcalico.org/ipv4pools": "[\"ns-pool\"]",
                "cni.projectcalico.org/ipv6pools": "[\"ns-pool6\"]" }),
        );
        h.pod(
            "test",
            "p1",
            json!({ "cni.projectcalico.org/ipv4pools": "[\"pod-pool\",\"10.22.0.0/24\"]",
                "cni.projectcalico.org/ipFamilies": "[\"IPv4\"]" }),
            json!({}),
        );
        let c = TempNetns::new();
        let conf = conf(&h, json!({ "ipam": calico_ipam(&h) }));
        h.exec(inv(&h, "ADD", "cid1", &c, &conf, "p1"))
            .assert_success();
        let seen: Value =
            serde_json::from_str(&std::fs::read_to_string(log.join("stdin-ADD")).unwrap()).unwrap();
        assert_eq!(
            seen["ipam"]["ipv4_pools"],
            json!(["pod-pool", "10.22.0.0/24"])
        );
        assert_eq!(seen["ipam"]["ipv6_pools"], json!(["ns-pool6"]));
        assert_eq!(seen["ipam"]["assign_ipv4"], "true");
        assert_eq!(seen["ipam"]["assign_ipv6"], "false");
        h.exec(inv(&h, "DEL", "cid1", &c, &conf, "p1"))
            .assert_success();

        // A bad family is an error before any allocation.
        h.pod(
            "test",
            "p2",
            json!({ "cni.projectcalico.org/ipFamilies": "[\"IPv5\"]" }),
            json!({}),
        );
        let run = h.exec(inv(&h, "ADD", "cid2", &c, &conf, "p2"));
        assert_eq!(run.code, 1);
        assert!(run.json()["msg"]
            .as_str()
            .unwrap()
            .starts_with("error parsing ipFamilies"));
        assert!(h.live_weps().is_empty());
    });
}

/// 10.2.9: `ipAddrs` asks IPAM for that address (`IP=` in CNI_ARGS); needs calico-ipam.
#[test]
fn ip_addrs_annotation() {
    for store in K8S_STORES {
        let h = Host::new(store);
        let log = h.install_fake_calico_ipam();
        h.namespace("test", json!({}));
        h.pod(
            "test",
            "p1",
            json!({ "cni.projectcalico.org/ipAddrs": "[\"10.22.0.111\"]" }),
            json!({}),
        );
        let c = TempNetns::new();
        let conf = conf(&h, json!({ "ipam": calico_ipam(&h) }));
        let run = h.exec(inv(&h, "ADD", "cid1", &c, &conf, "p1"));
        run.assert_success();
        assert_eq!(run.json()["ips"][0]["address"], "10.22.0.111/32");
        assert!(std::fs::read_to_string(log.join("args-ADD"))
            .unwrap()
            .trim_end()
            .ends_with(";IP=10.22.0.111"));
        assert!(c
            .ip_stdout(&["addr", "show", "eth0"])
            .contains("10.22.0.111/32"));
        assert_eq!(
            h.wep("test", &wep_name("p1")).unwrap().spec.ip_networks,
            vec!["10.22.0.111/32"]
        );
        h.exec(inv(&h, "DEL", "cid1", &c, &conf, "p1"))
            .assert_success();

        // With host-local directly: refused.
        let mut hl = conf.clone();
        hl["ipam"]["type"] = json!("host-local");
        let run = h.exec(inv(&h, "ADD", "cid1", &c, &hl, "p1"));
        assert_eq!(run.code, 1);
        assert_eq!(
            run.json()["msg"],
            "ipAddrs is not compatible with configured IPAM: host-local"
        );
        assert!(h.live_weps().is_empty());
    }
}

/// 10.2.8: `ipAddrsNoIpam` needs the feature flag; bypasses IPAM; at most one IPv4.
#[test]
fn ip_addrs_no_ipam_annotation() {
    each_of(&K8S_STORES, |store| {
        let h = Host::new(store);
        h.install_fake_calico_ipam();
        h.namespace("test", json!({}));
        h.pod(
            "test",
            "p1",
            json!({ "cni.projectcalico.org/ipAddrsNoIpam": "[\"10.0.0.1\"]" }),
            json!({}),
        );
        h.pod(
            "test",
            "p2",
            json!({ "cni.projectcalico.org/ipAddrsNoIpam": "[\"10.0.0.1\",\"10.0.0.2\"]" }),
            json!({}),
        );
        let c = TempNetns::new();
        let off = conf(&h, json!({ "ipam": calico_ipam(&h) }));
        let run = h.exec(inv(&h, "ADD", "cid1", &c, &off, "p1"));
        assert_eq!(run.code, 1);
        assert_eq!(
            run.json()["msg"],
            "requested feature is not enabled: ip_addrs_no_ipam"
        );

        let on = conf(
            &h,
            json!({ "ipam": calico_ipam(&h), "feature_control": { "ip_addrs_no_ipam": true } }),
        );
        let run = h.exec(inv(&h, "ADD", "cid1", &c, &on, "p1"));
        run.assert_success();
        assert_eq!(run.json()["ips"][0]["address"], "10.0.0.1/32");
        assert!(c
            .ip_stdout(&["addr", "show", "eth0"])
            .contains("10.0.0.1/32"));
        assert!(h.reservations(NET).is_empty(), "no IPAM involved");
        assert_eq!(
            h.wep("test", &wep_name("p1")).unwrap().spec.ip_networks,
            vec!["10.0.0.1/32"]
        );
        h.exec(inv(&h, "DEL", "cid1", &c, &on, "p1"))
            .assert_success();

        let c2 = TempNetns::new();
        let run = h.exec(inv(&h, "ADD", "cid2", &c2, &on, "p2"));
        assert_eq!(run.code, 1);
        assert!(run.json()["msg"]
            .as_str()
            .unwrap()
            .contains("more than one IPv4"));
        assert!(h.live_weps().is_empty());
    });
}

/// 10.2.6, 10.2.7, 10.2.10: allowedSourcePrefixes; floatingIPs with and without the flag.
#[test]
fn source_prefixes_and_floating_ips() {
    for store in K8S_STORES {
        let h = Host::new(store);
        h.namespace("test", json!({}));
        h.pod(
            "test",
            "p1",
            json!({ "cni.projectcalico.org/allowedSourcePrefixes": "[\"8.8.8.8/32\",\"1.1.1.0/24\"]",
                    "cni.projectcalico.org/floatingIPs": "[\"1.1.1.1\",\"2001:647f::21\"]" }),
            json!({}),
        );
        let ipam = json!({ "type": "host-local", "dataDir": h.ipam_dir(),
            "ranges": [[{ "subnet": "10.22.0.0/24" }], [{ "subnet": "fd00:22::/64" }]] });
        let c = TempNetns::new();
        let off = conf(&h, json!({ "ipam": ipam }));
        let run = h.exec(inv(&h, "ADD", "cid1", &c, &off, "p1"));
        assert_eq!(run.code, 1);
        assert_eq!(
            run.json()["msg"],
            "requested feature is not enabled: floating_ips"
        );
        assert!(h.live_weps().is_empty());
        assert!(h.reservations(NET).is_empty(), "released");
        assert!(!c.ip_stdout(&["-o", "link"]).contains("eth0"));

        let on = conf(
            &h,
            json!({ "ipam": ipam, "feature_control": { "floating_ips": true } }),
        );
        let run = h.exec(inv(&h, "ADD", "cid1", &c, &on, "p1"));
        run.assert_success();
        let res = run.json();
        let v4 = res["ips"][0]["address"]
            .as_str()
            .unwrap()
            .trim_end_matches("/32");
        let v6 = res["ips"][1]["address"]
            .as_str()
            .unwrap()
            .trim_end_matches("/128");
        let wep = h.wep("test", &wep_name("p1")).unwrap();
        assert_eq!(
            serde_json::to_value(&wep.spec.ip_nats).unwrap(),
            json!([{ "internalIP": v4, "externalIP": "1.1.1.1" },
                   { "internalIP": v6, "externalIP": "2001:647f::21" }])
        );
        assert_eq!(
            wep.spec.allow_spoofed_source_prefixes,
            vec!["8.8.8.8/32", "1.1.1.0/24"]
        );
        h.exec(inv(&h, "DEL", "cid1", &c, &on, "p1"))
            .assert_success();
        assert!(h.live_weps().is_empty());
    }
}

/// 10.2.16: hwAddr sets the container MAC; an invalid one fails and releases.
#[test]
fn hw_addr_annotation() {
    each_of(&K8S_STORES, |store| {
        let h = Host::new(store);
        h.namespace("test", json!({}));
        h.pod(
            "test",
            "p1",
            json!({ "cni.projectcalico.org/hwAddr": "ca:fe:ca:fe:ca:fe" }),
            json!({}),
        );
        h.pod(
            "test",
            "p2",
            json!({ "cni.projectcalico.org/hwAddr": "ca:fe:ca" }),
            json!({}),
        );
        let c = TempNetns::new();
        let conf = conf(&h, json!({}));
        let run = h.exec(inv(&h, "ADD", "cid1", &c, &conf, "p1"));
        run.assert_success();
        assert_eq!(run.json()["interfaces"][1]["mac"], "ca:fe:ca:fe:ca:fe");
        assert!(c
            .ip_stdout(&["link", "show", "eth0"])
            .contains("ca:fe:ca:fe:ca:fe"));
        if store != Store::Kdd {
            // (KDD stores no MAC: the pod is the endpoint.)
            assert_eq!(
                h.wep("test", &wep_name("p1")).unwrap().spec.mac,
                "ca:fe:ca:fe:ca:fe"
            );
        }
        h.exec(inv(&h, "DEL", "cid1", &c, &conf, "p1"))
            .assert_success();

        let run = h.exec(inv(&h, "ADD", "cid2", &c, &conf, "p2"));
        assert_eq!(run.code, 1);
        assert!(run.json()["msg"]
            .as_str()
            .unwrap()
            .starts_with("failed to parse MAC address ca:fe:ca"));
        assert!(h.reservations(NET).is_empty());
        assert!(h.live_weps().is_empty());
    });
}

/// `policy_setup_timeout_seconds`: ADD waits for Felix's status file (here written by the
/// test); a negative value is an error that leaves nothing behind.
#[test]
fn policy_setup_wait() {
    each_of(&K8S_STORES, |store| {
        let h = Host::new(store);
        h.namespace("test", json!({}));
        h.pod("test", "p1", json!({}), json!({}));
        let status = h.dir.path().join("endpoint-status");
        std::fs::create_dir_all(&status).unwrap();
        std::fs::write(status.join("k8s test%2Fp1 eth0"), "{}").unwrap();
        let c = TempNetns::new();
        let good = conf(
            &h,
            json!({ "policy_setup_timeout_seconds": 30, "endpoint_status_dir": status }),
        );
        h.exec(inv(&h, "ADD", "cid1", &c, &good, "p1"))
            .assert_success();
        h.exec(inv(&h, "DEL", "cid1", &c, &good, "p1"))
            .assert_success();

        let bad = conf(&h, json!({ "policy_setup_timeout_seconds": -1 }));
        let run = h.exec(inv(&h, "ADD", "cid1", &c, &bad, "p1"));
        assert_eq!(run.code, 1);
        assert_eq!(run.json()["msg"], "invalid pod startup delay of -1");
        assert!(h.live_weps().is_empty());
        assert!(h.reservations(NET).is_empty());
        assert!(!c.ip_stdout(&["-o", "link"]).contains("eth0"));
    });
}

/// 10.2.15: `calico -t` with a kubeconfig also needs the API server's `/version`.
#[test]
fn test_connection_checks_the_api() {
    each_of(&K8S_STORES, |store| {
        let h = Host::new(store);
        let conf = conf(&h, json!({}));
        // What the local store does on first use; `-t` itself only reads it.
        h.ds(|ds| {
            ds.ensure_cluster_information("test", "test").unwrap();
        });
        let t = |conf: &Value| {
            let bytes = serde_json::to_vec(conf).unwrap();
            h.netns
                .run(move || {
                    use std::io::Write;
                    let mut child = std::process::Command::new(calico())
                        .arg("-t")
                        .stdin(std::process::Stdio::piped())
                        .stdout(std::process::Stdio::piped())
                        .spawn()
                        .unwrap();
                    child.stdin.take().unwrap().write_all(&bytes).unwrap();
                    let out = child.wait_with_output().unwrap();
                    (
                        out.status.code(),
                        String::from_utf8_lossy(&out.stdout).into_owned(),
                    )
                })
                .unwrap()
        };
        // /version failing (once): the test fails.
        h.api().inject(
            testkit::Fault::new(
                "/version",
                testkit::Action::Status(503, "ServiceUnavailable".into(), "not yet".into()),
            )
            .times(1),
        );
        let (code, out) = t(&conf);
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("data store connection failed"), "{out}");
        assert_eq!(t(&conf), (Some(0), String::new()));
        // A slow API: each request gets 2 s, as in Calico.
        h.api().inject(
            testkit::Fault::new(
                "/version",
                testkit::Action::Delay(std::time::Duration::from_secs(4)),
            )
            .times(1),
        );
        let started = std::time::Instant::now();
        let (code, out) = t(&conf);
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("context deadline exceeded"), "{out}");
        assert!(started.elapsed() < std::time::Duration::from_secs(4));
    });
}

/// The parts of a result that a new sandbox must not change: everything but the IPs, the
/// container MAC and the address part of calico-ipam's routes (their `dst` is the IP with the
/// block's mask, `10.0.0.5/26`, so it follows the IP; the mask must stay).
fn shape(r: &Value) -> Value {
    let mut r = r.clone();
    r["ips"] = Value::Null;
    r["interfaces"][1]["mac"] = Value::Null;
    for route in r["routes"].as_array_mut().into_iter().flatten() {
        let dst = route["dst"].as_str().unwrap();
        let mask = dst.split_once('/').map(|(_, m)| m.to_string());
        route["dst"] = json!(mask);
    }
    r
}

/// 10.2.12 (Calico's "after a pod has already been networked once"): a second ADD for a new
/// sandbox (new container ID) in the same netns gets a new IP and a new MAC, the result is
/// otherwise the same, and the first sandbox's handle keeps its IP. With the host veth renamed
/// first (`cali…` → `sali…`, as upstream rigs it), the second ADD fails and the first
/// sandbox's allocation, links and endpoint are kept.
#[test]
fn second_sandbox_in_the_same_netns() {
    for store in K8S_STORES {
        for rigged in [false, true] {
            eprintln!("--- store {store:?}, veth renamed: {rigged}");
            let h = Host::new(store);
            h.install_calico_ipam(&["10.0.0.0/24"]);
            h.namespace("test", json!({}));
            h.pod("test", "pod1", json!({}), json!({}));
            let c = TempNetns::new();
            let conf = conf(&h, json!({ "ipam": { "type": "calico-ipam" } }));
            let (old, new) = ("old-cid", "new-container-id");

            let first = h.exec(inv(&h, "ADD", old, &c, &conf, "pod1"));
            first.assert_success();
            let r1 = first.json();
            let wep1 = h.wep("test", &wep_name("pod1")).expect("endpoint");
            assert_eq!(wep1.spec.container_id, old);
            let old_ip = r1["ips"][0]["address"].as_str().unwrap().to_string();
            assert_eq!(wep1.spec.ip_networks, vec![old_ip.clone()]);
            // Upstream's checkIPAMReservation: the old handle holds exactly the endpoint's IP.
            let old_handle = format!("{NET}.{old}");
            let new_handle = format!("{NET}.{new}");
            let check_reservation = || {
                let held = h.ips_by_handle(&old_handle);
                assert_eq!(held.len(), 1, "{store:?}: {held:?}");
                assert_eq!(format!("{}/32", held[0]), old_ip);
            };
            check_reservation();
            let veth = wep1.spec.interface_name.clone();

            if !rigged {
                let second = h.exec(inv(&h, "ADD", new, &c, &conf, "pod1"));
                second.assert_success();
                let r2 = second.json();
                assert_ne!(r2["ips"], r1["ips"], "{store:?}");
                assert_ne!(r2["interfaces"][1]["mac"], r1["interfaces"][1]["mac"]);
                assert_eq!(shape(&r2), shape(&r1), "{store:?}");
                check_reservation();
                let new_ip = r2["ips"][0]["address"].as_str().unwrap().to_string();
                let addr = new_ip.trim_end_matches("/32");
                assert!(
                    r2["routes"][0]["dst"]
                        .as_str()
                        .unwrap()
                        .starts_with(&format!("{addr}/")),
                    "{r2}"
                );
                let held = h.ips_by_handle(&new_handle);
                assert_eq!(
                    held.iter().map(|ip| format!("{ip}/32")).collect::<Vec<_>>(),
                    vec![new_ip.clone()]
                );
                // The container has the new address and MAC only; the endpoint is the new one.
                let a = c.ip_stdout(&["-o", "addr", "show", "eth0"]);
                assert!(a.contains(&new_ip) && !a.contains(&old_ip), "{a}");
                let l = c.ip_stdout(&["-o", "link", "show", "eth0"]);
                assert!(
                    l.contains(r2["interfaces"][1]["mac"].as_str().unwrap()),
                    "{l}"
                );
                let wep2 = h.wep("test", &wep_name("pod1")).unwrap();
                assert_eq!(wep2.spec.container_id, new);
                assert_eq!(wep2.spec.ip_networks, vec![new_ip.clone()]);

                // The old sandbox's DEL releases its handle only; the new one's removes the rest.
                h.exec(inv(&h, "DEL", old, &c, &conf, "pod1"))
                    .assert_success();
                assert!(h.ips_by_handle(&old_handle).is_empty());
                assert_eq!(h.live_weps().len(), 1);
                assert_eq!(h.ips_by_handle(&new_handle).len(), 1);
                h.exec(inv(&h, "DEL", new, &c, &conf, "pod1"))
                    .assert_success();
            } else {
                let tweaked = veth.replacen("cali", "sali", 1);
                let rename = |from: &str, to: &str| {
                    h.ip(&["link", "set", from, "down"]);
                    h.ip(&["link", "set", from, "name", to]);
                    h.ip(&["link", "set", to, "up"]);
                };
                rename(&veth, &tweaked);
                let second = h.exec(inv(&h, "ADD", new, &c, &conf, "pod1"));
                assert_eq!(second.code, 1, "{second}");
                check_reservation();
                // The failed sandbox's allocation was given back; the first one is untouched.
                assert!(h.ips_by_handle(&new_handle).is_empty(), "{store:?}");
                let wep = h.wep("test", &wep_name("pod1")).unwrap();
                assert_eq!(wep.spec.container_id, old);
                assert_eq!(wep.spec.ip_networks, vec![old_ip.clone()]);
                let a = c.ip_stdout(&["-o", "addr", "show", "eth0"]);
                assert!(a.contains(&old_ip), "{a}");
                // Upstream's teardown renames the veth back, which needs it to still exist.
                rename(&tweaked, &veth);
                h.exec(inv(&h, "DEL", old, &c, &conf, "pod1"))
                    .assert_success();
            }
            assert!(h.live_weps().is_empty());
            assert!(h.ips_by_handle(&old_handle).is_empty());
            assert!(h.ips_by_handle(&new_handle).is_empty());
            assert!(!h.ip(&["-o", "link"]).contains(&veth[4..]));
        }
    }
}

/// 10.2.17 (and 10.1.13 on the k8s path): with cniVersion ≥ 0.3.0 and calico-ipam, v4 only →
/// 2 interfaces, 1 IP, 1 route; dual stack → 2 IPs, 2 routes (one per family); every IP's
/// `interface` points at `eth0`, which carries the container's MAC and the sandbox path.
#[test]
fn result_interfaces_ips_and_routes() {
    for store in K8S_STORES {
        let h = Host::new(store);
        h.install_calico_ipam(&["10.0.0.0/24", "fd80:24e2:f998:72d6::/64"]);
        h.namespace("test", json!({}));
        h.pod("test", "pod1", json!({}), json!({}));
        for version in ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] {
            for dual in [false, true] {
                let c = TempNetns::new();
                let cid = format!("c{}{dual}", version.replace('.', ""));
                let conf = conf(
                    &h,
                    json!({ "cniVersion": version,
                            "ipam": { "type": "calico-ipam", "assign_ipv4": "true",
                                      "assign_ipv6": if dual { "true" } else { "false" } } }),
                );
                let run = h.exec(inv(&h, "ADD", &cid, &c, &conf, "pod1"));
                run.assert_success();
                let res = run.json();
                let what = format!("{store:?} {version} dual={dual}: {res}");
                assert_eq!(res["cniVersion"], version, "{what}");
                let n = if dual { 2 } else { 1 };
                let ifaces = res["interfaces"].as_array().unwrap();
                let ips = res["ips"].as_array().unwrap();
                let routes = res["routes"].as_array().unwrap();
                assert_eq!(ifaces.len(), 2, "{what}");
                assert_eq!(ips.len(), n, "{what}");
                assert_eq!(routes.len(), n, "{what}");
                let link = c.ip_stdout(&["-o", "link", "show", "eth0"]);
                for ip in ips {
                    let i = ip["interface"].as_u64().expect("interface index") as usize;
                    let iface = &ifaces[i];
                    assert_eq!(iface["name"], "eth0", "{what}");
                    let mac = iface["mac"].as_str().unwrap();
                    assert!(!mac.is_empty() && link.contains(mac), "{what}\n{link}");
                    assert_eq!(iface["sandbox"], c.path().to_str().unwrap(), "{what}");
                }
                let v6 = |s: &Value| s.as_str().unwrap().contains(':');
                let ip_families: Vec<bool> = ips.iter().map(|i| v6(&i["address"])).collect();
                let route_families: Vec<bool> = routes.iter().map(|r| v6(&r["dst"])).collect();
                let expected = if dual { vec![false, true] } else { vec![false] };
                assert_eq!(ip_families, expected, "{what}");
                let mut route_families = route_families;
                route_families.sort();
                assert_eq!(route_families, expected, "{what}");
                h.exec(inv(&h, "DEL", &cid, &c, &conf, "pod1"))
                    .assert_success();
            }
        }
        assert!(h.live_weps().is_empty());
    }
}

// ---- https: the stand-in server over TLS (no apiserver can be installed here) ----

/// A fresh PKI (CA + a 127.0.0.1 certificate and PKCS#8 EC key, `testkit::make_pki`) in
/// `dir`; two directories give two CAs that do not trust each other.
fn pki_in(dir: &Path) -> TlsFiles {
    std::fs::create_dir_all(dir).unwrap();
    testkit::make_pki(dir)
}

fn b64_of(path: &Path) -> String {
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).unwrap())
}

/// testkit's stand-in API server in the host netns (as `Host::api`), serving `pki`'s
/// certificate; with `client_certs` it requires a client certificate from `pki`'s CA and
/// authenticates requests as its CN.
fn tls_api(h: &Host, pki: &TlsFiles, client_certs: bool) -> KubeApi {
    let opts = KubeApiOptions {
        tls: Some(pki.clone()),
        client_ca: client_certs.then(|| pki.ca.clone()),
        require_client_cert: client_certs,
        ..KubeApiOptions::default()
    };
    h.netns.run(|| KubeApi::start(opts)).unwrap()
}

/// A kubeconfig at `path` pointing at `api`, with `cluster` and `user` (YAML lines, each
/// `key: value`) as the cluster and user entries.
fn kubeconfig_at(api: &KubeApi, path: &Path, cluster: &[&str], user: &[&str]) -> PathBuf {
    let indent =
        |lines: &[&str]| -> String { lines.iter().map(|l| format!("    {l}\n")).collect() };
    std::fs::write(
        path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {}\n{}users:\n- name: calico\n  user:\n{}contexts:\n- name: calico-context\n  context:\n    cluster: local\n    user: calico\ncurrent-context: calico-context\n",
            api.url(),
            indent(cluster),
            indent(user),
        ),
    )
    .unwrap();
    path.to_path_buf()
}

fn tls_conf(h: &Host, kubeconfig: &Path) -> Value {
    h.conf(
        "1.0.0",
        NET,
        json!({ "policy": { "type": "k8s" }, "kubernetes": { "kubeconfig": kubeconfig } }),
    )
}

/// Namespace `test` and pod `p1` in it (service account `default`, which the stand-in makes
/// with the namespace), unless they exist.
fn put_p1(api: &KubeApi) {
    if api.get("v1", "namespaces", None, "test").is_none() {
        api.create(json!({ "apiVersion": "v1", "kind": "Namespace",
                           "metadata": { "name": "test" } }));
    }
    if api.get("v1", "pods", Some("test"), "p1").is_none() {
        api.create(json!({ "apiVersion": "v1", "kind": "Pod",
            "metadata": { "name": "p1", "namespace": "test", "labels": { "app": "test" } },
            "spec": { "nodeName": NODE, "serviceAccountName": "default",
                      "containers": [{ "name": "c", "image": "pause" }] } }));
    }
}

/// ADD of pod `p1` (namespace `test`, both put in the stand-in first).
fn add_p1(h: &Host, api: &KubeApi, c: &TempNetns, conf: &Value) -> PluginRun {
    put_p1(api);
    h.exec(inv(h, "ADD", "cid1", c, conf, "p1"))
}

/// The stand-in's record of the (successful) GET of pod `p1`.
fn pod_get(api: &KubeApi) -> RequestRecord {
    let reqs = api.requests();
    reqs.iter()
        .find(|r| r.method == "GET" && r.path == "/api/v1/namespaces/test/pods/p1")
        .cloned()
        .unwrap_or_else(|| {
            let lines: Vec<String> = reqs.iter().map(|r| r.line()).collect();
            panic!("no GET of pod p1 in {lines:?}")
        })
}

/// A successful ADD made the pod's endpoint (so the Pod was read over TLS); DEL removes it.
fn assert_added_then_del(h: &Host, c: &TempNetns, conf: &Value, run: &PluginRun) {
    run.assert_success();
    let wep = h.wep("test", &wep_name("p1")).expect("endpoint");
    assert_eq!(wep.spec.profiles, vec!["kns.test", "ksa.test.default"]);
    h.exec(inv(h, "DEL", "cid1", c, conf, "p1"))
        .assert_success();
    assert!(h.weps().is_empty());
}

/// A failed ADD left nothing: no endpoint, no IPAM reservation, no veth on either side.
fn assert_nothing_left(h: &Host, c: &TempNetns) {
    assert!(h.weps().is_empty());
    assert!(h.reservations(NET).is_empty());
    assert!(!c.ip_stdout(&["-o", "link"]).contains("eth0"));
    assert!(!h.ip(&["-o", "link"]).contains("cali"));
}

/// Every request came on a connection with a verified client certificate, was the user of
/// its CN, `user`, and carried no token; at least one TLS connection, each with a client
/// certificate.
fn assert_client_cert_only(api: &KubeApi, user: &str) {
    let certs = api.client_certs();
    assert!(!certs.is_empty() && certs.iter().all(|&c| c), "{certs:?}");
    let reqs = api.requests();
    assert!(!reqs.is_empty());
    for r in &reqs {
        assert_eq!(
            (r.user.as_str(), r.client_cert, r.token.as_deref()),
            (user, true, None),
            "{}",
            r.line()
        );
    }
}

/// https with `certificate-authority-data` and a bearer `token` (what Calico's installer
/// writes): ADD reads the Pod over TLS, authenticated by that token. Runs against testkit's
/// stand-in API server because no apiserver can be installed here.
#[test]
fn https_with_ca_data_and_token() {
    for store in STORES {
        let h = Host::new(store);
        let pki = pki_in(&h.dir.path().join("pki"));
        let api = tls_api(&h, &pki, false);
        api.add_token("tls-token", "tls-user", Rule::calico_cni_plugin());
        let kc = kubeconfig_at(
            &api,
            &h.dir.path().join("kubeconfig"),
            &[&format!("certificate-authority-data: {}", b64_of(&pki.ca))],
            &["token: \"tls-token\""],
        );
        let c = TempNetns::new();
        let conf = tls_conf(&h, &kc);
        let run = add_p1(&h, &api, &c, &conf);
        assert_added_then_del(&h, &c, &conf, &run);
        let get = pod_get(&api);
        assert_eq!(
            (
                get.user.as_str(),
                get.token.as_deref(),
                get.client_cert,
                get.status
            ),
            ("tls-user", Some("tls-token"), false, 200)
        );
        // TLS all the way: connections were made, none with a client certificate.
        let certs = api.client_certs();
        assert!(!certs.is_empty() && certs.iter().all(|&c| !c), "{certs:?}");
    }
}

/// https with a `certificate-authority` file and a client certificate + PKCS#8 key as
/// files; the stand-in requires and verifies client certificates, saw one on every
/// connection, and authenticated every request as its CN (the plugin's user here: bound to
/// Calico's calico-cni-plugin role). Runs against testkit's stand-in API server because no
/// apiserver can be installed here.
#[test]
fn https_with_ca_file_and_client_certificate() {
    for store in STORES {
        let h = Host::new(store);
        let pki = pki_in(&h.dir.path().join("pki"));
        let client = testkit::issue(pki.ca.parent().unwrap(), "client", "/CN=calico-cni");
        assert!(std::fs::read_to_string(&client.key)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----"));
        let api = tls_api(&h, &pki, true);
        api.bind("calico-cni", Rule::calico_cni_plugin());
        let kc = kubeconfig_at(
            &api,
            &h.dir.path().join("kubeconfig"),
            &[&format!("certificate-authority: {}", pki.ca.display())],
            &[
                &format!("client-certificate: {}", client.cert.display()),
                &format!("client-key: {}", client.key.display()),
            ],
        );
        let c = TempNetns::new();
        let conf = tls_conf(&h, &kc);
        let run = add_p1(&h, &api, &c, &conf);
        assert_added_then_del(&h, &c, &conf, &run);
        // No token configured: none sent.
        assert_client_cert_only(&api, "calico-cni");
        assert_eq!(pod_get(&api).status, 200);
    }
}

/// A server certificate from another CA: ADD fails with Go's TLS error text naming the
/// server's URL before anything is allocated, and no TLS handshake completed, so no request
/// reached the server; the same with no CA in the kubeconfig and system roots that do not
/// include the server's CA. Runs against testkit's stand-in API server because no apiserver
/// can be installed here.
#[test]
fn https_with_wrong_or_no_ca_fails_cleanly() {
    let h = Host::new(Store::Local);
    let pki = pki_in(&h.dir.path().join("pki"));
    let other = pki_in(&h.dir.path().join("other-pki"));
    let api = tls_api(&h, &pki, false);
    let token = format!("token: {CNI_TOKEN}");
    let c = TempNetns::new();

    let kc = kubeconfig_at(
        &api,
        &h.dir.path().join("kubeconfig"),
        &[&format!("certificate-authority: {}", other.ca.display())],
        &[&token],
    );
    let conf = tls_conf(&h, &kc);
    let run = add_p1(&h, &api, &c, &conf);
    assert_eq!(run.code, 1, "{}", run.stdout);
    // The Namespace is the first object read. Both test CAs are named `cnitest-ca`, so the
    // wrong one is a candidate issuer whose signature does not verify (Go: unknown authority,
    // "possibly because of" the failed candidate).
    let msg = run.json()["msg"].as_str().unwrap().to_string();
    let want = format!(
        "Get \"https://127.0.0.1:{}/api/v1/namespaces/test\": tls: failed to verify certificate: x509: certificate signed by unknown authority",
        api.port()
    );
    assert!(msg.starts_with(&want), "{msg}");
    assert_nothing_left(&h, &c);
    assert!(api.requests().is_empty());
    assert!(api.client_certs().is_empty());

    // No CA in the kubeconfig: the system roots (here SSL_CERT_FILE, as Go honours it), which
    // do not vouch for the stand-in's certificate.
    let kc = kubeconfig_at(&api, &h.dir.path().join("kubeconfig-no-ca"), &[], &[&token]);
    let conf = tls_conf(&h, &kc);
    put_p1(&api);
    let other_ca = other.ca.display().to_string();
    let run = h.exec(inv(&h, "ADD", "cid1", &c, &conf, "p1").env("SSL_CERT_FILE", &other_ca));
    assert_eq!(run.code, 1, "{}", run.stdout);
    let msg = run.json()["msg"].as_str().unwrap().to_string();
    assert!(msg.starts_with(&want), "{msg}");
    assert_nothing_left(&h, &c);
    assert!(api.requests().is_empty());
    assert!(api.client_certs().is_empty());
}

/// No CA in the kubeconfig and system roots that include the server's CA: ADD succeeds, as
/// client-go falls back to the system roots. Runs against testkit's stand-in API server
/// because no apiserver can be installed here.
#[test]
fn https_with_system_roots() {
    let h = Host::new(Store::Local);
    let pki = pki_in(&h.dir.path().join("pki"));
    let api = tls_api(&h, &pki, false);
    let c = TempNetns::new();
    let kc = kubeconfig_at(
        &api,
        &h.dir.path().join("kubeconfig"),
        &[],
        &[&format!("token: {CNI_TOKEN}")],
    );
    let conf = tls_conf(&h, &kc);
    put_p1(&api);
    let ca = pki.ca.display().to_string();
    let run = h.exec(inv(&h, "ADD", "cid1", &c, &conf, "p1").env("SSL_CERT_FILE", &ca));
    assert_added_then_del(&h, &c, &conf, &run);
    let get = pod_get(&api);
    assert_eq!((get.user.as_str(), get.status), (CNI_USER, 200));
}

/// `insecure-skip-tls-verify: true`: a server certificate no configured CA vouches for is
/// accepted; the client certificate and SEC1 EC key come inline (`client-certificate-data`,
/// `client-key-data`) and the stand-in requires them and authenticates with them. Runs
/// against testkit's stand-in API server because no apiserver can be installed here.
#[test]
fn https_insecure_skip_tls_verify() {
    let h = Host::new(Store::Local);
    let pki = pki_in(&h.dir.path().join("pki"));
    let api = tls_api(&h, &pki, true);
    api.bind("calico-cni", Rule::calico_cni_plugin());
    let dir = pki.ca.parent().unwrap();
    let client = testkit::issue(dir, "client", "/CN=calico-cni");
    openssl(dir, &["ec", "-in", "client.key", "-out", "client-sec1.key"]);
    let key = dir.join("client-sec1.key");
    assert!(std::fs::read_to_string(&key)
        .unwrap()
        .starts_with("-----BEGIN EC PRIVATE KEY-----"));
    let kc = kubeconfig_at(
        &api,
        &h.dir.path().join("kubeconfig"),
        &["insecure-skip-tls-verify: true"],
        &[
            &format!("client-certificate-data: {}", b64_of(&client.cert)),
            &format!("client-key-data: {}", b64_of(&key)),
        ],
    );
    let c = TempNetns::new();
    let conf = tls_conf(&h, &kc);
    let run = add_p1(&h, &api, &c, &conf);
    assert_added_then_del(&h, &c, &conf, &run);
    assert_client_cert_only(&api, "calico-cni");
}

/// Relative `certificate-authority`, `client-certificate`, `client-key` and `tokenFile` are
/// relative to the kubeconfig's directory (client-go's rule), not to the plugin's working
/// directory; the client key here is a PKCS#1 RSA key. The request carries both the client
/// certificate (it authenticates: the apiserver tries x509 before tokens) and the file's
/// token. Runs against testkit's stand-in API server because no apiserver can be installed
/// here.
#[test]
fn https_relative_paths_from_the_kubeconfig_dir() {
    let h = Host::new(Store::Local);
    let kc_dir = h.dir.path().join("etc-cni");
    let pki = pki_in(&kc_dir.join("pki"));
    let dir = pki.ca.parent().unwrap();
    // An RSA client certificate from the same CA, its key in PKCS#1 ("RSA PRIVATE KEY").
    openssl(dir, &["genrsa", "-traditional", "-out", "rsa.key", "2048"]);
    testkit::sign(dir, "rsa.key", "calico", "rsa.pem");
    assert!(std::fs::read_to_string(dir.join("rsa.key"))
        .unwrap()
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    std::fs::write(kc_dir.join("token"), "file-token\n").unwrap();
    let api = tls_api(&h, &pki, true);
    api.bind("calico", Rule::calico_cni_plugin());
    let kc = kubeconfig_at(
        &api,
        &kc_dir.join("calico-kubeconfig"),
        &["certificate-authority: pki/ca.pem"],
        &[
            "client-certificate: pki/rsa.pem",
            "client-key: pki/rsa.key",
            "tokenFile: token",
        ],
    );
    let c = TempNetns::new();
    let conf = tls_conf(&h, &kc);
    let run = add_p1(&h, &api, &c, &conf);
    assert_added_then_del(&h, &c, &conf, &run);
    let get = pod_get(&api);
    assert_eq!(
        (
            get.user.as_str(),
            get.client_cert,
            get.token.as_deref(),
            get.status
        ),
        ("calico", true, Some("file-token"), 200)
    );
}

/// A credential plugin script at `dir/name` printing `credential` (JSON), as EKS's
/// `aws eks get-token` or GKE's `gke-gcloud-auth-plugin` print theirs; the kubeconfig runs it
/// with `/bin/sh` (executing a file this process has just written races the other test
/// threads' forks, which briefly hold it open for writing: ETXTBSY).
fn exec_plugin(dir: &Path, name: &str, credential: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("cat <<'EOF'\n{credential}\nEOF\n")).unwrap();
    p
}

/// A kubeconfig user whose credentials come from a client-go credential plugin
/// (`users[].user.exec`, client.authentication.k8s.io/v1): the plugin's token, or its client
/// certificate, authenticates every request; a plugin that is not installed fails the ADD
/// with client-go's text and leaves nothing. Runs against testkit's stand-in API server
/// because no apiserver can be installed here.
#[test]
fn https_with_an_exec_credential_plugin() {
    let h = Host::new(Store::Local);
    let pki = pki_in(&h.dir.path().join("pki"));
    let c = TempNetns::new();
    // ADD of p1 with a kubeconfig whose user runs `command` (a script: through /bin/sh); the
    // config it ran with.
    let add_with = |api: &KubeApi, command: &Path| {
        let (command, args) = if command.exists() {
            ("/bin/sh".to_string(), format!("  - {}", command.display()))
        } else {
            (command.display().to_string(), String::new())
        };
        let command = format!("  command: {command}");
        let user = [
            "exec:",
            "  apiVersion: client.authentication.k8s.io/v1",
            &command,
            "  args:",
            &args,
            "  interactiveMode: Never",
            "  installHint: install it",
        ];
        let ca = format!("certificate-authority: {}", pki.ca.display());
        let kc = kubeconfig_at(api, &h.dir.path().join("kubeconfig"), &[&ca], &user);
        let conf = tls_conf(&h, &kc);
        (add_p1(&h, api, &c, &conf), conf)
    };

    // A token.
    let api = tls_api(&h, &pki, false);
    api.add_token("exec-token", "exec-user", Rule::calico_cni_plugin());
    let plugin = exec_plugin(
        h.dir.path(),
        "get-token",
        &json!({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                "status": {"token": "exec-token", "expirationTimestamp": "2999-01-01T00:00:00Z"}}),
    );
    let (run, conf) = add_with(&api, &plugin);
    assert_added_then_del(&h, &c, &conf, &run);
    let get = pod_get(&api);
    assert_eq!(
        (get.user.as_str(), get.token.as_deref(), get.status),
        ("exec-user", Some("exec-token"), 200)
    );
    drop(api);

    // A client certificate (the server requires one).
    let api = tls_api(&h, &pki, true);
    api.bind("exec-cert", Rule::calico_cni_plugin());
    let client = testkit::issue(pki.ca.parent().unwrap(), "exec-client", "/CN=exec-cert");
    let plugin = exec_plugin(
        h.dir.path(),
        "get-cert",
        &json!({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                "status": {"clientCertificateData": std::fs::read_to_string(&client.cert).unwrap(),
                           "clientKeyData": std::fs::read_to_string(&client.key).unwrap()}}),
    );
    let (run, conf) = add_with(&api, &plugin);
    assert_added_then_del(&h, &c, &conf, &run);
    assert_client_cert_only(&api, "exec-cert");

    // Not installed.
    api.clear_requests();
    let (run, _) = add_with(&api, Path::new("/nonexistent/get-token"));
    assert_eq!(run.code, 1, "{}", run.stdout);
    let msg = run.json()["msg"].as_str().unwrap().to_string();
    assert!(
        msg.starts_with(&format!(
            "Get \"https://127.0.0.1:{}/api/v1/namespaces/test\": getting credentials: exec: executable /nonexistent/get-token not found\n\nIt looks like you are trying to use a client-go credential plugin that is not installed.",
            api.port()
        )),
        "{msg}"
    );
    assert!(msg.ends_with("\n\ninstall it"), "{msg}");
    assert!(api.requests().is_empty());
    assert_nothing_left(&h, &c);
}
