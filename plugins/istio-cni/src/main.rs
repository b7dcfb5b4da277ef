//! `istio-cni`: Istio's chained CNI plugin (sidecar mode). See the crate README.

use libcni::skel::{self, PluginAllocator};
use libcni::{version, PluginInfo};

#[global_allocator]
static ALLOC: PluginAllocator = PluginAllocator;

fn main() {
    skel::run(
        &istio_cni::plugin::IstioCni,
        &PluginInfo::supports(version::ALL),
        &format!("CNI plugin istio-cni v{}", env!("CARGO_PKG_VERSION")),
    )
}
