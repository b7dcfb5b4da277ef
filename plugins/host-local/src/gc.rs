//! GC (CNI 1.1), which the Go plugin only stubs: release every reservation in this
//! network's store whose attachment the runtime no longer lists in
//! `cni.dev/valid-attachments`.
//!
//! Only `<dataDir>/<name>/` is touched, never another network's store. The store lock is
//! held throughout, so a concurrent ADD (ours or Go's) is either complete before the
//! collection or starts after it. A store that does not exist is left uncreated.

use libcni::skel::CmdArgs;
use libcni::types::NetConf;
use libcni::{CniCode, CniError};

use crate::config;
use crate::store::disk::DiskStore;
use crate::store::{Store, ValidAttachments};

pub fn run(args: &CmdArgs) -> Result<(), CniError> {
    let location = config::load_location(&args.stdin_data).map_err(CniError::internal)?;
    let net = NetConf::parse(&args.stdin_data)
        .map_err(|e| CniError::internal(format!("failed to parse network config: {e}")))?;
    // libcni's rule: no list at all means nothing is known to be stale; `null` or `[]` means
    // nothing of this network is live.
    let Some(valid) = net.gc_valid_attachments() else {
        return Ok(());
    };
    let Some(mut store) =
        DiskStore::open_existing(&location.name, &location.data_dir).map_err(|e| e.to_cni())?
    else {
        return Ok(());
    };
    store
        .gc(&ValidAttachments::new(valid))
        .map_err(|e| e.to_cni())
}
