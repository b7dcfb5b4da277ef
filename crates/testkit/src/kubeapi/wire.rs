//! JSON as the apiserver writes it: Go's `encoding/json` (HTML-escaped `<`, `>`, `&`, a trailing
//! newline), typed objects (core types, Status, lists, discovery) with their Go struct field
//! order for the well-known parts, custom resources (unstructured maps) with sorted keys.

use serde_json::Value;

use super::schema::OBJECT_META_FIELDS;

/// How object keys are ordered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Style {
    /// Go structs: `kind`, `apiVersion`, `metadata` first, known structs in field order.
    Typed,
    /// Go maps (`unstructured.Unstructured`): every key sorted.
    Sorted,
}

/// The encoded body, ending in a newline like `json.Encoder.Encode`.
pub fn encode(v: &Value, style: Style) -> Vec<u8> {
    let mut out = String::new();
    write(&mut out, v, "", style);
    out.push('\n');
    out.into_bytes()
}

/// Field order of the Go structs clients see, by the key of the enclosing field (`""` at the
/// top level and for list items).
fn rank(parent: &str, key: &str) -> Option<usize> {
    const TOP: &[&str] = &[
        "kind",
        "apiVersion",
        "groupVersion",
        "metadata",
        "spec",
        "status",
        "message",
        "reason",
        "details",
        "code",
        "items",
        "versions",
        "serverAddressByClientCIDRs",
        "groups",
        "resources",
    ];
    // ListMeta's own fields come after ObjectMeta's: the two never share an object.
    const LIST_META: &[&str] = &["continue", "remainingItemCount"];
    const DETAILS: &[&str] = &[
        "name",
        "group",
        "kind",
        "uid",
        "causes",
        "retryAfterSeconds",
    ];
    const CAUSE: &[&str] = &["reason", "message", "field"];
    const RESOURCE: &[&str] = &[
        "name",
        "singularName",
        "namespaced",
        "group",
        "version",
        "kind",
        "verbs",
        "shortNames",
        "categories",
        "storageVersionHash",
    ];
    const GROUP: &[&str] = &["name", "versions", "preferredVersion"];
    const GV: &[&str] = &["groupVersion", "version"];
    let table = match parent {
        "" | "items" => TOP,
        "metadata" => {
            return OBJECT_META_FIELDS
                .iter()
                .chain(LIST_META)
                .position(|k| *k == key)
        }
        "details" => DETAILS,
        "causes" => CAUSE,
        "resources" => RESOURCE,
        "groups" => GROUP,
        "versions" | "preferredVersion" => GV,
        _ => return None,
    };
    table.iter().position(|k| *k == key)
}

fn write(out: &mut String, v: &Value, parent: &str, style: Style) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(out, x, parent, style);
            }
            out.push(']');
        }
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            if style == Style::Typed {
                keys.sort_by(|a, b| {
                    let (ra, rb) = (rank(parent, a), rank(parent, b));
                    match (ra, rb) {
                        (Some(x), Some(y)) => x.cmp(&y),
                        (Some(_), None) => std::cmp::Ordering::Less,
                        (None, Some(_)) => std::cmp::Ordering::Greater,
                        (None, None) => a.cmp(b),
                    }
                });
            }
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                // Below the well-known structs everything is ordered as a map would be.
                let child = match (parent, k.as_str()) {
                    ("" | "items", "metadata" | "details" | "items") => k.as_str(),
                    ("" | "items", "versions" | "groups" | "resources") => k.as_str(),
                    ("details", "causes") => "causes",
                    ("groups", "versions" | "preferredVersion") => k.as_str(),
                    _ => "-",
                };
                write(out, &o[k.as_str()], child, style);
            }
            out.push('}');
        }
    }
}

/// A JSON string with Go's escaping (`\u003c`, `\u003e`, `\u0026`, `\u2028`, `\u2029`).
fn write_str(out: &mut String, s: &str) {
    out.push_str(&libcni::json::to_compact(s));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_in_go_field_order() {
        let s = json!({"code": 404, "reason": "NotFound", "status": "Failure", "metadata": {},
                       "kind": "Status", "apiVersion": "v1", "message": "pods \"x\" not found",
                       "details": {"kind": "pods", "name": "x"}});
        assert_eq!(
            String::from_utf8(encode(&s, Style::Typed)).unwrap(),
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\
             \"message\":\"pods \\\"x\\\" not found\",\"reason\":\"NotFound\",\
             \"details\":{\"name\":\"x\",\"kind\":\"pods\"},\"code\":404}\n"
        );
    }

    #[test]
    fn sorted_and_html_escaped() {
        let s = json!({"b": "<&>", "a": 1});
        assert_eq!(
            String::from_utf8(encode(&s, Style::Sorted)).unwrap(),
            "{\"a\":1,\"b\":\"\\u003c\\u0026\\u003e\"}\n"
        );
    }
}
