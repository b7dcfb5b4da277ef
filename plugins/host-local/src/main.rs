//! CNI `host-local`: IPAM from configured ranges, reservations kept in a directory per
//! network on the node. Drop-in for the reference plugin: same config, results, error texts
//! and store (either implementation can take over the other's store, even concurrently),
//! plus real GC and STATUS.
//!
//! - [`config`]: the network config (decoded with Go's rules by `libcni::gojson`),
//!   [`range`] and [`range_set`] for address ranges, [`ip`] for Go's address arithmetic,
//!   [`dns`] for `resolvConf`;
//! - [`allocator`]: one address from one range set, round-robin;
//! - [`store`]: the reservation store trait and the on-disk store with its lock;
//! - one module per verb: [`add`], [`del`], [`check`], [`gc`], [`status`].

mod add;
mod allocator;
mod check;
mod config;
mod del;
mod dns;
mod gc;
mod ip;
mod range;
mod range_set;
mod status;
mod store;

use libcni::skel::{self, CmdArgs, Plugin};
use libcni::{version, CniError, CniResult, PluginInfo};

#[global_allocator]
static ALLOC: skel::PluginAllocator = skel::PluginAllocator;

struct HostLocal;

impl Plugin for HostLocal {
    fn add(&self, args: &CmdArgs) -> Result<CniResult, CniError> {
        add::run(args)
    }

    fn del(&self, args: &CmdArgs) -> Result<(), CniError> {
        del::run(args)
    }

    fn check(&self, args: &CmdArgs) -> Result<(), CniError> {
        check::run(args)
    }

    fn gc(&self, args: &CmdArgs) -> Result<(), CniError> {
        gc::run(args)
    }

    fn status(&self, args: &CmdArgs) -> Result<(), CniError> {
        status::run(args)
    }
}

fn main() {
    skel::run(
        &HostLocal,
        &PluginInfo::supports(version::ALL),
        &skel::about("host-local"),
    )
}
