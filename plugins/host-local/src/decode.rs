//! Reading the config's JSON the way Go's `encoding/json` fills the reference's structs:
//! keys match case-insensitively (an exact spelling wins), `null` leaves a field unset, and a
//! value of the wrong JSON type fails with Go's
//! `json: cannot unmarshal <kind> into Go struct field <Struct>.<path> of type <type>`.
//!
//! The config is decoded by hand rather than with serde derives because those texts name the
//! reference's Go types and JSON paths, which no derive can know.

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::ip::{self, Subnet};

/// A JSON object standing for one Go struct: its Go type name (`""` for Go's anonymous
/// structs) and the JSON path Go reports for its fields.
#[derive(Clone)]
pub struct Obj<'a> {
    map: &'a Map<String, Value>,
    strukt: &'static str,
    path: String,
    /// Errors about its fields name the object itself (see [`Obj::opaque`]).
    opaque: bool,
}

/// Go's name for the JSON kind of a value in decode errors.
fn kind(v: &Value) -> String {
    libcni::json::go_type_name(v).to_string()
}

impl<'a> Obj<'a> {
    /// The top-level object.
    pub fn root(value: &'a Value, strukt: &'static str) -> Option<Obj<'a>> {
        value.as_object().map(|map| Obj {
            map,
            strukt,
            path: String::new(),
            opaque: false,
        })
    }

    /// For a Go type with its own JSON unmarshaler that decodes through a private struct
    /// (`types.Route`): the outer decoder reports errors about the inner fields against the
    /// field holding the object, without the inner field's name.
    pub fn opaque(mut self) -> Self {
        self.opaque = true;
        self
    }

    fn field_path(&self, tag: &str) -> String {
        if self.opaque {
            self.path.clone()
        } else if self.path.is_empty() {
            tag.to_string()
        } else {
            format!("{}.{tag}", self.path)
        }
    }

    /// The value under `tag`: the exact key, else the first key equal to it ignoring case.
    pub fn get(&self, tag: &str) -> Option<&'a Value> {
        self.map.get(tag).or_else(|| {
            self.map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(tag))
                .map(|(_, v)| v)
        })
    }

    /// Go's type error for field `tag` holding `value` where `go_type` was expected.
    pub fn type_error(&self, tag: &str, value: &Value, go_type: &str) -> String {
        self.type_error_kind(tag, &kind(value), go_type)
    }

    /// As [`Obj::type_error`] with Go's wording of the value (`number 1.5`).
    pub fn type_error_kind(&self, tag: &str, kind: &str, go_type: &str) -> String {
        format!(
            "json: cannot unmarshal {kind} into Go struct field {}.{} of type {go_type}",
            self.strukt,
            self.field_path(tag)
        )
    }

    /// A `string` field.
    pub fn string(&self, tag: &str) -> Result<Option<&'a str>, String> {
        match self.get(tag) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.type_error(tag, other, "string")),
        }
    }

    /// A `net.IP` field (a text unmarshaler): `""` and `null` leave it unset.
    pub fn ip(&self, tag: &str) -> Result<Option<IpAddr>, String> {
        match self.get(tag) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => parse_net_ip(s),
            Some(other) => Err(self.type_error(tag, other, "net.IP")),
        }
    }

    /// A `types.IPNet` field. Its JSON unmarshaler runs even for `null`, which then fails as
    /// an empty CIDR, exactly as in Go.
    pub fn subnet(&self, tag: &str) -> Result<Option<Subnet>, String> {
        match self.get(tag) {
            None => Ok(None),
            Some(Value::Null) => Subnet::parse("").map(Some),
            Some(Value::String(s)) => Subnet::parse(s).map(Some),
            Some(other) => Err(self.type_error(tag, other, "string")),
        }
    }

    /// A Go `int` or `*int` field (`None` when absent or `null`).
    pub fn int(&self, tag: &str) -> Result<Option<i64>, String> {
        match self.get(tag) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.type_error_kind(tag, &format!("number {n}"), "int")),
            Some(other) => Err(self.type_error(tag, other, "int")),
        }
    }

    /// A slice field; `null` is an empty slice.
    pub fn array(&self, tag: &str, go_type: &str) -> Result<&'a [Value], String> {
        match self.get(tag) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(self.type_error(tag, other, go_type)),
        }
    }

    /// A struct field; `null` leaves it unset. `strukt` is the Go type name of the nested
    /// struct, which Go names in errors about its own fields.
    pub fn object(
        &self,
        tag: &str,
        go_type: &str,
        strukt: &'static str,
    ) -> Result<Option<Obj<'a>>, String> {
        match self.get(tag) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj {
                map,
                strukt,
                path: self.field_path(tag),
                opaque: false,
            })),
            Some(other) => Err(self.type_error(tag, other, go_type)),
        }
    }

    /// An element of the slice under `tag` that must be an object of Go type `strukt`;
    /// `Ok(None)` for `null`.
    pub fn element(
        &self,
        tag: &str,
        value: &'a Value,
        go_type: &str,
        strukt: &'static str,
    ) -> Result<Option<Obj<'a>>, String> {
        match value {
            Value::Null => Ok(None),
            Value::Object(map) => Ok(Some(Obj {
                map,
                strukt,
                path: self.field_path(tag),
                opaque: false,
            })),
            other => Err(self.type_error(tag, other, go_type)),
        }
    }

    /// Whether any of `tags` is present (Go allocates an embedded pointer struct then).
    pub fn has_any(&self, tags: &[&str]) -> bool {
        tags.iter().any(|t| self.get(t).is_some())
    }
}

/// `net.IP`'s `UnmarshalText`: empty is unset, anything else must be an address.
pub fn parse_net_ip(s: &str) -> Result<Option<IpAddr>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    ip::parse(s)
        .map(Some)
        .ok_or_else(|| format!("invalid IP address: {s}"))
}

/// The plugins library's `ip.IP` (`<ip>` or `<ip>/<prefix>`, the prefix dropped): `Ok(None)`
/// for the empty string, which Go keeps as an empty IP that later fails to canonicalize.
pub fn parse_ip_or_cidr(s: &str) -> Result<Option<IpAddr>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    let parsed = if s.contains('/') {
        libcni::types::parse_cidr(s)
            .ok()
            .map(|n| ip::canonical(n.ip()))
    } else {
        ip::parse(s)
    };
    parsed
        .map(Some)
        .ok_or_else(|| format!("invalid IP address {s}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_type_errors() {
        let v = json!({"ipam": {"Subnet": 5, "dataDir": "/x", "mtu": 1.5, "r": {"a": 1}}});
        let root = Obj::root(&v, "Net").unwrap();
        let ipam = root
            .object("ipam", "allocator.IPAMConfig", "IPAMConfig")
            .unwrap()
            .unwrap();
        assert_eq!(
            ipam.subnet("subnet").unwrap_err(),
            "json: cannot unmarshal number into Go struct field IPAMConfig.ipam.subnet of type string"
        );
        assert_eq!(ipam.string("DATADIR").unwrap(), Some("/x"));
        assert_eq!(
            ipam.int("mtu").unwrap_err(),
            "json: cannot unmarshal number 1.5 into Go struct field IPAMConfig.ipam.mtu of type int"
        );
        assert_eq!(
            root.string("ipam").unwrap_err(),
            "json: cannot unmarshal object into Go struct field Net.ipam of type string"
        );
        assert_eq!(ipam.array("none", "[]x").unwrap().len(), 0);
    }

    #[test]
    fn ip_texts() {
        assert_eq!(parse_net_ip("").unwrap(), None);
        assert_eq!(parse_net_ip("x").unwrap_err(), "invalid IP address: x");
        assert_eq!(
            parse_ip_or_cidr("10.1.2.11/24").unwrap(),
            ip::parse("10.1.2.11")
        );
        assert_eq!(parse_ip_or_cidr("x").unwrap_err(), "invalid IP address x");
        assert_eq!(
            parse_ip_or_cidr("10.0.0.1/33").unwrap_err(),
            "invalid IP address 10.0.0.1/33"
        );
    }
}
