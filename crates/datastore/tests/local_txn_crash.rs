//! A local-store transaction killed (SIGKILL) at every system call that changes the store:
//! whoever opens the store next sees all of the transaction or none of it, never part.
//!
//! The transaction (create one key, update one, delete one) runs in a child process (this test
//! binary re-run on its `#[ignore]`d entry point) under strace, first uninterrupted to list its
//! calls, then once per call, killed as it enters that call (`testkit::crash`).

use std::path::Path;

use datastore::batch::{Read, Write};
use datastore::{Kv, LocalStore};
use testkit::crash::{self, Call};
use testkit::Invocation;

const NEW: &str = "/t/new";
const UPD: &str = "/t/upd";
const DEL: &str = "/t/del";

/// Every call that writes, renames, removes, syncs or creates.
const SYSCALLS: &[&str] = &[
    "openat",
    "write",
    "pwrite64",
    "rename",
    "unlink",
    "mkdir",
    "fsync",
    "fdatasync",
    "sync_file_range",
];

fn setup(dir: &Path) {
    let store = LocalStore::open(dir).unwrap();
    store.create(UPD, b"u1").unwrap();
    store.create(DEL, b"d").unwrap();
}

/// (new, upd, del) values as a reader sees them.
fn state(store: &LocalStore) -> [Option<Vec<u8>>; 3] {
    let got = store
        .read_many(&[
            Read::Key(NEW.into()),
            Read::Key(UPD.into()),
            Read::Key(DEL.into()),
        ])
        .unwrap();
    let one = |i: usize| got[i].first().map(|p| p.value.clone());
    [one(0), one(1), one(2)]
}

/// This test binary, running only the child entry point on the store in `dir`.
fn child(dir: &Path) -> Invocation {
    ["--ignored", "--exact", "txn_child", "--test-threads", "1"]
        .iter()
        .fold(
            Invocation::new(std::env::current_exe().unwrap()),
            |inv, a| inv.arg(a),
        )
        .env("DATASTORE_TEST_DIR", dir)
        .env("DATASTORE_TXN_CHILD", "1")
        // cargo's library path sends the loader through dozens of openat calls at start.
        .unset("LD_LIBRARY_PATH")
}

#[test]
fn a_killed_transaction_is_all_or_nothing() {
    testkit::require_root();
    let old = [None, Some(b"u1".to_vec()), Some(b"d".to_vec())];
    let new = [Some(b"n".to_vec()), Some(b"u2".to_vec()), None];

    let base = testkit::temp_dir();
    let traced = base.path().join("traced");
    setup(&traced);
    let (run, calls) = crash::trace(&child(&traced), SYSCALLS);
    assert!(run.stdout.contains("1 passed"), "{run}");
    assert_eq!(state(&LocalStore::open(&traced).unwrap()), new);

    // The thread that ran the transaction: the one that renamed. Its calls from its first
    // touch of the store's files on are the crash points.
    let tid = calls
        .iter()
        .find(|c| c.syscall == "rename")
        .map(|c| c.tid)
        .expect("the transaction renames");
    let points: Vec<&Call> = calls
        .iter()
        .filter(|c| c.tid == tid && !c.args.contains("/dev/null"))
        .filter(|c| c.syscall != "openat" || c.args.contains("O_CREAT"))
        .collect();
    let mut killed = 0;
    let mut saw = (false, false);
    for (i, call) in points.iter().enumerate() {
        let point = call.point();
        assert!(
            point.reachable(&calls, tid),
            "another thread makes {point} first: {calls:#?}"
        );
        let dir = base.path().join(format!("p{i}"));
        setup(&dir);
        let run = point.run(&child(&dir));
        assert_eq!(
            run.code, 137,
            "not killed at {point} ({}): {run}",
            call.args
        );
        killed += 1;
        let store = LocalStore::open(&dir).unwrap();
        // A lone get first (no lock on its common path), then a snapshot read.
        let upd = store.get(UPD).unwrap().map(|p| p.value);
        let seen = state(&store);
        assert!(
            seen == old || seen == new,
            "killed at {point} ({}): a reader sees part of the transaction: {seen:?}",
            call.args
        );
        assert_eq!(upd, seen[1], "killed at {point}");
        saw.0 |= seen == old;
        saw.1 |= seen == new;
        assert!(
            !dir.join("journal").exists(),
            "the reader finished the journal"
        );
        // The store goes on: the next revision is above every stored one.
        let newest = store
            .list("/")
            .unwrap()
            .iter()
            .map(|p| p.revision)
            .max()
            .unwrap();
        let rev = store.put("/t/after", b"x").unwrap();
        assert!(rev > newest, "killed at {point}: revision {rev} reused");
    }
    assert!(killed >= 20, "only {killed} crash points: {calls:#?}");
    assert!(saw.0 && saw.1, "both outcomes happen: {saw:?}");
}

/// The child: one transaction on the store in `DATASTORE_TEST_DIR`.
#[test]
#[ignore = "run by a_killed_transaction_is_all_or_nothing in a child process"]
fn txn_child() {
    if std::env::var_os("DATASTORE_TXN_CHILD").is_none() {
        return;
    }
    // strace counts calls per thread, and libtest's main thread makes some openat and write
    // calls of its own before this thread starts: get well ahead of it, so that the kill at
    // this thread's n-th call is not taken by the main thread's n-th.
    for _ in 0..64 {
        use std::io::Write as _;
        let mut null = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .unwrap();
        null.write_all(b"x").unwrap();
    }
    let dir = std::env::var_os("DATASTORE_TEST_DIR").unwrap();
    let store = LocalStore::open(Path::new(&dir)).unwrap();
    let upd = store.get(UPD).unwrap().unwrap();
    let del = store.get(DEL).unwrap().unwrap();
    store
        .txn(&[
            Write::Create {
                key: NEW.into(),
                value: b"n".to_vec(),
            },
            Write::Update {
                key: UPD.into(),
                value: b"u2".to_vec(),
                revision: upd.revision,
            },
            Write::Delete {
                key: DEL.into(),
                revision: Some(del.revision),
            },
        ])
        .unwrap();
}
