//! Seeded random mutation of plugin configs, for fuzzing each plugin's config parser through
//! its binary: a fixed number of cases from a fixed seed in CI (`FUZZ_CASES` and `FUZZ_SEED`
//! in the environment run more, or others), every failure reproducible from its case number.
//!
//! [`mutate`] takes a valid config and applies one to three changes to its JSON tree (a value
//! of another type, a dropped member or element, a duplicated key, a huge or odd number, odd
//! Unicode appended to a string, a string replaced, a value nested thousands of levels deep),
//! then sometimes one to its text (cut short, or an invalid UTF-8 byte). [`check`] says
//! whether a run behaved: it ended on its own (no timeout, no signal), with exit code 0 or
//! 1, without a panic, and printed either a result (ADD) or nothing (other verbs) on success,
//! or a CNI error `{code, msg[, details]}` on failure.
//!
//! Strings are only ever appended to or replaced by names without `/`, and text mutations
//! never edit inside a string: so a path in the base config (keep them one level inside a
//! scratch directory) can only turn into a sibling inside that directory, or a relative name
//! (run the plugin in a scratch working directory: [`crate::Invocation::current_dir`]).

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::{Invocation, PluginRun};

pub use crate::rng::Rng;

/// How many cases to run: `FUZZ_CASES`, else `default`.
pub fn cases(default: usize) -> usize {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The seed of case `case` of a test: from `FUZZ_SEED` (default 0x15), the test's name and
/// the case number, so each case can be rerun alone.
pub fn seed(test: &str, case: usize) -> u64 {
    let base: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x15);
    test.bytes()
        .fold(base ^ 0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
        .wrapping_add(case as u64)
}

/// Replaced after serialization by a deeply nested value (a deep `Value` would overflow the
/// test's own stack when dropped or printed).
const DEEP: &str = "\u{1}deep\u{1}";
/// A key starting with this is printed as the rest of it: a duplicate of that key.
const DUP: &str = "\u{1}dup\u{1}";

const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "-0",
    "0.5",
    "1e308",
    "-1e308",
    "1e-300",
    "4294967296",
    "65536",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "123456789012345678901234567890",
];

const ODD: &[&str] = &[
    "\u{0}",
    "\u{202e}",
    "\u{feff}",
    "\u{fffd}",
    "\u{1f600}",
    "\u{301}",
    "\t\n\r",
    " ",
    "%00",
    "\\",
    "\"",
    "IFNAME",
];

/// Replacement strings: never a `/` (see the module docs).
const STRINGS: &[&str] = &[
    "",
    " ",
    "a",
    "0",
    "-1",
    "true",
    "null",
    "eth0",
    "lo",
    "IFNAME",
    "::",
    "0.0.0.0",
    "10.0.0.1",
    "10.0.0.1/33",
    "fe80::1%eth0",
    "2001:db8::1/64",
    "00:11:22:33:44:55",
    "tcp",
    "nftables",
    "iptables",
    "local",
    "etcdv3",
    "kubernetes",
    "calico-ipam",
    "host-local",
    "1.0.0",
    "0.1.0",
    "9.9.9",
    "\u{0}",
    "\u{1f600}\u{202e}",
];

/// A mutated copy of `base`, as the bytes a plugin gets on stdin.
pub fn mutate(rng: &mut Rng, base: &Value) -> Vec<u8> {
    let mut v = base.clone();
    for _ in 0..1 + rng.below(3) {
        mutate_tree(rng, &mut v);
    }
    let mut text = serde_json::to_string(&v).expect("a Value serializes");
    text = text.replace(
        &serde_json::to_string(DEEP).unwrap(),
        &deep(*rng.pick(&[200, 2000, 20000])),
    );
    text = text.replace(&format!("\"{}", json_escape(DUP)), "\"");
    let mut bytes = text.into_bytes();
    match rng.below(12) {
        0 => bytes.truncate(rng.below(bytes.len() + 1)),
        1 => {
            let at = token_boundary(rng, &bytes);
            bytes.insert(at, 0xff);
        }
        _ => {}
    }
    bytes
}

fn json_escape(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap();
    quoted[1..quoted.len() - 1].to_string()
}

/// `[[[...[1]...]]]`, `n` levels.
fn deep(n: usize) -> String {
    format!("{}1{}", "[".repeat(n), "]".repeat(n))
}

/// A position in `text` outside any string literal.
fn token_boundary(rng: &mut Rng, text: &[u8]) -> usize {
    let mut outside = vec![0];
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in text.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else {
            outside.push(i + 1);
        }
    }
    *rng.pick(&outside)
}

/// Every value in the tree, by its path of member names and indices.
fn paths(v: &Value, at: &mut Vec<PathPart>, out: &mut Vec<Vec<PathPart>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for k in m.keys() {
                at.push(PathPart::Key(k.clone()));
                paths(&m[k], at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, e) in a.iter().enumerate() {
                at.push(PathPart::Index(i));
                paths(e, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum PathPart {
    Key(String),
    Index(usize),
}

fn at_path<'a>(v: &'a mut Value, path: &[PathPart]) -> &'a mut Value {
    path.iter().fold(v, |v, p| match p {
        PathPart::Key(k) => &mut v[k.as_str()],
        PathPart::Index(i) => &mut v[*i],
    })
}

fn mutate_tree(rng: &mut Rng, root: &mut Value) {
    let mut all = Vec::new();
    paths(root, &mut Vec::new(), &mut all);
    let path = rng.pick(&all).clone();
    let target = at_path(root, &path);
    match rng.below(8) {
        // Another type.
        0 => *target = random_value(rng, target),
        // Drop a member or an element (the node itself if it has none).
        1 => match target {
            Value::Object(m) if !m.is_empty() => {
                let k = m.keys().nth(rng.below(m.len())).unwrap().clone();
                m.remove(&k);
            }
            Value::Array(a) if !a.is_empty() => {
                a.remove(rng.below(a.len()));
            }
            other => *other = Value::Null,
        },
        // Duplicate a key, with another value.
        2 => {
            if let Value::Object(m) = target {
                if let Some(k) = m.keys().nth(rng.below(m.len().max(1))).cloned() {
                    let other = random_value(rng, &m[&k]);
                    m.insert(format!("{DUP}{k}"), other);
                }
            }
        }
        // A number at the edges.
        3 => {
            *target = serde_json::from_str(rng.pick_str(NUMBERS)).unwrap_or(Value::Null);
        }
        // Odd Unicode appended to a string, or a very long one.
        4 => {
            if let Value::String(s) = target {
                if rng.below(8) == 0 {
                    s.push_str(&"a".repeat(70_000));
                } else {
                    s.push_str(rng.pick_str(ODD));
                }
            }
        }
        // A string replaced.
        5 => *target = Value::String(rng.pick_str(STRINGS).to_string()),
        // Deep nesting.
        6 => *target = Value::String(DEEP.into()),
        // An element duplicated, or an unknown member added.
        _ => match target {
            Value::Array(a) if !a.is_empty() => {
                let e = a[rng.below(a.len())].clone();
                a.push(e);
            }
            Value::Object(m) => {
                m.insert(
                    rng.pick_str(STRINGS).to_string(),
                    json!({"x": [1, "2", null]}),
                );
            }
            _ => {}
        },
    }
}

/// A value of another type than `was`.
fn random_value(rng: &mut Rng, was: &Value) -> Value {
    loop {
        let v = match rng.below(6) {
            0 => Value::Null,
            1 => Value::Bool(rng.below(2) == 0),
            2 => serde_json::from_str(rng.pick_str(NUMBERS)).unwrap_or(Value::Null),
            3 => Value::String(rng.pick_str(STRINGS).to_string()),
            4 => json!([rng.pick_str(STRINGS), 1]),
            _ => Value::Object(Map::new()),
        };
        if std::mem::discriminant(&v) != std::mem::discriminant(was) {
            return v;
        }
    }
}

/// `inv` as a fuzz case runs it: `stdin` the case's config, in the scratch directory `work`
/// (where the relative paths a mutation makes land), within `timeout` and 1 GiB of memory, so
/// that a plugin that hangs or balloons fails its case instead of the machine.
pub fn guarded(inv: Invocation, stdin: &[u8], work: &Path, timeout: Duration) -> Invocation {
    inv.stdin(stdin.to_vec())
        .current_dir(work)
        .timeout(timeout)
        .memory_limit(1 << 30)
}

/// Runs `default_cases` cases (or `FUZZ_CASES`) through `run`, once per verb of `verbs`: the
/// first ones are `bases` themselves, the rest mutations of them in turn. Panics listing every
/// case that misbehaved ([`check`]), each with what to rerun it alone.
pub fn run_cases(
    test: &str,
    default_cases: usize,
    bases: &[Value],
    verbs: &[&str],
    mut run: impl FnMut(&str, &[u8]) -> PluginRun,
) {
    let n = cases(default_cases);
    let mut failures = Vec::new();
    // verb → (succeeded, failed with a CNI error)
    let mut outcomes: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    for case in 0..n {
        let base = &bases[case % bases.len()];
        let stdin = if case < bases.len() {
            serde_json::to_vec(base).expect("a Value serializes")
        } else {
            mutate(&mut Rng::new(seed(test, case)), base)
        };
        for verb in verbs {
            let r = run(verb, &stdin);
            let o = outcomes.entry(verb).or_default();
            match r.code {
                0 => o.0 += 1,
                _ => o.1 += 1,
            }
            if let Err(e) = check(verb, &r) {
                let shown: String = String::from_utf8_lossy(&stdin).chars().take(600).collect();
                failures.push(format!(
                    "case {case}, {verb}: {e}
stdin: {shown}
{r}"
                ));
            }
        }
    }
    eprintln!("{test}: {n} cases; per verb (succeeded, failed): {outcomes:?}");
    assert!(
        failures.is_empty(),
        "{test}: {} failures in {n} cases (seed {:#x}; FUZZ_SEED and FUZZ_CASES rerun them):\n{}",
        failures.len(),
        seed(test, 0),
        failures.join("\n---\n")
    );
}

/// Whether a run of `cmd` behaved (see the module docs); `Err` says how it did not.
pub fn check(cmd: &str, run: &PluginRun) -> Result<(), String> {
    if run.timed_out {
        return Err("hung (killed at the timeout)".into());
    }
    if run.stderr.contains("panicked") {
        return Err("panicked".into());
    }
    match run.code {
        0 => {
            if cmd == "ADD" {
                let v: Value = serde_json::from_str(&run.stdout)
                    .map_err(|e| format!("success with stdout that is not JSON: {e}"))?;
                if !v.get("cniVersion").is_some_and(Value::is_string) {
                    return Err("ADD result without a cniVersion".into());
                }
            } else if !run.stdout.is_empty() {
                return Err(format!("{cmd} succeeded with output"));
            }
            Ok(())
        }
        1 => {
            let v: Value = serde_json::from_str(&run.stdout)
                .map_err(|e| format!("error with stdout that is not JSON: {e}"))?;
            let obj = v.as_object().ok_or("the error is not an object")?;
            if !obj.get("code").is_some_and(Value::is_u64) {
                return Err("error without a numeric code".into());
            }
            if !obj.get("msg").is_some_and(Value::is_string) {
                return Err("error without a msg".into());
            }
            if obj.get("details").is_some_and(|d| !d.is_string()) {
                return Err("error details that are not a string".into());
            }
            if let Some(k) = obj
                .keys()
                .find(|k| !["code", "msg", "details"].contains(&k.as_str()))
            {
                return Err(format!("error with an unexpected key {k:?}"));
            }
            Ok(())
        }
        other => Err(format!("exit code {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_seeded_and_varied() {
        let base = json!({"cniVersion": "1.0.0", "name": "n", "ipam": {"dataDir": "/tmp/x/data",
                          "ranges": [[{"subnet": "10.0.0.0/24"}]]}});
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..200)
                .map(|_| mutate(&mut rng, &base))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7), "same seed, same cases");
        let cases = run(7);
        let distinct: std::collections::HashSet<_> = cases.iter().collect();
        assert!(distinct.len() > 150, "{}", distinct.len());
        let invalid = cases
            .iter()
            .filter(|c| serde_json::from_slice::<Value>(c).is_err())
            .count();
        assert!(
            invalid > 10 && invalid < 150,
            "{invalid} of 200 do not parse"
        );
        // Paths only grow or lose their meaning; never a new '/'.
        for c in cases
            .iter()
            .filter(|c| serde_json::from_slice::<Value>(c).is_ok())
        {
            let text = String::from_utf8_lossy(c);
            for (i, _) in text.match_indices("/tmp/") {
                assert!(text[i..].starts_with("/tmp/x/data"), "{text}");
            }
        }
        // Duplicate keys and deep nesting come out as text.
        assert!(cases
            .iter()
            .any(|c| String::from_utf8_lossy(c).contains("[[[[[[[[[[")));
        assert!(cases.iter().any(|c| {
            let t = String::from_utf8_lossy(c);
            t.matches("\"name\"").count() > 1 || t.matches("\"ipam\"").count() > 1
        }));
    }

    #[test]
    fn check_accepts_results_and_errors_only() {
        let run = |code, stdout: &str, stderr: &str| PluginRun {
            code,
            stdout: stdout.into(),
            stderr: stderr.into(),
            timed_out: false,
        };
        assert!(check("ADD", &run(0, r#"{"cniVersion":"1.0.0"}"#, "")).is_ok());
        assert!(check("DEL", &run(0, "", "")).is_ok());
        assert!(check("ADD", &run(1, r#"{"code":7,"msg":"m","details":"d"}"#, "")).is_ok());
        assert!(check("ADD", &run(0, "", "")).is_err());
        assert!(check("DEL", &run(0, "{}", "")).is_err());
        assert!(check("ADD", &run(1, r#"{"code":"7","msg":"m"}"#, "")).is_err());
        assert!(check("ADD", &run(1, r#"{"code":7}"#, "")).is_err());
        assert!(check("ADD", &run(1, r#"{"code":7,"msg":"m","x":1}"#, "")).is_err());
        assert!(check("ADD", &run(2, "", "")).is_err());
        assert!(check("ADD", &run(134, "", "")).is_err());
        assert!(check(
            "ADD",
            &run(
                1,
                r#"{"code":999,"msg":"plugin panicked: x"}"#,
                "plugin panicked: x"
            )
        )
        .is_err());
        let mut hung = run(137, "", "");
        hung.timed_out = true;
        assert!(check("ADD", &hung).is_err());
    }
}
