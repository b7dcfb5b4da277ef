//! The calico NetConf (`calicoconf`: Calico's `types.NetConf`, decoded with Go's rules, the
//! datastore's keys alongside) with calico's defaults and checks, and the MTU file.

use datastore::NetConfDatastore;
use libcni::{code, CniError};

pub const DEFAULT_NODENAME_FILE: &str = "/var/lib/calico/nodename";
pub const DEFAULT_ENDPOINT_STATUS_DIR: &str = "/var/run/calico/endpoint-status";
pub const MTU_FILE: &str = "/var/lib/calico/mtu";

pub use calicoconf::NetConf;

/// The parsed config and its datastore keys.
pub struct Loaded {
    pub conf: NetConf,
    pub datastore: NetConfDatastore,
}

pub fn load(stdin: &[u8]) -> Result<Loaded, CniError> {
    let fail = |e: &dyn std::fmt::Display| {
        CniError::new(code::INTERNAL, format!("failed to load netconf: {e}"))
    };
    let (mut conf, datastore) = NetConf::decode(stdin).map_err(|e| fail(&e))?;
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
