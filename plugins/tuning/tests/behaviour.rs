//! Behaviour beyond the upstream test file, through the binary: CHECK's complaints, DEL's
//! "always succeeds", the sysctl key rules (IFNAME, no way out of /proc/sys/net), the
//! allowlist's corners, error texts, and where we deliberately differ from Go.

mod common;

use std::path::Path;

use common::*;
use serde_json::json;

fn check_error(fx: &Fixture, version: &str, members: &str) -> String {
    let stdin = fx.conf(version, members);
    error_of(&fx.run(OURS, "CHECK", &stdin, None)).1
}

#[test]
fn check_names_what_differs() {
    for version in ["0.4.0", "1.0.0", "1.1.0"] {
        let fx = Fixture::new();
        let set = fx.conf(
            version,
            r#""sysctl":{"net.ipv4.conf.all.log_martians":"1"},"mtu":1454,"promisc":true,"allmulti":true,"txQLen":2000"#,
        );
        fx.run(OURS, "ADD", &set, None).assert_success();
        fx.run(OURS, "CHECK", &set, None).assert_success();
        for (members, msg) in [
            (
                r#""sysctl":{"net.ipv4.conf.all.log_martians":"0"},"promisc":true"#,
                "Error: Tuning configured value of /proc/sys/net/ipv4/conf/all/log_martians is 0, current value is 1",
            ),
            (
                r#""mtu":1400,"promisc":true"#,
                "Error: Tuning configured MTU of dummy0 is 1400, current value is 1454",
            ),
            // promisc is strict both ways: not asking for it fails on a promiscuous link.
            (
                r#""mtu":1454"#,
                "Error: Tuning link dummy0 configured promisc is false, current value is 1",
            ),
            (
                r#""promisc":true,"allmulti":false"#,
                "Error: Tuning configured all-multicast mode of dummy0 is false, current value is true",
            ),
            (
                r#""promisc":true,"txQLen":1000"#,
                "Error: Tuning configured Transmit Queue Length of dummy0 is 1000, current value is 2000",
            ),
            (
                r#""promisc":true,"mac":"c2:11:22:33:44:55""#,
                "Error: Tuning configured Ethernet of dummy0 is c2:11:22:33:44:55, current value is 02:00:00:00:00:01",
            ),
            (
                r#""promisc":true,"sysctl":{"kernel.hostname":"x"}"#,
                "invalid net sysctl key: \"kernel/hostname\"",
            ),
            (
                r#""promisc":true,"sysctl":{"net.core.no_such_knob":"1"}"#,
                "open /proc/sys/net/core/no_such_knob: no such file or directory",
            ),
        ] {
            assert_eq!(check_error(&fx, version, members), msg, "{members}");
        }
        fx.run(OURS, "DEL", &set, None).assert_success();
        assert_eq!(
            check_error(&fx, version, r#""promisc":true"#),
            "Error: Tuning link dummy0 configured promisc is true, current value is 0"
        );
        let stdin = fx.conf(version, "");
        let run = invoke(OURS, "CHECK", fx.netns(), "eth9", &stdin, None);
        assert_eq!(error_of(&run).1, "Cannot find container link eth9");
    }
}

/// Deliberate difference: Go compares the configured MAC with the kernel's lowercase text
/// as strings, so an uppercase MAC always fails its CHECK.
#[test]
fn check_accepts_a_mac_in_any_case() {
    for version in ["0.4.0", "1.0.0", "1.1.0"] {
        let fx = Fixture::new();
        let stdin = fx.conf(version, r#""mac":"C2:11:22:33:44:AA""#);
        let add = fx.run(OURS, "ADD", &stdin, None);
        add.assert_success();
        // The result keeps the MAC as typed, as Go's does.
        assert_eq!(add.json()["interfaces"][0]["mac"], "C2:11:22:33:44:AA");
        assert_eq!(fx.link().mac, "c2:11:22:33:44:aa");
        fx.run(OURS, "CHECK", &with_prev_result(&stdin, &add.json()), None)
            .assert_success();
        let dashed = fx.conf(version, r#""mac":"c2-11-22-33-44-aa""#);
        fx.run(OURS, "CHECK", &dashed, None).assert_success();
        fx.run(OURS, "DEL", &stdin, None).assert_success();
        assert_eq!(fx.link().mac, ORIGINAL_MAC);
    }
}

#[test]
fn prev_result_is_required_on_add_and_check_only() {
    let fx = Fixture::new();
    let stdin = without_prev_result(&fx.conf("1.0.0", r#""mtu":1400"#));
    for cmd in ["ADD", "CHECK"] {
        assert_eq!(
            error_of(&fx.run(OURS, cmd, &stdin, None)),
            (999, "Required prevResult missing".into())
        );
    }
    assert_eq!(fx.link().mtu, 1500);
    fx.run(OURS, "DEL", &stdin, None).assert_success();
    let bad = fx
        .conf("1.0.0", "")
        .replace(r#""interfaces""#, r#""cniVersion":"0.4.0","interfaces""#);
    assert_eq!(
        error_of(&fx.run(OURS, "ADD", &bad, None)).1,
        "could not parse prevResult: result type supports [1.0.0 1.1.0] but unmarshalled CNIVersion is \"0.4.0\""
    );
}

/// Deliberate difference: Go panics (exit 2) writing `args.cni.sysctl` into a nil map when
/// the config has no top-level `sysctl`.
#[test]
fn args_sysctl_without_top_level_sysctl_is_applied() {
    for version in VERSIONS {
        let fx = Fixture::new();
        let stdin = fx.conf(
            version,
            r#""args":{"cni":{"sysctl":{"net.ipv4.conf.IFNAME.log_martians":"1"}}}"#,
        );
        fx.run(OURS, "ADD", &stdin, None).assert_success();
        assert_eq!(
            fx.sysctl("/proc/sys/net/ipv4/conf/dummy0/log_martians"),
            "1"
        );
        if has_check(version) {
            fx.run(OURS, "CHECK", &stdin, None).assert_success();
        }
        fx.run(OURS, "DEL", &stdin, None).assert_success();
    }
}

#[test]
fn args_sysctl_entries_merge_with_the_top_level_ones() {
    let fx = Fixture::new();
    let stdin = fx.conf(
        "1.0.0",
        r#""sysctl":{"net.ipv4.conf.all.log_martians":"1","net.ipv4.conf.IFNAME.log_martians":"1"},
           "args":{"cni":{"sysctl":{"net.ipv4.conf.all.log_martians":"0","net.ipv4.conf.default.log_martians":"1"}}}"#,
    );
    fx.run(OURS, "ADD", &stdin, None).assert_success();
    assert_eq!(fx.sysctl("/proc/sys/net/ipv4/conf/all/log_martians"), "0");
    assert_eq!(
        fx.sysctl("/proc/sys/net/ipv4/conf/dummy0/log_martians"),
        "1"
    );
    assert_eq!(
        fx.sysctl("/proc/sys/net/ipv4/conf/default/log_martians"),
        "1"
    );
}

#[test]
fn sysctl_keys_never_leave_proc_sys_net() {
    let host_hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for (key, msg) in [
        // Dots are separators, so `..` is just an empty element: these stay in /proc/sys/net.
        (
            "net/../../kernel/hostname",
            "open /proc/sys/net/kernel/hostname: no such file or directory",
        ),
        (
            "net.ipv4.conf.../../x",
            "open /proc/sys/net/ipv4/conf/x: no such file or directory",
        ),
        (
            "net.IFNAME.....kernel.hostname",
            "open /proc/sys/net/dummy0/kernel/hostname: no such file or directory",
        ),
        (
            "kernel.hostname",
            "invalid net sysctl key: \"kernel/hostname\"",
        ),
        (
            "../../../kernel/hostname",
            "invalid net sysctl key: \"/////////kernel/hostname\"",
        ),
        (
            "/proc/sys/kernel/hostname",
            "invalid net sysctl key: \"/proc/sys/kernel/hostname\"",
        ),
        ("net", "invalid net sysctl key: \"net\""),
        (
            "netfilter.nf_log_all_netns",
            "invalid net sysctl key: \"netfilter/nf_log_all_netns\"",
        ),
    ] {
        let fx = Fixture::new();
        // The valid key beside it is not written either: keys are all checked first.
        let members =
            format!(r#""sysctl":{{"net.ipv4.conf.all.log_martians":"1","{key}":"pwned"}}"#);
        let stdin = fx.conf("1.0.0", &members);
        let run = fx.run(OURS, "ADD", &stdin, None);
        assert_eq!(error_of(&run), (999, msg.to_string()), "{key}");
        if msg.starts_with("invalid") {
            assert_eq!(
                fx.sysctl("/proc/sys/net/ipv4/conf/all/log_martians"),
                "0",
                "{key}"
            );
        }
    }
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_hostname
    );
}

#[test]
fn ifname_is_substituted_after_the_dots_so_vlan_names_work() {
    for version in VERSIONS {
        let fx = Fixture::with_link("eth0.100");
        let stdin = fx.conf(
            version,
            r#""sysctl":{"net.ipv4.conf.IFNAME.log_martians":"1"},"mtu":1400"#,
        );
        let run = invoke(OURS, "ADD", fx.netns(), "eth0.100", &stdin, None);
        run.assert_success();
        assert_eq!(
            fx.sysctl("/proc/sys/net/ipv4/conf/eth0.100/log_martians"),
            "1"
        );
        assert_eq!(fx.link_named("eth0.100").mtu, 1400);
        if has_check(version) {
            invoke(OURS, "CHECK", fx.netns(), "eth0.100", &stdin, None).assert_success();
        }
        invoke(OURS, "DEL", fx.netns(), "eth0.100", &stdin, None).assert_success();
        assert_eq!(fx.link_named("eth0.100").mtu, 1500);
    }
}

#[test]
fn del_always_succeeds_once_the_config_parses() {
    let fx = Fixture::new();
    let stdin = fx.conf("1.0.0", r#""mtu":1400"#);
    let del = |netns: Option<&str>| {
        let mut inv = testkit::Invocation::new(OURS)
            .command("DEL")
            .container_id(CONTAINER_ID)
            .ifname(IFNAME)
            .path("/opt/cni/bin")
            .stdin(stdin.as_bytes().to_vec());
        if let Some(ns) = netns {
            inv = inv.netns(ns);
        }
        inv.run()
    };

    // No backup at all.
    del(Some(fx.netns())).assert_success();
    fx.run(OURS, "ADD", &stdin, None).assert_success();
    // No netns, or one that is gone: success, and the backup stays for a later DEL.
    del(None).assert_success();
    del(Some("/run/netns/cnitest-does-not-exist")).assert_success();
    assert!(fx.backup().is_file());
    // A backup that is not JSON: success, file kept, link untouched.
    let saved = std::fs::read(fx.backup()).unwrap();
    std::fs::write(fx.backup(), "garbage").unwrap();
    del(Some(fx.netns())).assert_success();
    assert!(fx.backup().is_file());
    assert_eq!(fx.link().mtu, 1400);
    // The real backup back: restored and removed.
    std::fs::write(fx.backup(), saved).unwrap();
    del(Some(fx.netns())).assert_success();
    assert_eq!(fx.link().mtu, 1500);
    assert!(!fx.backup().exists());

    // The link is gone: success, and the backup is kept (as Go does).
    fx.run(OURS, "ADD", &stdin, None).assert_success();
    fx.ns.ip_stdout(&["link", "del", IFNAME]);
    del(Some(fx.netns())).assert_success();
    assert!(fx.backup().is_file());

    // But a config that does not parse fails DEL.
    let bad = fx.conf("1.0.0", r#""mtu":"x""#);
    assert_eq!(
        error_of(&fx.run(OURS, "DEL", &bad, None)).1,
        "failed to load netconf: json: cannot unmarshal string into Go struct field TuningConf.mtu of type int"
    );
    assert_eq!(
        error_of(&fx.run(OURS, "DEL", &stdin, Some("FOO=bar"))).1,
        "ARGS: unknown args [\"FOO=bar\"]"
    );
    // DEL does not look for duplicate sysctl keys.
    let dups = fx.conf("1.0.0", r#""sysctl":{"net.a":"1","net.a":"2"}"#);
    fx.run(OURS, "DEL", &dups, None).assert_success();
}

/// As Go: the backup is rewritten on every ADD, so a second ADD saves the values the first
/// one set, and DEL goes back to those.
#[test]
fn a_repeated_add_saves_the_values_the_first_one_set() {
    let fx = Fixture::new();
    fx.run(OURS, "ADD", &fx.conf("1.0.0", r#""mtu":1400"#), None)
        .assert_success();
    let second = fx.conf("1.0.0", r#""mtu":1300"#);
    fx.run(OURS, "ADD", &second, None).assert_success();
    assert_eq!(
        std::fs::read_to_string(fx.backup()).unwrap(),
        "{\n \"mtu\": 1400\n}"
    );
    fx.run(OURS, "DEL", &second, None).assert_success();
    assert_eq!(fx.link().mtu, 1400);
}

/// Deliberate difference: a MAC that does not parse is refused before anything changes; Go
/// refuses it after writing the sysctls and the backup.
#[test]
fn an_invalid_mac_changes_nothing() {
    let fx = Fixture::new();
    let stdin = fx.conf(
        "1.0.0",
        r#""sysctl":{"net.ipv4.conf.all.log_martians":"1"},"mac":"zz","mtu":1400"#,
    );
    assert_eq!(
        error_of(&fx.run(OURS, "ADD", &stdin, None)),
        (
            999,
            "invalid args zz for MAC addr: address zz: invalid MAC address".into()
        )
    );
    assert_eq!(fx.sysctl("/proc/sys/net/ipv4/conf/all/log_martians"), "0");
    assert!(!fx.backup().exists());
    assert_eq!(fx.link().mtu, 1500);
}

#[test]
fn errors_on_add_read_like_go() {
    let fx = Fixture::new();
    let add = |members: &str, ifname: &str| {
        let stdin = fx.conf("1.0.0", members);
        error_of(&invoke(OURS, "ADD", fx.netns(), ifname, &stdin, None))
    };
    assert_eq!(
        add(r#""mtu":1400"#, "eth9").1,
        "failed to get \"eth9\": Link not found"
    );
    // No rollback, as Go: the backup is written, then the kernel refuses the MTU.
    assert_eq!(add(r#""mtu":-1"#, IFNAME).1, "invalid argument");
    assert_eq!(
        std::fs::read_to_string(fx.backup()).unwrap(),
        "{\n \"mtu\": 1500\n}"
    );
    assert_eq!(
        add(r#""sysctl":{"net.core.no_such_knob":"1"}"#, IFNAME).1,
        "open /proc/sys/net/core/no_such_knob: no such file or directory"
    );
    assert_eq!(
        add(r#""sysctl":{"net.core":"1"}"#, IFNAME).1,
        "open /proc/sys/net/core: is a directory"
    );
    assert_eq!(
        add(r#""promisc":"yes""#, IFNAME).1,
        "failed to load netconf: json: cannot unmarshal string into Go struct field TuningConf.promisc of type bool"
    );
    assert_eq!(
        add(r#""sysctl":{"net.core.somaxconn":1}"#, IFNAME).1,
        "json: cannot unmarshal number into Go struct field sysctlCheck.sysctl of type string"
    );
    let stdin = fx.conf("1.0.0", r#""mtu":1400"#);
    assert_eq!(
        error_of(&invoke(
            OURS,
            "ADD",
            "/run/netns/cnitest-nope",
            IFNAME,
            &stdin,
            None
        ))
        .1,
        "failed to Statfs \"/run/netns/cnitest-nope\": no such file or directory"
    );
    assert_eq!(
        error_of(&fx.run(OURS, "ADD", &stdin, Some("MAC"))).1,
        "ARGS: invalid pair \"MAC\""
    );
}

#[test]
fn default_data_dir_is_run_cni_tuning() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    let id = format!("tuning-default-{}", std::process::id());
    let stdin = format!(
        r#"{{"name":"test","type":"tuning","cniVersion":"1.1.0","mtu":1400,"prevResult":{PREV_RESULT}}}"#
    );
    let run = |cmd: &str| {
        testkit::Invocation::new(OURS)
            .command(cmd)
            .container_id(&id)
            .netns(fx.netns())
            .ifname(IFNAME)
            .path("/opt/cni/bin")
            .stdin(stdin.as_bytes().to_vec())
            .run()
    };
    run("ADD").assert_success();
    let file = Path::new("/run/cni/tuning").join(format!("{id}_{IFNAME}.json"));
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    run("DEL").assert_success();
    assert!(!file.exists());
    assert_eq!(fx.link().mtu, 1500);
}

#[test]
fn allowlist_corners() {
    let fx = Fixture::new();
    let sysctl = r#""sysctl":{"net.ipv4.conf.IFNAME.log_martians":"1"}"#;
    let stdin = fx.conf("1.0.0", sysctl);
    let add =
        |launcher: &AllowlistLauncher, stdin: &str| fx.run(&launcher.bin(), "ADD", stdin, None);

    // Lines are trimmed and matched unanchored against the raw key, IFNAME included.
    let raw = AllowlistLauncher::new(OURS, Allowlist::Lines("\n  conf\\.IFNAME\\.  \n\n"));
    add(&raw, &stdin).assert_success();
    assert_eq!(
        fx.sysctl("/proc/sys/net/ipv4/conf/dummy0/log_martians"),
        "1"
    );
    // The list applies to `args.cni.sysctl` too.
    let from_args = fx.conf(
        "1.0.0",
        r#""args":{"cni":{"sysctl":{"net.core.somaxconn":"500"}}}"#,
    );
    assert_eq!(
        error_of(&add(&raw, &from_args)).1,
        "Sysctl net.core.somaxconn is not allowed. Only the following sysctls are allowed: [conf\\.IFNAME\\.]"
    );
    // CHECK and DEL never read it.
    fx.run(&raw.bin(), "CHECK", &from_args.replace("500", "4096"), None)
        .assert_success();
    fx.run(&raw.bin(), "DEL", &from_args, None).assert_success();

    let empty = AllowlistLauncher::new(OURS, Allowlist::Lines(""));
    assert_eq!(
        error_of(&add(&empty, &stdin)).1,
        "Sysctl net.ipv4.conf.IFNAME.log_martians is not allowed. Only the following sysctls are allowed: []"
    );
    // A config with no sysctls passes any list, even an empty one.
    add(&empty, &fx.conf("1.0.0", "")).assert_success();

    let broken = AllowlistLauncher::new(OURS, Allowlist::Lines("(\n"));
    let msg = error_of(&add(&broken, &stdin)).1;
    assert!(
        msg.starts_with("error parsing regexp: ") && msg.ends_with(": `(`"),
        "{msg}"
    );

    let dir = AllowlistLauncher::new(OURS, Allowlist::Directory);
    assert_eq!(
        error_of(&add(&dir, &stdin)).1,
        "read /etc/cni/tuning/allowlist.conf: is a directory"
    );
}

/// Files the config (or the node) points at something endless or blocking: `/dev/zero` as the
/// allowlist or the backup, a FIFO as the allowlist or where the backup goes. Go reads
/// `/dev/zero` until it dies and waits on a FIFO for ever; we fail (or, for DEL, carry on) at
/// once, within a deadline and a memory cap.
#[test]
fn endless_and_blocking_files_fail_fast() {
    let fx = Fixture::new();
    let run = |bin: &str, cmd: &str, stdin: &str| {
        testkit::Invocation::new(bin)
            .command(cmd)
            .container_id(CONTAINER_ID)
            .netns(fx.netns())
            .ifname(IFNAME)
            .path("/opt/cni/bin")
            .stdin(stdin.as_bytes().to_vec())
            .timeout(std::time::Duration::from_secs(10))
            .memory_limit(256 << 20)
            .run()
    };
    let sysctl = fx.conf(
        "1.0.0",
        r#""sysctl":{"net.ipv4.conf.IFNAME.log_martians":"1"}"#,
    );

    let zero = AllowlistLauncher::new(OURS, Allowlist::Symlink("/dev/zero"));
    let add = run(&zero.bin(), "ADD", &sysctl);
    assert!(!add.timed_out, "{add}");
    assert_eq!(
        error_of(&add).1,
        "read /etc/cni/tuning/allowlist.conf: file too large (over 1048576 bytes)"
    );
    // A FIFO with no writer reads as an empty list: nothing is allowed.
    let fifo = AllowlistLauncher::new(OURS, Allowlist::Fifo);
    let add = run(&fifo.bin(), "ADD", &sysctl);
    assert!(!add.timed_out, "{add}");
    assert_eq!(
        error_of(&add).1,
        "Sysctl net.ipv4.conf.IFNAME.log_martians is not allowed. Only the following sysctls are allowed: []"
    );

    // The backup is a link to /dev/zero: DEL still succeeds (as it always does), restores
    // nothing and keeps the file.
    let mtu = fx.conf("1.0.0", r#""mtu":1400"#);
    run(OURS, "ADD", &mtu).assert_success();
    std::fs::remove_file(fx.backup()).unwrap();
    std::os::unix::fs::symlink("/dev/zero", fx.backup()).unwrap();
    let del = run(OURS, "DEL", &mtu);
    assert!(!del.timed_out, "{del}");
    del.assert_success();
    assert_eq!(fx.link().mtu, 1400);
    assert!(fx.backup().is_symlink());
    std::fs::remove_file(fx.backup()).unwrap();

    // Where the backup goes is a FIFO: ADD fails at once instead of waiting for a reader.
    let c = std::ffi::CString::new(fx.backup().to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let add = run(OURS, "ADD", &mtu);
    assert!(!add.timed_out, "{add}");
    assert_eq!(
        error_of(&add).1,
        format!(
            "failed to save file {IFNAME}.json: open {}: no such device or address",
            fx.backup().display()
        )
    );
}

#[test]
fn old_versions_pass_their_result_through() {
    let fx = Fixture::new();
    for version in ["0.1.0", "0.2.0"] {
        let stdin = format!(
            r#"{{"name":"test","type":"tuning","cniVersion":"{version}","dataDir":"{}","mac":"c2:11:22:33:44:55",
                "prevResult":{{"ip4":{{"ip":"10.0.0.2/24","gateway":"10.0.0.1"}}}}}}"#,
            fx.data_dir()
        );
        let add = fx.run(OURS, "ADD", &stdin, None);
        add.assert_success();
        assert_eq!(
            add.json(),
            json!({"cniVersion": version, "ip4": {"ip": "10.0.0.2/24", "gateway": "10.0.0.1"}, "dns": {}})
        );
        assert_eq!(fx.link().mac, "c2:11:22:33:44:55");
        fx.run(OURS, "DEL", &stdin, None).assert_success();
        assert_eq!(fx.link().mac, ORIGINAL_MAC);
    }
}

#[test]
fn version_gc_and_status() {
    let fx = Fixture::new();
    let version = fx.run(OURS, "VERSION", "", None);
    version.assert_success();
    assert_eq!(
        version.json()["supportedVersions"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
    let stdin = fx.conf("1.1.0", r#""mtu":1400"#);
    for cmd in ["GC", "STATUS"] {
        let run = fx.run(OURS, cmd, &stdin, None);
        run.assert_success();
        assert_eq!(run.stdout, "");
    }
    assert_eq!(fx.link().mtu, 1500);
}
