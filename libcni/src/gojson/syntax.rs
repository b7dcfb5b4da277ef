//! Go's JSON scanner: the whole input is checked before anything is decoded, as
//! `json.Unmarshal` does (`checkValid`), and a syntax error is reported with Go's text
//! (`invalid character 'x' after object key`, `unexpected end of JSON input`).
//!
//! The result is a tree that keeps what a serde `Value` loses and Go's decoder sees: members
//! in document order with duplicate keys, number literals as written (`1e3` is not an int
//! in Go), and each value's byte offset (Go reports the first error in document order).
//! Strings are unquoted as Go does: invalid UTF-8 and lone surrogates become U+FFFD.
//!
//! The parser is iterative, so nesting up to Go's limit of 10000 levels cannot overflow the
//! stack.

/// Go's `maxNestingDepth`.
const MAX_DEPTH: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Byte offset of the value's first character in the input.
    pub off: usize,
    pub kind: Kind,
}

/// Dropped without recursion: a document may nest 10000 levels deep.
impl Drop for Node {
    fn drop(&mut self) {
        let mut pending = Vec::new();
        take_children(&mut self.kind, &mut pending);
        while let Some(mut node) = pending.pop() {
            take_children(&mut node.kind, &mut pending);
        }
    }
}

fn take_children(kind: &mut Kind, out: &mut Vec<Node>) {
    match kind {
        Kind::Array(items) => out.append(items),
        Kind::Object(members) => out.extend(members.drain(..).map(|(_, n)| n)),
        _ => {}
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    /// The literal exactly as written.
    Number(Box<str>),
    Str(String),
    Array(Vec<Node>),
    /// Members in document order, duplicates kept.
    Object(Vec<(String, Node)>),
}

impl Kind {
    /// Go's word for the JSON kind in `cannot unmarshal <kind> into ...`.
    pub fn go_name(&self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool(_) => "bool",
            Kind::Number(_) => "number",
            Kind::Str(_) => "string",
            Kind::Array(_) => "array",
            Kind::Object(_) => "object",
        }
    }
}

/// A syntax error's text (Go's `*json.SyntaxError` message).
pub type SyntaxError = String;

enum Frame {
    Array(usize, Vec<Node>),
    /// The object's members so far and the key waiting for its value.
    Object(usize, Vec<(String, Node)>, String),
}

struct Scanner<'a> {
    s: &'a [u8],
    i: usize,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Go's `quoteChar`: the offending byte as a rune, quoted with single quotes.
pub fn quote_char(c: u8) -> String {
    match c {
        b'\'' => r"'\''".to_string(),
        b'"' => "'\"'".to_string(),
        _ => {
            let ch = char::from(c);
            let body = match ch {
                '\x07' => r"\a".to_string(),
                '\x08' => r"\b".to_string(),
                '\x0c' => r"\f".to_string(),
                '\n' => r"\n".to_string(),
                '\r' => r"\r".to_string(),
                '\t' => r"\t".to_string(),
                '\x0b' => r"\v".to_string(),
                '\\' => r"\\".to_string(),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => format!(r"\x{:02x}", c as u32),
                // Latin-1 controls, no-break space and soft hyphen are not printable in Go.
                c if (0x80..0xa0).contains(&(c as u32)) || c == '\u{a0}' || c == '\u{ad}' => {
                    format!(r"\u{:04x}", c as u32)
                }
                c => c.to_string(),
            };
            format!("'{body}'")
        }
    }
}

fn invalid(c: u8, context: &str) -> SyntaxError {
    format!("invalid character {} {context}", quote_char(c))
}

const EOF: &str = "unexpected end of JSON input";

impl Scanner<'_> {
    fn skip_space(&mut self) {
        while self.i < self.s.len() && is_space(self.s[self.i]) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// The next non-space byte, or Go's end-of-input error.
    fn next_token(&mut self) -> Result<u8, SyntaxError> {
        self.skip_space();
        self.peek().ok_or_else(|| EOF.to_string())
    }

    fn literal(&mut self, word: &'static str) -> Result<(), SyntaxError> {
        // The first byte has been matched by the caller.
        for &want in &word.as_bytes()[1..] {
            self.i += 1;
            match self.peek() {
                None => return Err(EOF.into()),
                Some(c) if c != want => {
                    return Err(invalid(
                        c,
                        &format!("in literal {word} (expecting {})", quote_char(want)),
                    ))
                }
                _ => {}
            }
        }
        self.i += 1;
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Box<str>, SyntaxError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
            match self.peek() {
                None => return Err(EOF.into()),
                Some(b'0'..=b'9') => {}
                Some(c) => return Err(invalid(c, "in numeric literal")),
            }
        }
        if self.peek() == Some(b'0') {
            self.i += 1;
        } else {
            self.digits();
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            match self.peek() {
                None => return Err(EOF.into()),
                Some(b'0'..=b'9') => {
                    self.digits();
                }
                Some(c) => return Err(invalid(c, "after decimal point in numeric literal")),
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            match self.peek() {
                None => return Err(EOF.into()),
                Some(b'0'..=b'9') => {
                    self.digits();
                }
                Some(c) => return Err(invalid(c, "in exponent of numeric literal")),
            }
        }
        // Only ASCII digits, signs, '.', 'e' were consumed.
        let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or_default();
        Ok(text.into())
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let c = self.peek().ok_or_else(|| EOF.to_string())?;
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| invalid(c, r"in \u hexadecimal character escape"))?;
            v = v * 16 + d;
            self.i += 1;
        }
        Ok(v)
    }

    /// A string literal starting at the opening quote, unquoted as Go's `unquote` does.
    fn string(&mut self) -> Result<String, SyntaxError> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let c = self.peek().ok_or_else(|| EOF.to_string())?;
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.i += 1;
                    let e = self.peek().ok_or_else(|| EOF.to_string())?;
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            out.push(self.surrogate_pair(hi)?);
                        }
                        other => return Err(invalid(other, "in string escape code")),
                    }
                }
                c if c < 0x20 => return Err(invalid(c, "in string literal")),
                c if c < 0x80 => {
                    out.push(c as char);
                    self.i += 1;
                }
                _ => {
                    let (ch, len) = decode_utf8(&self.s[self.i..]);
                    out.push(ch);
                    self.i += len;
                }
            }
        }
    }

    /// Completes a `\uXXXX` escape: a high surrogate followed by `\uXXXX` with a low one
    /// makes one character; any other surrogate is U+FFFD, as in Go.
    fn surrogate_pair(&mut self, hi: u32) -> Result<char, SyntaxError> {
        if !(0xD800..0xE000).contains(&hi) {
            return Ok(char::from_u32(hi).unwrap_or('\u{FFFD}'));
        }
        if (0xD800..0xDC00).contains(&hi) && self.s[self.i..].starts_with(b"\\u") {
            let save = self.i;
            self.i += 2;
            // Go's scanner has already validated the escape, so report its errors as such.
            let lo = self.hex4()?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or('\u{FFFD}'));
            }
            // Not a pair: the second escape stands on its own.
            self.i = save;
        }
        Ok('\u{FFFD}')
    }
}

/// One character of possibly invalid UTF-8, as Go's `utf8.DecodeRune`: an invalid byte is
/// U+FFFD and consumes one byte.
fn decode_utf8(s: &[u8]) -> (char, usize) {
    let width = match s[0] {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return ('\u{FFFD}', 1),
    };
    match s.get(..width).map(std::str::from_utf8) {
        Some(Ok(text)) => (text.chars().next().unwrap_or('\u{FFFD}'), width),
        _ => ('\u{FFFD}', 1),
    }
}

/// Parses a whole JSON document the way `json.Unmarshal` checks it.
pub fn parse(input: &[u8]) -> Result<Node, SyntaxError> {
    let mut sc = Scanner { s: input, i: 0 };
    let mut stack: Vec<Frame> = Vec::new();
    loop {
        // Expecting a value (top level, array element or object member value).
        let c = sc.next_token()?;
        let off = sc.i;
        let mut node = match c {
            b'{' => {
                sc.i += 1;
                if stack.len() >= MAX_DEPTH {
                    return Err(invalid(c, "exceeded max depth"));
                }
                let c = sc.next_token()?;
                if c == b'}' {
                    sc.i += 1;
                    Some(Node {
                        off,
                        kind: Kind::Object(Vec::new()),
                    })
                } else if c == b'"' {
                    let key = object_key(&mut sc)?;
                    stack.push(Frame::Object(off, Vec::new(), key));
                    None
                } else {
                    return Err(invalid(c, "looking for beginning of object key string"));
                }
            }
            b'[' => {
                sc.i += 1;
                if stack.len() >= MAX_DEPTH {
                    return Err(invalid(c, "exceeded max depth"));
                }
                let c = sc.next_token()?;
                if c == b']' {
                    sc.i += 1;
                    Some(Node {
                        off,
                        kind: Kind::Array(Vec::new()),
                    })
                } else {
                    stack.push(Frame::Array(off, Vec::new()));
                    None
                }
            }
            b'"' => Some(Node {
                off,
                kind: Kind::Str(sc.string()?),
            }),
            b't' => {
                sc.literal("true")?;
                Some(Node {
                    off,
                    kind: Kind::Bool(true),
                })
            }
            b'f' => {
                sc.literal("false")?;
                Some(Node {
                    off,
                    kind: Kind::Bool(false),
                })
            }
            b'n' => {
                sc.literal("null")?;
                Some(Node {
                    off,
                    kind: Kind::Null,
                })
            }
            b'-' | b'0'..=b'9' => Some(Node {
                off,
                kind: Kind::Number(sc.number()?),
            }),
            other => return Err(invalid(other, "looking for beginning of value")),
        };

        // Close as many containers as this value completes.
        while let Some(done) = node.take() {
            let Some(frame) = stack.last_mut() else {
                sc.skip_space();
                if let Some(c) = sc.peek() {
                    return Err(invalid(c, "after top-level value"));
                }
                return Ok(done);
            };
            match frame {
                Frame::Array(start, items) => {
                    items.push(done);
                    match sc.next_token()? {
                        b',' => sc.i += 1,
                        b']' => {
                            sc.i += 1;
                            let start = *start;
                            let items = std::mem::take(items);
                            stack.pop();
                            node = Some(Node {
                                off: start,
                                kind: Kind::Array(items),
                            });
                        }
                        c => return Err(invalid(c, "after array element")),
                    }
                }
                Frame::Object(start, members, key) => {
                    members.push((std::mem::take(key), done));
                    match sc.next_token()? {
                        b',' => {
                            sc.i += 1;
                            match sc.next_token()? {
                                b'"' => *key = object_key(&mut sc)?,
                                c => {
                                    return Err(invalid(
                                        c,
                                        "looking for beginning of object key string",
                                    ))
                                }
                            }
                        }
                        b'}' => {
                            sc.i += 1;
                            let start = *start;
                            let members = std::mem::take(members);
                            stack.pop();
                            node = Some(Node {
                                off: start,
                                kind: Kind::Object(members),
                            });
                        }
                        c => return Err(invalid(c, "after object key:value pair")),
                    }
                }
            }
        }
    }
}

/// A member's key and the colon after it.
fn object_key(sc: &mut Scanner<'_>) -> Result<String, SyntaxError> {
    let key = sc.string()?;
    match sc.next_token()? {
        b':' => {
            sc.i += 1;
            Ok(key)
        }
        c => Err(invalid(c, "after object key")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        parse(s.as_bytes()).unwrap_err()
    }

    #[test]
    fn syntax_errors_read_like_go() {
        for (input, want) in [
            ("", "unexpected end of JSON input"),
            ("   ", "unexpected end of JSON input"),
            ("{", "unexpected end of JSON input"),
            (r#"{"a""#, "unexpected end of JSON input"),
            (r#"{"a":1"#, "unexpected end of JSON input"),
            ("[1,", "unexpected end of JSON input"),
            ("-", "unexpected end of JSON input"),
            ("1.", "unexpected end of JSON input"),
            ("x", "invalid character 'x' looking for beginning of value"),
            (
                "{x",
                "invalid character 'x' looking for beginning of object key string",
            ),
            (r#"{"a",1}"#, "invalid character ',' after object key"),
            (
                r#"{"a":1 "b":2}"#,
                "invalid character '\"' after object key:value pair",
            ),
            (
                r#"{"a":1,}"#,
                "invalid character '}' looking for beginning of object key string",
            ),
            ("[1 2]", "invalid character '2' after array element"),
            (
                "[1,]",
                "invalid character ']' looking for beginning of value",
            ),
            ("{} x", "invalid character 'x' after top-level value"),
            ("01", "invalid character '1' after top-level value"),
            ("-x", "invalid character 'x' in numeric literal"),
            (
                "1.x",
                "invalid character 'x' after decimal point in numeric literal",
            ),
            (
                "1ex",
                "invalid character 'x' in exponent of numeric literal",
            ),
            ("tru", "unexpected end of JSON input"),
            (
                "trux",
                "invalid character 'x' in literal true (expecting 'e')",
            ),
            (
                "nul1",
                "invalid character '1' in literal null (expecting 'l')",
            ),
            ("fals", "unexpected end of JSON input"),
            ("\"a\nb\"", r"invalid character '\n' in string literal"),
            (r#""\x""#, "invalid character 'x' in string escape code"),
            (
                r#""\u12g4""#,
                r"invalid character 'g' in \u hexadecimal character escape",
            ),
            (
                "'a'",
                r"invalid character '\'' looking for beginning of value",
            ),
            (
                "\u{1}",
                r"invalid character '\x01' looking for beginning of value",
            ),
            (
                "\u{e9}",
                "invalid character 'Ã' looking for beginning of value",
            ),
        ] {
            assert_eq!(err(input), want, "{input:?}");
        }
    }

    #[test]
    fn keeps_order_duplicates_literals_and_offsets() {
        let n = parse(br#" {"b":1e3,"a":[true,null],"b":"x"}"#).unwrap();
        assert_eq!(n.off, 1);
        let Kind::Object(m) = &n.kind else { panic!() };
        let keys: Vec<_> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "b"]);
        assert_eq!(m[0].1.kind, Kind::Number("1e3".into()));
        assert_eq!(m[0].1.off, 6);
        let Kind::Array(items) = &m[1].1.kind else {
            panic!()
        };
        assert_eq!(items[1].kind, Kind::Null);
    }

    #[test]
    fn strings_unquote_like_go() {
        let s = |input: &[u8]| match &parse(input).unwrap().kind {
            Kind::Str(s) => s.clone(),
            _ => panic!(),
        };
        assert_eq!(s(br#""a\u002eb\/""#), "a.b/");
        assert_eq!(s(br#""\ud83d\ude00""#), "\u{1F600}");
        assert_eq!(s(br#""\ud83dx""#), "\u{FFFD}x");
        assert_eq!(s(br#""\ude00""#), "\u{FFFD}");
        assert_eq!(s(b"\"a\xffb\""), "a\u{FFFD}b");
        assert_eq!(s(b"\"\xed\xa0\x80\""), "\u{FFFD}\u{FFFD}\u{FFFD}");
        assert_eq!(s("\"é\"".as_bytes()), "é");
    }

    #[test]
    fn nesting_is_limited_like_go_and_does_not_recurse() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(parse(deep.as_bytes()).is_ok());
        let deeper = "[".repeat(10_001) + &"]".repeat(10_001);
        assert_eq!(
            parse(deeper.as_bytes()).unwrap_err(),
            "invalid character '[' exceeded max depth"
        );
    }
}
