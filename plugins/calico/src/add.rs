//! ADD: find or make the WorkloadEndpoint, allocate through IPAM, wire the veth, store the WEP,
//! make the network's profile; any failure after allocation gives the addresses back and
//! removes the interface.

use std::collections::BTreeMap;
use std::net::IpAddr;

use calicolog::info;
use datastore::batch::Read;
use datastore::resources::{
    rule_allow, ClusterInformationSpec, IpNat, Profile, ProfileSpec, Rule, WorkloadEndpoint,
    WorkloadEndpointPort, WorkloadEndpointSpec, CLUSTER_INFORMATION_NAME,
};
use datastore::{ResourceKey, ResourceList};
use ipnetwork::IpNetwork;
use libcni::types::v100::{Interface, IpConfig, Result100};
use libcni::{code, CmdArgs, CniError, CniResult};
use serde_json::json;

use crate::context::{ds_err, Context, Verb};
use crate::dataplane::{self, Request};
use crate::names::{self, ORCH_K8S};
use crate::{ipam, k8s_add, mesos, readiness};

use datastore::kubernetes::{LABEL_NAMESPACE, LABEL_ORCHESTRATOR};

pub fn add(args: &CmdArgs) -> Result<CniResult, CniError> {
    let mut ctx = Context::load(args, Verb::Add)?;
    prefetch(&ctx)?;
    ctx.check_ready()?;
    readiness::wait(&ctx.conf.readiness_gates)?;

    let existing = find_existing(&ctx)?;
    // Read now, with the rest of the prefetch (the endpoint write below would drop it).
    let profile_exists = ctx.conf.policy.policy_type.is_empty() && profile_exists(&ctx)?;
    if let Some(ep) = &existing {
        ctx.ids.endpoint = ep.spec.endpoint.clone();
    }

    let (mut result, created) = if ctx.ids.orchestrator == ORCH_K8S {
        let plan = k8s_add::plan(&ctx, args)?;
        (attach(&ctx, args, existing, plan)?, true)
    } else {
        if ctx.conf.feature_control.ip_addrs_no_ipam {
            return Err(CniError::new(
                code::INTERNAL,
                "requested feature is not supported for this runtime: ip_addrs_no_ipam",
            ));
        }
        match existing {
            Some(ep) => (reuse_cni(&ctx, ep)?, false),
            None => (attach(&ctx, args, None, Plan::cni(&ctx, args))?, true),
        }
    };

    if ctx.conf.policy.policy_type.is_empty() {
        if let Err(e) = ensure_profile(&ctx, profile_exists) {
            // Calico releases the addresses here; we also take back what this ADD made.
            if created {
                rollback(&ctx, args);
            }
            return Err(e);
        }
    }

    if ctx.ids.orchestrator == ORCH_K8S {
        if let Err(e) = crate::policy_wait::wait(
            &ctx.conf.endpoint_status_dir,
            &ctx.ids,
            ctx.conf.policy_setup_timeout_seconds,
        ) {
            // Calico fails here with everything in place; we take it back.
            rollback(&ctx, args);
            return Err(e);
        }
    }

    for ip in &mut result.ips {
        ip.gateway = None;
    }
    result.cni_version = libcni::version::CURRENT.into();
    CniResult::V100(result)
        .get_as_version(&ctx.conf.cni_version)
        .map_err(CniError::internal)
}

/// What ADD reads from the datastore before it writes (ClusterInformation, this workload's
/// endpoints, the network's profile), in one round trip. ClusterInformation is the first of
/// them, so a failure is reported as reading it fails.
fn prefetch(ctx: &Context) -> Result<(), CniError> {
    let mut reads = vec![Read::of(&ResourceKey::<ClusterInformationSpec>::global(
        CLUSTER_INFORMATION_NAME,
    ))];
    if let Ok(endpoints) = endpoints_of(ctx) {
        reads.push(Read::listing(&endpoints));
    }
    if ctx.conf.policy.policy_type.is_empty() {
        reads.push(Read::of(&ResourceKey::<ProfileSpec>::global(
            &ctx.conf.name,
        )));
    }
    ctx.ds
        .prefetch(reads)
        .map_err(|e| ctx.cluster_information_error(e))
}

/// The listing of this workload's endpoints (by name prefix, any interface).
fn endpoints_of(ctx: &Context) -> Result<ResourceList<WorkloadEndpointSpec>, CniError> {
    Ok(
        ResourceList::<WorkloadEndpointSpec>::in_namespace(&ctx.ids.namespace)
            .name_prefix(ctx.ids.wep_name(true)?),
    )
}

/// The first endpoint in the namespace whose name belongs to this workload (any interface).
fn find_existing(ctx: &Context) -> Result<Option<WorkloadEndpoint>, CniError> {
    let list = ctx.ds.list_resources(&endpoints_of(ctx)?).map_err(ds_err)?;
    Ok(list
        .into_iter()
        .find(|ep| ctx.ids.matches(&ep.metadata.name)))
}

/// cni orchestrator, endpoint already there: no IPAM, no networking; add this network's
/// profile and answer with the endpoint's addresses.
fn reuse_cni(ctx: &Context, mut ep: WorkloadEndpoint) -> Result<Result100, CniError> {
    info!(
        "endpoint {} already exists, adding profile {}",
        ep.metadata.name, ctx.conf.name
    );
    if !ep.spec.profiles.contains(&ctx.conf.name) {
        ep.spec.profiles.push(ctx.conf.name.clone());
    }
    let mut result = Result100::default();
    for n in &ep.spec.ip_networks {
        let address: IpNetwork = n
            .parse()
            .map_err(|e| CniError::new(code::INTERNAL, format!("invalid CIDR {n:?}: {e}")))?;
        result.ips.push(IpConfig {
            interface: None,
            address,
            gateway: None,
        });
    }
    ctx.ds.update_resource(&ep).map_err(ds_err)?;
    // As Calico: the endpoint's host interface is the only interface reported.
    result.interfaces = vec![Interface {
        name: ep.spec.interface_name.clone(),
        ..Interface::default()
    }];
    Ok(result)
}

/// Where the workload's addresses come from.
pub enum IpSource {
    /// One IPAM ADD.
    Ipam,
    /// One IPAM ADD per address, with `IP=<addr>` in CNI_ARGS (`ipAddrs`).
    Requested(Vec<IpAddr>),
    /// No IPAM at all (`ipAddrsNoIpam`).
    Fixed(Vec<IpAddr>),
}

/// Everything an attachment needs beyond the context; the cni orchestrator's is the default.
pub struct Plan {
    /// The NetConf the IPAM plugin sees (k8s may rewrite `usePodCidr` and pools).
    pub stdin: Vec<u8>,
    pub ips: IpSource,
    pub routes: Vec<IpNetwork>,
    pub host_veth: String,
    pub container_mac: Option<[u8; 6]>,
    pub labels: BTreeMap<String, String>,
    pub profiles: Vec<String>,
    pub ports: Vec<WorkloadEndpointPort>,
    pub generate_name: String,
    pub service_account: String,
    /// Checked after networking, as Calico does (so a bad value releases the allocation).
    pub source_prefixes: Result<Vec<String>, CniError>,
    pub floating_ips: Option<String>,
    pub skip_host_routes_if_no_routes: bool,
}

pub fn default_routes() -> Vec<IpNetwork> {
    vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()]
}

impl Plan {
    fn cni(ctx: &Context, args: &CmdArgs) -> Plan {
        let mut labels = BTreeMap::new();
        for (k, v) in mesos::labels(ctx.conf.args.as_ref()) {
            if k != mesos::NAMESPACE_KEY {
                labels.insert(mesos::sanitize(&k), mesos::sanitize(&v));
            }
        }
        Plan {
            stdin: args.stdin_data.clone(),
            ips: IpSource::Ipam,
            routes: default_routes(),
            host_veth: names::host_veth_name(&ctx.ids),
            container_mac: None,
            labels,
            profiles: vec![ctx.conf.name.clone()],
            ports: Vec::new(),
            generate_name: String::new(),
            service_account: String::new(),
            source_prefixes: Ok(Vec::new()),
            floating_ips: None,
            skip_host_routes_if_no_routes: false,
        }
    }
}

fn allocate(ctx: &Context, args: &CmdArgs, plan: &Plan) -> Result<Result100, CniError> {
    let conf = &ctx.conf;
    match &plan.ips {
        IpSource::Ipam => ipam::add(conf, args, &plan.stdin),
        IpSource::Fixed(ips) => Ok(Result100 {
            ips: ips
                .iter()
                .map(|ip| IpConfig {
                    interface: None,
                    address: IpNetwork::from(*ip),
                    gateway: None,
                })
                .collect(),
            ..Result100::default()
        }),
        IpSource::Requested(ips) => {
            let mut out = Result100::default();
            for ip in ips {
                let mut a = args.clone();
                a.args = format!("{};IP={ip}", args.args);
                let r = ipam::add(conf, &a, &plan.stdin).map_err(|e| {
                    ipam::release(conf, args, &plan.stdin);
                    CniError::new(e.code, format!("error getting IP from IPAM: {}", e.msg))
                })?;
                match r.ips.into_iter().next() {
                    Some(first) => out.ips.push(first),
                    None => {
                        ipam::release(conf, args, &plan.stdin);
                        return Err(CniError::new(
                            code::INTERNAL,
                            "error getting IP from IPAM: IPAM plugin returned missing IP config",
                        ));
                    }
                }
            }
            Ok(out)
        }
    }
}

/// IPAM, networking and the endpoint write for a new attachment.
fn attach(
    ctx: &Context,
    args: &CmdArgs,
    existing: Option<WorkloadEndpoint>,
    plan: Plan,
) -> Result<Result100, CniError> {
    let conf = &ctx.conf;
    info!("IPAM handle {}", names::ipam_handle(conf, args));
    if let Some(grpc) = &ctx.grpc {
        return attach_grpc(ctx, args, existing, plan, grpc);
    }
    let mut req = Request {
        netns: &args.netns,
        ifname: &args.ifname,
        host_veth: &plan.host_veth,
        mtu: ctx.mtu,
        queues: conf.num_queues as u32,
        allow_ip_forwarding: conf.container_settings.allow_ip_forwarding,
        routes: &plan.routes,
        skip_host_routes: false,
        container_mac: plan.container_mac,
    };
    // The veth pair does not depend on the addresses: make it while the IPAM plugin runs
    // (Calico does one after the other). IPAM's outcome is looked at first, so a failing ADD
    // reports what it reported before.
    let (allocated, pair) = std::thread::scope(|s| {
        let ipam = s.spawn(|| allocate(ctx, args, &plan));
        let pair = dataplane::create_pair(&req);
        let allocated = ipam
            .join()
            .unwrap_or_else(|_| Err(CniError::internal("the IPAM delegation panicked")));
        (allocated, pair)
    });
    let mut result = match allocated {
        Ok(r) => r,
        Err(e) => {
            if let Ok(pair) = &pair {
                pair.remove();
            }
            return Err(e);
        }
    };
    // From here on every failure releases the allocation; once the veth is configured, it is
    // removed too (before that the pair removes itself on failure).
    let release = |e: CniError| {
        ipam::release(conf, args, &plan.stdin);
        e
    };
    let undo = |e: CniError| {
        let _ = dataplane::cleanup_interface(&args.netns, &args.ifname);
        release(e)
    };
    let pair = pair.map_err(release)?;
    if result.ips.is_empty() {
        pair.remove();
        return Err(release(CniError::new(
            code::INTERNAL,
            "IPAM plugin returned no IP addresses in result",
        )));
    }

    req.skip_host_routes = plan.skip_host_routes_if_no_routes && result.routes.is_empty();
    dataplane::narrow(&mut result);
    let mac = pair.container_mac(plan.container_mac);
    set_interfaces(&mut result, ctx, args, &plan.host_veth, &mac);
    let ep = match build_endpoint(ctx, args, existing, &result, &plan, &mac) {
        Ok(ep) => ep,
        Err(e) => {
            pair.remove();
            return Err(release(e));
        }
    };

    if !ep.metadata.resource_version.is_empty() {
        // An endpoint that exists is only updated once the dataplane is up (an update
        // cannot be taken back the way a create can).
        pair.configure(&req, &result).map_err(release)?;
        write_endpoint(ctx, &ep).map_err(undo)?;
        return Ok(result);
    }
    // A new endpoint holds nothing the dataplane steps need: create it while they run
    // (Calico does one after the other), and delete it again if they fail.
    let (configured, written) = std::thread::scope(|s| {
        let write = s.spawn(|| ctx.ds.create_resource(&ep).map_err(ds_err));
        let configured = pair.configure(&req, &result);
        let written = write
            .join()
            .unwrap_or_else(|_| Err(CniError::internal("the endpoint write panicked")));
        (configured, written)
    });
    match (configured, written) {
        (Ok(_), Ok(_)) => Ok(result),
        (Err(e), written) => {
            // The pair removed itself; the endpoint goes too, then the allocation.
            if let Ok(stored) = written {
                let revision = stored.metadata.resource_version.parse().ok();
                let _ = ctx.ds.delete_resource(&ResourceKey::of(&stored), revision);
            }
            Err(release(e))
        }
        (Ok(_), Err(e)) => Err(undo(e)),
    }
}

/// [`attach`] with the external gRPC dataplane (Calico's `grpcDataplane.DoNetworking`): IPAM,
/// then the dataplane's `Add` with the addresses, routes and the workload's identity, then the
/// endpoint with the host interface and MAC the dataplane reports. A failure releases the
/// allocation (and, once the dataplane made the interface, asks it to delete it).
fn attach_grpc(
    ctx: &Context,
    args: &CmdArgs,
    existing: Option<WorkloadEndpoint>,
    plan: Plan,
    grpc: &crate::grpc::GrpcDataplane,
) -> Result<Result100, CniError> {
    use crate::grpc::proto::{AddRequest, ContainerSettings, IpConfig, Port, WorkloadIds};
    let conf = &ctx.conf;
    let mut result = allocate(ctx, args, &plan)?;
    let release = |e: CniError| {
        ipam::release(conf, args, &plan.stdin);
        e
    };
    if result.ips.is_empty() {
        return Err(release(CniError::new(
            code::INTERNAL,
            "IPAM plugin returned no IP addresses in result",
        )));
    }
    dataplane::narrow(&mut result);
    // The endpoint as it will be stored, less what only the dataplane knows.
    let mut ep = build_endpoint(ctx, args, existing, &result, &plan, "").map_err(release)?;
    let request = AddRequest {
        interface_name: args.ifname.clone(),
        netns: args.netns.clone(),
        desired_host_interface_name: plan.host_veth.clone(),
        settings: Some(ContainerSettings {
            allow_ip_forwarding: conf.container_settings.allow_ip_forwarding,
            mtu: ctx.mtu as i32,
        }),
        container_ips: result
            .ips
            .iter()
            .map(|i| IpConfig {
                address: i.address.to_string(),
                // Go's String() of a nil net.IP.
                gateway: i.gateway.map_or("<nil>".to_string(), |g| g.to_string()),
            })
            .collect(),
        container_routes: plan.routes.iter().map(ToString::to_string).collect(),
        workload: Some(WorkloadIds {
            name: ep.metadata.name.clone(),
            namespace: ep.metadata.namespace.clone(),
            labels: ep.metadata.labels.clone(),
            annotations: Default::default(),
            endpoint: ep.spec.endpoint.clone(),
            node: ep.spec.node.clone(),
            orchestrator: ep.spec.orchestrator.clone(),
            pod: ep.spec.pod.clone(),
            ports: ep
                .spec
                .ports
                .iter()
                .map(|p| Port {
                    name: p.name.clone(),
                    // numorstring's String(): the name, or the number.
                    protocol: match &p.protocol {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    },
                    port: u32::from(p.port),
                    ..Port::default()
                })
                .collect(),
        }),
        dataplane_options: Default::default(),
    };
    let reply = grpc.add(request).map_err(release)?;
    set_interfaces(
        &mut result,
        ctx,
        args,
        &reply.host_interface_name,
        &reply.container_mac,
    );
    ep.spec.interface_name = reply.host_interface_name;
    ep.spec.mac = reply.container_mac;
    write_endpoint(ctx, &ep).map_err(|e| {
        let _ = grpc.del(&args.ifname, &args.netns);
        release(e)
    })?;
    Ok(result)
}

/// Calico's result interfaces, `[{host end}, {container end, mac, mtu, sandbox}]`, with every
/// IP on the container end.
fn set_interfaces(result: &mut Result100, ctx: &Context, args: &CmdArgs, host: &str, mac: &str) {
    result.interfaces = vec![
        Interface {
            name: host.to_string(),
            ..Interface::default()
        },
        Interface {
            name: args.ifname.clone(),
            mac: mac.to_string(),
            mtu: ctx.mtu,
            sandbox: args.netns.clone(),
            ..Interface::default()
        },
    ];
    for ip in &mut result.ips {
        ip.interface = Some(1);
    }
}

/// Undoes a successful attach: the endpoint, the interface, the allocation.
fn rollback(ctx: &Context, args: &CmdArgs) {
    if let Ok(name) = ctx.ids.wep_name(false) {
        let key = ResourceKey::<WorkloadEndpointSpec>::namespaced(&ctx.ids.namespace, name);
        let _ = ctx.ds.delete_resource(&key, None);
    }
    let _ = dataplane::cleanup_interface(&args.netns, &args.ifname);
    ipam::release(&ctx.conf, args, &args.stdin_data);
}

fn build_endpoint(
    ctx: &Context,
    args: &CmdArgs,
    existing: Option<WorkloadEndpoint>,
    result: &Result100,
    plan: &Plan,
    mac: &str,
) -> Result<WorkloadEndpoint, CniError> {
    let ids = &ctx.ids;
    let mut ep = match existing {
        Some(ep) => ep,
        None => WorkloadEndpoint::namespaced(
            &ids.namespace,
            ids.wep_name(false)?,
            WorkloadEndpointSpec::default(),
        ),
    };
    let k8s = ids.orchestrator == ORCH_K8S;
    if k8s {
        // Calico replaces the labels with the pod's on every ADD.
        ep.metadata.labels = plan.labels.clone();
        ep.metadata.generate_name = plan.generate_name.clone();
    } else {
        ep.metadata.labels.extend(plan.labels.clone());
    }
    ep.metadata
        .labels
        .insert(LABEL_NAMESPACE.to_string(), ids.namespace.clone());
    ep.metadata
        .labels
        .insert(LABEL_ORCHESTRATOR.to_string(), ids.orchestrator.clone());
    let s = &mut ep.spec;
    s.orchestrator = ids.orchestrator.clone();
    s.node = ids.node.clone();
    s.endpoint = ids.endpoint.clone();
    s.container_id = args.container_id.clone();
    if k8s {
        s.pod = ids.pod.clone();
        s.ports = plan.ports.clone();
        s.service_account_name = plan.service_account.clone();
    }
    if s.profiles.is_empty() || k8s {
        s.profiles = plan.profiles.clone();
    }
    s.ip_networks = result.ips.iter().map(|i| i.address.to_string()).collect();
    s.interface_name = plan.host_veth.clone();
    s.mac = mac.to_string();
    s.allow_spoofed_source_prefixes = plan.source_prefixes.clone()?;
    s.ip_nats.clear();
    if let Some(fips) = &plan.floating_ips {
        if !ctx.conf.feature_control.floating_ips {
            return Err(CniError::new(
                code::INTERNAL,
                "requested feature is not enabled: floating_ips",
            ));
        }
        let pod_ip = |v6: bool| {
            result
                .ips
                .iter()
                .find(|i| i.address.is_ipv6() == v6)
                .map(|i| i.address.ip().to_string())
                .unwrap_or_default()
        };
        for ext in crate::k8s::annotations::parse_list(fips)? {
            s.ip_nats.push(IpNat {
                internal_ip: pod_ip(ext.contains(':')),
                external_ip: ext,
            });
        }
    }
    Ok(ep)
}

fn profile_exists(ctx: &Context) -> Result<bool, CniError> {
    Ok(ctx
        .ds
        .get_resource(&ResourceKey::<ProfileSpec>::global(&ctx.conf.name))
        .map_err(ds_err)?
        .is_some())
}

/// Create, or compare-and-swap update of the endpoint read earlier.
fn write_endpoint(ctx: &Context, ep: &WorkloadEndpoint) -> Result<(), CniError> {
    let r = if ep.metadata.resource_version.is_empty() {
        ctx.ds.create_resource(ep)
    } else {
        ctx.ds.update_resource(ep)
    };
    r.map(drop).map_err(ds_err)
}

/// Profile `<network>` unless it exists (never updated): egress allow; ingress allow from
/// the network's own members (cni) or from anywhere (k8s); the network name as a label.
fn ensure_profile(ctx: &Context, exists: bool) -> Result<(), CniError> {
    let name = &ctx.conf.name;
    if exists {
        return Ok(());
    }
    let ingress = if ctx.ids.orchestrator == ORCH_K8S {
        rule_allow()
    } else {
        Rule {
            source: json!({ "selector": format!("has({name})") }),
            ..rule_allow()
        }
    };
    let mut labels = BTreeMap::new();
    labels.insert(name.clone(), String::new());
    let profile = Profile::new(
        name.clone(),
        ProfileSpec {
            ingress: vec![ingress],
            egress: vec![rule_allow()],
            labels_to_apply: labels,
        },
    );
    match ctx.ds.create_resource(&profile) {
        Ok(_) => Ok(()),
        // A concurrent ADD made it first.
        Err(e) if e.is_already_exists() => Ok(()),
        Err(e) => Err(ds_err(e)),
    }
}
