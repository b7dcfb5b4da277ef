//! What rules a pod gets: `istio-iptables`' capture logic (`tools/istio-iptables/pkg/capture`
//! `Run`, Istio 1.25+ semantics), from a [`Config`] to the rules of both families, in
//! upstream's order.

use std::net::IpAddr;

use crate::builder::{Builder, IP_VERSION_SPECIFIC as VS};

pub const ISTIO_INBOUND: &str = "ISTIO_INBOUND";
pub const ISTIO_OUTPUT: &str = "ISTIO_OUTPUT";
pub const ISTIO_OUTPUT_DNS: &str = "ISTIO_OUTPUT_DNS";
pub const ISTIO_REDIRECT: &str = "ISTIO_REDIRECT";
pub const ISTIO_IN_REDIRECT: &str = "ISTIO_IN_REDIRECT";
pub const ISTIO_DIVERT: &str = "ISTIO_DIVERT";
pub const ISTIO_TPROXY: &str = "ISTIO_TPROXY";
pub const ISTIO_DROP: &str = "ISTIO_DROP";

/// The agent's DNS listener.
pub const DNS_LISTENER_PORT: &str = "15053";
/// Mark of proxy → app traffic on loopback in TPROXY mode.
pub const OUTBOUND_MARK: &str = "1338";

/// `istio-iptables`' configuration (`tools/common/config.Config`), the fields that shape the
/// rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub proxy_port: String,
    pub inbound_capture_port: String,
    pub inbound_tunnel_port: String,
    pub proxy_uid: String,
    pub proxy_gid: String,
    pub inbound_interception_mode: String,
    pub inbound_tproxy_mark: String,
    pub inbound_tproxy_route_table: String,
    pub inbound_ports_include: String,
    pub inbound_ports_exclude: String,
    pub owner_groups_include: String,
    pub owner_groups_exclude: String,
    pub outbound_ports_include: String,
    pub outbound_ports_exclude: String,
    pub outbound_ip_ranges_include: String,
    pub outbound_ip_ranges_exclude: String,
    pub reroute_virtual_interfaces: String,
    pub exclude_interfaces: String,
    pub redirect_dns: bool,
    pub drop_invalid: bool,
    pub capture_all_dns: bool,
    pub enable_ipv6: bool,
    pub dns_servers_v4: Vec<String>,
    pub dns_servers_v6: Vec<String>,
    pub host_ipv4_loopback_cidr: String,
}

impl Default for Config {
    /// Upstream's `DefaultConfig()`.
    fn default() -> Self {
        Config {
            proxy_port: "15001".into(),
            inbound_capture_port: "15006".into(),
            inbound_tunnel_port: "15008".into(),
            proxy_uid: String::new(),
            proxy_gid: String::new(),
            inbound_interception_mode: String::new(),
            inbound_tproxy_mark: "1337".into(),
            inbound_tproxy_route_table: "133".into(),
            inbound_ports_include: String::new(),
            inbound_ports_exclude: String::new(),
            owner_groups_include: "*".into(),
            owner_groups_exclude: String::new(),
            outbound_ports_include: String::new(),
            outbound_ports_exclude: String::new(),
            outbound_ip_ranges_include: String::new(),
            outbound_ip_ranges_exclude: String::new(),
            reroute_virtual_interfaces: String::new(),
            exclude_interfaces: String::new(),
            redirect_dns: false,
            drop_invalid: false,
            capture_all_dns: false,
            enable_ipv6: false,
            dns_servers_v4: Vec::new(),
            dns_servers_v6: Vec::new(),
            host_ipv4_loopback_cidr: "127.0.0.1/32".into(),
        }
    }
}

impl Config {
    pub fn tproxy(&self) -> bool {
        self.inbound_interception_mode == "TPROXY"
    }
}

/// Upstream's `config.Split`: split on `,`, drop empty items, trim nothing.
pub fn split(s: &str) -> Vec<&str> {
    s.split(',').filter(|p| !p.is_empty()).collect()
}

/// One family's outbound ranges (upstream's `NetworkRange`).
#[derive(Debug, Default)]
struct NetworkRange {
    wildcard: bool,
    cidrs: Vec<String>,
    has_loopback: bool,
}

/// Upstream's `separateV4V6` of the capture package: `*` is a wildcard for both families;
/// entries that do not parse as a prefix are skipped with a note on stderr ("bug
/// compatibility"); each prefix keeps its text as Go's `netip.Prefix.String()` prints it.
fn separate_v4_v6(list: &str) -> (NetworkRange, NetworkRange) {
    if list == "*" {
        let w = || NetworkRange {
            wildcard: true,
            ..NetworkRange::default()
        };
        return (w(), w());
    }
    let (mut v4, mut v6) = (NetworkRange::default(), NetworkRange::default());
    for item in split(list) {
        match crate::goparse::parse_prefix(item) {
            Ok((addr, bits)) => {
                let range = if addr.is_ipv4() { &mut v4 } else { &mut v6 };
                range.cidrs.push(format!("{addr}/{bits}"));
                if addr.is_loopback() {
                    range.has_loopback = true;
                }
            }
            Err(e) => {
                eprintln!("Ignoring error for bug compatibility with istio-iptables: {e}");
            }
        }
    }
    (v4, v6)
}

/// Why no rules can be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureError(pub String);

impl std::fmt::Display for CaptureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Upstream's `IptablesConfigurator.Run` up to (not including) executing the commands.
pub fn build(cfg: &Config) -> Result<Builder, CaptureError> {
    let mut b = Builder::new(cfg.enable_ipv6);
    let (v4_exclude, v6_exclude) = separate_v4_v6(&cfg.outbound_ip_ranges_exclude);
    if v4_exclude.wildcard {
        return Err(CaptureError(
            "invalid value for OUTBOUND_IP_RANGES_EXCLUDE".into(),
        ));
    }
    let (v4_include, v6_include) = separate_v4_v6(&cfg.outbound_ip_ranges_include);

    let mut redirect_dns = cfg.redirect_dns;
    if redirect_dns
        && !cfg.capture_all_dns
        && cfg.dns_servers_v4.is_empty()
        && cfg.dns_servers_v6.is_empty()
    {
        eprintln!("REDIRECT_DNS is set, but CAPTURE_ALL_DNS is false, and no DNS servers provided. DNS capture disabled.");
        redirect_dns = false;
    }

    let tproxy = cfg.tproxy();
    let loopback = cfg.host_ipv4_loopback_cidr.as_str();

    // Excluded interfaces, then virtual interfaces short-circuited.
    for nic in split(&cfg.exclude_interfaces) {
        b.append("PREROUTING", "nat", &["-i", nic, "-j", "RETURN"]);
        b.append("OUTPUT", "nat", &["-o", nic, "-j", "RETURN"]);
    }
    if tproxy {
        for nic in split(&cfg.exclude_interfaces) {
            b.append("PREROUTING", "mangle", &["-i", nic, "-j", "RETURN"]);
            b.append("OUTPUT", "mangle", &["-o", nic, "-j", "RETURN"]);
        }
    }
    for nic in split(&cfg.reroute_virtual_interfaces) {
        b.insert("PREROUTING", "nat", 1, &["-i", nic, "-j", "RETURN"]);
    }

    if cfg.drop_invalid {
        b.append(
            "PREROUTING",
            "mangle",
            &["-m", "conntrack", "--ctstate", "INVALID", "-j", ISTIO_DROP],
        );
        b.append(ISTIO_DROP, "mangle", &["-j", "DROP"]);
    }

    b.append(
        ISTIO_INBOUND,
        "nat",
        &[
            "-p",
            "tcp",
            "--dport",
            &cfg.inbound_tunnel_port,
            "-j",
            "RETURN",
        ],
    );
    b.append(
        ISTIO_REDIRECT,
        "nat",
        &["-p", "tcp", "-j", "REDIRECT", "--to-ports", &cfg.proxy_port],
    );
    b.append(
        ISTIO_IN_REDIRECT,
        "nat",
        &[
            "-p",
            "tcp",
            "-j",
            "REDIRECT",
            "--to-ports",
            &cfg.inbound_capture_port,
        ],
    );

    inbound(&mut b, cfg);

    b.append("OUTPUT", "nat", &["-j", ISTIO_OUTPUT]);
    for port in split(&cfg.outbound_ports_exclude) {
        b.append(
            ISTIO_OUTPUT,
            "nat",
            &["-p", "tcp", "--dport", port, "-j", "RETURN"],
        );
        b.append(
            ISTIO_OUTPUT,
            "nat",
            &["-p", "udp", "--dport", port, "-j", "RETURN"],
        );
    }

    b.append_versioned(
        "127.0.0.6/32",
        "::6/128",
        ISTIO_OUTPUT,
        "nat",
        &["-o", "lo", "-s", VS, "-j", "RETURN"],
    );

    let include_loopback = v4_include.has_loopback || v6_include.has_loopback;
    let dns_dports = format!("53,{}", cfg.inbound_tunnel_port);
    // The proxy's own traffic. Upstream keeps DNS out of the first rule only for uids.
    for (flag, id) in proxy_owners(cfg) {
        let vip_skips_dns = redirect_dns && flag == UID_OWNER;
        // An app calling itself through a service VIP goes through the proxy both ways
        // (appN => Envoy (client) => Envoy (server) => appN).
        let mut params = vec!["-o", "lo", "!", "-d", VS, "-p", "tcp"];
        if vip_skips_dns {
            params.extend(["-m", "multiport", "!", "--dports", dns_dports.as_str()]);
        } else {
            params.extend(["!", "--dport", cfg.inbound_tunnel_port.as_str()]);
        }
        params.extend(["-m", "owner", flag, id, "-j", ISTIO_IN_REDIRECT]);
        b.append_versioned(loopback, "::1/128", ISTIO_OUTPUT, "nat", &params);
        // An app calling itself by its endpoint address over lo does not (DNS excepted
        // while DNS is redirected).
        if !include_loopback {
            let mut params = vec!["-o", "lo"];
            if redirect_dns {
                params.extend(["-p", "tcp", "!", "--dport", "53"]);
            }
            params.extend(["-m", "owner", "!", flag, id, "-j", "RETURN"]);
            b.append(ISTIO_OUTPUT, "nat", &params);
        }
        // No loops: the proxy's other traffic never goes back into the proxy.
        b.append(
            ISTIO_OUTPUT,
            "nat",
            &["-m", "owner", flag, id, "-j", "RETURN"],
        );
    }

    // Owner-group filter (ISTIO_OUTBOUND_OWNER_GROUPS[_EXCLUDE]).
    let (groups, except) = intercept_filter(&cfg.owner_groups_include, &cfg.owner_groups_exclude);
    if except {
        for g in &groups {
            b.append(
                ISTIO_OUTPUT,
                "nat",
                &["-m", "owner", "--gid-owner", g, "-j", "RETURN"],
            );
        }
    } else {
        let mut params: Vec<&str> = Vec::new();
        for g in &groups {
            params.extend(["-m", "owner", "!", "--gid-owner", g]);
        }
        params.extend(["-j", "RETURN"]);
        b.append(ISTIO_OUTPUT, "nat", &params);
    }

    if redirect_dns {
        dns(&mut b, cfg);
    }

    b.append_versioned(
        loopback,
        "::1/128",
        ISTIO_OUTPUT,
        "nat",
        &["-d", VS, "-j", "RETURN"],
    );
    for cidr in &v4_exclude.cidrs {
        b.append_v4(ISTIO_OUTPUT, "nat", &["-d", cidr, "-j", "RETURN"]);
    }
    for cidr in &v6_exclude.cidrs {
        b.append_v6(ISTIO_OUTPUT, "nat", &["-d", cidr, "-j", "RETURN"]);
    }

    for port in split(&cfg.outbound_ports_include) {
        b.append(
            ISTIO_OUTPUT,
            "nat",
            &["-p", "tcp", "--dport", port, "-j", ISTIO_REDIRECT],
        );
    }

    outbound_include(&mut b, cfg, &v4_include, false);
    outbound_include(&mut b, cfg, &v6_include, true);

    if tproxy {
        let mark = cfg.inbound_tproxy_mark.as_str();
        b.append(
            "PREROUTING",
            "mangle",
            &[
                "-p",
                "tcp",
                "-m",
                "mark",
                "--mark",
                mark,
                "-j",
                "CONNMARK",
                "--save-mark",
            ],
        );
        b.append(
            "OUTPUT",
            "mangle",
            &[
                "-p", "tcp", "-o", "lo", "-m", "mark", "--mark", mark, "-j", "RETURN",
            ],
        );
        for (flag, id) in proxy_owners(cfg) {
            b.append_versioned(
                loopback,
                "::1/128",
                "OUTPUT",
                "mangle",
                &[
                    "!",
                    "-d",
                    VS,
                    "-p",
                    "tcp",
                    "-o",
                    "lo",
                    "-m",
                    "owner",
                    flag,
                    id,
                    "-j",
                    "MARK",
                    "--set-mark",
                    OUTBOUND_MARK,
                ],
            );
        }
        b.append(
            "OUTPUT",
            "mangle",
            &[
                "-p",
                "tcp",
                "-m",
                "connmark",
                "--mark",
                mark,
                "-j",
                "CONNMARK",
                "--restore-mark",
            ],
        );
        b.insert(
            ISTIO_INBOUND,
            "mangle",
            1,
            &["-p", "tcp", "-m", "mark", "--mark", mark, "-j", "RETURN"],
        );
        b.insert_v4(
            ISTIO_INBOUND,
            "mangle",
            2,
            &[
                "-p",
                "tcp",
                "-s",
                "127.0.0.6/32",
                "-i",
                "lo",
                "-j",
                "RETURN",
            ],
        );
        b.insert_v6(
            ISTIO_INBOUND,
            "mangle",
            2,
            &["-p", "tcp", "-s", "::6/128", "-i", "lo", "-j", "RETURN"],
        );
        b.insert(
            ISTIO_INBOUND,
            "mangle",
            3,
            &[
                "-p",
                "tcp",
                "-i",
                "lo",
                "-m",
                "mark",
                "!",
                "--mark",
                OUTBOUND_MARK,
                "-j",
                "RETURN",
            ],
        );
    }
    Ok(b)
}

const UID_OWNER: &str = "--uid-owner";

/// The proxy's identities as owner matches: `--uid-owner` with each of its uids, then
/// `--gid-owner` with each of its gids (upstream's order).
fn proxy_owners(cfg: &Config) -> Vec<(&'static str, &str)> {
    let uids = split(&cfg.proxy_uid).into_iter().map(|id| (UID_OWNER, id));
    let gids = split(&cfg.proxy_gid)
        .into_iter()
        .map(|id| ("--gid-owner", id));
    uids.chain(gids).collect()
}

/// Upstream's `handleInboundPortsInclude`.
fn inbound(b: &mut Builder, cfg: &Config) {
    if cfg.inbound_ports_include.is_empty() {
        return;
    }
    let tproxy = cfg.tproxy();
    let table = if tproxy {
        b.append(
            ISTIO_DIVERT,
            "mangle",
            &["-j", "MARK", "--set-mark", &cfg.inbound_tproxy_mark],
        );
        b.append(ISTIO_DIVERT, "mangle", &["-j", "ACCEPT"]);
        let mark = format!("{}/0xffffffff", cfg.inbound_tproxy_mark);
        b.append_versioned(
            &cfg.host_ipv4_loopback_cidr,
            "::1/128",
            ISTIO_TPROXY,
            "mangle",
            &[
                "!",
                "-d",
                VS,
                "-p",
                "tcp",
                "-j",
                "TPROXY",
                "--tproxy-mark",
                &mark,
                "--on-port",
                &cfg.inbound_capture_port,
            ],
        );
        "mangle"
    } else {
        "nat"
    };
    b.append("PREROUTING", table, &["-p", "tcp", "-j", ISTIO_INBOUND]);
    if cfg.inbound_ports_include == "*" {
        for port in split(&cfg.inbound_ports_exclude) {
            b.append(
                ISTIO_INBOUND,
                table,
                &["-p", "tcp", "--dport", port, "-j", "RETURN"],
            );
        }
        if tproxy {
            b.append(
                ISTIO_INBOUND,
                "mangle",
                &[
                    "-p",
                    "tcp",
                    "-m",
                    "conntrack",
                    "--ctstate",
                    "RELATED,ESTABLISHED",
                    "-j",
                    ISTIO_DIVERT,
                ],
            );
            b.append(ISTIO_INBOUND, "mangle", &["-p", "tcp", "-j", ISTIO_TPROXY]);
        } else {
            b.append(
                ISTIO_INBOUND,
                "nat",
                &["-p", "tcp", "-j", ISTIO_IN_REDIRECT],
            );
        }
    } else {
        for port in split(&cfg.inbound_ports_include) {
            if tproxy {
                b.append(
                    ISTIO_INBOUND,
                    "mangle",
                    &[
                        "-p",
                        "tcp",
                        "--dport",
                        port,
                        "-m",
                        "conntrack",
                        "--ctstate",
                        "RELATED,ESTABLISHED",
                        "-j",
                        ISTIO_DIVERT,
                    ],
                );
                b.append(
                    ISTIO_INBOUND,
                    "mangle",
                    &["-p", "tcp", "--dport", port, "-j", ISTIO_TPROXY],
                );
            } else {
                b.append(
                    ISTIO_INBOUND,
                    "nat",
                    &["-p", "tcp", "--dport", port, "-j", ISTIO_IN_REDIRECT],
                );
            }
        }
    }
}

/// Upstream's `handleOutboundIncludeRules` for one family.
fn outbound_include(b: &mut Builder, cfg: &Config, range: &NetworkRange, v6: bool) {
    if range.wildcard {
        b.append_family(v6, ISTIO_OUTPUT, "nat", &["-j", ISTIO_REDIRECT]);
        for nic in split(&cfg.reroute_virtual_interfaces) {
            b.insert_family(
                v6,
                "PREROUTING",
                "nat",
                1,
                &["-i", nic, "-j", ISTIO_REDIRECT],
            );
        }
    } else {
        for cidr in &range.cidrs {
            for nic in split(&cfg.reroute_virtual_interfaces) {
                b.insert_family(
                    v6,
                    "PREROUTING",
                    "nat",
                    1,
                    &["-i", nic, "-d", cidr, "-j", ISTIO_REDIRECT],
                );
            }
            b.append_family(v6, ISTIO_OUTPUT, "nat", &["-d", cidr, "-j", ISTIO_REDIRECT]);
        }
    }
}

/// Upstream's `ParseInterceptFilter`: `(values, except)`.
fn intercept_filter(include: &str, exclude: &str) -> (Vec<String>, bool) {
    if include == "*" {
        (split(exclude).into_iter().map(String::from).collect(), true)
    } else {
        (
            split(include).into_iter().map(String::from).collect(),
            false,
        )
    }
}

/// Upstream's `SetupDNSRedir` and `addDNSConntrackZones`.
fn dns(b: &mut Builder, cfg: &Config) {
    b.append("OUTPUT", "raw", &["-j", ISTIO_OUTPUT_DNS]);
    let all = cfg.capture_all_dns;
    // Each family's servers, with the prefix length of one address.
    let families = [
        (false, &cfg.dns_servers_v4, 32),
        (true, &cfg.dns_servers_v6, 128),
    ];
    for (v6, servers, _) in families {
        if all || !servers.is_empty() {
            b.append_family(v6, ISTIO_OUTPUT, "nat", &["-j", ISTIO_OUTPUT_DNS]);
        }
    }
    let p = DNS_LISTENER_PORT;
    // TCP, then UDP; upstream spells the UDP redirect's flag `--to-port`.
    for (proto, to_ports) in [("tcp", "--to-ports"), ("udp", "--to-port")] {
        if all {
            b.append(
                ISTIO_OUTPUT_DNS,
                "nat",
                &["-p", proto, "--dport", "53", "-j", "REDIRECT", to_ports, p],
            );
            continue;
        }
        for (v6, servers, bits) in families {
            for s in servers {
                let d = format!("{s}/{bits}");
                b.append_family(
                    v6,
                    ISTIO_OUTPUT_DNS,
                    "nat",
                    &[
                        "-p", proto, "--dport", "53", "-d", &d, "-j", "REDIRECT", to_ports, p,
                    ],
                );
            }
        }
    }

    // Conntrack zones: the proxy's upstream queries in zone 1, its answers to apps in zone 2.
    for (flag, id) in proxy_owners(cfg) {
        b.append(
            ISTIO_OUTPUT_DNS,
            "raw",
            &[
                "-p", "udp", "--dport", "53", "-m", "owner", flag, id, "-j", "CT", "--zone", "1",
            ],
        );
        b.append(
            ISTIO_OUTPUT_DNS,
            "raw",
            &[
                "-p", "udp", "--sport", p, "-m", "owner", flag, id, "-j", "CT", "--zone", "2",
            ],
        );
    }
    if all {
        b.append("PREROUTING", "raw", &["-j", ISTIO_INBOUND]);
        b.append(
            ISTIO_OUTPUT_DNS,
            "raw",
            &["-p", "udp", "--dport", "53", "-j", "CT", "--zone", "2"],
        );
        b.append(
            ISTIO_INBOUND,
            "raw",
            &["-p", "udp", "--sport", "53", "-j", "CT", "--zone", "1"],
        );
    } else {
        for (v6, servers, bits) in families {
            if !servers.is_empty() {
                b.append_family(v6, "PREROUTING", "raw", &["-j", ISTIO_INBOUND]);
            }
            for s in servers {
                let a = format!("{s}/{bits}");
                b.append_family(
                    v6,
                    ISTIO_OUTPUT_DNS,
                    "raw",
                    &[
                        "-p", "udp", "--dport", "53", "-d", &a, "-j", "CT", "--zone", "2",
                    ],
                );
                b.append_family(
                    v6,
                    ISTIO_INBOUND,
                    "raw",
                    &[
                        "-p", "udp", "--sport", "53", "-s", &a, "-j", "CT", "--zone", "1",
                    ],
                );
            }
        }
    }
}

/// Splits DNS server addresses by family (upstream's `IPsSplitV4V6`).
pub fn split_v4_v6(servers: &[String]) -> (Vec<String>, Vec<String>) {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for s in servers {
        match s.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => v4.push(s.clone()),
            Ok(IpAddr::V6(_)) => v6.push(s.clone()),
            Err(_) => {}
        }
    }
    (v4, v6)
}
