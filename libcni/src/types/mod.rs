//! Spec types: configuration, results of every version and their conversions, CNI_ARGS.

pub mod args;
pub mod common;
pub mod config;
pub mod net;
pub mod result;
pub mod v020;
pub mod v040;
pub mod v100;

pub use args::{ArgPair, CniArgs};
pub use common::{Dns, Route};
pub use config::{GcAttachment, NetConf};
pub use net::{parse_cidr, parse_ip};
pub use result::CniResult;
pub use v100::{Interface, IpConfig, Result100};
