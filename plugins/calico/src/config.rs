//! The calico NetConf (Linux keys of Calico's `types.NetConf`), decoded with Go's rules
//! (`libcni::gojson`): keys match case-insensitively, unknown keys are ignored, a type
//! mismatch fails the load with Go's text. The datastore's keys of the same struct are
//! decoded alongside, as one Go struct.

use std::collections::BTreeMap;

use datastore::NetConfDatastore;
use libcni::gojson::Doc;
use libcni::{code, CniError};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

pub const DEFAULT_NODENAME_FILE: &str = "/var/lib/calico/nodename";
pub const DEFAULT_ENDPOINT_STATUS_DIR: &str = "/var/run/calico/endpoint-status";
pub const MTU_FILE: &str = "/var/lib/calico/mtu";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename = "types.NetConf")]
pub struct NetConf {
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    pub name: String,
    #[serde(rename = "type")]
    pub plugin_type: String,
    pub ipam: Ipam,
    pub nodename: String,
    pub nodename_file: String,
    pub nodename_file_optional: bool,
    /// Deprecated fallback for the node name.
    pub hostname: String,
    pub mtu: i64,
    pub require_mtu_file: bool,
    pub num_queues: i64,
    pub policy: Policy,
    pub kubernetes: Kubernetes,
    pub log_level: String,
    pub log_file_path: String,
    pub log_file_max_size: i64,
    pub log_file_max_age: i64,
    pub log_file_max_count: i64,
    pub container_settings: ContainerSettings,
    pub feature_control: FeatureControl,
    pub readiness_gates: Vec<String>,
    pub endpoint_status_dir: String,
    pub include_default_routes: bool,
    pub policy_setup_timeout_seconds: i64,
    pub dataplane_options: BTreeMap<String, Value>,
    pub device_type: String,
    #[serde(deserialize_with = "args_object")]
    pub args: Option<Value>,
    #[serde(rename = "prevResult")]
    pub prev_result: Option<Value>,
}

/// Calico's `args` is a struct (`types.Args`, Mesos labels): it must be an object; the
/// labels inside are read from it as JSON.
fn args_object<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    let map: Option<serde_json::Map<String, Value>> =
        libcni::gojson::declared(d, "\u{0}gojson:types.Args")?;
    Ok(map.map(Value::Object))
}

/// The `ipam` object, an anonymous struct in Calico's Go `NetConf`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    default,
    rename = "struct { Name string; Type string \"json:\\\"type\\\"\"; Subnet string \"json:\\\"subnet\\\"\"; AssignIpv4 *string \"json:\\\"assign_ipv4\\\"\"; AssignIpv6 *string \"json:\\\"assign_ipv6\\\"\"; IPv4Pools []string \"json:\\\"ipv4_pools,omitempty\\\"\"; IPv6Pools []string \"json:\\\"ipv6_pools,omitempty\\\"\"; IpPoolsLabelSelectorKeys []string \"json:\\\"ip_pools_label_selector_keys,omitempty\\\"\" }"
)]
pub struct Ipam {
    #[serde(rename = "type")]
    pub ipam_type: String,
    // The rest belongs to the IPAM plugin; decoded only so a wrong type fails here as in Go.
    #[serde(rename = "Name")]
    _name: String,
    #[serde(rename = "subnet")]
    _subnet: String,
    #[serde(rename = "assign_ipv4")]
    _assign_ipv4: Option<String>,
    #[serde(rename = "assign_ipv6")]
    _assign_ipv6: Option<String>,
    #[serde(rename = "ipv4_pools")]
    _ipv4_pools: Vec<String>,
    #[serde(rename = "ipv6_pools")]
    _ipv6_pools: Vec<String>,
    #[serde(rename = "ip_pools_label_selector_keys")]
    _ip_pools_label_selector_keys: Vec<String>,
}

/// `policy`: shared with calico-ipam (the Kubernetes client's overrides).
pub type Policy = kubeclient::Policy;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename = "types.Kubernetes")]
pub struct Kubernetes {
    pub kubeconfig: String,
    pub k8s_api_root: String,
    pub node_name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename = "types.ContainerSettings")]
pub struct ContainerSettings {
    pub allow_ip_forwarding: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename = "types.FeatureControl")]
pub struct FeatureControl {
    pub ip_addrs_no_ipam: bool,
    pub floating_ips: bool,
}

/// The parsed config and its datastore keys.
pub struct Loaded {
    pub conf: NetConf,
    pub datastore: NetConfDatastore,
}

pub fn load(stdin: &[u8]) -> Result<Loaded, CniError> {
    let fail = |e: &dyn std::fmt::Display| {
        CniError::new(code::INTERNAL, format!("failed to load netconf: {e}"))
    };
    let doc = Doc::parse(stdin).map_err(|e| fail(&e))?;
    let (mut conf, datastore): (NetConf, NetConfDatastore) =
        doc.decode_parts().map_err(|e| fail(&e))?;
    if conf.nodename_file.is_empty() {
        conf.nodename_file = DEFAULT_NODENAME_FILE.into();
    }
    if conf.endpoint_status_dir.is_empty() {
        conf.endpoint_status_dir = DEFAULT_ENDPOINT_STATUS_DIR.into();
    }
    if conf.num_queues <= 0 {
        conf.num_queues = 1;
    }
    // Calico treats a config without cniVersion as 0.2.0 for its result.
    if conf.cni_version.is_empty() {
        conf.cni_version = "0.2.0".into();
    }
    if !conf
        .name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        || conf.name.is_empty()
    {
        return Err(CniError::new(
            code::INTERNAL,
            "invalid characters detected in the given network name. Only letters a-z, numbers 0-9, and symbols _.- are supported",
        ));
    }
    match conf.device_type.as_str() {
        "" | "veth" => {}
        other => {
            return Err(CniError::new(
                code::INTERNAL,
                format!("invalid device_type {other:?}: only \"veth\" is supported"),
            ))
        }
    }
    Ok(Loaded { conf, datastore })
}

/// MTU from `/var/lib/calico/mtu` when the config sets none (Calico's `MTUFromFile`).
pub fn mtu_from_file(conf: &NetConf, path: &str) -> Result<i64, CniError> {
    let fail = |what: String| {
        CniError::new(
            code::INTERNAL,
            format!("failed to read MTU file {path}: {what}"),
        )
    };
    // A few bytes; the bound keeps a misconfigured path (a device, a FIFO) from hanging or
    // eating memory.
    const MAX_SIZE: u64 = 4096;
    let bytes = match libcni::fs::read_bounded(std::path::Path::new(path), MAX_SIZE) {
        Ok(bytes) => bytes,
        Err(e) if e.is_not_found() && !conf.require_mtu_file => return Ok(0),
        // Go's texts: `open <path>: ...`, or `read <path>: is a directory`.
        Err(e) => return Err(fail(e.to_string())),
    };
    // Go's strconv.Atoi on the trimmed text, with its error wording.
    let text = String::from_utf8_lossy(&bytes);
    let s = text.trim();
    s.parse::<i64>().map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        fail(format!(
            "strconv.Atoi: parsing {}: {why}",
            libcni::json::go_quote(s)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_and_defaults_apply() {
        let l = load(
            br#"{"cniVersion":"0.3.1","Name":"net1","type":"calico","NodeName":"n1",
            "IPAM":{"Type":"host-local"},"Policy":{"TYPE":"k8s"},"MTU":1400,
            "container_settings":{"Allow_IP_Forwarding":true},"num_queues":0,
            "feature_control":{"floating_ips":true},"readiness_gates":["http://x/"]}"#,
        )
        .unwrap();
        let c = l.conf;
        assert_eq!(c.name, "net1");
        assert_eq!(c.nodename, "n1");
        assert_eq!(c.ipam.ipam_type, "host-local");
        assert_eq!(c.policy.policy_type, "k8s");
        assert_eq!(c.mtu, 1400);
        assert!(c.container_settings.allow_ip_forwarding);
        assert!(c.feature_control.floating_ips);
        assert_eq!(c.num_queues, 1);
        assert_eq!(c.nodename_file, DEFAULT_NODENAME_FILE);
        assert_eq!(c.readiness_gates, vec!["http://x/".to_string()]);
    }

    #[test]
    fn type_mismatch_fails_with_go_s_text() {
        for (json, want) in [
            (r#"{"name":"n","readiness_gates":"http://x"}"#,
             "json: cannot unmarshal string into Go struct field NetConf.readiness_gates of type []string"),
            (r#"{"name":"n","mtu":"1400"}"#,
             "json: cannot unmarshal string into Go struct field NetConf.mtu of type int"),
            (r#"{"name":"n","ipam":{"assign_ipv4":true}}"#,
             "json: cannot unmarshal bool into Go struct field .ipam.assign_ipv4 of type string"),
            (r#"{"name":"n","policy":{"type":1}}"#,
             "json: cannot unmarshal number into Go struct field Policy.policy.type of type string"),
            (r#"{"name":"n","kubernetes":[]}"#,
             "json: cannot unmarshal array into Go struct field NetConf.kubernetes of type types.Kubernetes"),
            (r#"{"name":"n","args":"x"}"#,
             "json: cannot unmarshal string into Go struct field NetConf.args of type types.Args"),
            // The datastore's keys are part of the same struct, in document order.
            (r#"{"name":"n","etcd_endpoints":5,"mtu":"x"}"#,
             "json: cannot unmarshal number into Go struct field NetConf.etcd_endpoints of type string"),
            (r#"{"name":"n","mtu":"x","etcd_endpoints":5}"#,
             "json: cannot unmarshal string into Go struct field NetConf.mtu of type int"),
            (r#"{"name":"n","#, "unexpected end of JSON input"),
        ] {
            let e = load(json.as_bytes()).err().unwrap_or_else(|| panic!("{json} loaded"));
            assert_eq!(e.msg, format!("failed to load netconf: {want}"), "{json}");
        }
    }

    #[test]
    fn missing_version_is_020() {
        assert_eq!(load(br#"{"name":"n"}"#).unwrap().conf.cni_version, "0.2.0");
    }

    #[test]
    fn mtu_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mtu");
        let ps = p.to_str().unwrap();
        let mut c = NetConf::default();
        assert_eq!(mtu_from_file(&c, ps).unwrap(), 0);
        c.require_mtu_file = true;
        assert!(mtu_from_file(&c, ps).is_err());
        std::fs::write(&p, "1450\n").unwrap();
        assert_eq!(mtu_from_file(&c, ps).unwrap(), 1450);
        std::fs::write(&p, "x").unwrap();
        assert!(mtu_from_file(&c, ps).is_err());
    }
}
