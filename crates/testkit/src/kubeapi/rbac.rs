//! Authentication by bearer token and RBAC authorization (`plugin/pkg/auth/authorizer/rbac`),
//! with the apiserver's Forbidden texts (`endpoints/handlers/responsewriters/errors.go`).

use std::collections::HashMap;

use libcni::json::go_quote;

use super::status::ApiError;

/// A PolicyRule: resource rules (`verbs` × `api_groups` × `resources` [× `resource_names`])
/// or non-resource rules (`verbs` × `non_resource_urls`). `*` matches anything; resources may
/// name subresources (`pods/status`, `*/status`); a URL ending in `*` is a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl Rule {
    /// A resource rule.
    pub fn new(verbs: &[&str], api_groups: &[&str], resources: &[&str]) -> Rule {
        Rule {
            verbs: strings(verbs),
            api_groups: strings(api_groups),
            resources: strings(resources),
            resource_names: Vec::new(),
            non_resource_urls: Vec::new(),
        }
    }

    /// Limits a resource rule to objects with these names.
    pub fn names(mut self, names: &[&str]) -> Rule {
        self.resource_names = strings(names);
        self
    }

    /// A non-resource rule (`verbs` are lower-case HTTP methods: `get`, `post`, ...).
    pub fn non_resource(verbs: &[&str], urls: &[&str]) -> Rule {
        Rule {
            verbs: strings(verbs),
            api_groups: Vec::new(),
            resources: Vec::new(),
            resource_names: Vec::new(),
            non_resource_urls: strings(urls),
        }
    }

    /// `cluster-admin`: everything.
    pub fn admin() -> Vec<Rule> {
        vec![
            Rule::new(&["*"], &["*"], &["*"]),
            Rule::non_resource(&["*"], &["*"]),
        ]
    }

    /// Calico's `calico-cni-plugin` ClusterRole (`charts/calico/templates/calico-node-rbac.yaml`).
    pub fn calico_cni_plugin() -> Vec<Rule> {
        vec![
            Rule::new(&["get"], &[""], &["pods", "nodes", "namespaces"]),
            Rule::new(&["patch"], &[""], &["pods/status"]),
            Rule::new(
                &["get", "list", "create", "update", "delete"],
                &["crd.projectcalico.org", "projectcalico.org"],
                &[
                    "blockaffinities",
                    "ipamblocks",
                    "ipamhandles",
                    "clusterinformations",
                    "ippools",
                    "ipreservations",
                    "ipamconfigurations",
                    "ipamconfigs",
                ],
            ),
            Rule::new(
                &["get"],
                &["kubevirt.io"],
                &["virtualmachineinstances", "virtualmachines"],
            ),
        ]
    }

    fn has(list: &[String], x: &str) -> bool {
        list.iter().any(|v| v == "*" || v == x)
    }

    fn allows_resource(&self, a: &Attributes) -> bool {
        if !Rule::has(&self.verbs, &a.verb) || !Rule::has(&self.api_groups, &a.group) {
            return false;
        }
        let combined = match &a.subresource {
            Some(s) => format!("{}/{s}", a.resource),
            None => a.resource.clone(),
        };
        let res_ok = self.resources.iter().any(|r| {
            r == "*"
                || *r == combined
                || a.subresource
                    .as_ref()
                    .is_some_and(|s| *r == format!("*/{s}"))
        });
        res_ok && (self.resource_names.is_empty() || self.resource_names.contains(&a.name))
    }

    fn allows_path(&self, verb: &str, path: &str) -> bool {
        Rule::has(&self.verbs, verb)
            && self.non_resource_urls.iter().any(|u| {
                u == "*" || u == path || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
            })
    }
}

/// Who a request is.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
    /// Rules carried by the token itself (on top of the user's and groups' bindings).
    pub rules: Vec<Rule>,
}

impl Identity {
    pub fn anonymous() -> Identity {
        Identity {
            user: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
            rules: Vec::new(),
        }
    }

    /// A service account's identity.
    pub fn service_account(ns: &str, name: &str) -> Identity {
        Identity {
            user: format!("system:serviceaccount:{ns}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ],
            rules: Vec::new(),
        }
    }
}

/// Authorization attributes of a resource request.
#[derive(Debug, Clone)]
pub struct Attributes {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: String,
    pub name: String,
}

/// Tokens and role bindings.
#[derive(Debug, Default)]
pub struct Auth {
    pub tokens: HashMap<String, Identity>,
    /// ClusterRoleBindings by subject: `user:<name>` or `group:<name>`.
    pub bindings: HashMap<String, Vec<Rule>>,
}

impl Auth {
    /// The identity of a bearer token; `None` means 401.
    pub fn authenticate(&self, token: &str) -> Option<Identity> {
        self.tokens.get(token).cloned()
    }

    fn rules<'a>(&'a self, id: &'a Identity) -> impl Iterator<Item = &'a Rule> {
        let user = self
            .bindings
            .get(&format!("user:{}", id.user))
            .into_iter()
            .flatten();
        let groups = id
            .groups
            .iter()
            .filter_map(|g| self.bindings.get(&format!("group:{g}")))
            .flatten();
        id.rules.iter().chain(user).chain(groups)
    }

    /// RBAC for a resource request: `Err` is the 403.
    pub fn authorize(&self, id: &Identity, a: &Attributes) -> Result<(), ApiError> {
        if self.rules(id).any(|r| r.allows_resource(a)) {
            return Ok(());
        }
        let resource = match &a.subresource {
            Some(s) => format!("{}/{s}", a.resource),
            None => a.resource.clone(),
        };
        let scope = if a.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace {}", go_quote(&a.namespace))
        };
        let msg = format!(
            "User {} cannot {} resource {} in API group {} {scope}",
            go_quote(&id.user),
            a.verb,
            go_quote(&resource),
            go_quote(&a.group)
        );
        Err(ApiError::forbidden(&a.group, &a.resource, &a.name, &msg))
    }

    /// RBAC for a non-resource request (`/version`, `/api`, ...).
    pub fn authorize_path(&self, id: &Identity, verb: &str, path: &str) -> Result<(), ApiError> {
        if self.rules(id).any(|r| r.allows_path(verb, path)) {
            return Ok(());
        }
        let msg = format!(
            "User {} cannot {verb} path {}",
            go_quote(&id.user),
            go_quote(path)
        );
        Err(ApiError::forbidden("", "", "", &msg))
    }
}

/// The bootstrap non-resource rules: `system:public-info-viewer` for everyone (health and
/// version; discovery and OpenAPI too here, see the README), `system:discovery` and
/// `system:basic-user` for authenticated users.
pub fn bootstrap_bindings() -> HashMap<String, Vec<Rule>> {
    let public = Rule::non_resource(
        &["get"],
        &[
            "/healthz",
            "/livez",
            "/readyz",
            "/version",
            "/version/",
            "/api",
            "/api/*",
            "/apis",
            "/apis/*",
            "/openapi",
            "/openapi/*",
        ],
    );
    let mut b = HashMap::new();
    b.insert(
        "group:system:unauthenticated".to_string(),
        vec![public.clone()],
    );
    b.insert(
        "group:system:authenticated".to_string(),
        vec![
            public,
            Rule::new(
                &["create"],
                &["authorization.k8s.io"],
                &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            ),
            Rule::new(
                &["create"],
                &["authentication.k8s.io"],
                &["selfsubjectreviews"],
            ),
        ],
    );
    b.insert("group:system:masters".to_string(), Rule::admin());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(
        verb: &str,
        group: &str,
        res: &str,
        sub: Option<&str>,
        ns: &str,
        name: &str,
    ) -> Attributes {
        Attributes {
            verb: verb.into(),
            group: group.into(),
            resource: res.into(),
            subresource: sub.map(String::from),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn cni_role_and_forbidden_texts() {
        let mut auth = Auth::default();
        let id = Identity::service_account("kube-system", "calico-cni-plugin");
        auth.bindings
            .insert(format!("user:{}", id.user), Rule::calico_cni_plugin());
        assert!(auth
            .authorize(
                &id,
                &attrs("patch", "", "pods", Some("status"), "test", "p1")
            )
            .is_ok());
        let e = auth
            .authorize(&id, &attrs("patch", "", "pods", None, "test", "p1"))
            .unwrap_err();
        assert_eq!(
            e.message(),
            "pods \"p1\" is forbidden: User \"system:serviceaccount:kube-system:calico-cni-plugin\" cannot patch resource \"pods\" in API group \"\" in the namespace \"test\""
        );
        let e = auth
            .authorize(&id, &attrs("list", "", "pods", None, "", ""))
            .unwrap_err();
        assert_eq!(
            e.message(),
            "pods is forbidden: User \"system:serviceaccount:kube-system:calico-cni-plugin\" cannot list resource \"pods\" in API group \"\" at the cluster scope"
        );
        let e = auth
            .authorize(
                &id,
                &attrs(
                    "patch",
                    "crd.projectcalico.org",
                    "ipamblocks",
                    None,
                    "",
                    "x",
                ),
            )
            .unwrap_err();
        assert_eq!(
            e.message(),
            "ipamblocks.crd.projectcalico.org \"x\" is forbidden: User \"system:serviceaccount:kube-system:calico-cni-plugin\" cannot patch resource \"ipamblocks\" in API group \"crd.projectcalico.org\" at the cluster scope"
        );
        assert!(auth
            .authorize(
                &id,
                &attrs(
                    "update",
                    "crd.projectcalico.org",
                    "ipamblocks",
                    None,
                    "",
                    "x"
                )
            )
            .is_ok());
    }
}
