//! The Kubernetes side of the `k8s` orchestrator: the API client, the Pod's endpoint fields,
//! Calico's annotations and host-local's `usePodCidr`.

pub mod annotations;
pub mod pod;
pub mod pod_cidr;

use libcni::CniError;

use crate::config::NetConf;

/// The API client for this NetConf (Calico's `NewK8sClient` inputs).
pub fn client(conf: &NetConf) -> Result<kubeclient::Client, CniError> {
    Ok(kubeclient::Client::new(&settings(conf))?)
}

/// The NetConf keys the Kubernetes client reads.
pub fn settings(conf: &NetConf) -> kubeclient::Settings {
    let k = &conf.kubernetes;
    kubeclient::Settings::new(&k.kubeconfig, &k.k8s_api_root, &conf.policy)
}
