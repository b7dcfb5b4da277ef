//! tuning's config: what to change, where the backup goes, and the prevResult.
//!
//! Sources, lowest precedence first: the top-level keys; CNI_ARGS `MAC=`; `runtimeConfig.mac`
//! (capability `mac`); `args.cni.*` (whose `sysctl` entries are merged into the top-level
//! ones rather than replacing them).

use std::fmt;

use libcni::gojson::{self, Doc};
use libcni::types::CniArgs;
use libcni::{CniError, CniResult, NetConf};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

const DEFAULT_DATA_DIR: &str = "/run/cni/tuning";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conf {
    pub cni_version: String,
    pub data_dir: String,
    /// Raw keys (dotted, with `IFNAME`) and values, in document order, keys unique.
    pub sysctls: Vec<(String, String)>,
    /// As typed; "" when no MAC is wanted.
    pub mac: String,
    pub promisc: bool,
    /// 0: leave the MTU alone.
    pub mtu: i64,
    pub allmulti: Option<bool>,
    pub txqlen: Option<i64>,
    raw_prev_result: Option<Value>,
}

impl Conf {
    /// Whether ADD changes the link (and so writes a backup first).
    pub fn changes_link(&self) -> bool {
        !self.mac.is_empty()
            || self.mtu != 0
            || self.promisc
            || self.allmulti.is_some()
            || self.txqlen.is_some()
    }

    /// ADD and CHECK work on the previous plugin's result; tuning cannot run first.
    pub fn prev_result(&self) -> Result<CniResult, CniError> {
        let net = NetConf {
            cni_version: self.cni_version.clone(),
            raw_prev_result: self.raw_prev_result.clone(),
            ..Default::default()
        };
        net.prev_result()
            .map_err(CniError::internal)?
            .ok_or_else(|| CniError::internal("Required prevResult missing"))
    }
}

/// A `map[string]string` that remembers the order keys first appeared in, so sysctls are
/// written in document order (Go's map order is random): a repeated key keeps its place and
/// takes the later value, as a Go map decoded into again does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SysctlMap(Vec<(String, String)>);

impl SysctlMap {
    fn insert(&mut self, key: String, value: String) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((key, value)),
        }
    }
}

impl<'de> Deserialize<'de> for SysctlMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SysctlMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of sysctls")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SysctlMap, A::Error> {
                let mut out = SysctlMap::default();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    out.insert(k, v);
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// Go's first decoding pass (`validateSysctlConflictingKeys`), into `sysctlCheck` whose map
/// key type refuses a key it has seen: every key of every top-level `sysctl` object goes
/// into one set, and a repeat stops the decoder (so it beats an earlier type error).
#[derive(Default, Deserialize)]
#[serde(default, rename = "main.sysctlCheck")]
struct SysctlCheck {
    #[serde(deserialize_with = "sysctl_check_type")]
    sysctl: Option<UniqueKeys>,
}

libcni::go_type!(fn sysctl_check_type = "map[main.sysctlKey]string");

struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UniqueKeys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of sysctls")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
                let mut seen: Vec<String> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if seen.contains(&key) {
                        return Err(serde::de::Error::custom(
                            "duplicated sysctl keys are not allowed",
                        ));
                    }
                    seen.push(key);
                    map.next_value::<String>()?;
                }
                Ok(UniqueKeys)
            }
        }
        d.deserialize_map(V)
    }
}

/// Go's `TuningConf` (it embeds `types.NetConf`, decoded alongside).
#[derive(Default, Deserialize)]
#[serde(default, rename = "main.TuningConf")]
struct Raw {
    #[serde(rename = "dataDir")]
    data_dir: String,
    sysctl: Option<SysctlMap>,
    mac: String,
    promisc: bool,
    mtu: i64,
    #[serde(rename = "txQLen")]
    txqlen: Option<i64>,
    allmulti: Option<bool>,
    #[serde(rename = "runtimeConfig")]
    runtime_config: RuntimeConfig,
    args: Option<Args>,
}

#[derive(Default, Deserialize)]
#[serde(
    default,
    rename = "struct { Mac string \"json:\\\"mac,omitempty\\\"\" }"
)]
struct RuntimeConfig {
    mac: String,
}

/// `args`: Go's `*struct{ A *IPAMArgs "json:\"cni\"" }`.
#[derive(Default, Deserialize)]
#[serde(default, rename = "struct { A *main.IPAMArgs \"json:\\\"cni\\\"\" }")]
struct Args {
    cni: Option<ArgsCni>,
}

/// `args.cni`: Go's `IPAMArgs`, every field a pointer, each overriding the top-level key
/// when present (its `sysctl` entries are merged into the top-level ones).
#[derive(Default, Deserialize)]
#[serde(default, rename = "main.IPAMArgs")]
struct ArgsCni {
    sysctl: Option<SysctlMap>,
    mac: Option<String>,
    promisc: Option<bool>,
    mtu: Option<i64>,
    allmulti: Option<bool>,
    #[serde(rename = "txQLen")]
    txqlen: Option<i64>,
}

/// Decodes stdin and applies CNI_ARGS, `runtimeConfig` and `args.cni`.
///
/// `reject_duplicates`: ADD and CHECK first refuse a top-level `sysctl` with a repeated key
/// (Go decodes the config a first time just for that); DEL does not, and keeps the last value.
pub fn parse(stdin: &[u8], cni_args: &str, reject_duplicates: bool) -> Result<Conf, CniError> {
    let netconf_err = |e: gojson::Error| CniError::internal(format!("failed to load netconf: {e}"));
    let doc = Doc::parse(stdin).map_err(netconf_err)?;
    if reject_duplicates {
        doc.decode::<SysctlCheck>()
            .map_err(|e| CniError::internal(e.to_string()))?;
    }
    let (raw, net): (Raw, NetConf) = doc.decode_parts().map_err(netconf_err)?;
    let mut conf = Conf {
        cni_version: net.cni_version,
        data_dir: raw.data_dir,
        sysctls: raw.sysctl.unwrap_or_default().0,
        mac: raw.mac,
        promisc: raw.promisc,
        mtu: raw.mtu,
        allmulti: raw.allmulti,
        txqlen: raw.txqlen,
        raw_prev_result: net.raw_prev_result,
    };
    if conf.data_dir.is_empty() {
        conf.data_dir = DEFAULT_DATA_DIR.into();
    }

    // CNI_ARGS errors are returned as they are, without the netconf prefix.
    let env = CniArgs::load(cni_args, &["MAC"]).map_err(CniError::internal)?;
    if let Some(mac) = env.get("MAC").filter(|p| !p.value.is_empty()) {
        conf.mac = mac.value.clone();
    }
    if !raw.runtime_config.mac.is_empty() {
        conf.mac = raw.runtime_config.mac;
    }
    if let Some(cni) = raw.args.and_then(|a| a.cni) {
        // Go writes these into a nil map when the config has no top-level `sysctl` and
        // panics; merging into an empty set is what the config plainly asks for.
        let mut sysctls = SysctlMap(std::mem::take(&mut conf.sysctls));
        for (key, value) in cni.sysctl.unwrap_or_default().0 {
            sysctls.insert(key, value);
        }
        conf.sysctls = sysctls.0;
        if let Some(mac) = cni.mac {
            conf.mac = mac;
        }
        if let Some(promisc) = cni.promisc {
            conf.promisc = promisc;
        }
        if let Some(mtu) = cni.mtu {
            conf.mtu = mtu;
        }
        if cni.allmulti.is_some() {
            conf.allmulti = cni.allmulti;
        }
        if cni.txqlen.is_some() {
            conf.txqlen = cni.txqlen;
        }
    }
    Ok(conf)
}

/// Go's `validateArgs` (skel already refuses such names with code 4 before we get here).
pub fn check_ifname(ifname: &str) -> Result<(), CniError> {
    if ifname.contains('/') {
        return Err(CniError::internal(format!(
            "Interface name ({ifname}) contains an invalid character /"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(json: &str) -> Conf {
        parse(json.as_bytes(), "", true).unwrap()
    }

    fn err(json: &str, dups: bool) -> String {
        parse(json.as_bytes(), "", dups).unwrap_err().msg
    }

    #[test]
    fn defaults() {
        let c = conf(r#"{"cniVersion":"1.0.0","name":"t"}"#);
        assert_eq!(c.data_dir, "/run/cni/tuning");
        assert!(!c.changes_link());
        assert!(c.sysctls.is_empty());
        assert_eq!(
            c.prev_result().unwrap_err().msg,
            "Required prevResult missing"
        );
    }

    #[test]
    fn mac_precedence_is_args_then_runtime_then_env_then_config() {
        let base = r#""cniVersion":"1.0.0","name":"t","mac":"c2:00:00:00:00:01""#;
        let p = |json: String, env: &str| parse(json.as_bytes(), env, true).unwrap().mac;
        assert_eq!(p(format!("{{{base}}}"), ""), "c2:00:00:00:00:01");
        assert_eq!(
            p(format!("{{{base}}}"), "MAC=c2:00:00:00:00:02"),
            "c2:00:00:00:00:02"
        );
        assert_eq!(p(format!("{{{base}}}"), "MAC="), "c2:00:00:00:00:01");
        let rt = format!(r#"{{{base},"runtimeConfig":{{"mac":"c2:00:00:00:00:03"}}}}"#);
        assert_eq!(p(rt.clone(), "MAC=c2:00:00:00:00:02"), "c2:00:00:00:00:03");
        let args = format!(
            r#"{{{base},"runtimeConfig":{{"mac":"c2:00:00:00:00:03"}},"args":{{"cni":{{"mac":"c2:00:00:00:00:04"}}}}}}"#
        );
        assert_eq!(p(args, "MAC=c2:00:00:00:00:02"), "c2:00:00:00:00:04");
        assert_eq!(
            parse(format!("{{{base}}}").as_bytes(), "FOO=1", true)
                .unwrap_err()
                .msg,
            "ARGS: unknown args [\"FOO=1\"]"
        );
        assert!(parse(
            format!("{{{base}}}").as_bytes(),
            "FOO=1;IgnoreUnknown=true",
            true
        )
        .is_ok());
    }

    #[test]
    fn args_override_and_merge_sysctls() {
        let c = conf(
            r#"{"name":"t","sysctl":{"net.b":"1","net.a":"2"},"mtu":1400,"promisc":true,
                "args":{"cni":{"sysctl":{"net.a":"3","net.c":"4"},"mtu":9000,"promisc":false,
                "allmulti":true,"txQLen":20}}}"#,
        );
        let keys: Vec<_> = c.sysctls.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(keys, ["net.b=1", "net.a=3", "net.c=4"]);
        assert_eq!(
            (c.mtu, c.promisc, c.allmulti, c.txqlen),
            (9000, false, Some(true), Some(20))
        );
    }

    #[test]
    fn args_sysctl_without_top_level_sysctl_does_not_crash() {
        let c = conf(r#"{"name":"t","args":{"cni":{"sysctl":{"net.a":"1"}}}}"#);
        assert_eq!(c.sysctls, vec![("net.a".to_string(), "1".to_string())]);
    }

    #[test]
    fn duplicate_sysctl_keys_are_refused_on_add_and_check_only() {
        let json = r#"{"name":"t","sysctl":{"net.a":"1","net.a":"2"}}"#;
        assert_eq!(err(json, true), "duplicated sysctl keys are not allowed");
        let c = parse(json.as_bytes(), "", false).unwrap();
        assert_eq!(c.sysctls, vec![("net.a".to_string(), "2".to_string())]);
        // Escapes are decoded before comparing, and two `sysctl` members share one key set.
        assert_eq!(
            err(
                r#"{"name":"t","sysctl":{"net.a":"1","net\u002ea":"2"}}"#,
                true
            ),
            "duplicated sysctl keys are not allowed"
        );
        assert_eq!(
            err(
                r#"{"name":"t","sysctl":{"net.a":"1"},"Sysctl":{"net.a":"2"}}"#,
                true
            ),
            "duplicated sysctl keys are not allowed"
        );
        // A repeat beats an earlier type error, as in Go.
        assert_eq!(
            err(r#"{"name":"t","sysctl":{"net.a":1,"net.a":"2"}}"#, true),
            "duplicated sysctl keys are not allowed"
        );
    }

    #[test]
    fn type_errors_read_like_go() {
        for (json, dups, msg) in [
            (r#"{"name":"t","sysctl":{"a":1}}"#, true,
             "json: cannot unmarshal number into Go struct field sysctlCheck.sysctl of type string"),
            (r#"{"name":"t","sysctl":"x"}"#, true,
             "json: cannot unmarshal string into Go struct field sysctlCheck.sysctl of type map[main.sysctlKey]string"),
            (r#"{"name":"t","sysctl":{"a":1}}"#, false,
             "failed to load netconf: json: cannot unmarshal number into Go struct field TuningConf.sysctl of type string"),
            (r#"{"name":"t","mtu":"x","mac":1}"#, false,
             "failed to load netconf: json: cannot unmarshal string into Go struct field TuningConf.mtu of type int"),
            (r#"{"name":"t","mac":1,"mtu":"x"}"#, false,
             "failed to load netconf: json: cannot unmarshal number into Go struct field TuningConf.mac of type string"),
            (r#"{"name":"t","args":{"cni":{"mtu":"x"}}}"#, false,
             "failed to load netconf: json: cannot unmarshal string into Go struct field IPAMArgs.args.cni.mtu of type int"),
            (r#"{"name":"t","args":{"cni":"x"}}"#, false,
             "failed to load netconf: json: cannot unmarshal string into Go struct field .args.cni of type main.IPAMArgs"),
            (r#"{"name":"t","args":"x"}"#, false,
             "failed to load netconf: json: cannot unmarshal string into Go struct field TuningConf.args of type struct { A *main.IPAMArgs \"json:\\\"cni\\\"\" }"),
            (r#"{"name":"t","runtimeConfig":{"mac":1}}"#, false,
             "failed to load netconf: json: cannot unmarshal number into Go struct field .runtimeConfig.mac of type string"),
            (r#"{"name":"t","runtimeConfig":"x"}"#, false,
             "failed to load netconf: json: cannot unmarshal string into Go struct field TuningConf.runtimeConfig of type struct { Mac string \"json:\\\"mac,omitempty\\\"\" }"),
            (r#"{"name":"t","mtu":1e3}"#, false,
             "failed to load netconf: json: cannot unmarshal number 1e3 into Go struct field TuningConf.mtu of type int"),
            (r#"{"name":"t","prevResult":"x"}"#, false,
             "failed to load netconf: json: cannot unmarshal string into Go struct field TuningConf.prevResult of type map[string]interface {}"),
        ] {
            assert_eq!(err(json, dups), msg, "{json}");
        }
    }

    #[test]
    fn keys_match_case_insensitively_and_later_keys_win() {
        let c = conf(
            r#"{"name":"t","MTU":1000,"mtu":1200,"TXQLEN":5,"AllMulti":false,"DataDir":"/x"}"#,
        );
        assert_eq!((c.mtu, c.txqlen, c.allmulti), (1200, Some(5), Some(false)));
        assert_eq!(c.data_dir, "/x");
        let c = conf(
            r#"{"name":"t","allmulti":true,"allmulti":null,"args":{"cni":{"mtu":1}},"args":null}"#,
        );
        assert_eq!((c.allmulti, c.mtu), (None, 0));
    }

    #[test]
    fn slash_in_ifname_is_refused() {
        assert_eq!(
            check_ifname("eth/0").unwrap_err().msg,
            "Interface name (eth/0) contains an invalid character /"
        );
        assert!(check_ifname("eth0.100").is_ok());
    }
}
