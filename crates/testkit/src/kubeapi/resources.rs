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

/// A core `v1` type.
fn core(
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    subresources: &'static [&'static str],
) -> ResourceDef {
    ResourceDef {
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
        schema_json: None,
        status_subresource: false,
    }
}

fn core_types() -> Vec<ResourceDef> {
    vec![
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
    ]
}

/// One of Calico's custom resources, served as `crd.projectcalico.org/v1`
/// (libcalico-go/config/crd/crd.projectcalico.org_*.yaml) and as `projectcalico.org/v3`
/// (api/config/crd/projectcalico.org_*.yaml).
struct CalicoKind {
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    /// The v3 CRD's short names; the v1 CRDs have none.
    v3_short_names: &'static [&'static str],
    /// v3's (plural, singular, kind) where v3 renamed the kind.
    v3_names: Option<(&'static str, &'static str, &'static str)>,
    v1_schema: &'static str,
    v3_schema: &'static str,
}

impl CalicoKind {
    /// The kind as served in `group` (v1's or v3's), its schema parsed.
    fn def(&self, group: &'static str) -> ResourceDef {
        let v1 = group == CRD_V1_GROUP;
        let (plural, singular, kind) = match self.v3_names {
            Some(names) if !v1 => names,
            _ => (self.plural, self.singular, self.kind),
        };
        let schema = if v1 { self.v1_schema } else { self.v3_schema };
        let parsed: serde_json::Value =
            serde_json::from_str(schema).expect("embedded CRD schema is JSON");
        ResourceDef {
            group,
            version: if v1 { "v1" } else { "v3" },
            plural,
            singular,
            kind,
            namespaced: self.namespaced,
            short_names: if v1 { &[] } else { self.v3_short_names },
            categories: &[],
            subresources: &[],
            schema: Some(Arc::new(Schema::parse(&parsed))),
            schema_json: Some(schema),
            status_subresource: false,
        }
    }
}

/// A kind whose CRDs' schemas are checked.
const fn checked(
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    v3_short_names: &'static [&'static str],
    v1_schema: &'static str,
    v3_schema: &'static str,
) -> CalicoKind {
    CalicoKind {
        plural,
        singular,
        kind,
        namespaced: false,
        v3_short_names,
        v3_names: None,
        v1_schema,
        v3_schema,
    }
}

/// A kind the plugins never write: any object is accepted.
const fn permissive(
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> CalicoKind {
    CalicoKind {
        plural,
        singular,
        kind,
        namespaced,
        v3_short_names: &[],
        v3_names: None,
        v1_schema: PERMISSIVE,
        v3_schema: PERMISSIVE,
    }
}

const PERMISSIVE: &str = include_str!("crds/permissive.json");

const CALICO: &[CalicoKind] = &[
    checked(
        "ipamblocks",
        "ipamblock",
        "IPAMBlock",
        &[],
        include_str!("crds/v1_ipamblocks.json"),
        include_str!("crds/v3_ipamblocks.json"),
    ),
    checked(
        "blockaffinities",
        "blockaffinity",
        "BlockAffinity",
        &["affinity", "affinities"],
        include_str!("crds/v1_blockaffinities.json"),
        include_str!("crds/v3_blockaffinities.json"),
    ),
    checked(
        "ipamhandles",
        "ipamhandle",
        "IPAMHandle",
        &[],
        include_str!("crds/v1_ipamhandles.json"),
        include_str!("crds/v3_ipamhandles.json"),
    ),
    // v1's IPAMConfig is v3's IPAMConfiguration, its old names kept as short names.
    CalicoKind {
        v3_names: Some((
            "ipamconfigurations",
            "ipamconfiguration",
            "IPAMConfiguration",
        )),
        ..checked(
            "ipamconfigs",
            "ipamconfig",
            "IPAMConfig",
            &["ipamconfig", "ipamconfigs"],
            include_str!("crds/v1_ipamconfigs.json"),
            include_str!("crds/v3_ipamconfigurations.json"),
        )
    },
    checked(
        "ippools",
        "ippool",
        "IPPool",
        &[],
        include_str!("crds/v1_ippools.json"),
        include_str!("crds/v3_ippools.json"),
    ),
    checked(
        "ipreservations",
        "ipreservation",
        "IPReservation",
        &[],
        include_str!("crds/v1_ipreservations.json"),
        include_str!("crds/v3_ipreservations.json"),
    ),
    checked(
        "clusterinformations",
        "clusterinformation",
        "ClusterInformation",
        &["clusterinfo", "clusterinfos"],
        include_str!("crds/v1_clusterinformations.json"),
        include_str!("crds/v3_clusterinformations.json"),
    ),
    permissive(
        "felixconfigurations",
        "felixconfiguration",
        "FelixConfiguration",
        false,
    ),
    permissive(
        "bgpconfigurations",
        "bgpconfiguration",
        "BGPConfiguration",
        false,
    ),
    permissive(
        "kubecontrollersconfigurations",
        "kubecontrollersconfiguration",
        "KubeControllersConfiguration",
        false,
    ),
    permissive("networkpolicies", "networkpolicy", "NetworkPolicy", true),
    permissive(
        "globalnetworkpolicies",
        "globalnetworkpolicy",
        "GlobalNetworkPolicy",
        false,
    ),
    permissive("hostendpoints", "hostendpoint", "HostEndpoint", false),
];

/// KubeVirt's kinds the CNI reads (`kubevirt.io/v1`; KubeVirt's own CRD schemas are not
/// carried: any object is accepted).
fn kubevirt_types() -> Vec<ResourceDef> {
    let kind = |plural, singular, kind, short_names| ResourceDef {
        group: "kubevirt.io",
        version: "v1",
        plural,
        singular,
        kind,
        namespaced: true,
        short_names,
        categories: &["all"],
        subresources: &[],
        schema: Some(Arc::new(Schema::parse(
            &serde_json::from_str(PERMISSIVE).expect("embedded CRD schema is JSON"),
        ))),
        schema_json: Some(PERMISSIVE),
        status_subresource: false,
    };
    vec![
        kind(
            "virtualmachines",
            "virtualmachine",
            "VirtualMachine",
            &["vm", "vms"],
        ),
        kind(
            "virtualmachineinstances",
            "virtualmachineinstance",
            "VirtualMachineInstance",
            &["vmi", "vmis"],
        ),
        kind(
            "virtualmachineinstancemigrations",
            "virtualmachineinstancemigration",
            "VirtualMachineInstanceMigration",
            &["vmim", "vmims"],
        ),
    ]
}

/// The resources one server serves.
#[derive(Debug)]
pub struct Registry {
    pub defs: Vec<Arc<ResourceDef>>,
}

impl Registry {
    pub fn new(groups: ApiGroups, kubevirt: bool) -> Registry {
        let mut defs = core_types();
        if kubevirt {
            defs.extend(kubevirt_types());
        }
        if matches!(groups, ApiGroups::V1 | ApiGroups::Both) {
            defs.extend(CALICO.iter().map(|k| k.def(CRD_V1_GROUP)));
        }
        if matches!(groups, ApiGroups::V3 | ApiGroups::Both) {
            defs.extend(CALICO.iter().map(|k| k.def(V3_GROUP)));
        }
        Registry {
            defs: defs.into_iter().map(Arc::new).collect(),
        }
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
