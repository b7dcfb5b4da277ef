//! The runtime side of the protocol (Go's `libcni` and `pkg/invoke`): finding and executing
//! plugins ([`invoke`]), network configuration files ([`conf`]), building each plugin's
//! stdin ([`inject`]), the result cache ([`cache`]), running a network's plugin chain
//! ([`api`]) and IPAM delegation for plugins ([`delegate`]).

pub mod api;
pub mod cache;
pub mod conf;
pub mod delegate;
pub mod error;
pub mod inject;
pub mod invoke;
mod pipes;

pub use api::{CniConfig, RuntimeConf};
pub use cache::{NetworkAttachment, ResultCache, DEFAULT_CACHE_DIR};
pub use conf::{
    conf_files, load_conf, load_conf_list, load_default_network, load_file, NetworkConfigList,
    PluginConfig,
};
pub use delegate::{delegate_add, delegate_check, delegate_del, delegate_gc, delegate_status};
pub use error::RuntimeError;
pub use invoke::{exec_plugin, exec_with_result, find_in_path, get_version_info, Env};
