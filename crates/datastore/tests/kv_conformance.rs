//! The key-value contract, run against both backends (the local store and a real etcd): the
//! same cases must give the same answers.

mod common;

use std::collections::BTreeSet;
use std::sync::Barrier;
use std::thread;

use common::Fixture;
use datastore::batch::{Read, Write};
use datastore::{retry_on_conflict, DatastoreError, Kv};
use libcni::CniCode;

for_each_backend!(
    get_of_an_absent_key_is_none,
    create_is_create_if_absent,
    update_is_compare_and_swap,
    delete_checks_presence_and_revision,
    deleted_and_recreated_keys_get_new_revisions,
    revisions_increase_with_every_write,
    prefix_lists_are_sorted_and_exact,
    put_writes_unconditionally,
    values_are_opaque_bytes,
    concurrent_compare_and_swap_increments_lose_nothing,
    concurrent_creates_have_one_winner,
    clients_see_each_others_writes,
    batched_reads_answer_each_read_in_order,
    transactions_write_all_or_nothing,
    concurrent_transactions_lose_nothing,
);

fn get_of_an_absent_key_is_none(f: &dyn Fixture) {
    let kv = f.open();
    assert_eq!(kv.get("/calico/ipam/v2/handle/none").unwrap(), None);
    assert!(kv.list("/calico/").unwrap().is_empty());
}

fn create_is_create_if_absent(f: &dyn Fixture) {
    let kv = f.open();
    let rev = kv.create("/t/key", b"one").unwrap();
    assert!(rev > 0);
    let got = kv.get("/t/key").unwrap().unwrap();
    assert_eq!(
        (got.key.as_str(), got.value.as_slice(), got.revision),
        ("/t/key", &b"one"[..], rev)
    );

    let err = kv.create("/t/key", b"two").unwrap_err();
    assert!(err.is_already_exists(), "{err:?}");
    let existing = err.current().expect("the backend returns the stored pair");
    assert_eq!(
        (existing.value.as_slice(), existing.revision),
        (&b"one"[..], rev)
    );
    assert_eq!(err.code(), 999);
    assert_eq!(
        kv.get("/t/key").unwrap().unwrap().value,
        b"one",
        "create did not overwrite"
    );
}

fn update_is_compare_and_swap(f: &dyn Fixture) {
    let kv = f.open();
    let r1 = kv.create("/t/cas", b"v1").unwrap();
    let r2 = kv.update("/t/cas", b"v2", r1).unwrap();
    assert!(r2 > r1);
    assert_eq!(kv.get("/t/cas").unwrap().unwrap().revision, r2);

    // A writer that read r1 lost the race.
    let err = kv.update("/t/cas", b"stale", r1).unwrap_err();
    assert!(err.is_conflict(), "{err:?}");
    assert_eq!(err.code(), 11, "a lost race is worth retrying");
    let current = err.current().expect("conflicts carry the stored pair");
    assert_eq!(
        (current.value.as_slice(), current.revision),
        (&b"v2"[..], r2)
    );
    assert_eq!(kv.get("/t/cas").unwrap().unwrap().value, b"v2");

    let err = kv.update("/t/absent", b"x", r2).unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(kv.get("/t/absent").unwrap(), None, "update does not create");
}

fn delete_checks_presence_and_revision(f: &dyn Fixture) {
    let kv = f.open();
    assert!(kv.delete("/t/del", None).unwrap_err().is_not_found());
    assert!(kv.delete("/t/del", Some(5)).unwrap_err().is_not_found());

    let r1 = kv.create("/t/del", b"x").unwrap();
    let r2 = kv.update("/t/del", b"y", r1).unwrap();
    let err = kv.delete("/t/del", Some(r1)).unwrap_err();
    assert!(err.is_conflict(), "{err:?}");
    assert_eq!(err.current().unwrap().revision, r2);
    assert!(
        kv.get("/t/del").unwrap().is_some(),
        "a failed delete deletes nothing"
    );

    let old = kv.delete("/t/del", Some(r2)).unwrap();
    assert_eq!(
        (old.key.as_str(), old.value.as_slice(), old.revision),
        ("/t/del", &b"y"[..], r2)
    );
    assert_eq!(kv.get("/t/del").unwrap(), None);

    kv.create("/t/del2", b"z").unwrap();
    assert_eq!(kv.delete("/t/del2", None).unwrap().value, b"z");
    assert_eq!(kv.get("/t/del2").unwrap(), None);
}

fn deleted_and_recreated_keys_get_new_revisions(f: &dyn Fixture) {
    let kv = f.open();
    let r1 = kv.create("/t/aba", b"first").unwrap();
    kv.delete("/t/aba", Some(r1)).unwrap();
    let r2 = kv.create("/t/aba", b"second").unwrap();
    assert!(r2 > r1);
    // A writer holding the first incarnation's revision must not win against the second.
    assert!(kv.update("/t/aba", b"stale", r1).unwrap_err().is_conflict());
    assert!(kv.delete("/t/aba", Some(r1)).unwrap_err().is_conflict());
}

fn revisions_increase_with_every_write(f: &dyn Fixture) {
    let kv = f.open();
    let mut last = kv.revision().unwrap();
    let mut revs = Vec::new();
    for i in 0..5 {
        revs.push(kv.create(&format!("/t/rev/{i}"), b"x").unwrap());
        let cur = kv.get(&format!("/t/rev/{i}")).unwrap().unwrap().revision;
        revs.push(kv.update(&format!("/t/rev/{i}"), b"y", cur).unwrap());
    }
    revs.push(kv.put("/t/rev/0", b"z").unwrap());
    kv.delete("/t/rev/1", None).unwrap();
    for r in &revs {
        assert!(*r > last, "{revs:?} after {last}");
        last = *r;
    }
    let after_delete = kv.revision().unwrap();
    assert!(
        after_delete > last,
        "a delete is a write too: {after_delete} after {last}"
    );
    // Listing reports each key's own mod revision.
    let listed = kv.list("/t/rev/").unwrap();
    assert_eq!(listed.len(), 4);
    assert_eq!(listed[0].revision, *revs.last().unwrap());
    assert_eq!(listed[1].revision, revs[5], "/t/rev/2's update");
}

fn prefix_lists_are_sorted_and_exact(f: &dyn Fixture) {
    let kv = f.open();
    for k in [
        "/calico/ipam/v2/host/node10/ipv4/block/10.0.1.0-26",
        "/calico/ipam/v2/host/node1/ipv4/block/10.0.0.64-26",
        "/calico/ipam/v2/host/node1/ipv4/block/10.0.0.0-26",
        "/calico/ipam/v2/host/node1/ipv6/block/fd80::-122",
        "/calico/ipam/v2/host/node1",
        "/calico/ipam/v2/config",
        "/other/key",
    ] {
        kv.create(k, k.as_bytes()).unwrap();
    }
    let keys = |prefix: &str| -> Vec<String> {
        let pairs = kv.list(prefix).unwrap();
        for p in &pairs {
            assert_eq!(p.value, p.key.as_bytes(), "values travel with their keys");
        }
        pairs.into_iter().map(|p| p.key).collect()
    };
    assert_eq!(
        keys("/calico/ipam/v2/host/node1/"),
        [
            "/calico/ipam/v2/host/node1/ipv4/block/10.0.0.0-26",
            "/calico/ipam/v2/host/node1/ipv4/block/10.0.0.64-26",
            "/calico/ipam/v2/host/node1/ipv6/block/fd80::-122",
        ]
    );
    // A plain string prefix, as etcd's WithPrefix: a key that is also a "directory" and
    // siblings that share the prefix are included.
    assert_eq!(
        keys("/calico/ipam/v2/host/node1"),
        [
            "/calico/ipam/v2/host/node1",
            "/calico/ipam/v2/host/node1/ipv4/block/10.0.0.0-26",
            "/calico/ipam/v2/host/node1/ipv4/block/10.0.0.64-26",
            "/calico/ipam/v2/host/node1/ipv6/block/fd80::-122",
            "/calico/ipam/v2/host/node10/ipv4/block/10.0.1.0-26",
        ]
    );
    assert_eq!(
        keys("/calico/ipam/v2/host/node1/ipv4/block/10.0.0."),
        [
            "/calico/ipam/v2/host/node1/ipv4/block/10.0.0.0-26",
            "/calico/ipam/v2/host/node1/ipv4/block/10.0.0.64-26",
        ]
    );
    assert_eq!(keys("/calico/ipam/v2/config"), ["/calico/ipam/v2/config"]);
    assert!(keys("/calico/ipam/v2/nothing/").is_empty());
    assert!(keys("/calico/ipam/v2/host/node1/ipv4/block/10.0.0.0-26/").is_empty());
    assert_eq!(keys("/").len(), 7);
    assert_eq!(keys("").len(), 7);
}

fn put_writes_unconditionally(f: &dyn Fixture) {
    let kv = f.open();
    let r1 = kv.put("/t/put", b"a").unwrap();
    let r2 = kv.put("/t/put", b"b").unwrap();
    assert!(r2 > r1);
    let got = kv.get("/t/put").unwrap().unwrap();
    assert_eq!((got.value.as_slice(), got.revision), (&b"b"[..], r2));
}

fn values_are_opaque_bytes(f: &dyn Fixture) {
    let kv = f.open();
    let odd = b"line1\nline2\n\0\xff{\"json\":true}";
    kv.create("/t/odd", odd).unwrap();
    kv.create("/t/empty", b"").unwrap();
    assert_eq!(kv.get("/t/odd").unwrap().unwrap().value, odd);
    assert_eq!(kv.get("/t/empty").unwrap().unwrap().value, b"");
    // Keys with characters that are special on a file system.
    for key in [
        "/t/names/a b",
        "/t/names/.hidden",
        "/t/names/x.kv",
        "/t/names/100%",
    ] {
        kv.create(key, key.as_bytes()).unwrap();
        assert_eq!(kv.get(key).unwrap().unwrap().value, key.as_bytes(), "{key}");
    }
    let names: Vec<String> = kv
        .list("/t/names/")
        .unwrap()
        .into_iter()
        .map(|p| p.key)
        .collect();
    assert_eq!(
        names,
        [
            "/t/names/.hidden",
            "/t/names/100%",
            "/t/names/a b",
            "/t/names/x.kv"
        ]
    );
}

/// Many clients increment one counter with read-modify-write loops: every increment must
/// land exactly once.
fn concurrent_compare_and_swap_increments_lose_nothing(f: &dyn Fixture) {
    const THREADS: usize = 8;
    const EACH: usize = 25;
    f.open().create("/t/counter", b"0").unwrap();
    let start = Barrier::new(THREADS);
    let conflicts: usize = thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    let kv = f.open();
                    start.wait();
                    let mut conflicts = 0;
                    for _ in 0..EACH {
                        retry_on_conflict(10_000, |_| {
                            let cur = kv.get("/t/counter")?.expect("counter exists");
                            let n: usize = String::from_utf8_lossy(&cur.value).parse().unwrap();
                            let r = kv.update(
                                "/t/counter",
                                (n + 1).to_string().as_bytes(),
                                cur.revision,
                            );
                            if matches!(r, Err(DatastoreError::Conflict { .. })) {
                                conflicts += 1;
                            }
                            r
                        })
                        .unwrap();
                    }
                    conflicts
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let value = f.open().get("/t/counter").unwrap().unwrap().value;
    assert_eq!(
        String::from_utf8(value).unwrap(),
        (THREADS * EACH).to_string()
    );
    eprintln!(
        "{} increments, {conflicts} lost compare-and-swaps retried",
        THREADS * EACH
    );
}

/// Clients racing to create the same keys: exactly one wins each.
fn concurrent_creates_have_one_winner(f: &dyn Fixture) {
    const THREADS: usize = 8;
    const KEYS: usize = 10;
    let start = Barrier::new(THREADS);
    let wins: Vec<Vec<usize>> = thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let start = &start;
                s.spawn(move || {
                    let kv = f.open();
                    start.wait();
                    (0..KEYS)
                        .filter(|k| {
                            match kv.create(&format!("/t/race/{k}"), t.to_string().as_bytes()) {
                                Ok(_) => true,
                                Err(e) if e.is_already_exists() => false,
                                Err(e) => panic!("{e}"),
                            }
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let kv = f.open();
    let mut won = BTreeSet::new();
    for (t, keys) in wins.iter().enumerate() {
        for k in keys {
            assert!(won.insert(*k), "key {k} won twice");
            let stored = kv.get(&format!("/t/race/{k}")).unwrap().unwrap();
            assert_eq!(
                stored.value,
                t.to_string().as_bytes(),
                "the winner's value is stored"
            );
        }
    }
    assert_eq!(won.len(), KEYS, "every key has a winner");
}

fn clients_see_each_others_writes(f: &dyn Fixture) {
    let a = f.open();
    let b = f.open();
    let rev = a.create("/t/shared", b"from a").unwrap();
    assert_eq!(b.get("/t/shared").unwrap().unwrap().revision, rev);
    b.update("/t/shared", b"from b", rev).unwrap();
    assert!(a
        .update("/t/shared", b"stale a", rev)
        .unwrap_err()
        .is_conflict());
    assert_eq!(a.get("/t/shared").unwrap().unwrap().value, b"from b");
    assert_eq!(a.revision().unwrap(), b.revision().unwrap());
    let _: &dyn Kv = a.as_ref();
}

fn batched_reads_answer_each_read_in_order(f: &dyn Fixture) {
    let kv = f.open();
    let r1 = kv.create("/t/b/one", b"1").unwrap();
    let r2 = kv.create("/t/b/two", b"2").unwrap();
    kv.create("/t/c", b"3").unwrap();
    let answers = kv
        .read_many(&[
            Read::Key("/t/b/two".into()),
            Read::Key("/t/absent".into()),
            Read::Prefix("/t/b/".into()),
            Read::Prefix("/t/none/".into()),
        ])
        .unwrap();
    let keys = |i: usize| -> Vec<(&str, i64)> {
        answers[i]
            .iter()
            .map(|p| (p.key.as_str(), p.revision))
            .collect()
    };
    assert_eq!(answers.len(), 4);
    assert_eq!(keys(0), [("/t/b/two", r2)]);
    assert!(answers[1].is_empty());
    assert_eq!(keys(2), [("/t/b/one", r1), ("/t/b/two", r2)]);
    assert!(answers[3].is_empty());
}

fn transactions_write_all_or_nothing(f: &dyn Fixture) {
    let kv = f.open();
    let block = kv.create("/t/block", b"v1").unwrap();
    let old = kv.create("/t/old", b"x").unwrap();
    let rev = kv
        .txn(&[
            Write::Create {
                key: "/t/handle".into(),
                value: b"h1".to_vec(),
            },
            Write::Update {
                key: "/t/block".into(),
                value: b"v2".to_vec(),
                revision: block,
            },
            Write::Delete {
                key: "/t/old".into(),
                revision: Some(old),
            },
        ])
        .unwrap();
    assert_eq!(
        kv.revision().unwrap(),
        rev,
        "one revision for the whole transaction"
    );
    let got = |k: &str| kv.get(k).unwrap().map(|p| (p.value, p.revision));
    assert_eq!(got("/t/handle"), Some((b"h1".to_vec(), rev)));
    assert_eq!(got("/t/block"), Some((b"v2".to_vec(), rev)));
    assert_eq!(got("/t/old"), None);

    // A stale revision on the second write: nothing is written, and the error names it.
    let err = kv
        .txn(&[
            Write::Create {
                key: "/t/new".into(),
                value: b"n".to_vec(),
            },
            Write::Update {
                key: "/t/block".into(),
                value: b"v3".to_vec(),
                revision: block,
            },
        ])
        .unwrap_err();
    assert!(err.is_conflict(), "{err:?}");
    assert_eq!(err.current().unwrap().revision, rev);
    assert_eq!(got("/t/new"), None, "the first write was not applied");
    assert_eq!(got("/t/block"), Some((b"v2".to_vec(), rev)));
    assert_eq!(
        kv.revision().unwrap(),
        rev,
        "a failed transaction writes nothing"
    );

    let err = kv
        .txn(&[Write::Create {
            key: "/t/handle".into(),
            value: b"again".to_vec(),
        }])
        .unwrap_err();
    assert!(err.is_already_exists(), "{err:?}");
    let err = kv
        .txn(&[Write::Delete {
            key: "/t/gone".into(),
            revision: None,
        }])
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

/// Many clients each move one unit from a shared counter to their own key in one transaction:
/// the sum never changes, so no transaction was applied half or on a stale read.
fn concurrent_transactions_lose_nothing(f: &dyn Fixture) {
    const CLIENTS: usize = 6;
    const MOVES: usize = 10;
    let kv = f.open();
    kv.create("/t/pool", (CLIENTS * MOVES).to_string().as_bytes())
        .unwrap();
    thread::scope(|s| {
        for c in 0..CLIENTS {
            let kv = f.open();
            s.spawn(move || {
                let mine = format!("/t/mine/{c}");
                for _ in 0..MOVES {
                    retry_on_conflict(1000, |_| {
                        let got =
                            kv.read_many(&[Read::Key("/t/pool".into()), Read::Key(mine.clone())])?;
                        let pool = &got[0][0];
                        let left: usize = String::from_utf8_lossy(&pool.value).parse().unwrap();
                        let own = got[1].first();
                        let have: usize =
                            own.map_or(0, |p| String::from_utf8_lossy(&p.value).parse().unwrap());
                        let own_write = match own {
                            None => Write::Create {
                                key: mine.clone(),
                                value: b"1".to_vec(),
                            },
                            Some(p) => Write::Update {
                                key: mine.clone(),
                                value: (have + 1).to_string().into_bytes(),
                                revision: p.revision,
                            },
                        };
                        kv.txn(&[
                            own_write,
                            Write::Update {
                                key: "/t/pool".into(),
                                value: (left - 1).to_string().into_bytes(),
                                revision: pool.revision,
                            },
                        ])
                    })
                    .unwrap();
                }
            });
        }
    });
    let value =
        |p: &datastore::KvPair| -> usize { String::from_utf8_lossy(&p.value).parse().unwrap() };
    assert_eq!(value(&kv.get("/t/pool").unwrap().unwrap()), 0);
    let moved: Vec<usize> = kv.list("/t/mine/").unwrap().iter().map(value).collect();
    assert_eq!(moved, vec![MOVES; CLIENTS]);
}
