//! The libcalico-go IPAM cases of §8.4 through the library, on both backends.

mod common;

use std::collections::BTreeMap;

use datastore::model::IpamConfig;
use datastore::resources::{IpReservation, IpReservationSpec};
use datastore::{BlockAffinityList, BlockKey, IpamConfigKey};
use ipam::{AutoAssignArgs, Ipam};

fn args(host: &str, handle: &str, num4: usize) -> AutoAssignArgs {
    AutoAssignArgs {
        num4,
        handle: handle.into(),
        host: host.into(),
        attrs: BTreeMap::from([("node".to_string(), host.to_string())]),
        ..AutoAssignArgs::default()
    }
}

fn set_config(b: &common::Backend, c: IpamConfig) {
    b.ds().put(&IpamConfigKey, &c).unwrap();
}

both!(borrowing_vs_strict_affinity, |b: common::Backend| {
    // Two blocks of four.
    b.pool("p", "10.0.0.0/29", |s| s.block_size = 30);
    b.node("node2", &[]);
    let ds = b.ds();
    let ipam = Ipam::new(&ds);
    let (a1, _) = ipam.auto_assign(&args("node1", "h1", 1)).unwrap();
    let (a2, _) = ipam.auto_assign(&args("node2", "h2", 1)).unwrap();
    assert_ne!(a1.ips[0].network(), a2.ips[0].network(), "one block each");
    // node1 wants 6: 3 left in its block, none free to claim, 3 borrowed from node2's.
    let (got, _) = ipam.auto_assign(&args("node1", "h3", 6)).unwrap();
    assert_eq!(got.ips.len(), 6, "{got:?}");
    assert_eq!(b.allocations().len(), 8);
    ipam.release_by_handle("h3").unwrap();
    set_config(
        &b,
        IpamConfig {
            strict_affinity: true,
            ..IpamConfig::calico_default()
        },
    );
    let (got, _) = ipam.auto_assign(&args("node1", "h4", 6)).unwrap();
    assert_eq!(got.ips.len(), 3, "only node1's own block");
    let err = got.partial_fulfillment_error().unwrap();
    assert_eq!(
        err,
        "Assigned 3 out of 6 requested IPv4 addresses; No more free affine blocks and strict affinity enabled"
    );
});

both!(block_limit, |b: common::Backend| {
    b.pool("p", "10.0.0.0/28", |s| s.block_size = 30);
    set_config(
        &b,
        IpamConfig {
            strict_affinity: true,
            max_blocks_per_host: 1,
            ..IpamConfig::calico_default()
        },
    );
    let ds = b.ds();
    let ipam = Ipam::new(&ds);
    let err = ipam.auto_assign(&args("node1", "h", 5)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot allocate new block due to per host block limit"
    );
    assert_eq!(
        ds.list(&BlockAffinityList::host("node1", Some(4)))
            .unwrap()
            .len(),
        1
    );
});

both!(reservations_are_skipped, |b: common::Backend| {
    b.pool("p", "10.0.0.0/30", |s| s.block_size = 30);
    b.ds()
        .apply_resource(&IpReservation::new(
            "r",
            IpReservationSpec {
                reserved_cidrs: vec!["10.0.0.0/31".into()],
            },
        ))
        .unwrap();
    let ds = b.ds();
    let ipam = Ipam::new(&ds);
    let (got, _) = ipam.auto_assign(&args("node1", "h", 4)).unwrap();
    let ips: Vec<String> = got.ips.iter().map(|n| n.to_string()).collect();
    assert_eq!(ips, vec!["10.0.0.2/30", "10.0.0.3/30"]);
});

both!(pool_node_selectors, |b: common::Backend| {
    b.node("node1", &[("zone", "a"), ("rack", "r1")]);
    b.pool("pb", "10.1.0.0/16", |s| {
        s.node_selector = "zone == 'b'".into()
    });
    b.pool("pa", "10.2.0.0/16", |s| {
        s.node_selector = "zone in {'a','c'} && !has(gpu) || rack == 'x'".into()
    });
    let ds = b.ds();
    let ipam = Ipam::new(&ds);
    let (got, _) = ipam.auto_assign(&args("node1", "h", 1)).unwrap();
    assert!(got.ips[0].to_string().starts_with("10.2."), "{got:?}");
    b.node("node1", &[("zone", "z")]);
    let err = ipam.auto_assign(&args("node1", "h2", 1)).unwrap_err();
    assert_eq!(err.to_string(), "no configured Calico pools for node node1");
    // A requested pool ignores selectors.
    let mut a = args("node1", "h3", 1);
    a.ipv4_pools = vec!["10.1.0.0/16".parse().unwrap()];
    let (got, _) = ipam.auto_assign(&a).unwrap();
    assert!(got.ips[0].to_string().starts_with("10.1."));
    // Workload use is required.
    b.pool("pa", "10.2.0.0/16", |s| {
        s.allowed_uses = vec!["Tunnel".into()]
    });
    b.node("node1", &[("zone", "a")]);
    let err = ipam.auto_assign(&args("node1", "h4", 1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot find a qualified ippool, no pools match the required use (Workload)"
    );
});

both!(
    specific_ip_and_strict_foreign_block,
    |b: common::Backend| {
        b.pool("p", "10.0.0.0/24", |s| s.block_size = 28);
        b.node("node2", &[]);
        let ds = b.ds();
        let ipam = Ipam::new(&ds);
        let no = BTreeMap::new();
        ipam.assign_ip("10.0.0.5".parse().unwrap(), "h1", &no, "node2")
            .unwrap();
        let block = ds
            .get(&BlockKey::new("10.0.0.0/28".parse().unwrap()))
            .unwrap()
            .unwrap();
        assert_eq!(
            block.value.affinity.as_deref(),
            Some("host:node2"),
            "claimed for the caller"
        );
        // Not strict: node1 may take an address in node2's block.
        ipam.assign_ip("10.0.0.6".parse().unwrap(), "h2", &no, "node1")
            .unwrap();
        set_config(
            &b,
            IpamConfig {
                strict_affinity: true,
                ..IpamConfig::calico_default()
            },
        );
        let err = ipam
            .assign_ip("10.0.0.7".parse().unwrap(), "h3", &no, "node1")
            .unwrap_err();
        assert_eq!(err.to_string(), "Block host affinity does not match");
    }
);

both!(
    release_by_handle_and_empty_block_affinity_release,
    |b: common::Backend| {
        b.node("node1", &[("zone", "a")]);
        b.pool("p", "10.0.0.0/24", |s| {
            s.block_size = 28;
            s.node_selector = "zone == 'a'".into()
        });
        b.pool("q", "10.9.0.0/24", |s| s.block_size = 28);
        let ds = b.ds();
        let ipam = Ipam::new(&ds);
        let mut a = args("node1", "h", 3);
        a.ipv4_pools = vec!["10.0.0.0/24".parse().unwrap()];
        let (got, _) = ipam.auto_assign(&a).unwrap();
        assert_eq!(got.ips.len(), 3);
        ipam.release_by_handle("h").unwrap();
        assert!(ipam.release_by_handle("h").unwrap_err().is_not_found());
        assert!(b.allocations().is_empty());
        // The block stays affine while the pool selects the node...
        assert_eq!(
            ds.list(&BlockAffinityList::host("node1", Some(4)))
                .unwrap()
                .len(),
            1
        );
        // ...and is given back (block and affinity) once it no longer does.
        b.pool("p", "10.0.0.0/24", |s| {
            s.block_size = 28;
            s.node_selector = "zone == 'b'".into()
        });
        let (got, _) = ipam.auto_assign(&args("node1", "h2", 1)).unwrap();
        assert!(got.ips[0].to_string().starts_with("10.9."));
        let affs = ds.list(&BlockAffinityList::host("node1", Some(4))).unwrap();
        assert_eq!(affs.len(), 1);
        assert!(affs[0].0.cidr.to_string().starts_with("10.9."));
        assert!(ds
            .get(&BlockKey::new("10.0.0.0/28".parse().unwrap()))
            .unwrap()
            .is_none());
    }
);

both!(release_ips_fixes_handles, |b: common::Backend| {
    b.pool("p", "10.0.0.0/24", |_| {});
    let ds = b.ds();
    let ipam = Ipam::new(&ds);
    let (got, _) = ipam.auto_assign(&args("node1", "h", 2)).unwrap();
    let first = got.ips[0].ip();
    let unalloc = ipam
        .release_ips(&[
            first,
            "10.0.0.250".parse().unwrap(),
            "192.0.2.1".parse().unwrap(),
        ])
        .unwrap();
    assert_eq!(unalloc.len(), 2);
    assert_eq!(b.allocations().len(), 1);
    let h = ds.get(&datastore::HandleKey::new("h")).unwrap().unwrap();
    assert_eq!(h.value.block.values().sum::<i64>(), 1);
});

both!(
    default_block_limit_and_no_auto_allocation,
    |b: common::Backend| {
        // 32 blocks of one address... /27 pool with /32 blocks: the 21st claim hits the default
        // limit of 20, and that is an error, not a shortfall (libcalico-go's ErrBlockLimit).
        b.pool("p", "10.0.0.0/27", |s| s.block_size = 32);
        let ds = b.ds();
        let ipam = Ipam::new(&ds);
        let (got, _) = ipam.auto_assign(&args("node1", "h1", 20)).unwrap();
        assert_eq!(got.ips.len(), 20);
        let err = ipam.auto_assign(&args("node1", "h2", 1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot allocate new block due to per host block limit"
        );
        // A request limit below the config's applies.
        let mut a = args("node2", "h3", 2);
        a.max_blocks_per_host = 1;
        b.node("node2", &[]);
        assert!(ipam.auto_assign(&a).is_err());
        // Automatic block allocation off (strict on so the config is valid): no claim at all.
        set_config(
            &b,
            IpamConfig {
                strict_affinity: true,
                auto_allocate_blocks: false,
                ..IpamConfig::default()
            },
        );
        b.node("node3", &[]);
        let err = ipam.auto_assign(&args("node3", "h4", 1)).unwrap_err();
        assert_eq!(err.to_string(), "failed to find or claim a block");
    }
);

both!(
    exhausted_pools_and_empty_block_reclaim,
    |b: common::Backend| {
        // One block of four in the pool.
        b.pool("p", "10.0.0.0/30", |s| s.block_size = 30);
        b.node("node2", &[]);
        let ds = b.ds();
        let ipam = Ipam::new(&ds);
        let (got, _) = ipam.auto_assign(&args("node2", "h", 4)).unwrap();
        assert_eq!(got.ips.len(), 4);
        let (got, _) = ipam.auto_assign(&args("node1", "h1", 1)).unwrap();
        assert_eq!(
        got.partial_fulfillment_error().unwrap(),
        "Assigned 0 out of 1 requested IPv4 addresses; No IPs available in pools: [10.0.0.0/30]"
    );
        ipam.release_by_handle("h").unwrap();
        let cidr: ipnetwork::IpNetwork = "10.0.0.0/30".parse().unwrap();
        set_config(
            &b,
            IpamConfig {
                strict_affinity: true,
                ..IpamConfig::calico_default()
            },
        );
        // node2's empty block was claimed just now: not reclaimed yet.
        let (got, _) = ipam.auto_assign(&args("node1", "h1", 1)).unwrap();
        assert!(got.ips.is_empty());
        assert_eq!(
            got.msgs,
            vec!["No more free affine blocks and strict affinity enabled"]
        );
        // An old claim is reclaimed: the block becomes node1's.
        let mut blk = ds.get(&BlockKey::new(cidr)).unwrap().unwrap();
        blk.value.affinity_claim_time = Some("2020-01-01T00:00:00Z".into());
        ds.update(&BlockKey::new(cidr), &blk.value, blk.revision)
            .unwrap();
        let (got, _) = ipam.auto_assign(&args("node1", "h1", 1)).unwrap();
        assert_eq!(got.ips.len(), 1, "{got:?}");
        let blk = ds.get(&BlockKey::new(cidr)).unwrap().unwrap();
        assert_eq!(blk.value.affinity.as_deref(), Some("host:node1"));
        assert!(ds
            .list(&BlockAffinityList::host("node2", Some(4)))
            .unwrap()
            .is_empty());
    }
);

both!(
    release_gives_back_blocks_of_pools_no_longer_selecting,
    |b: common::Backend| {
        b.node("node1", &[("zone", "a")]);
        b.pool("p", "10.0.0.0/24", |s| {
            s.block_size = 28;
            s.node_selector = "zone == 'a'".into()
        });
        let ds = b.ds();
        let ipam = Ipam::new(&ds);
        ipam.auto_assign(&args("node1", "h1", 1)).unwrap();
        ipam.auto_assign(&args("node1", "h2", 1)).unwrap();
        // The node leaves the pool's selector while holding addresses: the block stays until
        // its last address goes.
        b.node("node1", &[("zone", "b")]);
        ipam.release_by_handle("h1").unwrap();
        assert_eq!(
            ds.list(&BlockAffinityList::host("node1", Some(4)))
                .unwrap()
                .len(),
            1
        );
        ipam.release_by_handle("h2").unwrap();
        assert!(ds
            .list(&BlockAffinityList::host("node1", Some(4)))
            .unwrap()
            .is_empty());
        assert!(ds
            .list(&datastore::BlockList::default())
            .unwrap()
            .is_empty());
    }
);
