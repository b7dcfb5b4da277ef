//! CNI `loopback`: sets `lo` up in the container's netns (ADD), down again (DEL), and checks
//! it is up (CHECK). Behaviour and texts follow the reference plugin.

mod config;
mod lo;

use libcni::skel::{self, CmdArgs, Plugin};
use libcni::{version, CniError, CniResult, PluginInfo};

#[global_allocator]
static ALLOC: skel::PluginAllocator = skel::PluginAllocator;

struct Loopback;

impl Plugin for Loopback {
    fn add(&self, args: &CmdArgs) -> Result<CniResult, CniError> {
        let conf = config::parse(&args.stdin_data)?;
        let addrs = lo::bring_up(&args.netns)?;
        let result = match conf.prev_result {
            // A chained loopback passes the previous result through untouched.
            Some(prev) => prev,
            None => lo::result(&conf.cni_version, &args.netns, &addrs),
        };
        result
            .get_as_version(&conf.cni_version)
            .map_err(CniError::internal)
    }

    fn del(&self, args: &CmdArgs) -> Result<(), CniError> {
        lo::bring_down(&args.netns)
    }

    fn check(&self, args: &CmdArgs) -> Result<(), CniError> {
        lo::check_up(&args.netns)
    }
}

fn main() {
    skel::run(
        &Loopback,
        &PluginInfo::supports(version::ALL),
        &skel::about("loopback"),
    )
}
