//! What the endpoint takes from the Pod (libcalico-go's `PodToWorkloadEndpoints`): labels plus
//! Calico's own, named or host-mapped container ports, profiles per namespace and service
//! account, generateName.

use std::collections::BTreeMap;

use datastore::kubernetes as k8s;
use datastore::resources::WorkloadEndpointPort;
use serde_json::Value;

#[derive(Debug, Default, Clone)]
pub struct PodInfo {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub ports: Vec<WorkloadEndpointPort>,
    pub profiles: Vec<String>,
    pub generate_name: String,
    pub service_account: String,
}

/// The endpoint's share of the pod, derived as the datastore's KDD backend derives it.
pub fn from_pod(pod: &Value, namespace: &str) -> PodInfo {
    let sa = k8s::service_account(pod);
    PodInfo {
        labels: k8s::endpoint_labels(pod, namespace),
        annotations: k8s::string_map(pod.pointer("/metadata/annotations")),
        ports: k8s::ports(pod),
        profiles: k8s::profiles(namespace, sa),
        generate_name: pod
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        service_account: sa.to_string(),
    }
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
