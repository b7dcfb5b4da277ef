//! Calico IPAM (libcalico-go's `ipam` package) on the `datastore` crate: auto-assignment from
//! affine, new and borrowed blocks, specific-IP assignment, release by handle or address,
//! affinity release; plus Calico selectors (pool node and namespace selectors) and Calico's
//! node-name resolution. The `calico-ipam` plugin, the `calico` plugin and `calicoctl` all use
//! it, so it lives below them.

mod assign;
pub mod block_ops;
pub mod error;
pub mod nodename;
pub mod owner;
pub mod pools;
mod release;
pub use release::ReleaseOptions;
pub mod rng;
pub mod selector;

pub use assign::{
    nth_block, Assignments, AutoAssignArgs, Ipam, DEFAULT_MAX_BLOCKS_PER_HOST, ERR_BLOCK_LIMIT,
    MAX_RETRIES, MSG_STRICT_NO_BLOCKS,
};
pub use error::{IpamError, Result};
pub use pools::{NamespaceLabels, Pool};
