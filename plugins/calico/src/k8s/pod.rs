//! What the endpoint takes from the Pod (libcalico-go's `PodToWorkloadEndpoints`): labels plus
//! Calico's own, named or host-mapped container ports, profiles per namespace and service
//! account, generateName.

use std::collections::BTreeMap;

use datastore::resources::WorkloadEndpointPort;
use serde_json::Value;

pub const LABEL_SERVICE_ACCOUNT: &str = "projectcalico.org/serviceaccount";

#[derive(Debug, Default, Clone)]
pub struct PodInfo {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub ports: Vec<WorkloadEndpointPort>,
    pub profiles: Vec<String>,
    pub generate_name: String,
    pub service_account: String,
}

pub fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

pub fn from_pod(pod: &Value, namespace: &str) -> PodInfo {
    let meta = pod.get("metadata");
    let spec = pod.get("spec");
    let sa = spec
        .and_then(|s| s.get("serviceAccountName"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut labels = string_map(meta.and_then(|m| m.get("labels")));
    labels.insert(crate::add::LABEL_NAMESPACE.into(), namespace.into());
    labels.insert(crate::add::LABEL_ORCHESTRATOR.into(), "k8s".into());
    if !sa.is_empty() && sa.len() < 63 {
        labels.insert(LABEL_SERVICE_ACCOUNT.into(), sa.clone());
    }
    let mut profiles = vec![format!("kns.{namespace}")];
    if !sa.is_empty() {
        profiles.push(format!("ksa.{namespace}.{sa}"));
    }
    let mut ports = Vec::new();
    for list in ["containers", "initContainers"] {
        let containers = spec
            .and_then(|s| s.get(list))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for c in containers {
            for p in c
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(port) = port(p) {
                    ports.push(port);
                }
            }
        }
    }
    PodInfo {
        labels,
        annotations: string_map(meta.and_then(|m| m.get("annotations"))),
        ports,
        profiles,
        generate_name: meta
            .and_then(|m| m.get("generateName"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        service_account: sa,
    }
}

fn port(p: &Value) -> Option<WorkloadEndpointPort> {
    let num = |k: &str| p.get(k).and_then(Value::as_u64).unwrap_or(0) as u16;
    let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
    let (container_port, host_port) = (num("containerPort"), num("hostPort"));
    if container_port == 0 || (host_port == 0 && name.is_empty()) {
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
        port: container_port,
        host_port,
        host_ip: p
            .get("hostIP")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_to_endpoint_fields() {
        let pod = json!({ "metadata": { "name": "p", "generateName": "p-",
                "labels": { "app": "x" }, "annotations": { "a": "b" } },
            "spec": { "serviceAccountName": "sa1", "containers": [{ "ports": [
                { "name": "anamedport", "containerPort": 555 },
                { "containerPort": 80 },
                { "containerPort": 53, "hostPort": 5353, "protocol": "UDP" } ] }] } });
        let i = from_pod(&pod, "test");
        assert_eq!(i.profiles, vec!["kns.test", "ksa.test.sa1"]);
        assert_eq!(i.labels["projectcalico.org/serviceaccount"], "sa1");
        assert_eq!(i.labels["app"], "x");
        assert_eq!(i.generate_name, "p-");
        assert_eq!(i.ports.len(), 2);
        assert_eq!(
            serde_json::to_value(&i.ports[0]).unwrap(),
            json!({ "name": "anamedport", "protocol": "TCP", "port": 555, "hostPort": 0, "hostIP": "" })
        );
        assert_eq!(i.ports[1].host_port, 5353);
    }
}
