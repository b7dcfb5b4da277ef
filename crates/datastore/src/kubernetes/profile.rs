//! Profiles in KDD are derived, never stored (libcalico-go `resources/profile.go`):
//! `kns.<namespace>` from a Namespace (its labels applied as `pcns.<key>`, allow-all rules)
//! and `ksa.<namespace>.<serviceaccount>` from a ServiceAccount (labels as `pcsa.<key>`).
//! Any other name does not exist here, and profiles cannot be written.

use serde_json::{json, Map, Value};

use super::meta::derived_meta;
use crate::resources::{rule_allow, API_VERSION};

pub const NAMESPACE_PREFIX: &str = "kns.";
pub const SERVICE_ACCOUNT_PREFIX: &str = "ksa.";

/// Where a profile comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Namespace(String),
    ServiceAccount { namespace: String, name: String },
}

impl Source {
    pub fn of(profile: &str) -> Option<Source> {
        if let Some(ns) = profile.strip_prefix(NAMESPACE_PREFIX) {
            return (!ns.is_empty()).then(|| Source::Namespace(ns.to_string()));
        }
        let rest = profile.strip_prefix(SERVICE_ACCOUNT_PREFIX)?;
        // Namespaces cannot contain '.', service accounts can.
        let (ns, sa) = rest.split_once('.')?;
        (!ns.is_empty() && !sa.is_empty()).then(|| Source::ServiceAccount {
            namespace: ns.to_string(),
            name: sa.to_string(),
        })
    }

    /// The API path of the object the profile comes from.
    pub fn api_path(&self) -> String {
        match self {
            Source::Namespace(ns) => format!("/api/v1/namespaces/{ns}"),
            Source::ServiceAccount { namespace, name } => {
                format!("/api/v1/namespaces/{namespace}/serviceaccounts/{name}")
            }
        }
    }
}

/// The profile of a Namespace or ServiceAccount object.
pub fn to_profile(source: &Source, obj: &Value) -> Value {
    let meta = obj.get("metadata").cloned().unwrap_or_default();
    let (name, prefix, own_name, rules) = match source {
        Source::Namespace(ns) => (format!("{NAMESPACE_PREFIX}{ns}"), "pcns.", ns.clone(), true),
        Source::ServiceAccount { namespace, name } => (
            format!("{SERVICE_ACCOUNT_PREFIX}{namespace}.{name}"),
            "pcsa.",
            name.clone(),
            false,
        ),
    };
    let mut labels = Map::new();
    labels.insert(
        format!("{prefix}projectcalico.org/name"),
        Value::from(own_name),
    );
    if let Some(m) = meta.get("labels").and_then(Value::as_object) {
        for (k, v) in m {
            labels.insert(format!("{prefix}{k}"), v.clone());
        }
    }
    let metadata = derived_meta(name, &meta);
    let mut spec = json!({ "labelsToApply": labels });
    if rules {
        spec["ingress"] = json!([rule_allow()]);
        spec["egress"] = json!([rule_allow()]);
    }
    json!({ "kind": "Profile", "apiVersion": API_VERSION, "metadata": metadata, "spec": spec })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels() {
        assert_eq!(
            Source::of("kns.test"),
            Some(Source::Namespace("test".into()))
        );
        assert_eq!(
            Source::of("ksa.test.my.sa"),
            Some(Source::ServiceAccount {
                namespace: "test".into(),
                name: "my.sa".into()
            })
        );
        assert_eq!(Source::of("k8s-pod-network"), None);
        let p = to_profile(
            &Source::Namespace("test".into()),
            &json!({ "metadata": { "name": "test", "labels": { "team": "a" } } }),
        );
        assert_eq!(p["spec"]["labelsToApply"]["pcns.team"], "a");
        assert_eq!(
            p["spec"]["labelsToApply"]["pcns.projectcalico.org/name"],
            "test"
        );
        assert_eq!(p["spec"]["ingress"][0]["action"], "Allow");
    }
}
