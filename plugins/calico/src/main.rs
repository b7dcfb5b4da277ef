//! CNI `calico`: pod networking like Calico's — a veth per workload with a fixed host MAC and
//! link-scoped gateways, a WorkloadEndpoint per attachment in the Calico datastore (local
//! store or etcd), IPAM delegated through CNI_PATH.

mod add;
mod check;
mod config;
mod context;
mod dataplane;
mod del;
mod flags;
mod gc;
mod grpc;
mod ipam;
mod k8s;
mod k8s_add;
mod mesos;
mod names;
mod policy_wait;
mod readiness;

use libcni::skel::{self, CmdArgs, Plugin};
use libcni::{version, CniError, CniResult, PluginInfo};

#[global_allocator]
static ALLOC: skel::PluginAllocator = skel::PluginAllocator;

struct Calico;

impl Plugin for Calico {
    fn add(&self, args: &CmdArgs) -> Result<CniResult, CniError> {
        add::add(args)
    }

    fn del(&self, args: &CmdArgs) -> Result<(), CniError> {
        del::del(args)
    }

    fn check(&self, args: &CmdArgs) -> Result<(), CniError> {
        check::check(args)
    }

    fn gc(&self, args: &CmdArgs) -> Result<(), CniError> {
        gc::gc(args)
    }

    fn status(&self, args: &CmdArgs) -> Result<(), CniError> {
        gc::status(args)
    }
}

/// Calico prepends `IgnoreUnknown=1` to CNI_ARGS before anything reads it, so runtimes may
/// pass keys Calico does not know; the delegated IPAM plugin inherits it.
fn ignore_unknown_args() {
    let args = std::env::var("CNI_ARGS").unwrap_or_default();
    let value = if args.is_empty() {
        "IgnoreUnknown=1".to_string()
    } else {
        format!("IgnoreUnknown=1;{args}")
    };
    // Single-threaded here: nothing else reads the environment yet.
    std::env::set_var("CNI_ARGS", value);
}

const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

fn main() {
    match flags::parse(std::env::args().skip(1)) {
        Ok(flags::Flags { version: true, .. }) => {
            println!("{VERSION}");
            return;
        }
        Ok(flags::Flags { test: true, .. }) => std::process::exit(flags::test_connection()),
        Ok(_) => {}
        Err(details) => {
            flags::print_error("failed to parse CLI flags", &details);
            std::process::exit(1);
        }
    }
    ignore_unknown_args();
    skel::run(
        &Calico,
        &PluginInfo::supports(version::ALL),
        &format!("Calico CNI plugin {VERSION}"),
    )
}
