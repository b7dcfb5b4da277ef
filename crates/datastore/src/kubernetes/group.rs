//! Which API group holds Calico's resources: `crd.projectcalico.org/v1` (the CRDs every
//! Calico cluster has) or `projectcalico.org/v3` (native v3 CRDs, a v3.32 tech preview).
//! `calico_api_group` / `CALICO_API_GROUP` pin it; otherwise it is discovered as Calico does:
//! v3 only if the server has `projectcalico.org` and not `crd.projectcalico.org` (both = the
//! aggregated Calico API server in front of the v1 CRDs), v1 when discovery fails.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiGroup {
    V1,
    V3,
}

pub const V1_GROUP: &str = "crd.projectcalico.org";
pub const V3_GROUP: &str = "projectcalico.org";

impl ApiGroup {
    /// `calico_api_group`: `projectcalico.org/v3` in any case selects v3, anything else v1.
    pub fn parse(s: &str) -> ApiGroup {
        if s.eq_ignore_ascii_case("projectcalico.org/v3") {
            ApiGroup::V3
        } else {
            ApiGroup::V1
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            ApiGroup::V1 => "crd.projectcalico.org/v1",
            ApiGroup::V3 => "projectcalico.org/v3",
        }
    }

    pub fn group(self) -> &'static str {
        match self {
            ApiGroup::V1 => V1_GROUP,
            ApiGroup::V3 => V3_GROUP,
        }
    }

    /// The collection path of a resource.
    pub fn collection(self, plural: &str) -> String {
        format!("/apis/{}/{plural}", self.api_version())
    }

    /// Calico's rule over the server's group list (`GET /apis`).
    pub fn from_discovery(groups: &Value) -> ApiGroup {
        let names: Vec<&str> = groups
            .get("groups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|g| g.get("name").and_then(Value::as_str))
            .collect();
        if names.contains(&V3_GROUP) && !names.contains(&V1_GROUP) {
            ApiGroup::V3
        } else {
            ApiGroup::V1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pinned_and_discovered() {
        assert_eq!(ApiGroup::parse("ProjectCalico.org/V3"), ApiGroup::V3);
        assert_eq!(ApiGroup::parse("crd.projectcalico.org/v1"), ApiGroup::V1);
        assert_eq!(ApiGroup::parse("nonsense"), ApiGroup::V1);
        let g = |names: &[&str]| {
            ApiGroup::from_discovery(&json!({ "groups":
                names.iter().map(|n| json!({ "name": n })).collect::<Vec<_>>() }))
        };
        assert_eq!(g(&["projectcalico.org"]), ApiGroup::V3);
        assert_eq!(
            g(&["projectcalico.org", "crd.projectcalico.org"]),
            ApiGroup::V1
        );
        assert_eq!(g(&["apps"]), ApiGroup::V1);
        assert_eq!(
            ApiGroup::V1.collection("ipamblocks"),
            "/apis/crd.projectcalico.org/v1/ipamblocks"
        );
    }
}
