//! Calico's label selector language (the subset IPPool `nodeSelector`/`namespaceSelector`
//! use): `all()`, `global()`, `has(k)`, `!has(k)`, `k == 'v'`, `k != 'v'`, `k in {'a','b'}`,
//! `k not in {..}`, `!`, `&&`, `||` and parentheses. An empty selector matches everything.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    All,
    Has(String),
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Not(Box<Selector>),
    And(Box<Selector>, Box<Selector>),
    Or(Box<Selector>, Box<Selector>),
}

impl Selector {
    /// Parses a selector; the error text is what Calico's parser reports, roughly.
    pub fn parse(s: &str) -> Result<Selector, String> {
        if s.trim().is_empty() {
            return Ok(Selector::All);
        }
        let mut p = Parser {
            src: s.as_bytes(),
            pos: 0,
        };
        let sel = p.or()?;
        p.skip_ws();
        if p.pos != p.src.len() {
            return Err(format!(
                "unexpected characters at position {} in selector {s:?}",
                p.pos
            ));
        }
        Ok(sel)
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Selector::All => true,
            Selector::Has(k) => labels.contains_key(k),
            Selector::Eq(k, v) => labels.get(k) == Some(v),
            // Calico: `k != 'v'` is true when the label is absent.
            Selector::Ne(k, v) => labels.get(k) != Some(v),
            Selector::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Selector::NotIn(k, vs) => !labels.get(k).is_some_and(|l| vs.contains(l)),
            Selector::Not(s) => !s.matches(labels),
            Selector::And(a, b) => a.matches(labels) && b.matches(labels),
            Selector::Or(a, b) => a.matches(labels) || b.matches(labels),
        }
    }
}

/// Parses and evaluates in one go; a selector that does not parse matches nothing.
pub fn matches(selector: &str, labels: &BTreeMap<String, String>) -> Result<bool, String> {
    Selector::parse(selector).map(|s| s.matches(labels))
}

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.src.len() && self.src[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.skip_ws();
        if self.src[self.pos..].starts_with(tok.as_bytes()) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!(
            "failed to parse selector at position {}: expected {what}",
            self.pos
        ))
    }

    fn or(&mut self) -> Result<Selector, String> {
        let mut left = self.and()?;
        while self.eat("||") {
            left = Selector::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Selector, String> {
        let mut left = self.unary()?;
        while self.eat("&&") {
            left = Selector::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Selector, String> {
        if self.eat("!") {
            return Ok(Selector::Not(Box::new(self.unary()?)));
        }
        if self.eat("(") {
            let inner = self.or()?;
            if !self.eat(")") {
                return self.err("')'");
            }
            return Ok(inner);
        }
        if self.eat("all()") || self.eat("global()") {
            return Ok(Selector::All);
        }
        if self.eat("has(") {
            let k = self.label()?;
            if !self.eat(")") {
                return self.err("')'");
            }
            return Ok(Selector::Has(k));
        }
        let k = self.label()?;
        if self.eat("==") {
            return Ok(Selector::Eq(k, self.string()?));
        }
        if self.eat("!=") {
            return Ok(Selector::Ne(k, self.string()?));
        }
        if self.eat("not in") {
            return Ok(Selector::NotIn(k, self.set()?));
        }
        if self.eat("in") {
            return Ok(Selector::In(k, self.set()?));
        }
        self.err("an operator")
    }

    fn label(&mut self) -> Result<String, String> {
        self.skip_ws();
        let start = self.pos;
        while self.pos < self.src.len()
            && (self.src[self.pos].is_ascii_alphanumeric() || b"_./-".contains(&self.src[self.pos]))
        {
            self.pos += 1;
        }
        if start == self.pos {
            return self.err("a label");
        }
        Ok(String::from_utf8_lossy(&self.src[start..self.pos]).into_owned())
    }

    fn string(&mut self) -> Result<String, String> {
        self.skip_ws();
        let Some(&q) = self.src.get(self.pos) else {
            return self.err("a string");
        };
        if q != b'\'' && q != b'"' {
            return self.err("a string");
        }
        let start = self.pos + 1;
        let Some(len) = self.src[start..].iter().position(|&c| c == q) else {
            return self.err("a closing quote");
        };
        self.pos = start + len + 1;
        Ok(String::from_utf8_lossy(&self.src[start..start + len]).into_owned())
    }

    fn set(&mut self) -> Result<Vec<String>, String> {
        if !self.eat("{") {
            return self.err("'{'");
        }
        let mut out = Vec::new();
        if self.eat("}") {
            return Ok(out);
        }
        loop {
            out.push(self.string()?);
            if self.eat("}") {
                return Ok(out);
            }
            if !self.eat(",") {
                return self.err("',' or '}'");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn common_forms() {
        let l = labels(&[("zone", "a"), ("rack", "r1"), ("kubernetes.io/os", "linux")]);
        for (sel, want) in [
            ("", true),
            ("all()", true),
            ("has(zone)", true),
            ("has(nope)", false),
            ("!has(nope)", true),
            ("zone == 'a'", true),
            ("zone == \"b\"", false),
            ("zone != 'b'", true),
            ("nope != 'b'", true),
            ("zone in {'a', 'b'}", true),
            ("zone in {'c'}", false),
            ("zone not in {'c'}", true),
            ("zone == 'a' && rack == 'r2'", false),
            ("zone == 'x' || rack == 'r1'", true),
            ("!(zone == 'a' && rack == 'r1')", false),
            ("kubernetes.io/os == 'linux'", true),
        ] {
            assert_eq!(matches(sel, &l).unwrap(), want, "{sel}");
        }
        assert!(matches("zone ==", &l).is_err());
        assert!(matches("zone == 'a' junk", &l).is_err());
    }
}
