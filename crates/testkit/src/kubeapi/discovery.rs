//! Discovery documents (legacy, unaggregated) and `/version`.

use serde_json::{json, Value};

use super::resources::Registry;

/// `GET /version`: a v1.32 server (the commit names the stand-in, not a real build).
pub fn version() -> Value {
    json!({"major": "1", "minor": "32", "gitVersion": "v1.32.4", "gitCommit": "kube-standin",
           "gitTreeState": "clean", "buildDate": "2025-04-22T16:02:27Z", "goVersion": "go1.23.6",
           "compiler": "gc", "platform": "linux/amd64"})
}

/// `GET /api`: APIVersions.
pub fn api_versions(address: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]})
}

fn group_doc(name: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{name}/{version}"), "version": version});
    json!({"name": name, "versions": [gv.clone()], "preferredVersion": gv})
}

/// `GET /apis`: APIGroupList of the served groups.
pub fn group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .into_iter()
        .map(|(g, v)| group_doc(g, v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/<group>`: APIGroup.
pub fn group(reg: &Registry, name: &str) -> Option<Value> {
    let (g, v) = reg.groups().into_iter().find(|(g, _)| *g == name)?;
    let mut doc = group_doc(g, v);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

/// `GET /api/v1` or `/apis/<group>/<version>`: APIResourceList with subresources.
pub fn resource_list(reg: &Registry, group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for d in reg
        .defs
        .iter()
        .filter(|d| d.group == group && d.version == version)
    {
        let mut r = json!({"name": d.plural, "singularName": d.singular, "namespaced": d.namespaced,
                           "kind": d.kind, "verbs": d.verbs()});
        if !d.short_names.is_empty() {
            r["shortNames"] = json!(d.short_names);
        }
        if !d.categories.is_empty() {
            r["categories"] = json!(d.categories);
        }
        resources.push(r);
        for s in d.subresources {
            let r = match *s {
                "token" => json!({"name": format!("{}/token", d.plural), "singularName": "",
                                  "namespaced": d.namespaced, "group": "authentication.k8s.io",
                                  "version": "v1", "kind": "TokenRequest", "verbs": ["create"]}),
                s => json!({"name": format!("{}/{s}", d.plural), "singularName": "",
                            "namespaced": d.namespaced, "kind": d.kind, "verbs": ["get", "patch", "update"]}),
            };
            resources.push(r);
        }
    }
    if group.is_empty() {
        json!({"kind": "APIResourceList", "groupVersion": version, "resources": resources})
    } else {
        json!({"kind": "APIResourceList", "apiVersion": "v1",
               "groupVersion": format!("{group}/{version}"), "resources": resources})
    }
}

/// The media type of aggregated discovery (`apidiscovery.k8s.io/v2`), which kubectl and
/// client-go ask for first on `/api` and `/apis`.
pub const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether an `Accept` header asks for aggregated discovery v2.
pub fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|a| {
        let params: Vec<&str> = a.split(';').map(str::trim).collect();
        params.contains(&"g=apidiscovery.k8s.io")
            && params.contains(&"v=v2")
            && params.contains(&"as=APIGroupDiscoveryList")
    })
}

/// `GET /api` or `/apis` as an APIGroupDiscoveryList: the core group, or the API groups.
pub fn aggregated(reg: &Registry, core: bool) -> Value {
    let gvs: Vec<(&str, &str)> = if core { vec![("", "v1")] } else { reg.groups() };
    let items: Vec<Value> = gvs
        .into_iter()
        .map(|(g, v)| {
            let resources: Vec<Value> = reg
                .defs
                .iter()
                .filter(|d| d.group == g && d.version == v)
                .map(|d| {
                    let mut r = json!({"resource": d.plural,
                                       "responseKind": {"group": d.group, "version": d.version, "kind": d.kind},
                                       "scope": if d.namespaced { "Namespaced" } else { "Cluster" },
                                       "singularResource": d.singular, "verbs": d.verbs()});
                    if !d.short_names.is_empty() {
                        r["shortNames"] = json!(d.short_names);
                    }
                    if !d.categories.is_empty() {
                        r["categories"] = json!(d.categories);
                    }
                    let subs: Vec<Value> = d
                        .subresources
                        .iter()
                        .map(|s| match *s {
                            "token" => json!({"subresource": "token",
                                              "responseKind": {"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"},
                                              "verbs": ["create"]}),
                            s => json!({"subresource": s,
                                        "responseKind": {"group": d.group, "version": d.version, "kind": d.kind},
                                        "verbs": ["get", "patch", "update"]}),
                        })
                        .collect();
                    if !subs.is_empty() {
                        r["subresources"] = Value::Array(subs);
                    }
                    r
                })
                .collect();
            let mut meta = json!({"creationTimestamp": null});
            if !g.is_empty() {
                meta["name"] = json!(g);
            }
            json!({"metadata": meta, "versions": [{"version": v, "resources": resources, "freshness": "Current"}]})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}
