//! sysctls follow the namespace of the thread that opens them. Needs root.

use netkit::{sysctl_get, sysctl_set, NetNs};
use testkit::{require_root, TempNetns};

#[test]
fn set_inside_a_namespace_leaves_the_host_alone() {
    require_root();
    let tmp = TempNetns::new();
    let ns = NetNs::open(tmp.path()).unwrap();

    for key in ["net.ipv4.ip_forward", "net/ipv4/conf/lo/forwarding"] {
        let host_before = sysctl_get(key).unwrap();
        let wanted = if host_before == "1" { "0" } else { "1" };

        let inside = ns
            .run(|| {
                sysctl_set(key, wanted)?;
                sysctl_get(key)
            })
            .unwrap()
            .unwrap();
        assert_eq!(inside, wanted, "{key} inside the netns");

        // Read back from the outside, with a fresh thread entering again.
        assert_eq!(ns.run(|| sysctl_get(key)).unwrap().unwrap(), wanted);
        assert_eq!(
            sysctl_get(key).unwrap(),
            host_before,
            "{key} changed on the host"
        );

        // And `ip netns exec` agrees.
        let out = tmp.exec(&["cat", netkit::sysctl_path(key).unwrap().to_str().unwrap()]);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), wanted);
    }
}

#[test]
fn invalid_value_is_a_write_error() {
    require_root();
    let tmp = TempNetns::new();
    let ns = NetNs::open(tmp.path()).unwrap();
    let err = ns
        .run(|| sysctl_set("net.ipv4.conf.lo.forwarding", "not-a-number"))
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "write /proc/sys/net/ipv4/conf/lo/forwarding: invalid argument"
    );
}
