//! CNI spec versions: parsing, ordering and the plugin's `VERSION` answer.
//!
//! Versions are compared the way Go's `version.ParseVersion` does: up to three dot-separated
//! integers, missing parts are 0, the empty string means 0.1.0.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The spec version this library implements (`version.Current()` in Go).
pub const CURRENT: &str = "1.1.0";

/// Every spec version, oldest first (`version.All` in Go). Every plugin of the suite supports these.
pub const ALL: &[&str] = &[
    "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
];

/// The versions whose results use the `ip4`/`ip6` layout.
pub const LEGACY: &[&str] = &["0.1.0", "0.2.0"];

/// A parsed `major.minor.micro` version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpecVersion(pub u64, pub u64, pub u64);

impl SpecVersion {
    /// CHECK exists from this version on.
    pub const CHECK_MIN: SpecVersion = SpecVersion(0, 4, 0);
    /// GC and STATUS exist from this version on.
    pub const GC_MIN: SpecVersion = SpecVersion(1, 1, 0);
    /// DEL gets a prevResult from this version on.
    pub const PREV_RESULT_ON_DEL: SpecVersion = SpecVersion(0, 4, 0);

    /// Parses like Go's `version.ParseVersion`; the error text matches Go's.
    pub fn parse(version: &str) -> Result<Self, String> {
        if version.is_empty() {
            return Ok(SpecVersion(0, 1, 0));
        }
        let parts: Vec<&str> = version.split('.').collect();
        if parts.len() >= 4 {
            return Err(format!("invalid version {version:?}: too many parts"));
        }
        let num = |idx: usize, what: &str| -> Result<u64, String> {
            match parts.get(idx) {
                None => Ok(0),
                Some(p) => go_atoi(p)
                    .map_err(|e| format!("failed to convert {what} version part {p:?}: {e}")),
            }
        };
        Ok(SpecVersion(
            num(0, "major")?,
            num(1, "minor")?,
            num(2, "micro")?,
        ))
    }

    /// `version >= other`, both as strings, as Go's `GreaterThanOrEqualTo`.
    pub fn ge(version: &str, other: &str) -> Result<bool, String> {
        Ok(Self::parse(version)?.cmp(&Self::parse(other)?) != Ordering::Less)
    }
}

impl fmt::Display for SpecVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// Go's `strconv.Atoi` for non-negative decimal numbers, with its error text.
fn go_atoi(s: &str) -> Result<u64, String> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {s:?}: invalid syntax"));
    }
    digits
        .parse()
        .map_err(|_| format!("strconv.Atoi: parsing {s:?}: value out of range"))
}

/// What a plugin answers to `VERSION`, and what a runtime decodes from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    #[serde(
        rename = "supportedVersions",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub supported_versions: Vec<String>,
}

impl PluginInfo {
    /// A plugin supporting exactly `versions`; `cniVersion` is always [`CURRENT`], as in Go.
    pub fn supports(versions: &[&str]) -> Self {
        PluginInfo {
            cni_version: CURRENT.to_string(),
            supported_versions: versions.iter().map(|v| v.to_string()).collect(),
        }
    }

    /// The `VERSION` output: compact JSON and a newline (Go's `json.Encoder.Encode`).
    pub fn encode(&self) -> String {
        let mut out = crate::json::to_compact(self);
        out.push('\n');
        out
    }

    /// Decodes a plugin's `VERSION` output as Go's `PluginDecoder` does.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let info: PluginInfo =
            serde_json::from_slice(bytes).map_err(|e| format!("decoding version info: {e}"))?;
        if info.cni_version.is_empty() {
            return Err("decoding version info: missing field cniVersion".into());
        }
        if info.supported_versions.is_empty() {
            if info.cni_version == "0.2.0" {
                return Ok(PluginInfo {
                    cni_version: "0.2.0".into(),
                    supported_versions: vec!["0.1.0".into(), "0.2.0".into()],
                });
            }
            return Err("decoding version info: missing field supportedVersions".into());
        }
        Ok(info)
    }

    pub fn is_supported(&self, version: &str) -> bool {
        self.supported_versions.iter().any(|v| v == version)
    }

    /// Go's `%q` of the supported list: `["0.1.0" "0.2.0"]`.
    pub fn quoted_list(&self) -> String {
        let quoted: Vec<String> = self
            .supported_versions
            .iter()
            .map(|v| crate::json::go_quote(v))
            .collect();
        format!("[{}]", quoted.join(" "))
    }
}

/// Reads `cniVersion` out of a config; a missing or empty one means 0.1.0 (Go's `ConfigDecoder`).
pub fn config_version(stdin: &[u8]) -> Result<String, String> {
    /// Go's anonymous `struct { CNIVersion string "json:\"cniVersion\"" }`.
    #[derive(Deserialize, Default)]
    #[serde(
        default,
        rename = "struct { CNIVersion string \"json:\\\"cniVersion\\\"\" }"
    )]
    struct Probe {
        #[serde(rename = "cniVersion")]
        cni_version: String,
    }
    let probe: Probe = crate::gojson::from_slice(stdin)
        .map_err(|e| format!("decoding version from network config: {e}"))?;
    if probe.cni_version.is_empty() {
        return Ok("0.1.0".into());
    }
    Ok(probe.cni_version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        assert_eq!(SpecVersion::parse("").unwrap(), SpecVersion(0, 1, 0));
        assert_eq!(SpecVersion::parse("1").unwrap(), SpecVersion(1, 0, 0));
        assert_eq!(SpecVersion::parse("0.4").unwrap(), SpecVersion(0, 4, 0));
        assert_eq!(
            SpecVersion::parse("1.2.3.4").unwrap_err(),
            "invalid version \"1.2.3.4\": too many parts"
        );
        assert_eq!(
            SpecVersion::parse("1.x").unwrap_err(),
            "failed to convert minor version part \"x\": strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert!(SpecVersion::ge("1.1.0", "0.4.0").unwrap());
        assert!(!SpecVersion::ge("0.3.1", "0.4.0").unwrap());
        assert!(SpecVersion::parse("0.10.0").unwrap() > SpecVersion::parse("0.9.0").unwrap());
    }

    #[test]
    fn version_output_matches_go() {
        assert_eq!(
            PluginInfo::supports(ALL).encode(),
            "{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\"0.1.0\",\"0.2.0\",\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]}\n"
        );
        assert_eq!(
            PluginInfo::supports(&["0.1.0", "0.2.0"]).quoted_list(),
            "[\"0.1.0\" \"0.2.0\"]"
        );
    }

    #[test]
    fn decodes_historical_version_answers() {
        let legacy = PluginInfo::decode(br#"{"cniVersion":"0.2.0"}"#).unwrap();
        assert_eq!(legacy.supported_versions, vec!["0.1.0", "0.2.0"]);
        assert!(PluginInfo::decode(br#"{"cniVersion":"0.3.0"}"#).is_err());
        assert!(PluginInfo::decode(br#"{"supportedVersions":["0.3.0"]}"#).is_err());
    }

    #[test]
    fn config_version_defaults_to_010() {
        assert_eq!(config_version(b"{}").unwrap(), "0.1.0");
        assert_eq!(config_version(br#"{"cniVersion":""}"#).unwrap(), "0.1.0");
        assert_eq!(
            config_version(br#"{"CNIVERSION":"0.4.0"}"#).unwrap(),
            "0.4.0"
        );
        assert!(config_version(br#"{"cniVersion":4}"#).is_err());
    }
}
