//! A plugin whose ADD panics: the skel must still answer with a CNI error (code 999) on
//! stdout and exit 1, never a raw panic message or trace on stdout. Used by `tests/panic.rs`.

use libcni::skel::{self, CmdArgs, Plugin};
use libcni::{CniError, CniResult, PluginInfo};

struct Panicking;

impl Plugin for Panicking {
    fn add(&self, _args: &CmdArgs) -> Result<CniResult, CniError> {
        let empty: Vec<u8> = Vec::new();
        // An out-of-bounds index: the kind of bug a plugin might really have.
        let byte = empty[std::hint::black_box(3)];
        panic!("unreachable {byte}")
    }
    fn del(&self, _args: &CmdArgs) -> Result<(), CniError> {
        panic!("DEL blew up")
    }
    fn check(&self, _args: &CmdArgs) -> Result<(), CniError> {
        Ok(())
    }
}

fn main() {
    skel::run(
        &Panicking,
        &PluginInfo::supports(libcni::version::ALL),
        "panicking test plugin",
    )
}
