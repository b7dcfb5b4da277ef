//! The three patch formats of PATCH: JSON Patch (RFC 6902, evanphx/json-patch's texts), JSON
//! Merge Patch (RFC 7386) and a strategic merge patch for the core types served.

use serde_json::{Map, Value};

use super::status::ApiError;

/// The patch media types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

fn parse(patch: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(patch)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

/// Applies an RFC 6902 patch to `doc`.
pub fn json_patch(doc: &Value, patch: &[u8]) -> Result<Value, ApiError> {
    let ops = parse(patch)?;
    let Some(ops) = ops.as_array() else {
        return Err(ApiError::bad_request(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
        ));
    };
    let mut doc = doc.clone();
    for op in ops {
        apply_op(&mut doc, op).map_err(|m| ApiError::unprocessable(&m))?;
    }
    Ok(doc)
}

/// A JSON pointer's tokens (`~1` → `/`, `~0` → `~`).
fn pointer(p: &str) -> Result<Vec<String>, String> {
    if p.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = p.strip_prefix('/') else {
        return Err(format!("invalid JSON pointer: {p}"));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn parent<'a>(doc: &'a mut Value, toks: &[String]) -> Option<&'a mut Value> {
    let mut cur = doc;
    for t in toks {
        cur = match cur {
            Value::Object(o) => o.get_mut(t)?,
            Value::Array(a) => a.get_mut(t.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn get_at<'a>(doc: &'a Value, toks: &[String]) -> Option<&'a Value> {
    let mut cur = doc;
    for t in toks {
        cur = match cur {
            Value::Object(o) => o.get(t)?,
            Value::Array(a) => a.get(t.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn add_at(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let toks = pointer(path)?;
    let Some((last, init)) = toks.split_last() else {
        *doc = value;
        return Ok(());
    };
    let Some(con) = parent(doc, init) else {
        return Err(format!(
            "add operation does not apply: doc is missing path: \"{path}\": missing value"
        ));
    };
    match con {
        Value::Object(o) => {
            o.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let i = if last == "-" {
                a.len()
            } else {
                match last.parse::<usize>() {
                    Ok(i) if i <= a.len() => i,
                    _ => return Err(format!("error in add for path: '{path}': Unable to access invalid index: {last}: invalid index referenced")),
                }
            };
            a.insert(i, value);
            Ok(())
        }
        _ => Err(format!(
            "add operation does not apply: doc is missing path: \"{path}\": missing value"
        )),
    }
}

fn remove_at(doc: &mut Value, path: &str, op: &str) -> Result<Value, String> {
    let toks = pointer(path)?;
    let Some((last, init)) = toks.split_last() else {
        return Err(format!(
            "{op} operation does not apply: doc is missing path: \"{path}\": missing value"
        ));
    };
    let Some(con) = parent(doc, init) else {
        return Err(format!(
            "{op} operation does not apply: doc is missing path: \"{path}\": missing value"
        ));
    };
    match con {
        Value::Object(o) => o.remove(last).ok_or_else(|| {
            format!("error in {op} for path: '{path}': Unable to remove nonexistent key: {last}: missing value")
        }),
        Value::Array(a) => match last.parse::<usize>() {
            Ok(i) if i < a.len() => Ok(a.remove(i)),
            _ => Err(format!("error in {op} for path: '{path}': Unable to access invalid index: {last}: invalid index referenced")),
        },
        _ => Err(format!("{op} operation does not apply: doc is missing path: \"{path}\": missing value")),
    }
}

fn path_or<'a>(p: Option<&'a str>, what: &str) -> Result<&'a str, String> {
    p.ok_or_else(|| format!("{what} operation failed to decode path: missing value"))
}

fn apply_op(doc: &mut Value, op: &Value) -> Result<(), String> {
    let kind = op.get("op").and_then(Value::as_str).unwrap_or("");
    let path = op.get("path").and_then(Value::as_str);
    let from = op.get("from").and_then(Value::as_str);
    let value = op.get("value");
    match kind {
        "add" => {
            let path = path_or(path, "add")?;
            add_at(doc, path, value.cloned().unwrap_or(Value::Null))
        }
        "remove" => remove_at(doc, path_or(path, "remove")?, "remove").map(|_| ()),
        "replace" => {
            let path = path_or(path, "replace")?;
            let toks = pointer(path)?;
            if toks.is_empty() {
                *doc = value.cloned().unwrap_or(Value::Null);
                return Ok(());
            }
            let (last, init) = toks.split_last().unwrap_or((&toks[0], &[]));
            let Some(con) = parent(doc, init) else {
                return Err(format!(
                    "replace operation does not apply: doc is missing path: {path}: missing value"
                ));
            };
            let new = value.cloned().unwrap_or(Value::Null);
            match con {
                Value::Object(o) if o.contains_key(last) => {
                    o.insert(last.clone(), new);
                    Ok(())
                }
                Value::Array(a) => match last.parse::<usize>() {
                    Ok(i) if i < a.len() => {
                        a[i] = new;
                        Ok(())
                    }
                    _ => Err(format!("replace operation does not apply: doc is missing key: {path}: missing value")),
                },
                _ => Err(format!("replace operation does not apply: doc is missing key: {path}: missing value")),
            }
        }
        "move" => {
            let from = path_or(from, "move")?;
            let path = path_or(path, "move")?;
            let v = remove_at(doc, from, "move")
                .map_err(|_| format!("move operation does not apply: doc is missing from path: {from}: missing value"))?;
            add_at(doc, path, v)
        }
        "copy" => {
            let from = path_or(from, "copy")?;
            let path = path_or(path, "copy")?;
            let v = get_at(doc, &pointer(from)?)
                .cloned()
                .ok_or_else(|| format!("copy operation does not apply: doc is missing from path: \"{from}\": missing value"))?;
            add_at(doc, path, v)
        }
        "test" => {
            let path = path_or(path, "test")?;
            let actual = get_at(doc, &pointer(path)?);
            let want = value.unwrap_or(&Value::Null);
            match actual {
                Some(a) if a == want => Ok(()),
                None if want.is_null() => Ok(()),
                _ => Err(format!("testing value {path} failed: test failed")),
            }
        }
        other => Err(format!("Unexpected kind: {other}")),
    }
}

/// Applies an RFC 7386 merge patch to `doc`.
pub fn merge_patch(doc: &Value, patch: &[u8]) -> Result<Value, ApiError> {
    let p = parse(patch)?;
    Ok(merge(doc, &p))
}

fn merge(target: &Value, patch: &Value) -> Value {
    let Value::Object(po) = patch else {
        return patch.clone();
    };
    let mut out = match target {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    for (k, v) in po {
        if v.is_null() {
            out.remove(k);
        } else {
            let cur = out.get(k).cloned().unwrap_or(Value::Null);
            out.insert(k.clone(), merge(&cur, v));
        }
    }
    Value::Object(out)
}

/// The patch merge key of a list field of the core types (`patchMergeKey` struct tags).
fn merge_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates"
        | "secrets" => "name",
        "ports" => "containerPort",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "hostAliases" | "podIPs" | "hostIPs" => "ip",
        "conditions" | "addresses" => "type",
        "ownerReferences" => "uid",
        "topologySpreadConstraints" => "topologyKey",
        _ => return None,
    })
}

/// Lists of primitives with `patchStrategy:"merge"` (union instead of replace).
fn merges_primitives(field: &str) -> bool {
    matches!(field, "finalizers" | "podCIDRs")
}

/// Applies a strategic merge patch (core types): maps merge, `null` deletes, lists with a
/// merge key merge by it (`$patch: delete` removes an element), other lists are replaced;
/// `$setElementOrder/…` and `$retainKeys` are ignored, `$deleteFromPrimitiveList/…` honoured.
pub fn strategic_merge_patch(doc: &Value, patch: &[u8]) -> Result<Value, ApiError> {
    let p = parse(patch)?;
    if !p.is_object() {
        return Err(ApiError::bad_request("invalid JSON document"));
    }
    Ok(smp(doc, &p))
}

fn strip(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
        other => other.clone(),
    }
}

fn smp(orig: &Value, patch: &Value) -> Value {
    let Value::Object(po) = patch else {
        return patch.clone();
    };
    if po.get("$patch").and_then(Value::as_str) == Some("replace") {
        return strip(patch);
    }
    let mut out = match orig {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    for (k, v) in po {
        if k == "$patch" || k.starts_with("$setElementOrder/") || k == "$retainKeys" {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(cur)), Some(del)) = (out.get_mut(field), v.as_array()) {
                cur.retain(|x| !del.contains(x));
            }
            continue;
        }
        if v.is_null() {
            out.remove(k);
            continue;
        }
        let cur = out.get(k).cloned();
        let merged = match (cur, v) {
            (Some(c @ Value::Object(_)), Value::Object(_)) => smp(&c, v),
            (Some(Value::Array(c)), Value::Array(p)) => {
                if let Some(mk) = merge_key(k) {
                    Value::Array(merge_list(&c, p, mk))
                } else if merges_primitives(k) {
                    let mut c = c.clone();
                    for x in p {
                        if !c.contains(x) {
                            c.push(x.clone());
                        }
                    }
                    Value::Array(c)
                } else {
                    strip(v)
                }
            }
            (_, v) => strip(v),
        };
        out.insert(k.clone(), merged);
    }
    Value::Object(out)
}

fn merge_list(orig: &[Value], patch: &[Value], key: &str) -> Vec<Value> {
    let mut out: Vec<Value> = orig.to_vec();
    for item in patch {
        let k = item.get(key);
        let pos = k.and_then(|k| out.iter().position(|o| o.get(key) == Some(k)));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                out.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => out[i] = smp(&out[i], item),
            (None, false) => out.push(strip(item)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_ops() {
        let doc = json!({"metadata": {"labels": {"a": "1"}}, "list": [1, 2]});
        let out = json_patch(
            &doc,
            br#"[{"op":"test","path":"/metadata/labels/a","value":"1"},
                {"op":"add","path":"/metadata/labels/b~1c","value":"2"},
                {"op":"remove","path":"/list/0"},{"op":"add","path":"/list/-","value":3},
                {"op":"replace","path":"/metadata/labels/a","value":"x"}]"#,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"metadata": {"labels": {"a": "x", "b/c": "2"}}, "list": [2, 3]})
        );
        let e = json_patch(
            &doc,
            br#"[{"op":"test","path":"/metadata/labels/a","value":"2"}]"#,
        )
        .unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.status["details"]["causes"][0]["message"],
            "testing value /metadata/labels/a failed: test failed"
        );
        assert_eq!(json_patch(&doc, b"{}").unwrap_err().code, 400);
    }

    #[test]
    fn merge_patch_nulls_delete() {
        let doc = json!({"a": {"b": 1, "c": 2}, "l": [1]});
        let out = merge_patch(&doc, br#"{"a":{"b":null,"d":3},"l":[2]}"#).unwrap();
        assert_eq!(out, json!({"a": {"c": 2, "d": 3}, "l": [2]}));
    }

    #[test]
    fn strategic_merges_containers_by_name() {
        let doc = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}],
                                  "tolerations": [{"key": "k"}]},
                         "metadata": {"finalizers": ["f1"]}});
        let out = strategic_merge_patch(
            &doc,
            br#"{"spec":{"containers":[{"name":"b","image":"z"},{"name":"a","$patch":"delete"}],
                 "$setElementOrder/containers":[{"name":"b"}],"tolerations":[]},
                 "metadata":{"finalizers":["f2"],"annotations":{"x":"y"}}}"#,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"spec": {"containers": [{"name": "b", "image": "z"}], "tolerations": []},
                   "metadata": {"finalizers": ["f1", "f2"], "annotations": {"x": "y"}}})
        );
    }
}
