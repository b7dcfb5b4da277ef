//! Building a plugin's stdin from its config object (Go's `buildOneConfig`,
//! `injectRuntimeConfig` and `InjectConf`).
//!
//! Go re-decodes the plugin object into a generic map, sets the injected keys and
//! re-encodes it, so a plugin receives compact JSON with every object's keys sorted and
//! numbers that went through float64 (`1.0` prints as `1`). [`encode`] reproduces that.

use serde_json::{Map, Number, Value};

use super::conf::PluginConfig;
use super::error::{Result, RuntimeError};
use crate::types::{result::sort_keys, CniResult, GcAttachment};

/// The GC key of the spec.
pub const VALID_ATTACHMENTS_KEY: &str = "cni.dev/valid-attachments";
/// The old, misspelled GC key (CNI issue #1101); Go libcni still sends it too.
pub const LEGACY_ATTACHMENTS_KEY: &str = "cni.dev/attachments";

/// Go's `json.Marshal` of a value decoded into `interface{}`: compact, keys sorted, HTML
/// characters escaped, integral floats printed as integers.
pub fn encode(value: &Value) -> Vec<u8> {
    crate::json::to_compact(&sort_keys(go_numbers(value.clone()))).into_bytes()
}

/// Integral floats below 1e21 print without a fraction in Go (`1.0` → `1`, `1e3` → `1000`).
fn go_numbers(v: Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(0.0);
            if f.fract() == 0.0 && f.abs() < 1e21 {
                if f >= 0.0 && f <= u64::MAX as f64 {
                    return Value::Number(Number::from(f as u64));
                }
                if f < 0.0 && f >= i64::MIN as f64 {
                    return Value::Number(Number::from(f as i64));
                }
            }
            Value::Number(n)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(go_numbers).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, go_numbers(v))).collect())
        }
        other => other,
    }
}

/// Go's `InjectConf`: the plugin object with `values` set (replacing existing keys).
pub fn inject(plugin: &PluginConfig, values: Vec<(&str, Value)>) -> Result<Vec<u8>> {
    let Value::Object(mut map) = plugin.network.clone() else {
        return Err(RuntimeError::Config(
            "unmarshal existing network bytes: json: cannot unmarshal non-object into Go value of type map[string]interface {}"
                .into(),
        ));
    };
    for (key, value) in values {
        if key.is_empty() {
            return Err(RuntimeError::Config("keys cannot be empty".into()));
        }
        map.insert(key.to_string(), value);
    }
    Ok(encode(&Value::Object(map)))
}

/// The capability args the plugin declares `true` and the runtime supplied (Go's
/// `injectRuntimeConfig` filter).
pub fn runtime_config(
    plugin: &PluginConfig,
    capability_args: &Map<String, Value>,
) -> Map<String, Value> {
    plugin
        .capabilities
        .iter()
        .filter(|(_, on)| **on)
        .filter_map(|(cap, _)| capability_args.get(cap).map(|v| (cap.clone(), v.clone())))
        .collect()
}

/// Go's `buildOneConfig`: `name` and `cniVersion` of the list, `prevResult` when there is
/// one, and `runtimeConfig` with the matched capability args (only when at least one
/// matched; it replaces any `runtimeConfig` of the file).
pub fn build_config(
    name: &str,
    cni_version: &str,
    plugin: &PluginConfig,
    prev_result: Option<&CniResult>,
    capability_args: &Map<String, Value>,
) -> Result<Vec<u8>> {
    let mut values = vec![
        ("name", Value::String(name.to_string())),
        ("cniVersion", Value::String(cni_version.to_string())),
    ];
    if let Some(prev) = prev_result {
        values.push(("prevResult", prev.to_value()));
    }
    let rc = runtime_config(plugin, capability_args);
    if !rc.is_empty() {
        values.push(("runtimeConfig", Value::Object(rc)));
    }
    inject(plugin, values)
}

/// The stdin of a GC call: `name`, `cniVersion`, and both attachment keys when the caller
/// gave a valid-attachment list.
pub fn build_gc_config(
    name: &str,
    cni_version: &str,
    plugin: &PluginConfig,
    valid: Option<&[GcAttachment]>,
) -> Result<Vec<u8>> {
    let mut values = vec![
        ("name", Value::String(name.to_string())),
        ("cniVersion", Value::String(cni_version.to_string())),
    ];
    if let Some(valid) = valid {
        let list = serde_json::to_value(valid).unwrap_or(Value::Array(Vec::new()));
        values.push((VALID_ATTACHMENTS_KEY, list.clone()));
        values.push((LEGACY_ATTACHMENTS_KEY, list));
    }
    inject(plugin, values)
}

/// The stdin of a STATUS call: `name` and `cniVersion` only.
pub fn build_status_config(
    name: &str,
    cni_version: &str,
    plugin: &PluginConfig,
) -> Result<Vec<u8>> {
    inject(
        plugin,
        vec![
            ("name", Value::String(name.to_string())),
            ("cniVersion", Value::String(cni_version.to_string())),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plugin(s: &str) -> PluginConfig {
        PluginConfig::from_bytes(s.as_bytes()).unwrap()
    }

    fn caps(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn injects_name_version_sorted_compact() {
        let p = plugin(
            r#"{"type":"t","zeta":1.0,"name":"own","cniVersion":"0.1.0","alpha":{"b":1,"a":"<&>"}}"#,
        );
        let out = build_config("net", "1.0.0", &p, None, &Map::new()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"alpha":{"a":"\u003c\u0026\u003e","b":1},"cniVersion":"1.0.0","name":"net","type":"t","zeta":1}"#
        );
    }

    #[test]
    fn capability_filtering() {
        let p = plugin(
            r#"{"type":"t","capabilities":{"portMappings":true,"bandwidth":false,"mac":true},"runtimeConfig":{"old":1}}"#,
        );
        let args = caps(
            json!({"portMappings":[{"hostPort":8080}],"bandwidth":{"x":1},"ips":["10.0.0.1"]}),
        );
        let out: Value =
            serde_json::from_slice(&build_config("n", "1.0.0", &p, None, &args).unwrap()).unwrap();
        assert_eq!(
            out["runtimeConfig"],
            json!({"portMappings":[{"hostPort":8080}]})
        );
        // Nothing matched: no runtimeConfig injected, the file's own one stays.
        let out: Value = serde_json::from_slice(
            &build_config("n", "1.0.0", &p, None, &caps(json!({"ips":[]}))).unwrap(),
        )
        .unwrap();
        assert_eq!(out["runtimeConfig"], json!({"old":1}));
        let bare = plugin(r#"{"type":"t"}"#);
        let out: Value =
            serde_json::from_slice(&build_config("n", "1.0.0", &bare, None, &args).unwrap())
                .unwrap();
        assert!(out.get("runtimeConfig").is_none());
    }

    #[test]
    fn prev_result_and_gc_keys() {
        let p = plugin(r#"{"type":"t"}"#);
        let prev =
            CniResult::from_bytes(br#"{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24"}]}"#)
                .unwrap();
        let out: Value = serde_json::from_slice(
            &build_config("n", "1.0.0", &p, Some(&prev), &Map::new()).unwrap(),
        )
        .unwrap();
        assert_eq!(out["prevResult"]["ips"][0]["address"], "10.0.0.2/24");

        let valid = [GcAttachment {
            container_id: "c1".into(),
            ifname: "eth0".into(),
        }];
        let out: Value =
            serde_json::from_slice(&build_gc_config("n", "1.1.0", &p, Some(&valid)).unwrap())
                .unwrap();
        let expected = json!([{"containerID":"c1","ifname":"eth0"}]);
        assert_eq!(out[VALID_ATTACHMENTS_KEY], expected);
        assert_eq!(out[LEGACY_ATTACHMENTS_KEY], expected);
        let out: Value =
            serde_json::from_slice(&build_gc_config("n", "1.1.0", &p, None).unwrap()).unwrap();
        assert!(
            out.get(VALID_ATTACHMENTS_KEY).is_none() && out.get(LEGACY_ATTACHMENTS_KEY).is_none()
        );
    }
}
