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
#[serde(rename = "types.IPAM")]
pub struct IpamType {
    #[serde(rename = "type", default)]
    pub ipam_type: String,
}

/// One entry of `cni.dev/valid-attachments` (GC).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename = "types.GCAttachment")]
pub struct GcAttachment {
    #[serde(rename = "containerID", default)]
    pub container_id: String,
    #[serde(rename = "ifname", default)]
    pub ifname: String,
}

/// Go's `types.NetConf`. Plugins whose Go config embeds it decode both at once with
/// [`NetConf::parse_embedded`], so errors name the plugin's struct as Go's do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename = "types.NetConf")]
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
    #[serde(rename = "prevResult", default, deserialize_with = "prev_result_map")]
    pub raw_prev_result: Option<Value>,
    /// GC's list of live attachments; read it through [`NetConf::gc_valid_attachments`].
    /// Outer `None`: the key is absent; `Some(None)`: it is `null`.
    #[serde(
        rename = "cni.dev/valid-attachments",
        default,
        deserialize_with = "present_attachments",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_attachments: Option<Option<Vec<GcAttachment>>>,
    /// The old, misspelled key (CNI issue #1101); Go libcni still sends both.
    #[serde(
        rename = "cni.dev/attachments",
        default,
        deserialize_with = "present_attachments",
        skip_serializing_if = "Option::is_none"
    )]
    pub attachments: Option<Option<Vec<GcAttachment>>>,
}

/// Keeps a present key, even `null`, apart from an absent one (which `default` covers):
/// serde alone decodes both into `None`.
fn present_attachments<'de, D>(d: D) -> Result<Option<Option<Vec<GcAttachment>>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    crate::gojson::declared(d, "\u{0}gojson:[]types.GCAttachment").map(Some)
}

/// Go's `RawPrevResult map[string]interface{}`: it must be an object.
fn prev_result_map<'de, D>(d: D) -> Result<Option<Value>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let map: Option<serde_json::Map<String, Value>> =
        crate::gojson::declared(d, "\u{0}gojson:map[string]interface {}")?;
    Ok(map.map(Value::Object))
}

impl NetConf {
    /// Decodes the shared keys; errors read like Go's `failed to parse network config: ...`
    /// once the caller adds its prefix.
    pub fn parse(stdin: &[u8]) -> Result<Self, String> {
        crate::gojson::from_slice(stdin).map_err(|e| e.to_string())
    }

    /// Decodes a plugin config `T` whose Go struct embeds `types.NetConf`, and the shared
    /// keys, in one go: errors name `T`'s Go struct and are the one Go would report.
    pub fn parse_embedded<T: serde::de::DeserializeOwned>(
        stdin: &[u8],
    ) -> Result<(T, Self), crate::gojson::Error> {
        crate::gojson::Doc::parse(stdin)?.decode_parts::<(T, NetConf)>()
    }

    /// Go's `version.ParsePrevResult`: the prevResult is re-created with the creator of the
    /// config's version. Go sets the map key `CNIVersion` to the config's version unless
    /// that exact key holds a non-empty value, then re-encodes the map (keys sorted) and
    /// decodes it: the result's own `cniVersion`, sorted after `CNIVersion`, still wins, even
    /// when it is empty.
    pub fn prev_result(&self) -> Result<Option<CniResult>, String> {
        let Some(raw) = &self.raw_prev_result else {
            return Ok(None);
        };
        if raw.is_null() {
            return Ok(None);
        }
        let mut raw = raw.clone();
        if let Value::Object(map) = &mut raw {
            let unset = match map.get("CNIVersion") {
                None => true,
                Some(v) => v.as_str() == Some(""),
            };
            if unset {
                map.insert("CNIVersion".into(), Value::String(self.cni_version.clone()));
            }
        }
        // serde_json's map is sorted, as Go's encoder sorts map keys.
        let bytes = serde_json::to_vec(&raw).map_err(|e| e.to_string())?;
        CniResult::create(&self.cni_version, &bytes)
            .map(Some)
            .map_err(|e| format!("could not parse prevResult: {e}"))
    }

    /// The GC valid-attachment list (`cni.dev/valid-attachments`, else the legacy
    /// `cni.dev/attachments`), the one rule every plugin's GC follows:
    ///
    /// - key absent → `None`: the runtime named no list (Go libcni leaves the keys out when
    ///   its caller passed no GC arguments, as `cnitool gc` does), so nothing is known to be
    ///   stale and nothing may be released;
    /// - `null` or `[]` → `Some(&[])`: no attachment is live (Go libcni sends `null` for an
    ///   empty list), so everything of this network goes;
    /// - a list → `Some(list)`: everything not in it goes.
    ///
    /// Go's plugins decode both `null` and absent into a nil slice; the difference matters
    /// here because our plugins really collect.
    pub fn gc_valid_attachments(&self) -> Option<&[GcAttachment]> {
        self.valid_attachments
            .as_ref()
            .or(self.attachments.as_ref())
            .map(|list| list.as_deref().unwrap_or_default())
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

    fn gc_list(json: &str) -> Option<Vec<String>> {
        NetConf::parse(json.as_bytes())
            .unwrap()
            .gc_valid_attachments()
            .map(|l| l.iter().map(|a| a.container_id.clone()).collect())
    }

    #[test]
    fn gc_attachments_absent_is_none() {
        assert_eq!(gc_list(r#"{"name":"n"}"#), None);
    }

    #[test]
    fn gc_attachments_null_or_empty_is_an_empty_list() {
        for json in [
            r#"{"name":"n","cni.dev/valid-attachments":null}"#,
            r#"{"name":"n","cni.dev/valid-attachments":[]}"#,
            r#"{"name":"n","cni.dev/attachments":null}"#,
            r#"{"name":"n","cni.dev/valid-attachments":null,"cni.dev/attachments":null}"#,
            // A present new key wins over the legacy one, even when null.
            r#"{"name":"n","cni.dev/valid-attachments":null,
                "cni.dev/attachments":[{"containerID":"a","ifname":"eth0"}]}"#,
            // Go matches keys case-insensitively.
            r#"{"name":"n","CNI.dev/Valid-Attachments":null}"#,
        ] {
            assert_eq!(gc_list(json), Some(vec![]), "{json}");
        }
    }

    #[test]
    fn gc_attachments_list_is_the_list() {
        assert_eq!(
            gc_list(
                r#"{"name":"n","cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"},
                    {"containerID":"b","ifname":"eth1"}]}"#
            ),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        // Only the legacy key: it is used.
        assert_eq!(
            gc_list(r#"{"name":"n","cni.dev/attachments":[{"containerID":"a","ifname":"eth0"}]}"#),
            Some(vec!["a".to_string()])
        );
    }

    #[test]
    fn gc_attachments_round_trip_keeps_absent_and_null_apart() {
        let absent = NetConf::parse(br#"{"name":"n"}"#).unwrap();
        let v = serde_json::to_value(&absent).unwrap();
        assert!(v.get("cni.dev/valid-attachments").is_none(), "{v}");
        let null = NetConf::parse(br#"{"name":"n","cni.dev/valid-attachments":null}"#).unwrap();
        let v = serde_json::to_value(&null).unwrap();
        assert_eq!(v["cni.dev/valid-attachments"], Value::Null);
        assert!(v
            .as_object()
            .unwrap()
            .contains_key("cni.dev/valid-attachments"));
    }

    #[test]
    fn gc_attachments_of_the_wrong_type_fail_to_parse() {
        assert!(NetConf::parse(br#"{"name":"n","cni.dev/valid-attachments":"x"}"#).is_err());
    }
}
