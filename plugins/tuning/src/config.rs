//! tuning's config: what to change, where the backup goes, and the prevResult.
//!
//! Sources, lowest precedence first: the top-level keys; CNI_ARGS `MAC=`; `runtimeConfig.mac`
//! (capability `mac`); `args.cni.*` (whose `sysctl` entries are merged into the top-level
//! ones rather than replacing them).

use libcni::types::CniArgs;
use libcni::{CniError, CniResult, NetConf};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::decode::{self, is, Kind, Members, TypeError};

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

/// `args.cni`: every key optional, each one overriding the top-level key when present.
#[derive(Debug, Default)]
struct ArgsCni {
    sysctl: Option<Vec<(String, String)>>,
    mac: Option<String>,
    promisc: Option<bool>,
    mtu: Option<i64>,
    allmulti: Option<bool>,
    txqlen: Option<i64>,
}

/// `args`: Go's `*struct{ A *IPAMArgs "json:\"cni\"" }`.
#[derive(Debug, Default)]
struct Args {
    cni: Option<ArgsCni>,
}

/// Everything decoded from stdin, before the precedence rules.
#[derive(Debug, Default)]
struct Decoded {
    conf: Conf,
    sysctl: Option<Vec<(String, String)>>,
    runtime_mac: String,
    args: Option<Args>,
}

/// Decodes stdin and applies CNI_ARGS, `runtimeConfig` and `args.cni`.
///
/// `reject_duplicates`: ADD and CHECK first refuse a top-level `sysctl` with a repeated key
/// (Go decodes the config a first time just for that); DEL does not, and keeps the last value.
pub fn parse(stdin: &[u8], cni_args: &str, reject_duplicates: bool) -> Result<Conf, CniError> {
    let netconf_err = |e: String| CniError::internal(format!("failed to load netconf: {e}"));
    let top = decode::members(stdin).map_err(|e| netconf_err(e.to_string()))?;
    if reject_duplicates {
        reject_duplicate_sysctls(&top)?;
    }
    let decoded = decode_top(&top).map_err(|e| netconf_err(e.to_string()))?;
    let mut conf = decoded.conf;
    conf.sysctls = decoded.sysctl.unwrap_or_default();
    if conf.data_dir.is_empty() {
        conf.data_dir = DEFAULT_DATA_DIR.into();
    }

    // CNI_ARGS errors are returned as they are, without the netconf prefix.
    let env = CniArgs::load(cni_args, &["MAC"]).map_err(CniError::internal)?;
    if let Some(mac) = env.get("MAC").filter(|p| !p.value.is_empty()) {
        conf.mac = mac.value.clone();
    }
    if !decoded.runtime_mac.is_empty() {
        conf.mac = decoded.runtime_mac;
    }
    if let Some(cni) = decoded.args.and_then(|a| a.cni) {
        // Go writes these into a nil map when the config has no top-level `sysctl` and
        // panics; merging into an empty set is what the config plainly asks for.
        for (key, value) in cni.sysctl.unwrap_or_default() {
            decode::insert(&mut conf.sysctls, key, value);
        }
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

/// Go's first decoding pass (`validateSysctlConflictingKeys`): every key of every top-level
/// `sysctl` object goes into one set, and a repeat is refused at once. A value of the wrong
/// type is only reported if no repeat follows (Go saves type errors and carries on).
fn reject_duplicate_sysctls(top: &Members<'_>) -> Result<(), CniError> {
    const FIELD: &str = "sysctlCheck.sysctl";
    let mut seen: Vec<String> = Vec::new();
    let mut first_type_error: Option<TypeError> = None;
    for (_, raw) in top.iter().filter(|(k, _)| is(k, "sysctl")) {
        match Kind::of(raw) {
            Kind::Null => {}
            Kind::Object => {
                let entries = decode::members(raw.get().as_bytes()).unwrap_or_default();
                for (sysctl, value) in entries {
                    if let Err(e) = decode::string(value, FIELD, &mut String::new()) {
                        first_type_error.get_or_insert(e);
                    }
                    if seen.contains(&sysctl) {
                        return Err(CniError::internal("duplicated sysctl keys are not allowed"));
                    }
                    seen.push(sysctl);
                }
            }
            _ => {
                let mut ignored = None;
                if let Err(e) =
                    decode::string_map(raw, FIELD, "map[main.sysctlKey]string", &mut ignored)
                {
                    first_type_error.get_or_insert(e);
                }
            }
        }
    }
    match first_type_error {
        Some(e) => Err(CniError::internal(e)),
        None => Ok(()),
    }
}

/// The main decoding pass: Go's `json.Unmarshal` into `TuningConf`.
fn decode_top(top: &Members<'_>) -> Result<Decoded, TypeError> {
    let mut d = Decoded::default();
    for (key, raw) in top {
        let raw: &RawValue = raw;
        let c = &mut d.conf;
        match key.as_str() {
            k if is(k, "cniVersion") => {
                decode::string(raw, "TuningConf.cniVersion", &mut c.cni_version)?
            }
            k if is(k, "dataDir") => decode::string(raw, "TuningConf.dataDir", &mut c.data_dir)?,
            k if is(k, "sysctl") => {
                decode::string_map(raw, "TuningConf.sysctl", "map[string]string", &mut d.sysctl)?
            }
            k if is(k, "mac") => decode::string(raw, "TuningConf.mac", &mut c.mac)?,
            k if is(k, "promisc") => decode::boolean(raw, "TuningConf.promisc", &mut c.promisc)?,
            k if is(k, "mtu") => decode::int(raw, "TuningConf.mtu", &mut c.mtu)?,
            k if is(k, "txQLen") => decode::opt_int(raw, "TuningConf.txQLen", &mut c.txqlen)?,
            k if is(k, "allmulti") => {
                decode::opt_boolean(raw, "TuningConf.allmulti", &mut c.allmulti)?
            }
            k if is(k, "runtimeConfig") => decode::structure(
                raw,
                "TuningConf.runtimeConfig",
                "struct { Mac string \"json:\\\"mac,omitempty\\\"\" }",
                |k, v| match k {
                    k if is(k, "mac") => {
                        decode::string(v, ".runtimeConfig.mac", &mut d.runtime_mac)
                    }
                    _ => Ok(()),
                },
            )?,
            k if is(k, "args") => decode::opt_structure(
                raw,
                "TuningConf.args",
                "struct { A *main.IPAMArgs \"json:\\\"cni\\\"\" }",
                &mut d.args,
                |args, k, v| match k {
                    k if is(k, "cni") => decode::opt_structure(
                        v,
                        ".args.cni",
                        "main.IPAMArgs",
                        &mut args.cni,
                        decode_args_cni,
                    ),
                    _ => Ok(()),
                },
            )?,
            k if is(k, "prevResult") => {
                decode::shape(
                    raw,
                    "TuningConf.prevResult",
                    "map[string]interface {}",
                    Kind::Object,
                    None,
                )?;
                c.raw_prev_result = match Kind::of(raw) {
                    Kind::Null => None,
                    _ => serde_json::from_slice(raw.get().as_bytes()).ok(),
                };
            }
            // The rest of Go's embedded types.NetConf: only their shape can fail.
            k if is(k, "name") => decode::string(raw, "TuningConf.name", &mut String::new())?,
            k if is(k, "type") => decode::string(raw, "TuningConf.type", &mut String::new())?,
            k if is(k, "capabilities") => decode::shape(
                raw,
                "TuningConf.capabilities",
                "map[string]bool",
                Kind::Object,
                Some((Kind::Bool, "bool")),
            )?,
            k if is(k, "ipam") => {
                decode::structure(raw, "TuningConf.ipam", "types.IPAM", |k, v| match k {
                    k if is(k, "type") => decode::string(v, "IPAM.ipam.type", &mut String::new()),
                    _ => Ok(()),
                })?
            }
            k if is(k, "dns") => decode::structure(raw, "TuningConf.dns", "types.DNS", |k, v| {
                let list = |field| {
                    decode::shape(
                        v,
                        field,
                        "[]string",
                        Kind::Array,
                        Some((Kind::String, "string")),
                    )
                };
                match k {
                    k if is(k, "nameservers") => list("DNS.dns.nameservers"),
                    k if is(k, "domain") => decode::string(v, "DNS.dns.domain", &mut String::new()),
                    k if is(k, "search") => list("DNS.dns.search"),
                    k if is(k, "options") => list("DNS.dns.options"),
                    _ => Ok(()),
                }
            })?,
            _ => {}
        }
    }
    Ok(d)
}

/// Go's `IPAMArgs`: every field a pointer, so null unsets it.
fn decode_args_cni(a: &mut ArgsCni, key: &str, raw: &RawValue) -> decode::Result<()> {
    match key {
        k if is(k, "sysctl") => decode::string_map(
            raw,
            "IPAMArgs.args.cni.sysctl",
            "map[string]string",
            &mut a.sysctl,
        ),
        k if is(k, "mac") => decode::opt_string(raw, "IPAMArgs.args.cni.mac", &mut a.mac),
        k if is(k, "promisc") => {
            decode::opt_boolean(raw, "IPAMArgs.args.cni.promisc", &mut a.promisc)
        }
        k if is(k, "mtu") => decode::opt_int(raw, "IPAMArgs.args.cni.mtu", &mut a.mtu),
        k if is(k, "allmulti") => {
            decode::opt_boolean(raw, "IPAMArgs.args.cni.allmulti", &mut a.allmulti)
        }
        k if is(k, "txQLen") => decode::opt_int(raw, "IPAMArgs.args.cni.txQLen", &mut a.txqlen),
        _ => Ok(()),
    }
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
