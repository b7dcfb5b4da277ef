//! The serde deserializer that decodes a parsed document with `encoding/json`'s rules.
//!
//! - An object's key matches a struct field exactly, else case-insensitively (the first such
//!   field); unknown keys are skipped unchecked.
//! - A key that appears more than once is decoded into the same field again, in document
//!   order: a later scalar replaces an earlier one, objects decoded into a struct or a map
//!   add to it, a slice takes the last array's length and decodes into the elements it
//!   already has, and `null` resets a pointer, slice or map but leaves any other value alone.
//!   A field's occurrences are handed to serde as one value ([`De::nodes`]).
//! - A value of the wrong kind is Go's saved `UnmarshalTypeError`: the pass stops with it,
//!   and [`super::Doc`] runs the pass again without that value, as Go carries on past it, so
//!   that a later stopping error can still win.

use std::cell::Cell;
use std::collections::HashSet;

use serde::de::{
    self, value::StrDeserializer, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess,
    SeqAccess, Visitor,
};

use super::error::{Error, ErrorKind, TypeError};
use super::gotype::{self, DECLARED, UNMARSHALER};
use super::probe;
use super::syntax::{Kind, Node};

/// What one decoding pass shares.
pub(crate) struct Pass {
    /// Offsets of values an earlier pass found of the wrong type: Go leaves their targets
    /// alone, so this pass does not look at them.
    pub skip: HashSet<usize>,
    /// The Go name of the outermost struct, for a struct embedded in it.
    pub root_name: Option<&'static str>,
    /// The container name the root struct was decoded as.
    pub root_seen: Cell<Option<&'static str>>,
}

/// Go's `errorContext`: the innermost struct and the JSON field names leading to the value.
#[derive(Clone, Default)]
struct Ctx {
    strukt: Option<&'static str>,
    path: Vec<&'static str>,
}

impl Ctx {
    fn context(&self) -> Option<(String, String)> {
        if self.strukt.is_none() && self.path.is_empty() {
            return None;
        }
        Some((self.strukt.unwrap_or("").to_string(), self.path.join(".")))
    }
}

pub(crate) struct De<'a> {
    /// The occurrences of this value in document order (more than one for a repeated key
    /// or merged objects); never empty.
    nodes: Vec<&'a Node>,
    pass: &'a Pass,
    ctx: Ctx,
    /// A Go type declared by the field (see [`super::gotype`]).
    declared: Option<&'static str>,
    is_root: bool,
    /// Inside an opaque value: its offset, and the context errors inside it report.
    opaque_root: Option<usize>,
    depth: usize,
}

/// How deep a value of Go type `interface{}` may nest. Go allows 10000 levels; building a
/// serde value recurses, and 128 (serde_json's own limit) keeps every plugin thread's stack
/// safe. No CNI config comes near it.
const MAX_ANY_DEPTH: usize = 128;

impl<'a> De<'a> {
    pub(crate) fn root(node: &'a Node, pass: &'a Pass) -> Self {
        De {
            nodes: vec![node],
            pass,
            ctx: Ctx::default(),
            declared: None,
            is_root: true,
            opaque_root: None,
            depth: 0,
        }
    }

    fn child(&self, nodes: Vec<&'a Node>) -> De<'a> {
        De {
            nodes,
            pass: self.pass,
            ctx: self.ctx.clone(),
            declared: None,
            is_root: false,
            opaque_root: self.opaque_root,
            depth: self.depth + 1,
        }
    }

    /// The occurrences an earlier pass has not set aside.
    fn live(&self) -> impl Iterator<Item = &'a Node> + '_ {
        self.nodes
            .iter()
            .copied()
            .filter(|n| !self.pass.skip.contains(&n.off))
    }

    /// The occurrences after the last one that resets the value (`null` for a pointer, slice
    /// or map; `reset_empty_array` also for a slice, which Go replaces when an array is empty).
    fn after_reset(&self, reset_empty_array: bool) -> Vec<&'a Node> {
        let live: Vec<&Node> = self.live().collect();
        let start = live
            .iter()
            .rposition(|n| match &n.kind {
                Kind::Null => true,
                Kind::Array(items) => reset_empty_array && items.is_empty(),
                _ => false,
            })
            .map_or(0, |i| i + 1);
        let mut rest = live[start..].to_vec();
        // An empty array itself still sets an empty slice.
        if start > 0 && !matches!(live[start - 1].kind, Kind::Null) {
            rest.insert(0, live[start - 1]);
        }
        rest
    }

    fn type_error(&self, node: &Node, value: String, go_type: &str) -> Error {
        Error {
            kind: ErrorKind::Type(Box::new(TypeError {
                value,
                go_type: self.declared.unwrap_or(go_type).to_string(),
                context: self.ctx.context(),
            })),
            off: Some(node.off),
            opaque_root: self.opaque_root,
        }
    }

    fn mismatch(&self, node: &Node, go_type: &str) -> Error {
        self.type_error(node, node.kind.go_name().to_string(), go_type)
    }

    /// Gives an error from a visitor (a field's own parser) the value's offset.
    fn locate(&self, mut e: Error, off: usize) -> Error {
        if e.off.is_none() {
            e.off = Some(off);
        }
        if e.opaque_root.is_none() {
            e.opaque_root = self.opaque_root;
        }
        e
    }

    fn first_off(&self) -> usize {
        self.nodes.first().map_or(0, |n| n.off)
    }

    /// A scalar field: each occurrence is checked in order; the last non-null one is the
    /// value, or `None` if every one is `null` (Go leaves the field alone).
    fn scalar(
        &self,
        go_type: &str,
        accept: impl Fn(&Kind) -> bool,
    ) -> Result<Option<&'a Node>, Error> {
        let mut last = None;
        for n in self.live() {
            match &n.kind {
                Kind::Null => {}
                k if accept(k) => last = Some(n),
                _ => return Err(self.mismatch(n, go_type)),
            }
        }
        Ok(last)
    }

    fn int<V: Visitor<'a>>(self, visitor: V, go_type: &str, bits: u32) -> Result<V::Value, Error> {
        let Some(n) = self.scalar(go_type, |k| matches!(k, Kind::Number(_)))? else {
            return visitor.visit_i64(0);
        };
        let Kind::Number(lit) = &n.kind else {
            unreachable!()
        };
        let v = lit
            .parse::<i64>()
            .ok()
            .filter(|v| bits == 64 || (*v >= -(1i64 << (bits - 1)) && *v < (1i64 << (bits - 1))))
            .ok_or_else(|| self.type_error(n, format!("number {lit}"), go_type))?;
        visitor.visit_i64(v).map_err(|e| self.locate(e, n.off))
    }

    fn uint<V: Visitor<'a>>(self, visitor: V, go_type: &str, bits: u32) -> Result<V::Value, Error> {
        let Some(n) = self.scalar(go_type, |k| matches!(k, Kind::Number(_)))? else {
            return visitor.visit_u64(0);
        };
        let Kind::Number(lit) = &n.kind else {
            unreachable!()
        };
        let v = lit
            .parse::<u64>()
            .ok()
            .filter(|v| bits == 64 || *v < (1u64 << bits))
            .ok_or_else(|| self.type_error(n, format!("number {lit}"), go_type))?;
        visitor.visit_u64(v).map_err(|e| self.locate(e, n.off))
    }

    fn float<V: Visitor<'a>>(
        self,
        visitor: V,
        go_type: &str,
        f32: bool,
    ) -> Result<V::Value, Error> {
        let Some(n) = self.scalar(go_type, |k| matches!(k, Kind::Number(_)))? else {
            return visitor.visit_f64(0.0);
        };
        let Kind::Number(lit) = &n.kind else {
            unreachable!()
        };
        let v: f64 = lit.parse().unwrap_or(f64::INFINITY);
        let fits = if f32 {
            lit.parse::<f32>().is_ok_and(f32::is_finite)
        } else {
            v.is_finite()
        };
        if !fits {
            return Err(self.type_error(n, format!("number {lit}"), go_type));
        }
        visitor.visit_f64(v).map_err(|e| self.locate(e, n.off))
    }

    /// The members of the objects among the occurrences, in order; a non-object is a type
    /// error naming `go_type`. A member whose value an earlier pass set aside is left out
    /// for a struct (Go leaves the field alone) but kept for a map, whose key Go still
    /// decodes and stores with a zero value.
    fn members(
        &self,
        nodes: &[&'a Node],
        go_type: &str,
        keep_skipped: bool,
    ) -> Result<Vec<&'a (String, Node)>, Error> {
        let mut out = Vec::new();
        for n in nodes {
            match &n.kind {
                Kind::Object(members) => out.extend(
                    members
                        .iter()
                        .filter(|(_, v)| keep_skipped || !self.pass.skip.contains(&v.off)),
                ),
                Kind::Null => {}
                _ => return Err(self.mismatch(n, go_type)),
            }
        }
        Ok(out)
    }

    fn visit_any<V: Visitor<'a>>(&self, node: &'a Node, visitor: V) -> Result<V::Value, Error> {
        if self.depth > MAX_ANY_DEPTH && matches!(node.kind, Kind::Array(_) | Kind::Object(_)) {
            let e = de::Error::custom(format!(
                "json: a value nested more than {MAX_ANY_DEPTH} levels deep is not supported"
            ));
            return Err(self.locate(e, node.off));
        }
        let r = match &node.kind {
            Kind::Null => visitor.visit_unit(),
            Kind::Bool(b) => visitor.visit_bool(*b),
            Kind::Str(s) => visitor.visit_str(s),
            Kind::Number(lit) => {
                if let Ok(v) = lit.parse::<u64>() {
                    visitor.visit_u64(v)
                } else if let Ok(v) = lit.parse::<i64>() {
                    visitor.visit_i64(v)
                } else {
                    match lit.parse::<f64>() {
                        Ok(v) if v.is_finite() => visitor.visit_f64(v),
                        // Go's interface{} decoding wants a float64.
                        _ => return Err(self.type_error(node, format!("number {lit}"), "float64")),
                    }
                }
            }
            // A value set aside by an earlier pass is Go's nil here.
            Kind::Array(items) => visitor.visit_seq(Elements {
                de: self,
                items: items
                    .iter()
                    .map(|n| vec![n])
                    .collect::<Vec<_>>()
                    .into_iter(),
            }),
            Kind::Object(members) => visitor.visit_map(Entries {
                de: self,
                members: members.iter().collect::<Vec<_>>().into_iter(),
                value: None,
            }),
        };
        r.map_err(|e| self.locate(e, node.off))
    }

    /// The Go type for a probe of what `visitor` builds, used only for an error's text.
    fn probed<V: Visitor<'a>>(&self, prefix: &str, visitor: V, seq: bool) -> String {
        if let Some(d) = self.declared {
            return d.to_string();
        }
        format!("{prefix}{}", probe::element_type(visitor, seq))
    }
}

impl<'a> Deserializer<'a> for De<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        // Go's interface{}: the last occurrence replaces the value.
        match self.live().last() {
            Some(n) => self.visit_any(n, visitor),
            None => visitor.visit_unit(),
        }
    }

    fn deserialize_bool<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.scalar("bool", |k| matches!(k, Kind::Bool(_)))? {
            Some(Node {
                kind: Kind::Bool(b),
                off,
            }) => visitor.visit_bool(*b).map_err(|e| self.locate(e, *off)),
            _ => visitor.visit_bool(false),
        }
    }

    fn deserialize_i8<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.int(visitor, "int8", 8)
    }
    fn deserialize_i16<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.int(visitor, "int16", 16)
    }
    fn deserialize_i32<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.int(visitor, "int32", 32)
    }
    /// Go's `int` (64-bit on every platform the plugins run on).
    fn deserialize_i64<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.int(visitor, "int", 64)
    }
    fn deserialize_u8<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.uint(visitor, "uint8", 8)
    }
    fn deserialize_u16<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.uint(visitor, "uint16", 16)
    }
    fn deserialize_u32<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.uint(visitor, "uint32", 32)
    }
    fn deserialize_u64<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.uint(visitor, "uint64", 64)
    }
    fn deserialize_f32<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.float(visitor, "float32", true)
    }
    fn deserialize_f64<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.float(visitor, "float64", false)
    }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.scalar("string", |k| matches!(k, Kind::Str(_)))? {
            Some(Node {
                kind: Kind::Str(s),
                off,
            }) => visitor.visit_str(s).map_err(|e| self.locate(e, *off)),
            // Every occurrence null: the zero value (a custom parser still sees it, as Go's
            // `UnmarshalJSON` is still called for null).
            _ => visitor
                .visit_str("")
                .map_err(|e| self.locate(e, self.first_off())),
        }
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'a>>(self, _visitor: V) -> Result<V::Value, Error> {
        Err(de::Error::custom("gojson: []byte fields are not supported"))
    }

    fn deserialize_byte_buf<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    /// A Go pointer: `null` resets it; later objects decode into the same pointee.
    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        let rest = self.after_reset(false);
        if rest.is_empty() {
            return visitor.visit_none();
        }
        let mut inner = self.child(rest);
        inner.declared = self.declared;
        inner.is_root = self.is_root;
        visitor.visit_some(inner)
    }

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        mut self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if let Some(go) = name.strip_prefix(DECLARED) {
            match go.strip_prefix(UNMARSHALER) {
                Some(go) => {
                    self.declared = Some(go);
                    if self.opaque_root.is_none() {
                        self.opaque_root = Some(self.first_off());
                    }
                }
                None => self.declared = Some(go),
            }
        }
        visitor.visit_newtype_struct(self)
    }

    /// A Go slice: `null` or `[]` resets it; the last array sets its length; element `i`
    /// decodes every array's element `i` in turn (Go decodes into the elements it has).
    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        let rest = self.after_reset(true);
        for n in &rest {
            if !matches!(n.kind, Kind::Array(_)) {
                let go_type = self.probed("[]", visitor, true);
                return Err(self.mismatch(n, &go_type));
            }
        }
        let arrays: Vec<Vec<&Node>> = rest
            .iter()
            .map(|n| match &n.kind {
                Kind::Array(items) => items
                    .iter()
                    .filter(|i| !self.pass.skip.contains(&i.off))
                    .collect(),
                _ => Vec::new(),
            })
            .collect();
        let len = arrays.last().map_or(0, Vec::len);
        let elements: Vec<Vec<&Node>> = (0..len)
            .map(|i| arrays.iter().filter_map(|a| a.get(i).copied()).collect())
            .collect();
        let off = self.first_off();
        visitor
            .visit_seq(Elements {
                de: &self,
                items: elements.into_iter(),
            })
            .map_err(|e| self.locate(e, off))
    }

    fn deserialize_tuple<V: Visitor<'a>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    /// A Go `map[string]T`: `null` resets it; objects add their members in order (a
    /// repeated key replaces the value).
    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        let rest = self.after_reset(false);
        if let Some(n) = rest.iter().find(|n| !matches!(n.kind, Kind::Object(_))) {
            let go_type = self.probed("map[string]", visitor, false);
            return Err(self.mismatch(n, &go_type));
        }
        let members = self.members(&rest, "", true)?;
        let off = self.first_off();
        visitor
            .visit_map(Entries {
                de: &self,
                members: members.into_iter(),
                value: None,
            })
            .map_err(|e| self.locate(e, off))
    }

    /// A Go struct: `null` leaves it alone; each object's members decode into its fields.
    fn deserialize_struct<V: Visitor<'a>>(
        mut self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let name = match (self.is_root, self.pass.root_name) {
            (true, Some(outer)) => outer,
            _ => name,
        };
        if self.is_root {
            self.pass.root_seen.set(Some(name));
        }
        let private = gotype::opaque(name);
        let nodes: Vec<&Node> = self.live().collect();
        if private.is_some() && self.opaque_root.is_none() {
            self.opaque_root = Some(self.first_off());
        }
        let members = self.members(&nodes, private.unwrap_or(name), false)?;

        // Group each field's occurrences, in the order fields first appear.
        let mut groups: Vec<(&'static str, Vec<&Node>)> = Vec::new();
        for (key, value) in members {
            let Some(field) = match_field(key, fields) else {
                continue;
            };
            match groups.iter_mut().find(|(f, _)| *f == field) {
                Some((_, nodes)) => nodes.push(value),
                None => groups.push((field, vec![value])),
            }
        }
        // Inside an opaque value errors keep the context of the field holding it.
        let strukt = gotype::short_name(name);
        let off = self.first_off();
        visitor
            .visit_map(Fields {
                de: &self,
                strukt,
                groups: groups.into_iter(),
                value: None,
            })
            .map_err(|e| self.locate(e, off))
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.scalar("string", |k| matches!(k, Kind::Str(_)))? {
            Some(Node {
                kind: Kind::Str(s),
                off,
            }) => {
                let d: StrDeserializer<'_, Error> = s.as_str().into_deserializer();
                visitor.visit_enum(d).map_err(|e| self.locate(e, *off))
            }
            _ => {
                let d: StrDeserializer<'_, Error> = "".into_deserializer();
                visitor
                    .visit_enum(d)
                    .map_err(|e| self.locate(e, self.first_off()))
            }
        }
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_i128<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.int(visitor, "int", 64)
    }

    fn deserialize_u128<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.uint(visitor, "uint64", 64)
    }
}

/// Go's field lookup: the exact name, else the first field equal to the key under Unicode
/// case folding.
fn match_field(key: &str, fields: &'static [&'static str]) -> Option<&'static str> {
    if let Some(f) = fields.iter().find(|f| **f == key) {
        return Some(f);
    }
    fields.iter().copied().find(|f| fold_eq(f, key))
}

fn fold_eq(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    // Unicode simple folding: the Kelvin sign is k, the long s is s.
    let fold = |s: &str| -> Vec<char> {
        s.chars()
            .flat_map(char::to_uppercase)
            .flat_map(char::to_lowercase)
            .collect()
    };
    fold(a) == fold(b)
}

struct Elements<'b, 'a> {
    de: &'b De<'a>,
    items: std::vec::IntoIter<Vec<&'a Node>>,
}

impl<'a> SeqAccess<'a> for Elements<'_, 'a> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            Some(nodes) => seed.deserialize(self.de.child(nodes)).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// A map's members, keys as written.
struct Entries<'b, 'a> {
    de: &'b De<'a>,
    members: std::vec::IntoIter<&'a (String, Node)>,
    value: Option<&'a Node>,
}

impl<'a> MapAccess<'a> for Entries<'_, 'a> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.members.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        let d: StrDeserializer<'_, Error> = key.as_str().into_deserializer();
        seed.deserialize(d)
            .map(Some)
            .map_err(|e| self.de.locate(e, value.off))
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("gojson: value without a key"))?;
        seed.deserialize(self.de.child(vec![value]))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.members.len())
    }
}

/// A struct's fields, each with all its occurrences.
struct Fields<'b, 'a> {
    de: &'b De<'a>,
    strukt: &'static str,
    groups: std::vec::IntoIter<(&'static str, Vec<&'a Node>)>,
    value: Option<(&'static str, Vec<&'a Node>)>,
}

impl<'a> MapAccess<'a> for Fields<'_, 'a> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((field, nodes)) = self.groups.next() else {
            return Ok(None);
        };
        self.value = Some((field, nodes));
        let d: StrDeserializer<'_, Error> = field.into_deserializer();
        seed.deserialize(d).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (field, nodes) = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("gojson: value without a key"))?;
        let mut child = self.de.child(nodes);
        if self.de.opaque_root.is_none() {
            child.ctx.strukt = Some(self.strukt);
            child.ctx.path.push(field);
        }
        seed.deserialize(child)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.groups.len())
    }
}
