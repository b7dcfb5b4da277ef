//! Small helpers: time stamps, generated name suffixes, Go-style value formatting, URL decoding.

use std::time::SystemTime;

use libcni::json::go_quote;
use serde_json::Value;

/// `t` as RFC 3339 in UTC with whole seconds (`2006-01-02T15:04:05Z`), as `metav1.Time` encodes.
pub use libcni::time::rfc3339;

/// The current time, [`rfc3339`].
pub fn now() -> String {
    rfc3339(SystemTime::now())
}

/// Whether `s` is an RFC 3339 date-time as go-openapi's `strfmt.DateTime` accepts it
/// (`2006-01-02T15:04:05Z`, optional fraction, `Z` or `±hh:mm`; `t`/`z`/space accepted too).
pub fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
    {
        return false;
    }
    if !matches!(b[10], b'T' | b't' | b' ') || !digits(11..13) || b[13] != b':' || !digits(14..16) {
        return false;
    }
    if b[16] != b':' || !digits(17..19) {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', ..] => {
            let r = &s[i + 1..];
            r.len() == 5
                && r.as_bytes()[2] == b':'
                && r[..2]
                    .bytes()
                    .chain(r[3..].bytes())
                    .all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

pub use crate::rng::Rng;

/// `generateName`'s suffix: 5 characters of apimachinery's `utilrand.String` alphabet.
pub fn name_suffix(rng: &mut Rng) -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHA[rng.below(ALPHA.len())] as char)
        .collect()
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`: shortest digits, exponent
/// form below 1e-4 and from 1e6): `1200`, `1.5`, `1e+06`, `2.147483647e+09`, `1e-05`.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Shortest round-trip digits from Rust's `{:e}`, then Go's %v layout.
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    let s = format!("{f}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// Go's `%#v` of a decoded JSON value (`map[string]interface {}{...}` and friends), as field
/// errors print values of types without a simpler form.
pub fn go_sharp_v(v: &Value) -> String {
    fn inner(v: &Value) -> String {
        match v {
            Value::Null => "interface {}(nil)".into(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n
                .as_i64()
                .map(|i| i.to_string())
                .or_else(|| n.as_u64().map(|u| format!("0x{u:x}")))
                .unwrap_or_else(|| go_float(n.as_f64().unwrap_or(0.0))),
            Value::String(s) => go_quote(s),
            Value::Array(a) => format!(
                "[]interface {{}}{{{}}}",
                a.iter().map(inner).collect::<Vec<_>>().join(", ")
            ),
            Value::Object(o) => format!(
                "map[string]interface {{}}{{{}}}",
                o.iter()
                    .map(|(k, v)| format!("{}:{}", go_quote(k), inner(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    inner(v)
}

/// Decodes `%XX` escapes (and `+` as space when `plus` is set, for query strings).
pub fn percent_decode(s: &str, plus: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A URL query string as ordered (key, value) pairs, decoded.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_matches_percent_v() {
        assert_eq!(go_float(1200.0), "1200");
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(2147483647.0), "2.147483647e+09");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(0.00001), "1e-05");
    }

    #[test]
    fn date_time() {
        assert!(is_date_time("2026-08-22T13:33:20Z"));
        assert!(is_date_time("2026-08-22T13:33:20.123+02:00"));
        assert!(!is_date_time("2026-08-22 13:33:20.123456789 +0000 UTC"));
        assert!(!is_date_time("yesterday"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%3Db%2Cc", true), "a=b,c");
        assert_eq!(percent_decode("a+b", true), "a b");
        assert_eq!(percent_decode("100%", false), "100%");
    }
}
