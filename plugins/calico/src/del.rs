//! DEL (Calico's order): cni — IPAM first, then the endpoint, then the interface; k8s — the
//! endpoint (kept when it belongs to a newer sandbox), the interface, then IPAM. A missing
//! netns, link or endpoint is success, so DEL is idempotent.

use calicolog::info;
use datastore::resources::WorkloadEndpointSpec;
use datastore::ResourceKey;
use libcni::{code, CmdArgs, CniError};

use crate::context::{ds_err, Context, Verb};
use crate::dataplane;
use crate::ipam;
use crate::names::ORCH_K8S;

pub fn del(args: &CmdArgs) -> Result<(), CniError> {
    let ctx = Context::load(args, Verb::Del)?;
    ctx.check_ready()?;
    let key = ResourceKey::<WorkloadEndpointSpec>::namespaced(
        &ctx.ids.namespace,
        ctx.ids.wep_name(false)?,
    );

    if ctx.ids.orchestrator == ORCH_K8S {
        delete_k8s_endpoint(&ctx, args, &key)?;
        cleanup(&ctx, args)?;
        // host-local releases by container ID: `usePodCidr` only has to parse, not to be
        // looked up (the API may be gone by now).
        let mut stdin = args.stdin_data.clone();
        if ctx.conf.ipam.ipam_type == "host-local" {
            if let Some(new) = crate::k8s::pod_cidr::replace(&stdin, || {
                Ok(("0.0.0.0/0".to_string(), "::/0".to_string()))
            })? {
                stdin = new;
            }
        }
        return ipam::del(&ctx.conf, args, &stdin);
    }

    let ipam_result = ipam::del(&ctx.conf, args, &args.stdin_data);
    match ctx.ds.delete_resource(&key, None) {
        Ok(_) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(ds_err(e)),
    }
    cleanup(&ctx, args)?;
    ipam_result
}

/// The workload's interface goes: through the external gRPC dataplane when there is one
/// (Calico's `CleanUpNamespace`), else the veth.
fn cleanup(ctx: &Context, args: &CmdArgs) -> Result<(), CniError> {
    match &ctx.grpc {
        Some(grpc) => grpc.del(&args.ifname, &args.netns),
        None => dataplane::cleanup_interface(&args.netns, &args.ifname),
    }
}

fn delete_k8s_endpoint(
    ctx: &Context,
    args: &CmdArgs,
    key: &ResourceKey<WorkloadEndpointSpec>,
) -> Result<(), CniError> {
    for _ in 0..6 {
        let Some(ep) = ctx.ds.get_resource(key).map_err(ds_err)? else {
            return Ok(());
        };
        if !ep.spec.container_id.is_empty() && ep.spec.container_id != args.container_id {
            info!(
                "endpoint {} belongs to container {}, not {}: keeping it",
                ep.metadata.name, ep.spec.container_id, args.container_id
            );
            return Ok(());
        }
        let rev = ep.metadata.resource_version.parse().ok();
        match ctx.ds.delete_resource(key, rev) {
            Ok(_) => return Ok(()),
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(ds_err(e)),
        }
    }
    Err(CniError::new(
        code::INTERNAL,
        "endpoint was modified before it could be deleted",
    ))
}
