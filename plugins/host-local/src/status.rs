//! STATUS (CNI 1.1), which the Go plugin only stubs: code 50 ("plugin not available") when
//! no ADD could succeed, because the store cannot be written or a range set has no free
//! address left (every ADD takes one address from every set); success otherwise.

use std::collections::BTreeSet;
use std::net::IpAddr;

use libcni::error::code;
use libcni::skel::CmdArgs;
use libcni::{CniCode, CniError};

use crate::config;
use crate::range_set::RangeSet;
use crate::store::disk::DiskStore;
use crate::store::Store;

pub fn run(args: &CmdArgs) -> Result<(), CniError> {
    let conf = config::load(&args.stdin_data, &args.args).map_err(CniError::internal)?;
    let not_available = |what: String| CniError::new(code::PLUGIN_NOT_AVAILABLE, what);
    let mut store = DiskStore::open(&conf.name, &conf.data_dir)
        .map_err(|e| not_available(format!("host-local store is not available: {e}")))?;
    store.check_writable().map_err(|e| {
        not_available(format!(
            "host-local store {} is not writable: {e}",
            store.dir().display()
        ))
    })?;
    let reserved: BTreeSet<IpAddr> = store
        .reserved()
        .map_err(|e| e.to_cni())?
        .into_iter()
        .collect();
    for (idx, set) in conf.ranges.iter().enumerate() {
        if exhausted(set, &reserved) {
            return Err(not_available(format!(
                "no IP addresses available in range set {idx}: {set}"
            )));
        }
    }
    Ok(())
}

/// Whether every address the allocator could hand out from `set` is reserved.
fn exhausted(set: &RangeSet, reserved: &BTreeSet<IpAddr>) -> bool {
    set.0.iter().all(|range| {
        let used = reserved
            .iter()
            .filter(|ip| range.contains(**ip) && **ip != range.gateway)
            .count();
        used as u128 >= range.capacity()
    })
}
