//! The network config as host-local reads it (the reference's `allocator.LoadIPAMConfig`):
//! range sets merged from `runtimeConfig.ipRanges`, the legacy single range and `ranges`;
//! requested addresses from `CNI_ARGS`, `args.cni.ips` and `runtimeConfig.ips`; routes,
//! `dataDir` and `resolvConf`. Checks run in upstream's order with upstream's texts.

use std::net::IpAddr;

use libcni::types::{CniArgs, Route};
use libcni::version::SpecVersion;
use serde_json::Value;

use crate::decode::{self, Obj};
use crate::range::RangeConf;
use crate::range_set::{self, RangeSet};

/// Where the reference keeps its stores when `dataDir` is not set.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";

// Go's names for the reference's anonymous structs, as its decode errors print them.
const RUNTIME_CONFIG_TYPE: &str = r#"struct { IPRanges []allocator.RangeSet "json:\"ipRanges,omitempty\""; IPs []*ip.IP "json:\"ips,omitempty\"" }"#;
const ARGS_TYPE: &str = r#"struct { A *allocator.IPAMArgs "json:\"cni\"" }"#;
const LEGACY_RANGE_KEYS: &[&str] = &["rangeStart", "rangeEnd", "subnet", "gateway"];

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

fn parse_json(stdin: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(stdin).map_err(|e| libcni::json::go_decode_error(&e, stdin))
}

fn data_dir(configured: Option<&str>) -> String {
    match configured {
        Some(d) if !d.is_empty() => d.to_string(),
        _ => DEFAULT_DATA_DIR.to_string(),
    }
}

/// The network name and store directory, with the same decode errors as [`load`] for the
/// keys involved.
pub fn load_location(stdin: &[u8]) -> Result<StoreLocation, String> {
    let value = parse_json(stdin)?;
    let root = Obj::root(&value, "Net").ok_or("IPAM config missing 'ipam' key")?;
    let name = root.string("name")?.unwrap_or_default().to_string();
    let ipam = root
        .object("ipam", "allocator.IPAMConfig", "IPAMConfig")?
        .ok_or("IPAM config missing 'ipam' key")?;
    Ok(StoreLocation {
        name,
        data_dir: data_dir(ipam.string("dataDir")?),
    })
}

/// Go's `LoadIPAMConfig(stdin, CNI_ARGS)`.
pub fn load(stdin: &[u8], env_args: &str) -> Result<IpamConfig, String> {
    let value = parse_json(stdin)?;
    let root = Obj::root(&value, "Net").ok_or("IPAM config missing 'ipam' key")?;
    let name = root.string("name")?.unwrap_or_default().to_string();
    let cni_version = root.string("cniVersion")?.unwrap_or_default().to_string();

    // Decode everything first, as Go's json.Unmarshal does, then check.
    let ipam = root.object("ipam", "allocator.IPAMConfig", "IPAMConfig")?;
    let ipam = match ipam {
        Some(ipam) => Some(decode_ipam(&ipam)?),
        None => None,
    };
    let mut runtime_ranges = Vec::new();
    let mut runtime_ips = Vec::new();
    if let Some(rc) = root.object("runtimeConfig", RUNTIME_CONFIG_TYPE, "")? {
        runtime_ranges = decode_range_sets(&rc, "ipRanges")?;
        runtime_ips = decode_ip_list(&rc)?;
    }
    let mut arg_ips = Vec::new();
    if let Some(args) = root.object("args", ARGS_TYPE, "")? {
        if let Some(cni) = args.object("cni", "allocator.IPAMArgs", "IPAMArgs")? {
            arg_ips = decode_ip_list(&cni)?;
        }
    }
    let ipam = ipam.ok_or("IPAM config missing 'ipam' key")?;

    let mut requested: Vec<Option<IpAddr>> = Vec::new();
    if !env_args.is_empty() {
        if let Some(ip) = env_ip(env_args)? {
            requested.push(ip);
        }
    }
    requested.extend(arg_ips);
    requested.extend(runtime_ips);
    let requested = requested
        .into_iter()
        .map(|ip| ip.ok_or_else(|| "cannot understand ip: IP <nil> not v4 nor v6".to_string()))
        .collect::<Result<Vec<_>, _>>()?;

    let mut confs = runtime_ranges;
    if let Some(legacy) = ipam.legacy.filter(|r| r.subnet.is_some()) {
        confs.push(vec![legacy]);
    }
    confs.extend(ipam.ranges);
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

    Ok(IpamConfig {
        name,
        cni_version,
        ranges,
        routes: ipam.routes,
        data_dir: data_dir(ipam.data_dir.as_deref()),
        resolv_conf: ipam.resolv_conf.unwrap_or_default(),
        requested,
    })
}

/// The `ipam` object as decoded, before any check.
struct RawIpam {
    legacy: Option<RangeConf>,
    routes: Vec<Option<Route>>,
    data_dir: Option<String>,
    resolv_conf: Option<String>,
    ranges: Vec<Vec<RangeConf>>,
}

fn decode_ipam(ipam: &Obj<'_>) -> Result<RawIpam, String> {
    // The reference embeds a `*Range` in its IPAM struct: Go allocates it as soon as one of
    // its keys appears, and uses it only if it has a subnet.
    let legacy = if ipam.has_any(LEGACY_RANGE_KEYS) {
        Some(decode_range(ipam)?)
    } else {
        None
    };
    // Keys of the reference's struct that host-local ignores still have to be strings.
    ipam.string("Name")?;
    ipam.string("type")?;
    let mut routes = Vec::new();
    for item in ipam.array("routes", "[]*types.Route")? {
        if let Some(route) = decode_route(ipam, item)? {
            routes.push(route);
        }
    }
    Ok(RawIpam {
        legacy,
        routes,
        data_dir: ipam.string("dataDir")?.map(str::to_string),
        resolv_conf: ipam.string("resolvConf")?.map(str::to_string),
        ranges: decode_range_sets(ipam, "ranges")?,
    })
}

fn decode_range(obj: &Obj<'_>) -> Result<RangeConf, String> {
    Ok(RangeConf {
        range_start: obj.ip("rangeStart")?,
        range_end: obj.ip("rangeEnd")?,
        subnet: obj.subnet("subnet")?,
        gateway: obj.ip("gateway")?,
    })
}

fn decode_range_sets(parent: &Obj<'_>, tag: &str) -> Result<Vec<Vec<RangeConf>>, String> {
    let mut sets = Vec::new();
    for set in parent.array(tag, "[]allocator.RangeSet")? {
        let items: &[Value] = match set {
            Value::Null => &[],
            Value::Array(items) => items,
            other => return Err(parent.type_error(tag, other, "allocator.RangeSet")),
        };
        let mut ranges = Vec::with_capacity(items.len());
        for item in items {
            ranges.push(
                match parent.element(tag, item, "allocator.Range", "Range")? {
                    Some(obj) => decode_range(&obj)?,
                    None => RangeConf::default(),
                },
            );
        }
        sets.push(ranges);
    }
    Ok(sets)
}

/// An `ips` list of the plugins library's `*ip.IP`; `None` for an empty or `null` entry, which
/// later fails as an address Go cannot canonicalize (Go itself panics on `null`).
fn decode_ip_list(parent: &Obj<'_>) -> Result<Vec<Option<IpAddr>>, String> {
    let mut out = Vec::new();
    for item in parent.array("ips", "[]*ip.IP")? {
        match item {
            Value::Null => out.push(None),
            Value::String(s) => out.push(decode::parse_ip_or_cidr(s)?),
            other => return Err(parent.type_error("ips", other, "*ip.IP")),
        }
    }
    Ok(out)
}

/// A route. Go's `types.Route` decodes through a private struct, so errors about its fields
/// are reported against the `routes` field of the IPAM struct.
fn decode_route(ipam: &Obj<'_>, item: &Value) -> Result<Option<Option<Route>>, String> {
    let Some(route) = ipam.element("routes", item, "types.route", "IPAMConfig")? else {
        // A `null` entry: Go prints it back as `null`; dropping it loses nothing.
        return Ok(None);
    };
    let route = route.opaque();
    let dst = match route.get("dst") {
        None => None,
        // Its unmarshaler runs for `null` too, and fails on the empty string.
        Some(Value::Null) => Some(libcni::types::parse_cidr("")?),
        Some(Value::String(s)) => Some(libcni::types::parse_cidr(s)?),
        Some(other) => return Err(route.type_error("dst", other, "string")),
    };
    let gw = route.ip("gw")?;
    // Go's fields are `int`; ours are the result's u32/i32, so a value outside them is refused
    // the way Go refuses a value outside `int`.
    let out_of_range =
        |tag: &str, n: i64| route.type_error_kind(tag, &format!("number {n}"), "int");
    let unsigned = |tag: &str| -> Result<u32, String> {
        route.int(tag)?.map_or(Ok(0), |n| {
            u32::try_from(n).map_err(|_| out_of_range(tag, n))
        })
    };
    let signed = |tag: &str| -> Result<Option<i32>, String> {
        route
            .int(tag)?
            .map(|n| i32::try_from(n).map_err(|_| out_of_range(tag, n)))
            .transpose()
    };
    let (mtu, advmss, priority) = (unsigned("mtu")?, unsigned("advmss")?, unsigned("priority")?);
    let (table, scope) = (signed("table")?, signed("scope")?);
    Ok(Some(dst.map(|dst| Route {
        dst,
        gw,
        mtu,
        advmss,
        priority,
        table,
        scope,
    })))
}

/// The `IP` key of `CNI_ARGS` (Go's `IPAMEnvArgs`): `Ok(None)` when not given; an empty value
/// is an empty IP that requests nothing.
fn env_ip(env_args: &str) -> Result<Option<Option<IpAddr>>, String> {
    let args = CniArgs::parse(env_args, &["IP"])?;
    let mut ip = None;
    for pair in args.known.iter().filter(|p| p.key == "IP") {
        ip = decode::parse_ip_or_cidr(&pair.value).map_err(|e| pair.value_error(e))?;
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
