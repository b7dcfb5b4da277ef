//! Test kit for the plugins and netkit: throwaway network namespaces,
//! running plugin binaries the way a container runtime does, and locating
//! binaries to test.
//!
//! Everything here panics on failure: it is only meant for tests, where a
//! panic with a clear message is the most useful outcome.

pub mod containerd;
pub mod crash;
pub mod cri;
mod etcd;
pub mod fuzz;
pub mod go_oracle;
mod kubeapi;
mod local_store;
mod netns;
mod paths;
mod pki;
mod plugin;
mod podman;
mod private_dir;
mod rng;
mod root;
mod tools;

pub use etcd::{EtcdServer, ETCD_BINARY};
pub use kubeapi::{
    Action, ApiGroups, Fault, KubeApi, KubeApiOptions, Method, RequestRecord, Rule, ADMIN_TOKEN,
    ADMIN_USER, CNI_TOKEN, CNI_USER,
};
pub use local_store::{add_ip_pool, kv_entry, kv_files};
pub use netns::{remove_leftovers, TempNetns};
pub use paths::{go_plugin, image_root, temp_dir, workspace_bin, GO_PLUGIN_DIR};
pub use pki::{ec_key, issue, make_pki, openssl, sign, sign_subject, TlsFiles};
pub use plugin::{Invocation, PluginRun};
pub use podman::{require_podman, Podman};
pub use private_dir::{PrivateDirLauncher, PrivateEntry};
pub use root::require_root;
pub use tools::{apt_install, have, loud_skip, show_output};
