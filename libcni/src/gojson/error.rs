//! Decode errors and which one Go reports.
//!
//! Go's decoder saves the first `*UnmarshalTypeError` and carries on; any other error (a
//! custom unmarshaler's, e.g. `invalid CIDR address: x`) stops it at once and wins over a
//! saved type error. A type error inside a value whose Go type has its own `UnmarshalJSON`
//! (an "opaque" value, see [`super::gotype`]) is returned by that unmarshaler, so for the
//! outer decoder it is one of the stopping kind.

use std::fmt;

/// Go's `*json.UnmarshalTypeError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeError {
    /// `string`, `number`, `number 1.5`, `object`, ...
    pub value: String,
    /// The Go type that was wanted, as `reflect.Type.String()` prints it.
    pub go_type: String,
    /// `Some((struct name, field path))` inside a struct; `None` for a top-level value.
    pub context: Option<(String, String)>,
}

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.context {
            Some((strukt, field)) => write!(
                f,
                "json: cannot unmarshal {} into Go struct field {strukt}.{field} of type {}",
                self.value, self.go_type
            ),
            None => write!(
                f,
                "json: cannot unmarshal {} into Go value of type {}",
                self.value, self.go_type
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is not JSON (Go's `*json.SyntaxError` text).
    Syntax(String),
    /// A value of the wrong JSON kind or out of range for its field (boxed: errors travel
    /// up through every level of a decode).
    Type(Box<TypeError>),
    /// A field's own parser refused the value; the text is the parser's.
    Custom(String),
}

/// An error from [`super::Doc::decode`], printed as Go prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    /// Offset of the value it is about.
    pub(crate) off: Option<usize>,
    /// Offset of the outermost opaque value it happened in.
    pub(crate) opaque_root: Option<usize>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Error {
            kind,
            off: None,
            opaque_root: None,
        }
    }

    pub fn syntax(msg: String) -> Self {
        Error::new(ErrorKind::Syntax(msg))
    }

    /// Whether Go would carry on decoding after it (a saved type error).
    pub(crate) fn is_saved(&self) -> bool {
        matches!(self.kind, ErrorKind::Type(_)) && self.opaque_root.is_none()
    }

    pub fn type_error(&self) -> Option<&TypeError> {
        match &self.kind {
            ErrorKind::Type(t) => Some(t.as_ref()),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Syntax(s) | ErrorKind::Custom(s) => f.write_str(s),
            ErrorKind::Type(t) => t.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl serde::de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(ErrorKind::Custom(msg.to_string()))
    }
}

/// The error Go reports out of everything one or more decoding passes found. At most one
/// error is a stopping one (a pass ends there); the rest are saved type errors.
pub(crate) fn resolve(mut found: Vec<Error>) -> Option<Error> {
    found.sort_by_key(|e| e.off.unwrap_or(usize::MAX));
    // An opaque value fails as a whole, at its own offset, with its first stopping error or
    // else its first type error.
    let mut stopping: Option<(usize, &Error)> = None;
    for e in &found {
        let at = match (e.opaque_root, e.is_saved()) {
            (Some(root), _) => root,
            (None, false) => e.off.unwrap_or(usize::MAX),
            (None, true) => continue,
        };
        let better = match stopping {
            None => true,
            Some((best, current)) => {
                at < best
                    || (at == best
                        && !matches!(e.kind, ErrorKind::Type(_))
                        && matches!(current.kind, ErrorKind::Type(_)))
            }
        };
        if better {
            stopping = Some((at, e));
        }
    }
    if let Some((_, e)) = stopping {
        return Some(e.clone());
    }
    found.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soft(off: usize, value: &str) -> Error {
        Error {
            kind: ErrorKind::Type(Box::new(TypeError {
                value: value.into(),
                go_type: "int".into(),
                context: Some(("T".into(), "f".into())),
            })),
            off: Some(off),
            opaque_root: None,
        }
    }

    fn hard(off: usize, msg: &str) -> Error {
        Error {
            kind: ErrorKind::Custom(msg.into()),
            off: Some(off),
            opaque_root: None,
        }
    }

    #[test]
    fn first_saved_error_in_the_document_wins() {
        let e = resolve(vec![soft(30, "string"), soft(10, "bool")]).unwrap();
        assert_eq!(
            e.to_string(),
            "json: cannot unmarshal bool into Go struct field T.f of type int"
        );
    }

    #[test]
    fn a_stopping_error_beats_saved_ones() {
        let e = resolve(vec![soft(10, "bool"), hard(50, "invalid IP address: x")]).unwrap();
        assert_eq!(e.to_string(), "invalid IP address: x");
    }

    #[test]
    fn an_opaque_value_fails_at_its_own_offset() {
        let mut inner = soft(40, "string");
        inner.opaque_root = Some(20);
        let e = resolve(vec![hard(30, "later"), inner]).unwrap();
        assert_eq!(
            e.to_string(),
            "json: cannot unmarshal string into Go struct field T.f of type int"
        );
        // Inside one opaque value, a stopping error beats its saved one.
        let mut a = soft(25, "string");
        a.opaque_root = Some(20);
        let mut b = hard(28, "invalid CIDR address: x");
        b.opaque_root = Some(20);
        assert_eq!(
            resolve(vec![a, b]).unwrap().to_string(),
            "invalid CIDR address: x"
        );
    }
}
