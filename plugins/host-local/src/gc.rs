//! GC (CNI 1.1), which the Go plugin only stubs: release every reservation in this
//! network's store whose attachment the runtime no longer lists in
//! `cni.dev/valid-attachments`.
//!
//! Only `<dataDir>/<name>/` is touched, never another network's store. The store lock is
//! held throughout, so a concurrent ADD (ours or Go's) is either complete before the
//! collection or starts after it. A store that does not exist is left uncreated.

use libcni::skel::CmdArgs;
use libcni::types::GcAttachment;
use libcni::{CniCode, CniError};
use serde_json::Value;

use crate::config;
use crate::store::disk::DiskStore;
use crate::store::{Store, ValidAttachments};

const VALID_ATTACHMENTS: &str = "cni.dev/valid-attachments";
/// The old, misspelled key that Go's libcni still sends alongside.
const LEGACY_ATTACHMENTS: &str = "cni.dev/attachments";

pub fn run(args: &CmdArgs) -> Result<(), CniError> {
    let location = config::load_location(&args.stdin_data).map_err(CniError::internal)?;
    let Some(valid) = valid_attachments(&args.stdin_data)? else {
        // The runtime named no list at all, so nothing is known to be stale.
        return Ok(());
    };
    let Some(mut store) =
        DiskStore::open_existing(&location.name, &location.data_dir).map_err(|e| e.to_cni())?
    else {
        return Ok(());
    };
    store
        .gc(&ValidAttachments::new(&valid))
        .map_err(|e| e.to_cni())
}

/// The runtime's list of live attachments.
///
/// Go's libcni sends `null` when its caller passed an empty list (nothing in this network is
/// live), but leaves both keys out when its caller passed no list at all (`cnitool gc` does
/// that): then `None`, and nothing may be released, since live attachments would go too.
fn valid_attachments(stdin: &[u8]) -> Result<Option<Vec<GcAttachment>>, CniError> {
    let value: Value = serde_json::from_slice(stdin).map_err(CniError::internal)?;
    let Some(list) = value
        .get(VALID_ATTACHMENTS)
        .or_else(|| value.get(LEGACY_ATTACHMENTS))
    else {
        return Ok(None);
    };
    if list.is_null() {
        return Ok(Some(Vec::new()));
    }
    libcni::ci::from_value(list.clone())
        .map(Some)
        .map_err(|e| CniError::internal(format!("failed to parse {VALID_ATTACHMENTS}: {e}")))
}
