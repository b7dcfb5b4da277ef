//! Many plugin processes on one store at once: every address is handed out once, the
//! losers get the exhaustion error, and nothing stray is left.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::*;
use serde_json::json;

const N: usize = 64;
const EXHAUSTED: &str =
    "failed to allocate for range 0: no IP addresses available in range set: 10.10.0.1-10.10.0.62";

/// Starts every ADD while the store is locked, so they all contend when it is released.
fn parallel(bins: &[&Path], cmd: &str, store: &Path, stdin: &str) -> Vec<(String, i32, String)> {
    let held = HeldLock::take(store);
    let children: Vec<_> = (0..N)
        .map(|i| {
            let id = format!("ctr-{i:02}");
            let child = spawn(bins[i % bins.len()], cmd, &id, "eth0", stdin);
            (id, child)
        })
        .collect();
    drop(held);
    children
        .into_iter()
        .map(|(id, child)| {
            let (code, out) = finish(child);
            (id, code, out)
        })
        .collect()
}

fn add_then_del(bins: &[&Path]) {
    let data = DataDir::new();
    let store = data.store("mynet");
    let stdin = mynet(&data, json!({"subnet": "10.10.0.0/26"}));

    let runs = parallel(bins, "ADD", &store, &stdin);
    let mut granted: BTreeMap<String, String> = BTreeMap::new();
    let mut failed = 0;
    for (id, code, out) in &runs {
        let v: serde_json::Value =
            serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
        if *code == 0 {
            let ip = v["ips"][0]["address"].as_str().unwrap();
            let ip = ip.strip_suffix("/26").unwrap().to_string();
            assert!(
                granted.insert(ip.clone(), id.clone()).is_none(),
                "{ip} handed out twice"
            );
        } else {
            assert_eq!(v["msg"], EXHAUSTED, "{id}");
            failed += 1;
        }
    }
    assert_eq!(
        granted.len(),
        61,
        "a /26 has 61 addresses besides network, gateway, broadcast"
    );
    assert_eq!(failed, N - 61);
    let all: BTreeSet<String> = (2..=62).map(|i| format!("10.10.0.{i}")).collect();
    assert_eq!(granted.keys().cloned().collect::<BTreeSet<_>>(), all);

    let f = files(&store);
    let mut expected: BTreeSet<String> = granted.keys().cloned().collect();
    expected.insert("lock".into());
    expected.insert("last_reserved_ip.0".into());
    assert_eq!(
        f.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "no stray file"
    );
    for (ip, id) in &granted {
        assert_eq!(f[ip], format!("{id}\r\neth0"), "{ip} holds its owner");
    }

    let dels = parallel(bins, "DEL", &store, &stdin);
    for (id, code, out) in dels {
        assert_eq!((code, out.as_str()), (0, ""), "DEL {id}");
    }
    let left: BTreeSet<String> = files(&store).into_keys().collect();
    assert_eq!(
        left,
        BTreeSet::from(["lock".to_string(), "last_reserved_ip.0".to_string()])
    );
}

#[test]
fn parallel_adds_and_dels_of_ours() {
    add_then_del(&[ours()]);
}

#[test]
fn parallel_adds_and_dels_of_ours_and_go_together() {
    let go = go();
    add_then_del(&[ours(), &go]);
}
