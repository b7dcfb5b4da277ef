//! ObjectMeta validation with apimachinery's messages (`util/validation`,
//! `api/validation/objectmeta.go`, `apis/meta/v1/validation`).

use serde_json::Value;

use super::status::{BadValue, FieldError};

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const QUALIFIED_NAME_MSG: &str =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/// `validation.RegexError`.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let mut m = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            m.push_str(" or ");
        }
        m.push_str(&format!("'{e}', "));
    }
    m.push_str(&format!("regex used for validation is '{fmt}')"));
    m
}

fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// `validation.IsDNS1123Label`.
pub fn dns1123_label_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !is_label(s) {
        errs.push(regex_error(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
            DNS1123_LABEL_FMT,
            &["my-name", "123-abc"],
        ));
    }
    errs
}

/// `validation.IsDNS1123Subdomain`.
pub fn dns1123_subdomain_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push(max_len_error(253));
    }
    if !s.split('.').all(is_label) {
        errs.push(regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// `validation.IsQualifiedName`.
pub fn qualified_name_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.len() {
        1 => parts[0],
        2 => {
            let prefix = parts[0];
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                for m in dns1123_subdomain_errors(prefix) {
                    errs.push(format!("prefix part {m}"));
                }
            }
            parts[1]
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len_error(63)));
    }
    if !is_qualified_name_part(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_MSG,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// `validation.IsValidLabelValue`.
pub fn label_value_errors(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !v.is_empty() && !is_qualified_name_part(v) {
        errs.push(regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// How a resource's names are validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    Subdomain,
    Label,
}

impl NameRule {
    /// `ValidateNameFunc(name, prefix)`: a `generateName` prefix may end in `-`.
    pub fn errors(self, name: &str, prefix: bool) -> Vec<String> {
        let masked;
        let name = if prefix && name.ends_with('-') {
            masked = format!("{}a", &name[..name.len() - 1]);
            masked.as_str()
        } else {
            name
        };
        match self {
            NameRule::Subdomain => dns1123_subdomain_errors(name),
            NameRule::Label => dns1123_label_errors(name),
        }
    }
}

fn string_map(v: Option<&Value>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// `ValidateLabels` and `ValidateAnnotations` (keys in sorted order).
fn labels_and_annotations(meta: &Value, errs: &mut Vec<FieldError>) {
    for (k, v) in string_map(meta.get("labels")) {
        for m in qualified_name_errors(&k) {
            errs.push(FieldError::invalid(
                "metadata.labels",
                BadValue::Str(k.clone()),
                &m,
            ));
        }
        for m in label_value_errors(&v) {
            errs.push(FieldError::invalid(
                "metadata.labels",
                BadValue::Str(v.clone()),
                &m,
            ));
        }
    }
    let annotations = string_map(meta.get("annotations"));
    let mut total = 0;
    for (k, v) in &annotations {
        total += k.len() + v.len();
        for m in qualified_name_errors(&k.to_lowercase()) {
            errs.push(FieldError::invalid(
                "metadata.annotations",
                BadValue::Str(k.clone()),
                &m,
            ));
        }
    }
    if total > 256 * 1024 {
        errs.push(FieldError {
            kind: super::status::ErrorType::TooLong,
            field: "metadata.annotations".into(),
            value: BadValue::Str(String::new()),
            detail: format!("must have at most {} bytes", 256 * 1024),
        });
    }
}

fn s<'a>(meta: &'a Value, k: &str) -> &'a str {
    meta.get(k).and_then(Value::as_str).unwrap_or("")
}

/// `ValidateObjectMetaAccessor` for a create.
pub fn validate_create(meta: &Value, namespaced: bool, rule: NameRule) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let generate = s(meta, "generateName");
    if !generate.is_empty() {
        for m in rule.errors(generate, true) {
            errs.push(FieldError::invalid(
                "metadata.generateName",
                BadValue::Str(generate.into()),
                &m,
            ));
        }
    }
    let name = s(meta, "name");
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for m in rule.errors(name, false) {
            errs.push(FieldError::invalid(
                "metadata.name",
                BadValue::Str(name.into()),
                &m,
            ));
        }
    }
    let ns = s(meta, "namespace");
    if namespaced {
        if ns.is_empty() {
            errs.push(FieldError::required("metadata.namespace", ""));
        } else {
            for m in dns1123_label_errors(ns) {
                errs.push(FieldError::invalid(
                    "metadata.namespace",
                    BadValue::Str(ns.into()),
                    &m,
                ));
            }
        }
    } else if !ns.is_empty() {
        errs.push(FieldError::forbidden(
            "metadata.namespace",
            "not allowed on this type",
        ));
    }
    labels_and_annotations(meta, &mut errs);
    errs
}

/// `ValidateObjectMetaAccessorUpdate`: immutable fields, then the new labels and annotations.
pub fn validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for f in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        let (n, o) = (
            new.get(f).unwrap_or(&Value::Null),
            old.get(f).unwrap_or(&Value::Null),
        );
        let empty = |v: &Value| v.is_null() || v.as_str() == Some("");
        if n != o && !(empty(n) && empty(o)) {
            errs.push(FieldError::invalid(
                &format!("metadata.{f}"),
                BadValue::of(n),
                "field is immutable",
            ));
        }
    }
    labels_and_annotations(new, &mut errs);
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subdomain_message() {
        assert_eq!(
            dns1123_subdomain_errors("Bad_Name"),
            vec!["a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string()]
        );
        assert!(dns1123_subdomain_errors("k8s-pod-network.0f3a9c").is_empty());
        assert_eq!(dns1123_subdomain_errors(&"a".repeat(254)).len(), 1);
    }

    #[test]
    fn label_messages() {
        assert!(dns1123_label_errors("my-name").is_empty());
        assert_eq!(
            dns1123_label_errors("My")[0],
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        );
        assert_eq!(
            label_value_errors(&"x".repeat(64)),
            vec!["must be no more than 63 characters".to_string()]
        );
        assert!(qualified_name_errors("projectcalico.org/hostname-hash").is_empty());
        assert!(!qualified_name_errors("a/b/c").is_empty());
    }

    #[test]
    fn update_immutable_uid() {
        let errs = validate_update(
            &json!({"name": "a", "uid": "new"}),
            &json!({"name": "a", "uid": "old"}),
        );
        assert_eq!(
            errs[0].to_string(),
            "metadata.uid: Invalid value: \"new\": field is immutable"
        );
    }
}
