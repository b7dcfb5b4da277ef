//! loopback through its binary, as a runtime runs it (env + stdin), in throwaway netns, for
//! every spec version; plus side-by-side runs against Debian's Go loopback where installed.

use serde_json::{json, Value};
use testkit::{go_plugin, require_root, Invocation, PluginRun, TempNetns};

const OURS: &str = env!("CARGO_BIN_EXE_loopback");
const VERSIONS: &[&str] = &[
    "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
];

fn conf(version: &str) -> String {
    format!(r#"{{"cniVersion":"{version}","name":"loopback-test","type":"loopback"}}"#)
}

fn invoke(bin: &str, cmd: &str, netns: &str, stdin: &str) -> PluginRun {
    Invocation::new(bin)
        .command(cmd)
        .container_id("ctr-loopback")
        .netns(netns)
        .ifname("eth0")
        .args("none")
        .path("/opt/cni/bin")
        .stdin(stdin.as_bytes().to_vec())
        .run()
}

fn lo_is_up(ns: &TempNetns) -> bool {
    let out = ns.ip_stdout(&["-o", "link", "show", "lo"]);
    let flags = out
        .split('<')
        .nth(1)
        .and_then(|s| s.split('>').next())
        .unwrap_or("");
    flags.split(',').any(|f| f == "UP")
}

fn error_of(run: &PluginRun) -> (u64, String) {
    assert_eq!(run.code, 1, "expected a CNI error, got {run:?}");
    let v = run.json();
    (
        v["code"].as_u64().unwrap(),
        v["msg"].as_str().unwrap().to_string(),
    )
}

#[test]
fn add_check_del_for_every_version() {
    require_root();
    for version in VERSIONS {
        let ns = TempNetns::new();
        let netns = ns.path().to_str().unwrap();
        assert!(!lo_is_up(&ns), "a fresh netns has lo down");

        let add = invoke(OURS, "ADD", netns, &conf(version));
        add.assert_success();
        assert!(!add.stdout.ends_with('\n'), "Go prints no trailing newline");
        // The reference builds a 1.x-shaped result and labels it with the config version.
        assert_eq!(
            add.json(),
            json!({
                "cniVersion": version,
                "interfaces": [{"name": "lo", "mac": "00:00:00:00:00:00", "sandbox": netns}],
                "ips": [
                    {"interface": 0, "address": "127.0.0.1/8"},
                    {"interface": 0, "address": "::1/128"}
                ]
            }),
            "ADD result for {version}"
        );
        assert!(lo_is_up(&ns), "ADD {version} leaves lo up");

        let check = invoke(OURS, "CHECK", netns, &conf(version));
        if *version >= "0.4.0" {
            check.assert_success();
        } else {
            assert_eq!(
                error_of(&check),
                (1, "config version does not allow CHECK".to_string())
            );
        }

        invoke(OURS, "DEL", netns, &conf(version)).assert_success();
        assert!(!lo_is_up(&ns), "DEL {version} leaves lo down");
        // DEL is idempotent.
        invoke(OURS, "DEL", netns, &conf(version)).assert_success();

        if *version >= "0.4.0" {
            let check = invoke(OURS, "CHECK", netns, &conf(version));
            assert_eq!(
                error_of(&check),
                (999, "loopback interface is down".to_string())
            );
        }
    }
}

#[test]
fn add_without_cni_version_prints_a_010_result() {
    require_root();
    let ns = TempNetns::new();
    let run = invoke(
        OURS,
        "ADD",
        ns.path().to_str().unwrap(),
        r#"{"name":"loopback-test","type":"loopback"}"#,
    );
    run.assert_success();
    assert_eq!(
        run.json(),
        json!({"cniVersion": "0.1.0", "ip4": {"ip": "127.0.0.1/8"}, "ip6": {"ip": "::1/128"}, "dns": {}})
    );
}

#[test]
fn prev_result_is_passed_through() {
    require_root();
    let ns = TempNetns::new();
    let prev = json!({
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "sandbox": "/x"}],
        "ips": [{"interface": 0, "address": "10.0.0.2/24", "gateway": "10.0.0.1"}]
    });
    let stdin = json!({"cniVersion": "1.0.0", "name": "n", "type": "loopback", "prevResult": prev});
    let run = invoke(OURS, "ADD", ns.path().to_str().unwrap(), &stdin.to_string());
    run.assert_success();
    assert_eq!(run.json(), prev);
    assert!(lo_is_up(&ns));

    // A prevResult in another version family than the config is refused like Go does.
    let stdin = json!({"cniVersion": "1.0.0", "name": "n", "type": "loopback",
                       "prevResult": {"cniVersion": "0.4.0", "ips": []}});
    let run = invoke(OURS, "ADD", ns.path().to_str().unwrap(), &stdin.to_string());
    let (code, msg) = error_of(&run);
    assert_eq!(code, 999);
    assert_eq!(msg, "failed to parse prevResult: could not parse prevResult: result type supports [1.0.0 1.1.0] but unmarshalled CNIVersion is \"0.4.0\"");
}

#[test]
fn non_loopback_address_on_lo_is_refused() {
    require_root();
    let ns = TempNetns::new();
    let out = ns.ip(&["addr", "add", "10.9.9.9/32", "dev", "lo"]);
    assert!(out.status.success());
    let run = invoke(OURS, "ADD", ns.path().to_str().unwrap(), &conf("1.0.0"));
    assert_eq!(
        error_of(&run),
        (
            999,
            "loopback interface found with non-loopback address \"10.9.9.9\"".to_string()
        )
    );
}

#[test]
fn bad_netns_paths() {
    require_root();
    let run = invoke(OURS, "ADD", "/nonexistent/netns", &conf("1.0.0"));
    assert_eq!(
        error_of(&run),
        (
            999,
            "failed to Statfs \"/nonexistent/netns\": no such file or directory".to_string()
        )
    );
    let dir = testkit::temp_dir();
    let not_ns = dir.path().to_str().unwrap();
    let (code, msg) = error_of(&invoke(OURS, "CHECK", not_ns, &conf("1.0.0")));
    assert_eq!(code, 999);
    assert!(
        msg.starts_with(&format!("unknown FS magic on \"{not_ns}\": ")),
        "{msg}"
    );
    // DEL of a netns that is already gone, or of no netns at all, succeeds.
    invoke(OURS, "DEL", "/nonexistent/netns", &conf("1.0.0")).assert_success();
    Invocation::new(OURS)
        .command("DEL")
        .container_id("c")
        .ifname("eth0")
        .path("/opt/cni/bin")
        .stdin(conf("1.0.0").into_bytes())
        .run()
        .assert_success();
}

#[test]
fn malformed_input_gives_cni_errors_not_panics() {
    let cases: &[(&str, u64)] = &[
        ("", 6),
        ("{", 6),
        ("[1,2]", 6),
        (r#"{"cniVersion":"1.0.0"}"#, 7),
        (r#"{"cniVersion":"1.0.0","name":"bad name"}"#, 7),
        (r#"{"cniVersion":"9.9.9","name":"n"}"#, 1),
        (r#"{"cniVersion":7,"name":"n"}"#, 6),
        (
            r#"{"cniVersion":"1.0.0","name":"n","prevResult":{"ips":[{"address":"x"}]}}"#,
            999,
        ),
    ];
    for (stdin, code) in cases {
        let run = invoke(OURS, "ADD", "/nonexistent", stdin);
        assert_eq!(error_of(&run).0, *code, "stdin {stdin:?}: {run:?}");
        assert!(!run.stderr.contains("panicked"), "{run:?}");
    }
    let run = Invocation::new(OURS)
        .command("ADD")
        .stdin(conf("1.0.0").into_bytes())
        .run();
    assert_eq!(
        error_of(&run),
        (
            4,
            "required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH] missing"
                .to_string()
        )
    );
}

#[test]
fn version_and_about() {
    let run = Invocation::new(OURS).command("VERSION").run();
    run.assert_success();
    assert_eq!(
        run.stdout,
        "{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\"0.1.0\",\"0.2.0\",\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]}\n"
    );
    let run = Invocation::new(OURS).run();
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "CNI loopback plugin v{}\nCNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}

/// Debian's Go loopback (1.1.1) is the oracle. Known differences (reference notes §5): it
/// stops at 1.0.0 and prints `"dns": {}` in 1.x-shaped results.
fn go_loopback() -> String {
    go_plugin("loopback")
        .expect("Debian's containernetworking-plugins must be installed (scripts/test installs it)")
        .to_str()
        .unwrap()
        .to_string()
}

fn normalise(mut v: Value, netns: &str) -> Value {
    if v.get("dns") == Some(&json!({})) && v.get("ip4").is_none() && v.get("ip6").is_none() {
        v.as_object_mut().unwrap().remove("dns");
    }
    let text = v.to_string().replace(netns, "NETNS");
    serde_json::from_str(&text).unwrap()
}

fn lo_state(ns: &TempNetns) -> String {
    let link = ns.ip_stdout(&["-o", "link", "show", "lo"]);
    let addrs = ns.ip_stdout(&["-o", "addr", "show", "dev", "lo"]);
    format!("{link}\n{addrs}")
}

#[test]
fn same_results_and_netns_state_as_go_loopback() {
    require_root();
    let go = go_loopback();
    for version in VERSIONS.iter().filter(|v| **v <= "1.0.0") {
        let (ns_go, ns_ours) = (TempNetns::new(), TempNetns::new());
        let (p_go, p_ours) = (
            ns_go.path().to_str().unwrap(),
            ns_ours.path().to_str().unwrap(),
        );
        for cmd in ["ADD", "CHECK", "DEL", "DEL"] {
            let theirs = invoke(&go, cmd, p_go, &conf(version));
            let ours = invoke(OURS, cmd, p_ours, &conf(version));
            assert_eq!(
                ours.code, theirs.code,
                "{cmd} {version}: ours {ours:?} go {theirs:?}"
            );
            if cmd == "ADD" {
                assert_eq!(
                    normalise(ours.json(), p_ours),
                    normalise(theirs.json(), p_go),
                    "ADD result {version}"
                );
            } else if !theirs.stdout.is_empty() {
                assert_eq!(ours.stdout, theirs.stdout, "{cmd} {version} output");
            }
            assert_eq!(
                lo_state(&ns_ours),
                lo_state(&ns_go),
                "netns state after {cmd} {version}"
            );
        }
    }
}

/// (what, environment, stdin)
type ErrorCase<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

#[test]
fn same_error_bytes_as_go_skel() {
    let go = go_loopback();
    let variants: &[ErrorCase] = &[
        (
            "missing env",
            &[("CNI_COMMAND", "ADD")],
            r#"{"cniVersion":"1.0.0","name":"n"}"#,
        ),
        (
            "bad container id",
            &[
                ("CNI_COMMAND", "DEL"),
                ("CNI_CONTAINERID", "-x"),
                ("CNI_IFNAME", "eth0"),
                ("CNI_PATH", "/x"),
            ],
            r#"{"cniVersion":"1.0.0","name":"n"}"#,
        ),
        (
            "long ifname",
            &[
                ("CNI_COMMAND", "DEL"),
                ("CNI_CONTAINERID", "x"),
                ("CNI_IFNAME", "0123456789abcdef"),
                ("CNI_PATH", "/x"),
            ],
            r#"{"cniVersion":"1.0.0","name":"n"}"#,
        ),
        (
            "bad ifname",
            &[
                ("CNI_COMMAND", "DEL"),
                ("CNI_CONTAINERID", "x"),
                ("CNI_IFNAME", "a/b"),
                ("CNI_PATH", "/x"),
            ],
            r#"{"cniVersion":"1.0.0","name":"n"}"#,
        ),
        (
            "not json",
            &[
                ("CNI_COMMAND", "DEL"),
                ("CNI_CONTAINERID", "x"),
                ("CNI_IFNAME", "eth0"),
                ("CNI_PATH", "/x"),
            ],
            "xyz",
        ),
        (
            "missing name",
            &[
                ("CNI_COMMAND", "DEL"),
                ("CNI_CONTAINERID", "x"),
                ("CNI_IFNAME", "eth0"),
                ("CNI_PATH", "/x"),
            ],
            r#"{"cniVersion":"1.0.0"}"#,
        ),
        (
            "bad name",
            &[
                ("CNI_COMMAND", "DEL"),
                ("CNI_CONTAINERID", "x"),
                ("CNI_IFNAME", "eth0"),
                ("CNI_PATH", "/x"),
            ],
            r#"{"cniVersion":"1.0.0","name":"a<b"}"#,
        ),
        (
            "check below 0.4.0",
            &[
                ("CNI_COMMAND", "CHECK"),
                ("CNI_CONTAINERID", "x"),
                ("CNI_NETNS", "/x"),
                ("CNI_IFNAME", "eth0"),
                ("CNI_PATH", "/x"),
            ],
            r#"{"cniVersion":"0.3.1","name":"n"}"#,
        ),
        (
            "unknown command",
            // Debian's 1.1.1 skel also wants a container ID and ifname for unknown verbs.
            &[
                ("CNI_COMMAND", "BOGUS"),
                ("CNI_CONTAINERID", "x"),
                ("CNI_IFNAME", "eth0"),
                ("CNI_PATH", "/x"),
            ],
            r#"{"cniVersion":"1.0.0","name":"n"}"#,
        ),
    ];
    for (what, env, stdin) in variants {
        let build = |bin: &str| {
            let mut inv = Invocation::new(bin).stdin(stdin.as_bytes().to_vec());
            for (k, v) in *env {
                inv = inv.env(k, v);
            }
            inv.run()
        };
        let (ours, theirs) = (build(OURS), build(&go));
        assert_eq!(ours.code, 1, "{what}: {ours:?}");
        assert_eq!(ours.code, theirs.code, "{what}");
        assert_eq!(ours.stdout, theirs.stdout, "{what}: error bytes differ");
    }
}

/// A runtime that pipes more than any config (here endlessly many blanks before the JSON would
/// end) gets skel's stdin error, code 5, at once and without the plugin holding it all: the
/// plugin runs under a data limit far below what it is sent.
#[test]
fn stdin_beyond_the_bound_is_an_io_error_not_a_memory_blowup() {
    require_root();
    let ns = TempNetns::new();
    let mut stdin = conf("1.0.0").into_bytes();
    stdin.pop();
    stdin.resize(96 << 20, b' ');
    let run = Invocation::new(OURS)
        .command("ADD")
        .container_id("ctr-loopback")
        .netns(ns.path())
        .ifname("eth0")
        .path("/opt/cni/bin")
        .stdin(stdin)
        .memory_limit(64 << 20)
        .timeout(std::time::Duration::from_secs(30))
        .run();
    assert_eq!(
        error_of(&run),
        (
            5,
            "error reading from stdin: network configuration too large (over 16777216 bytes)"
                .to_string()
        )
    );
    assert!(!lo_is_up(&ns), "nothing was done");
}
