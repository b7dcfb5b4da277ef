//! Calico's objects through the typed layer, on both backends: keys, metadata handling,
//! listings, compare-and-swap loops, defaults, backend selection from a NetConf.

mod common;

use std::sync::Barrier;
use std::thread;

#[cfg(feature = "etcdv3")]
use common::EtcdFixture;
use common::{Fixture, LocalFixture};
use datastore::model::{AffinityState, Block, BlockAffinity, Handle, IpamConfig};
use datastore::resources::{
    IpPool, IpPoolSpec, Profile, ProfileSpec, WorkloadEndpoint, WorkloadEndpointSpec,
    DEFAULT_ALLOW_PROFILE,
};
use datastore::{
    BlockAffinityKey, BlockAffinityList, BlockKey, BlockList, Change, Datastore, DatastoreError,
    HandleKey, HandleList, IpamConfigKey, Key, ResourceKey, ResourceList,
};
use serde_json::json;

for_each_backend!(
    resources_get_calico_metadata,
    resources_are_stored_as_calico_writes_them,
    endpoints_list_by_namespace_and_name_prefix,
    the_default_allow_profile_always_exists,
    ipam_objects_live_under_calicos_keys,
    modify_is_a_compare_and_swap_loop,
    ipam_config_defaults_when_absent,
    apply_creates_then_updates,
    corrupt_values_fail_gets_and_are_skipped_by_lists,
    cluster_information_is_created_once,
);

fn pool(name: &str, cidr: &str) -> IpPool {
    IpPool::new(name, IpPoolSpec::with_cidr(cidr))
}

fn resources_get_calico_metadata(f: &dyn Fixture) {
    let ds = f.datastore();
    let created = ds.create_resource(&pool("p1", "10.0.0.0/16")).unwrap();
    assert_eq!(
        created.metadata.uid.len(),
        36,
        "a random uid: {}",
        created.metadata.uid
    );
    let ts = created
        .metadata
        .creation_time()
        .expect("creationTimestamp set");
    assert!(ts.elapsed().unwrap().as_secs() < 600);
    let rev: i64 = created.metadata.resource_version.parse().unwrap();
    assert!(rev > 0);

    let key = ResourceKey::<IpPoolSpec>::global("p1");
    let got = ds.get_resource(&key).unwrap().unwrap();
    assert_eq!(got, created);

    let err = ds.create_resource(&pool("p1", "10.1.0.0/16")).unwrap_err();
    assert_eq!(err.to_string(), "resource already exists: IPPool(p1)");

    let mut edit = got.clone();
    edit.spec.disabled = true;
    let updated = ds.update_resource(&edit).unwrap();
    assert!(updated.metadata.resource_version.parse::<i64>().unwrap() > rev);
    assert_eq!(updated.metadata.uid, created.metadata.uid);
    // The old copy lost the race.
    let err = ds.update_resource(&got).unwrap_err();
    assert_eq!(err.to_string(), "update conflict: IPPool(p1)");
    assert_eq!(libcni::CniCode::code(&err), 11);
    assert!(ds.get_resource(&key).unwrap().unwrap().spec.disabled);

    let mut no_version = updated.clone();
    no_version.metadata.resource_version.clear();
    assert!(
        ds.update_resource(&no_version).is_err(),
        "update needs a resourceVersion"
    );

    let deleted = ds.delete_resource(&key, None).unwrap().unwrap();
    assert!(deleted.spec.disabled);
    assert_eq!(ds.get_resource(&key).unwrap(), None);
    let err = ds.delete_resource(&key, None).unwrap_err();
    assert_eq!(err.to_string(), "resource does not exist: IPPool(p1)");
}

fn resources_are_stored_as_calico_writes_them(f: &dyn Fixture) {
    let ds = f.datastore();
    let mut p = IpPool::new(
        "default-ipv4-ippool",
        IpPoolSpec {
            ipip_mode: "Always".into(),
            nat_outgoing: true,
            node_selector: "has(zone) && zone == \"a\"".into(),
            ..IpPoolSpec::with_cidr("192.168.0.0/16")
        },
    );
    // Given uid and creation time are kept, so the stored bytes are the golden ones.
    p.metadata.uid = "5f1a9c3e-2b7d-4e8a-9c61-0d2f4b6a8e10".into();
    p.metadata.creation_timestamp = Some("2026-08-22T13:33:20Z".into());
    p.metadata.resource_version = String::new();
    ds.create_resource(&p).unwrap();
    let raw = ds
        .kv()
        .get("/calico/resources/v3/projectcalico.org/ippools/default-ipv4-ippool")
        .unwrap()
        .unwrap();
    let golden =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/ippool.json"))
            .unwrap();
    assert_eq!(String::from_utf8(raw.value).unwrap(), golden.trim_end());
}

fn endpoints_list_by_namespace_and_name_prefix(f: &dyn Fixture) {
    let ds = f.datastore();
    for (ns, name) in [
        ("default", "node1-k8s-pod--1-eth0"),
        ("default", "node1-k8s-pod--1-eth1"),
        ("default", "node1-k8s-pod--10-eth0"),
        ("default", "node2-k8s-pod--1-eth0"),
        ("kube-system", "node1-k8s-dns-eth0"),
    ] {
        let wep = WorkloadEndpoint::namespaced(
            ns,
            name,
            WorkloadEndpointSpec {
                node: name.split('-').next().unwrap().into(),
                ..WorkloadEndpointSpec::default()
            },
        );
        ds.create_resource(&wep).unwrap();
    }
    let names = |list: ResourceList<WorkloadEndpointSpec>| -> Vec<String> {
        ds.list_resources(&list)
            .unwrap()
            .into_iter()
            .map(|w| format!("{}/{}", w.metadata.namespace, w.metadata.name))
            .collect()
    };
    assert_eq!(
        names(ResourceList::in_namespace("default").name_prefix("node1-k8s-pod--1-")),
        [
            "default/node1-k8s-pod--1-eth0",
            "default/node1-k8s-pod--1-eth1"
        ]
    );
    assert_eq!(
        names(ResourceList::in_namespace("kube-system")),
        ["kube-system/node1-k8s-dns-eth0"]
    );
    assert_eq!(names(ResourceList::all()).len(), 5);
    assert_eq!(names(ResourceList::all().name_prefix("node1-")).len(), 4);

    let key = ResourceKey::<WorkloadEndpointSpec>::namespaced("default", "node2-k8s-pod--1-eth0");
    assert_eq!(
        key.path(),
        "/calico/resources/v3/projectcalico.org/workloadendpoints/default/node2-k8s-pod--1-eth0"
    );
    let wep = ds.get_resource(&key).unwrap().unwrap();
    assert_eq!(wep.spec.node, "node2");
    assert_eq!(wep.kind, "WorkloadEndpoint");

    let orphan = WorkloadEndpoint::new("no-namespace", WorkloadEndpointSpec::default());
    assert!(
        ds.create_resource(&orphan).is_err(),
        "a namespaced kind needs a namespace"
    );
}

fn the_default_allow_profile_always_exists(f: &dyn Fixture) {
    let ds = f.datastore();
    let key = ResourceKey::<ProfileSpec>::global(DEFAULT_ALLOW_PROFILE);
    let p = ds.get_resource(&key).unwrap().unwrap();
    assert_eq!(p.spec.ingress[0].action, "Allow");
    assert_eq!(p.spec.egress[0].action, "Allow");
    ds.create_resource(&Profile::new("net1", ProfileSpec::default()))
        .unwrap();
    let names: Vec<String> = ds
        .list_resources(&ResourceList::<ProfileSpec>::all())
        .unwrap()
        .into_iter()
        .map(|p| p.metadata.name)
        .collect();
    assert_eq!(names, ["net1", DEFAULT_ALLOW_PROFILE]);
    assert!(
        ds.kv()
            .list("/calico/resources/v3/projectcalico.org/profiles/")
            .unwrap()
            .len()
            == 1
    );
}

fn ipam_objects_live_under_calicos_keys(f: &dyn Fixture) {
    let ds = f.datastore();
    let now = std::time::SystemTime::now();
    for (host, cidr) in [
        ("node1", "10.0.0.0/26"),
        ("node1", "10.0.0.64/26"),
        ("node1", "fd80::/122"),
        ("node10", "10.0.0.128/26"),
    ] {
        let cidr = cidr.parse().unwrap();
        ds.create(
            &BlockAffinityKey::host(host, cidr),
            &BlockAffinity::new(AffinityState::Pending),
        )
        .unwrap();
        ds.create(
            &BlockKey::new(cidr),
            &Block::new(cidr, Some(Block::host_affinity(host)), now),
        )
        .unwrap();
    }
    let raw = ds
        .kv()
        .get("/calico/ipam/v2/host/node1/ipv4/block/10.0.0.64-26")
        .unwrap()
        .unwrap();
    assert_eq!(raw.value, br#"{"state":"pending","deleted":false}"#);
    assert!(ds
        .kv()
        .get("/calico/ipam/v2/assignment/ipv6/block/fd80::-122")
        .unwrap()
        .is_some());

    let mine: Vec<String> = ds
        .list(&BlockAffinityList::host("node1", Some(4)))
        .unwrap()
        .into_iter()
        .map(|(k, _)| k.cidr.to_string())
        .collect();
    assert_eq!(mine, ["10.0.0.0/26", "10.0.0.64/26"]);
    assert_eq!(
        ds.list(&BlockAffinityList::host("node1", None))
            .unwrap()
            .len(),
        3
    );
    assert_eq!(ds.list(&BlockAffinityList::default()).unwrap().len(), 4);
    let v4 = ds
        .list(&BlockList {
            ip_version: Some(4),
        })
        .unwrap();
    assert_eq!(v4.len(), 3);
    assert!(v4
        .iter()
        .all(|(k, b)| k.cidr == b.value.cidr && b.value.num_addresses() == 64));
    assert_eq!(ds.list(&BlockList::default()).unwrap().len(), 4);

    // Confirm an affinity with compare-and-swap.
    let key = BlockAffinityKey::host("node1", "10.0.0.0/26".parse().unwrap());
    let cur = ds.get(&key).unwrap().unwrap();
    assert!(!cur.value.is_confirmed());
    ds.update(
        &key,
        &BlockAffinity::new(AffinityState::Confirmed),
        cur.revision,
    )
    .unwrap();
    assert!(ds.get(&key).unwrap().unwrap().value.is_confirmed());
    let err = ds
        .update(
            &key,
            &BlockAffinity::new(AffinityState::PendingDeletion),
            cur.revision,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "update conflict: BlockAffinityKey(cidr=10.0.0.0/26, host=node1, affinityType=host)"
    );

    let h = HandleKey::new("k8s-pod-network.abc");
    let mut handle = Handle::default();
    handle.increment("10.0.0.0/26", 1);
    ds.create(&h, &handle).unwrap();
    assert_eq!(
        ds.kv()
            .get("/calico/ipam/v2/handle/k8s-pod-network.abc")
            .unwrap()
            .unwrap()
            .value,
        br#"{"block":{"10.0.0.0/26":1},"deleted":false}"#
    );
    assert_eq!(ds.list(&HandleList).unwrap()[0].0, h);
}

/// Handles counted up and down from many threads through `modify` never lose a change, and a
/// handle that reaches zero is deleted.
fn modify_is_a_compare_and_swap_loop(f: &dyn Fixture) {
    const THREADS: usize = 6;
    const EACH: i64 = 10;
    let key = HandleKey::new("net1.shared");
    let start = Barrier::new(THREADS);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (key, start) = (&key, &start);
            s.spawn(move || {
                let ds = f.datastore();
                start.wait();
                let block = format!("10.0.{t}.0/26");
                for _ in 0..EACH {
                    ds.modify(key, 1000, |cur| {
                        let mut h = cur.cloned().unwrap_or_default();
                        h.increment(&block, 1);
                        Ok(Change::Put(h))
                    })
                    .unwrap();
                }
            });
        }
    });
    let ds = f.datastore();
    let h = ds.get(&key).unwrap().unwrap().value;
    assert_eq!(h.block.len(), THREADS);
    assert!(h.block.values().all(|&n| n == EACH), "{h:?}");

    for t in 0..THREADS {
        let block = format!("10.0.{t}.0/26");
        let out = ds
            .modify(&key, 10, |cur| {
                let mut h = cur.cloned().expect("present");
                assert!(h.decrement(&block, EACH));
                Ok(if h.is_empty() {
                    Change::Delete
                } else {
                    Change::Put(h)
                })
            })
            .unwrap();
        assert_eq!(out.is_none(), t == THREADS - 1);
    }
    assert_eq!(ds.get(&key).unwrap(), None, "the empty handle is gone");
    let kept = ds.modify(&key, 10, |cur| {
        assert!(cur.is_none());
        Ok(Change::Keep)
    });
    assert_eq!(kept.unwrap(), None);
    let err = ds
        .modify(&key, 10, |_| Err(DatastoreError::Config("no".into())))
        .unwrap_err();
    assert_eq!(err.to_string(), "no", "the closure's error ends the loop");
}

fn ipam_config_defaults_when_absent(f: &dyn Fixture) {
    let ds = f.datastore();
    assert_eq!(ds.ipam_config().unwrap(), IpamConfig::calico_default());
    ds.create(&IpamConfigKey, &IpamConfig::default()).unwrap();
    assert_eq!(
        ds.kv()
            .get("/calico/ipam/v2/config")
            .unwrap()
            .unwrap()
            .value,
        b"{}"
    );
    assert!(!ds.ipam_config().unwrap().auto_allocate_blocks);
}

fn apply_creates_then_updates(f: &dyn Fixture) {
    let ds = f.datastore();
    let first = ds.apply_resource(&pool("p", "10.0.0.0/16")).unwrap();
    let mut again = pool("p", "10.0.0.0/16");
    again.spec.block_size = 28;
    let second = ds.apply_resource(&again).unwrap();
    assert_eq!(second.metadata.uid, first.metadata.uid);
    assert_eq!(
        second.metadata.creation_timestamp,
        first.metadata.creation_timestamp
    );
    assert_eq!(second.spec.block_size, 28);
    assert_eq!(
        ds.list_resources(&ResourceList::<IpPoolSpec>::all())
            .unwrap()
            .len(),
        1
    );
}

fn corrupt_values_fail_gets_and_are_skipped_by_lists(f: &dyn Fixture) {
    let ds = f.datastore();
    let good: ipnetwork::IpNetwork = "10.0.0.0/26".parse().unwrap();
    ds.create(
        &BlockKey::new(good),
        &Block::new(good, None, std::time::SystemTime::now()),
    )
    .unwrap();
    ds.kv()
        .create(
            "/calico/ipam/v2/assignment/ipv4/block/10.0.0.64-26",
            b"not json",
        )
        .unwrap();
    let err = ds
        .get(&BlockKey::new("10.0.0.64/26".parse().unwrap()))
        .unwrap_err();
    assert!(matches!(err, DatastoreError::Decode { .. }), "{err:?}");
    assert_eq!(ds.list(&BlockList::default()).unwrap().len(), 1);
    assert_eq!(
        ds.kv().list("/calico/ipam/v2/assignment/").unwrap().len(),
        2,
        "the corrupt value is still there, only skipped"
    );
}

/// The NetConf picks the backend: nothing configured → the local store at `datastore_path`.
#[test]
fn netconf_without_etcd_selects_the_local_store() {
    let fixture = LocalFixture::new();
    let ds = Datastore::from_netconf(&json!({
        "name": "net1", "type": "calico", "datastore_path": fixture.dir.path()
    }))
    .unwrap();
    assert_eq!(ds.backend(), "local");
    ds.create_resource(&pool("p", "10.0.0.0/16")).unwrap();
    // A second client of the same directory sees it.
    let other = fixture.datastore();
    assert!(other
        .get_resource(&ResourceKey::<IpPoolSpec>::global("p"))
        .unwrap()
        .is_some());
}

/// `etcd_endpoints` in the NetConf selects etcd.
#[cfg(feature = "etcdv3")]
#[test]
fn netconf_with_endpoints_selects_etcd() {
    let fixture = EtcdFixture::new();
    let ds = Datastore::from_netconf(&json!({
        "name": "net1", "type": "calico", "etcd_endpoints": fixture.server.endpoint()
    }))
    .unwrap();
    assert_eq!(ds.backend(), "etcdv3");
    ds.create_resource(&pool("p", "10.0.0.0/16")).unwrap();
    assert!(fixture
        .datastore()
        .get_resource(&ResourceKey::<IpPoolSpec>::global("p"))
        .unwrap()
        .is_some());
}

fn cluster_information_is_created_once(f: &dyn Fixture) {
    let ds = f.datastore();
    assert!(!ds.is_ready().unwrap());
    let first = ds.ensure_cluster_information("v3.32.0", "cni-rs").unwrap();
    assert_eq!(first.spec.datastore_ready, Some(true));
    assert_eq!(first.spec.cluster_guid.len(), 32);
    assert!(ds.is_ready().unwrap());
    let again = f
        .datastore()
        .ensure_cluster_information("v9", "other")
        .unwrap();
    assert_eq!(
        again.spec.cluster_guid, first.spec.cluster_guid,
        "created once"
    );
    assert_eq!(again.spec.calico_version, "v3.32.0");
}
