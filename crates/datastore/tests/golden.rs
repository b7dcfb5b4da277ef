//! Golden JSON for every stored object: what we write is byte-for-byte what libcalico-go's
//! `json.Marshal` writes for the same object (field order, `omitempty`, HTML-safe escaping),
//! and reading the golden value gives back the same object.

use std::collections::BTreeMap;
use std::path::PathBuf;

use datastore::model::{
    AffinityState, AllocationAttribute, Block, BlockAffinity, Handle, IpamConfig, ATTR_NAMESPACE,
    ATTR_NODE, ATTR_POD, ATTR_TIMESTAMP,
};
use datastore::resources::{
    rule_allow, ClusterInformation, ClusterInformationSpec, IpPool, IpPoolSpec, IpReservation,
    IpReservationSpec, IpamConfiguration, IpamConfigurationSpec, Node, NodeBgpSpec, NodeSpec,
    Object, OrchRef, Profile, ProfileSpec, Spec, WorkloadEndpoint, WorkloadEndpointPort,
    WorkloadEndpointSpec,
};
use datastore::Model;
use serde_json::json;

const UID: &str = "5f1a9c3e-2b7d-4e8a-9c61-0d2f4b6a8e10";
const CREATED: &str = "2026-08-22T13:33:20Z";

fn golden(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name);
    let mut bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(bytes.pop(), Some(b'\n'), "{name} ends with one newline");
    bytes
}

/// Encodes like the golden file and decodes the golden file into the same value.
fn check<M: Model + PartialEq + std::fmt::Debug>(name: &str, value: &M) {
    let want = golden(name);
    assert_eq!(
        String::from_utf8(value.encode()).unwrap(),
        String::from_utf8(want.clone()).unwrap(),
        "{name}: encoding"
    );
    assert_eq!(&M::decode(&want).unwrap(), value, "{name}: decoding");
}

fn stamped<S: Spec>(mut obj: Object<S>) -> Object<S> {
    obj.metadata.uid = UID.into();
    obj.metadata.creation_timestamp = Some(CREATED.into());
    obj
}

fn sample_block() -> Block {
    let attrs = BTreeMap::from([
        (ATTR_NAMESPACE.to_string(), "default".to_string()),
        (ATTR_NODE.to_string(), "node1".to_string()),
        (ATTR_POD.to_string(), "pod-1".to_string()),
        (
            ATTR_TIMESTAMP.to_string(),
            "2026-08-22 13:33:20.123456789 +0000 UTC".to_string(),
        ),
    ]);
    Block {
        cidr: "10.0.0.0/30".parse().unwrap(),
        affinity: Some(Block::host_affinity("node1")),
        affinity_claim_time: Some(CREATED.into()),
        allocations: vec![Some(0), Some(0), None, None],
        unallocated: vec![2, 3],
        attributes: vec![AllocationAttribute {
            handle_id: Some("k8s-pod-network.0123abcd".into()),
            active_owner_attrs: attrs,
            alternate_owner_attrs: BTreeMap::new(),
        }],
        sequence_number: 1_787_405_600_000_000_002,
        sequence_number_for_allocation: BTreeMap::from([
            ("0".to_string(), 1_787_405_600_000_000_000),
            ("1".to_string(), 1_787_405_600_000_000_001),
        ]),
        deleted: false,
        host_affinity: None,
    }
}

#[test]
fn block() {
    check("block.json", &sample_block());
}

#[test]
fn block_affinities() {
    check(
        "block_affinity_confirmed.json",
        &BlockAffinity::new(AffinityState::Confirmed),
    );
    check(
        "block_affinity_pending.json",
        &BlockAffinity::new(AffinityState::Pending),
    );
}

#[test]
fn handle() {
    let mut h = Handle::default();
    h.increment("10.0.0.0/30", 2);
    check("handle.json", &h);
}

#[test]
fn ipam_config() {
    check(
        "ipam_config.json",
        &IpamConfig {
            strict_affinity: true,
            auto_allocate_blocks: true,
            max_blocks_per_host: 4,
            ..IpamConfig::default()
        },
    );
}

#[test]
fn ippool_with_defaults_and_go_escaping() {
    let pool = IpPool::new(
        "default-ipv4-ippool",
        IpPoolSpec {
            ipip_mode: "Always".into(),
            nat_outgoing: true,
            node_selector: "has(zone) && zone == \"a\"".into(),
            ..IpPoolSpec::with_cidr("192.168.0.0/16")
        },
    );
    check("ippool.json", &stamped(pool));
}

#[test]
fn ipreservation() {
    let r = IpReservation::new(
        "reserved",
        IpReservationSpec {
            reserved_cidrs: vec!["192.168.0.0/30".into(), "192.168.1.7".into()],
        },
    );
    assert_eq!(r.spec.networks().len(), 2);
    check("ipreservation.json", &stamped(r));
}

#[test]
fn node() {
    let mut node = Node::new(
        "node1",
        NodeSpec {
            bgp: Some(NodeBgpSpec {
                ipv4_address: "10.1.0.1/24".into(),
                ..NodeBgpSpec::default()
            }),
            orch_refs: vec![OrchRef {
                node_name: "node1".into(),
                orchestrator: "k8s".into(),
            }],
            ..NodeSpec::default()
        },
    );
    node.metadata.labels = BTreeMap::from([
        ("kubernetes.io/hostname".into(), "node1".into()),
        ("zone".into(), "a".into()),
    ]);
    check("node.json", &stamped(node));
}

#[test]
fn workload_endpoint() {
    let mut wep = WorkloadEndpoint::namespaced(
        "default",
        "node1-k8s-pod--1-eth0",
        WorkloadEndpointSpec {
            orchestrator: "k8s".into(),
            node: "node1".into(),
            container_id: "0123abcd".into(),
            pod: "pod-1".into(),
            endpoint: "eth0".into(),
            service_account_name: "default".into(),
            ip_networks: vec!["10.0.0.0/32".into()],
            profiles: vec!["kns.default".into(), "ksa.default.default".into()],
            interface_name: "cali0a1b2c3d4e5".into(),
            mac: "aa:bb:cc:dd:ee:ff".into(),
            ports: vec![WorkloadEndpointPort {
                name: "http".into(),
                protocol: json!("TCP"),
                port: 8080,
                host_port: 0,
                host_ip: String::new(),
            }],
            ..WorkloadEndpointSpec::default()
        },
    );
    wep.metadata.labels = BTreeMap::from([
        ("projectcalico.org/namespace".into(), "default".into()),
        ("projectcalico.org/orchestrator".into(), "k8s".into()),
        ("projectcalico.org/serviceaccount".into(), "default".into()),
    ]);
    check("workloadendpoint.json", &stamped(wep));
}

#[test]
fn profile() {
    let p = Profile::new(
        "net1",
        ProfileSpec {
            ingress: vec![rule_allow()],
            egress: vec![rule_allow()],
            labels_to_apply: BTreeMap::from([("net1".into(), String::new())]),
        },
    );
    check("profile.json", &stamped(p));
}

#[test]
fn cluster_information() {
    let ci = ClusterInformation::new(
        "default",
        ClusterInformationSpec {
            cluster_guid: "0f1e2d3c4b5a69788796a5b4c3d2e1f0".into(),
            cluster_type: "cni-rs".into(),
            calico_version: "v3.32.0".into(),
            datastore_ready: Some(true),
            variant: String::new(),
        },
    );
    check("clusterinformation.json", &stamped(ci));
}

#[test]
fn ipam_configuration() {
    let c = IpamConfiguration::new(
        "default",
        IpamConfigurationSpec::from(&IpamConfig::calico_default()),
    );
    check("ipamconfiguration.json", &stamped(c));
}

/// Objects written by older Calico versions, or by Go with nil slices and maps, read with
/// Calico's defaults.
#[test]
fn old_and_sparse_values_read_with_defaults() {
    let pool = IpPool::decode(&golden("ippool_minimal.json")).unwrap();
    assert_eq!(pool.spec.block_size, 122);
    assert_eq!(pool.spec.node_selector, "all()");
    assert_eq!(pool.spec.allowed_uses, ["Workload", "Tunnel"]);
    assert_eq!(pool.spec.ipip_mode, "Never");
    assert_eq!(pool.spec.vxlan_mode, "Never");
    assert_eq!(pool.spec.assignment_mode.as_deref(), Some("Automatic"));
    assert_eq!(pool.metadata.creation_timestamp, None);

    let b = Block::decode(&golden("block_go_fresh.json")).unwrap();
    assert_eq!(b.affinity, None);
    assert!(b.attributes.is_empty());
    assert!(b.sequence_number_for_allocation.is_empty());
    assert_eq!(b.num_addresses(), 1);
    assert!(b.is_empty());

    assert_eq!(
        BlockAffinity::decode(b"").unwrap(),
        BlockAffinity::default()
    );
    assert_eq!(
        IpamConfig::decode(b"{}").unwrap(),
        IpamConfig::default(),
        "a stored {{}} turns automatic block allocation off"
    );
}
