//! A minimal Kubernetes API client shared by the calico plugin (Pods, Namespaces, Nodes for
//! the k8s orchestrator) and calico-ipam (a Namespace's labels for pool `namespaceSelector`s):
//! the server, CA and credentials of a kubeconfig's current context with Calico's NetConf
//! overrides, and JSON GETs over HTTP/1.1, plain or over TLS.

pub mod client;
pub mod kubeconfig;
pub mod tls;
pub mod yaml;

pub use client::{ApiError, Client, Policy, Settings};
