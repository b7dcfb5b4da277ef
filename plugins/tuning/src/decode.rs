//! Go `encoding/json` decoding rules, member by member, for the tuning config.
//!
//! Why by hand rather than a serde derive: the Go plugin's decoding has behaviour users can
//! see and serde cannot reproduce. Duplicate `sysctl` keys must be noticed (serde_json keeps
//! the last), every key that matches a field is applied in document order (`"MTU"` after
//! `"mtu"` wins), `null` means "leave alone" for values and "reset" for pointers and maps,
//! and a type error names the Go struct field and type (`json: cannot unmarshal string into
//! Go struct field TuningConf.mtu of type int`) with the first one in the document winning.
//! The schema is a dozen fields, so a typed walk over the raw members is small.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// An object's members in document order, duplicates kept, values still raw JSON text.
pub type Members<'a> = Vec<(String, &'a RawValue)>;

/// The JSON kind of a raw value, named as Go names it in type errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    pub fn of(raw: &RawValue) -> Kind {
        match raw.get().trim_start().as_bytes().first() {
            Some(b'n') => Kind::Null,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'"') => Kind::String,
            Some(b'[') => Kind::Array,
            Some(b'{') => Kind::Object,
            _ => Kind::Number,
        }
    }

    fn go_name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "bool",
            Kind::Number => "number",
            Kind::String => "string",
            Kind::Array => "array",
            Kind::Object => "object",
        }
    }
}

/// Go's `*json.UnmarshalTypeError` as the plugin prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeError {
    /// `string`, `number`, or `number 1.5` when a number literal does not fit an int.
    pub value: String,
    /// `<innermost Go struct name>.<json path>`, e.g. `IPAMArgs.args.cni.mtu`.
    pub field: &'static str,
    pub go_type: &'static str,
}

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "json: cannot unmarshal {} into Go struct field {} of type {}",
            self.value, self.field, self.go_type
        )
    }
}

pub type Result<T> = std::result::Result<T, TypeError>;

fn mismatch(raw: &RawValue, field: &'static str, go_type: &'static str) -> TypeError {
    TypeError {
        value: Kind::of(raw).go_name().to_string(),
        field,
        go_type,
    }
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Members<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value: &'de RawValue = map.next_value()?;
            out.push((key, value));
        }
        Ok(out)
    }
}

/// The members of the object in `text`, in document order with duplicates.
///
/// Everything here parses with `from_slice`, as libcni does, so the binary carries one copy
/// of serde_json's parser rather than one per input kind.
pub fn members(text: &[u8]) -> std::result::Result<Members<'_>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let members = (&mut de).deserialize_map(MembersVisitor)?;
    de.end()?;
    Ok(members)
}

/// The members of a raw value already known to be an object.
fn object_members(raw: &RawValue) -> Members<'_> {
    // The whole document parsed before, so a nested object always parses again.
    members(raw.get().as_bytes()).unwrap_or_default()
}

/// Go's field matching: the exact name, or failing that a case-insensitive match.
pub fn is(key: &str, field: &str) -> bool {
    key == field || key.to_lowercase() == field.to_lowercase()
}

/// A JSON string's value (escapes decoded).
fn text(raw: &RawValue) -> String {
    serde_json::from_slice(raw.get().as_bytes()).unwrap_or_default()
}

/// `string`: null leaves it alone.
pub fn string(raw: &RawValue, field: &'static str, out: &mut String) -> Result<()> {
    match Kind::of(raw) {
        Kind::Null => Ok(()),
        Kind::String => {
            *out = text(raw);
            Ok(())
        }
        _ => Err(mismatch(raw, field, "string")),
    }
}

/// `*string`: null resets it.
pub fn opt_string(raw: &RawValue, field: &'static str, out: &mut Option<String>) -> Result<()> {
    if Kind::of(raw) == Kind::Null {
        *out = None;
        return Ok(());
    }
    string(raw, field, out.get_or_insert_with(String::new))
}

/// `bool`: null leaves it alone.
pub fn boolean(raw: &RawValue, field: &'static str, out: &mut bool) -> Result<()> {
    match Kind::of(raw) {
        Kind::Null => Ok(()),
        Kind::Bool => {
            *out = raw.get().trim_start().starts_with('t');
            Ok(())
        }
        _ => Err(mismatch(raw, field, "bool")),
    }
}

/// `*bool`: null resets it.
pub fn opt_boolean(raw: &RawValue, field: &'static str, out: &mut Option<bool>) -> Result<()> {
    if Kind::of(raw) == Kind::Null {
        *out = None;
        return Ok(());
    }
    boolean(raw, field, out.get_or_insert(false))
}

/// `int` (64-bit): null leaves it alone; a number literal that is not an integer in range is
/// reported with its text, as Go does (`number 1.5`, `number 1e3`).
pub fn int(raw: &RawValue, field: &'static str, out: &mut i64) -> Result<()> {
    match Kind::of(raw) {
        Kind::Null => Ok(()),
        Kind::Number => {
            let literal = raw.get().trim();
            *out = literal.parse().map_err(|_| TypeError {
                value: format!("number {literal}"),
                field,
                go_type: "int",
            })?;
            Ok(())
        }
        _ => Err(mismatch(raw, field, "int")),
    }
}

/// `*int`: null resets it.
pub fn opt_int(raw: &RawValue, field: &'static str, out: &mut Option<i64>) -> Result<()> {
    if Kind::of(raw) == Kind::Null {
        *out = None;
        return Ok(());
    }
    int(raw, field, out.get_or_insert(0))
}

/// An ordered `map[string]string`: null resets it; an object adds to it (Go decodes into the
/// existing map), a repeated key overwrites the value in place; a null value stores "".
pub fn string_map(
    raw: &RawValue,
    field: &'static str,
    map_type: &'static str,
    out: &mut Option<Vec<(String, String)>>,
) -> Result<()> {
    match Kind::of(raw) {
        Kind::Null => {
            *out = None;
            Ok(())
        }
        Kind::Object => {
            let map = out.get_or_insert_with(Vec::new);
            for (key, value) in object_members(raw) {
                let mut v = String::new();
                string(value, field, &mut v)?;
                insert(map, key, v);
            }
            Ok(())
        }
        _ => Err(mismatch(raw, field, map_type)),
    }
}

/// Sets `key` in an ordered map, keeping the position of an existing entry.
pub fn insert(map: &mut Vec<(String, String)>, key: String, value: String) {
    match map.iter_mut().find(|(k, _)| *k == key) {
        Some(entry) => entry.1 = value,
        None => map.push((key, value)),
    }
}

/// A struct-typed member: null leaves it alone; an object's members are handed to `each`.
pub fn structure<'a>(
    raw: &'a RawValue,
    field: &'static str,
    go_type: &'static str,
    mut each: impl FnMut(&str, &'a RawValue) -> Result<()>,
) -> Result<()> {
    match Kind::of(raw) {
        Kind::Null => Ok(()),
        Kind::Object => {
            for (key, value) in object_members(raw) {
                each(&key, value)?;
            }
            Ok(())
        }
        _ => Err(mismatch(raw, field, go_type)),
    }
}

/// A pointer-to-struct member: null resets it; an object decodes into the existing value
/// (or a fresh default one).
pub fn opt_structure<'a, T: Default>(
    raw: &'a RawValue,
    field: &'static str,
    go_type: &'static str,
    out: &mut Option<T>,
    mut each: impl FnMut(&mut T, &str, &'a RawValue) -> Result<()>,
) -> Result<()> {
    if Kind::of(raw) == Kind::Null {
        *out = None;
        return Ok(());
    }
    if Kind::of(raw) != Kind::Object {
        return Err(mismatch(raw, field, go_type));
    }
    let target = out.get_or_insert_with(T::default);
    for (key, value) in object_members(raw) {
        each(target, &key, value)?;
    }
    Ok(())
}

/// A member of a type the plugin does not use beyond its shape (`[]string`, `map[string]bool`,
/// `map[string]interface {}`): only a wrong kind is an error; `elem` checks the elements
/// (arrays) or values (objects) when given.
pub fn shape(
    raw: &RawValue,
    field: &'static str,
    go_type: &'static str,
    want: Kind,
    elem: Option<(Kind, &'static str)>,
) -> Result<()> {
    let kind = Kind::of(raw);
    if kind == Kind::Null {
        return Ok(());
    }
    if kind != want {
        return Err(mismatch(raw, field, go_type));
    }
    let Some((elem_kind, elem_type)) = elem else {
        return Ok(());
    };
    let values: Vec<Box<RawValue>> = match want {
        Kind::Array => serde_json::from_slice(raw.get().as_bytes()).unwrap_or_default(),
        _ => object_members(raw)
            .into_iter()
            .map(|(_, v)| v.to_owned())
            .collect(),
    };
    for v in &values {
        let k = Kind::of(v);
        if k != Kind::Null && k != elem_kind {
            return Err(mismatch(v, field, elem_type));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn members_keep_order_and_duplicates() {
        let m = members(br#"{"b":1,"a":{"x":2},"b":"3"}"#).unwrap();
        let keys: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "b"]);
        assert_eq!(m[1].1.get(), r#"{"x":2}"#);
    }

    #[test]
    fn ints_report_the_literal_like_go() {
        let mut v = 7;
        int(&raw("null"), "T.mtu", &mut v).unwrap();
        assert_eq!(v, 7, "null leaves an int alone");
        int(&raw("-1"), "T.mtu", &mut v).unwrap();
        assert_eq!(v, -1);
        for (lit, shown) in [
            ("1.5", "number 1.5"),
            ("1e3", "number 1e3"),
            ("99999999999999999999", "number 99999999999999999999"),
            ("\"9\"", "string"),
            ("true", "bool"),
        ] {
            let err = int(&raw(lit), "TuningConf.mtu", &mut v).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("json: cannot unmarshal {shown} into Go struct field TuningConf.mtu of type int")
            );
        }
    }

    #[test]
    fn pointers_reset_on_null_and_maps_merge() {
        let mut b = Some(true);
        opt_boolean(&raw("null"), "f", &mut b).unwrap();
        assert_eq!(b, None);
        let mut m = None;
        string_map(&raw(r#"{"a":"1","b":null}"#), "f", "map", &mut m).unwrap();
        string_map(&raw(r#"{"a":"2","c":"3"}"#), "f", "map", &mut m).unwrap();
        assert_eq!(
            m.clone().unwrap(),
            vec![
                ("a".to_string(), "2".to_string()),
                ("b".to_string(), String::new()),
                ("c".to_string(), "3".to_string())
            ]
        );
        string_map(&raw("null"), "f", "map", &mut m).unwrap();
        assert_eq!(m, None);
    }

    #[test]
    fn strings_decode_escapes_and_fold_keys() {
        let mut s = String::new();
        string(&raw(r#""a\u002eb""#), "f", &mut s).unwrap();
        assert_eq!(s, "a.b");
        assert!(is("MTU", "mtu") && is("txqlen", "txQLen") && !is("mtux", "mtu"));
    }

    #[test]
    fn shapes_check_elements() {
        let e = shape(
            &raw(r#"{"a":1}"#),
            "T.capabilities",
            "bool",
            Kind::Object,
            Some((Kind::Bool, "bool")),
        )
        .unwrap_err();
        assert_eq!(e.value, "number");
        shape(
            &raw("[\"a\",null]"),
            "f",
            "[]string",
            Kind::Array,
            Some((Kind::String, "string")),
        )
        .unwrap();
        assert!(shape(&raw("{}"), "f", "[]string", Kind::Array, None).is_err());
    }
}
