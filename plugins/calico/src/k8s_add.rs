//! The `k8s` orchestrator's part of ADD (Calico's `CmdAddK8s` up to the dataplane): host-local
//! `usePodCidr` and routes, the Pod and Namespace from the API with `policy.type: k8s`, and
//! the annotations that choose the addresses.

use std::collections::BTreeMap;

use ipnetwork::IpNetwork;
use libcni::{code, CmdArgs, CniError};
use serde_json::Value;

use crate::add::{default_routes, IpSource, Plan};
use crate::context::Context;
use crate::k8s::annotations as ann;
use crate::k8s::{pod, pod_cidr};
use crate::names;

fn err(msg: String) -> CniError {
    CniError::new(code::INTERNAL, msg)
}

pub fn plan(ctx: &Context, args: &CmdArgs) -> Result<Plan, CniError> {
    let conf = &ctx.conf;
    let ids = &ctx.ids;
    let mut stdin = args.stdin_data.clone();
    // The API is only needed for `usePodCidr` and `policy.type: k8s` (Calico builds a client on
    // every k8s ADD; here a config without a kubeconfig works for the rest).
    let api = crate::k8s::Api::new(&ctx.ds, conf);

    let mut routes: Vec<IpNetwork> = Vec::new();
    if conf.ipam.ipam_type == "host-local" {
        let node = if conf.kubernetes.node_name.is_empty() {
            ids.node.clone()
        } else {
            conf.kubernetes.node_name.clone()
        };
        let replaced = pod_cidr::replace(&stdin, || {
            let n = api.get(&format!("/api/v1/nodes/{node}"))?;
            pod_cidr::by_family(&node, &n)
        })?;
        if let Some(new) = replaced {
            stdin = new;
        }
        routes = host_local_routes(&stdin)?;
    }
    if routes.is_empty() {
        routes = default_routes();
    } else if conf.include_default_routes {
        let mut all = default_routes();
        all.extend(routes);
        routes = all;
    }

    let mut info = pod::PodInfo::default();
    let policy_k8s = conf.policy.policy_type == "k8s";
    if policy_k8s {
        let ns = api.get(&format!("/api/v1/namespaces/{}", ids.namespace))?;
        let ns_annotations = datastore::kubernetes::string_map(ns.pointer("/metadata/annotations"));
        let p = api.get(&format!(
            "/api/v1/namespaces/{}/pods/{}",
            ids.namespace, ids.pod
        ))?;
        info = pod::from_pod(&p, &ids.namespace);
        if conf.ipam.ipam_type == "calico-ipam" {
            if let Some(new) =
                ann::inject_ipam_annotations(&stdin, &ns_annotations, &info.annotations)?
            {
                stdin = new;
            }
        }
    } else {
        info.profiles = vec![conf.name.clone()];
    }
    let a = &info.annotations;

    let ip_addrs = a.get(ann::IP_ADDRS).cloned().unwrap_or_default();
    let no_ipam = a.get(ann::IP_ADDRS_NO_IPAM).cloned().unwrap_or_default();
    let ips = match (ip_addrs.is_empty(), no_ipam.is_empty()) {
        (true, true) => IpSource::Ipam,
        (false, false) => return Err(err(
            "can't have both annotations: 'ipAddrs' and 'ipAddrsNoIpam' in use at the same time"
                .into(),
        )),
        (true, false) => {
            if conf.ipam.ipam_type != "calico-ipam" {
                return Err(err(format!(
                    "ipAddrsNoIpam is not compatible with configured IPAM: {}",
                    conf.ipam.ipam_type
                )));
            }
            if !conf.feature_control.ip_addrs_no_ipam {
                return Err(err(
                    "requested feature is not enabled: ip_addrs_no_ipam".into()
                ));
            }
            IpSource::Fixed(ann::validate_ips(&no_ipam, ann::IP_ADDRS_NO_IPAM)?)
        }
        (false, true) => {
            if conf.ipam.ipam_type != "calico-ipam" {
                return Err(err(format!(
                    "ipAddrs is not compatible with configured IPAM: {}",
                    conf.ipam.ipam_type
                )));
            }
            IpSource::Requested(ann::validate_ips(&ip_addrs, ann::IP_ADDRS)?)
        }
    };

    Ok(Plan {
        stdin,
        ips,
        routes,
        host_veth: names::host_veth_name(ids),
        container_mac: ann::hw_addr(a)?,
        labels: if policy_k8s {
            info.labels.clone()
        } else {
            BTreeMap::new()
        },
        profiles: info.profiles.clone(),
        ports: info.ports.clone(),
        generate_name: info.generate_name.clone(),
        service_account: info.service_account.clone(),
        source_prefixes: ann::source_prefixes(a),
        floating_ips: a.get(ann::FLOATING_IPS).cloned(),
        skip_host_routes_if_no_routes: conf.ipam.ipam_type == "calico-ipam",
    })
}

/// host-local's `ipam.routes[].dst`: the container's routes (gateways are ignored: the
/// host end is the next hop).
fn host_local_routes(stdin: &[u8]) -> Result<Vec<IpNetwork>, CniError> {
    let data: Value = serde_json::from_slice(stdin).map_err(|e| err(e.to_string()))?;
    let Some(routes) = data.pointer("/ipam/routes") else {
        return Ok(Vec::new());
    };
    let list = routes.as_array().ok_or_else(|| {
        err(format!(
            "failed to parse host-local IPAM routes section; expecting list, not: {}",
            data["ipam"]
        ))
    })?;
    let mut out = Vec::new();
    for r in list {
        let Some(dst) = r.get("dst") else { continue };
        let s = dst.as_str().ok_or_else(|| {
            err(format!(
                "invalid IPAM routes section; expecting 'dst' to be a string, not: {dst}"
            ))
        })?;
        let net: IpNetwork = s
            .parse()
            .map_err(|_| err(format!("invalid CIDR address: {s}")))?;
        out.push(IpNetwork::new(net.network(), net.prefix()).expect("same prefix"));
    }
    Ok(out)
}
