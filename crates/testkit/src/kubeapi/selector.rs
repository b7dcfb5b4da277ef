//! Label selectors (`k8s.io/apimachinery/pkg/labels`) and field selectors
//! (`k8s.io/apimachinery/pkg/fields`) for LIST.

use libcni::json::go_quote;
use serde_json::Value;

use super::meta;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Exists,
    NotExists,
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Gt(i64),
    Lt(i64),
}

/// A parsed label selector: requirements AND-ed.
#[derive(Debug, Clone, Default)]
pub struct LabelSelector {
    reqs: Vec<(String, Op)>,
}

impl LabelSelector {
    /// Parses the `labelSelector` parameter; the error is the 400 message.
    pub fn parse(s: &str) -> Result<LabelSelector, String> {
        let toks = lex(s)?;
        let mut p = 0;
        let mut reqs = Vec::new();
        if toks.is_empty() {
            return Ok(LabelSelector::default());
        }
        loop {
            reqs.push(requirement(&toks, &mut p)?);
            match toks.get(p) {
                None => break,
                Some(Tok::Comma) => {
                    p += 1;
                    if p == toks.len() {
                        return Err("found '', expected: identifier after ','".into());
                    }
                }
                Some(t) => {
                    return Err(format!(
                        "found '{}', expected: ',' or 'end of string'",
                        t.text()
                    ))
                }
            }
        }
        Ok(LabelSelector { reqs })
    }

    /// Whether `labels` (an object of strings, or null) satisfies every requirement.
    pub fn matches(&self, labels: &Value) -> bool {
        self.reqs.iter().all(|(k, op)| {
            let v = labels.get(k).and_then(Value::as_str);
            match op {
                Op::Exists => v.is_some(),
                Op::NotExists => v.is_none(),
                Op::Equals(x) => v == Some(x.as_str()),
                Op::NotEquals(x) => v != Some(x.as_str()),
                Op::In(xs) => v.is_some_and(|v| xs.iter().any(|x| x == v)),
                Op::NotIn(xs) => v.is_none_or(|v| !xs.iter().any(|x| x == v)),
                Op::Gt(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v > *n),
                Op::Lt(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v < *n),
            }
        })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Id(String),
    Not,
    Eq,
    DoubleEq,
    NotEq,
    In,
    NotIn,
    Gt,
    Lt,
    Open,
    Close,
    Comma,
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Id(s) => s.clone(),
            Tok::Not => "!".into(),
            Tok::Eq => "=".into(),
            Tok::DoubleEq => "==".into(),
            Tok::NotEq => "!=".into(),
            Tok::In => "in".into(),
            Tok::NotIn => "notin".into(),
            Tok::Gt => ">".into(),
            Tok::Lt => "<".into(),
            Tok::Open => "(".into(),
            Tok::Close => ")".into(),
            Tok::Comma => ",".into(),
        }
    }
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
            continue;
        }
        let two: String = c[i..(i + 2).min(c.len())].iter().collect();
        let tok = match ch {
            '!' if two == "!=" => {
                i += 2;
                Tok::NotEq
            }
            '!' => {
                i += 1;
                Tok::Not
            }
            '=' if two == "==" => {
                i += 2;
                Tok::DoubleEq
            }
            '=' => {
                i += 1;
                Tok::Eq
            }
            '>' => {
                i += 1;
                Tok::Gt
            }
            '<' => {
                i += 1;
                Tok::Lt
            }
            '(' => {
                i += 1;
                Tok::Open
            }
            ')' => {
                i += 1;
                Tok::Close
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            _ => {
                let start = i;
                while i < c.len() && !c[i].is_whitespace() && !"!=><(),".contains(c[i]) {
                    i += 1;
                }
                let w: String = c[start..i].iter().collect();
                match w.as_str() {
                    "in" => Tok::In,
                    "notin" => Tok::NotIn,
                    _ => Tok::Id(w),
                }
            }
        };
        out.push(tok);
    }
    Ok(out)
}

fn ident(toks: &[Tok], p: &mut usize, what: &str) -> Result<String, String> {
    match toks.get(*p) {
        Some(Tok::Id(s)) => {
            *p += 1;
            Ok(s.clone())
        }
        Some(t) => Err(format!("found '{}', expected: {what}", t.text())),
        None => Err(format!("found '', expected: {what}")),
    }
}

fn check_key(k: &str) -> Result<(), String> {
    let errs = meta::qualified_name_errors(k);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "unable to parse requirement: <nil>: Invalid value: {}: {}",
            go_quote(k),
            errs.join("; ")
        ))
    }
}

fn check_value(k: &str, v: &str) -> Result<(), String> {
    let errs = meta::label_value_errors(v);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "unable to parse requirement: values[0][{k}]: Invalid value: {}: {}",
            go_quote(v),
            errs.join("; ")
        ))
    }
}

fn requirement(toks: &[Tok], p: &mut usize) -> Result<(String, Op), String> {
    if toks.get(*p) == Some(&Tok::Not) {
        *p += 1;
        let k = ident(toks, p, "identifier after '!'")?;
        check_key(&k)?;
        return Ok((k, Op::NotExists));
    }
    let k = ident(toks, p, "identifier")?;
    check_key(&k)?;
    let op = match toks.get(*p) {
        None | Some(Tok::Comma) => return Ok((k, Op::Exists)),
        Some(t) => t.clone(),
    };
    *p += 1;
    let single = |toks: &[Tok], p: &mut usize| -> Result<String, String> {
        match toks.get(*p) {
            Some(Tok::Id(v)) => {
                *p += 1;
                Ok(v.clone())
            }
            // An empty value (`a=`) is allowed.
            None | Some(Tok::Comma) => Ok(String::new()),
            Some(t) => Err(format!("found '{}', expected: identifier", t.text())),
        }
    };
    match op {
        Tok::Eq | Tok::DoubleEq => {
            let v = single(toks, p)?;
            check_value(&k, &v)?;
            Ok((k, Op::Equals(v)))
        }
        Tok::NotEq => {
            let v = single(toks, p)?;
            check_value(&k, &v)?;
            Ok((k, Op::NotEquals(v)))
        }
        Tok::Gt | Tok::Lt => {
            let v = ident(toks, p, "identifier")?;
            let n: i64 = v.parse().map_err(|_| {
                "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer".to_string()
            })?;
            Ok((k, if op == Tok::Gt { Op::Gt(n) } else { Op::Lt(n) }))
        }
        Tok::In | Tok::NotIn => {
            if toks.get(*p) != Some(&Tok::Open) {
                return Err(format!(
                    "found '{}', expected: '('",
                    toks.get(*p).map(Tok::text).unwrap_or_default()
                ));
            }
            *p += 1;
            let mut vals = Vec::new();
            loop {
                match toks.get(*p) {
                    Some(Tok::Id(v)) => {
                        check_value(&k, v)?;
                        vals.push(v.clone());
                        *p += 1;
                    }
                    Some(Tok::Comma) | Some(Tok::Close) => vals.push(String::new()),
                    Some(t) => {
                        return Err(format!(
                            "found '{}', expected: ',', or identifier",
                            t.text()
                        ))
                    }
                    None => return Err("found '', expected: ')'".into()),
                }
                match toks.get(*p) {
                    Some(Tok::Comma) => *p += 1,
                    Some(Tok::Close) => {
                        *p += 1;
                        break;
                    }
                    Some(t) => return Err(format!("found '{}', expected: ',' or ')'", t.text())),
                    None => return Err("found '', expected: ')'".into()),
                }
            }
            Ok((
                k,
                if op == Tok::In {
                    Op::In(vals)
                } else {
                    Op::NotIn(vals)
                },
            ))
        }
        t => Err(format!(
            "found '{}', expected: =, !=, ==, in, notin",
            t.text()
        )),
    }
}

/// A parsed field selector: `field=value`, `field==value`, `field!=value` terms AND-ed.
#[derive(Debug, Clone, Default)]
pub struct FieldSelector {
    pub terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parses the `fieldSelector` parameter (`\`-escapes in values); the error is the 400
    /// message.
    pub fn parse(s: &str) -> Result<FieldSelector, String> {
        let mut terms = Vec::new();
        if s.is_empty() {
            return Ok(FieldSelector::default());
        }
        for part in split_unescaped(s, ',') {
            let (field, eq, value) = if let Some(i) = find_unescaped(&part, "!=") {
                (&part[..i], false, &part[i + 2..])
            } else if let Some(i) = find_unescaped(&part, "==") {
                (&part[..i], true, &part[i + 2..])
            } else if let Some(i) = find_unescaped(&part, "=") {
                (&part[..i], true, &part[i + 1..])
            } else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                ));
            };
            terms.push((field.trim().to_string(), eq, unescape(value)));
        }
        Ok(FieldSelector { terms })
    }

    /// Whether the object's field values (from `fields`) satisfy every term.
    pub fn matches(&self, fields: &dyn Fn(&str) -> Option<String>) -> bool {
        self.terms.iter().all(|(f, eq, v)| {
            let actual = fields(f).unwrap_or_default();
            (actual == *v) == *eq
        })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut esc = false;
    for c in s.chars() {
        if esc {
            cur.push('\\');
            cur.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

fn find_unescaped(s: &str, pat: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
            continue;
        }
        if s[i..].starts_with(pat) {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut esc = false;
    for c in s.chars() {
        if esc {
            out.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selector_semantics() {
        let l = json!({"app": "x", "tier": "web", "n": "5"});
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&l);
        assert!(m("app=x"));
        assert!(m("app==x,tier"));
        assert!(!m("app!=x"));
        assert!(m("missing!=x"));
        assert!(m("!missing"));
        assert!(!m("!app"));
        assert!(m("tier in (web, db)"));
        assert!(!m("tier notin (web)"));
        assert!(m("missing notin (web)"));
        assert!(m("n>4"));
        assert!(m(""));
        assert!(LabelSelector::parse("a==").is_ok());
        assert!(LabelSelector::parse("=b").is_err());
        assert!(LabelSelector::parse("a in b").is_err());
        assert!(LabelSelector::parse("a b").is_err());
    }

    #[test]
    fn field_selector_parse() {
        let f = FieldSelector::parse("metadata.name=a,spec.nodeName!=n1").unwrap();
        assert_eq!(f.terms.len(), 2);
        assert!(f.matches(&|k| Some(if k == "metadata.name" {
            "a".into()
        } else {
            "n2".into()
        })));
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}
