//! Identifiers: node name, orchestrator, WorkloadEndpoint names (libcalico-go `names`), host
//! veth names and the IPAM handle.

use libcni::types::CniArgs;
use libcni::{code, CmdArgs, CniError};

use crate::config::NetConf;

pub const ORCH_K8S: &str = "k8s";
pub const ORCH_CNI: &str = "cni";

/// Calico's `WEPIdentifiers`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identifiers {
    pub node: String,
    pub orchestrator: String,
    pub namespace: String,
    pub pod: String,
    pub container_id: String,
    pub endpoint: String,
    /// `IP=` from CNI_ARGS (a specific address for calico-ipam).
    pub ip: Option<String>,
}

/// The CNI_ARGS keys Calico's `K8sArgs` knows.
const ARG_KEYS: &[&str] = &[
    "K8S_POD_NAME",
    "K8S_POD_NAMESPACE",
    "K8S_POD_INFRA_CONTAINER_ID",
    "IP",
    "CNI_TEST_NAMESPACE",
];

/// The nodename-file check of ADD and DEL: unless optional, the file must exist (it proves
/// calico/node ran on this host).
pub fn check_nodename_file(conf: &NetConf) -> Result<(), CniError> {
    if conf.nodename_file_optional {
        return Ok(());
    }
    std::fs::metadata(&conf.nodename_file).map(drop).map_err(|e| {
        CniError::new(
            code::INTERNAL,
            format!(
                "{}: check that the calico/node container is running and has mounted /var/lib/calico/",
                libcni::error::path_error_text("stat", std::path::Path::new(&conf.nodename_file), &e)
            ),
        )
    })
}

pub fn identifiers(args: &CmdArgs, node: &str) -> Result<Identifiers, CniError> {
    let parsed = CniArgs::parse(&args.args, ARG_KEYS)
        .and_then(|a| a.check_unknown().map(|_| a))
        .map_err(|e| CniError::new(code::INTERNAL, e))?;
    let get = |k: &str| parsed.get(k).map(|p| p.value.clone()).unwrap_or_default();
    let mut ids = Identifiers {
        node: node.to_string(),
        orchestrator: ORCH_CNI.into(),
        namespace: "default".into(),
        pod: String::new(),
        container_id: args.container_id.clone(),
        endpoint: args.ifname.clone(),
        ip: None,
    };
    let (ns, pod) = (get("K8S_POD_NAMESPACE"), get("K8S_POD_NAME"));
    if !ns.is_empty() && !pod.is_empty() {
        ids.orchestrator = ORCH_K8S.into();
        ids.namespace = ns;
        ids.pod = pod;
    } else if !get("CNI_TEST_NAMESPACE").is_empty() {
        ids.namespace = get("CNI_TEST_NAMESPACE");
    }
    let ip = get("IP");
    if !ip.is_empty() {
        if ip.parse::<std::net::IpAddr>().is_err() {
            let pair = parsed.get("IP").unwrap();
            return Err(CniError::new(
                code::INTERNAL,
                pair.value_error(format!("invalid IP address: {ip}")),
            ));
        }
        ids.ip = Some(ip);
    }
    Ok(ids)
}

impl Identifiers {
    /// The workload segment: pod for k8s, container ID for cni.
    fn workload(&self) -> &str {
        if self.orchestrator == ORCH_K8S {
            &self.pod
        } else {
            &self.container_id
        }
    }

    /// The full WorkloadEndpoint name (`<node>-<orch>-<workload>-<endpoint>`), or with
    /// `prefix` the name without the endpoint, ending in `-`.
    pub fn wep_name(&self, prefix: bool) -> Result<String, CniError> {
        let ep = if prefix { "" } else { self.endpoint.as_str() };
        datastore::names::wep_name(&self.node, &self.orchestrator, self.workload(), ep)
            .map_err(|e| CniError::new(code::INTERNAL, e))
    }

    /// Whether `name` belongs to this workload (any interface), libcalico's `NameMatches`.
    pub fn matches(&self, name: &str) -> bool {
        let parts = datastore::names::split_wep_name(name);
        parts.len() == 4
            && parts[0] == self.node
            && parts[1] == self.orchestrator
            && parts[2] == self.workload()
    }
}

/// Host-side veth name: `cali` + the first 11 characters of the container ID (cni), or
/// `<prefix>` + the first 11 hex digits of SHA1("<namespace>.<pod>") (k8s, prefix from
/// FELIX_INTERFACEPREFIX's first element, else `cali`).
pub fn host_veth_name(ids: &Identifiers) -> String {
    if ids.orchestrator == ORCH_K8S {
        let prefix = std::env::var("FELIX_INTERFACEPREFIX")
            .ok()
            .and_then(|p| p.split(',').next().map(str::to_string))
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "cali".into());
        datastore::names::k8s_veth_name(&prefix, &ids.namespace, &ids.pod)
    } else {
        let id: String = ids.container_id.chars().take(11).collect();
        format!("cali{id}")
    }
}

/// The IPAM handle: `<network>.<containerID>`.
pub fn ipam_handle(conf: &NetConf, args: &CmdArgs) -> String {
    format!("{}.{}", conf.name, args.container_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orchestrator_from_args() {
        let mut args = CmdArgs {
            container_id: "abc".into(),
            ifname: "eth0".into(),
            args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;FOO=bar".into(),
            ..CmdArgs::default()
        };
        let ids = identifiers(&args, "n").unwrap();
        assert_eq!(
            (ids.orchestrator.as_str(), ids.namespace.as_str()),
            ("k8s", "ns")
        );
        assert!(ids.matches("n-k8s-p-eth1"));
        args.args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns".into();
        let ids = identifiers(&args, "n").unwrap();
        assert_eq!(
            (ids.orchestrator.as_str(), ids.namespace.as_str()),
            ("cni", "default")
        );
        assert_eq!(ids.wep_name(false).unwrap(), "n-cni-abc-eth0");
        assert_eq!(host_veth_name(&ids), "caliabc");
        args.args = "IgnoreUnknown=1;IP=bad".into();
        assert!(identifiers(&args, "n").is_err());
    }
}
