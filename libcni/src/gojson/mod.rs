//! Decoding JSON the way Go's `encoding/json` decodes it into the Go plugins' structs, so
//! that what a config means and every error a bad config gets are Go's, byte for byte:
//!
//! - syntax errors with Go's texts, found before anything is decoded ([`syntax`]);
//! - keys matched to fields case-insensitively, an exact match first (containerd's
//!   capitalised `HostPort` lands in `hostPort`);
//! - repeated keys, `null` and number literals handled as Go does ([`de`]);
//! - type errors worded as Go's, naming the Go struct, the JSON path and the Go type
//!   (`json: cannot unmarshal string into Go struct field PortMapEntry.runtimeConfig.
//!   portMappings.hostPort of type int`), and the error Go would report when there are
//!   several ([`error`]).
//!
//! Types are plain serde derives; the Go names they need are given with serde attributes
//! (see [`gotype`]). Every struct decoded here should be `#[serde(default)]`: Go has no
//! required fields, and a missing one is simply zero.
//!
//! Each plugin's config, the shared `NetConf` and results are decoded through this module,
//! and nothing else in the suite decodes a config.

mod de;
mod error;
mod gotype;
mod probe;
mod syntax;

use std::cell::Cell;
use std::collections::HashSet;

use serde::de::DeserializeOwned;
use serde_json::Value;

pub use error::{Error, ErrorKind, TypeError};
pub use gotype::{declared, ipnet};
pub use syntax::quote_char;

use de::{De, Pass};
use syntax::Node;

/// How many times a decode runs again past a type error before giving up on finding a
/// later stopping error (Go would carry on through all of them; configs have few).
const MAX_PASSES: usize = 64;

/// A parsed document, ready to be decoded into one or more Go-shaped structs.
pub struct Doc {
    root: Node,
}

impl Doc {
    /// Parses `bytes`, failing with Go's syntax error text.
    pub fn parse(bytes: &[u8]) -> Result<Doc, Error> {
        syntax::parse(bytes)
            .map(|root| Doc { root })
            .map_err(Error::syntax)
    }

    /// Go's `json.Unmarshal(bytes, &T{})`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let (value, found, _) = self.run::<T>(None);
        match error::resolve(found) {
            Some(e) => Err(e),
            None => value.ok_or_else(|| Error::syntax("gojson: no value".into())),
        }
    }

    /// Go's `json.Unmarshal` into one struct that this suite reads as several parts: a
    /// plugin's config and the `types.NetConf` its Go struct embeds, or the keys another
    /// crate reads (the datastore's). Every part is decoded from the whole object, errors
    /// name the first part's Go struct, and the error reported is the one Go's single pass
    /// would report.
    pub fn decode_parts<P: Parts>(&self) -> Result<P, Error> {
        let mut joint = Joint {
            doc: self,
            name: None,
            found: Vec::new(),
        };
        let parts = P::decode(&mut joint);
        match error::resolve(joint.found) {
            Some(e) => Err(e),
            None => parts.ok_or_else(|| Error::syntax("gojson: no value".into())),
        }
    }

    /// Runs passes until one completes or stops at an error Go would not carry on from.
    fn run<T: DeserializeOwned>(
        &self,
        root_name: Option<&'static str>,
    ) -> (Option<T>, Vec<Error>, Option<&'static str>) {
        let mut pass = Pass {
            skip: HashSet::new(),
            root_name,
            root_seen: Cell::new(None),
        };
        let mut found = Vec::new();
        for _ in 0..MAX_PASSES {
            match T::deserialize(De::root(&self.root, &pass)) {
                Ok(v) => return (Some(v), found, pass.root_seen.get()),
                Err(e) => {
                    // A type error inside an opaque value stops Go too, but a stopping error
                    // later in the same value would replace it: look on.
                    let again = e.is_saved()
                        || (e.opaque_root.is_some() && matches!(e.kind, ErrorKind::Type(_)));
                    let off = e.off;
                    found.push(e);
                    match off {
                        Some(off) if again && pass.skip.insert(off) => {}
                        _ => break,
                    }
                }
            }
        }
        let seen = pass.root_seen.get();
        (None, found, seen)
    }
}

/// The state of one [`Doc::decode_parts`].
pub struct Joint<'d> {
    doc: &'d Doc,
    /// The Go name of the struct the parts make up (the first part's).
    name: Option<&'static str>,
    found: Vec<Error>,
}

impl Joint<'_> {
    fn part<T: DeserializeOwned>(&mut self) -> Option<T> {
        let (value, found, seen) = self.doc.run::<T>(self.name);
        self.name = self.name.or(seen);
        self.found.extend(found);
        value
    }
}

/// Tuples of types decoded as the parts of one Go struct (see [`Doc::decode_parts`]).
pub trait Parts: Sized {
    fn decode(joint: &mut Joint<'_>) -> Option<Self>;
}

impl<A: DeserializeOwned, B: DeserializeOwned> Parts for (A, B) {
    fn decode(joint: &mut Joint<'_>) -> Option<Self> {
        let a = joint.part::<A>();
        let b = joint.part::<B>();
        Some((a?, b?))
    }
}

/// Go's `json.Unmarshal(bytes, &T{})`.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    Doc::parse(bytes)?.decode()
}

/// Decodes a value already parsed by serde_json (its duplicate keys are gone, so only use
/// this for documents this suite wrote itself).
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, Error> {
    from_slice(serde_json::to_string(value).unwrap_or_default().as_bytes())
}

/// Go's word for a JSON value's kind, as in `cannot unmarshal <kind> into ...`.
pub fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests;
