//! CHECK: the attachment still holds at least one reservation (whatever address it is).

use libcni::skel::CmdArgs;
use libcni::{CniCode, CniError};

use crate::config;
use crate::store::disk::DiskStore;
use crate::store::{Key, Store};

pub fn run(args: &CmdArgs) -> Result<(), CniError> {
    let conf = config::load(&args.stdin_data, &args.args).map_err(CniError::internal)?;
    let mut store = DiskStore::open(&conf.name, &conf.data_dir).map_err(|e| e.to_cni())?;
    let key = Key::new(&args.container_id, &args.ifname);
    if store.find_by_id(&key).map_err(|e| e.to_cni())? {
        Ok(())
    } else {
        Err(CniError::internal(format!(
            "host-local: Failed to find address added by container {}",
            args.container_id
        )))
    }
}
