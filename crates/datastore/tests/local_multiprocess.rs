//! The local store shared by many processes, as many plugin invocations share it: child
//! processes (this test binary re-run on its `#[ignore]`d child entry point) increment one key
//! with compare-and-swap loops and race to create keys.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use datastore::{retry_on_conflict, Kv, LocalStore};

const CHILDREN: usize = 8;
const INCREMENTS: usize = 40;
const RACE_KEYS: usize = 20;

#[test]
fn processes_share_the_store_without_losing_writes() {
    let dir = tempfile::Builder::new()
        .prefix("cnitest-datastore-mp-")
        .tempdir()
        .unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    store.create("/mp/counter", b"0").unwrap();
    let before = store.revision().unwrap();

    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..CHILDREN)
        .map(|id| {
            Command::new(&exe)
                .args([
                    "--ignored",
                    "--exact",
                    "child_process",
                    "--test-threads",
                    "1",
                ])
                .env("DATASTORE_TEST_DIR", dir.path())
                .env("DATASTORE_TEST_CHILD", id.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "child failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "the child entry point ran: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    let counter = store.get("/mp/counter").unwrap().unwrap();
    assert_eq!(
        String::from_utf8(counter.value).unwrap(),
        (CHILDREN * INCREMENTS).to_string(),
        "every increment landed exactly once"
    );
    for k in 0..RACE_KEYS {
        let winner = store.get(&format!("/mp/race/{k}")).unwrap().unwrap();
        let winner = String::from_utf8(winner.value).unwrap();
        let claims = store.list(&format!("/mp/won/{k}/")).unwrap();
        assert_eq!(
            claims.len(),
            1,
            "key {k}: exactly one process won the create"
        );
        assert_eq!(claims[0].key, format!("/mp/won/{k}/{winner}"));
    }
    // Each successful write took one revision: increments + race creates + win records.
    let writes = CHILDREN * INCREMENTS + 2 * RACE_KEYS;
    assert_eq!(store.revision().unwrap(), before + writes as i64);
}

/// The child side; run only by the test above (it needs the environment it sets).
#[test]
#[ignore = "child process of processes_share_the_store_without_losing_writes"]
fn child_process() {
    let dir = std::env::var("DATASTORE_TEST_DIR").expect("run by the parent test");
    let id = std::env::var("DATASTORE_TEST_CHILD").unwrap();
    let store = LocalStore::open(Path::new(&dir)).unwrap();
    for _ in 0..INCREMENTS {
        retry_on_conflict(100_000, |_| {
            let cur = store.get("/mp/counter")?.unwrap();
            let n: usize = String::from_utf8_lossy(&cur.value).parse().unwrap();
            store.update("/mp/counter", (n + 1).to_string().as_bytes(), cur.revision)
        })
        .unwrap();
    }
    for k in 0..RACE_KEYS {
        match store.create(&format!("/mp/race/{k}"), id.as_bytes()) {
            Ok(_) => {
                store.create(&format!("/mp/won/{k}/{id}"), b"").unwrap();
            }
            Err(e) if e.is_already_exists() => {}
            Err(e) => panic!("{e}"),
        }
    }
}

/// A writer killed with SIGKILL at an arbitrary point leaves a consistent store: every key
/// readable, the revision counter ahead of every stored revision, no half-written value, and
/// the next writer carries on.
#[test]
fn a_killed_writer_leaves_a_consistent_store() {
    let dir = tempfile::Builder::new()
        .prefix("cnitest-datastore-kill-")
        .tempdir()
        .unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let exe = std::env::current_exe().unwrap();
    for round in 0..3 {
        let start = store.revision().unwrap();
        let mut cmd = Command::new(&exe);
        cmd.args([
            "--ignored",
            "--exact",
            "writer_process",
            "--test-threads",
            "1",
        ])
        .env("DATASTORE_TEST_DIR", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: prctl only sets the child's parent-death signal: if this test panics before
        // killing the writer, the writer dies with it.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        // Let it get well into its loop (whenever that is), then kill it mid-flight.
        while store.revision().unwrap() < start + 50 + 17 * round {
            std::thread::yield_now();
        }
        child.kill().unwrap();
        child.wait().unwrap();

        let revision = store.revision().unwrap();
        let pairs = store.list("").unwrap();
        assert!(!pairs.is_empty());
        for p in &pairs {
            assert!(
                p.revision <= revision,
                "{p:?} is ahead of the counter {revision}"
            );
            assert!(
                p.value.starts_with(b"{\"n\":") && p.value.ends_with(b"}"),
                "a whole value: {p:?}"
            );
            assert_eq!(store.get(&p.key).unwrap().as_ref(), Some(p));
        }
        let next = store.put("/kill/after", b"{\"n\":0}").unwrap();
        assert!(next > revision);
    }
}

#[test]
#[ignore = "child process of a_killed_writer_leaves_a_consistent_store"]
fn writer_process() {
    let dir = std::env::var("DATASTORE_TEST_DIR").expect("run by the parent test");
    let store = LocalStore::open(Path::new(&dir)).unwrap();
    for n in 0..1_000_000usize {
        let key = format!("/kill/k{}/v{}", n % 7, n % 13);
        let value = format!("{{\"n\":{n},\"pad\":\"{}\"}}", "x".repeat(n % 4096));
        match n % 3 {
            0 => {
                store.put(&key, value.as_bytes()).unwrap();
            }
            1 => {
                let _ = store.delete(&key, None);
            }
            _ => {
                if let Some(cur) = store.get(&key).unwrap() {
                    store.update(&key, value.as_bytes(), cur.revision).unwrap();
                }
            }
        }
    }
}
