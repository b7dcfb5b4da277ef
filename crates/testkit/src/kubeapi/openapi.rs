//! The part of OpenAPI v3 kubectl reads: `/openapi/v3` (the group-versions) and per
//! group-version documents whose PATCH operations name their group/version/kind and take the
//! `fieldValidation` parameter, so kubectl leaves field validation to the server
//! (`cli-runtime` `queryParamVerifierV3`). Schemas: custom resources carry their structural
//! schema under `components.schemas`; core types have none.

use serde_json::{json, Map, Value};

use super::resources::{Registry, ResourceDef};

/// The group-version path segment: `api/v1`, `apis/<group>/<version>`.
fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `GET /openapi/v3`.
pub fn root(reg: &Registry) -> Value {
    let mut paths = Map::new();
    let mut gvs = vec![("", "v1")];
    gvs.extend(reg.groups());
    for (g, v) in gvs {
        let p = gv_path(g, v);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=kube-standin")}),
        );
    }
    json!({"paths": paths})
}

fn param(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

fn schema_name(rd: &ResourceDef) -> String {
    let g: Vec<&str> = rd.group.split('.').rev().collect();
    if rd.group.is_empty() {
        format!("io.k8s.api.core.{}.{}", rd.version, rd.kind)
    } else {
        format!("{}.{}.{}", g.join("."), rd.version, rd.kind)
    }
}

/// `GET /openapi/v3/<gv path>`; `None` for a group-version not served.
pub fn group_version(reg: &Registry, path: &str) -> Option<Value> {
    let (group, version) = match path
        .trim_matches('/')
        .split('/')
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["api", v] => ("", v.to_string()),
        ["apis", g, v] => (*g, v.to_string()),
        _ => return None,
    };
    if !(group.is_empty() && version == "v1" || reg.serves(group, &version)) {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for rd in reg
        .defs
        .iter()
        .filter(|d| d.group == group && d.version == version)
    {
        let gvk = json!({"group": rd.group, "version": rd.version, "kind": rd.kind});
        let base = if rd.namespaced {
            format!(
                "/{}/namespaces/{{namespace}}/{}",
                gv_path(group, &version),
                rd.plural
            )
        } else {
            format!("/{}/{}", gv_path(group, &version), rd.plural)
        };
        let op = |action: &str, id: &str| {
            json!({"operationId": id,
                   "parameters": [param("dryRun"), param("fieldManager"), param("fieldValidation"), param("force")],
                   "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", schema_name(rd))}}}}},
                   "x-kubernetes-action": action,
                   "x-kubernetes-group-version-kind": gvk})
        };
        let id = format!("{}{}", rd.kind, rd.version);
        paths.insert(
            format!("{base}/{{name}}"),
            json!({"patch": op("patch", &format!("patch{id}")), "put": op("put", &format!("replace{id}"))}),
        );
        paths.insert(
            base.clone(),
            json!({"post": op("post", &format!("create{id}"))}),
        );
        for sub in rd.subresources.iter().filter(|s| **s == "status") {
            paths.insert(
                format!("{base}/{{name}}/{sub}"),
                json!({"patch": op("patch", &format!("patch{id}Status")), "put": op("put", &format!("replace{id}Status"))}),
            );
        }
        let mut s = match &rd.schema_json {
            Some(raw) => serde_json::from_str(raw).unwrap_or_else(|_| json!({"type": "object"})),
            None => json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        };
        s["x-kubernetes-group-version-kind"] = json!([gvk]);
        schemas.insert(schema_name(rd), s);
    }
    Some(json!({"openapi": "3.0.0",
                "info": {"title": "Kubernetes", "version": "v1.32.4"},
                "paths": paths,
                "components": {"schemas": schemas}}))
}
