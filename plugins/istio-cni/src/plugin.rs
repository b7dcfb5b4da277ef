//! The ADD flow of upstream HEAD's `CmdAdd` / `doAddRun` (sidecar mode). DEL and CHECK do
//! nothing, as upstream's.

use std::path::Path;
use std::time::Duration;

use libcni::skel::{CmdArgs, Plugin};
use libcni::types::Result100;
use libcni::{CniError, CniResult};
use netkit::{NetNs, Netlink};
use serde_json::Value;

use crate::apply;
use crate::capture;
use crate::config::{self, Config, K8sArgs};
use crate::pod::{self, PodInfo};

/// Upstream's `podRetrievalMaxRetries` and `podRetrievalInterval`.
pub const POD_RETRIES: u32 = 30;
pub const POD_RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// Ours: a pod GET that gets no answer in this time is a failed attempt (client-go sets no
/// response timeout, so upstream waits until the runtime kills the plugin).
pub const POD_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct IstioCni;

fn log(msg: impl std::fmt::Display) {
    eprintln!("istio-cni: {msg}");
}

fn env_duration_ms(key: &str, default: Duration) -> Duration {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(default)
}

/// Upstream's `isCNIPod`: the pod looks like our own node agent.
fn is_cni_pod(conf: &Config, k8s: &K8sArgs) -> bool {
    k8s.pod_name.starts_with("istio-cni-node-") && k8s.pod_namespace == conf.pod_namespace
}

/// Upstream's `pluginResponse`: the prevResult (as 1.x) printed in the config's version, or
/// an empty result.
fn response(conf: &Config) -> Result<CniResult, CniError> {
    let result = match &conf.prev_result {
        Some(p) => p.clone(),
        None => CniResult::from(Result100 {
            cni_version: "1.0.0".into(),
            ..Result100::default()
        }),
    };
    result
        .get_as_version(&conf.cni_version)
        .map_err(CniError::internal)
}

fn kube_client(conf: &Config) -> Result<kubeclient::Client, String> {
    // client-go's loader: a missing explicit kubeconfig is `stat <path>: no such file or
    // directory`, as kubeclient says it.
    let path = conf.kubeconfig();
    kubeclient::Client::from_sources(&kubeclient::Sources {
        kubeconfig: path.to_string_lossy().into_owned(),
        ..kubeclient::Sources::default()
    })
    .map_err(|e| format!("failed to setup client: {e}"))
}

/// The pod, with upstream's retry loop: a failed GET is retried after a pause, and a pod that
/// looks like our own agent passes while the API is unusable.
fn get_pod(
    client: &kubeclient::Client,
    conf: &Config,
    k8s: &K8sArgs,
) -> Result<Option<Value>, String> {
    let retries = std::env::var("ISTIO_CNI_POD_RETRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(POD_RETRIES)
        .max(1);
    let pause = env_duration_ms("ISTIO_CNI_POD_RETRY_INTERVAL_MS", POD_RETRY_INTERVAL);
    let timeout = env_duration_ms("ISTIO_CNI_POD_REQUEST_TIMEOUT_MS", POD_REQUEST_TIMEOUT);
    let path = format!(
        "/api/v1/namespaces/{}/pods/{}",
        k8s.pod_namespace, k8s.pod_name
    );
    let mut last = String::new();
    for _ in 0..retries {
        client.set_timeout(Some(timeout));
        match client.get(&path) {
            Ok(pod) => return Ok(Some(pod)),
            Err(e) => {
                last = e.to_string();
                log(format_args!("Failed to get pod info: {last}"));
            }
        }
        if is_cni_pod(conf, k8s) {
            log(format_args!(
                "in a degraded state and {} looks like our own agent pod, skipping",
                k8s.pod_name
            ));
            return Ok(None);
        }
        std::thread::sleep(pause);
    }
    Err(last)
}

/// Upstream's `Program` for iptables: enter the netns, complete the capture configuration
/// from it, write the rules (or, with `DRY_RUN_FILE_PATH`, the restore input to that file),
/// then the routes.
pub fn program(netns: &str, redirect: &pod::Redirect) -> Result<(), String> {
    let ns = NetNs::open(netns).map_err(|e| format!("failed to open netns {netns:?}: {e}"))?;
    let nl = Netlink::open_in(&ns).map_err(|e| format!("failed to open netns {netns:?}: {e}"))?;
    let mut cfg = redirect.capture_config();
    fill_from_environment(&mut cfg, &nl, redirect.dual_stack)?;
    let rules = capture::build(&cfg).map_err(|e| e.to_string())?;
    if let Some(path) = std::env::var_os("DRY_RUN_FILE_PATH").filter(|p| !p.is_empty()) {
        let mut text = rules.v4_restore();
        text.push_str(&rules.v6_restore());
        return std::fs::write(Path::new(&path), text)
            .map_err(|e| format!("unable to write dry run output file: {e}"));
    }
    for a in apply::program(&ns, &rules)? {
        log(format_args!(
            "{} rules ({:?}): {:?}",
            a.family.label(),
            a.variant,
            a.outcome
        ));
    }
    apply::routes(&nl, &cfg)
}

/// Upstream's `FillConfigFromEnvironment` (sidecar path): owner groups and the IPv4 loopback
/// CIDR from the runtime's environment, IPv6 from the pod's addresses.
pub fn fill_from_environment(
    cfg: &mut capture::Config,
    nl: &Netlink,
    dual_stack: bool,
) -> Result<(), String> {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    cfg.owner_groups_include = env("ISTIO_OUTBOUND_OWNER_GROUPS", "*");
    cfg.owner_groups_exclude = env("ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE", "");
    cfg.host_ipv4_loopback_cidr = env("ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR", "127.0.0.1/32");
    if cfg.proxy_gid.is_empty() {
        cfg.proxy_gid = cfg.proxy_uid.clone();
    }
    let (_, ipv6) = apply::local_ip(nl, dual_stack)?;
    cfg.enable_ipv6 = ipv6;
    Ok(())
}

/// Upstream's `doAddRun` after the client is made: `Ok` whether or not rules were written.
fn do_add(args: &CmdArgs, conf: &Config, client: &kubeclient::Client) -> Result<(), String> {
    let k8s = K8sArgs::load(&args.args)?;
    if k8s.pod_namespace.is_empty() || k8s.pod_name.is_empty() {
        log("Not a kubernetes pod");
        return Ok(());
    }
    let who = format!("{}/{}", k8s.pod_namespace, k8s.pod_name);
    if conf.exclude_namespaces.contains(&k8s.pod_namespace) {
        log(format_args!("{who}: pod namespace excluded"));
        return Ok(());
    }
    let Some(pod_json) = get_pod(client, conf, &k8s)? else {
        return Ok(());
    };
    let pi = PodInfo::from_pod(&pod_json);
    if let Some(skip) = pod::skip_reason(&pi) {
        log(format_args!("{who}: {}", skip.text()));
        return Ok(());
    }
    let redirect = pod::redirect(&pi)?;
    program(&args.netns, &redirect)
}

impl Plugin for IstioCni {
    fn add(&self, args: &CmdArgs) -> Result<CniResult, CniError> {
        let conf = config::parse(&args.stdin_data).map_err(CniError::internal)?;
        if conf.native_nftables {
            log("native_nftables is set: writing the same rules with iptables");
        }
        // Our own node agent's pod must never wait for the kubeconfig it is about to write.
        let k8s = K8sArgs::load(&args.args)
            .map_err(|e| CniError::internal(format!("failed to load args: {e}")))?;
        if is_cni_pod(&conf, &k8s) {
            log(format_args!(
                "{} looks like our own agent pod, skipping",
                k8s.pod_name
            ));
            return response(&conf);
        }
        let client = kube_client(&conf)
            .map_err(|e| CniError::internal(format!("failed to createNewK8sClient: {e}")))?;
        do_add(args, &conf, &client).map_err(CniError::internal)?;
        response(&conf)
    }

    fn del(&self, _args: &CmdArgs) -> Result<(), CniError> {
        Ok(())
    }

    fn check(&self, _args: &CmdArgs) -> Result<(), CniError> {
        Ok(())
    }
}
