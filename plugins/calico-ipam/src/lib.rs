//! Calico IPAM for the Rust CNI suite: the allocator (libcalico-go `ipam`) on the `datastore`
//! crate, Calico selectors and node-name resolution. The `calico-ipam` binary is the CNI
//! plugin; the calico plugin and calicoctl use this library.

pub mod error;
pub mod ipam;
pub mod nodename;
pub mod selector;

pub use error::{IpamError, Result};
pub use ipam::{Assignments, AutoAssignArgs, Ipam};
