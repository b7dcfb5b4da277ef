//! Reading manifests: JSON or YAML, one or many documents, `kind: List` with `items`, as
//! calicoctl accepts them.

use std::io::Read;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;

/// The most a manifest may hold: far above any real one (thousands of resources), and a
/// `-f` naming something endless (`/dev/zero`) fails at once instead of eating memory.
const MANIFEST_LIMIT: u64 = 64 << 20;

pub fn read(path: &str) -> Result<Vec<Value>> {
    let bytes = if path == "-" {
        let mut b = Vec::new();
        // One byte past the limit tells a manifest of exactly the limit from a longer one.
        std::io::stdin()
            .take(MANIFEST_LIMIT + 1)
            .read_to_end(&mut b)?;
        if b.len() as u64 > MANIFEST_LIMIT {
            bail!("cannot read -: manifest too large (over {MANIFEST_LIMIT} bytes)");
        }
        b
    } else {
        libcni::fs::read_bounded(std::path::Path::new(path), MANIFEST_LIMIT)
            .with_context(|| format!("cannot read {path}"))?
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow!("cannot read {path}: stream did not contain valid UTF-8"))?;
    parse(&text)
}

pub fn parse(text: &str) -> Result<Vec<Value>> {
    let trimmed = text.trim_start();
    let docs: Vec<Value> = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        // JSON: one object, or an array of objects.
        match serde_json::from_str::<Value>(text).context("failed to parse JSON")? {
            Value::Array(items) => items,
            v => vec![v],
        }
    } else {
        let mut out = Vec::new();
        for doc in serde_norway::Deserializer::from_str(text) {
            let v = Value::deserialize(doc).context("failed to parse YAML")?;
            if !v.is_null() {
                out.push(v);
            }
        }
        out
    };
    let mut flat = Vec::new();
    for d in docs {
        match d.get("kind").and_then(Value::as_str) {
            Some(k) if k.ends_with("List") => {
                if let Some(items) = d.get("items").and_then(Value::as_array) {
                    flat.extend(items.iter().cloned());
                }
            }
            _ => flat.push(d),
        }
    }
    Ok(flat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_multi_doc_json_and_lists() {
        let y = "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p1\nspec:\n  cidr: 10.0.0.0/16\n---\nkind: IPPool\nmetadata: {name: p2}\nspec: {cidr: 10.1.0.0/16}\n";
        let docs = parse(y).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["metadata"]["name"], "p2");
        let j = r#"{"kind":"IPPoolList","items":[{"kind":"IPPool","metadata":{"name":"a"}}]}"#;
        assert_eq!(parse(j).unwrap()[0]["metadata"]["name"], "a");
    }
}
