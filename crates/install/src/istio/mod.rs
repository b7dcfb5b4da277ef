//! `install istio-cni`: Istio's `install-cni` node agent (sidecar mode), as a mode of this
//! installer. It puts the `istio-cni` plugin into the node's existing CNI config and keeps it
//! there: copies the binary, writes the plugin's kubeconfig from the pod's service account,
//! inserts the `istio-cni` entry into the primary conflist (waiting while there is none),
//! re-inserts it whenever the primary CNI rewrites its file, answers `/healthz` and
//! `/readyz`, and on SIGTERM takes the entry, the kubeconfig and the binary away again.
//! Ambient mode and the repair controller are not implemented: their settings are accepted
//! and ignored. See the crate README.

pub mod cniconf;
pub mod gojson;
mod health;
pub mod kubeconfig;
pub mod log;
pub mod settings;
mod watch;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use crate::config::Env;
use crate::copy::copy_file_and_permissions;
use settings::Settings;
use watch::Wake;

/// The plugin binary the agent installs.
pub const PLUGIN: &str = "istio-cni";

/// Installation stopped by SIGTERM/SIGINT.
#[derive(Debug)]
struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped by signal")
    }
}

impl std::error::Error for Stopped {}

struct Installer {
    s: Settings,
    signal: OwnedFd,
    ready: Arc<AtomicBool>,
    /// The config file name, pinned to the first valid one on the first pass.
    conf_name: String,
    /// The file that holds our entry (after a `.conf` → `.conflist` rename, the new name).
    ours: Option<PathBuf>,
}

/// Upstream's throttle: a token bucket of 0.2/s, burst 1; an exhausted bucket delays the
/// next round by at most a second, and many throttled rounds in a row earn a warning.
struct Throttle {
    next: Option<Instant>,
    throttled: u32,
}

impl Throttle {
    fn wait(&mut self) {
        let now = Instant::now();
        match self.next {
            Some(at) if at > now => {
                std::thread::sleep((at - now).min(Duration::from_secs(1)));
                self.throttled += 1;
                if self.throttled > 5 {
                    log::warn(
                        "Configuration has been reconciled multiple times in a short period; \
                         another CNI may be fighting over the CNI configuration file",
                    );
                }
            }
            _ => self.throttled = 0,
        }
        self.next = Some(Instant::now() + Duration::from_secs(5));
    }
}

impl Installer {
    fn stopped(&self) -> bool {
        watch::signalled(&self.signal)
    }

    /// Copies `istio-cni` from the image's bin dir to the host's.
    fn copy_binary(&self) -> Result<()> {
        let src = self.s.root.source_bin_dir().join(PLUGIN);
        let dst_dir = self.s.host_bin_dir();
        std::fs::create_dir_all(&dst_dir)
            .with_context(|| format!("mkdir {}", dst_dir.display()))?;
        copy_file_and_permissions(&src, &dst_dir.join(PLUGIN))
            .with_context(|| format!("failed to copy {}", src.display()))?;
        Ok(())
    }

    /// The primary config file, waiting (on directory events) while there is none.
    fn primary(&mut self) -> Result<PathBuf> {
        let dir = self.s.mounted_cni_net_dir.clone();
        if !self.s.chained_cni_plugin {
            let name = if self.conf_name.is_empty() {
                "YYY-istio-cni.conf"
            } else {
                &self.conf_name
            };
            return Ok(dir.join(name));
        }
        std::fs::create_dir_all(&dir).ok();
        let watcher = watch::dir(&dir)?;
        while self.conf_name.is_empty() {
            match cniconf::primary_conf_names(&dir) {
                Ok(names) => self.conf_name = names[0].clone(),
                Err(e) => {
                    log::warn(&format!(
                        "Istio CNI is configured as chained plugin, but cannot find existing CNI network config: {e}"
                    ));
                    log::info(&format!(
                        "Waiting for CNI network config file to be written in {}...",
                        dir.display()
                    ));
                    if watcher.wait(&self.signal, None) == Wake::Signal {
                        return Err(Stopped.into());
                    }
                }
            }
        }
        loop {
            if let Some(p) = cniconf::resolve(&dir, &self.conf_name) {
                return Ok(p);
            }
            log::info(&format!(
                "CNI config file {} does not exist. Waiting for file to be written...",
                dir.join(&self.conf_name).display()
            ));
            if watcher.wait(&self.signal, None) == Wake::Signal {
                return Err(Stopped.into());
            }
        }
    }

    /// `checkValidCNIConfig`: our entry is still where we put it.
    fn valid(&self) -> Result<()> {
        let ours = self
            .ours
            .as_ref()
            .ok_or_else(|| anyhow!("CNI config not written yet"))?;
        if self.s.chained_cni_plugin && self.s.cni_conf_name.is_empty() {
            if let Ok(names) = cniconf::primary_conf_names(&self.s.mounted_cni_net_dir) {
                let first = &names[0];
                if ours
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy() != *first)
                {
                    log::info(&format!(
                        "CNI config file {:?} preempted by {:?}",
                        ours.display().to_string(),
                        first
                    ));
                }
            }
        }
        cniconf::valid(&self.s, ours)
    }

    /// `installAll`: binary, kubeconfig, and the config entry when it is not valid.
    fn install_all(&mut self) -> Result<()> {
        self.copy_binary()?;
        kubeconfig::write(&self.s)?;
        if let Err(why) = self.valid() {
            if self.ours.is_some() {
                log::info(&format!(
                    "CNI config is not valid ({why:#}); writing it again"
                ));
            }
            let primary = self.primary()?;
            let written = cniconf::write(&self.s, &primary)?;
            log::info(&format!("created CNI config {}", written.display()));
            self.ours = Some(written);
        }
        Ok(())
    }

    /// `sleepWatchInstall`: ready until something we depend on changes.
    fn sleep_watch(&mut self) -> Result<Wake> {
        let bin = self.s.host_bin_dir();
        let watcher = watch::Watcher::new(&[
            (bin, Some(PLUGIN)),
            (self.s.mounted_cni_net_dir.clone(), None),
            (self.s.root.service_account_dir(), None),
        ])?;
        if let Err(e) = self.valid() {
            log::info(&format!("CNI config changed while installing: {e:#}"));
            return Ok(Wake::Changed);
        }
        self.ready.store(true, Ordering::SeqCst);
        let wake = watcher.wait(&self.signal, None);
        self.ready.store(false, Ordering::SeqCst);
        Ok(wake)
    }

    fn cleanup(&self) {
        log::info("Cleaning up.");
        if let Some(ours) = &self.ours {
            match cniconf::cleanup(&self.s, ours) {
                Ok(()) => log::info(&format!("removed istio-cni from {}", ours.display())),
                Err(e) => log::error(&format!("failed to clean up {}: {e:#}", ours.display())),
            }
        }
        for path in [self.s.kubeconfig_path(), self.s.host_bin_dir().join(PLUGIN)] {
            match std::fs::remove_file(&path) {
                Ok(()) => log::info(&format!("removed {}", path.display())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => log::error(&format!("failed to remove {}: {e}", path.display())),
            }
        }
    }

    fn run(&mut self) -> Result<()> {
        let mut throttle = Throttle {
            next: None,
            throttled: 0,
        };
        let mut first = true;
        loop {
            throttle.wait();
            if self.stopped() {
                return Err(Stopped.into());
            }
            if let Err(e) = self.install_all() {
                // The first install fails the process, as upstream's (a misconfigured pod
                // must not look healthy). Later, upstream exits too and the DaemonSet
                // restarts it; a primary config caught half-written by its owner is the
                // usual cause then, so try again instead.
                if first || e.is::<Stopped>() {
                    return Err(e);
                }
                log::error(&format!("install failed, retrying: {e:#}"));
                continue;
            }
            first = false;
            if self.sleep_watch()? == Wake::Signal {
                return Err(Stopped.into());
            }
        }
    }
}

/// Runs the agent until SIGTERM/SIGINT; cleans up and returns then.
pub fn main(args: &[String], env: &dyn Env) -> Result<()> {
    let s = Settings::load(args, env)?;
    let signal = watch::signals()?;
    let ready = Arc::new(AtomicBool::new(false));
    health::serve(&s.health_addr, ready.clone())?;
    log::info(&format!(
        "install-cni (istio-cni) starting: conf dir {}, chained {}, run dir {}",
        s.mounted_cni_net_dir.display(),
        s.chained_cni_plugin,
        s.cni_agent_run_dir.display()
    ));
    if s.ambient_enabled {
        log::warn("AMBIENT_ENABLED is set, but ambient mode is not supported; installing for sidecar pods only");
    }
    let mut installer = Installer {
        conf_name: s.cni_conf_name.clone(),
        s,
        signal,
        ready,
        ours: None,
    };
    let result = installer.run();
    match result {
        Err(e) if e.is::<Stopped>() => {
            installer.cleanup();
            Ok(())
        }
        other => other,
    }
}

/// For tests: the file our entry lives in, given a directory and a settled name.
pub fn conf_path(dir: &Path, name: &str) -> Option<PathBuf> {
    cniconf::resolve(dir, name)
}
