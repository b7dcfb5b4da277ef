//! Golden JSON of the Kubernetes datastore: each custom resource we write, as the request body
//! (byte for byte in the field order of Calico's Go structs) and as the API server stores it
//! (what `kubectl get -o json` shows, server-set metadata masked), compared with the object
//! Calico writes (calico-kdd.md §3). Runs against testkit's stand-in API server, which prunes
//! and type-checks custom resources with Calico's CRD schemas as a real one does.

use std::collections::BTreeMap;
use std::path::PathBuf;

use datastore::model::{
    AffinityState, AllocationAttribute, Block, BlockAffinity, Handle, ATTR_NAMESPACE, ATTR_NODE,
    ATTR_POD, ATTR_TIMESTAMP,
};
use datastore::resources::{ClusterInformation, ClusterInformationSpec, IpPool, IpPoolSpec};
use datastore::{BlockAffinityKey, BlockKey, Datastore, HandleKey, IpamConfigKey};
use serde_json::{json, Value};
use testkit::{KubeApi, KubeApiOptions, ADMIN_TOKEN};

const CREATED: &str = "2026-08-22T13:33:20Z";

/// Compares with `testdata/kdd/<name>`; `UPDATE_GOLDEN=1` writes it instead (then read the
/// diff against calico-kdd.md before committing).
fn check(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/kdd")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("{actual}\n")).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let want = text
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("{name} ends with one newline"));
    assert_eq!(actual, want, "{name}");
}

struct Kdd {
    api: KubeApi,
    ds: Datastore,
    _dir: tempfile::TempDir,
}

fn kdd() -> Kdd {
    let dir = testkit::temp_dir();
    let api = KubeApi::start(KubeApiOptions::default());
    let kc = api.write_kubeconfig(&dir.path().join("kubeconfig"), ADMIN_TOKEN);
    let ds = Datastore::from_netconf(&json!({
        "datastore_type": "kubernetes",
        "calico_api_group": "crd.projectcalico.org/v1",
        "kubernetes": { "kubeconfig": kc },
    }))
    .unwrap();
    Kdd { api, ds, _dir: dir }
}

/// The body of the last request `method` made to a path containing `path`.
fn body_of(api: &KubeApi, method: &str, path: &str) -> String {
    let r = api
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.method == method && r.path.contains(path))
        .unwrap_or_else(|| panic!("no {method} {path}"));
    String::from_utf8(r.body).unwrap()
}

/// The stored object with what the server sets masked.
fn stored(api: &KubeApi, resource: &str, name: &str) -> Value {
    let mut v = api
        .get("crd.projectcalico.org/v1", resource, None, name)
        .unwrap_or_else(|| panic!("{resource}/{name} not stored"));
    let meta = v["metadata"].as_object_mut().unwrap();
    for k in ["uid", "resourceVersion", "creationTimestamp", "generation"] {
        assert!(meta.remove(k).is_some(), "the server sets {k}");
    }
    v
}

fn sample_block() -> Block {
    let attrs = BTreeMap::from([
        (ATTR_NAMESPACE.to_string(), "default".to_string()),
        (ATTR_NODE.to_string(), "node1".to_string()),
        (ATTR_POD.to_string(), "web-0".to_string()),
        (
            ATTR_TIMESTAMP.to_string(),
            "2026-08-22 13:33:20.4 +0000 UTC".to_string(),
        ),
    ]);
    let mut b = Block::new(
        "10.244.1.0/29".parse().unwrap(),
        Some(Block::host_affinity("node1")),
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_787_405_600),
    );
    b.allocations[0] = Some(0);
    b.unallocated.remove(0);
    b.attributes = vec![AllocationAttribute {
        handle_id: Some("k8s-pod-network.0f3a9c".into()),
        active_owner_attrs: attrs,
        alternate_owner_attrs: BTreeMap::new(),
    }];
    b.sequence_number_for_allocation = BTreeMap::from([("0".into(), b.sequence_number)]);
    b.sequence_number += 1;
    b
}

#[test]
fn ipam_objects_as_calico_writes_them() {
    let k = kdd();
    let cidr = "10.244.1.0/29".parse().unwrap();

    k.ds.create(&BlockKey::new(cidr), &sample_block()).unwrap();
    check(
        "ipamblock.request.json",
        &body_of(&k.api, "POST", "/ipamblocks"),
    );
    check(
        "ipamblock.stored.json",
        &stored(&k.api, "ipamblocks", "10-244-1-0-29").to_string(),
    );

    let akey = BlockAffinityKey::host("node1", cidr);
    let rev =
        k.ds.create(&akey, &BlockAffinity::new(AffinityState::Pending))
            .unwrap();
    check(
        "blockaffinity.request.json",
        &body_of(&k.api, "POST", "/blockaffinities"),
    );
    k.ds.update(&akey, &BlockAffinity::new(AffinityState::Confirmed), rev)
        .unwrap();
    check(
        "blockaffinity.stored.json",
        &stored(&k.api, "blockaffinities", "node1-10-244-1-0-29").to_string(),
    );

    let hkey = HandleKey::new("k8s-pod-network.0F3A9C");
    let mut h = Handle::default();
    h.increment("10.244.1.0/29", 1);
    let rev = k.ds.create(&hkey, &h).unwrap();
    // An update sends the handle's UID back (the server checks it), as Calico does.
    h.increment("10.244.1.0/29", 1);
    k.ds.update(&hkey, &h, rev).unwrap();
    let uid = k
        .api
        .get(
            "crd.projectcalico.org/v1",
            "ipamhandles",
            None,
            "k8s-pod-network.0f3a9c",
        )
        .unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let put = body_of(&k.api, "PUT", "/ipamhandles/");
    let put: Value = serde_json::from_str(&put).unwrap();
    assert_eq!(put["metadata"]["uid"], uid);
    check(
        "ipamhandle.stored.json",
        &stored(&k.api, "ipamhandles", "k8s-pod-network.0f3a9c").to_string(),
    );

    // calico-ipam's IPAM config, created on first use with v3.32's defaults.
    assert!(k.ds.get(&IpamConfigKey).unwrap().is_none());
    let cfg = k.ds.ipam_config().unwrap();
    assert!(cfg.auto_allocate_blocks && !cfg.strict_affinity);
    check(
        "ipamconfig.request.json",
        &body_of(&k.api, "POST", "/ipamconfigs"),
    );
}

#[test]
fn resources_as_calicoctl_writes_them() {
    let k = kdd();
    let mut pool = IpPool::new(
        "default-ipv4-ippool",
        IpPoolSpec::with_cidr("10.244.0.0/16"),
    );
    pool.metadata.creation_timestamp = Some(CREATED.into());
    pool.metadata.labels = BTreeMap::from([
        ("team".to_string(), "a".to_string()),
        ("projectcalico.org/tier".to_string(), "x".to_string()),
    ]);
    let created = k.ds.create_resource(&pool).unwrap();
    let body: Value = serde_json::from_str(&body_of(&k.api, "POST", "/ippools")).unwrap();
    let mut shape = body.clone();
    // calicoctl gives a new object a random UID (the server replaces it); bit-reversed on the
    // wire as Calico sends it.
    assert!(shape["metadata"]["uid"].as_str().unwrap().len() == 36);
    shape["metadata"].as_object_mut().unwrap().remove("uid");
    check("ippool.request.json", &shape.to_string());
    // Read back: Calico's metadata from the annotation, the UID reversed from the server's.
    let stored_uid = k
        .api
        .get(
            "crd.projectcalico.org/v1",
            "ippools",
            None,
            "default-ipv4-ippool",
        )
        .unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let back =
        k.ds.get_resource(&datastore::ResourceKey::<IpPoolSpec>::global(
            "default-ipv4-ippool",
        ))
        .unwrap()
        .unwrap();
    assert_eq!(back.metadata.labels, pool.metadata.labels);
    assert_eq!(back.metadata.creation_timestamp.as_deref(), Some(CREATED));
    assert_ne!(back.metadata.uid, stored_uid);
    assert_eq!(
        back.metadata.resource_version,
        created.metadata.resource_version
    );
    assert_eq!(back.spec, created.spec);

    let ci = ClusterInformation::new(
        "default",
        ClusterInformationSpec {
            cluster_guid: "0f1e2d3c4b5a69788796a5b4c3d2e1f0".into(),
            cluster_type: "k8s,kdd".into(),
            calico_version: "v3.32.0".into(),
            datastore_ready: Some(true),
            variant: "Calico".into(),
        },
    );
    k.ds.create_resource(&ci).unwrap();
    check(
        "clusterinformation.stored-spec.json",
        &stored(&k.api, "clusterinformations", "default")["spec"].to_string(),
    );
}
