//! The decoder against `encoding/json`'s behaviour, case by case.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::*;

crate::go_type!(fn entries_type = "[]main.PortMapEntry");
crate::go_type!(fn ips_type = "[]*types100.IPConfig");

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename = "main.PortMapEntry")]
struct Entry {
    #[serde(rename = "hostPort")]
    host_port: i64,
    #[serde(rename = "containerPort")]
    container_port: i64,
    protocol: String,
    #[serde(rename = "hostIP")]
    host_ip: String,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(
    default,
    rename = "struct { PortMaps []main.PortMapEntry \"json:\\\"portMappings,omitempty\\\"\" }"
)]
struct Runtime {
    #[serde(rename = "portMappings")]
    port_mappings: Vec<Entry>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename = "main.PortMapConf")]
struct Conf {
    #[serde(rename = "cniVersion")]
    cni_version: String,
    mtu: i64,
    #[serde(rename = "markMasqBit")]
    mark: Option<i64>,
    snat: Option<bool>,
    small: u8,
    ratio: f64,
    conditions: Option<Vec<String>>,
    sysctl: BTreeMap<String, String>,
    #[serde(rename = "runtimeConfig")]
    runtime_config: Runtime,
    extra: Option<Value>,
    #[serde(rename = "prevResult")]
    prev_result: Option<serde_json::Map<String, Value>>,
}

fn conf(s: &str) -> Conf {
    from_slice(s.as_bytes()).unwrap()
}

fn err(s: &str) -> String {
    from_slice::<Conf>(s.as_bytes()).unwrap_err().to_string()
}

#[test]
fn keys_match_exactly_first_then_ignoring_case() {
    let c = conf(r#"{"CNIVERSION":"0.1.0","cniVersion":"1.0.0","CniVersion":"0.4.0"}"#);
    // Every matching key decodes into the field, in order; the last one wins.
    assert_eq!(c.cni_version, "0.4.0");
    let c = conf(
        r#"{"RuntimeConfig":{"PortMappings":[{"HostPort":8080,"ContainerPort":80,"Protocol":"tcp","HostIP":"1.2.3.4"}]}}"#,
    );
    assert_eq!(
        c.runtime_config.port_mappings,
        vec![Entry {
            host_port: 8080,
            container_port: 80,
            protocol: "tcp".into(),
            host_ip: "1.2.3.4".into()
        }]
    );
    // Unicode folding: the Kelvin sign folds to k, the long s to s.
    let c = conf("{\"\u{17f}nat\":true}");
    assert_eq!(c.snat, Some(true));
}

#[test]
fn null_resets_pointers_maps_and_slices_and_leaves_values_alone() {
    let c = conf(
        r#"{"mtu":1400,"mtu":null,"snat":true,"snat":null,"conditions":["a"],"conditions":null}"#,
    );
    assert_eq!((c.mtu, c.snat, c.conditions), (1400, None, None));
    let c = conf(r#"{"sysctl":{"a":"1"},"sysctl":null,"sysctl":{"b":"2"}}"#);
    assert_eq!(c.sysctl, BTreeMap::from([("b".into(), "2".into())]));
    // A null map value stores the zero value.
    let c = conf(r#"{"sysctl":{"a":null}}"#);
    assert_eq!(c.sysctl["a"], "");
}

#[test]
fn repeated_objects_merge_and_arrays_decode_into_existing_elements() {
    let c = conf(r#"{"sysctl":{"a":"1","b":"2"},"Sysctl":{"b":"3","c":"4"}}"#);
    assert_eq!(
        c.sysctl,
        BTreeMap::from([
            ("a".into(), "1".into()),
            ("b".into(), "3".into()),
            ("c".into(), "4".into())
        ])
    );
    let c = conf(
        r#"{"runtimeConfig":{"portMappings":[{"hostPort":1,"protocol":"tcp"},{"hostPort":2}]},
            "runtimeConfig":{"portMappings":[{"containerPort":9}]}}"#,
    );
    assert_eq!(
        c.runtime_config.port_mappings,
        vec![Entry {
            host_port: 1,
            container_port: 9,
            protocol: "tcp".into(),
            host_ip: String::new()
        }]
    );
    // An empty array resets the slice.
    let c = conf(r#"{"conditions":["a","b"],"conditions":[],"conditions":["c"]}"#);
    assert_eq!(c.conditions, Some(vec!["c".to_string()]));
    let c = conf(r#"{"conditions":["a","b"],"conditions":[]}"#);
    assert_eq!(c.conditions, Some(vec![]));
}

#[test]
fn type_errors_name_the_struct_path_and_go_type() {
    for (input, want) in [
        (r#"{"mtu":"x"}"#, "json: cannot unmarshal string into Go struct field PortMapConf.mtu of type int"),
        (r#"{"mtu":1.5}"#, "json: cannot unmarshal number 1.5 into Go struct field PortMapConf.mtu of type int"),
        (r#"{"mtu":1e3}"#, "json: cannot unmarshal number 1e3 into Go struct field PortMapConf.mtu of type int"),
        (r#"{"mtu":99999999999999999999}"#, "json: cannot unmarshal number 99999999999999999999 into Go struct field PortMapConf.mtu of type int"),
        (r#"{"small":256}"#, "json: cannot unmarshal number 256 into Go struct field PortMapConf.small of type uint8"),
        (r#"{"small":-1}"#, "json: cannot unmarshal number -1 into Go struct field PortMapConf.small of type uint8"),
        (r#"{"ratio":1e400}"#, "json: cannot unmarshal number 1e400 into Go struct field PortMapConf.ratio of type float64"),
        (r#"{"markMasqBit":true}"#, "json: cannot unmarshal bool into Go struct field PortMapConf.markMasqBit of type int"),
        (r#"{"cniVersion":{}}"#, "json: cannot unmarshal object into Go struct field PortMapConf.cniVersion of type string"),
        (r#"{"conditions":"x"}"#, "json: cannot unmarshal string into Go struct field PortMapConf.conditions of type []string"),
        (r#"{"conditions":[1]}"#, "json: cannot unmarshal number into Go struct field PortMapConf.conditions of type string"),
        (r#"{"sysctl":[]}"#, "json: cannot unmarshal array into Go struct field PortMapConf.sysctl of type map[string]string"),
        (r#"{"sysctl":{"a":1}}"#, "json: cannot unmarshal number into Go struct field PortMapConf.sysctl of type string"),
        (r#"{"prevResult":"x"}"#, "json: cannot unmarshal string into Go struct field PortMapConf.prevResult of type map[string]interface {}"),
        (r#"{"runtimeConfig":{"portMappings":[{"hostPort":"80"}]}}"#,
         "json: cannot unmarshal string into Go struct field PortMapEntry.runtimeConfig.portMappings.hostPort of type int"),
        (r#"{"runtimeConfig":{"portMappings":{}}}"#,
         "json: cannot unmarshal object into Go struct field .runtimeConfig.portMappings of type []main.PortMapEntry"),
        (r#"{"runtimeConfig":[]}"#,
         "json: cannot unmarshal array into Go struct field PortMapConf.runtimeConfig of type struct { PortMaps []main.PortMapEntry \"json:\\\"portMappings,omitempty\\\"\" }"),
        ("[]", "json: cannot unmarshal array into Go value of type main.PortMapConf"),
        ("\"x\"", "json: cannot unmarshal string into Go value of type main.PortMapConf"),
    ] {
        assert_eq!(err(input), want, "{input}");
    }
}

#[test]
fn the_first_type_error_in_the_document_is_reported() {
    assert_eq!(
        err(r#"{"snat":1,"mtu":"x"}"#),
        "json: cannot unmarshal number into Go struct field PortMapConf.snat of type bool"
    );
    assert_eq!(
        err(r#"{"mtu":"x","snat":1}"#),
        "json: cannot unmarshal string into Go struct field PortMapConf.mtu of type int"
    );
    // A repeated key's bad first value is still the first error.
    assert_eq!(
        err(r#"{"mtu":"x","snat":1,"mtu":5}"#),
        "json: cannot unmarshal string into Go struct field PortMapConf.mtu of type int"
    );
}

#[test]
fn null_and_unknown_keys_are_never_errors() {
    let c = conf(r#"{"mtu":null,"runtimeConfig":null,"unknown":{"x":[1,"y"]},"cniVersion":null}"#);
    assert_eq!(c, Conf::default());
    assert_eq!(conf("null"), Conf::default());
}

#[test]
fn interface_values_take_anything() {
    let c = conf(r#"{"extra":{"a":[1,-2,1.5,"s",true,null]},"extra":{"b":1}}"#);
    assert_eq!(c.extra, Some(json!({"b": 1})));
    let c = conf(r#"{"prevResult":{"ips":[]},"prevResult":{"dns":{}}}"#);
    assert_eq!(
        Value::Object(c.prev_result.unwrap()),
        json!({"ips": [], "dns": {}})
    );
}

/// A Go type with its own `UnmarshalJSON` that parses a string, like `types.IPNet`.
mod cidr {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let s = String::deserialize(d)?;
        if s.contains('/') {
            Ok(s)
        } else {
            Err(serde::de::Error::custom(format!(
                "invalid CIDR address: {s}"
            )))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename = "types.Route")]
struct Route {
    #[serde(with = "cidr")]
    dst: String,
    mtu: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename = "types100.Result")]
struct Result100 {
    #[serde(rename = "cniVersion")]
    cni_version: String,
    #[serde(deserialize_with = "ips_type")]
    ips: Vec<Value>,
    routes: Vec<Route>,
    mtu: i64,
}

fn result_err(s: &str) -> String {
    from_slice::<Result100>(s.as_bytes())
        .unwrap_err()
        .to_string()
}

#[test]
fn a_stopping_error_wins_over_an_earlier_type_error() {
    assert_eq!(
        result_err(r#"{"mtu":"x","routes":[{"dst":"bad"}]}"#),
        "invalid CIDR address: bad"
    );
    // null still runs the parser of a value type, as Go calls UnmarshalJSON for null.
    assert_eq!(
        result_err(r#"{"routes":[{"dst":null}]}"#),
        "invalid CIDR address: "
    );
}

#[test]
fn errors_inside_a_value_with_its_own_unmarshaler_name_the_outer_field() {
    assert_eq!(
        result_err(r#"{"routes":[{"dst":"10.0.0.0/8","mtu":"x"}]}"#),
        "json: cannot unmarshal string into Go struct field Result.routes of type int"
    );
    assert_eq!(
        result_err(r#"{"routes":["x"]}"#),
        "json: cannot unmarshal string into Go struct field Result.routes of type types.route"
    );
    // It stops the decoder: a later saved error does not matter, an earlier one does not win.
    assert_eq!(
        result_err(r#"{"mtu":"x","routes":[{"dst":"10.0.0.0/8","mtu":"y"}]}"#),
        "json: cannot unmarshal string into Go struct field Result.routes of type int"
    );
    // Inside it, its own stopping error beats its saved one.
    assert_eq!(
        result_err(r#"{"routes":[{"mtu":"y","dst":"bad"}]}"#),
        "invalid CIDR address: bad"
    );
    assert_eq!(
        result_err(r#"{"ips":"x"}"#),
        "json: cannot unmarshal string into Go struct field Result.ips of type []*types100.IPConfig"
    );
    assert_eq!(
        result_err(r#"{"routes":"x"}"#),
        "json: cannot unmarshal string into Go struct field Result.routes of type []types.Route"
    );
}

#[test]
fn declared_types_still_decode_with_serde_json() {
    #[derive(Deserialize)]
    struct Plain {
        #[serde(deserialize_with = "entries_type")]
        e: Vec<Entry>,
    }
    let p: Plain = serde_json::from_str(r#"{"e":[{"hostPort":1}]}"#).unwrap();
    assert_eq!(p.e[0].host_port, 1);
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename = "types.NetConf")]
struct Net {
    #[serde(rename = "cniVersion")]
    cni_version: String,
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename = "main.TuningConf")]
struct Tuning {
    mtu: i64,
}

#[test]
fn an_embedded_struct_reports_as_the_outer_one_in_document_order() {
    let doc = Doc::parse(br#"{"name":5,"mtu":"x"}"#).unwrap();
    assert_eq!(
        doc.decode_parts::<(Tuning, Net)>().unwrap_err().to_string(),
        "json: cannot unmarshal number into Go struct field TuningConf.name of type string"
    );
    let doc = Doc::parse(br#"{"mtu":"x","name":5}"#).unwrap();
    assert_eq!(
        doc.decode_parts::<(Tuning, Net)>().unwrap_err().to_string(),
        "json: cannot unmarshal string into Go struct field TuningConf.mtu of type int"
    );
    let doc = Doc::parse(br#"{"MTU":9000,"Name":"n","cniVersion":"1.0.0"}"#).unwrap();
    let (t, n) = doc.decode_parts::<(Tuning, Net)>().unwrap();
    assert_eq!(
        (t.mtu, n.name.as_str(), n.cni_version.as_str()),
        (9000, "n", "1.0.0")
    );
}

#[test]
fn syntax_errors_come_first() {
    assert_eq!(
        err(r#"{"mtu":"x",}"#),
        "invalid character '}' looking for beginning of object key string"
    );
}

#[test]
fn deep_documents_fail_cleanly_instead_of_overflowing_the_stack() {
    // Go takes 10000 levels; an interface{} value here stops at 128 (see de.rs).
    let nested = |n: usize| "[".repeat(n) + &"]".repeat(n);
    let ok = format!(r#"{{"extra":{},"mtu":"x"}}"#, nested(100));
    assert_eq!(
        err(&ok),
        "json: cannot unmarshal string into Go struct field PortMapConf.mtu of type int"
    );
    let deep = format!(r#"{{"extra":{},"mtu":"x"}}"#, nested(9_000));
    assert_eq!(
        err(&deep),
        "json: a value nested more than 128 levels deep is not supported"
    );
}
