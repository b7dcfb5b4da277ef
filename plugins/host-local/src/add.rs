//! ADD: one address from every range set, all or nothing.

use std::net::IpAddr;

use libcni::skel::CmdArgs;
use libcni::types::{v100, CniResult, Route};
use libcni::{CniCode, CniError};

use crate::allocator::{Allocation, Allocator};
use crate::config::{self, IpamConfig};
use crate::dns;
use crate::store::disk::DiskStore;
use crate::store::{Key, Store};

pub fn run(args: &CmdArgs) -> Result<CniResult, CniError> {
    let conf = config::load(&args.stdin_data, &args.args).map_err(CniError::internal)?;
    let dns = match conf.resolv_conf.as_str() {
        "" => Default::default(),
        path => dns::parse_file(path).map_err(CniError::internal)?,
    };
    // Checked before the store is touched, so a refused config leaves nothing behind.
    let routes = routes(&conf)?;
    let mut store = DiskStore::open(&conf.name, &conf.data_dir).map_err(|e| e.to_cni())?;
    let key = Key::new(&args.container_id, &args.ifname);
    let allocations =
        allocate(&conf, &mut store, &key, &args.container_id).map_err(CniError::internal)?;

    let result = CniResult::V100(v100::Result100 {
        cni_version: v100::IMPLEMENTED.into(),
        interfaces: Vec::new(),
        ips: allocations
            .iter()
            .map(|a| v100::IpConfig {
                interface: None,
                address: a.address,
                gateway: Some(a.gateway),
            })
            .collect(),
        routes,
        dns,
    });
    result.get_as_version(&conf.cni_version).map_err(|e| {
        // Nothing was reported to the runtime, so nothing may stay reserved.
        release(&mut store, &key, allocations.len());
        CniError::internal(e)
    })
}

/// The configured routes, verbatim (the gateway is not filled in, as upstream). A route
/// without `dst` is refused: Go would print `"dst": "<nil>"`, which no runtime can parse.
fn routes(conf: &IpamConfig) -> Result<Vec<Route>, CniError> {
    conf.routes
        .iter()
        .map(|r| {
            r.clone()
                .ok_or_else(|| CniError::internal("invalid route in ipam.routes: missing \"dst\""))
        })
        .collect()
}

/// One address per range set, in order; a requested address goes to the first set that
/// contains it. Any failure releases everything this ADD reserved.
fn allocate(
    conf: &IpamConfig,
    store: &mut dyn Store,
    key: &Key,
    container_id: &str,
) -> Result<Vec<Allocation>, String> {
    let mut requested: Vec<IpAddr> = Vec::with_capacity(conf.requested.len());
    for ip in &conf.requested {
        if !requested.contains(ip) {
            requested.push(*ip);
        }
    }
    let mut allocations = Vec::with_capacity(conf.ranges.len());
    for (idx, set) in conf.ranges.iter().enumerate() {
        // Go picks among several matching requests at random (map order); the first asked
        // for is one of its possible choices.
        let wanted = requested
            .iter()
            .position(|ip| set.contains(*ip))
            .map(|i| requested.remove(i));
        match Allocator::new(set, store, idx).get(key, container_id, wanted) {
            Ok(a) => allocations.push(a),
            Err(e) => {
                release(store, key, allocations.len());
                return Err(format!("failed to allocate for range {idx}: {e}"));
            }
        }
    }
    if !requested.is_empty() {
        release(store, key, allocations.len());
        let ips: Vec<String> = requested.iter().map(|ip| ip.to_string()).collect();
        return Err(format!(
            "failed to allocate all requested IPs: {}",
            ips.join(" ")
        ));
    }
    Ok(allocations)
}

/// The reference's rollback: `ReleaseByID` once per range set allocated so far (which, from
/// the second call on, also releases legacy reservations of the container).
fn release(store: &mut dyn Store, key: &Key, times: usize) {
    for _ in 0..times {
        let _ = store.release_by_id(key);
    }
}
