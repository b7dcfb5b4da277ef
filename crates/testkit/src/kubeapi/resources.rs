//! The resources served: core `v1` types and Calico's custom resources, one table row each.

use std::sync::Arc;

use super::schema::Schema;
use super::ApiGroups;

/// Calico's v1 CRD group (libcalico-go's KDD backend).
pub const CRD_V1_GROUP: &str = "crd.projectcalico.org";
/// Calico's v3 API group (native v3 CRDs).
pub const V3_GROUP: &str = "projectcalico.org";

/// One resource type.
#[derive(Debug)]
pub struct ResourceDef {
    /// `""` for core.
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    /// Subresources served (`status`, `token`).
    pub subresources: &'static [&'static str],
    /// The structural schema of a custom resource (None for core types).
    pub schema: Option<Arc<Schema>>,
    /// The schema as embedded (JSON), for OpenAPI.
    pub schema_json: Option<&'static str>,
    /// Whether a custom resource's CRD has a status subresource.
    pub status_subresource: bool,
}

impl ResourceDef {
    pub fn is_custom(&self) -> bool {
        self.schema.is_some()
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The etcd key prefix below `/registry/` (what storage errors print): core types use
    /// their registry's prefix (nodes are still `minions`), custom resources `<group>/<plural>`.
    pub fn etcd_prefix(&self) -> String {
        match (self.group, self.plural) {
            ("", "nodes") => "minions".into(),
            ("", p) => p.into(),
            (g, p) => format!("{g}/{p}"),
        }
    }

    /// Verbs in discovery: CRDs list them in apiextensions' order, core types sorted.
    pub fn verbs(&self) -> &'static [&'static str] {
        if self.is_custom() {
            &[
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "create",
                "update",
                "watch",
            ]
        } else {
            &[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        }
    }
}

struct Row {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    subresources: &'static [&'static str],
    schema: Option<&'static str>,
}

const fn core(
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    subresources: &'static [&'static str],
) -> Row {
    Row {
        group: "",
        version: "v1",
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        categories,
        subresources,
        schema: None,
    }
}

#[allow(clippy::too_many_arguments)]
const fn crd(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    schema: &'static str,
) -> Row {
    Row {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        categories: &[],
        subresources: &[],
        schema: Some(schema),
    }
}

/// A `crd.projectcalico.org/v1` resource.
const fn v1crd(
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    schema: &'static str,
) -> Row {
    crd(
        CRD_V1_GROUP,
        "v1",
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        schema,
    )
}

/// A `projectcalico.org/v3` resource.
const fn v3crd(
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    schema: &'static str,
) -> Row {
    crd(
        V3_GROUP,
        "v3",
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        schema,
    )
}

const PERMISSIVE: &str = include_str!("crds/permissive.json");

const ROWS: &[Row] = &[
    core(
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
        &[],
        &["status"],
    ),
    core("nodes", "node", "Node", false, &["no"], &[], &["status"]),
    core("pods", "pod", "Pod", true, &["po"], &["all"], &["status"]),
    core(
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        true,
        &["sa"],
        &[],
        &["token"],
    ),
    // crd.projectcalico.org/v1: libcalico-go/config/crd/crd.projectcalico.org_*.yaml
    v1crd(
        "ipamblocks",
        "ipamblock",
        "IPAMBlock",
        false,
        &[],
        include_str!("crds/v1_ipamblocks.json"),
    ),
    v1crd(
        "blockaffinities",
        "blockaffinity",
        "BlockAffinity",
        false,
        &[],
        include_str!("crds/v1_blockaffinities.json"),
    ),
    v1crd(
        "ipamhandles",
        "ipamhandle",
        "IPAMHandle",
        false,
        &[],
        include_str!("crds/v1_ipamhandles.json"),
    ),
    v1crd(
        "ipamconfigs",
        "ipamconfig",
        "IPAMConfig",
        false,
        &[],
        include_str!("crds/v1_ipamconfigs.json"),
    ),
    v1crd(
        "ippools",
        "ippool",
        "IPPool",
        false,
        &[],
        include_str!("crds/v1_ippools.json"),
    ),
    v1crd(
        "ipreservations",
        "ipreservation",
        "IPReservation",
        false,
        &[],
        include_str!("crds/v1_ipreservations.json"),
    ),
    v1crd(
        "clusterinformations",
        "clusterinformation",
        "ClusterInformation",
        false,
        &[],
        include_str!("crds/v1_clusterinformations.json"),
    ),
    v1crd(
        "felixconfigurations",
        "felixconfiguration",
        "FelixConfiguration",
        false,
        &[],
        PERMISSIVE,
    ),
    v1crd(
        "bgpconfigurations",
        "bgpconfiguration",
        "BGPConfiguration",
        false,
        &[],
        PERMISSIVE,
    ),
    v1crd(
        "kubecontrollersconfigurations",
        "kubecontrollersconfiguration",
        "KubeControllersConfiguration",
        false,
        &[],
        PERMISSIVE,
    ),
    v1crd(
        "networkpolicies",
        "networkpolicy",
        "NetworkPolicy",
        true,
        &[],
        PERMISSIVE,
    ),
    v1crd(
        "globalnetworkpolicies",
        "globalnetworkpolicy",
        "GlobalNetworkPolicy",
        false,
        &[],
        PERMISSIVE,
    ),
    v1crd(
        "hostendpoints",
        "hostendpoint",
        "HostEndpoint",
        false,
        &[],
        PERMISSIVE,
    ),
    // projectcalico.org/v3: api/config/crd/projectcalico.org_*.yaml
    v3crd(
        "ipamblocks",
        "ipamblock",
        "IPAMBlock",
        false,
        &[],
        include_str!("crds/v3_ipamblocks.json"),
    ),
    v3crd(
        "blockaffinities",
        "blockaffinity",
        "BlockAffinity",
        false,
        &["affinity", "affinities"],
        include_str!("crds/v3_blockaffinities.json"),
    ),
    v3crd(
        "ipamhandles",
        "ipamhandle",
        "IPAMHandle",
        false,
        &[],
        include_str!("crds/v3_ipamhandles.json"),
    ),
    v3crd(
        "ipamconfigurations",
        "ipamconfiguration",
        "IPAMConfiguration",
        false,
        &["ipamconfig", "ipamconfigs"],
        include_str!("crds/v3_ipamconfigurations.json"),
    ),
    v3crd(
        "ippools",
        "ippool",
        "IPPool",
        false,
        &[],
        include_str!("crds/v3_ippools.json"),
    ),
    v3crd(
        "ipreservations",
        "ipreservation",
        "IPReservation",
        false,
        &[],
        include_str!("crds/v3_ipreservations.json"),
    ),
    v3crd(
        "clusterinformations",
        "clusterinformation",
        "ClusterInformation",
        false,
        &["clusterinfo", "clusterinfos"],
        include_str!("crds/v3_clusterinformations.json"),
    ),
    v3crd(
        "felixconfigurations",
        "felixconfiguration",
        "FelixConfiguration",
        false,
        &[],
        PERMISSIVE,
    ),
    v3crd(
        "bgpconfigurations",
        "bgpconfiguration",
        "BGPConfiguration",
        false,
        &[],
        PERMISSIVE,
    ),
    v3crd(
        "kubecontrollersconfigurations",
        "kubecontrollersconfiguration",
        "KubeControllersConfiguration",
        false,
        &[],
        PERMISSIVE,
    ),
    v3crd(
        "networkpolicies",
        "networkpolicy",
        "NetworkPolicy",
        true,
        &[],
        PERMISSIVE,
    ),
    v3crd(
        "globalnetworkpolicies",
        "globalnetworkpolicy",
        "GlobalNetworkPolicy",
        false,
        &[],
        PERMISSIVE,
    ),
    v3crd(
        "hostendpoints",
        "hostendpoint",
        "HostEndpoint",
        false,
        &[],
        PERMISSIVE,
    ),
];

/// The resources one server serves.
#[derive(Debug)]
pub struct Registry {
    pub defs: Vec<Arc<ResourceDef>>,
}

impl Registry {
    pub fn new(groups: ApiGroups) -> Registry {
        let defs = ROWS
            .iter()
            .filter(|r| match r.group {
                "" => true,
                CRD_V1_GROUP => matches!(groups, ApiGroups::V1 | ApiGroups::Both),
                _ => matches!(groups, ApiGroups::V3 | ApiGroups::Both),
            })
            .map(|r| {
                let schema = r.schema.map(|s| {
                    let v: serde_json::Value =
                        serde_json::from_str(s).expect("embedded CRD schema is JSON");
                    Arc::new(Schema::parse(&v))
                });
                Arc::new(ResourceDef {
                    group: r.group,
                    version: r.version,
                    plural: r.plural,
                    singular: r.singular,
                    kind: r.kind,
                    namespaced: r.namespaced,
                    short_names: r.short_names,
                    categories: r.categories,
                    subresources: r.subresources,
                    status_subresource: false,
                    schema,
                    schema_json: r.schema,
                })
            })
            .collect();
        Registry { defs }
    }

    /// The resource `plural` of `group`/`version`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.defs
            .iter()
            .find(|d| d.group == group && d.version == version && d.plural == plural)
            .cloned()
    }

    /// The resource of an object's `apiVersion` and `kind`.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceDef>> {
        let (group, version) = split_api_version(api_version);
        self.defs
            .iter()
            .find(|d| d.group == group && d.version == version && d.kind == kind)
            .cloned()
    }

    /// Whether `group`/`version` is served at all.
    pub fn serves(&self, group: &str, version: &str) -> bool {
        self.defs
            .iter()
            .any(|d| d.group == group && d.version == version)
    }

    /// The API groups (not core) in the order `/apis` lists them.
    pub fn groups(&self) -> Vec<(&'static str, &'static str)> {
        let mut out: Vec<(&'static str, &'static str)> = Vec::new();
        for d in &self.defs {
            if !d.group.is_empty() && !out.contains(&(d.group, d.version)) {
                out.push((d.group, d.version));
            }
        }
        out
    }
}

/// `group/version` → (group, version); `v1` → ("", "v1").
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}
