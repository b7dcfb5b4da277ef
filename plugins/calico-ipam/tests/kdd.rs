//! calico-ipam's Kubernetes-datastore-only behaviour (testkit's stand-in API server): the
//! first specific-IP ADD of a host labels the host's pre-v3.31 block affinities and writes the
//! `ipam_upgraded` marker (Calico's `maybeUpgradeIPAM`), and `calico-ipam -upgrade` moves a
//! node's host-local allocations into Calico IPAM.

mod common;

use serde_json::{json, Value};

fn affinity(api: &testkit::KubeApi, name: &str) -> Value {
    api.get("crd.projectcalico.org/v1", "blockaffinities", None, name)
        .unwrap_or_else(|| panic!("affinity {name}"))
}

/// An affinity as Calico before v3.31 wrote it: no labels.
fn old_affinity(api: &testkit::KubeApi, node: &str, cidr: &str, name: &str) {
    api.create(
        json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "BlockAffinity",
        "metadata": {"name": name},
        "spec": {"state": "confirmed", "node": node, "cidr": cidr, "deleted": "false"}}),
    );
}

#[test]
fn first_specific_ip_add_labels_this_hosts_old_affinities() {
    let b = common::Backend::kdd();
    let api = b.kube.as_ref().unwrap();
    b.pool("p1", "10.0.0.0/16", |_| {});
    b.node("node2", &[]);
    old_affinity(api, "node1", "10.0.1.0/26", "node1-10-0-1-0-26");
    old_affinity(api, "node2", "10.0.2.0/26", "node2-10-0-2-0-26");
    let conf = b.conf("1.0.0", "node1", json!({}));
    let marker = b.dir.path().join("cni/ipam_upgraded");
    assert!(!marker.exists());

    let r = b.run("ADD", "c1", "IP=10.0.0.5", &conf);
    assert!(r.success(), "{}", r.stdout);
    let labels = &affinity(api, "node1-10-0-1-0-26")["metadata"]["labels"];
    assert_eq!(labels["projectcalico.org/affinity-type"], "host");
    assert_eq!(labels["projectcalico.org/ip-version"], "4");
    assert_eq!(
        labels["projectcalico.org/hostname-hash"],
        datastore::names::hostname_hash("node1").as_str()
    );
    assert!(
        affinity(api, "node2-10-0-2-0-26")["metadata"]
            .get("labels")
            .is_none(),
        "another host's affinity is that host's to upgrade"
    );
    assert!(marker.exists(), "the marker is written");

    // The marker makes later specific-IP ADDs skip the upgrade.
    api.clear_requests();
    let r = b.run("ADD", "c2", "IP=10.0.0.6", &conf);
    assert!(r.success(), "{}", r.stdout);
    assert!(!api
        .requests()
        .iter()
        .any(|r| r.query.contains("%21projectcalico.org") || r.query.contains("!projectcalico")));
}

#[test]
fn upgrade_moves_host_local_allocations_into_calico_ipam() {
    let b = common::Backend::kdd();
    let api = b.kube.as_ref().unwrap();
    b.pool("p1", "10.0.0.0/16", |_| {});
    api.create(
        json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "ClusterInformation",
        "metadata": {"name": "default"}, "spec": {"datastoreReady": true}}),
    );
    let mut node = api.get("v1", "nodes", None, "node1").unwrap();
    node["spec"] = json!({"podCIDR": "10.0.0.0/24", "podCIDRs": ["10.0.0.0/24"]});
    api.update(node);
    let mut pod = api.create(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-0", "namespace": "default"},
        "spec": {"nodeName": "node1", "containers": [{"name": "c", "image": "pause"}]}}));
    pod["status"] = json!({"podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}]});
    api.update(pod);

    // The node as host-local and the Calico image left it.
    let root = b.dir.path().join("root");
    let dir = root.join("var/lib/cni/networks/k8s-pod-network");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("10.0.0.5"), "cid-web\neth0").unwrap();
    std::fs::write(dir.join("10.0.0.9"), "cid-gone\neth0").unwrap();
    std::fs::write(dir.join("last_reserved_ip.0"), "10.0.0.9").unwrap();
    std::fs::write(dir.join("lock"), "").unwrap();
    let bin = root.join("host/opt/cni/bin");
    std::fs::create_dir_all(&bin).unwrap();
    for f in ["calico", "host-local", "portmap"] {
        std::fs::write(bin.join(f), "binary").unwrap();
    }

    // calico-ipam -upgrade as the Calico image's init container runs it on node1.
    let upgrade = || {
        std::process::Command::new(common::BIN)
            .arg("-upgrade")
            .env_clear()
            .env("KUBERNETES_NODE_NAME", "node1")
            .env("CNI_INSTALL_ROOT", &root)
            .env("KUBECONFIG", b.dir.path().join("admin-kubeconfig"))
            .output()
            .unwrap()
    };
    let out = upgrade();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let allocations = b.allocations();
    assert_eq!(
        allocations.get("10.0.0.5").map(String::as_str),
        Some("k8s-pod-network.cid-web"),
        "{allocations:?}"
    );
    assert_eq!(
        allocations.get("10.0.0.1").map(String::as_str),
        Some("ipip-tunnel-addr-node1"),
        "the node's IPIP tunnel address: the pod CIDR's first host"
    );
    assert!(
        !allocations.contains_key("10.0.0.9"),
        "no pod has it any more"
    );
    let node = api.get("v1", "nodes", None, "node1").unwrap();
    assert_eq!(
        node["metadata"]["annotations"]["projectcalico.org/IPv4IPIPTunnelAddr"],
        "10.0.0.1"
    );
    let ci = api
        .get(
            "crd.projectcalico.org/v1",
            "clusterinformations",
            None,
            "default",
        )
        .unwrap();
    assert_eq!(ci["spec"]["datastoreReady"], true);
    assert!(!dir.exists(), "host-local's directory is removed");
    assert!(!bin.join("calico").exists() && !bin.join("host-local").exists());
    assert!(bin.join("portmap").exists());
    let ds = b.ds();
    let blocks = ds.list(&datastore::BlockList::default()).unwrap();
    let attrs = blocks
        .iter()
        .flat_map(|(_, blk)| blk.value.attributes.clone())
        .find(|a| a.handle_id.as_deref() == Some("k8s-pod-network.cid-web"))
        .unwrap();
    assert_eq!(attrs.active_owner_attrs["pod"], "web-0");
    assert_eq!(attrs.active_owner_attrs["namespace"], "default");

    // Nothing left to do: a second run finishes at once.
    assert!(upgrade().status.success());
}

#[test]
fn upgrade_needs_the_node_name() {
    let out = std::process::Command::new(common::BIN)
        .arg("-upgrade")
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("KUBERNETES_NODE_NAME not specified, refusing to migrate"));
}

/// Native v3 CRDs (a v3.32 tech preview): with no `calico_api_group` the group is discovered
/// (`projectcalico.org` without `crd.projectcalico.org`), and the objects are written in it,
/// as they are (boolean `deleted`, no metadata annotation).
#[test]
fn native_v3_group_is_discovered_and_used() {
    let b = common::Backend::kdd_with(testkit::ApiGroups::V3, "");
    let api = b.kube.as_ref().unwrap();
    b.pool("p1", "10.0.0.0/16", |_| {});
    let conf = b.conf("1.0.0", "node1", json!({}));
    api.clear_requests();
    let r = b.add("c1", &conf);
    assert_eq!(r["ips"].as_array().unwrap().len(), 1, "{r}");
    assert!(api.requests().iter().any(|r| r.path == "/apis"));
    assert!(!api
        .requests()
        .iter()
        .any(|r| r.path.contains("crd.projectcalico.org")));
    let affs = api.list("projectcalico.org/v3", "blockaffinities");
    assert_eq!(affs.len(), 1);
    assert_eq!(affs[0]["spec"]["deleted"], false);
    assert!(affs[0]["metadata"].get("annotations").is_none());
    assert_eq!(api.list("projectcalico.org/v3", "ipamhandles").len(), 1);
    b.del("c1", &conf);
    assert!(b.allocations().is_empty());
    assert!(api.list("projectcalico.org/v3", "ipamhandles").is_empty());
}
