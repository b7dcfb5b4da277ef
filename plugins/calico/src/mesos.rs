//! Mesos network labels (`args.org.apache.mesos.network_info.labels.labels`), sanitised into
//! valid endpoint labels as Calico does (`SanitizeMesosLabel`).

use serde_json::Value;

pub const NAMESPACE_KEY: &str = "projectcalico.org/namespace";

/// `/` becomes `.`, runs of `.` collapse, characters outside `[-A-Za-z0-9_.]` become `-`, and
/// anything non-alphanumeric is trimmed from both ends.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if c == '/' { '.' } else { c };
        if c == '.' && out.ends_with('.') {
            continue;
        }
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
            out.push(c);
        } else {
            out.push('-');
        }
    }
    out.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// The (raw key, value) pairs of the Mesos labels in a NetConf's `args`.
pub fn labels(args: Option<&Value>) -> Vec<(String, String)> {
    let list = args
        .and_then(|a| a.pointer("/org.apache.mesos/network_info/labels/labels"))
        .and_then(Value::as_array);
    list.map(|l| {
        l.iter()
            .map(|e| {
                let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                (s("key"), s("value"))
            })
            .collect()
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitiser_table() {
        for (i, o) in [
            ("k", "k"),
            ("-my-val", "my-val"),
            ("$my..val", "my.val"),
            ("m$y.val", "m-y.val"),
            ("//my/val/", "my.val"),
            (
                "some_val-with.lots*of^weird#characters",
                "some_val-with.lots-of-weird-characters",
            ),
            ("/a/b/c", "a.b.c"),
        ] {
            assert_eq!(sanitize(i), o, "{i}");
        }
    }
}
