//! A node's local store moved into etcd through an export: same keys, same values.

#![cfg(feature = "etcdv3")]

mod common;

use common::{EtcdFixture, Fixture, LocalFixture};
use datastore::export::{export, import, parse_export};
use datastore::model::{AffinityState, Block, BlockAffinity};
use datastore::resources::{IpPool, IpPoolSpec};
use datastore::{BlockAffinityKey, BlockKey};

#[test]
fn a_local_store_exports_into_etcd() {
    let local = LocalFixture::new();
    let ds = local.datastore();
    let cidr = "10.0.0.0/26".parse().unwrap();
    ds.create_resource(&IpPool::new("p", IpPoolSpec::with_cidr("10.0.0.0/16")))
        .unwrap();
    ds.create(
        &BlockAffinityKey::host("node1", cidr),
        &BlockAffinity::new(AffinityState::Confirmed),
    )
    .unwrap();
    ds.create(
        &BlockKey::new(cidr),
        &Block::new(
            cidr,
            Some(Block::host_affinity("node1")),
            std::time::SystemTime::now(),
        ),
    )
    .unwrap();
    ds.kv().create("/other/not-calico", b"x").unwrap();

    let text = export(ds.kv(), "/calico/").unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    let pairs = parse_export(&text).unwrap();

    let etcd = EtcdFixture::new();
    let target = etcd.open();
    assert_eq!(import(target.as_ref(), &pairs, false).unwrap(), 3);
    assert_eq!(
        import(target.as_ref(), &pairs, false).unwrap(),
        0,
        "existing keys kept"
    );
    let moved = target.list("/calico/").unwrap();
    assert_eq!(moved.len(), 3);
    for (a, b) in pairs.iter().zip(&moved) {
        assert_eq!((&a.key, &a.value), (&b.key, &b.value));
    }
    assert_eq!(target.get("/other/not-calico").unwrap(), None);
    assert_eq!(
        import(target.as_ref(), &pairs, true).unwrap(),
        3,
        "overwrite"
    );
}
