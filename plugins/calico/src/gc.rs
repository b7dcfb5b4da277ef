//! GC and STATUS (CNI 1.1; Calico stubs both). GC: the IPAM plugin collects its own
//! allocations, and this node's endpoints of this network whose attachment is not in
//! `cni.dev/valid-attachments` are deleted. STATUS: the datastore must be ready and the IPAM
//! plugin must say it is.

use calicolog::info;
use datastore::resources::WorkloadEndpointSpec;
use datastore::{ResourceKey, ResourceList};
use libcni::runtime::delegate;
use libcni::{code, CmdArgs, CniError, NetConf};

use crate::context::{ds_err, Context, Verb};
use crate::names::ORCH_K8S;

pub fn gc(args: &CmdArgs) -> Result<(), CniError> {
    let ctx = Context::load(args, Verb::Gc)?;
    ctx.check_ready()?;
    let cni =
        NetConf::parse(&args.stdin_data).map_err(|e| CniError::new(code::DECODING_FAILURE, e))?;
    let ipam_result = delegate::delegate_gc(&ctx.conf.ipam.ipam_type, &args.stdin_data, args);
    // libcni's rule: no list → nothing is known to be stale; `null` or `[]` → none is live.
    // Endpoints derived from pods (Kubernetes datastore) are not ours to collect: they go
    // with their pods.
    let valid = cni
        .gc_valid_attachments()
        .filter(|_| !ctx.ds.derives_endpoints());
    if let Some(valid) = valid {
        let eps = ctx
            .ds
            .list_resources(&ResourceList::<WorkloadEndpointSpec>::all())
            .map_err(ds_err)?;
        for ep in eps {
            let s = &ep.spec;
            let ours = s.node == ctx.ids.node
                && (s.profiles.contains(&ctx.conf.name) || s.orchestrator == ORCH_K8S);
            let live = valid
                .iter()
                .any(|a| a.container_id == s.container_id && a.ifname == s.endpoint);
            if ours && !live {
                info!("GC: deleting stale endpoint {}", ep.metadata.name);
                let key = ResourceKey::<WorkloadEndpointSpec>::namespaced(
                    &ep.metadata.namespace,
                    &ep.metadata.name,
                );
                let rev = ep.metadata.resource_version.parse().ok();
                match ctx.ds.delete_resource(&key, rev) {
                    Ok(_) => {}
                    // Gone or changed meanwhile: an ADD or DEL is on it.
                    Err(e) if e.is_not_found() || e.is_conflict() => {}
                    Err(e) => return Err(ds_err(e)),
                }
            }
        }
    }
    ipam_result
}

pub fn status(args: &CmdArgs) -> Result<(), CniError> {
    let ctx = Context::load(args, Verb::Status)?;
    ctx.check_ready()
        .map_err(|e| CniError::new(code::PLUGIN_NOT_AVAILABLE, e.msg))?;
    delegate::delegate_status(&ctx.conf.ipam.ipam_type, &args.stdin_data, args)
}
