//! etcd killed in the middle of a run of concurrent ADDs and restarted: failed ADDs are CNI
//! errors (11 while etcd is down), and after the runtime's DELs nothing is left allocated.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;

#[test]
fn etcd_killed_mid_run() {
    let mut b = common::Backend::etcd();
    b.pool("p", "10.0.0.0/16", |_| {});
    for n in 0..16 {
        b.node(&format!("node{n}"), &[]);
    }
    let mut etcd = b.etcd.take().unwrap();
    // Its own node (own host lock): not queued behind in-flight ADDs, so it fails within the
    // request deadline.
    b.node("node-down", &[]);
    let down = b.conf("1.0.0", "node-down", json!({}));
    let n = 96;
    let conf = |i: usize| b.conf("1.0.0", &format!("node{}", i % 16), json!({}));
    let outcomes = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..32 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let r = b.run("ADD", &format!("c{i}"), "", &conf(i));
                outcomes.lock().unwrap().push(r);
            });
        }
        std::thread::sleep(Duration::from_millis(300));
        etcd.kill();
        // While etcd is down, an ADD is "try again later".
        for i in 0..2 {
            let r = b.run("ADD", &format!("down{i}"), "", &down);
            assert!(!r.success());
            assert_eq!(r.json()["code"], 11, "{}", r.stdout);
        }
        etcd.restart();
    });
    let outcomes = outcomes.into_inner().unwrap();
    assert_eq!(outcomes.len(), n);
    for r in &outcomes {
        if !r.success() {
            // A CNI error, never a crash or garbage.
            let e = r.json();
            assert!(
                e["code"].as_u64().is_some() && e["msg"].as_str().is_some(),
                "{}",
                r.stdout
            );
        }
    }
    // The runtime DELs every container, failed ADDs included.
    for i in 0..n {
        b.del(&format!("c{i}"), &conf(i));
    }
    for i in 0..2 {
        b.del(&format!("down{i}"), &down);
    }
    assert!(b.allocations().is_empty(), "{:?}", b.allocations());
    assert!(b.handles().is_empty(), "{:?}", b.handles());
    b.etcd = Some(etcd);
}
