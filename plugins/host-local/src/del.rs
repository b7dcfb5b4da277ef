//! DEL: release the attachment's reservations in every range set; unknown attachments and
//! repeated DELs succeed.

use libcni::skel::CmdArgs;
use libcni::{CniCode, CniError};

use crate::config;
use crate::store::disk::DiskStore;
use crate::store::{Key, Store};

pub fn run(args: &CmdArgs) -> Result<(), CniError> {
    let conf = config::load(&args.stdin_data, &args.args).map_err(CniError::internal)?;
    let mut store = DiskStore::open(&conf.name, &conf.data_dir).map_err(|e| e.to_cni())?;
    let key = Key::new(&args.container_id, &args.ifname);
    // Once per range set, as upstream: the second pass also takes legacy reservations.
    let mut errors = Vec::new();
    for _ in &conf.ranges {
        if let Err(e) = store.release_by_id(&key) {
            errors.push(e.to_string());
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CniError::internal(errors.join(";")))
    }
}
