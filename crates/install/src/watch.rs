//! `SLEEP=true`: stay up (so a DaemonSet container is not restarted) and keep
//! the host's copies fresh. Calico watches `<TLS_ASSETS_DIR>/etcd-cert` with
//! inotify and re-copies every TLS file when it changes. We poll instead
//! (metadata fingerprints, following symlinks, so a Kubernetes secret's
//! `..data` swap counts as a change), and also watch the service-account
//! token, rewriting `calico-kubeconfig` when it rotates.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::config::{Config, Env};
use crate::kubeconfig::{self, InCluster};
use crate::{info, tls, warn};

/// Identity and timestamps of a file; `None` while it is absent.
type Fingerprint = Option<(u64, u64, u64, i64, i64, i64, i64)>;

fn fingerprint(path: &Path) -> Fingerprint {
    let m = fs::metadata(path).ok()?;
    Some((
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    ))
}

struct Watched {
    path: PathBuf,
    last: Fingerprint,
}

impl Watched {
    fn new(path: PathBuf) -> Self {
        let last = fingerprint(&path);
        Watched { path, last }
    }

    fn changed(&mut self) -> bool {
        let now = fingerprint(&self.path);
        let changed = now != self.last;
        self.last = now;
        changed
    }
}

/// The watched files as they were *before* the install copied them, so a
/// change made while the install runs is still seen at the first poll.
pub struct Snapshot {
    cert: Watched,
    token: Watched,
}

impl Snapshot {
    pub fn take(config: &Config) -> Snapshot {
        Snapshot {
            cert: Watched::new(config.tls_asset("etcd-cert")),
            token: Watched::new(config.root.service_account_dir().join("token")),
        }
    }
}

/// Never returns `Ok`: runs until the process is killed.
pub fn sleep_forever(
    config: &Config,
    env: &dyn Env,
    pod: Option<&InCluster>,
    snapshot: Snapshot,
) -> Result<()> {
    let cert = config.tls_asset("etcd-cert");
    let mut cert_watch = cert.is_file().then_some(snapshot.cert);
    let mut token_watch = pod.map(|_| snapshot.token);
    if cert_watch.is_none() && token_watch.is_none() {
        // Calico exits here too: its inotify watch on the absent file fails.
        bail!("cannot watch {}: no such file or directory", cert.display());
    }
    info!(
        "Watching {} for changes",
        [cert_watch.as_ref(), token_watch.as_ref()]
            .into_iter()
            .flatten()
            .map(|w| w.path.display().to_string())
            .collect::<Vec<_>>()
            .join(" and ")
    );
    loop {
        std::thread::sleep(config.poll_interval);
        if cert_watch.as_mut().is_some_and(Watched::changed) {
            tls::recopy_all(config);
        }
        if token_watch.as_mut().is_some_and(Watched::changed) {
            info!("Service account token changed, rewriting calico-kubeconfig");
            match kubeconfig::in_cluster(config, env) {
                Ok(Some(pod)) => {
                    if let Err(e) = kubeconfig::write(config, env, &pod) {
                        warn!("{e:#}");
                    }
                }
                Ok(None) => warn!("Service account token disappeared; keeping calico-kubeconfig"),
                Err(e) => warn!("{e:#}"),
            }
        }
    }
}
