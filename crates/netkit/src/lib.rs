//! Network toolkit for the CNI plugins: network namespaces, an rtnetlink
//! client bound to a namespace, links, addresses, routes, veth pairs and
//! sysctls.
//!
//! Everything is synchronous. Namespace-sensitive work happens either on a
//! netlink socket created inside the namespace (`Netlink::open_in`) or on a
//! short-lived thread that entered it (`NetNs::run`), never by switching the
//! caller's own thread.

mod addr;
mod error;
mod link;
mod netlink;
mod netns;
mod route;
mod sysctl;
mod veth;

pub use addr::IpFamily;
pub use error::{go_quote, strerror, NetkitError};
pub use link::{format_mac, Link, MAX_IFNAME_LEN};
pub use netlink::Netlink;
pub use netns::NetNs;
pub use route::{Route, SCOPE_HOST, SCOPE_LINK, SCOPE_UNIVERSE, TABLE_MAIN};
pub use sysctl::{sysctl_get, sysctl_path, sysctl_set};

/// Re-exported so callers name the same `IpNetwork` type netkit uses.
pub use ipnetwork;

pub type Result<T> = std::result::Result<T, NetkitError>;
