//! kill -9 of an ADD at any point never leaves a reservation that a following DEL cannot
//! remove. Deterministically, with strace killing the plugin at the Nth call of each system
//! call it makes (apt package `strace`), and at random moments.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

const SYSCALLS: &[&str] = &[
    "flock",
    "getdents64",
    "openat",
    "read",
    "write",
    "linkat",
    "unlinkat",
    "close",
];

/// The store holds exactly `others`' reservations plus bookkeeping.
fn assert_clean(store: &Path, others: &BTreeSet<String>, what: &str) {
    let f = files(store);
    for (name, content) in &f {
        if name == "lock" || name.starts_with("last_reserved_ip.") {
            continue;
        }
        assert!(others.contains(name), "{what}: left {name} ({content:?})");
    }
    for o in others {
        assert!(f.contains_key(o), "{what}: removed someone else's {o}");
    }
}

/// Runs ADD under strace, killed at the `when`th call of `syscall`; true if the kill hit.
fn add_killed_at(bin: &Path, syscall: &str, when: usize, id: &str, stdin: &str) -> bool {
    use std::io::Write;
    let mut child = Command::new("strace")
        .args(["-qq", "-o", "/dev/null", "-e"])
        .arg(format!("inject={syscall}:signal=KILL:when={when}"))
        .arg(bin)
        .env_clear()
        .env("CNI_COMMAND", "ADD")
        .env("CNI_CONTAINERID", id)
        .env("CNI_NETNS", NETNS)
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", "/opt/cni/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("strace is needed: apt-get install strace");
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let status = child.wait().unwrap();
    // strace ends the way its tracee did: killed by SIGKILL itself.
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(libc::SIGKILL) || status.code() == Some(128 + libc::SIGKILL)
}

#[test]
fn killed_at_every_system_call_of_an_add() {
    testkit::require_root();
    let data = DataDir::new();
    let stdin = two_range_sets(&data);
    let store = data.store("mynet");
    // Someone else's reservations, in the way of the round-robin walk.
    add(ours(), "other-1", "eth0", &stdin).assert_success();
    add(ours(), "other-2", "eth0", &stdin).assert_success();
    let others: BTreeSet<String> = reservations(&store).into_iter().collect();
    std::fs::write(store.join("last_reserved_ip.0"), "10.1.2.1").unwrap();

    let mut kills = 0;
    for syscall in SYSCALLS {
        for when in 1.. {
            let id = format!("k-{syscall}-{when}");
            let hit = add_killed_at(ours(), syscall, when, &id, &stdin);
            del(ours(), &id, "eth0", &stdin).assert_success();
            assert_clean(&store, &others, &id);
            if !hit {
                break;
            }
            kills += 1;
        }
    }
    assert!(kills > 20, "the sweep must actually kill ADDs ({kills})");
}

#[test]
fn killed_at_random_moments() {
    testkit::require_root();
    let data = DataDir::new();
    let stdin = two_range_sets(&data);
    let store = data.store("mynet");
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let none = BTreeSet::new();
    for i in 0..100 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = std::time::Duration::from_micros((seed >> 33) % 3000);
        let id = format!("r-{i}");
        let mut child = spawn(ours(), "ADD", &id, "eth0", &stdin);
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        del(ours(), &id, "eth0", &stdin).assert_success();
        assert_clean(&store, &none, &format!("{id} killed after {delay:?}"));
    }
    // The store still works: nothing is wedged or locked.
    add(ours(), "after", "eth0", &stdin).assert_success();
}

#[test]
fn our_del_removes_what_a_killed_go_add_leaves() {
    testkit::require_root();
    // Go creates a reservation with O_EXCL and writes it afterwards: killed in between, it
    // leaves an empty file that no ID matches. Our DEL removes it (under the lock nobody is
    // still writing it).
    let go = go();
    let data = DataDir::new();
    let stdin = two_range_sets(&data);
    let store = data.store("mynet");
    let mut orphans = 0;
    for when in 1..=40 {
        let id = format!("g-{when}");
        add_killed_at(&go, "write", when, &id, &stdin);
        let f = files(&store);
        orphans += reservations(&store)
            .iter()
            .filter(|r| f[*r].is_empty())
            .count();
        del(ours(), &id, "eth0", &stdin).assert_success();
        assert_clean(&store, &BTreeSet::new(), &id);
    }
    assert!(
        orphans > 0,
        "some kill must have hit between Go's create and write"
    );
}
