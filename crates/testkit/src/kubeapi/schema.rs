//! Structural schemas of custom resources, as the apiextensions apiserver applies them:
//! pruning of unknown fields (`structural/pruning`), dropping `null`s of non-nullable fields
//! without a default and defaulting (`structural/defaulting`), and validation with kube-openapi's
//! messages converted to field errors (`apiserver/validation.kubeOpenAPIResultToFieldErrors`).

use std::collections::BTreeMap;

use libcni::json::go_quote;
use serde_json::{Map, Value};

use super::regex::Regex;
use super::status::{BadValue, FieldError};
use super::util::{go_float, is_date_time};

/// One node of a structural schema (only what validation, pruning and defaulting read).
#[derive(Debug, Default, Clone)]
pub struct Schema {
    /// `type`; `["integer", "string"]` for `x-kubernetes-int-or-string`; empty if unset.
    pub types: Vec<String>,
    pub nullable: bool,
    /// `format`, kept only when apiextensions supports it (others are stripped).
    pub format: String,
    pub properties: BTreeMap<String, Schema>,
    pub additional: Option<Box<Schema>>,
    pub items: Option<Box<Schema>>,
    pub required: Vec<String>,
    pub enumeration: Option<Vec<Value>>,
    pub pattern: Option<(String, Option<Regex>)>,
    pub max_length: Option<i64>,
    pub min_length: Option<i64>,
    pub max_items: Option<i64>,
    pub min_items: Option<i64>,
    pub max_properties: Option<i64>,
    pub min_properties: Option<i64>,
    pub maximum: Option<f64>,
    pub minimum: Option<f64>,
    pub exclusive_maximum: bool,
    pub exclusive_minimum: bool,
    pub multiple_of: Option<f64>,
    pub default: Option<Value>,
    pub preserve_unknown: bool,
    pub embedded_resource: bool,
    pub any_of: Vec<Schema>,
    pub one_of: Vec<Schema>,
    pub all_of: Vec<Schema>,
    pub not: Option<Box<Schema>>,
}

/// `apiextensions-apiserver/pkg/apiserver/validation/formats.go` supportedFormats (compared
/// with dashes removed, as go-openapi normalises format names).
const SUPPORTED_FORMATS: &[&str] = &[
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
];

impl Schema {
    /// Reads an `openAPIV3Schema` (JSON).
    pub fn parse(v: &Value) -> Schema {
        let int = |k: &str| v.get(k).and_then(Value::as_i64);
        let float = |k: &str| v.get(k).and_then(Value::as_f64);
        let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
        let subs = |k: &str| -> Vec<Schema> {
            v.get(k)
                .and_then(Value::as_array)
                .map(|a| a.iter().map(Schema::parse).collect())
                .unwrap_or_default()
        };
        let mut types: Vec<String> = v
            .get("type")
            .and_then(Value::as_str)
            .map(|t| vec![t.to_string()])
            .unwrap_or_default();
        let int_or_string = flag("x-kubernetes-int-or-string");
        if int_or_string {
            types = vec!["integer".into(), "string".into()];
        }
        let format = v
            .get("format")
            .and_then(Value::as_str)
            .filter(|f| SUPPORTED_FORMATS.contains(&f.replace('-', "").as_str()))
            .unwrap_or("")
            .to_string();
        Schema {
            types,
            nullable: flag("nullable"),
            format,
            properties: v
                .get("properties")
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .map(|(k, s)| (k.clone(), Schema::parse(s)))
                        .collect()
                })
                .unwrap_or_default(),
            additional: v
                .get("additionalProperties")
                .filter(|a| a.is_object())
                .map(|a| Box::new(Schema::parse(a))),
            items: v
                .get("items")
                .filter(|i| i.is_object())
                .map(|i| Box::new(Schema::parse(i))),
            required: v
                .get("required")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            enumeration: v.get("enum").and_then(Value::as_array).cloned(),
            pattern: v
                .get("pattern")
                .and_then(Value::as_str)
                .map(|p| (p.to_string(), Regex::new(p))),
            max_length: int("maxLength"),
            min_length: int("minLength"),
            max_items: int("maxItems"),
            min_items: int("minItems"),
            max_properties: int("maxProperties"),
            min_properties: int("minProperties"),
            maximum: float("maximum"),
            minimum: float("minimum"),
            exclusive_maximum: flag("exclusiveMaximum"),
            exclusive_minimum: flag("exclusiveMinimum"),
            multiple_of: float("multipleOf"),
            default: v.get("default").cloned(),
            preserve_unknown: flag("x-kubernetes-preserve-unknown-fields"),
            embedded_resource: flag("x-kubernetes-embedded-resource"),
            any_of: subs("anyOf"),
            one_of: subs("oneOf"),
            all_of: subs("allOf"),
            not: v.get("not").map(|n| Box::new(Schema::parse(n))),
        }
    }
}

/// Fields of `metav1.ObjectMeta` (the JSON names): anything else in `metadata` is dropped.
pub const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Prunes unknown fields of a custom resource in place (the resource root keeps `apiVersion`,
/// `kind` and `metadata`; `metadata` keeps ObjectMeta's fields). Returns the pruned paths
/// (`spec.foo`, `spec.list[0].bar`) for warnings and `fieldValidation=Strict`.
pub fn prune(obj: &mut Value, schema: &Schema) -> Vec<String> {
    let mut pruned = Vec::new();
    if let Some(o) = obj.as_object_mut() {
        let keys: Vec<String> = o.keys().cloned().collect();
        for k in keys {
            match k.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => {
                    if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                        let mk: Vec<String> = m.keys().cloned().collect();
                        for f in mk {
                            if !OBJECT_META_FIELDS.contains(&f.as_str()) {
                                m.remove(&f);
                                pruned.push(format!("metadata.{f}"));
                            }
                        }
                    }
                }
                _ => match schema.properties.get(&k) {
                    Some(s) => prune_value(
                        o.get_mut(&k).unwrap_or(&mut Value::Null),
                        Some(s),
                        &k,
                        &mut pruned,
                    ),
                    None if schema.preserve_unknown => {}
                    None => {
                        o.remove(&k);
                        pruned.push(k);
                    }
                },
            }
        }
    }
    pruned
}

fn prune_value(v: &mut Value, s: Option<&Schema>, path: &str, pruned: &mut Vec<String>) {
    let preserve = s.is_some_and(|s| s.preserve_unknown);
    match v {
        Value::Object(o) => {
            let keys: Vec<String> = o.keys().cloned().collect();
            for k in keys {
                let child = format!("{path}.{k}");
                let sub = s.and_then(|s| s.properties.get(&k).or(s.additional.as_deref()));
                match sub {
                    Some(sub) => prune_value(
                        o.get_mut(&k).unwrap_or(&mut Value::Null),
                        Some(sub),
                        &child,
                        pruned,
                    ),
                    None if preserve => {}
                    None if s.is_some_and(|s| s.embedded_resource)
                        && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") => {}
                    None => {
                        o.remove(&k);
                        pruned.push(child);
                    }
                }
            }
        }
        Value::Array(a) => {
            let items = s.and_then(|s| s.items.as_deref());
            if items.is_none() && preserve {
                return;
            }
            for (i, x) in a.iter_mut().enumerate() {
                prune_value(x, items, &format!("{path}[{i}]"), pruned);
            }
        }
        _ => {}
    }
}

/// `PruneNonNullableNullsWithoutDefaults`: removes `null`s that a non-nullable field without a
/// default cannot hold.
pub fn prune_nulls(v: &mut Value, s: &Schema) {
    match v {
        Value::Object(o) => {
            let keys: Vec<String> = o.keys().cloned().collect();
            for k in keys {
                let sub = s.properties.get(&k).or(s.additional.as_deref());
                let Some(sub) = sub else { continue };
                if o[&k].is_null() && sub.default.is_none() && !sub.nullable {
                    o.remove(&k);
                } else if let Some(child) = o.get_mut(&k) {
                    prune_nulls(child, sub);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = s.items.as_deref() {
                for x in a {
                    prune_nulls(x, items);
                }
            }
        }
        _ => {}
    }
}

/// `structuraldefaulting.Default`: absent fields (and non-nullable nulls) get their default.
pub fn apply_defaults(v: &mut Value, s: &Schema) {
    let non_nullable_null =
        |x: &Value, s: &Schema| x.is_null() && !s.nullable && s.default.is_some();
    match v {
        Value::Object(o) => {
            for (k, prop) in &s.properties {
                if let Some(d) = &prop.default {
                    if o.get(k).is_none_or(|x| non_nullable_null(x, prop)) {
                        o.insert(k.clone(), d.clone());
                    }
                }
            }
            let keys: Vec<String> = o.keys().cloned().collect();
            for k in keys {
                if let Some(prop) = s.properties.get(&k) {
                    apply_defaults(o.get_mut(&k).unwrap_or(&mut Value::Null), prop);
                } else if let Some(add) = s.additional.as_deref() {
                    if non_nullable_null(&o[&k], add) {
                        o.insert(k.clone(), add.default.clone().unwrap_or(Value::Null));
                    }
                    apply_defaults(o.get_mut(&k).unwrap_or(&mut Value::Null), add);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = s.items.as_deref() {
                for x in a.iter_mut() {
                    if non_nullable_null(x, items) {
                        *x = items.default.clone().unwrap_or(Value::Null);
                    }
                    apply_defaults(x, items);
                }
            }
        }
        _ => {}
    }
}

/// Validates a whole custom resource against its schema: the field errors the apiserver
/// reports (422), in kube-openapi's order (properties visited in name order).
pub fn validate(obj: &Value, s: &Schema) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_value(obj, s, "", &mut errs);
    errs
}

/// The JSON type name kube-openapi infers for decoded data, and its "format" (ints decode to
/// int64, numbers with a fraction or exponent to float64).
fn type_of(v: &Value) -> (&'static str, &'static str) {
    match v {
        Value::Null => ("null", ""),
        Value::Bool(_) => ("boolean", ""),
        Value::Number(n) if n.is_f64() => ("number", "double"),
        Value::Number(_) => ("integer", "int64"),
        Value::String(_) => ("string", ""),
        Value::Array(_) => ("array", ""),
        Value::Object(_) => ("object", ""),
    }
}

/// The field path of a kube-openapi path (`.spec` → `spec`).
fn fpath(path: &str) -> String {
    path.strip_prefix('.').unwrap_or(path).to_string()
}

/// kube-openapi's `InvalidType` message (`%s in body must be of type %s: %q` for a string
/// value, without the value otherwise).
fn type_msg(path: &str, typ: &str, value: &str) -> String {
    format!(
        "{} in body must be of type {typ}: {}",
        fpath(path),
        go_quote(value)
    )
}

fn validate_value(v: &Value, s: &Schema, path: &str, errs: &mut Vec<FieldError>) {
    let p = fpath(path);
    if v.is_null() {
        // typeValidator and the enum validator only.
        if !s.types.is_empty() && !s.types.iter().any(|t| t == "null") && !s.nullable {
            errs.push(FieldError::type_invalid(
                &p,
                BadValue::Str("null".into()),
                &type_msg(path, &s.types.join(","), "null"),
            ));
        }
        check_enum(v, s, &p, errs);
        return;
    }
    let (sch_type, data_format) = type_of(v);
    // typeValidator
    if !s.types.is_empty() || !s.format.is_empty() {
        let is_float_int = sch_type == "number"
            && v.as_f64().is_some_and(|f| f.fract() == 0.0)
            && s.types.iter().any(|t| t == "integer");
        let is_int_float = sch_type == "integer" && s.types.iter().any(|t| t == "number");
        let contains = s.types.iter().any(|t| t == sch_type);
        let is_str_or_slice = matches!(v, Value::String(_) | Value::Array(_));
        let numeric = s.types.iter().any(|t| t == "number" || t == "integer");
        // kube-openapi's three checks, in order: a format the data's Go type does not have;
        // strings and slices with a format and a non-numeric type pass; the type itself.
        let type_ok = contains || is_float_int || is_int_float;
        let format_mismatch = !(s.format.is_empty() || type_ok || data_format == s.format);
        let skip = !numeric && !s.format.is_empty() && is_str_or_slice;
        if !is_str_or_slice && format_mismatch {
            errs.push(FieldError::type_invalid(
                &p,
                BadValue::Str(data_format.into()),
                &type_msg(path, &s.format, data_format),
            ));
        } else if !(skip || s.types.is_empty() || type_ok) {
            errs.push(FieldError::type_invalid(
                &p,
                BadValue::Str(sch_type.into()),
                &type_msg(path, &s.types.join(","), sch_type),
            ));
        }
    }
    // schemaPropsValidator (allOf/anyOf/oneOf/not)
    if !s.any_of.is_empty() && !s.any_of.iter().any(|sub| validate_sub(v, sub, path)) {
        errs.push(FieldError::invalid(
            &p,
            BadValue::of(v),
            &format!("{p} in body must validate at least one schema (anyOf)"),
        ));
    }
    if !s.one_of.is_empty() {
        let n = s
            .one_of
            .iter()
            .filter(|sub| validate_sub(v, sub, path))
            .count();
        if n != 1 {
            errs.push(FieldError::invalid(
                &p,
                BadValue::of(v),
                &format!("{p} in body must validate one and only one schema (oneOf)"),
            ));
        }
    }
    for sub in &s.all_of {
        validate_value(v, sub, path, errs);
    }
    if let Some(not) = &s.not {
        if validate_sub(v, not, path) {
            errs.push(FieldError::invalid(
                &p,
                BadValue::of(v),
                &format!("{p} in body must not validate the schema (not)"),
            ));
        }
    }
    match v {
        Value::String(st) => {
            // stringValidator: the first failure only.
            let len = st.chars().count() as i64;
            if let Some(max) = s.max_length.filter(|m| len > *m) {
                errs.push(FieldError::too_long(&p, BadValue::of(v), max));
            } else if let Some(min) = s.min_length.filter(|m| len < *m) {
                errs.push(FieldError::invalid(
                    &p,
                    BadValue::of(v),
                    &format!("{p} in body should be at least {min} chars long"),
                ));
            } else if let Some((pat, re)) = &s.pattern {
                if re.as_ref().is_some_and(|re| !re.is_match(st)) {
                    errs.push(FieldError::invalid(
                        &p,
                        BadValue::of(v),
                        &format!("{p} in body should match '{pat}'"),
                    ));
                }
            }
            // formatValidator
            if !s.format.is_empty() && !format_ok(&s.format, st) {
                errs.push(FieldError::type_invalid(
                    &p,
                    BadValue::of(v),
                    &type_msg(path, &s.format, st),
                ));
            }
        }
        Value::Number(n) => check_number(n, s, &p, v, errs),
        Value::Array(a) => {
            if let Some(items) = s.items.as_deref() {
                for (i, x) in a.iter().enumerate() {
                    validate_value(x, items, &format!("{path}[{i}]"), errs);
                }
            }
            let size = a.len() as i64;
            if let Some(min) = s.min_items.filter(|m| size < *m) {
                errs.push(FieldError::invalid(
                    &p,
                    BadValue::Plain(size.to_string()),
                    &format!("{p} in body should have at least {min} items"),
                ));
            }
            if let Some(max) = s.max_items.filter(|m| size > *m) {
                errs.push(FieldError::too_many(&p, size, max));
            }
        }
        _ => {}
    }
    check_enum(v, s, &p, errs);
    if let Value::Object(o) = v {
        check_object(o, s, path, errs);
    }
}

fn validate_sub(v: &Value, s: &Schema, path: &str) -> bool {
    let mut e = Vec::new();
    validate_value(v, s, path, &mut e);
    e.is_empty()
}

fn check_enum(v: &Value, s: &Schema, p: &str, errs: &mut Vec<FieldError>) {
    let Some(values) = &s.enumeration else { return };
    if values.is_empty() || values.iter().any(|e| enum_eq(e, v)) {
        return;
    }
    let valid: Vec<String> = values
        .iter()
        .map(|e| match e {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    errs.push(FieldError::not_supported(p, BadValue::of(v), &valid));
}

fn enum_eq(e: &Value, v: &Value) -> bool {
    match (e, v) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => e == v,
    }
}

fn check_number(
    n: &serde_json::Number,
    s: &Schema,
    p: &str,
    v: &Value,
    errs: &mut Vec<FieldError>,
) {
    let is_int = !n.is_f64();
    let f = n.as_f64().unwrap_or(0.0);
    // Integers compare and print as int64 (MaximumNativeType), floats with %v.
    let bound = |b: f64| {
        if is_int {
            (b as i64).to_string()
        } else {
            go_float(b)
        }
    };
    if let Some(m) = s.multiple_of {
        if m != 0.0 && (f / m).fract() != 0.0 {
            errs.push(FieldError::invalid(
                p,
                BadValue::of(v),
                &format!("{p} in body should be a multiple of {}", go_float(m)),
            ));
        }
    }
    if let Some(min) = s.minimum {
        let bad = if s.exclusive_minimum {
            f <= min
        } else {
            f < min
        };
        if bad {
            let rel = if s.exclusive_minimum {
                "greater than"
            } else {
                "greater than or equal to"
            };
            errs.push(FieldError::invalid(
                p,
                BadValue::of(v),
                &format!("{p} in body should be {rel} {}", bound(min)),
            ));
        }
    }
    if let Some(max) = s.maximum {
        let bad = if s.exclusive_maximum {
            f >= max
        } else {
            f > max
        };
        if bad {
            let rel = if s.exclusive_maximum {
                "less than"
            } else {
                "less than or equal to"
            };
            errs.push(FieldError::invalid(
                p,
                BadValue::of(v),
                &format!("{p} in body should be {rel} {}", bound(max)),
            ));
        }
    }
}

fn check_object(o: &Map<String, Value>, s: &Schema, path: &str, errs: &mut Vec<FieldError>) {
    let p = fpath(path);
    let n = o.len() as i64;
    if let Some(min) = s.min_properties.filter(|m| n < *m) {
        errs.push(FieldError::invalid(
            &p,
            BadValue::Plain(n.to_string()),
            &format!("{p} in body should have at least {min} properties"),
        ));
        return;
    }
    if let Some(max) = s.max_properties.filter(|m| n > *m) {
        errs.push(FieldError::too_many(&p, n, max));
        return;
    }
    if let Some(add) = s.additional.as_deref() {
        for (k, x) in o {
            if !s.properties.contains_key(k) {
                validate_value(x, add, &format!("{path}.{k}"), errs);
            }
        }
    }
    for (k, sub) in &s.properties {
        if let Some(x) = o.get(k) {
            let child = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            validate_value(x, sub, &child, errs);
        }
    }
    for k in &s.required {
        if !o.contains_key(k) {
            errs.push(FieldError::required(&fpath(&format!("{path}.{k}")), ""));
        }
    }
}

/// The string formats apiextensions checks (others pass).
fn format_ok(format: &str, s: &str) -> bool {
    match format.replace('-', "").as_str() {
        "datetime" => is_date_time(s),
        "date" => s.len() == 10 && is_date_time(&format!("{s}T00:00:00Z")),
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.contains(':') && s.parse::<std::net::Ipv6Addr>().is_ok(),
        "cidr" => is_cidr(s),
        "uuid" => is_uuid(s),
        "byte" => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(s).is_ok()
        }
        "mac" => is_mac(s),
        "hostname" => {
            !s.is_empty()
                && s.len() <= 255
                && s.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                })
        }
        _ => true,
    }
}

/// Go's `net.ParseCIDR`.
pub fn is_cidr(s: &str) -> bool {
    let Some((ip, len)) = s.split_once('/') else {
        return false;
    };
    if len.is_empty()
        || len.len() > 3
        || !len.bytes().all(|b| b.is_ascii_digit())
        || (len.len() > 1 && len.starts_with('0'))
    {
        return false;
    }
    let Ok(n) = len.parse::<u32>() else {
        return false;
    };
    if ip.contains(':') {
        ip.parse::<std::net::Ipv6Addr>().is_ok() && n <= 128
    } else {
        ip.parse::<std::net::Ipv4Addr>().is_ok() && n <= 32
    }
}

fn is_uuid(s: &str) -> bool {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()) && s.len() <= 36
}

fn is_mac(s: &str) -> bool {
    let groups: Vec<&str> = s.split([':', '-']).collect();
    if groups.len() >= 6
        && groups
            .iter()
            .all(|g| g.len() == 2 && g.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return matches!(groups.len(), 6 | 8 | 20);
    }
    let dotted: Vec<&str> = s.split('.').collect();
    matches!(dotted.len(), 3 | 4 | 10)
        && dotted
            .iter()
            .all(|g| g.len() == 4 && g.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn block_schema() -> Schema {
        Schema::parse(&serde_json::from_str(include_str!("crds/v1_ipamblocks.json")).unwrap())
    }

    #[test]
    fn type_error_text() {
        let s = Schema::parse(
            &serde_json::from_str(include_str!("crds/v1_blockaffinities.json")).unwrap(),
        );
        let obj = json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "BlockAffinity",
            "metadata": {"name": "a"},
            "spec": {"cidr": "10.0.0.0/26", "deleted": false, "node": "n", "state": "confirmed"}});
        let errs = validate(&obj, &s);
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            "spec.deleted: Invalid value: \"boolean\": spec.deleted in body must be of type string: \"boolean\""
        );
    }

    #[test]
    fn null_attributes_pruned_then_required() {
        let s = block_schema();
        let mut obj = json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMBlock",
            "metadata": {"name": "b", "bogus": 1},
            "spec": {"cidr": "10.0.0.0/30", "allocations": [null, 0], "unallocated": [0],
                     "attributes": null, "strictAffinity": false, "unknown": {"x": 1}}});
        let pruned = prune(&mut obj, &s);
        assert_eq!(
            pruned,
            vec!["metadata.bogus".to_string(), "spec.unknown".to_string()]
        );
        prune_nulls(&mut obj, &s);
        apply_defaults(&mut obj, &s);
        assert_eq!(obj["spec"]["sequenceNumber"], json!(0));
        assert_eq!(obj["spec"]["allocations"], json!([null, 0]));
        let errs: Vec<String> = validate(&obj, &s).iter().map(|e| e.to_string()).collect();
        assert_eq!(errs, vec!["spec.attributes: Required value".to_string()]);
    }

    #[test]
    fn enum_pattern_and_range() {
        let s =
            Schema::parse(&serde_json::from_str(include_str!("crds/v3_ipamblocks.json")).unwrap());
        let obj = json!({"apiVersion": "projectcalico.org/v3", "kind": "IPAMBlock", "metadata": {"name": "b"},
            "spec": {"cidr": "10.0.0.0/33", "affinity": "node:x", "allocations": [], "unallocated": [],
                     "attributes": [], "strictAffinity": false}});
        let errs: Vec<String> = validate(&obj, &s).iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            vec![
                "spec.affinity: Invalid value: \"node:x\": spec.affinity in body should match '^(host|virtual):[a-zA-Z0-9\\.\\-_]+$'".to_string(),
                "spec.cidr: Invalid value: \"10.0.0.0/33\": spec.cidr in body must be of type cidr: \"10.0.0.0/33\"".to_string(),
            ]
        );
        let c =
            Schema::parse(&serde_json::from_str(include_str!("crds/v1_ipamconfigs.json")).unwrap());
        let obj = json!({"spec": {"autoAllocateBlocks": true, "strictAffinity": false,
                                  "maxBlocksPerHost": 3000000000i64, "kubeVirtVMAddressPersistence": "Maybe"}});
        let errs: Vec<String> = validate(&obj, &c).iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            vec![
                "spec.kubeVirtVMAddressPersistence: Unsupported value: \"Maybe\": supported values: \"Enabled\", \"Disabled\"".to_string(),
                "spec.maxBlocksPerHost: Invalid value: 3000000000: spec.maxBlocksPerHost in body should be less than or equal to 2147483647".to_string(),
            ]
        );
    }

    #[test]
    fn array_item_paths() {
        let s = block_schema();
        let obj = json!({"spec": {"cidr": "x", "allocations": ["a"], "unallocated": [], "attributes": [],
                                  "strictAffinity": false}});
        let errs: Vec<String> = validate(&obj, &s).iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            vec!["spec.allocations[0]: Invalid value: \"string\": spec.allocations[0] in body must be of type integer: \"string\"".to_string()]
        );
    }

    #[test]
    fn cidrs() {
        assert!(is_cidr("10.0.0.0/26"));
        assert!(is_cidr("fd00::/122"));
        assert!(!is_cidr("10.0.0.0/33"));
        assert!(!is_cidr("10.0.0.0"));
        assert!(!is_cidr("010.0.0.0/8"));
    }
}
