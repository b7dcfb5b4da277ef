//! The network configuration a plugin receives on stdin (Go's `types.PluginConf`/`NetConf`).
//!
//! Plugins decode their own config struct from the same bytes; this type holds the keys every
//! plugin shares. Decoding follows Go's case-insensitive key matching.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::Dns;
use super::result::CniResult;

/// `ipam` as seen by a plugin that delegates: only its `type` matters here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamType {
    #[serde(rename = "type", default)]
    pub ipam_type: String,
}

/// One entry of `cni.dev/valid-attachments` (GC).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GcAttachment {
    #[serde(rename = "containerID", default)]
    pub container_id: String,
    #[serde(rename = "ifname", default)]
    pub ifname: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetConf {
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type", default)]
    pub plugin_type: String,
    #[serde(default)]
    pub capabilities: BTreeMap<String, bool>,
    #[serde(default)]
    pub ipam: IpamType,
    #[serde(default)]
    pub dns: Dns,
    #[serde(rename = "prevResult", default)]
    pub raw_prev_result: Option<Value>,
    #[serde(rename = "cni.dev/valid-attachments", default)]
    pub valid_attachments: Option<Vec<GcAttachment>>,
    /// The old, misspelled key (CNI issue #1101); Go libcni still sends both.
    #[serde(rename = "cni.dev/attachments", default)]
    pub attachments: Option<Vec<GcAttachment>>,
}

impl NetConf {
    /// Decodes the shared keys; errors read like Go's `failed to parse network config: ...`
    /// once the caller adds its prefix.
    pub fn parse(stdin: &[u8]) -> Result<Self, String> {
        crate::ci::from_slice(stdin).map_err(|e| e.to_string())
    }

    /// Go's `version.ParsePrevResult`: the prevResult is re-created with the creator of the
    /// config's version; a prevResult without a version takes the config's.
    pub fn prev_result(&self) -> Result<Option<CniResult>, String> {
        let Some(raw) = &self.raw_prev_result else {
            return Ok(None);
        };
        if raw.is_null() {
            return Ok(None);
        }
        let mut raw = raw.clone();
        if let Value::Object(map) = &mut raw {
            let has_version = map
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("cniVersion") && v.as_str() != Some(""));
            if !has_version {
                map.retain(|k, _| !k.eq_ignore_ascii_case("cniVersion"));
                map.insert("cniVersion".into(), Value::String(self.cni_version.clone()));
            }
        }
        let bytes = serde_json::to_vec(&raw).map_err(|e| e.to_string())?;
        CniResult::create(&self.cni_version, &bytes)
            .map(Some)
            .map_err(|e| format!("could not parse prevResult: {e}"))
    }

    /// The GC valid-attachment list: `cni.dev/valid-attachments`, else the legacy key.
    pub fn gc_valid_attachments(&self) -> Option<&[GcAttachment]> {
        self.valid_attachments
            .as_deref()
            .or(self.attachments.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prev_result_takes_config_version_when_missing() {
        let c = NetConf::parse(
            br#"{"cniVersion":"1.0.0","name":"n","prevResult":{"ips":[{"address":"10.0.0.2/24"}]}}"#,
        )
        .unwrap();
        let r = c.prev_result().unwrap().unwrap();
        assert_eq!(r.version(), "1.0.0");
    }

    #[test]
    fn prev_result_from_another_family_fails_like_go() {
        let c = NetConf::parse(
            br#"{"cniVersion":"1.0.0","name":"n","prevResult":{"cniVersion":"0.4.0","ips":[]}}"#,
        )
        .unwrap();
        assert_eq!(
            c.prev_result().unwrap_err(),
            "could not parse prevResult: result type supports [1.0.0 1.1.0] but unmarshalled CNIVersion is \"0.4.0\""
        );
    }

    #[test]
    fn gc_attachments_prefer_the_new_key() {
        let c = NetConf::parse(
            br#"{"name":"n","cni.dev/attachments":[{"containerID":"a","ifname":"eth0"}],
                 "cni.dev/valid-attachments":[{"containerID":"b","ifname":"eth1"}]}"#,
        )
        .unwrap();
        assert_eq!(c.gc_valid_attachments().unwrap()[0].container_id, "b");
    }
}
