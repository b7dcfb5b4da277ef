//! The CNI protocol for the suite: spec types and version conversion ([`types`], [`version`]),
//! errors and their codes ([`error`]), the plugin-side dispatcher ([`skel`]), and the
//! runtime side ([`runtime`]: executing plugins, conflists, the result cache, IPAM
//! delegation), decoding JSON exactly as Go does ([`gojson`]), and bounded reads of the files
//! a config names ([`fs`]). No netlink here: this crate only speaks JSON, env and exec.

pub mod error;
pub mod fs;
pub mod gojson;
pub mod json;
pub mod runtime;
pub mod skel;
pub mod time;
pub mod types;
pub mod version;

pub use error::{code, CniCode, CniError};
pub use skel::{CmdArgs, Plugin};
pub use types::{CniResult, NetConf};
pub use version::PluginInfo;
