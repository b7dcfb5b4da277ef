//! Finding the Go name of a slice's or map's element type, for a type error's text.
//!
//! serde does not tell a deserializer what a `Vec<T>` holds, so when a slice field gets a
//! non-array the visitor is handed a sequence (or map) of one probe element; the element's
//! `Deserialize` asks the probe for what it wants (`deserialize_struct("main.X")`,
//! `deserialize_str`, ...), the probe writes that down and stops. The visitor's own result is
//! thrown away: this only runs on the way to returning the type error.

use std::cell::RefCell;

use serde::de::{
    self, value::StrDeserializer, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess,
    SeqAccess, Visitor,
};

use super::error::Error;
use super::gotype::DECLARED;

/// The Go type of the elements `visitor` would collect (`[]`/`map[string]` not included).
pub(crate) fn element_type<'de, V: Visitor<'de>>(visitor: V, seq: bool) -> String {
    let out = RefCell::new(String::new());
    let _ = if seq {
        visitor.visit_seq(OneElement {
            out: &out,
            done: false,
        })
    } else {
        visitor.visit_map(OneEntry {
            out: &out,
            done: false,
        })
    };
    out.into_inner()
}

fn stop() -> Error {
    de::Error::custom("probe")
}

struct Probe<'p> {
    out: &'p RefCell<String>,
}

impl Probe<'_> {
    fn name<T>(&self, go: &str) -> Result<T, Error> {
        self.out.borrow_mut().push_str(go);
        Err(stop())
    }
}

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Error> {
        self.name("interface {}")
    }
    fn deserialize_bool<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Error> {
        self.name("bool")
    }
    fn deserialize_i8<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Error> {
        self.name("int8")
    }
    fn deserialize_i16<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Error> {
        self.name("int16")
    }
    fn deserialize_i32<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Error> {
        self.name("int32")
    }
    fn deserialize_i64<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Error> {
        self.name("int")
    }
    fn deserialize_u8<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Error> {
        self.name("uint8")
    }
    fn deserialize_u16<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Error> {
        self.name("uint16")
    }
    fn deserialize_u32<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Error> {
        self.name("uint32")
    }
    fn deserialize_u64<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Error> {
        self.name("uint64")
    }
    fn deserialize_f32<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Error> {
        self.name("float32")
    }
    fn deserialize_f64<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Error> {
        self.name("float64")
    }
    fn deserialize_str<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Error> {
        self.name("string")
    }
    fn deserialize_string<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Error> {
        self.name("string")
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.out.borrow_mut().push('*');
        visitor.visit_some(self)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        match name.strip_prefix(DECLARED) {
            Some(go) => self.name(go.trim_start_matches('!')),
            None => visitor.visit_newtype_struct(self),
        }
    }
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.out.borrow_mut().push_str("[]");
        visitor.visit_seq(OneElement {
            out: self.out,
            done: false,
        })
    }
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.out.borrow_mut().push_str("map[string]");
        visitor.visit_map(OneEntry {
            out: self.out,
            done: false,
        })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _fields: &'static [&'static str],
        _v: V,
    ) -> Result<V::Value, Error> {
        self.name(name)
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char bytes byte_buf unit unit_struct tuple tuple_struct enum identifier
        ignored_any
    }
}

struct OneElement<'p> {
    out: &'p RefCell<String>,
    done: bool,
}

impl<'de> SeqAccess<'de> for OneElement<'_> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if std::mem::replace(&mut self.done, true) {
            return Ok(None);
        }
        seed.deserialize(Probe { out: self.out }).map(Some)
    }
}

struct OneEntry<'p> {
    out: &'p RefCell<String>,
    done: bool,
}

impl<'de> MapAccess<'de> for OneEntry<'_> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if std::mem::replace(&mut self.done, true) {
            return Ok(None);
        }
        let key: StrDeserializer<'_, Error> = "".into_deserializer();
        seed.deserialize(key).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(Probe { out: self.out })
    }
}
