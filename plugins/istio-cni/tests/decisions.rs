//! Every decision branch of ADD against the stand-in API server: which pods get rules, which
//! are passed through untouched, which fail, and how the pod GET is retried (404, 401, slow
//! answers). Root needed (pod netns).

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use testkit::{Action, Fault, Method};

fn rules_in(ns: &testkit::TempNetns) -> bool {
    save(ns, "iptables-nft-save").contains("ISTIO")
}

/// Pods that get no rules: ADD succeeds, prints the prevResult, writes nothing.
#[test]
fn skipped_pods() {
    let c = Cluster::start();
    let st = json!({STATUS: "{}"});
    let cases: Vec<(&str, Value, Value, &str)> = vec![
        (
            "disable-envoy",
            st.clone(),
            json!({"env": [{"name": "DISABLE_ENVOY", "value": "true"}]}),
            "DISABLE_ENVOY",
        ),
        (
            "router",
            st.clone(),
            json!({"args": ["proxy", "router"]}),
            "proxy type",
        ),
        (
            "no-status",
            json!({}),
            json!({}),
            "not containing sidecar annotation",
        ),
        (
            "inject-false",
            json!({STATUS: "{}", "sidecar.istio.io/inject": "false"}),
            json!({}),
            "inject-disabled",
        ),
    ];
    let prev = prev_result("10.2.0.2/24");
    for (name, annotations, proxy, why) in cases {
        c.pod("apps", name, annotations, proxy);
        let ns = pod_netns(&["10.2.0.2/24"]);
        let run = add(
            ns.path(),
            "apps",
            name,
            &c.conf("1.0.0", Some(prev.clone())),
        )
        .run();
        run.assert_success();
        assert_eq!(run.json(), prev, "{name}");
        assert!(!rules_in(&ns), "{name}: no rules expected");
        assert!(run.stderr.contains(why), "{name}: {}", run.stderr);
    }
    // Injected the old way (istio-init does the rules itself).
    c.api.create(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "old-way", "namespace": "apps", "annotations": {STATUS: "{}"}},
        "spec": {"initContainers": [{"name": "istio-init", "image": "proxyv2"}],
                 "containers": [{"name": "istio-proxy", "image": "proxyv2"}]}}));
    let ns = pod_netns(&["10.2.0.6/24"]);
    let run = add(ns.path(), "apps", "old-way", &c.conf("1.0.0", None)).run();
    run.assert_success();
    assert!(run.stderr.contains("istio-init"), "{}", run.stderr);
    assert!(!rules_in(&ns));
    // The label wins over the annotation: label "true", annotation "false" → rules.
    c.api.create(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "label-wins", "namespace": "apps",
                     "labels": {"sidecar.istio.io/inject": "true"},
                     "annotations": {STATUS: "{}", "sidecar.istio.io/inject": "false"}},
        "spec": {"containers": [{"name": "istio-proxy", "image": "proxyv2"}]}}));
    let ns = pod_netns(&["10.2.0.3/24"]);
    add(ns.path(), "apps", "label-wins", &c.conf("1.0.0", None))
        .run()
        .assert_success();
    assert!(rules_in(&ns));
    // No istio-proxy at all.
    c.api.create(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "plain", "namespace": "apps", "annotations": {STATUS: "{}"}},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]}}));
    let ns = pod_netns(&["10.2.0.4/24"]);
    let run = add(ns.path(), "apps", "plain", &c.conf("1.0.0", None)).run();
    run.assert_success();
    assert!(
        run.stderr.contains("does not have istio-proxy"),
        "{}",
        run.stderr
    );
    assert!(!rules_in(&ns));
    // A native sidecar (istio-proxy as an init container) counts.
    c.api.create(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "native", "namespace": "apps", "annotations": {STATUS: "{}"}},
        "spec": {"initContainers": [{"name": "istio-proxy", "image": "proxyv2", "restartPolicy": "Always"}],
                 "containers": [{"name": "app", "image": "busybox"}]}}));
    let ns = pod_netns(&["10.2.0.5/24"]);
    add(ns.path(), "apps", "native", &c.conf("1.0.0", None))
        .run()
        .assert_success();
    assert!(rules_in(&ns));
}

/// Excluded namespaces and non-Kubernetes ADDs make no request; our own agent pod passes even
/// without a kubeconfig; anything else needs it.
#[test]
fn passes_without_a_pod_lookup() {
    let c = Cluster::start();
    let ns = pod_netns(&["10.2.1.2/24"]);
    let prev031 = json!({"cniVersion": "0.3.1",
        "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/x"}],
        "ips": [{"version": "4", "address": "10.2.1.2/24", "interface": 0}]});
    let conf = c.conf("0.3.1", Some(prev031.clone()));
    let run = add(ns.path(), "kube-system", "coredns", &conf).run();
    run.assert_success();
    let mut want = prev031.clone();
    want["dns"] = json!({});
    assert_eq!(
        run.json(),
        want,
        "passed through (via 1.x) in the config's version"
    );
    let plain = testkit::Invocation::new(plugin())
        .command("ADD")
        .container_id("c1")
        .netns(ns.path())
        .ifname("eth0")
        .path("/opt/cni/bin")
        .stdin(conf.clone().into_bytes())
        .run();
    plain.assert_success();
    assert_eq!(c.api.requests().len(), 0, "no request made");
    assert!(!rules_in(&ns));

    std::fs::remove_file(c.kubeconfig()).unwrap();
    let own = add(ns.path(), "istio-system", "istio-cni-node-x7k2p", &conf).run();
    own.assert_success();
    let other = add(ns.path(), "istio-system", "istiod-1", &conf).run();
    assert_eq!(other.code, 1);
    assert_eq!(
        other.json(),
        json!({"code": 999, "msg": format!(
            "failed to createNewK8sClient: failed to setup client: stat {}: no such file or directory",
            c.kubeconfig().display())})
    );
    // Unknown CNI_ARGS without IgnoreUnknown.
    let bad = add(ns.path(), "a", "b", &conf).args("FOO=bar").run();
    assert_eq!(
        bad.json()["msg"],
        "failed to load args: ARGS: unknown args [\"FOO=bar\"]"
    );
}

/// A pod that is not found: the GET is retried (the count and pause are upstream's 30 x 1 s;
/// shortened here through the test knobs), then ADD fails with the API's message.
#[test]
fn pod_not_found_is_retried_then_fails() {
    let c = Cluster::start();
    let ns = pod_netns(&["10.2.2.2/24"]);
    let run = add(ns.path(), "apps", "missing", &c.conf("1.0.0", None))
        .env("ISTIO_CNI_POD_RETRIES", "4")
        .env("ISTIO_CNI_POD_RETRY_INTERVAL_MS", "20")
        .run();
    assert_eq!(run.code, 1);
    assert_eq!(
        run.json(),
        json!({"code": 999, "msg": "pods \"missing\" not found"})
    );
    assert_eq!(
        c.api.count("GET", "/api/v1/namespaces/apps/pods/missing"),
        4
    );
    assert!(!rules_in(&ns));
}

/// 401 with upstream's own pause: two refused GETs, then the token works again → rules, after
/// two 1 s pauses. A token that stays refused fails with `Unauthorized`.
#[test]
fn unauthorized_then_recovered_with_upstreams_pause() {
    let c = Cluster::start();
    c.pod("apps", "auth", json!({STATUS: "{}"}), json!({}));
    c.api.inject(
        Fault::new(
            "/pods/auth",
            Action::Status(401, "Unauthorized".into(), "Unauthorized".into()),
        )
        .method(Method::Get)
        .times(2),
    );
    let ns = pod_netns(&["10.2.3.2/24"]);
    let t = Instant::now();
    add(ns.path(), "apps", "auth", &c.conf("1.0.0", None))
        .run()
        .assert_success();
    assert!(t.elapsed() >= Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(c.api.count("GET", "/pods/auth"), 3);
    assert!(rules_in(&ns));

    c.api.revoke_token(TOKEN);
    let ns = pod_netns(&["10.2.3.3/24"]);
    let run = add(ns.path(), "apps", "auth", &c.conf("1.0.0", None))
        .env("ISTIO_CNI_POD_RETRIES", "2")
        .env("ISTIO_CNI_POD_RETRY_INTERVAL_MS", "10")
        .run();
    assert_eq!(run.json(), json!({"code": 999, "msg": "Unauthorized"}));
    assert!(!rules_in(&ns));
}

/// A slow answer is waited for; one slower than the request timeout counts as a failed
/// attempt and the next attempt succeeds.
#[test]
fn slow_answers() {
    let c = Cluster::start();
    c.pod("apps", "slow", json!({STATUS: "{}"}), json!({}));
    c.api.inject(
        Fault::new("/pods/slow", Action::Delay(Duration::from_millis(1200)))
            .method(Method::Get)
            .times(1),
    );
    let ns = pod_netns(&["10.2.4.2/24"]);
    let t = Instant::now();
    add(ns.path(), "apps", "slow", &c.conf("1.0.0", None))
        .run()
        .assert_success();
    assert!(t.elapsed() >= Duration::from_millis(1200));
    assert_eq!(c.api.count("GET", "/pods/slow"), 1);
    assert!(rules_in(&ns));

    c.api.inject(
        Fault::new("/pods/slow", Action::Delay(Duration::from_secs(3)))
            .method(Method::Get)
            .times(1),
    );
    let ns = pod_netns(&["10.2.4.3/24"]);
    let t = Instant::now();
    let run = add(ns.path(), "apps", "slow", &c.conf("1.0.0", None))
        .env("ISTIO_CNI_POD_REQUEST_TIMEOUT_MS", "400")
        .env("ISTIO_CNI_POD_RETRY_INTERVAL_MS", "10")
        .run();
    run.assert_success();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(
        run.stderr.contains("context deadline exceeded"),
        "{}",
        run.stderr
    );
    assert!(rules_in(&ns));
}

/// Failures after the lookup: a bad annotation, a netns that is gone; and the verbs that do
/// nothing.
#[test]
fn failures_and_other_verbs() {
    let c = Cluster::start();
    c.pod(
        "apps",
        "bad",
        json!({STATUS: "{}", "sidecar.istio.io/interceptionMode": "NONE"}),
        json!({}),
    );
    let ns = pod_netns(&["10.2.5.2/24"]);
    let run = add(ns.path(), "apps", "bad", &c.conf("1.0.0", None)).run();
    assert_eq!(
        run.json()["msg"],
        "annotation value error for value redirectMode; annotationFound = true: interceptionMode invalid: NONE"
    );
    assert!(!rules_in(&ns));

    c.pod("apps", "gone", json!({STATUS: "{}"}), json!({}));
    let run = add(
        std::path::Path::new("/run/netns/no-such-pod"),
        "apps",
        "gone",
        &c.conf("1.0.0", None),
    )
    .run();
    assert_eq!(
        run.json()["msg"],
        "failed to open netns \"/run/netns/no-such-pod\": failed to Statfs \"/run/netns/no-such-pod\": no such file or directory"
    );

    // A pod netns with only loopback: upstream's getLocalIP finds nothing.
    let bare = testkit::TempNetns::new();
    let run = add(bare.path(), "apps", "gone", &c.conf("1.0.0", None)).run();
    assert_eq!(run.json()["msg"], "no valid local IP address found");

    for (verb, version) in [("DEL", "1.0.0"), ("CHECK", "1.0.0"), ("DEL", "0.3.1")] {
        let r = add(ns.path(), "apps", "bad", &c.conf(version, None))
            .command(verb)
            .run();
        r.assert_success();
        assert_eq!(r.stdout, "", "{verb}");
    }
    let r = add(ns.path(), "apps", "bad", &c.conf("0.3.1", None))
        .command("CHECK")
        .run();
    assert_eq!(r.json()["code"], 1, "CHECK needs 0.4.0");
}

/// `DRY_RUN_FILE_PATH`, as upstream's plugin dry-run test uses it: the binary, run as a
/// runtime runs it for a default sidecar pod, writes exactly upstream's `basic.txt.golden`
/// (HEAD) and changes nothing in the netns.
#[test]
fn dry_run_writes_the_basic_golden() {
    let c = Cluster::start();
    c.pod("apps", "dry", json!({STATUS: "true"}), json!({}));
    let ns = pod_netns(&["10.2.6.2/24"]);
    let out = c.dir.path().join("dry-run.txt");
    add(ns.path(), "apps", "dry", &c.conf("1.0.0", None))
        .env("DRY_RUN_FILE_PATH", &out)
        .run()
        .assert_success();
    let golden = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/upstream/plugin/basic.txt.golden"),
    )
    .unwrap();
    let golden: String = golden
        .split_inclusive('\n')
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), golden);
    assert!(!rules_in(&ns));
}
