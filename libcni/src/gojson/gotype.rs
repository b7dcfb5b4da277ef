//! Go type names for decode errors.
//!
//! A Rust struct decoded here names its Go type through serde's container name:
//! `#[serde(rename = "main.PortMapEntry")]` (an anonymous Go struct gives its whole type,
//! `struct { Mac string "json:\"mac,omitempty\"" }`). Errors about its fields print the
//! unqualified name (`PortMapEntry`, or nothing for an anonymous struct), errors about the
//! struct itself the full one. serde_json and serialization ignore container names.
//!
//! Field types are inferred from the Rust type (`String` is `string`, `i64` is Go's `int`,
//! `u16` is `uint16`, `Vec<T>` is `[]T`, a map `map[string]T`, `serde_json::Value`
//! `interface {}`, `Option<T>` is transparent as Go's pointers are). Where that is not Go's
//! type (`[]*types100.IPConfig`, `net.IP`, a named slice type), the field declares it with a
//! function made by [`go_type!`](crate::go_type):
//!
//! ```ignore
//! libcni::go_type!(fn ips_type = "[]*types100.IPConfig");
//! #[serde(default, deserialize_with = "ips_type")]
//! ips: Vec<IpConfig>,
//! ```

use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, Visitor};

/// Newtype-struct names starting with this carry a declared Go type to the decoder. Other
/// deserializers treat the newtype as transparent, so the same types still decode with
/// serde_json.
pub(crate) const DECLARED: &str = "\u{0}gojson:";

/// Marks a declared type as one with its own `UnmarshalJSON` over a scalar (`types.IPNet`
/// decodes a string first): a type error in it is returned by that method and stops the
/// decoder (see the errors module). Written right after [`DECLARED`].
pub(crate) const UNMARSHALER: char = '!';

/// Go types whose `UnmarshalJSON` decodes through a private struct: an error inside one is
/// returned by that method, so it stops the outer decoder and names the outer field (see
/// the errors module). Public name → private struct type.
const OPAQUE: &[(&str, &str)] = &[
    // containernetworking/cni pkg/types: `func (r *Route) UnmarshalJSON` via `route`.
    ("types.Route", "types.route"),
    // pkg/types/100, /040, /020: `func (c *IPConfig) UnmarshalJSON` via `ipConfig`.
    ("types100.IPConfig", "types100.ipConfig"),
    ("types040.IPConfig", "types040.ipConfig"),
    ("types020.IPConfig", "types020.ipConfig"),
];

/// The private type an opaque Go type decodes through, if `name` is one.
pub(crate) fn opaque(name: &str) -> Option<&'static str> {
    OPAQUE
        .iter()
        .find(|(public, _)| *public == name)
        .map(|(_, private)| *private)
}

/// Go's `reflect.Type.Name()` for a container name: the part after the package, and
/// nothing for an anonymous struct type.
pub(crate) fn short_name(full: &'static str) -> &'static str {
    if full.starts_with("struct {") {
        return "";
    }
    match full.rfind('.') {
        Some(i) => &full[i + 1..],
        None => full,
    }
}

/// Decodes `T` with `go_type` as its Go type in errors. Used through [`go_type!`].
pub fn declared<'de, D, T>(d: D, name_with_marker: &'static str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Inner<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Inner<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a value")
        }
        fn visit_newtype_struct<D2: Deserializer<'de>>(self, d: D2) -> Result<T, D2::Error> {
            T::deserialize(d)
        }
    }
    d.deserialize_newtype_struct(name_with_marker, Inner(PhantomData))
}

/// `types.IPNet`'s JSON form: a string (its `UnmarshalJSON` decodes one, so a wrong kind
/// names `string` and stops the decoder), parsed by `parse`, whose error stops it too.
pub fn ipnet<'de, D, T>(d: D, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let s: String = declared(d, "\u{0}gojson:!string")?;
    parse(&s).map_err(serde::de::Error::custom)
}

/// Defines a serde `deserialize_with` function that declares a field's Go type, for the
/// fields whose Rust type does not say it (see the module docs).
#[macro_export]
macro_rules! go_type {
    ($vis:vis fn $name:ident = $go:literal) => {
        $vis fn $name<'de, D, T>(d: D) -> ::core::result::Result<T, D::Error>
        where
            D: ::serde::Deserializer<'de>,
            T: ::serde::Deserialize<'de>,
        {
            $crate::gojson::declared(d, concat!("\u{0}gojson:", $go))
        }
    };
}
