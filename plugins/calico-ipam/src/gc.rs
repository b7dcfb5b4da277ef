//! GC (CNI 1.1): release this node's handles of this network whose container is not among
//! `cni.dev/valid-attachments`. libcni's rule: `null` or `[]` means no attachment is live; an
//! absent key means the runtime said nothing, so nothing is released.

use std::collections::BTreeSet;

use datastore::model::ATTR_NODE;
use datastore::{BlockKey, HandleList};
use ipam::block_ops::ordinals_of_handle;
use ipam::Ipam;
use ipnetwork::IpNetwork;
use libcni::skel::CmdArgs;
use libcni::{CniCode, CniError, NetConf};

use crate::config;

pub fn run(args: &CmdArgs) -> Result<(), CniError> {
    let (conf, keys) = config::parse(&args.stdin_data)?;
    crate::start_logging(&conf);
    let net = NetConf::parse(&args.stdin_data)
        .map_err(|e| CniError::internal(format!("failed to load netconf: {e}")))?;
    let Some(valid) = net.gc_valid_attachments() else {
        return Ok(());
    };
    let live: BTreeSet<&str> = valid.iter().map(|a| a.container_id.as_str()).collect();
    let node = conf.node_name();
    let ds = crate::open(&keys, &node)?;
    let ipam = Ipam::new(&ds);
    let prefix = format!("{}.", conf.name);
    let _lock = crate::lock::acquire(&conf.ipam_lock_file, &ds);
    let mut errors = Vec::new();
    for (key, handle) in ds.list(&HandleList).map_err(|e| e.to_cni())? {
        let Some(container) = key.id.strip_prefix(&prefix) else {
            continue;
        };
        // A KubeVirt VM's handle (`<network>.vmi.<ns>.<vm>`) belongs to the VM, not to a
        // container: its DELs and the VM's deletion free it.
        if live.contains(container) || container.starts_with("vmi.") {
            continue;
        }
        // Only handles whose addresses this node allocated: other nodes GC their own.
        let mine = handle.value.block.keys().any(|cidr| {
            let Ok(cidr) = cidr.parse::<IpNetwork>() else {
                return false;
            };
            ds.get(&BlockKey::new(cidr))
                .ok()
                .flatten()
                .is_some_and(|b| {
                    ordinals_of_handle(&b.value, &key.id).iter().any(|&o| {
                        b.value
                            .attributes_at(o)
                            .and_then(|a| a.active_owner_attrs.get(ATTR_NODE))
                            .is_some_and(|n| *n == node)
                    })
                })
        });
        if !mine {
            continue;
        }
        if let Err(e) = ipam.release_by_handle(&key.id) {
            if !e.is_not_found() {
                errors.push(e.to_cni());
            }
        }
    }
    // Keep going past failures; report the first.
    errors.into_iter().next().map_or(Ok(()), Err)
}
