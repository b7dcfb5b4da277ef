//! WorkloadEndpoints in KDD are pods: an endpoint is derived from its pod
//! (libcalico-go's `podToDefaultWorkloadEndpoint`), and writing one only patches three
//! annotations on the pod's `status` subresource — `cni.projectcalico.org/podIP`, `podIPs`
//! and `containerID` — which is all the CNI plugin's RBAC allows and all Felix needs until
//! kubelet fills `status.podIPs`. Deleting one clears the IPs (keeping the keys, which tells
//! Felix the addresses are gone) with the pod's resourceVersion and UID as preconditions.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::meta::{derived_meta, string_map};
use crate::names::{k8s_veth_name, split_wep_name, wep_name, ORCH_K8S};
use crate::resources::{
    IpNat, ObjectMeta, WorkloadEndpoint, WorkloadEndpointPort, WorkloadEndpointSpec, API_VERSION,
};

pub const ANN_POD_IP: &str = "cni.projectcalico.org/podIP";
pub const ANN_POD_IPS: &str = "cni.projectcalico.org/podIPs";
pub const ANN_CONTAINER_ID: &str = "cni.projectcalico.org/containerID";
pub const ANN_FLOATING_IPS: &str = "cni.projectcalico.org/floatingIPs";
pub const ANN_SOURCE_PREFIXES: &str = "cni.projectcalico.org/allowedSourcePrefixes";
pub const LABEL_NAMESPACE: &str = "projectcalico.org/namespace";
pub const LABEL_ORCHESTRATOR: &str = "projectcalico.org/orchestrator";
pub const LABEL_SERVICE_ACCOUNT: &str = "projectcalico.org/serviceaccount";
/// KDD endpoints are always named for `eth0`.
pub const ENDPOINT: &str = "eth0";

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The pod a WorkloadEndpoint name names: `<node>-k8s-<pod>-<endpoint>` (or the prefix
/// form ending in `-`), with the node it was named for.
pub fn pod_of_wep_name(name: &str) -> Option<(String, String)> {
    let parts = split_wep_name(name);
    match parts.as_slice() {
        [node, orch, pod, _endpoint] if orch == ORCH_K8S && !pod.is_empty() => {
            Some((node.clone(), pod.clone()))
        }
        _ => None,
    }
}

/// Calico's `IsValidCalicoWorkloadEndpoint`: scheduled to a node and not on the host network.
pub fn is_valid(pod: &Value) -> bool {
    !text(pod, "/spec/nodeName").is_empty()
        && !pod
            .pointer("/spec/hostNetwork")
            .and_then(Value::as_bool)
            .unwrap_or(false)
}

/// Has the pod finished (its addresses are free again)?
fn is_finished(pod: &Value) -> bool {
    let phase = text(pod, "/status/phase");
    if matches!(phase, "Succeeded" | "Failed" | "Completed") {
        return true;
    }
    // Being deleted, and the CNI DEL already cleared the annotation.
    pod.pointer("/metadata/deletionTimestamp").is_some()
        && pod
            .pointer(&format!(
                "/metadata/annotations/{}",
                ANN_POD_IP.replace('/', "~1")
            ))
            .and_then(Value::as_str)
            == Some("")
}

fn host_net(ip: &str) -> String {
    if ip.contains('/') {
        ip.to_string()
    } else if ip.contains(':') {
        format!("{ip}/128")
    } else {
        format!("{ip}/32")
    }
}

/// The pod's addresses: `status.podIPs`, else `status.podIP`, else the annotations.
fn pod_ips(pod: &Value, annotations: &BTreeMap<String, String>) -> Vec<String> {
    if is_finished(pod) {
        return Vec::new();
    }
    let status: Vec<String> = pod
        .pointer("/status/podIPs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("ip").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(host_net)
        .collect();
    if !status.is_empty() {
        return status;
    }
    let single = text(pod, "/status/podIP");
    if !single.is_empty() {
        return vec![host_net(single)];
    }
    let list = annotations
        .get(ANN_POD_IPS)
        .map(String::as_str)
        .unwrap_or("");
    if !list.is_empty() {
        return list.split(',').map(|s| host_net(s.trim())).collect();
    }
    match annotations.get(ANN_POD_IP).map(String::as_str) {
        Some(ip) if !ip.is_empty() => vec![host_net(ip)],
        _ => Vec::new(),
    }
}

/// The named or host ports of the pod's containers and init containers.
pub fn ports(pod: &Value) -> Vec<WorkloadEndpointPort> {
    ["containers", "initContainers"]
        .iter()
        .flat_map(|list| {
            pod.pointer(&format!("/spec/{list}"))
                .and_then(Value::as_array)
        })
        .flatten()
        .flat_map(|c| c.get("ports").and_then(Value::as_array))
        .flatten()
        .filter_map(container_port)
        .collect()
}

/// The endpoint port of one of a container's `ports`: `None` for a port Calico leaves out
/// (no number, neither named nor a host port, a protocol it does not know).
pub fn container_port(p: &Value) -> Option<WorkloadEndpointPort> {
    let num = |k: &str| p.get(k).and_then(Value::as_u64).unwrap_or(0) as u16;
    let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
    let (port, host_port) = (num("containerPort"), num("hostPort"));
    if port == 0 || (host_port == 0 && name.is_empty()) {
        return None;
    }
    let protocol = match p
        .get("protocol")
        .and_then(Value::as_str)
        .unwrap_or("TCP")
        .to_ascii_uppercase()
        .as_str()
    {
        "" | "TCP" => "TCP",
        "UDP" => "UDP",
        "SCTP" => "SCTP",
        _ => return None,
    };
    Some(WorkloadEndpointPort {
        name: name.to_string(),
        protocol: Value::String(protocol.into()),
        port,
        host_port,
        host_ip: p
            .get("hostIP")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

/// The pod's service account (`spec.serviceAccountName`), "" when none.
pub fn service_account(pod: &Value) -> &str {
    text(pod, "/spec/serviceAccountName")
}

/// The endpoint's labels: the pod's own, plus Calico's namespace, orchestrator and (when
/// short enough to be a label value) service account labels.
pub fn endpoint_labels(pod: &Value, namespace: &str) -> BTreeMap<String, String> {
    let sa = service_account(pod);
    let mut labels = string_map(pod.pointer("/metadata/labels"));
    labels.insert(LABEL_NAMESPACE.into(), namespace.into());
    labels.insert(LABEL_ORCHESTRATOR.into(), ORCH_K8S.into());
    if !sa.is_empty() && sa.len() < 63 {
        labels.insert(LABEL_SERVICE_ACCOUNT.into(), sa.into());
    }
    labels
}

/// The endpoint's profiles: `kns.<namespace>`, and `ksa.<namespace>.<account>` with one.
pub fn profiles(namespace: &str, service_account: &str) -> Vec<String> {
    let mut profiles = vec![format!("kns.{namespace}")];
    if !service_account.is_empty() {
        profiles.push(format!("ksa.{namespace}.{service_account}"));
    }
    profiles
}

/// The endpoint Calico derives from `pod`; `Err` when it cannot be named (no node yet:
/// Calico's `node: field should be assigned`).
pub fn to_wep(pod: &Value) -> Result<WorkloadEndpoint, String> {
    let ns = text(pod, "/metadata/namespace");
    let name = text(pod, "/metadata/name");
    let node = text(pod, "/spec/nodeName");
    if node.is_empty() {
        return Err("node: field should be assigned".into());
    }
    let annotations = string_map(pod.pointer("/metadata/annotations"));
    let sa = service_account(pod);
    let labels = endpoint_labels(pod, ns);
    let profiles = profiles(ns, sa);
    let ip_networks = pod_ips(pod, &annotations);
    let list = |key: &str| -> Vec<String> {
        annotations
            .get(key)
            .and_then(|v| serde_json::from_str::<Vec<String>>(v).ok())
            .unwrap_or_default()
    };
    let ip_nats = list(ANN_FLOATING_IPS)
        .into_iter()
        .filter_map(|ext| {
            let v6 = ext.contains(':');
            let internal = ip_networks
                .iter()
                .find(|n| n.contains(':') == v6)?
                .split('/')
                .next()?
                .to_string();
            Some(IpNat {
                internal_ip: internal,
                external_ip: ext,
            })
        })
        .collect();
    let wep = WorkloadEndpoint {
        kind: "WorkloadEndpoint".into(),
        api_version: API_VERSION.into(),
        metadata: ObjectMeta {
            generate_name: text(pod, "/metadata/generateName").into(),
            namespace: ns.into(),
            labels,
            ..derived_meta(wep_name(node, ORCH_K8S, name, ENDPOINT)?, &pod["metadata"])
        },
        spec: WorkloadEndpointSpec {
            orchestrator: ORCH_K8S.into(),
            node: node.into(),
            container_id: annotations
                .get(ANN_CONTAINER_ID)
                .cloned()
                .unwrap_or_default(),
            pod: name.into(),
            endpoint: ENDPOINT.into(),
            service_account_name: sa.into(),
            ip_networks,
            ip_nats,
            profiles,
            interface_name: k8s_veth_name("cali", ns, name),
            ports: ports(pod),
            allow_spoofed_source_prefixes: list(ANN_SOURCE_PREFIXES),
            ..WorkloadEndpointSpec::default()
        },
        status: None,
    };
    Ok(wep)
}

/// ADD's patch (Calico's `PatchModeCNI`: no revision, no UID): the endpoint's addresses and
/// the container that owns them. Map keys sorted, as Go's encoder writes them.
pub fn add_patch(wep: &WorkloadEndpoint) -> Value {
    let ips = &wep.spec.ip_networks;
    json!({ "metadata": { "annotations": {
        ANN_CONTAINER_ID: wep.spec.container_id,
        ANN_POD_IP: ips.first().cloned().unwrap_or_default(),
        ANN_POD_IPS: ips.join(","),
    } } })
}

/// DEL's patch: the addresses cleared (the keys stay), `containerID` kept, and the pod's
/// resourceVersion and UID as preconditions inside the body.
pub fn del_patch(resource_version: &str, uid: &str) -> Value {
    json!({ "metadata": {
        "annotations": { ANN_POD_IP: "", ANN_POD_IPS: "" },
        "resourceVersion": resource_version,
        "uid": uid,
    } })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Value {
        json!({ "metadata": { "name": "web-0", "namespace": "test", "uid": "u1",
                "resourceVersion": "12", "generateName": "web-", "labels": { "app": "x" },
                "annotations": { ANN_POD_IPS: "10.0.0.5/32,fd00::5/128",
                                 ANN_CONTAINER_ID: "cid1",
                                 ANN_FLOATING_IPS: "[\"1.1.1.1\"]" } },
                "spec": { "nodeName": "node1", "serviceAccountName": "sa1",
                          "containers": [{ "ports": [{ "name": "http", "containerPort": 80 }] }] },
                "status": {} })
    }

    #[test]
    fn pods_become_endpoints() {
        let w = to_wep(&pod()).unwrap();
        assert_eq!(w.metadata.name, "node1-k8s-web--0-eth0");
        assert_eq!(w.metadata.labels[LABEL_SERVICE_ACCOUNT], "sa1");
        assert_eq!(w.spec.ip_networks, ["10.0.0.5/32", "fd00::5/128"]);
        assert_eq!(w.spec.container_id, "cid1");
        assert_eq!(w.spec.profiles, ["kns.test", "ksa.test.sa1"]);
        assert_eq!(w.spec.ip_nats[0].internal_ip, "10.0.0.5");
        assert_eq!(
            w.spec.interface_name,
            k8s_veth_name("cali", "test", "web-0")
        );
        assert_eq!(w.spec.ports[0].port, 80);
        let mut p = pod();
        p["status"] = json!({ "podIP": "10.0.0.9", "podIPs": [{ "ip": "10.0.0.9" }] });
        assert_eq!(to_wep(&p).unwrap().spec.ip_networks, ["10.0.0.9/32"]);
        p["status"]["phase"] = "Succeeded".into();
        assert!(to_wep(&p).unwrap().spec.ip_networks.is_empty());
        p["spec"]["nodeName"] = "".into();
        assert_eq!(to_wep(&p).unwrap_err(), "node: field should be assigned");
        assert!(!is_valid(&p));
    }

    #[test]
    fn patches_as_calico_sends_them() {
        let w = to_wep(&pod()).unwrap();
        assert_eq!(
            libcni::json::to_compact(&add_patch(&w)),
            r#"{"metadata":{"annotations":{"cni.projectcalico.org/containerID":"cid1","cni.projectcalico.org/podIP":"10.0.0.5/32","cni.projectcalico.org/podIPs":"10.0.0.5/32,fd00::5/128"}}}"#
        );
        assert_eq!(
            libcni::json::to_compact(&del_patch("12", "u1")),
            r#"{"metadata":{"annotations":{"cni.projectcalico.org/podIP":"","cni.projectcalico.org/podIPs":""},"resourceVersion":"12","uid":"u1"}}"#
        );
        assert_eq!(
            pod_of_wep_name("node1-k8s-web--0-"),
            Some(("node1".into(), "web-0".into()))
        );
        assert_eq!(pod_of_wep_name("node1-cni-abc-eth0"), None);
    }
}
