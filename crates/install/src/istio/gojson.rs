//! JSON as Go's `encoding/json` writes a `map[string]any` it decoded: every object's keys
//! sorted, `MarshalIndent` layout, numbers as float64 (`1500`, `1e+21`, precision lost past
//! 2^53), strings HTML-safe escaped (`<` `>` `&` as `\u003c` `\u003e` `\u0026`, U+2028/2029).

use serde_json::Value;

/// `json.MarshalIndent(v, "", indent)` of a value decoded into `any`.
pub fn marshal_indent(v: &Value, indent: &str) -> String {
    let mut out = String::new();
    write(&mut out, v, indent, 0);
    out
}

/// Writes `pairs` as one object in the given order (a Go struct), values Go-marshalled.
pub fn marshal_struct_indent(pairs: &[(&str, Value)], indent: &str) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('\n');
        out.push_str(indent);
        quote(&mut out, k);
        out.push_str(": ");
        write(&mut out, v, indent, 1);
    }
    if !pairs.is_empty() {
        out.push('\n');
    }
    out.push('}');
    out
}

fn newline(out: &mut String, indent: &str, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str(indent);
    }
}

fn write(out: &mut String, v: &Value, indent: &str, depth: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&float(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => quote(out, s),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                write(out, item, indent, depth + 1);
            }
            newline(out, indent, depth);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                quote(out, k);
                out.push_str(": ");
                write(out, &map[k.as_str()], indent, depth + 1);
            }
            newline(out, indent, depth);
            out.push('}');
        }
    }
}

/// Go's `encodeState.string` with HTML escaping on: libcni's Go-compatible encoder.
fn quote(out: &mut String, s: &str) {
    out.push_str(&libcni::json::to_compact(s));
}

/// Go's float64 encoding (`strconv.AppendFloat(f, 'f' or 'e', -1, 64)` with its cleanup).
fn float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Shortest round-trip mantissa, then Go's exponent: at least two digits, signed,
        // except that e-0X is shortened to e-X.
        let s = format!("{f:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        let digits = exp.unsigned_abs();
        if sign == '-' && digits < 10 {
            return format!("{mant}e-{digits}");
        }
        return format!("{mant}e{sign}{digits:02}");
    }
    // Shortest round-trip decimal without exponent.
    let s = format!("{f}");
    if s == "-0" {
        return "-0".into();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_go_marshal_indent() {
        let v: Value = serde_json::from_str(
            r#"{"b":1500,"a":{"z":[],"y":{}},"c":[1,"x<y&z>",true,null],"big":12345678901234567890,"e":1e21,"s":1e-7,"f":0.5}"#,
        )
        .unwrap();
        assert_eq!(
            marshal_indent(&v, "  "),
            "{\n  \"a\": {\n    \"y\": {},\n    \"z\": []\n  },\n  \"b\": 1500,\n  \"big\": 12345678901234567000,\n  \"c\": [\n    1,\n    \"x\\u003cy\\u0026z\\u003e\",\n    true,\n    null\n  ],\n  \"e\": 1e+21,\n  \"f\": 0.5,\n  \"s\": 1e-7\n}"
        );
        assert_eq!(float(1e-10), "1e-10");
        assert_eq!(float(123456789.0), "123456789");
        assert_eq!(float(-2.5), "-2.5");
    }

    #[test]
    fn struct_order_is_kept() {
        let out = marshal_struct_indent(&[("z", json!(1)), ("a", json!({"d": {}, "c": 2}))], "  ");
        assert_eq!(
            out,
            "{\n  \"z\": 1,\n  \"a\": {\n    \"c\": 2,\n    \"d\": {}\n  }\n}"
        );
    }
}
