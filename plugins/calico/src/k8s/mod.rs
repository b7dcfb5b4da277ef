//! The Kubernetes side of the `k8s` orchestrator: the API client, the Pod's endpoint fields,
//! Calico's annotations and host-local's `usePodCidr`.

pub mod annotations;
pub mod pod;
pub mod pod_cidr;

use std::cell::OnceCell;

use datastore::Datastore;
use libcni::CniError;

use crate::config::NetConf;

/// The API client for this NetConf (Calico's `NewK8sClient` inputs).
/// The plugin's Kubernetes reads (Pods, Namespaces, Nodes): through the datastore's client
/// when the datastore is this same API with the same settings (the usual Kubernetes
/// datastore setup: one connection, and the pod it read for the endpoint is not read again),
/// else through a client of the plugin's own, made on first use (`kube_client_or_new`).
pub struct Api<'a> {
    ds: &'a Datastore,
    conf: &'a NetConf,
    own: OnceCell<kubeclient::Client>,
}

impl<'a> Api<'a> {
    pub fn new(ds: &'a Datastore, conf: &'a NetConf) -> Self {
        Api {
            ds,
            conf,
            own: OnceCell::new(),
        }
    }

    pub fn client(&self) -> Result<&kubeclient::Client, CniError> {
        if let Some(c) = self.own.get() {
            return Ok(c);
        }
        let c = self.ds.kube_client_or_new(&self.conf.kube_settings())?;
        Ok(self.own.get_or_init(|| c))
    }

    /// An object this run may already have read (see `kubeclient::Client::get_recent`).
    pub fn get(&self, path: &str) -> Result<serde_json::Value, CniError> {
        Ok(self.client()?.get_recent(path)?)
    }
}
