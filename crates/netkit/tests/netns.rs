//! Namespace handling against the real kernel. Needs root.

use netkit::{NetNs, NetkitError};
use testkit::{require_root, TempNetns};

#[test]
fn open_a_named_namespace() {
    require_root();
    let tmp = TempNetns::new();
    let ns = NetNs::open(tmp.path()).unwrap();
    assert_eq!(ns.path(), tmp.path());
    let host = NetNs::current().unwrap();
    assert!(!ns.same_as(&host).unwrap());
    assert!(ns.same_as(&NetNs::open(tmp.path()).unwrap()).unwrap());
}

#[test]
fn run_executes_inside_and_leaves_the_caller_alone() {
    require_root();
    let tmp = TempNetns::new();
    let ns = NetNs::open(tmp.path()).unwrap();
    let before = NetNs::current().unwrap();

    let inside = ns
        .run(|| NetNs::current().and_then(|cur| cur.same_as(&ns)))
        .unwrap()
        .unwrap();
    assert!(inside, "closure did not run inside the namespace");

    let after = NetNs::current().unwrap();
    assert!(after.same_as(&before).unwrap(), "caller's netns changed");
}

#[test]
fn run_returns_values_and_borrows() {
    require_root();
    let tmp = TempNetns::new();
    let ns = NetNs::open(tmp.path()).unwrap();
    let mut seen = Vec::new();
    let n = ns
        .run(|| {
            seen.push(1);
            41 + 1
        })
        .unwrap();
    assert_eq!(n, 42);
    assert_eq!(seen, [1]);
}

#[test]
fn run_propagates_panics() {
    require_root();
    let tmp = TempNetns::new();
    let ns = NetNs::open(tmp.path()).unwrap();
    let caught = std::panic::catch_unwind(|| ns.run(|| panic!("inside the netns")));
    let payload = caught.expect_err("panic must propagate");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"inside the netns"));
}

#[test]
fn namespace_gone_after_delete_is_not_found() {
    require_root();
    let path = {
        let tmp = TempNetns::new();
        tmp.path().to_path_buf()
    };
    let err = NetNs::open(&path).unwrap_err();
    assert!(matches!(err, NetkitError::NetnsNotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "failed to Statfs \"{}\": no such file or directory",
            path.display()
        )
    );
}
