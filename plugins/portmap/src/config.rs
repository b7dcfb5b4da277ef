//! portmap's config: upstream's `PortMapConf`, its defaults, validation order and messages,
//! and the choice of container addresses from the prevResult.

use ipnetwork::IpNetwork;
use libcni::{CniResult, NetConf};
use serde::Deserialize;

use firewall::portmap::{Attachment, PortMapping};

/// The masquerade mark bit when none is given (Kubernetes uses 14 and 15, Calico 20-31).
pub const DEFAULT_MARK_BIT: i64 = 13;

/// Which backend the config asks for. `Auto` is upstream's default: iptables unless it is
/// unusable and nftables works, decided when first used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Iptables,
    Nftables,
    Auto,
}

#[derive(Debug)]
pub struct Config {
    pub cni_version: String,
    /// Parsed with the config's version, printed back unchanged by ADD.
    pub prev_result: Option<CniResult>,
    pub attachment: Attachment,
    pub backend: Backend,
    /// The first sandbox address of each family, with its prefix.
    pub cont_ipv4: Option<IpNetwork>,
    pub cont_ipv6: Option<IpNetwork>,
}

// Go's `PortMapConf` (which embeds `types.NetConf`, decoded alongside). Every field is
// optional: Go leaves a zero value for a missing or null key.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename = "main.PortMapConf")]
struct Raw {
    backend: Option<String>,
    snat: Option<bool>,
    #[serde(rename = "conditionsV4")]
    conditions_v4: Option<Vec<String>>,
    #[serde(rename = "conditionsV6")]
    conditions_v6: Option<Vec<String>>,
    #[serde(rename = "masqAll")]
    masq_all: Option<bool>,
    #[serde(rename = "markMasqBit")]
    mark_masq_bit: Option<i64>,
    #[serde(rename = "externalSetMarkChain")]
    external_set_mark_chain: Option<String>,
    #[serde(rename = "runtimeConfig")]
    runtime_config: Option<RuntimeConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    default,
    rename = "struct { PortMaps []main.PortMapEntry \"json:\\\"portMappings,omitempty\\\"\" }"
)]
struct RuntimeConfig {
    #[serde(rename = "portMappings")]
    port_mappings: Option<Vec<RawMapping>>,
}

/// Case-insensitive decoding also takes containerd's `HostPort`, `ContainerPort`, ...
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename = "main.PortMapEntry")]
struct RawMapping {
    #[serde(rename = "hostPort")]
    host_port: Option<i64>,
    #[serde(rename = "containerPort")]
    container_port: Option<i64>,
    protocol: Option<String>,
    #[serde(rename = "hostIP")]
    host_ip: Option<String>,
}

/// How a backend check is answered: does this host support iptables / nftables? Only asked
/// when the config's backend-specific options make the default matter (upstream asks always).
pub trait Probe {
    fn iptables_usable(&self) -> bool;
    fn nftables_usable(&self) -> bool;
}

/// Upstream's `parseConfig`. Errors are upstream's texts, unwrapped (ADD and DEL prefix them
/// with `failed to parse config: `, CHECK does not).
pub fn parse(stdin: &[u8], ifname: &str, probe: &dyn Probe) -> Result<Config, String> {
    let parse_err = |e: String| format!("failed to parse network configuration: {e}");
    let (raw, net): (Raw, NetConf) =
        NetConf::parse_embedded(stdin).map_err(|e| parse_err(e.to_string()))?;

    let prev_result = net
        .prev_result()
        .map_err(|e| format!("could not parse prevResult: {e}"))?;
    let current = match &prev_result {
        Some(p) => Some(
            p.to_current()
                .map_err(|e| format!("could not convert result to current version: {e}"))?,
        ),
        None => None,
    };

    let snat = raw.snat.unwrap_or(true);
    if raw.mark_masq_bit.is_some() && raw.external_set_mark_chain.is_some() {
        return Err("Cannot specify externalSetMarkChain and markMasqBit".into());
    }
    let mark_bit = raw.mark_masq_bit.unwrap_or(DEFAULT_MARK_BIT);
    if !(0..=31).contains(&mark_bit) {
        return Err("MasqMarkBit must be between 0 and 31".into());
    }
    let backend = validate_backend(&raw, probe)?;

    let mut mappings = Vec::new();
    for m in raw
        .runtime_config
        .and_then(|r| r.port_mappings)
        .unwrap_or_default()
    {
        let (host_port, container_port) = (m.host_port.unwrap_or(0), m.container_port.unwrap_or(0));
        if container_port <= 0 {
            return Err(format!("Invalid container port number: {container_port}"));
        }
        if host_port <= 0 {
            return Err(format!("Invalid host port number: {host_port}"));
        }
        mappings.push(PortMapping {
            host_port,
            container_port,
            protocol: m.protocol.unwrap_or_default(),
            host_ip: m.host_ip.unwrap_or_default(),
        });
    }

    // The first address of each family, skipping addresses of known non-sandbox interfaces.
    let (mut cont_ipv4, mut cont_ipv6) = (None, None);
    if let Some(result) = &current {
        for ip in &result.ips {
            let slot = if ip.address.is_ipv4() {
                &mut cont_ipv4
            } else {
                &mut cont_ipv6
            };
            if slot.is_some() {
                continue;
            }
            if let Some(idx) = ip.interface {
                let known = usize::try_from(idx)
                    .ok()
                    .and_then(|i| result.interfaces.get(i));
                if known.is_some_and(|i| i.name != ifname || i.sandbox.is_empty()) {
                    continue;
                }
            }
            *slot = Some(ip.address);
        }
    }

    Ok(Config {
        cni_version: net.cni_version.clone(),
        prev_result,
        attachment: Attachment {
            network: net.name.clone(),
            container_id: String::new(),
            mappings,
            snat,
            masq_all: raw.masq_all.unwrap_or(false),
            mark_bit: mark_bit as u32,
            external_set_mark_chain: raw.external_set_mark_chain,
            conditions_v4: raw.conditions_v4,
            conditions_v6: raw.conditions_v6,
        },
        backend,
        cont_ipv4,
        cont_ipv6,
    })
}

impl Config {
    /// Every mapping's `hostIP` is empty or an address (what Go's `net.ParseIP` takes). Go
    /// does not check: a name such as `IFNAME` counts as IPv6 there and goes to `ip6tables`
    /// as `-d IFNAME`, which resolves it through DNS (and fails). ADD and CHECK refuse it
    /// here, before any firewall command; DEL does not look at it.
    pub fn check_host_ips(&self) -> Result<(), String> {
        for m in &self.attachment.mappings {
            if !m.host_ip.is_empty() && m.host_ip.parse::<std::net::IpAddr>().is_err() {
                return Err(format!(
                    "Invalid host IP address: {}",
                    libcni::json::go_quote(&m.host_ip)
                ));
            }
        }
        Ok(())
    }
}

/// Which backend a condition list is written for: iptables conditions start with `-` or `!`.
fn backend_of_conditions(conditions: &Option<Vec<String>>) -> Option<&'static str> {
    let first = conditions.as_ref()?.first()?;
    match first.as_bytes().first()? {
        b'-' | b'!' => Some("iptables"),
        _ => Some("nftables"),
    }
}

/// Upstream's `validateBackend` and backend switch.
fn validate_backend(raw: &Raw, probe: &dyn Probe) -> Result<Backend, String> {
    let mut iptables_opts = Vec::new();
    let mut nftables_opts = Vec::new();
    if raw.external_set_mark_chain.is_some() {
        iptables_opts.push("externalSetMarkChain");
    }
    for (key, conds) in [
        ("conditionsV4", &raw.conditions_v4),
        ("conditionsV6", &raw.conditions_v6),
    ] {
        match backend_of_conditions(conds) {
            Some("iptables") => iptables_opts.push(key),
            Some(_) => nftables_opts.push(key),
            None => {}
        }
    }

    let (name, auto) = match raw.backend.as_deref() {
        Some(b) => (b.to_string(), false),
        // Only backend-specific options make the default observable; otherwise it is decided
        // lazily, when the first firewall command runs (saves upstream's probe execs).
        None if iptables_opts.is_empty() && nftables_opts.is_empty() => ("iptables".into(), true),
        None if !probe.iptables_usable() && probe.nftables_usable() => ("nftables".into(), false),
        None => ("iptables".into(), false),
    };
    let (wrong, wrong_opts) = if name == "iptables" {
        ("nftables", &nftables_opts)
    } else {
        ("iptables", &iptables_opts)
    };
    if !wrong_opts.is_empty() {
        return Err(format!(
            "{name} backend was requested but configuration contains {wrong}-specific options [{}]",
            wrong_opts.join(" ")
        ));
    }
    match name.as_str() {
        "iptables" if auto => Ok(Backend::Auto),
        "iptables" => Ok(Backend::Iptables),
        "nftables" => Ok(Backend::Nftables),
        other => Err(format!(
            "unrecognized backend {}",
            libcni::json::go_quote(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Host {
        iptables: bool,
        nftables: bool,
    }

    impl Probe for Host {
        fn iptables_usable(&self) -> bool {
            self.iptables
        }
        fn nftables_usable(&self) -> bool {
            self.nftables
        }
    }

    const IPT_HOST: Host = Host {
        iptables: true,
        nftables: true,
    };
    const NFT_HOST: Host = Host {
        iptables: false,
        nftables: true,
    };

    fn parse_str(s: &str) -> Result<Config, String> {
        parse(s.as_bytes(), "eth0", &IPT_HOST)
    }

    /// Upstream portmap_test.go: "correctly parses an ADD config".
    #[test]
    fn parses_add_config_and_picks_sandbox_ips() {
        let c = parse_str(
            r#"{"name":"test","type":"portmap","cniVersion":"1.0.0","snat":false,
            "conditionsV4":["a","b"],"conditionsV6":["c","d"],"backend":"nftables",
            "runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},
              {"hostPort":8081,"containerPort":81,"protocol":"udp"}]},
            "prevResult":{"cniVersion":"1.0.0",
              "interfaces":[{"name":"host"},{"name":"eth0","sandbox":"netns"}],
              "ips":[{"address":"10.0.0.1/24","gateway":"10.0.0.1","interface":0},
                     {"address":"10.0.0.2/24","gateway":"10.0.0.1","interface":1},
                     {"address":"2001:db8:1::2/64","gateway":"2001:db8:1::1","interface":1}]}}"#,
        )
        .unwrap();
        assert_eq!(c.cont_ipv4, Some("10.0.0.2/24".parse().unwrap()));
        assert_eq!(c.cont_ipv6, Some("2001:db8:1::2/64".parse().unwrap()));
        assert!(!c.attachment.snat);
        assert_eq!(c.attachment.mark_bit, 13);
        assert_eq!(c.backend, Backend::Nftables);
        assert_eq!(c.attachment.mappings.len(), 2);
        assert_eq!(c.attachment.mappings[1].protocol, "udp");
    }

    #[test]
    fn del_needs_neither_runtime_config_nor_prev_result() {
        let c = parse_str(r#"{"name":"test","type":"portmap","cniVersion":"1.0.0"}"#).unwrap();
        assert!(c.prev_result.is_none());
        assert!(c.attachment.mappings.is_empty());
        assert!(c.attachment.snat);
        assert_eq!(c.backend, Backend::Auto);
    }

    #[test]
    fn containerd_capitalised_keys() {
        let c = parse_str(
            r#"{"name":"n","cniVersion":"1.0.0","runtimeConfig":{"portMappings":[
                {"HostPort":8080,"ContainerPort":80,"Protocol":"tcp","HostIP":"192.168.0.2"}]}}"#,
        )
        .unwrap();
        let m = &c.attachment.mappings[0];
        assert_eq!((m.host_port, m.container_port), (8080, 80));
        assert_eq!(
            (m.protocol.as_str(), m.host_ip.as_str()),
            ("tcp", "192.168.0.2")
        );
    }

    #[test]
    fn missing_interface_index_is_accepted() {
        let c = parse_str(
            r#"{"name":"n","cniVersion":"1.0.0","prevResult":{"cniVersion":"1.0.0",
                "interfaces":[{"name":"eth0","sandbox":"x"}],
                "ips":[{"address":"10.0.0.2/24","interface":5},{"address":"10.0.0.3/24"}]}}"#,
        )
        .unwrap();
        assert_eq!(c.cont_ipv4, Some("10.0.0.2/24".parse().unwrap()));
    }

    #[test]
    fn validation_errors_read_like_upstream() {
        let err = |s: &str| parse_str(s).unwrap_err();
        assert_eq!(
            err(
                r#"{"name":"n","runtimeConfig":{"portMappings":[{"hostPort":0,"containerPort":80,"protocol":"tcp"}]}}"#
            ),
            "Invalid host port number: 0"
        );
        assert_eq!(
            err(
                r#"{"name":"n","runtimeConfig":{"portMappings":[{"hostPort":1,"containerPort":-1}]}}"#
            ),
            "Invalid container port number: -1"
        );
        assert_eq!(
            err(r#"{"name":"n","markMasqBit":5,"externalSetMarkChain":"X"}"#),
            "Cannot specify externalSetMarkChain and markMasqBit"
        );
        assert_eq!(
            err(r#"{"name":"n","markMasqBit":32}"#),
            "MasqMarkBit must be between 0 and 31"
        );
        assert_eq!(
            err(r#"{"name":"n","backend":"pf"}"#),
            "unrecognized backend \"pf\""
        );
        assert_eq!(
            err(r#"{"name":"n","backend":"iptables","conditionsV4":["a","b"],"conditionsV6":["c","d"]}"#),
            "iptables backend was requested but configuration contains nftables-specific options [conditionsV4 conditionsV6]"
        );
        assert_eq!(
            err(r#"{"name":"n","backend":"nftables","externalSetMarkChain":"X","conditionsV4":["-a","b"],"conditionsV6":["!","-d","x"]}"#),
            "nftables backend was requested but configuration contains iptables-specific options [externalSetMarkChain conditionsV4 conditionsV6]"
        );
        // No backend: nft-style conditions are an error on an iptables host (the docs say
        // otherwise, the code does this) and fine where only nftables works.
        assert_eq!(
            err(r#"{"name":"n","conditionsV4":["ip","saddr","1.2.3.4"]}"#),
            "iptables backend was requested but configuration contains nftables-specific options [conditionsV4]"
        );
        let c = parse(
            br#"{"name":"n","conditionsV4":["ip","saddr","1.2.3.4"]}"#,
            "eth0",
            &NFT_HOST,
        )
        .unwrap();
        assert_eq!(c.backend, Backend::Nftables);
        let c = parse_str(r#"{"name":"n","conditionsV4":["-d","1.2.3.4"]}"#).unwrap();
        assert_eq!(c.backend, Backend::Iptables);
        assert!(err(r#"{"name":"n","snat":"yes"}"#)
            .starts_with("failed to parse network configuration: "));
    }
}
