//! The plugin as a runtime sees it: results per spec version, config errors and their texts
//! (compared with the Go plugin where the 1.1.1 oracle agrees with upstream latest), the
//! default backend's fallback, GC and STATUS.

mod common;

use common::*;
use serde_json::{json, Value};
use testkit::TempNetns;

const VERSIONS: &[&str] = &[
    "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
];

fn prev(version: &str) -> Value {
    match version {
        "0.1.0" | "0.2.0" => json!({"cniVersion": version,
            "ip4": {"ip": "10.0.0.2/24", "gateway": "10.0.0.1"},
            "ip6": {"ip": "2001:db8::2/64"}, "dns": {}}),
        _ => json!({"cniVersion": version,
            "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/x", "mac": "aa:bb:cc:dd:ee:ff"}],
            "ips": [{"address": "10.0.0.2/24", "gateway": "10.0.0.1", "interface": 0},
                    {"address": "2001:db8::2/64", "interface": 0}],
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}],
            "dns": {"nameservers": ["10.0.0.1"]}}),
    }
}

/// The config of network `net` in `version` with `mappings`, after a plugin whose result was
/// [`prev`].
fn conf_after(net: &str, version: &str, mappings: Value) -> String {
    Conf::new(net, version, mappings).prev(prev(version)).text()
}

fn mappings() -> Value {
    json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}])
}

/// ADD prints the prevResult in the config's version, with or without mappings, and the
/// output equals Go's where 1.1.1 supports the version (1.0.0: 1.1.1 prints an empty dns).
#[test]
fn add_passes_the_prev_result_through_for_every_version() {
    testkit::require_root();
    let host = Host::new();
    let ctr = TempNetns::new();
    for v in VERSIONS {
        let bare = conf_after("vnet", v, json!([]));
        let ours_bare = host.run(&ours(), "ADD", "c1", ctr.path(), &bare);
        ours_bare.assert_success();
        let with = conf_after("vnet", v, mappings());
        let ours_with = host.run(&ours(), "ADD", "c1", ctr.path(), &with);
        ours_with.assert_success();
        assert_eq!(ours_with.stdout, ours_bare.stdout, "{v}");
        assert_eq!(ours_with.json()["cniVersion"], *v);
        if ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0"].contains(v) {
            let go_run = host.run(&go(), "ADD", "c2", ctr.path(), &with);
            go_run.assert_success();
            assert_eq!(ours_with.stdout, go_run.stdout, "{v}");
        }
        host.run(&ours(), "DEL", "c1", ctr.path(), &with)
            .assert_success();
    }
    host.run(
        &go(),
        "DEL",
        "c2",
        ctr.path(),
        &Conf::new("vnet", "0.4.0", mappings()).text(),
    )
    .assert_success();
    assert!(!host.nat(false).contains("CNI-DN-"));
}

fn error(run: &testkit::PluginRun) -> (u64, String) {
    assert_eq!(run.code, 1, "{run}");
    let v = run.json();
    (
        v["code"].as_u64().unwrap(),
        v["msg"].as_str().unwrap().to_string(),
    )
}

/// Config errors: same code and message as Go.
#[test]
fn config_errors_match_go() {
    testkit::require_root();
    let host = Host::new();
    let ctr = TempNetns::new();
    let p = prev("0.4.0");
    let cases: Vec<(&str, Value)> = vec![
        ("ADD", Conf::new("n", "0.4.0", mappings()).value),
        (
            "ADD",
            Conf::new(
                "n",
                "0.4.0",
                json!([{"hostPort": 0, "containerPort": 80, "protocol": "tcp"}]),
            )
            .prev(p.clone())
            .value,
        ),
        (
            "ADD",
            Conf::new(
                "n",
                "0.4.0",
                json!([{"hostPort": 80, "containerPort": -5, "protocol": "tcp"}]),
            )
            .prev(p.clone())
            .value,
        ),
        (
            "ADD",
            Conf::new("n", "0.4.0", mappings())
                .set("markMasqBit", json!(32))
                .prev(p.clone())
                .value,
        ),
        (
            "ADD",
            Conf::new("n", "0.4.0", mappings())
                .set("markMasqBit", json!(3))
                .set("externalSetMarkChain", json!("X"))
                .prev(p.clone())
                .value,
        ),
        (
            "DEL",
            Conf::new("n", "0.4.0", json!([{"hostPort": 0, "containerPort": 80}])).value,
        ),
        ("CHECK", Conf::new("n", "0.4.0", mappings()).value),
        (
            "CHECK",
            Conf::new("n", "0.4.0", json!([{"hostPort": -1, "containerPort": 80}]))
                .prev(p.clone())
                .value,
        ),
        (
            "ADD",
            Conf::new("n", "0.4.0", mappings())
                .prev(json!({"cniVersion": "0.4.0", "ips": [{"address": "nonsense"}]}))
                .value,
        ),
    ];
    for (cmd, conf) in cases {
        let o = host.run(&ours(), cmd, "c1", ctr.path(), &conf.to_string());
        let g = host.run(&go(), cmd, "c1", ctr.path(), &conf.to_string());
        let (oc, om) = error(&o);
        let (gc, gm) = error(&g);
        assert_eq!((oc, om), (gc, gm), "{cmd} {conf}");
    }
}

/// Upstream-latest-only checks (1.1.1 ignores `backend`).
#[test]
fn backend_validation() {
    testkit::require_root();
    let host = Host::new();
    let ctr = TempNetns::new();
    let run = |conf: Conf| {
        error(&host.run(
            &ours(),
            "ADD",
            "c1",
            ctr.path(),
            &conf.prev(prev("1.0.0")).text(),
        ))
    };
    assert_eq!(
        run(Conf::new("n", "1.0.0", mappings()).set("backend", json!("pf"))),
        (
            999,
            "failed to parse config: unrecognized backend \"pf\"".into()
        )
    );
    assert_eq!(
        run(Conf::new("n", "1.0.0", mappings()).set("conditionsV4", json!(["ip", "saddr", "1.2.3.4"]))),
        (999, "failed to parse config: iptables backend was requested but configuration contains nftables-specific options [conditionsV4]".into())
    );
    assert_eq!(
        run(Conf::new("n", "1.0.0", mappings()).set("backend", json!("nftables")).set("conditionsV6", json!(["!", "-d", "::1"]))),
        (999, "failed to parse config: nftables backend was requested but configuration contains iptables-specific options [conditionsV6]".into())
    );
}

/// With no usable iptables the default backend is nftables; with neither tool ADD fails as
/// Go's does, and DEL reports both families.
#[test]
fn default_backend_falls_back_to_nftables() {
    testkit::require_root();
    let host = Host::new();
    let ctr = TempNetns::new();
    let only_nft = testkit::temp_dir();
    std::os::unix::fs::symlink("/usr/sbin/nft", only_nft.path().join("nft")).unwrap();
    let empty = testkit::temp_dir();
    let conf = conf_after("n", "1.0.0", mappings());
    let path_nft = [("PATH", only_nft.path().to_str().unwrap())];
    host.run_env(&ours(), "ADD", "c1", ctr.path(), &conf, &path_nft)
        .assert_success();
    assert!(host
        .nft("ip")
        .contains("tcp dport 8080 dnat to 10.0.0.2:80 comment \"c1\""));
    assert!(!host.nat(false).contains("CNI-"));
    host.run_env(&ours(), "CHECK", "c1", ctr.path(), &conf, &path_nft)
        .assert_success();
    host.run_env(&ours(), "DEL", "c1", ctr.path(), &conf, &path_nft)
        .assert_success();
    assert!(!host.nft("ip").contains("comment \"c1\""));

    let path_none = [("PATH", empty.path().to_str().unwrap())];
    let o = host.run_env(&ours(), "ADD", "c1", ctr.path(), &conf, &path_none);
    let g = host.run_env(
        &go(),
        "ADD",
        "c1",
        ctr.path(),
        &conf.replace("1.0.0", "0.4.0"),
        &path_none,
    );
    assert_eq!(error(&o), error(&g));
    assert_eq!(
        error(&o).1,
        "failed to open iptables: exec: \"iptables\": executable file not found in $PATH"
    );
    let d = host.run_env(&ours(), "DEL", "c1", ctr.path(), &conf, &path_none);
    assert_eq!(
        error(&d).1,
        "neither iptables nor ip6tables is usable, (iptables) exec: \"iptables\": executable file not found in $PATH, (ip6tables) exec: \"ip6tables\": executable file not found in $PATH"
    );
    // Without mappings upstream's DEL never touches the firewall: neither do its errors.
    let bare = json!({"cniVersion": "1.0.0", "name": "n", "type": "portmap"}).to_string();
    host.run_env(&ours(), "DEL", "c1", ctr.path(), &bare, &path_none)
        .assert_success();
}

/// CHECK finds a missing rule and reports it the way upstream does.
#[test]
fn iptables_check_reports_missing_pieces() {
    testkit::require_root();
    let host = Host::new();
    let ctr = TempNetns::new();
    let conf = conf_after("chk", "1.0.0", mappings());
    let r = host.run(&ours(), "CHECK", "c1", ctr.path(), &conf);
    let chain = "CNI-DN-38471ebaafa33048fe142";
    assert_eq!(
        error(&r).1,
        format!("could not check ipv4 dnat: chain {chain} not found in iptables table nat")
    );
    host.run(&ours(), "ADD", "c1", ctr.path(), &conf)
        .assert_success();
    host.run(&ours(), "CHECK", "c1", ctr.path(), &conf)
        .assert_success();
    sh(
        &host.ns,
        &[
            "ip6tables",
            "-w",
            "-t",
            "nat",
            "-D",
            chain,
            "-p",
            "tcp",
            "--dport",
            "8080",
            "-j",
            "DNAT",
            "--to-destination",
            "[2001:db8::2]:80",
        ],
    );
    let r = host.run(&ours(), "CHECK", "c1", ctr.path(), &conf);
    assert_eq!(
        error(&r).1,
        format!("could not check ipv6 dnat: rule [[-p tcp --dport 8080 -s 2001:db8::2/64 -j CNI-HOSTPORT-SETMARK] [-p tcp --dport 8080 -j DNAT --to-destination [2001:db8::2]:80]] in chain {chain} not found in table nat")
    );
    host.run(&ours(), "DEL", "c1", ctr.path(), &conf)
        .assert_success();
}

/// GC of network `gcnet` with `valid` as its `cni.dev/valid-attachments` (no key: `None`).
fn gc(host: &Host, valid: Option<&Value>) {
    let mut conf = json!({"cniVersion": "1.1.0", "name": "gcnet", "type": "portmap"});
    if let Some(l) = valid {
        conf["cni.dev/valid-attachments"] = l.clone();
    }
    let run = testkit::Invocation::new(ours())
        .command("GC")
        .path("/usr/lib/cni")
        .env("PATH", PATH)
        .stdin(conf.to_string());
    host.netns.run(|| run.run()).unwrap().assert_success();
}

/// GC removes this network's chains of containers not in the valid list, nothing else.
#[test]
fn gc_removes_stale_chains_of_this_network_only() {
    testkit::require_root();
    let host = Host::new();
    let ctr = TempNetns::new();
    for (net, cid) in [("gcnet", "live"), ("gcnet", "gone"), ("othernet", "gone")] {
        let conf = conf_after(net, "1.1.0", mappings());
        host.run(&ours(), "ADD", cid, ctr.path(), &conf)
            .assert_success();
    }
    gc(
        &host,
        Some(&json!([{"containerID": "live", "ifname": "eth0"}])),
    );
    for v6 in [false, true] {
        let nat = host.nat(v6);
        assert!(
            nat.contains("dnat name: \\\"gcnet\\\" id: \\\"live\\\""),
            "{nat}"
        );
        assert!(
            !nat.contains("dnat name: \\\"gcnet\\\" id: \\\"gone\\\""),
            "{nat}"
        );
        assert!(
            nat.contains("dnat name: \\\"othernet\\\" id: \\\"gone\\\""),
            "{nat}"
        );
        assert_eq!(nat.matches("\n:CNI-DN-").count(), 2, "{nat}");
    }
}

/// GC's list, libcni's rule: no `cni.dev/valid-attachments` key → nothing is known to be
/// stale, every chain stays; `null` (Go libcni's empty list) or `[]` → no container of this
/// network is live, all its chains go; another network's stay.
#[test]
fn gc_with_null_attachments_removes_every_chain_of_this_network() {
    testkit::require_root();
    for empty in [Value::Null, json!([])] {
        let host = Host::new();
        let ctr = TempNetns::new();
        for (net, cid) in [("gcnet", "one"), ("gcnet", "two"), ("othernet", "one")] {
            let conf = conf_after(net, "1.1.0", mappings());
            host.run(&ours(), "ADD", cid, ctr.path(), &conf)
                .assert_success();
        }
        gc(&host, None);
        for v6 in [false, true] {
            let nat = host.nat(v6);
            assert_eq!(nat.matches("\n:CNI-DN-").count(), 3, "absent list: {nat}");
        }
        gc(&host, Some(&empty));
        for v6 in [false, true] {
            let nat = host.nat(v6);
            assert!(!nat.contains("dnat name: \\\"gcnet\\\""), "{empty}: {nat}");
            assert!(
                nat.contains("dnat name: \\\"othernet\\\" id: \\\"one\\\""),
                "{empty}: {nat}"
            );
            assert_eq!(nat.matches("\n:CNI-DN-").count(), 1, "{empty}: {nat}");
        }
    }
}

#[test]
fn status_says_whether_a_backend_works() {
    testkit::require_root();
    let host = Host::new();
    let empty = testkit::temp_dir();
    let conf = json!({"cniVersion": "1.1.0", "name": "n", "type": "portmap"}).to_string();
    let status = |path: &str| {
        let run = testkit::Invocation::new(ours())
            .command("STATUS")
            .path("/usr/lib/cni")
            .env("PATH", path)
            .stdin(conf.clone());
        host.netns.run(|| run.run()).unwrap()
    };
    status(PATH).assert_success();
    let r = status(empty.path().to_str().unwrap());
    assert_eq!(error(&r).0, 50);
}

/// The iptables tools of `PATH`, each a shell wrapper that logs its arguments before running
/// the real one: which commands an ADD ran.
struct LoggingTools {
    /// The wrappers' directory, removed on drop.
    _dir: Box<dyn AsRef<std::path::Path>>,
    log: std::path::PathBuf,
    path: String,
}

impl LoggingTools {
    fn new() -> LoggingTools {
        let dir = testkit::temp_dir();
        let log = dir.path().join("calls.log");
        for tool in [
            "iptables",
            "ip6tables",
            "iptables-restore",
            "ip6tables-restore",
        ] {
            let wrapper = dir.path().join(tool);
            std::fs::write(
                &wrapper,
                format!(
                    "#!/bin/sh\necho \"{tool} $*\" >> {}\nexec /usr/sbin/{tool} \"$@\"\n",
                    log.display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(
                &wrapper,
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .unwrap();
        }
        let path = format!("{}:{PATH}", dir.path().display());
        LoggingTools {
            _dir: Box::new(dir),
            log,
            path,
        }
    }

    /// The environment of a run that goes through the wrappers.
    fn env(&self) -> [(&str, &str); 1] {
        [("PATH", self.path.as_str())]
    }

    /// The calls logged since the last [`LoggingTools::forget`], one a line.
    fn calls(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn forget(&self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The config of network `n` (1.0.0, [`mappings`]) after a plugin that gave the container
/// the address `ip`.
fn conf_for(ip: &str) -> String {
    let mut prev = prev("1.0.0");
    prev["ips"][0]["address"] = json!(ip);
    Conf::new("n", "1.0.0", mappings()).prev(prev).text()
}

/// A node's first ADD reads the table and plans (the shared chains are missing); every later
/// ADD of a new container is one `iptables-restore` that checks the shared rules; a repeated
/// ADD falls back to the careful path and changes nothing.
#[test]
fn later_adds_are_one_restore() {
    testkit::require_root();
    let host = Host::new();
    let tools = LoggingTools::new();
    let env = tools.env();
    let ctr = TempNetns::new();

    host.run_env(
        &ours(),
        "ADD",
        "c1",
        ctr.path(),
        &conf_for("10.0.0.2/24"),
        &env,
    )
    .assert_success();
    let first = tools.calls();
    assert!(first.contains("iptables -w -t nat -S"), "{first}");
    assert!(first.contains("ip6tables -w -t nat -S"), "{first}");
    tools.forget();

    host.run_env(
        &ours(),
        "ADD",
        "c2",
        ctr.path(),
        &conf_for("10.0.0.3/24"),
        &env,
    )
    .assert_success();
    let second = tools.calls();
    assert_eq!(
        second.lines().collect::<Vec<_>>(),
        [
            "iptables-restore -w --noflush",
            "ip6tables-restore -w --noflush"
        ],
        "one transaction per family, no read"
    );
    // (iptables_parity compares the resulting tables with Go's after every step.)
    tools.forget();
    // Re-ADD of an existing container: the optimistic transaction fails on -N and the
    // careful path runs, changing nothing.
    let before = host.nat(false);
    host.run_env(
        &ours(),
        "ADD",
        "c2",
        ctr.path(),
        &conf_for("10.0.0.3/24"),
        &env,
    )
    .assert_success();
    let again = tools.calls();
    assert!(again.contains("iptables -w -t nat -S"), "{again}");
    assert_eq!(host.nat(false), before, "a repeated ADD changes nothing");
    assert!(host.nat(false).contains("--to-destination 10.0.0.3:80"));
}

/// A `hostIP` that is not an address (`"IFNAME"`, a zone, stray spaces) is refused by config
/// validation on ADD and CHECK, before any firewall command: Go passes it to `ip6tables`,
/// which resolves it through DNS (seconds on a node with a slow resolver, and retried while
/// holding the portmap lock). DEL does not need it and still succeeds.
#[test]
fn a_host_ip_that_is_not_an_address_never_reaches_iptables() {
    testkit::require_root();
    let host = Host::new();
    let tools = LoggingTools::new();
    let env = tools.env();
    let ctr = TempNetns::new();
    for bad in [
        "IFNAME",
        "fe80::1%eth0",
        " 10.0.0.9",
        "10.0.0.256",
        "010.0.0.1",
    ] {
        let conf = conf_after(
            "n",
            "1.0.0",
            json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": bad}]),
        );
        let quoted = serde_json::to_string(bad).unwrap();
        let add = host.run_env(&ours(), "ADD", "c1", ctr.path(), &conf, &env);
        assert_eq!(
            error(&add),
            (
                999,
                format!("failed to parse config: Invalid host IP address: {quoted}")
            ),
            "{bad}"
        );
        let check = host.run_env(&ours(), "CHECK", "c1", ctr.path(), &conf, &env);
        assert_eq!(
            error(&check),
            (999, format!("Invalid host IP address: {quoted}")),
            "{bad}"
        );
        let calls = tools.calls();
        assert_eq!(calls, "", "{bad}: no firewall command ran");
        host.run_env(&ours(), "DEL", "c1", ctr.path(), &conf, &env)
            .assert_success();
        tools.forget();
    }
    assert!(!host.nat(false).contains("CNI-DN-") && !host.nat(true).contains("CNI-DN-"));

    // What Go 1.1.1 does with it: an ip6tables error after a name lookup.
    let conf = conf_after(
        "n",
        "1.0.0",
        json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": "IFNAME"}]),
    );
    let go_add = host.run(&go(), "ADD", "c1", ctr.path(), &conf);
    assert!(
        error(&go_add).1.contains("host/network `IFNAME' not found"),
        "{go_add}"
    );
    // Addresses of every form Go's net.ParseIP takes are fine.
    for good in [
        "0.0.0.0",
        "::",
        "::ffff:192.168.99.1",
        "192.168.99.1",
        "fd98::1",
    ] {
        let conf = conf_after(
            "n",
            "1.0.0",
            json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": good}]),
        );
        host.run(&ours(), "ADD", "c2", ctr.path(), &conf)
            .assert_success();
        host.run(&ours(), "DEL", "c2", ctr.path(), &conf)
            .assert_success();
    }
}

/// A transaction that iptables refuses with a parameter problem (exit status 2: here an
/// unknown protocol) fails the same way however often it is tried: one careful attempt after
/// the optimistic one, no re-plan.
#[test]
fn a_parameter_problem_is_not_retried() {
    testkit::require_root();
    let host = Host::new();
    let tools = LoggingTools::new();
    let env = tools.env();
    let ctr = TempNetns::new();
    let conf = conf_after(
        "n",
        "1.0.0",
        json!([{"hostPort": 8080, "containerPort": 80, "protocol": "nosuchproto"}]),
    );
    let add = host.run_env(&ours(), "ADD", "c1", ctr.path(), &conf, &env);
    let (code, msg) = error(&add);
    assert_eq!(code, 999);
    assert!(
        msg.starts_with("unable to setup DNAT: running [") && msg.contains("exit status 2: "),
        "{msg}"
    );
    let calls = tools.calls();
    let restores = calls
        .lines()
        .filter(|l| l.starts_with("iptables-restore"))
        .count();
    assert_eq!(restores, 2, "optimistic + one careful attempt:\n{calls}");
}

/// The optimistic transaction of an ADD on a node that has the shared chains needs no lock
/// (it checks what it relies on and creates only its own chain, atomically), so it is not
/// held up by another invocation that holds `/run/cni-portmap.lock` (before: it waited).
#[test]
fn the_optimistic_add_does_not_wait_for_the_lock() {
    testkit::require_root();
    let host = Host::new();
    let ctr = TempNetns::new();
    host.run(&ours(), "ADD", "c1", ctr.path(), &conf_for("10.0.0.2/24"))
        .assert_success();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/run/cni-portmap.lock")
        .unwrap();
    lock.lock().unwrap();
    let inv = testkit::Invocation::new(ours())
        .command("ADD")
        .container_id("c2")
        .netns(ctr.path())
        .ifname("eth0")
        .path("/usr/lib/cni")
        .env("PATH", PATH)
        .stdin(conf_for("10.0.0.3/24"))
        .timeout(std::time::Duration::from_secs(5));
    let run = host.netns.run(|| inv.run()).unwrap();
    lock.unlock().unwrap();
    assert!(!run.timed_out, "the ADD waited for the lock: {run}");
    run.assert_success();
    assert!(host.nat(false).contains("--to-destination 10.0.0.3:80"));
}
