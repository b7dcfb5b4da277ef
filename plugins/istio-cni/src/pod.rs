//! What the plugin reads from the pod (upstream `cni/pkg/plugin/kubernetes.go` `PodInfo`),
//! whether the pod gets rules (`plugin.go` `doAddRun`), and the redirect settings from its
//! annotations (`sidecar_redirect.go` `NewRedirect`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::goparse;

pub const ISTIO_INIT: &str = "istio-init";
pub const ISTIO_PROXY: &str = "istio-proxy";
pub const INJECT_KEY: &str = "sidecar.istio.io/inject";
pub const STATUS_KEY: &str = "sidecar.istio.io/status";

/// The parts of a pod the plugin looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodInfo {
    /// Names of init containers and containers.
    pub containers: BTreeSet<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// `args[1]` of an `istio-proxy` container whose `args[0]` is `proxy`.
    pub proxy_type: String,
    /// `env` of the `istio-proxy` container(s): `name` → `value` (`valueFrom` reads as "").
    pub proxy_env: BTreeMap<String, String>,
    pub proxy_uid: Option<i64>,
    pub proxy_gid: Option<i64>,
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

impl PodInfo {
    /// Upstream's `getK8sPodInfo` on a Pod object: init containers first, then containers.
    pub fn from_pod(pod: &Value) -> PodInfo {
        let mut pi = PodInfo {
            labels: string_map(pod.pointer("/metadata/labels")),
            annotations: string_map(pod.pointer("/metadata/annotations")),
            ..PodInfo::default()
        };
        let list = |key: &str| -> Vec<Value> {
            pod.pointer(&format!("/spec/{key}"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        for c in list("initContainers")
            .iter()
            .chain(list("containers").iter())
        {
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
            pi.containers.insert(name.to_string());
            if name != ISTIO_PROXY {
                continue;
            }
            for e in c.get("env").and_then(Value::as_array).into_iter().flatten() {
                let n = e.get("name").and_then(Value::as_str).unwrap_or_default();
                let v = e.get("value").and_then(Value::as_str).unwrap_or_default();
                pi.proxy_env.insert(n.to_string(), v.to_string());
            }
            let args: Vec<&str> = c
                .get("args")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|x| x.as_str().unwrap_or_default()).collect())
                .unwrap_or_default();
            if args.len() >= 2 && args[0] == "proxy" {
                pi.proxy_type = args[1].to_string();
            }
            if let Some(sc) = c.get("securityContext").filter(|v| v.is_object()) {
                pi.proxy_uid = sc.get("runAsUser").and_then(Value::as_i64);
                pi.proxy_gid = sc.get("runAsGroup").and_then(Value::as_i64);
            }
        }
        pi
    }
}

/// Why a pod gets no rules (upstream's log texts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    IstioInit,
    DisableEnvoy,
    NoProxy,
    ProxyType,
    InjectDisabled,
    NoStatus,
}

impl Skip {
    pub fn text(self) -> &'static str {
        match self {
            Skip::IstioInit => "excluded due to being already injected with istio-init container",
            Skip::DisableEnvoy => "excluded due to DISABLE_ENVOY on istio-proxy",
            Skip::NoProxy => "excluded because it does not have istio-proxy container",
            Skip::ProxyType => "excluded because it has a proxy type other than sidecar",
            Skip::InjectDisabled => "excluded due to inject-disabled annotation",
            Skip::NoStatus => "excluded due to not containing sidecar annotation",
        }
    }
}

/// Upstream's checks on the fetched pod, in its order.
pub fn skip_reason(pi: &PodInfo) -> Option<Skip> {
    if pi.containers.contains(ISTIO_INIT) {
        return Some(Skip::IstioInit);
    }
    if let Some(v) = pi.proxy_env.get("DISABLE_ENVOY") {
        if goparse::parse_bool(v) == Ok(true) {
            return Some(Skip::DisableEnvoy);
        }
    }
    if !pi.containers.contains(ISTIO_PROXY) {
        return Some(Skip::NoProxy);
    }
    if !pi.proxy_type.is_empty() && pi.proxy_type != "sidecar" {
        return Some(Skip::ProxyType);
    }
    // The label is the newer API and wins when present, even empty.
    let mut val = pi.annotations.get(INJECT_KEY).cloned().unwrap_or_default();
    if let Some(l) = pi.labels.get(INJECT_KEY) {
        val = l.clone();
    }
    if !val.is_empty() && goparse::parse_bool(&val) == Ok(false) {
        return Some(Skip::InjectDisabled);
    }
    if !pi.annotations.contains_key(STATUS_KEY) {
        return Some(Skip::NoStatus);
    }
    None
}

/// The redirect settings (upstream's `Redirect`), as strings in `istio-iptables`' syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub target_port: String,
    pub redirect_mode: String,
    pub no_redirect_uid: String,
    pub no_redirect_gid: String,
    pub include_ip_cidrs: String,
    pub exclude_ip_cidrs: String,
    pub exclude_inbound_ports: String,
    pub exclude_outbound_ports: String,
    pub include_inbound_ports: String,
    pub include_outbound_ports: String,
    pub reroute_virtual_interfaces: String,
    pub exclude_interfaces: String,
    pub dns_redirect: bool,
    pub dual_stack: bool,
    pub invalid_drop: bool,
}

/// One registered annotation: key, default, validator.
struct Param {
    name: &'static str,
    key: &'static str,
    default: &'static str,
    validate: fn(&str) -> Result<(), String>,
}

fn always(_: &str) -> Result<(), String> {
    Ok(())
}

fn validate_mode(mode: &str) -> Result<(), String> {
    match mode {
        "REDIRECT" | "TPROXY" => Ok(()),
        other => Err(format!("interceptionMode invalid: {other}")),
    }
}

fn validate_cidr_list(cidrs: &str) -> Result<(), String> {
    if !cidrs.is_empty() {
        for c in cidrs.split(',') {
            goparse::parse_prefix(c).map_err(|e| format!("failed parsing cidr '{c}': {e}"))?;
        }
    }
    Ok(())
}

fn validate_cidr_list_wildcard(cidrs: &str) -> Result<(), String> {
    if cidrs != "*" {
        validate_cidr_list(cidrs).map_err(|e| format!("IPRanges invalid: {e}"))?;
    }
    Ok(())
}

/// Upstream's `parsePorts`: the whole string trimmed, split on `,`, each item trimmed and
/// parsed as a 16-bit port.
fn validate_ports(ports: &str) -> Result<(), String> {
    let trimmed = ports.trim();
    if !trimmed.is_empty() {
        for p in trimmed.split(',') {
            goparse::parse_u16(p.trim()).map_err(|e| {
                format!(
                    "portList {} invalid: failed parsing port {}: {e}",
                    libcni::json::go_quote(ports),
                    libcni::json::go_quote(p)
                )
            })?;
        }
    }
    Ok(())
}

fn validate_ports_wildcard(ports: &str) -> Result<(), String> {
    if ports != "*" {
        validate_ports(ports)?;
    }
    Ok(())
}

const MODE: Param = Param {
    name: "redirectMode",
    key: "sidecar.istio.io/interceptionMode",
    default: "REDIRECT",
    validate: validate_mode,
};
const INCLUDE_IP: Param = Param {
    name: "includeIPCidrs",
    key: "traffic.sidecar.istio.io/includeOutboundIPRanges",
    default: "*",
    validate: validate_cidr_list_wildcard,
};
const EXCLUDE_IP: Param = Param {
    name: "excludeIPCidrs",
    key: "traffic.sidecar.istio.io/excludeOutboundIPRanges",
    default: "",
    validate: validate_cidr_list,
};
const EXCLUDE_IN: Param = Param {
    name: "excludeInboundPorts",
    key: "traffic.sidecar.istio.io/excludeInboundPorts",
    default: "15020",
    validate: validate_ports_wildcard,
};
const INCLUDE_IN: Param = Param {
    name: "includeInboundPorts",
    key: "traffic.sidecar.istio.io/includeInboundPorts",
    default: "*",
    validate: validate_ports_wildcard,
};
const EXCLUDE_OUT: Param = Param {
    name: "excludeOutboundPorts",
    key: "traffic.sidecar.istio.io/excludeOutboundPorts",
    default: "15020",
    validate: validate_ports_wildcard,
};
const INCLUDE_OUT: Param = Param {
    name: "includeOutboundPorts",
    key: "traffic.sidecar.istio.io/includeOutboundPorts",
    default: "",
    validate: validate_ports_wildcard,
};
const EXCLUDE_NIC: Param = Param {
    name: "excludeInterfaces",
    key: "traffic.sidecar.istio.io/excludeInterfaces",
    default: "",
    validate: always,
};
const REROUTE_NIC: Param = Param {
    name: "reroute-virtual-interfaces",
    key: "istio.io/reroute-virtual-interfaces",
    default: "",
    validate: always,
};
const KUBEVIRT_NIC: Param = Param {
    name: "kubevirtInterfaces",
    key: "traffic.sidecar.istio.io/kubevirtInterfaces",
    default: "",
    validate: always,
};

/// `(found, value)`, or upstream's `annotation value error ...` text.
fn get(p: &Param, annotations: &BTreeMap<String, String>) -> Result<(bool, String), String> {
    match annotations.get(p.key) {
        Some(v) => match (p.validate)(v) {
            Ok(()) => Ok((true, v.clone())),
            Err(e) => Err(format!(
                "annotation value error for value {}; annotationFound = true: {e}",
                p.name
            )),
        },
        None => Ok((false, p.default.to_string())),
    }
}

/// Upstream's `NewRedirect`.
pub fn redirect(pi: &PodInfo) -> Result<Redirect, String> {
    let a = &pi.annotations;
    let (_, redirect_mode) = get(&MODE, a)?;
    let id = |v: Option<i64>| match v {
        Some(n) if n != 0 => n.to_string(),
        _ => "1337".to_string(),
    };
    let (_, include_ip_cidrs) = get(&INCLUDE_IP, a)?;
    let (_, exclude_ip_cidrs) = get(&EXCLUDE_IP, a)?;
    let (_, exclude_in) = get(&EXCLUDE_IN, a)?;
    let (_, include_inbound_ports) = get(&INCLUDE_IN, a)?;
    let (_, exclude_outbound_ports) = get(&EXCLUDE_OUT, a)?;
    let (_, include_outbound_ports) = get(&INCLUDE_OUT, a)?;
    // The proxy's own ports are always excluded from inbound capture (deduplicated, order
    // kept).
    let mut ex = exclude_in.trim().to_string();
    if !ex.is_empty() && !ex.ends_with(',') {
        ex.push(',');
    }
    ex.push_str("15020,15021,15090");
    let mut seen: Vec<&str> = Vec::new();
    for p in ex.split(',') {
        if !seen.contains(&p) {
            seen.push(p);
        }
    }
    let exclude_inbound_ports = seen.join(",");
    let (_, exclude_interfaces) = get(&EXCLUDE_NIC, a)?;
    let (found, mut reroute) = get(&REROUTE_NIC, a)?;
    if !found {
        reroute = get(&KUBEVIRT_NIC, a)?.1;
    }
    let flag = |name: &str| {
        pi.proxy_env
            .get(name)
            .map(|v| match goparse::parse_bool(v) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("istio-cni: cannot parse {name} on istio-proxy: {e}");
                    false
                }
            })
            .unwrap_or(false)
    };
    Ok(Redirect {
        target_port: "15001".into(),
        redirect_mode,
        no_redirect_uid: id(pi.proxy_uid),
        no_redirect_gid: id(pi.proxy_gid),
        include_ip_cidrs,
        exclude_ip_cidrs,
        exclude_inbound_ports,
        exclude_outbound_ports,
        include_inbound_ports,
        include_outbound_ports,
        reroute_virtual_interfaces: reroute,
        exclude_interfaces,
        dns_redirect: flag("ISTIO_META_DNS_CAPTURE"),
        dual_stack: flag("ISTIO_DUAL_STACK"),
        invalid_drop: flag("INVALID_DROP"),
    })
}

impl Redirect {
    /// Upstream's `Program`: the capture configuration before the netns-dependent parts
    /// (IPv6, owner groups, loopback CIDR) are filled in.
    pub fn capture_config(&self) -> crate::capture::Config {
        crate::capture::Config {
            proxy_port: self.target_port.clone(),
            proxy_uid: self.no_redirect_uid.clone(),
            proxy_gid: self.no_redirect_gid.clone(),
            inbound_interception_mode: self.redirect_mode.clone(),
            outbound_ip_ranges_include: self.include_ip_cidrs.clone(),
            inbound_ports_exclude: self.exclude_inbound_ports.clone(),
            inbound_ports_include: self.include_inbound_ports.clone(),
            exclude_interfaces: self.exclude_interfaces.clone(),
            outbound_ports_exclude: self.exclude_outbound_ports.clone(),
            outbound_ports_include: self.include_outbound_ports.clone(),
            outbound_ip_ranges_exclude: self.exclude_ip_cidrs.clone(),
            reroute_virtual_interfaces: self.reroute_virtual_interfaces.clone(),
            redirect_dns: self.dns_redirect,
            capture_all_dns: self.dns_redirect,
            drop_invalid: self.invalid_drop,
            ..crate::capture::Config::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(annotations: Value, proxy: Value) -> PodInfo {
        PodInfo::from_pod(&json!({
            "metadata": {"name": "p", "annotations": annotations},
            "spec": {"containers": [{"name": "app"}, proxy]}
        }))
    }

    #[test]
    fn defaults_equal_the_injector_annotations() {
        let pi = pod(json!({STATUS_KEY: "{}"}), json!({"name": "istio-proxy"}));
        assert_eq!(skip_reason(&pi), None);
        let r = redirect(&pi).unwrap();
        assert_eq!(r.exclude_inbound_ports, "15020,15021,15090");
        assert_eq!(r.exclude_outbound_ports, "15020");
        assert_eq!(r.include_inbound_ports, "*");
        assert_eq!(r.include_ip_cidrs, "*");
        assert_eq!(
            (r.no_redirect_uid.as_str(), r.no_redirect_gid.as_str()),
            ("1337", "1337")
        );
        let injected = pod(
            json!({STATUS_KEY: "{}", "sidecar.istio.io/interceptionMode": "REDIRECT",
                   "traffic.sidecar.istio.io/includeInboundPorts": "*",
                   "traffic.sidecar.istio.io/excludeInboundPorts": "15020",
                   "traffic.sidecar.istio.io/includeOutboundIPRanges": "*"}),
            json!({"name": "istio-proxy"}),
        );
        assert_eq!(redirect(&injected).unwrap(), r);
    }

    #[test]
    fn decision_branches_in_upstream_order() {
        let proxy = json!({"name": "istio-proxy"});
        let st = json!({STATUS_KEY: "x"});
        let mut pi = pod(st.clone(), proxy.clone());
        pi.containers.insert("istio-init".into());
        assert_eq!(skip_reason(&pi), Some(Skip::IstioInit));
        let pi = pod(
            st.clone(),
            json!({"name": "istio-proxy", "env": [{"name": "DISABLE_ENVOY", "value": "t"}]}),
        );
        assert_eq!(skip_reason(&pi), Some(Skip::DisableEnvoy));
        let pi = pod(st.clone(), json!({"name": "other"}));
        assert_eq!(skip_reason(&pi), Some(Skip::NoProxy));
        let pi = pod(
            st.clone(),
            json!({"name": "istio-proxy", "args": ["proxy", "router"]}),
        );
        assert_eq!(skip_reason(&pi), Some(Skip::ProxyType));
        let pi = pod(json!({STATUS_KEY: "x", INJECT_KEY: "false"}), proxy.clone());
        assert_eq!(skip_reason(&pi), Some(Skip::InjectDisabled));
        let mut pi = pod(json!({STATUS_KEY: "x", INJECT_KEY: "false"}), proxy.clone());
        pi.labels.insert(INJECT_KEY.into(), "true".into());
        assert_eq!(skip_reason(&pi), None, "the label wins");
        let pi = pod(json!({STATUS_KEY: "x", INJECT_KEY: "nope"}), proxy.clone());
        assert_eq!(skip_reason(&pi), None, "unparsable values are ignored");
        let pi = pod(json!({}), proxy);
        assert_eq!(skip_reason(&pi), Some(Skip::NoStatus));
        // A native sidecar (init container) counts.
        let pi = PodInfo::from_pod(&json!({"metadata": {"annotations": st},
            "spec": {"initContainers": [{"name": "istio-proxy", "args": ["proxy", "sidecar"]}],
                     "containers": [{"name": "app"}]}}));
        assert_eq!(skip_reason(&pi), None);
    }

    #[test]
    fn annotation_errors_read_like_upstream() {
        let bad = |k: &str, v: &str| {
            redirect(&pod(
                json!({STATUS_KEY: "x", k: v}),
                json!({"name": "istio-proxy"}),
            ))
            .unwrap_err()
        };
        assert_eq!(
            bad("sidecar.istio.io/interceptionMode", "NONE"),
            "annotation value error for value redirectMode; annotationFound = true: interceptionMode invalid: NONE"
        );
        assert_eq!(
            bad("traffic.sidecar.istio.io/excludeOutboundIPRanges", "abc"),
            "annotation value error for value excludeIPCidrs; annotationFound = true: failed parsing cidr 'abc': netip.ParsePrefix(\"abc\"): no '/'"
        );
        assert_eq!(
            bad("traffic.sidecar.istio.io/includeInboundPorts", "1,x"),
            "annotation value error for value includeInboundPorts; annotationFound = true: portList \"1,x\" invalid: failed parsing port \"x\": strconv.ParseUint: parsing \"x\": invalid syntax"
        );
    }

    #[test]
    fn uids_and_kubevirt_fallback() {
        let pi = pod(
            json!({STATUS_KEY: "x", "traffic.sidecar.istio.io/kubevirtInterfaces": "eth1",
                   "traffic.sidecar.istio.io/excludeInboundPorts": "8080,15021"}),
            json!({"name": "istio-proxy", "securityContext": {"runAsUser": 0, "runAsGroup": 42}}),
        );
        let r = redirect(&pi).unwrap();
        assert_eq!(r.no_redirect_uid, "1337");
        assert_eq!(r.no_redirect_gid, "42");
        assert_eq!(r.reroute_virtual_interfaces, "eth1");
        assert_eq!(r.exclude_inbound_ports, "8080,15021,15020,15090");
    }
}
