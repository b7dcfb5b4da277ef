//! IPAM delegation through CNI_PATH with the plugin's own stdin and environment.

use calicolog::warning;
use libcni::runtime::delegate;
use libcni::types::v100::Result100;
use libcni::{code, CmdArgs, CniError};

use crate::config::NetConf;

pub fn add(conf: &NetConf, args: &CmdArgs, stdin: &[u8]) -> Result<Result100, CniError> {
    let r = delegate::delegate_add(&conf.ipam.ipam_type, stdin, args)?;
    r.to_current().map_err(|e| {
        // The allocation happened: give it back before failing.
        release(conf, args, stdin);
        CniError::new(code::INTERNAL, e)
    })
}

pub fn del(conf: &NetConf, args: &CmdArgs, stdin: &[u8]) -> Result<(), CniError> {
    delegate::delegate_del(&conf.ipam.ipam_type, stdin, args)
}

/// Best-effort release after a failed ADD (Calico's `ReleaseIPAllocation`).
pub fn release(conf: &NetConf, args: &CmdArgs, stdin: &[u8]) {
    if let Err(e) = del(conf, args, stdin) {
        warning!(
            "failed to release IPAM allocation after a failed ADD: {}",
            e.msg
        );
    }
}
