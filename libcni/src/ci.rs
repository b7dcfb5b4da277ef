//! Decoding with Go's `encoding/json` key matching.
//!
//! Go matches object keys to struct fields case-insensitively (an exact match wins), so
//! `{"CNIVersion": ..}`, `{"HostPort": ..}` (containerd's untagged capability structs) and
//! `{"hostPort": ..}` all land in the same field. serde is case-sensitive. This module wraps a
//! `serde_json::Value` in a deserializer that, whenever a struct is requested, renames the
//! object's keys to the struct's field names they fold to. It recurses, so nested structs,
//! options, vectors and maps of structs all get the same treatment.
//!
//! Structs with `#[serde(flatten)]` are deserialized through `deserialize_map` and never
//! learn their field names; keep such types out of case-insensitive paths (keep the raw
//! `Value` next to the typed struct instead).

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess,
    Visitor,
};
use serde_json::{Map, Value};

type Error = serde_json::Error;

/// Deserializes `T` from JSON bytes with Go's case-insensitive key matching.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let value: Value = serde_json::from_slice(bytes)?;
    from_value(value)
}

/// Deserializes `T` from a JSON value with Go's case-insensitive key matching.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Error> {
    T::deserialize(CiValue(value))
}

/// Renames keys of `map` that fold (ASCII/Unicode lowercase) to one of `fields` but are not
/// spelled exactly like it. An exact key always wins over a folded one.
fn canonicalize(map: Map<String, Value>, fields: &[&str]) -> Map<String, Value> {
    if map.keys().all(|k| fields.contains(&k.as_str())) {
        return map;
    }
    let mut out = Map::new();
    let mut folded = Vec::new();
    for (k, v) in map {
        if fields.contains(&k.as_str()) {
            out.insert(k, v);
        } else if let Some(f) = fields.iter().find(|f| f.to_lowercase() == k.to_lowercase()) {
            folded.push((f.to_string(), v));
        } else {
            out.insert(k, v);
        }
    }
    for (k, v) in folded {
        out.entry(k).or_insert(v);
    }
    out
}

struct CiValue(Value);

impl<'de> Deserializer<'de> for CiValue {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Array(items) => visitor.visit_seq(CiSeq(items.into_iter())),
            Value::Object(map) => visitor.visit_map(CiMap {
                iter: map.into_iter(),
                value: None,
            }),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(CiValue(other)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::Object(map) => visitor.visit_map(CiMap {
                iter: canonicalize(map, fields).into_iter(),
                value: None,
            }),
            other => CiValue(other).deserialize_any(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier
    }
}

struct CiSeq(std::vec::IntoIter<Value>);

impl<'de> SeqAccess<'de> for CiSeq {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.0.next() {
            Some(v) => seed.deserialize(CiValue(v)).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct CiMap {
    iter: serde_json::map::IntoIter,
    value: Option<Value>,
}

impl<'de> MapAccess<'de> for CiMap {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                let key: de::value::StringDeserializer<Error> = k.into_deserializer();
                seed.deserialize(key).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(v) => seed.deserialize(CiValue(v)),
            None => Err(de::Error::custom("value is missing")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize, Debug, PartialEq)]
    struct PortMapping {
        #[serde(rename = "hostPort")]
        host_port: u16,
        #[serde(rename = "containerPort")]
        container_port: u16,
        #[serde(default)]
        protocol: String,
        #[serde(rename = "hostIP", default)]
        host_ip: Option<String>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Conf {
        #[serde(rename = "cniVersion", default)]
        cni_version: String,
        #[serde(rename = "runtimeConfig", default)]
        runtime_config: Option<Rt>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Rt {
        #[serde(rename = "portMappings", default)]
        port_mappings: Vec<PortMapping>,
    }

    #[test]
    fn matches_containerd_capitalised_keys() {
        let v = json!({
            "CNIVersion": "1.0.0",
            "RuntimeConfig": {"PortMappings": [
                {"HostPort": 8080, "ContainerPort": 80, "Protocol": "tcp", "HostIP": "1.2.3.4"},
                {"hostPort": 53, "containerPort": 53, "protocol": "udp"}
            ]}
        });
        let c: Conf = from_value(v).unwrap();
        assert_eq!(c.cni_version, "1.0.0");
        let pm = c.runtime_config.unwrap().port_mappings;
        assert_eq!(pm[0].host_port, 8080);
        assert_eq!(pm[0].host_ip.as_deref(), Some("1.2.3.4"));
        assert_eq!(pm[1].protocol, "udp");
    }

    #[test]
    fn exact_key_wins() {
        let c: Conf = from_value(json!({"CNIVERSION": "0.1.0", "cniVersion": "0.4.0"})).unwrap();
        assert_eq!(c.cni_version, "0.4.0");
    }

    #[test]
    fn type_errors_still_fail() {
        assert!(from_value::<Conf>(json!({"cniVersion": 4})).is_err());
    }
}
