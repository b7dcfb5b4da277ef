//! A small client of the Kubernetes Container Runtime Interface (CRI v1), enough to drive a
//! pod sandbox's life as the kubelet does — RunPodSandbox, PodSandboxStatus, StopPodSandbox,
//! RemovePodSandbox — against containerd's CRI plugin, which runs the CNI plugins through
//! go-cni and Go's libcni with its own capability arguments and `K8S_POD_*` CNI_ARGS.

mod client;
pub mod messages;

pub use client::CriClient;
