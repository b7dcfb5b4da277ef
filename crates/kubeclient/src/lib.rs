//! A minimal Kubernetes API client for the CNI plugins and the Kubernetes datastore: the
//! server, CA and credentials found as client-go finds them (kubeconfig, `$HOME/.kube/config`,
//! in-cluster service account, Calico's overrides, credential plugins), JSON requests of every verb over kept-alive
//! HTTP/1.1, plain or TLS, and the API's `Status` errors.

pub mod client;
pub mod config;
pub mod error;
pub mod exec;
mod http;
pub mod kubeconfig;
pub mod tls;
pub mod url;
pub mod yaml;

pub use client::{Client, PatchType};
pub use config::{Policy, Settings, Sources};
pub use error::{Cause, Error, Status};
