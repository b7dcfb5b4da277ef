//! What the typed core resources add: defaults (`pkg/apis/core/v1/defaults.go` and the default
//! admission plugins), validation (`pkg/apis/core/validation`, the parts clients hit) and the
//! fields their field selectors know.

use serde_json::{json, Map, Value};

use super::meta::{dns1123_label_errors, NameRule};
use super::status::{BadValue, FieldError};

/// The name rule of a resource's objects.
pub fn name_rule(plural: &str) -> NameRule {
    match plural {
        "namespaces" => NameRule::Label,
        _ => NameRule::Subdomain,
    }
}

fn obj_mut<'a>(v: &'a mut Value, k: &str) -> &'a mut Map<String, Value> {
    if !v.get(k).is_some_and(Value::is_object) {
        v[k] = json!({});
    }
    v[k].as_object_mut().expect("just made an object")
}

fn default(m: &mut Map<String, Value>, k: &str, v: Value) {
    if m.get(k).is_none_or(Value::is_null) {
        m.insert(k.into(), v);
    }
}

/// Defaults and create-time status of a new core object (after validation of nothing yet:
/// the registry's `PrepareForCreate` and defaulting on decode).
pub fn prepare_create(plural: &str, obj: &mut Value) {
    match plural {
        "pods" => {
            let spec = obj_mut(obj, "spec");
            default(spec, "restartPolicy", json!("Always"));
            default(spec, "terminationGracePeriodSeconds", json!(30));
            default(spec, "dnsPolicy", json!("ClusterFirst"));
            default(spec, "securityContext", json!({}));
            default(spec, "schedulerName", json!("default-scheduler"));
            default(spec, "enableServiceLinks", json!(true));
            default(spec, "priority", json!(0));
            default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
            default(spec, "serviceAccountName", json!("default"));
            let sa = spec["serviceAccountName"].clone();
            spec.insert("serviceAccount".into(), sa);
            default(
                spec,
                "tolerations",
                json!([
                    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
                ]),
            );
            for list in ["containers", "initContainers"] {
                if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
                    for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                        default(c, "terminationMessagePath", json!("/dev/termination-log"));
                        default(c, "terminationMessagePolicy", json!("File"));
                        default(c, "resources", json!({}));
                        let image = c.get("image").and_then(Value::as_str).unwrap_or("");
                        let tag = image.rsplit('/').next().unwrap_or("");
                        let latest = !image.contains('@')
                            && (!tag.contains(':') || tag.ends_with(":latest"));
                        default(
                            c,
                            "imagePullPolicy",
                            json!(if latest { "Always" } else { "IfNotPresent" }),
                        );
                    }
                }
            }
            obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
        }
        "namespaces" => {
            let name = obj["metadata"]["name"].clone();
            obj_mut(obj, "spec").insert("finalizers".into(), json!(["kubernetes"]));
            obj["status"] = json!({"phase": "Active"});
            obj_mut(&mut obj["metadata"], "labels")
                .insert("kubernetes.io/metadata.name".into(), name);
        }
        _ => {}
    }
}

/// Keeps what an update may not change through this endpoint: the main resource keeps the old
/// status, the `status` subresource the old spec (and a pod's deletion timestamp and owner
/// references).
pub fn prepare_update(plural: &str, sub: Option<&str>, new: &mut Value, old: &Value) {
    let has_status = matches!(plural, "pods" | "nodes" | "namespaces");
    match sub {
        None if has_status => {
            set_or_remove(new, "status", old.get("status"));
            if plural == "namespaces" {
                let f = old.pointer("/spec/finalizers").cloned();
                if let Some(f) = f {
                    obj_mut(new, "spec").insert("finalizers".into(), f);
                }
            }
        }
        Some("status") => {
            set_or_remove(new, "spec", old.get("spec"));
            if plural == "pods" {
                let m = obj_mut(new, "metadata");
                match old["metadata"].get("ownerReferences") {
                    Some(v) => m.insert("ownerReferences".into(), v.clone()),
                    None => m.remove("ownerReferences"),
                };
            }
        }
        _ => {}
    }
    if plural == "namespaces" {
        let name = old["metadata"]["name"].clone();
        obj_mut(&mut new["metadata"], "labels").insert("kubernetes.io/metadata.name".into(), name);
    }
}

fn set_or_remove(obj: &mut Value, k: &str, v: Option<&Value>) {
    if let Some(o) = obj.as_object_mut() {
        match v {
            Some(v) => o.insert(k.into(), v.clone()),
            None => o.remove(k),
        };
    }
}

/// Type-specific create validation.
pub fn validate_create(plural: &str, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if plural == "pods" {
        let containers = obj.pointer("/spec/containers").and_then(Value::as_array);
        match containers {
            None => errs.push(FieldError::required("spec.containers", "")),
            Some(cs) if cs.is_empty() => errs.push(FieldError::required("spec.containers", "")),
            Some(cs) => {
                let mut seen: Vec<&str> = Vec::new();
                for (i, c) in cs.iter().enumerate() {
                    let name = c.get("name").and_then(Value::as_str).unwrap_or("");
                    let path = format!("spec.containers[{i}]");
                    if name.is_empty() {
                        errs.push(FieldError::required(&format!("{path}.name"), ""));
                    } else {
                        for m in dns1123_label_errors(name) {
                            errs.push(FieldError::invalid(
                                &format!("{path}.name"),
                                BadValue::Str(name.into()),
                                &m,
                            ));
                        }
                        if seen.contains(&name) {
                            errs.push(FieldError {
                                kind: super::status::ErrorType::Duplicate,
                                field: format!("{path}.name"),
                                value: BadValue::Str(name.into()),
                                detail: String::new(),
                            });
                        }
                        seen.push(name);
                    }
                    if c.get("image")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .is_empty()
                    {
                        errs.push(FieldError::required(&format!("{path}.image"), ""));
                    }
                }
            }
        }
    }
    errs
}

/// Type-specific update validation: a pod's spec is immutable but for images (the text of
/// `ValidatePodUpdate`, without the spec diff the real server appends).
pub fn validate_update(
    plural: &str,
    sub: Option<&str>,
    new: &Value,
    old: &Value,
) -> Vec<FieldError> {
    if plural != "pods" || sub.is_some() {
        return Vec::new();
    }
    let strip_images = |spec: &Value| {
        let mut s = spec.clone();
        for list in ["containers", "initContainers"] {
            if let Some(cs) = s.get_mut(list).and_then(Value::as_array_mut) {
                for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                    c.remove("image");
                }
            }
        }
        if let Some(o) = s.as_object_mut() {
            o.remove("activeDeadlineSeconds");
            o.remove("tolerations");
            o.remove("terminationGracePeriodSeconds");
        }
        s
    };
    let (n, o) = (
        new.get("spec").unwrap_or(&Value::Null),
        old.get("spec").unwrap_or(&Value::Null),
    );
    if strip_images(n) != strip_images(o) {
        return vec![FieldError::forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        )];
    }
    Vec::new()
}

/// The field-selector fields of a resource and their value in `obj` (`None`: unsupported,
/// the 400 `field label not supported: <f>`).
pub fn field_value(plural: &str, is_custom: bool, obj: &Value, field: &str) -> Option<String> {
    let s = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let common = match field {
        "metadata.name" => Some(s("/metadata/name")),
        "metadata.namespace" if plural != "namespaces" && plural != "nodes" => {
            Some(s("/metadata/namespace"))
        }
        _ => None,
    };
    if common.is_some() || is_custom {
        return common;
    }
    match (plural, field) {
        ("pods", "spec.nodeName") => Some(s("/spec/nodeName")),
        ("pods", "spec.restartPolicy") => Some(s("/spec/restartPolicy")),
        ("pods", "spec.schedulerName") => Some(s("/spec/schedulerName")),
        ("pods", "spec.serviceAccountName") => Some(s("/spec/serviceAccountName")),
        ("pods", "spec.hostNetwork") => Some(
            obj.pointer("/spec/hostNetwork")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .to_string(),
        ),
        ("pods", "status.phase") => Some(s("/status/phase")),
        ("pods", "status.podIP") => Some(s("/status/podIP")),
        ("pods", "status.podIPs") => Some(s("/status/podIPs/0/ip")),
        ("pods", "status.nominatedNodeName") => Some(s("/status/nominatedNodeName")),
        ("namespaces", "status.phase") => Some(s("/status/phase")),
        ("nodes", "spec.unschedulable") => Some(
            obj.pointer("/spec/unschedulable")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .to_string(),
        ),
        _ => None,
    }
}
