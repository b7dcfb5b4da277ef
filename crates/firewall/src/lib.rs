//! Firewall driver for the CNI plugins: drives `iptables`/`ip6tables` and `nft` the way the Go
//! reference plugins do (same chains, same rule text), plus the two netlink conversations that
//! go with port mapping (conntrack cleanup, route lookup).
//!
//! - [`portmap`]: the `portmap` plugin's rules behind one trait, [`portmap::PortMapper`], with
//!   an iptables and an nftables backend.
//! - [`iptables`], [`nftables`]: thin command drivers (read a table back, check, batch edits).
//! - [`conntrack`], [`netlink`]: conntrack entry deletion and a minimal netlink client.

pub mod conntrack;
mod error;
mod exec;
mod family;
pub mod iptables;
mod lock;
pub mod netlink;
pub mod nftables;
pub mod portmap;

pub use error::{FirewallError, Result};
pub use exec::{Output, Tool};
pub use family::Family;
pub use iptables::{Iptables, Variant};
pub use lock::{FileLock, LOCK_PATH};
