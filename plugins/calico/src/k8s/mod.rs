//! The Kubernetes side of the `k8s` orchestrator: the API client, the Pod's endpoint fields,
//! Calico's annotations and host-local's `usePodCidr`.

pub mod annotations;
pub mod pod;
pub mod pod_cidr;

use libcni::CniError;

use crate::config::NetConf;

/// The API client for this NetConf (Calico's `NewK8sClient` inputs).
pub fn client(conf: &NetConf) -> Result<kubeclient::Client, CniError> {
    kubeclient::Client::new(&settings(conf))
}

/// The NetConf keys the Kubernetes client reads.
pub fn settings(conf: &NetConf) -> kubeclient::Settings {
    let p = &conf.policy;
    kubeclient::Settings {
        kubeconfig: conf.kubernetes.kubeconfig.clone(),
        k8s_api_root: conf.kubernetes.k8s_api_root.clone(),
        policy_k8s_api_root: p.k8s_api_root.clone(),
        policy_k8s_auth_token: p.k8s_auth_token.clone(),
        policy_k8s_certificate_authority: p.k8s_certificate_authority.clone(),
        policy_k8s_client_certificate: p.k8s_client_certificate.clone(),
        policy_k8s_client_key: p.k8s_client_key.clone(),
    }
}
