//! The Kubernetes side of the `k8s` orchestrator: the API client, the Pod's endpoint fields,
//! Calico's annotations and host-local's `usePodCidr`.

pub mod annotations;
pub mod client;
pub mod kubeconfig;
pub mod pod;
pub mod pod_cidr;
pub mod tls;
pub mod yaml;
