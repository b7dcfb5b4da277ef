//! Calico's CNI installer (`install` in the calico/cni image), in Rust.
//!
//! Run as an init container with the host's `/opt/cni/bin` and
//! `/etc/cni/net.d` mounted under `/host`, it copies the plugin suite onto the
//! host, installs etcd TLS assets, writes `calico-kubeconfig` when running in a
//! pod and renders the conflist. See README.md for every variable.

pub mod binaries;
pub mod config;
pub mod conflist;
pub mod copy;
pub mod istio;
pub mod kubeconfig;
pub mod log;
pub mod read;
pub mod tls;
pub mod watch;

use anyhow::Result;

use config::{Config, Env};

/// The whole install, in Calico's order. Returns only when `SLEEP` is false.
pub fn run(env: &dyn Env) -> Result<()> {
    let config = Config::load(env)?;
    let snapshot = watch::Snapshot::take(&config);
    tls::remove_old(&config);
    let pod = kubeconfig::in_cluster(&config, env)?;
    tls::install(&config)?;
    binaries::install(&config)?;
    if let Some(pod) = &pod {
        kubeconfig::write(&config, env, pod)?;
    }
    let token = pod.as_ref().map(|p| p.token.as_slice()).unwrap_or_default();
    conflist::write(&config, env, token)?;
    info!("Done configuring CNI.  Sleep= {}", config.should_sleep);
    if config.should_sleep {
        watch::sleep_forever(&config, env, pod.as_ref(), snapshot)?;
    }
    Ok(())
}
