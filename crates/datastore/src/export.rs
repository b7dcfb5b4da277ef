//! Dumping and loading a whole store (or one prefix), e.g. to move a node's local store into
//! an etcd cluster, or to inspect it. One JSON object per line:
//! `{"key":"/calico/...","revision":7,"value":"{...}"}` (values are Calico's JSON text).

use serde::{Deserialize, Serialize};

use crate::error::{DatastoreError, Result};
use crate::kv::{Kv, KvPair};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Line {
    key: String,
    revision: i64,
    value: String,
}

/// Every pair under `prefix` ("" for all) as JSON lines, sorted by key.
pub fn export(kv: &dyn Kv, prefix: &str) -> Result<String> {
    let mut out = String::new();
    for pair in kv.list(prefix)? {
        let value = String::from_utf8(pair.value).map_err(|_| DatastoreError::InvalidKey {
            key: pair.key.clone(),
            reason: "its value is not UTF-8 text and cannot be exported",
        })?;
        let line = Line {
            key: pair.key,
            revision: pair.revision,
            value,
        };
        out.push_str(&serde_json::to_string(&line).unwrap_or_default());
        out.push('\n');
    }
    Ok(out)
}

/// Parses an export.
pub fn parse_export(text: &str) -> Result<Vec<KvPair>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let line: Line = serde_json::from_str(l).map_err(|source| DatastoreError::Decode {
                key: "<export line>".into(),
                source,
            })?;
            Ok(KvPair {
                key: line.key,
                value: line.value.into_bytes(),
                revision: line.revision,
            })
        })
        .collect()
}

/// Writes exported pairs into `kv` (new revisions are the target's). Existing keys are
/// replaced when `overwrite`, left alone otherwise. Returns how many keys were written.
pub fn import(kv: &dyn Kv, pairs: &[KvPair], overwrite: bool) -> Result<usize> {
    let mut written = 0;
    for p in pairs {
        let result = if overwrite {
            kv.put(&p.key, &p.value).map(|_| ())
        } else {
            kv.create(&p.key, &p.value).map(|_| ())
        };
        match result {
            Ok(()) => written += 1,
            Err(DatastoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}
