//! A result of any spec version, its creation from bytes and its conversion between versions,
//! following Go's `types/create` and `types/internal/convert` rules exactly (including the
//! lossy ones: first IP per family and routes split by family for 0.2.0; interface mtu,
//! socketPath and pciID dropped for 0.4.0).

use serde::Serialize;
use serde_json::{Map, Value};

use super::{v020, v040, v100};
use crate::json;

/// The three result layouts. The variant is the shape; `cni_version` inside is only a label
/// (Go's loopback prints a 1.x-shaped result labelled 0.2.0, and so do we).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CniResult {
    V020(v020::Result020),
    V040(v040::Result040),
    V100(v100::Result100),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    F020,
    F040,
    F100,
}

fn family(version: &str) -> Option<Family> {
    if v020::VERSIONS.contains(&version) {
        Some(Family::F020)
    } else if v040::VERSIONS.contains(&version) {
        Some(Family::F040)
    } else if v100::VERSIONS.contains(&version) {
        Some(Family::F100)
    } else {
        None
    }
}

impl CniResult {
    /// Go's `create.Create(version, bytes)`: the creator is picked by `version`; the JSON's own
    /// `cniVersion` must then belong to that creator's family.
    pub fn create(version: &str, bytes: &[u8]) -> Result<Self, String> {
        let fam = if version.is_empty() {
            Family::F020
        } else {
            family(version).ok_or_else(|| format!("unsupported CNI result version {version:?}"))?
        };
        let decode_err = |e: crate::gojson::Error| e.to_string();
        match fam {
            Family::F020 => {
                let mut r: v020::Result020 =
                    crate::gojson::from_slice(bytes).map_err(decode_err)?;
                if r.cni_version.is_empty() {
                    r.cni_version = "0.1.0".into();
                }
                check_family(&r.cni_version, &["", "0.1.0", "0.2.0"])?;
                Ok(CniResult::V020(r))
            }
            Family::F040 => {
                let r: v040::Result040 = crate::gojson::from_slice(bytes).map_err(decode_err)?;
                check_family(&r.cni_version, v040::VERSIONS)?;
                Ok(CniResult::V040(r))
            }
            Family::F100 => {
                let r: v100::Result100 = crate::gojson::from_slice(bytes).map_err(decode_err)?;
                check_family(&r.cni_version, v100::VERSIONS)?;
                Ok(CniResult::V100(r))
            }
        }
    }

    /// Go's `create.CreateFromBytes`: the version is read from the JSON itself.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let version = crate::version::config_version(bytes)?;
        Self::create(&version, bytes)
    }

    pub fn version(&self) -> &str {
        match self {
            CniResult::V020(r) => &r.cni_version,
            CniResult::V040(r) => &r.cni_version,
            CniResult::V100(r) => &r.cni_version,
        }
    }

    fn set_version(&mut self, v: &str) {
        match self {
            CniResult::V020(r) => r.cni_version = v.into(),
            CniResult::V040(r) => r.cni_version = v.into(),
            CniResult::V100(r) => r.cni_version = v.into(),
        }
    }

    /// Go's `convert.Convert`: the same label returns the result unchanged; otherwise convert
    /// between layouts, or fail with Go's "no converter" error.
    pub fn convert(&self, to: &str) -> Result<Self, String> {
        let to = if to.is_empty() { "0.1.0" } else { to };
        let from = self.version();
        if from == to {
            return Ok(self.clone());
        }
        let no_converter = || format!("no converter for CNI result version {from} to {to}");
        // A label outside the known versions has no converter registered in Go either.
        family(from).ok_or_else(no_converter)?;
        let target = family(to).ok_or_else(no_converter)?;
        let mut out = match (self, target) {
            (CniResult::V020(r), Family::F020) => CniResult::V020(r.clone()),
            (CniResult::V020(r), Family::F040) => CniResult::V040(up_020(r)),
            (CniResult::V020(r), Family::F100) => CniResult::V100(up_040(&up_020(r))),
            (CniResult::V040(r), Family::F020) => CniResult::V020(down_040(r)?),
            (CniResult::V040(r), Family::F040) => CniResult::V040(r.clone()),
            (CniResult::V040(r), Family::F100) => CniResult::V100(up_040(r)),
            (CniResult::V100(r), Family::F020) => CniResult::V020(down_040(&down_100(r))?),
            (CniResult::V100(r), Family::F040) => CniResult::V040(down_100(r)),
            (CniResult::V100(r), Family::F100) => CniResult::V100(r.clone()),
        };
        out.set_version(to);
        Ok(out)
    }

    /// Go's `GetAsVersion`: an unlabelled result counts as its layout's newest version.
    pub fn get_as_version(&self, to: &str) -> Result<Self, String> {
        if self.version().is_empty() {
            let mut labelled = self.clone();
            labelled.set_version(match self {
                CniResult::V020(_) => v020::IMPLEMENTED,
                CniResult::V040(_) => v040::IMPLEMENTED,
                CniResult::V100(_) => v100::IMPLEMENTED,
            });
            return labelled.convert(to);
        }
        self.convert(to)
    }

    /// Go's `NewResultFromResult` / `GetResult`: the result as a 1.1.0 layout.
    pub fn to_current(&self) -> Result<v100::Result100, String> {
        match self.get_as_version(v100::IMPLEMENTED)? {
            CniResult::V100(r) => Ok(r),
            _ => Err("failed to convert result".into()),
        }
    }

    /// The JSON value (empty 1.x dns dropped). A `Value` has no key order of its own: print
    /// with [`CniResult::to_json`] to get Go's bytes.
    pub fn to_value(&self) -> Value {
        match self {
            CniResult::V020(r) => to_value(r),
            CniResult::V040(r) => to_value(r),
            CniResult::V100(r) => to_value(r),
        }
    }

    /// What Go's `Result.Print` writes: 4-space indent, no trailing newline, keys in Go's
    /// struct field order (1.x: interface `name, mac, mtu, sandbox, socketPath, pciID`; ip
    /// `interface, address, gateway`; `dns` last), as the Go plugins print through the CNI
    /// library they ship with. A pass-through of a prevResult re-serialises in this order
    /// too, as Go's does after decoding it into its structs. An empty 1.x `dns` is left out,
    /// as the current CNI library does (1.1.1 printed `"dns": {}`).
    pub fn to_json(&self) -> String {
        match self {
            CniResult::V020(r) => json::to_indented(r),
            CniResult::V040(r) => json::to_indented(r),
            CniResult::V100(r) => json::to_indented(r),
        }
    }

    /// Compact JSON (Go's `json.Marshal`) in the same field order.
    pub fn to_compact(&self) -> String {
        match self {
            CniResult::V020(r) => json::to_compact(r),
            CniResult::V040(r) => json::to_compact(r),
            CniResult::V100(r) => json::to_compact(r),
        }
    }
}

impl From<v100::Result100> for CniResult {
    fn from(r: v100::Result100) -> Self {
        CniResult::V100(r)
    }
}

fn check_family(got: &str, versions: &[&str]) -> Result<(), String> {
    if versions.contains(&got) {
        Ok(())
    } else {
        Err(format!(
            "result type supports [{}] but unmarshalled CNIVersion is {got:?}",
            versions.join(" ")
        ))
    }
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Rebuilds every object with its keys in sorted order, as Go's map marshalling prints them.
/// Explicit so the output stays sorted even if serde_json's `preserve_order` gets enabled.
pub fn sort_keys(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut out = Map::new();
            for (k, v) in entries {
                out.insert(k, sort_keys(v));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// 0.2.0 → 0.4.0: ip4 then ip6 become versioned ips; their routes go to the top level.
fn up_020(r: &v020::Result020) -> v040::Result040 {
    let mut out = v040::Result040 {
        cni_version: v040::IMPLEMENTED.into(),
        dns: r.dns.clone(),
        ..Default::default()
    };
    for (ver, ipc) in [("4", &r.ip4), ("6", &r.ip6)] {
        if let Some(ipc) = ipc {
            out.ips.push(v040::IpConfig {
                version: ver.into(),
                interface: None,
                address: ipc.ip,
                gateway: ipc.gateway,
            });
            out.routes.extend(ipc.routes.iter().cloned());
        }
    }
    out
}

/// 0.4.0 → 0.2.0: the first IP of each family; each route to the block of its dst family,
/// only dst and gw kept; no IP at all is an error.
fn down_040(r: &v040::Result040) -> Result<v020::Result020, String> {
    let mut out = v020::Result020 {
        cni_version: v020::IMPLEMENTED.into(),
        dns: r.dns.clone(),
        ..Default::default()
    };
    for ip in &r.ips {
        let block = v020::IpConfig {
            ip: ip.address,
            gateway: ip.gateway,
            routes: Vec::new(),
        };
        if ip.version == "4" && out.ip4.is_none() {
            out.ip4 = Some(block);
        } else if ip.version == "6" && out.ip6.is_none() {
            out.ip6 = Some(block);
        }
        if out.ip4.is_some() && out.ip6.is_some() {
            break;
        }
    }
    for route in &r.routes {
        let block = if route.dst.is_ipv4() {
            out.ip4.as_mut()
        } else {
            out.ip6.as_mut()
        };
        if let Some(block) = block {
            block.routes.push(route.legacy());
        }
    }
    if out.ip4.is_none() && out.ip6.is_none() {
        return Err("cannot convert: no valid IP addresses".into());
    }
    Ok(out)
}

/// 0.4.0 → 1.x: drop `ips[].version`; everything else carries over.
fn up_040(r: &v040::Result040) -> v100::Result100 {
    v100::Result100 {
        cni_version: v100::IMPLEMENTED.into(),
        interfaces: r
            .interfaces
            .iter()
            .map(|i| v100::Interface {
                name: i.name.clone(),
                mac: i.mac.clone(),
                sandbox: i.sandbox.clone(),
                ..Default::default()
            })
            .collect(),
        ips: r
            .ips
            .iter()
            .map(|ip| v100::IpConfig {
                interface: ip.interface,
                address: ip.address,
                gateway: ip.gateway,
            })
            .collect(),
        routes: r.routes.clone(),
        dns: r.dns.clone(),
    }
}

/// 1.x → 0.4.0: `ips[].version` from the address family; interfaces lose mtu, socketPath and
/// pciID; routes keep every field.
fn down_100(r: &v100::Result100) -> v040::Result040 {
    v040::Result040 {
        cni_version: v040::IMPLEMENTED.into(),
        interfaces: r
            .interfaces
            .iter()
            .map(|i| v040::Interface {
                name: i.name.clone(),
                mac: i.mac.clone(),
                sandbox: i.sandbox.clone(),
            })
            .collect(),
        ips: r
            .ips
            .iter()
            .map(|ip| v040::IpConfig {
                version: if ip.address.is_ipv4() { "4" } else { "6" }.into(),
                interface: ip.interface,
                address: ip.address,
                gateway: ip.gateway,
            })
            .collect(),
        routes: r.routes.clone(),
        dns: r.dns.clone(),
    }
}
