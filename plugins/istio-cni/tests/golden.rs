//! The rules we generate against upstream's golden files: the plugin's
//! (`cni/pkg/plugin/testdata/*.txt.golden`, cases of `plugin_dryrun_test.go`) and the rule
//! builder's (`tools/istio-iptables/pkg/capture/testdata/*.golden`, cases of `run_test.go`).
//!
//! The copies under `testdata/upstream/` say in their header which upstream revision they are.
//! Where only an older revision could be had, the header names the upgrade steps that turn it
//! into Istio 1.25+ output; each step is one documented upstream change (see [`upgrade`]), and
//! `basic@29bcc3ca` upgraded must equal the HEAD `basic` golden, which checks the steps.

use std::path::{Path, PathBuf};

use istio_cni::builder::{Builder, Rule};
use istio_cni::capture::{self, Config};
use istio_cni::pod::{self, PodInfo};
use serde_json::{json, Value};

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

/// A golden file: its `# upgrade:` steps and its body (header comments removed).
fn read_golden(rel: &str) -> (Vec<String>, String) {
    let text = std::fs::read_to_string(testdata(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let mut steps = Vec::new();
    let mut body = String::new();
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("# upgrade:") {
            steps = rest
                .split_whitespace()
                .filter(|s| *s != "-")
                .map(String::from)
                .collect();
        } else if !line.starts_with('#') {
            body.push_str(line);
        }
    }
    (steps, body)
}

/// Upstream's changes between the stored golden revisions and 1.25+:
/// - `1.24`: the proxy's own connections to the HBONE port are not redirected back inbound
///   (`-p tcp ! --dport 15008` in the `--uid-owner`/`--gid-owner` `ISTIO_IN_REDIRECT` rules);
/// - `1.25`: `OUTPUT` jumps to `ISTIO_OUTPUT` for every protocol, and each excluded outbound
///   port gets a `udp` RETURN next to the `tcp` one;
/// - `no-catch-all-return`: no `-A ISTIO_OUTPUT -j RETURN` after an include-CIDR list;
/// - `istio-drop`: INVALID packets go through an `ISTIO_DROP` chain.
fn upgrade(body: &str, steps: &[String]) -> String {
    let mut lines: Vec<String> = body.lines().map(String::from).collect();
    for step in steps {
        lines = match step.as_str() {
            "1.24" => lines
                .into_iter()
                .map(|l| {
                    let owner_redirect = l.ends_with("-j ISTIO_IN_REDIRECT")
                        && (l.contains("--uid-owner") || l.contains("--gid-owner"));
                    if owner_redirect && !l.contains(" -p tcp ") {
                        let at = l.find(" -m owner").expect("owner rule");
                        format!("{} -p tcp ! --dport 15008{}", &l[..at], &l[at..])
                    } else {
                        l
                    }
                })
                .collect(),
            "1.25" => {
                let mut out = Vec::new();
                for l in lines {
                    let l = l.replace(
                        "-A OUTPUT -p tcp -j ISTIO_OUTPUT",
                        "-A OUTPUT -j ISTIO_OUTPUT",
                    );
                    let udp = (l.contains("-A ISTIO_OUTPUT -p tcp --dport ")
                        && l.ends_with(" -j RETURN"))
                    .then(|| l.replace(" -p tcp ", " -p udp "));
                    out.push(l);
                    out.extend(udp);
                }
                out
            }
            "no-catch-all-return" => lines
                .into_iter()
                .filter(|l| !l.ends_with("-A ISTIO_OUTPUT -j RETURN"))
                .collect(),
            "istio-drop" => {
                let mut out = Vec::new();
                for l in lines {
                    if l == "-A PREROUTING -m conntrack --ctstate INVALID -j DROP" {
                        out.push("-N ISTIO_DROP".to_string());
                        out.push(l.replace("-j DROP", "-j ISTIO_DROP"));
                        out.push("-A ISTIO_DROP -j DROP".to_string());
                    } else {
                        out.push(l);
                    }
                }
                out
            }
            other => panic!("unknown upgrade step {other}"),
        };
    }
    let mut s = lines.join("\n");
    if body.ends_with('\n') {
        s.push('\n');
    }
    s
}

// ---- the plugin's goldens ----

/// Upstream's `buildFakeDryRunPod`, with the case's annotations and proxy settings.
fn dry_run_pod(annotations: Value, env: Value, uid: Option<i64>, gid: Option<i64>) -> Value {
    let mut sc = serde_json::Map::new();
    if let Some(u) = uid {
        sc.insert("runAsUser".into(), json!(u));
    }
    if let Some(g) = gid {
        sc.insert("runAsGroup".into(), json!(g));
    }
    json!({
        "apiVersion": "core/v1", "kind": "Pod",
        "metadata": {"name": "testPodName", "namespace": "testNSName", "annotations": annotations},
        "spec": {"containers": [
            {"name": "test"},
            {"name": "istio-proxy", "env": env, "securityContext": sc},
            {"name": "istio-validate"}
        ]}
    })
}

/// The plugin's restore input for a pod in an IPv4 netns with the default environment.
fn plugin_rules(pod_json: &Value) -> String {
    let pi = PodInfo::from_pod(pod_json);
    assert_eq!(pod::skip_reason(&pi), None);
    let mut cfg = pod::redirect(&pi).unwrap().capture_config();
    cfg.owner_groups_include = "*".into();
    cfg.host_ipv4_loopback_cidr = "127.0.0.1/32".into();
    cfg.proxy_gid = if cfg.proxy_gid.is_empty() {
        cfg.proxy_uid.clone()
    } else {
        cfg.proxy_gid.clone()
    };
    capture::build(&cfg).unwrap().v4_restore()
}

const STATUS: &str = "sidecar.istio.io/status";

fn plugin_case(
    name: &str,
    golden: &str,
    annotations: Value,
    env: Value,
    uid: Option<i64>,
    gid: Option<i64>,
) {
    let (steps, body) = read_golden(&format!("upstream/plugin/{golden}"));
    let want = upgrade(&body, &steps);
    let got = plugin_rules(&dry_run_pod(annotations, env, uid, gid));
    assert_eq!(got, want, "case {name} vs {golden} (upgraded by {steps:?})");
}

#[test]
fn upgrade_steps_turn_the_old_basic_golden_into_heads() {
    let (steps, old) = read_golden("upstream/plugin/basic@29bcc3ca.txt.golden");
    let (none, head) = read_golden("upstream/plugin/basic.txt.golden");
    assert!(none.is_empty());
    assert_ne!(old, head);
    assert_eq!(upgrade(&old, &steps), head);
}

#[test]
fn plugin_goldens() {
    let st = json!({STATUS: "true"});
    plugin_case(
        "basic",
        "basic.txt.golden",
        st.clone(),
        json!([]),
        None,
        None,
    );
    plugin_case(
        "basic (old golden)",
        "basic@29bcc3ca.txt.golden",
        st.clone(),
        json!([]),
        None,
        None,
    );
    plugin_case(
        "include-exclude-ip",
        "include-exclude-ip.txt.golden",
        json!({STATUS: "true",
               "traffic.sidecar.istio.io/includeOutboundIPRanges": "127.0.0.0/8",
               "traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.0.0.0/8"}),
        json!([]),
        None,
        None,
    );
    plugin_case(
        "include-exclude-ports",
        "include-exclude-ports.txt.golden",
        json!({STATUS: "true",
               "traffic.sidecar.istio.io/includeInboundPorts": "1111,2222",
               "traffic.sidecar.istio.io/excludeInboundPorts": "3333,4444",
               "traffic.sidecar.istio.io/excludeOutboundPorts": "5555,6666"}),
        json!([]),
        None,
        None,
    );
    plugin_case(
        "tproxy",
        "tproxy.txt.golden",
        json!({STATUS: "true", "sidecar.istio.io/interceptionMode": "TPROXY"}),
        json!([]),
        None,
        None,
    );
    plugin_case(
        "invalid-drop",
        "invalid-drop.txt.golden",
        st.clone(),
        json!([{"name": "INVALID_DROP", "value": "true"}]),
        None,
        None,
    );
    plugin_case(
        "custom-uid",
        "custom-uid.txt.golden",
        st.clone(),
        json!([]),
        Some(1000670000),
        Some(1000670001),
    );
    plugin_case(
        "custom-uid-zero",
        "basic.txt.golden",
        st.clone(),
        json!([]),
        Some(0),
        None,
    );
    plugin_case(
        "custom-uid-tproxy",
        "custom-uid-tproxy.txt.golden",
        json!({STATUS: "true", "sidecar.istio.io/interceptionMode": "TPROXY"}),
        json!([]),
        Some(1000670000),
        Some(1000670001),
    );
}

/// DNS capture: no stored upstream revision has HEAD's `ISTIO_OUTPUT_DNS` layout, so this
/// golden is ours, written from HEAD's `SetupDNSRedir`/`addDNSConntrackZones` (its header
/// says so).
#[test]
fn dns_golden() {
    let (steps, want) = read_golden("dns.txt.golden");
    assert!(steps.is_empty());
    let got = plugin_rules(&dry_run_pod(
        json!({STATUS: "true"}),
        json!([{"name": "ISTIO_META_DNS_CAPTURE", "value": "true"}]),
        None,
        None,
    ));
    assert_eq!(got, want);
}

// ---- the rule builder's goldens ----

/// Upstream's `constructTestConfig` in `capture/run_test.go`.
fn test_config() -> Config {
    Config {
        proxy_uid: "1337".into(),
        proxy_gid: "1337".into(),
        ..Config::default()
    }
}

/// The builder's output in the command format the older stub recorded: per family, `-N` for
/// each chain on first use (across tables), then every rule.
fn command_format(b: &Builder) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut family = |cmd: &str, rules: &[Rule]| {
        let mut seen: Vec<(String, String)> = Vec::new();
        for r in rules {
            let key = (r.chain.clone(), r.table.clone());
            if !seen.contains(&key) {
                seen.push(key);
                if !istio_cni::builder::is_builtin(&r.chain) {
                    out.push(format!("{cmd} -t {} -N {}", r.table, r.chain));
                }
            }
        }
        for r in rules {
            out.push(format!("{cmd} -t {} {}", r.table, r.line()));
        }
    };
    family("iptables", &b.v4);
    family("ip6tables", &b.v6);
    out.join("\n")
}

/// What the current stub records: both families saved, each restore input, then the final
/// saves.
fn executed_all(b: &Builder) -> String {
    let mut out = String::from("iptables-save\nip6tables-save\n");
    out.push_str(&b.v4_restore());
    out.push_str(&b.v6_restore());
    out.push_str("iptables-save\n");
    if b.ipv6() {
        out.push_str("ip6tables-save\n");
    }
    out
}

fn capture_case(name: &str, f: impl Fn(&mut Config)) {
    let mut cfg = test_config();
    f(&mut cfg);
    let b = capture::build(&cfg).unwrap();
    let (steps, body) = read_golden(&format!("upstream/capture/{name}.golden"));
    let want = upgrade(&body, &steps);
    let got = if body.starts_with("iptables-save") {
        executed_all(&b)
    } else {
        command_format(&b)
    };
    assert_eq!(
        got.trim_end(),
        want.trim_end(),
        "capture case {name} (upgraded by {steps:?})"
    );
}

#[test]
fn rule_builder_goldens() {
    capture_case("empty", |_| {});
    capture_case("host-ipv4-loopback-cidr", |c| {
        c.host_ipv4_loopback_cidr = "127.0.0.1/8".into()
    });
    capture_case("outbound-ports-exclude-single", |c| {
        c.outbound_ports_exclude = "22".into()
    });
    capture_case("kube-virt-interfaces", |c| {
        c.reroute_virtual_interfaces = "eth1,eth2".into();
        c.outbound_ip_ranges_include = "*".into();
    });
    capture_case("ipnets", |c| {
        c.outbound_ip_ranges_include = "10.0.0.0/8".into()
    });
    capture_case("inbound-ports-include", |c| {
        c.inbound_ports_include = "32000,31000".into()
    });
    capture_case("inbound-ports-tproxy", |c| {
        c.inbound_ports_include = "32000,31000".into();
        c.inbound_interception_mode = "TPROXY".into();
    });
    capture_case("inbound-ports-wildcard-tproxy", |c| {
        c.inbound_ports_include = "*".into();
        c.inbound_interception_mode = "TPROXY".into();
    });
    capture_case("outbound-ports-include", |c| {
        c.outbound_ports_include = "32000,31000".into()
    });
    capture_case("outbound-owner-groups", |c| {
        c.owner_groups_include = "java,202".into()
    });
    capture_case("ipv6-empty-inbound-ports", |c| {
        c.inbound_ports_include = String::new();
        c.enable_ipv6 = true;
    });
    capture_case("ipv6-inbound-ports", |c| {
        c.inbound_ports_include = "4000,5000".into();
        c.enable_ipv6 = true;
    });
    capture_case("ipv6-virt-interfaces", |c| {
        c.inbound_ports_include = "4000,5000".into();
        c.reroute_virtual_interfaces = "eth0,eth1".into();
        c.enable_ipv6 = true;
    });
    capture_case("ipv6-ipnets", |c| {
        c.inbound_ports_include = "4000,5000".into();
        c.inbound_ports_exclude = "6000,7000,".into();
        c.reroute_virtual_interfaces = "eth0,eth1".into();
        c.outbound_ip_ranges_exclude = "2001:db8::/32".into();
        c.outbound_ip_ranges_include = "2001:db8::/32".into();
        c.enable_ipv6 = true;
    });
    capture_case("ipv6-uid-gid", |c| {
        c.inbound_ports_include = "4000,5000".into();
        c.inbound_ports_exclude = "6000,7000".into();
        c.reroute_virtual_interfaces = "eth0,eth1".into();
        c.proxy_gid = "1,2".into();
        c.proxy_uid = "3,4".into();
        c.enable_ipv6 = true;
        c.outbound_ip_ranges_exclude = "2001:db8::/32".into();
        c.outbound_ip_ranges_include = "2001:db8::/32".into();
    });
    capture_case("ipv6-outbound-ports", |c| {
        c.inbound_ports_include = String::new();
        c.outbound_ports_include = "32000,31000".into();
        c.enable_ipv6 = true;
    });
}

#[test]
fn every_golden_file_is_used() {
    // A golden added without a case would silently test nothing.
    let src =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden.rs"))
            .unwrap();
    for dir in ["upstream/plugin", "upstream/capture"] {
        for e in std::fs::read_dir(testdata(dir)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let stem = name.trim_end_matches(".golden");
            assert!(
                src.contains(&format!("\"{name}\"")) || src.contains(&format!("\"{stem}\"")),
                "{dir}/{name} has no test case"
            );
        }
    }
}
