//! The local datastore in end-to-end tests: an IP pool put there as an operator would (with
//! calicoctl), and its files read directly (crates/datastore's layout: one
//! `<mod revision>\n<key>\n<value>` file per key, named `<last segment>.kv`), so tests can see
//! what the plugins stored without going through the code under test.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Applies an IPPool `name` of `cidr` (blocks of /26, every node) to the local datastore at
/// `datastore` with the workspace's calicoctl.
pub fn add_ip_pool(datastore: &Path, name: &str, cidr: &str) {
    let manifest = format!(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: {name}\n\
         spec:\n  cidr: {cidr}\n  blockSize: 26\n  nodeSelector: all()\n"
    );
    let mut child = Command::new(crate::workspace_bin("calicoctl"))
        .args(["apply", "-f", "-"])
        .env("DATASTORE_TYPE", "local")
        .env("DATASTORE_PATH", datastore)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run calicoctl: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(manifest.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    crate::show_output("calicoctl apply", &out);
    assert!(out.status.success(), "calicoctl apply of IPPool {name}");
}

/// Every `*.kv` file under `dir`, recursively; none when `dir` does not exist.
pub fn kv_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(kv_files(&p));
            } else if p.extension().is_some_and(|x| x == "kv") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The key and the JSON value stored in a `*.kv` file; panics if it is not one.
pub fn kv_entry(file: &Path) -> (String, serde_json::Value) {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let mut parts = text.splitn(3, '\n');
    let (Some(_revision), Some(key), Some(value)) = (parts.next(), parts.next(), parts.next())
    else {
        panic!("{} is not a local store file: {text:?}", file.display());
    };
    let value = serde_json::from_str(value)
        .unwrap_or_else(|e| panic!("{}: value is not JSON ({e}): {value}", file.display()));
    (key.to_string(), value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_kv_files_and_reads_them() {
        let dir = crate::temp_dir();
        let nested = dir.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(nested.join("k.kv"), "7\n/a/b/k\n{\"x\":1}").unwrap();
        std::fs::write(dir.path().join("lock"), "").unwrap();
        let files = kv_files(dir.path());
        assert_eq!(files, [nested.join("k.kv")]);
        let (key, value) = kv_entry(&files[0]);
        assert_eq!(key, "/a/b/k");
        assert_eq!(value["x"], 1);
        assert!(kv_files(&dir.path().join("missing")).is_empty());
    }
}
