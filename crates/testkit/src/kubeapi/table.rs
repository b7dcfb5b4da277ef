//! `meta.k8s.io/v1` Table responses (what `kubectl get` asks for): the CRD default columns
//! (Name, Created At) for custom resources and the main columns of the core types' printers.

use std::time::SystemTime;

use serde_json::{json, Value};

use super::resources::ResourceDef;

/// The content type of a Table response.
pub const CONTENT_TYPE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// Whether an `Accept` header asks for a Table.
pub fn wanted(accept: &str) -> bool {
    accept.split(',').any(|a| {
        let p: Vec<&str> = a.split(';').map(str::trim).collect();
        p.contains(&"as=Table") && p.contains(&"g=meta.k8s.io")
    })
}

fn col(name: &str, typ: &str, format: &str, priority: u32) -> Value {
    json!({"name": name, "type": typ, "format": format, "description": name, "priority": priority})
}

/// `duration.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let s = secs.max(0);
    if s < 120 {
        return format!("{s}s");
    }
    let m = s / 60;
    if m < 10 {
        return if s % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", s % 60)
        };
    }
    if m < 180 {
        return format!("{m}m");
    }
    let h = s / 3600;
    if h < 8 {
        return if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        };
    }
    if h < 48 {
        return format!("{h}h");
    }
    if h < 24 * 8 {
        return if h % 24 == 0 {
            format!("{}d", h / 24)
        } else {
            format!("{}d{}h", h / 24, h % 24)
        };
    }
    if h < 24 * 365 * 2 {
        return format!("{}d", h / 24);
    }
    if h < 24 * 365 * 8 {
        let y = h / (24 * 365);
        let d = (h % (24 * 365)) / 24;
        return if d == 0 {
            format!("{y}y")
        } else {
            format!("{y}y{d}d")
        };
    }
    format!("{}y", h / (24 * 365))
}

/// The age of an RFC 3339 timestamp (`2006-01-02T15:04:05Z`).
fn age(ts: &str) -> String {
    let Some(then) = libcni::time::parse_rfc3339(ts) else {
        return "<unknown>".into();
    };
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    };
    human_duration(secs(SystemTime::now()) - secs(then))
}

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn or_none(x: &str) -> String {
    if x.is_empty() {
        "<none>".into()
    } else {
        x.into()
    }
}

/// Columns and the cells of one object.
fn columns(rd: &ResourceDef) -> Vec<Value> {
    match (rd.is_custom(), rd.plural) {
        (true, _) => vec![
            col("Name", "string", "name", 0),
            col("Created At", "date", "", 0),
        ],
        (false, "pods") => vec![
            col("Name", "string", "name", 0),
            col("Ready", "string", "", 0),
            col("Status", "string", "", 0),
            col("Restarts", "string", "", 0),
            col("Age", "string", "", 0),
            col("IP", "string", "", 1),
            col("Node", "string", "", 1),
            col("Nominated Node", "string", "", 1),
            col("Readiness Gates", "string", "", 1),
        ],
        (false, "namespaces") => vec![
            col("Name", "string", "name", 0),
            col("Status", "string", "", 0),
            col("Age", "string", "", 0),
        ],
        (false, "nodes") => vec![
            col("Name", "string", "name", 0),
            col("Status", "string", "", 0),
            col("Roles", "string", "", 0),
            col("Age", "string", "", 0),
            col("Version", "string", "", 0),
        ],
        (false, "serviceaccounts") => vec![
            col("Name", "string", "name", 0),
            col("Secrets", "integer", "", 0),
            col("Age", "string", "", 0),
        ],
        _ => vec![
            col("Name", "string", "name", 0),
            col("Age", "string", "", 0),
        ],
    }
}

fn cells(rd: &ResourceDef, o: &Value) -> Vec<Value> {
    let name = json!(s(o, "/metadata/name"));
    let created = s(o, "/metadata/creationTimestamp");
    match (rd.is_custom(), rd.plural) {
        (true, _) => vec![name, json!(created)],
        (false, "pods") => {
            let total = o
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let statuses = o
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array);
            let ready = statuses.map_or(0, |cs| {
                cs.iter().filter(|c| c["ready"] == json!(true)).count()
            });
            let restarts: i64 = statuses.map_or(0, |cs| {
                cs.iter().filter_map(|c| c["restartCount"].as_i64()).sum()
            });
            let mut status = s(o, "/status/reason").to_string();
            if status.is_empty() {
                status = s(o, "/status/phase").to_string();
            }
            if !s(o, "/metadata/deletionTimestamp").is_empty() {
                status = "Terminating".into();
            }
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(status),
                json!(restarts.to_string()),
                json!(age(created)),
                json!(or_none(s(o, "/status/podIP"))),
                json!(or_none(s(o, "/spec/nodeName"))),
                json!(or_none(s(o, "/status/nominatedNodeName"))),
                json!("<none>"),
            ]
        }
        (false, "namespaces") => vec![name, json!(s(o, "/status/phase")), json!(age(created))],
        (false, "nodes") => {
            let ready = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                .map(|c| {
                    if c["status"] == "True" {
                        "Ready"
                    } else {
                        "NotReady"
                    }
                })
                .unwrap_or("Unknown");
            vec![
                name,
                json!(ready),
                json!("<none>"),
                json!(age(created)),
                json!(s(o, "/status/nodeInfo/kubeletVersion")),
            ]
        }
        (false, "serviceaccounts") => {
            let n = o
                .get("secrets")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            vec![name, json!(n), json!(age(created))]
        }
        _ => vec![name, json!(age(created))],
    }
}

fn row(rd: &ResourceDef, o: &Value) -> Value {
    json!({"cells": cells(rd, o),
           "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                      "metadata": o.get("metadata").cloned().unwrap_or(json!({}))}})
}

/// A Table of one object or of a list (keeping the list's metadata).
pub fn of(rd: &ResourceDef, body: &Value) -> Value {
    let (rows, metadata) = match body.get("items").and_then(Value::as_array) {
        Some(items) => (
            items.iter().map(|o| row(rd, o)).collect::<Vec<_>>(),
            body.get("metadata").cloned().unwrap_or(json!({})),
        ),
        None => (
            vec![row(rd, body)],
            json!({"resourceVersion": s(body, "/metadata/resourceVersion")}),
        ),
    };
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
           "columnDefinitions": columns(rd), "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(125), "2m5s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 60), "3h1m");
        assert_eq!(human_duration(50 * 3600), "2d2h");
    }

    #[test]
    fn table_negotiation() {
        assert!(wanted(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(!wanted("application/json"));
    }
}
