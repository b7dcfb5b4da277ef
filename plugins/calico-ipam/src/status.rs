//! STATUS (CNI 1.1): code 50 (plugin not available) when the datastore cannot be reached, is
//! not ready, or has no pool this node could allocate from.

use datastore::Datastore;
use ipam::pools;
use libcni::error::code::PLUGIN_NOT_AVAILABLE;
use libcni::skel::CmdArgs;
use libcni::CniError;

use crate::config;

pub fn run(args: &CmdArgs) -> Result<(), CniError> {
    let (conf, keys) = config::parse(&args.stdin_data)?;
    let node = conf.node_name();
    let unavailable = |msg: String| CniError::new(PLUGIN_NOT_AVAILABLE, msg);
    let ds = Datastore::from_keys(&keys).map_err(|e| unavailable(e.to_string()))?;
    if ds.backend() == "local" {
        crate::ensure_local_node(&ds, &node).map_err(|e| unavailable(e.to_string()))?;
    }
    match ds.is_ready() {
        Ok(true) => {}
        Ok(false) => return Err(unavailable("datastore is not ready".into())),
        Err(e) => return Err(unavailable(e.to_string())),
    }
    for (num, v4, entries) in [
        (conf.ipam.num4(), true, &conf.ipam.ipv4_pools),
        (conf.ipam.num6(), false, &conf.ipam.ipv6_pools),
    ] {
        if num == 0 {
            continue;
        }
        let requested = pools::resolve(&ds, entries, v4).map_err(|e| unavailable(e.to_string()))?;
        pools::select(
            &ds,
            if v4 { 4 } else { 6 },
            &node,
            &requested,
            &Default::default(),
        )
        .map_err(|e| unavailable(e.to_string()))?;
    }
    Ok(())
}
