//! The network config as host-local reads it (the reference's `allocator.LoadIPAMConfig`):
//! range sets merged from `runtimeConfig.ipRanges`, the legacy single range and `ranges`;
//! requested addresses from `CNI_ARGS`, `args.cni.ips` and `runtimeConfig.ips`; routes,
//! `dataDir` and `resolvConf`. Checks run in upstream's order with upstream's texts.

use std::net::IpAddr;

use libcni::types::{CniArgs, Route};
use libcni::version::SpecVersion;
use serde::{Deserialize, Deserializer};

use crate::ip::{self, Subnet};
use crate::range::RangeConf;
use crate::range_set::{self, RangeSet};

/// Where the reference keeps its stores when `dataDir` is not set.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";

#[derive(Debug, Clone)]
pub struct IpamConfig {
    /// The network name: the store's directory under `data_dir`.
    pub name: String,
    pub cni_version: String,
    /// In allocation order; the index is the `N` of `last_reserved_ip.N`.
    pub ranges: Vec<RangeSet>,
    /// `None` for a route without `dst`, which only ADD refuses (see README).
    pub routes: Vec<Option<Route>>,
    pub data_dir: String,
    pub resolv_conf: String,
    /// Requested addresses, in the reference's order: `CNI_ARGS` IP, `args.cni.ips`,
    /// `runtimeConfig.ips`.
    pub requested: Vec<IpAddr>,
}

/// Only what locates the store (GC needs no valid ranges to clean up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLocation {
    pub name: String,
    pub data_dir: String,
}

// The reference's structs (`backend/allocator/config.go`), with Go's names for decode errors.

/// `Net`: the whole config as host-local reads it.
#[derive(Default, Deserialize)]
#[serde(default, rename = "allocator.Net")]
struct Net {
    name: String,
    #[serde(rename = "cniVersion")]
    cni_version: String,
    ipam: Option<RawIpam>,
    #[serde(rename = "runtimeConfig")]
    runtime_config: RuntimeConfig,
    args: Option<Args>,
}

/// `IPAMConfig`, which embeds a `*Range` (the legacy single range): its keys are decoded
/// like a `Range`'s, and host-local uses it only if it has a subnet.
#[derive(Default, Deserialize)]
#[serde(default, rename = "allocator.IPAMConfig")]
struct RawIpam {
    #[serde(rename = "rangeStart", with = "net_ip")]
    range_start: Option<IpAddr>,
    #[serde(rename = "rangeEnd", with = "net_ip")]
    range_end: Option<IpAddr>,
    #[serde(deserialize_with = "subnet")]
    subnet: Option<Subnet>,
    #[serde(with = "net_ip")]
    gateway: Option<IpAddr>,
    // Keys of the reference's struct that host-local ignores still have to be strings.
    #[serde(rename = "Name")]
    _name: String,
    #[serde(rename = "type")]
    _type: String,
    #[serde(deserialize_with = "routes_type")]
    routes: Vec<Option<RawRoute>>,
    #[serde(rename = "dataDir")]
    data_dir: String,
    #[serde(rename = "resolvConf")]
    resolv_conf: String,
    ranges: Vec<RawRangeSet>,
}

libcni::go_type!(fn routes_type = "[]*types.Route");
libcni::go_type!(fn ip_list_type = "[]*ip.IP");

/// `RuntimeConfig`, an anonymous struct in Go.
#[derive(Default, Deserialize)]
#[serde(
    default,
    rename = "struct { IPRanges []allocator.RangeSet \"json:\\\"ipRanges,omitempty\\\"\"; IPs []*ip.IP \"json:\\\"ips,omitempty\\\"\" }"
)]
struct RuntimeConfig {
    #[serde(rename = "ipRanges")]
    ip_ranges: Vec<RawRangeSet>,
    #[serde(deserialize_with = "ip_list_type")]
    ips: Vec<IpArg>,
}

/// `Args`: `*struct { A *IPAMArgs "json:\"cni\"" }`.
#[derive(Default, Deserialize)]
#[serde(
    default,
    rename = "struct { A *allocator.IPAMArgs \"json:\\\"cni\\\"\" }"
)]
struct Args {
    cni: Option<IpamArgs>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename = "allocator.IPAMArgs")]
struct IpamArgs {
    #[serde(deserialize_with = "ip_list_type")]
    ips: Vec<IpArg>,
}

/// `RangeSet`, Go's named `[]Range`.
#[derive(Default)]
struct RawRangeSet(Vec<RawRange>);

impl<'de> Deserialize<'de> for RawRangeSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        libcni::gojson::declared(d, "\u{0}gojson:allocator.RangeSet").map(RawRangeSet)
    }
}

/// `Range`.
#[derive(Default, Deserialize)]
#[serde(default, rename = "allocator.Range")]
struct RawRange {
    #[serde(rename = "rangeStart", with = "net_ip")]
    range_start: Option<IpAddr>,
    #[serde(rename = "rangeEnd", with = "net_ip")]
    range_end: Option<IpAddr>,
    #[serde(deserialize_with = "subnet")]
    subnet: Option<Subnet>,
    #[serde(with = "net_ip")]
    gateway: Option<IpAddr>,
}

impl From<RawRange> for RangeConf {
    fn from(r: RawRange) -> Self {
        RangeConf {
            range_start: r.range_start,
            range_end: r.range_end,
            subnet: r.subnet,
            gateway: r.gateway,
        }
    }
}

/// A route. Go's `types.Route` decodes through a private struct (errors about its fields
/// name the `routes` field); here `dst` may be missing, which only ADD refuses.
#[derive(Default, Deserialize)]
#[serde(default, rename = "types.Route")]
struct RawRoute {
    #[serde(deserialize_with = "subnet_cidr")]
    dst: Option<ipnetwork::IpNetwork>,
    #[serde(with = "net_ip")]
    gw: Option<IpAddr>,
    #[serde(deserialize_with = "go_int")]
    mtu: u32,
    #[serde(deserialize_with = "go_int")]
    advmss: u32,
    #[serde(deserialize_with = "go_int")]
    priority: u32,
    #[serde(deserialize_with = "go_int")]
    table: Option<i32>,
    #[serde(deserialize_with = "go_int")]
    scope: Option<i32>,
}

libcni::go_type!(fn go_int = "int");

/// The plugins library's `*ip.IP` (a text unmarshaler taking `<ip>` or `<ip>/<prefix>`):
/// `None` for `null` or `""`, which later fails as an address Go cannot canonicalize.
struct IpArg(Option<IpAddr>);

impl<'de> Deserialize<'de> for IpArg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text: Option<String> = libcni::gojson::declared(d, "\u{0}gojson:*ip.IP")?;
        match text {
            None => Ok(IpArg(None)),
            Some(s) => parse_ip_or_cidr(&s)
                .map(IpArg)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// `net.IP` (`libcni`'s form): null and "" leave it unset, else an address.
mod net_ip {
    pub use libcni::types::net::opt_ip::deserialize;
}

/// `types.IPNet` as host-local's subnet.
fn subnet<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Subnet>, D::Error> {
    libcni::gojson::ipnet(d, Subnet::parse).map(Some)
}

fn subnet_cidr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ipnetwork::IpNetwork>, D::Error> {
    libcni::gojson::ipnet(d, libcni::types::parse_cidr).map(Some)
}

fn decode<T: serde::de::DeserializeOwned>(stdin: &[u8]) -> Result<T, String> {
    libcni::gojson::from_slice(stdin).map_err(|e| e.to_string())
}

fn data_dir(configured: &str) -> String {
    match configured {
        "" => DEFAULT_DATA_DIR.to_string(),
        d => d.to_string(),
    }
}

/// The network name and store directory, with the same decode errors as [`load`] for the
/// keys involved.
pub fn load_location(stdin: &[u8]) -> Result<StoreLocation, String> {
    #[derive(Default, Deserialize)]
    #[serde(default, rename = "allocator.Net")]
    struct NetLocation {
        name: String,
        ipam: Option<IpamLocation>,
    }
    #[derive(Default, Deserialize)]
    #[serde(default, rename = "allocator.IPAMConfig")]
    struct IpamLocation {
        #[serde(rename = "dataDir")]
        data_dir: String,
    }
    let net: NetLocation = decode(stdin)?;
    let ipam = net.ipam.ok_or("IPAM config missing 'ipam' key")?;
    Ok(StoreLocation {
        name: net.name,
        data_dir: data_dir(&ipam.data_dir),
    })
}

/// Go's `LoadIPAMConfig(stdin, CNI_ARGS)`.
pub fn load(stdin: &[u8], env_args: &str) -> Result<IpamConfig, String> {
    // Decode everything first, as Go's json.Unmarshal does, then check.
    let net: Net = decode(stdin)?;
    let ipam = net.ipam.ok_or("IPAM config missing 'ipam' key")?;

    let mut requested: Vec<Option<IpAddr>> = Vec::new();
    if !env_args.is_empty() {
        if let Some(ip) = env_ip(env_args)? {
            requested.push(ip);
        }
    }
    if let Some(cni) = net.args.and_then(|a| a.cni) {
        requested.extend(cni.ips.into_iter().map(|a| a.0));
    }
    requested.extend(net.runtime_config.ips.into_iter().map(|a| a.0));
    let requested = requested
        .into_iter()
        .map(|ip| ip.ok_or_else(|| "cannot understand ip: IP <nil> not v4 nor v6".to_string()))
        .collect::<Result<Vec<_>, _>>()?;

    let sets = |raw: Vec<RawRangeSet>| -> Vec<Vec<RangeConf>> {
        raw.into_iter()
            .map(|set| set.0.into_iter().map(RangeConf::from).collect())
            .collect()
    };
    let mut confs = sets(net.runtime_config.ip_ranges);
    // The embedded range counts only when it has a subnet (a null one failed to decode).
    if ipam.subnet.is_some() {
        confs.push(vec![RangeConf {
            range_start: ipam.range_start,
            range_end: ipam.range_end,
            subnet: ipam.subnet,
            gateway: ipam.gateway,
        }]);
    }
    confs.extend(sets(ipam.ranges));
    if confs.is_empty() {
        return Err("no IP ranges specified".into());
    }

    let mut ranges = Vec::with_capacity(confs.len());
    let (mut v4, mut v6) = (0, 0);
    for (i, set) in confs.iter().enumerate() {
        let set =
            range_set::canonicalize(set).map_err(|e| format!("invalid range set {i}: {e}"))?;
        if set.is_ipv4() {
            v4 += 1;
        } else {
            v6 += 1;
        }
        ranges.push(set);
    }
    let cni_version = net.cni_version;
    if (v4 > 1 || v6 > 1) && !SpecVersion::ge(&cni_version, "0.3.0").unwrap_or(false) {
        return Err(format!(
            "CNI version {cni_version} does not support more than 1 address per family"
        ));
    }
    for i in 0..ranges.len() {
        for j in i + 1..ranges.len() {
            if ranges[i].overlaps(&ranges[j]) {
                return Err(format!("range set {i} overlaps with {j}"));
            }
        }
    }

    // A `null` route entry: Go prints it back as `null`; dropping it loses nothing.
    let routes = ipam
        .routes
        .into_iter()
        .flatten()
        .map(|r| {
            r.dst.map(|dst| Route {
                dst,
                gw: r.gw,
                mtu: r.mtu,
                advmss: r.advmss,
                priority: r.priority,
                table: r.table,
                scope: r.scope,
            })
        })
        .collect();

    Ok(IpamConfig {
        name: net.name,
        cni_version,
        ranges,
        routes,
        data_dir: data_dir(&ipam.data_dir),
        resolv_conf: ipam.resolv_conf,
        requested,
    })
}

/// The plugins library's `ip.IP` (`<ip>` or `<ip>/<prefix>`, the prefix dropped): `Ok(None)`
/// for the empty string, which Go keeps as an empty IP that later fails to canonicalize.
pub fn parse_ip_or_cidr(s: &str) -> Result<Option<IpAddr>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    let parsed = if s.contains('/') {
        libcni::types::parse_cidr(s)
            .ok()
            .map(|n| ip::canonical(n.ip()))
    } else {
        ip::parse(s)
    };
    parsed
        .map(Some)
        .ok_or_else(|| format!("invalid IP address {s}"))
}

/// The `IP` key of `CNI_ARGS` (Go's `IPAMEnvArgs`): `Ok(None)` when not given; an empty value
/// is an empty IP that requests nothing.
fn env_ip(env_args: &str) -> Result<Option<Option<IpAddr>>, String> {
    let args = CniArgs::parse(env_args, &["IP"])?;
    let mut ip = None;
    for pair in args.known.iter().filter(|p| p.key == "IP") {
        ip = parse_ip_or_cidr(&pair.value).map_err(|e| pair.value_error(e))?;
    }
    args.check_unknown()?;
    Ok(ip.map(Some))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        crate::ip::parse(s).unwrap()
    }

    #[test]
    fn old_style_config() {
        let c = load(
            br#"{"cniVersion":"0.3.1","name":"mynet","type":"ipvlan","master":"foo0",
                "ipam":{"type":"host-local","subnet":"10.1.2.0/24","rangeStart":"10.1.2.9",
                        "rangeEnd":"10.1.2.20","gateway":"10.1.2.30"}}"#,
            "",
        )
        .unwrap();
        assert_eq!(c.name, "mynet");
        assert_eq!(c.data_dir, DEFAULT_DATA_DIR);
        assert_eq!(c.ranges.len(), 1);
        let r = c.ranges[0].0[0];
        assert_eq!(
            (r.start, r.end, r.gateway),
            (ip("10.1.2.9"), ip("10.1.2.20"), ip("10.1.2.30"))
        );
    }

    #[test]
    fn runtime_ranges_first_then_legacy_then_ranges() {
        let c = load(
            br#"{"cniVersion":"0.3.1","name":"mynet",
                "runtimeConfig":{"ipRanges":[[{"subnet":"10.1.1.0/24"}]]},
                "ipam":{"subnet":"10.1.2.0/24","ranges":[[{"subnet":"10.1.3.0/24"}]]}}"#,
            "",
        )
        .unwrap();
        let starts: Vec<String> = c.ranges.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            starts,
            [
                "10.1.1.1-10.1.1.254",
                "10.1.2.1-10.1.2.254",
                "10.1.3.1-10.1.3.254"
            ]
        );
    }

    #[test]
    fn requested_ips_in_order() {
        let c = load(
            br#"{"cniVersion":"0.3.1","name":"mynet",
                "args":{"cni":{"ips":["10.1.2.11","10.1.2.12/24"]}},
                "runtimeConfig":{"ips":["192.168.0.1","192.168.0.5/24","2001:db8::1/64"]},
                "ipam":{"subnet":"10.1.2.0/24"}}"#,
            "IP=10.1.2.10/24",
        )
        .unwrap();
        let got: Vec<String> = c.requested.iter().map(|i| i.to_string()).collect();
        assert_eq!(
            got,
            [
                "10.1.2.10",
                "10.1.2.11",
                "10.1.2.12",
                "192.168.0.1",
                "192.168.0.5",
                "2001:db8::1"
            ]
        );
    }

    #[test]
    fn ip_texts() {
        assert_eq!(parse_ip_or_cidr("").unwrap(), None);
        assert_eq!(
            parse_ip_or_cidr("10.1.2.11/24").unwrap(),
            ip::parse("10.1.2.11")
        );
        assert_eq!(parse_ip_or_cidr("x").unwrap_err(), "invalid IP address x");
        assert_eq!(
            parse_ip_or_cidr("10.0.0.1/33").unwrap_err(),
            "invalid IP address 10.0.0.1/33"
        );
    }

    #[test]
    fn go_type_errors() {
        for (json, want) in [
            (r#"{"name":"n","ipam":{"Subnet":5}}"#,
             "json: cannot unmarshal number into Go struct field IPAMConfig.ipam.subnet of type string"),
            (r#"{"name":"n","ipam":{"subnet":"10.0.0.0/8","dataDir":1}}"#,
             "json: cannot unmarshal number into Go struct field IPAMConfig.ipam.dataDir of type string"),
            (r#"{"name":"n","ipam":"x"}"#,
             "json: cannot unmarshal string into Go struct field Net.ipam of type allocator.IPAMConfig"),
            (r#"{"name":"n","ipam":{"ranges":[{}]}}"#,
             "json: cannot unmarshal object into Go struct field IPAMConfig.ipam.ranges of type allocator.RangeSet"),
            (r#"{"name":"n","ipam":{"ranges":"x"}}"#,
             "json: cannot unmarshal string into Go struct field IPAMConfig.ipam.ranges of type []allocator.RangeSet"),
            (r#"{"name":"n","ipam":{"ranges":[[{"rangeStart":5}]]}}"#,
             "json: cannot unmarshal number into Go struct field Range.ipam.ranges.rangeStart of type net.IP"),
            (r#"{"name":"n","ipam":{"routes":[{"dst":"0.0.0.0/0","mtu":"x"}]}}"#,
             "json: cannot unmarshal string into Go struct field IPAMConfig.ipam.routes of type int"),
            (r#"{"name":"n","ipam":{"routes":["x"]}}"#,
             "json: cannot unmarshal string into Go struct field IPAMConfig.ipam.routes of type types.route"),
            (r#"{"name":"n","ipam":{"subnet":null}}"#, "invalid CIDR address: "),
            (r#"{"name":"n","ipam":{"subnet":"10.0.0.0/8"},"args":{"cni":{"ips":[5]}}}"#,
             "json: cannot unmarshal number into Go struct field IPAMArgs.args.cni.ips of type *ip.IP"),
            (r#"{"name":"n","ipam":{"subnet":"10.0.0.0/8"},"runtimeConfig":{"ips":"x"}}"#,
             "json: cannot unmarshal string into Go struct field .runtimeConfig.ips of type []*ip.IP"),
        ] {
            assert_eq!(load(json.as_bytes(), "").unwrap_err(), want, "{json}");
        }
    }

    #[test]
    fn location_only() {
        assert_eq!(
            load_location(br#"{"name":"n","ipam":{"dataDir":"/d","ranges":5}}"#).unwrap(),
            StoreLocation {
                name: "n".into(),
                data_dir: "/d".into()
            }
        );
        assert_eq!(
            load_location(br#"{"name":"n"}"#).unwrap_err(),
            "IPAM config missing 'ipam' key"
        );
    }
}
