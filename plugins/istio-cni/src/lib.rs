//! Istio's `istio-cni` chained plugin, sidecar mode: for a pod with an Istio sidecar, the
//! traffic-redirect iptables rules `istio-iptables` would write, written into the pod's
//! network namespace. Behaviour follows upstream HEAD (`cni/pkg/plugin`,
//! `tools/istio-iptables`, Istio 1.25+ rules); see the README for the deliberate differences.

pub mod apply;
pub mod builder;
pub mod capture;
pub mod config;
pub mod goparse;
pub mod plugin;
pub mod pod;
