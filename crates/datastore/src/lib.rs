//! The Calico datastore: Calico's objects under Calico's etcd keys, with Calico's JSON, on
//! one of two backends.
//!
//! - [`Kv`]: a key-value interface with etcd v3's semantics (mod revisions, create-if-absent,
//!   compare-and-swap update and delete, prefix listing), implemented by [`EtcdStore`]
//!   (`etcdv3`) and [`LocalStore`] (an embedded, multi-process, crash-safe store: the default
//!   when neither etcd nor Kubernetes is configured).
//! - [`Datastore`]: typed access — [`keys`] says where each object lives, [`model`] holds the
//!   IPAM values (blocks, affinities, handles, IPAM config), [`resources`] the v3 resources
//!   (IPPool, Node, WorkloadEndpoint, ...), with Calico's defaults applied on read.
//! - [`DatastoreConfig`]: which backend, from a calico NetConf and `CALICO_*`/`ETCD_*`
//!   environment variables with Calico's precedence.
//!
//! Errors are [`DatastoreError`]s with a CNI code ([`libcni::CniCode`]): 11 "try again later"
//! where a retry can succeed.

pub mod batch;
mod cluster;
pub mod config;
pub mod error;
pub mod export;
pub mod keys;
pub mod kubernetes;
pub mod kv;
pub mod local;
pub mod model;
pub mod names;
pub mod resources;
pub mod store;
/// Calico's time formats (in libcni, below the API client that also reads them).
pub use libcni::time;
pub mod uuid;

#[cfg(feature = "etcdv3")]
pub mod etcd;

pub use config::{DatastoreConfig, EtcdConfig, NetConfDatastore};
pub use error::{DatastoreError, Result};
pub use keys::{
    AffinityType, BlockAffinityKey, BlockAffinityList, BlockKey, BlockList, HandleKey, HandleList,
    IpamConfigKey, Key, ListOptions, ResourceKey, ResourceList,
};
pub use kv::{retry_on_conflict, Kv, KvPair, Revision};
pub use local::{LocalStore, DEFAULT_LOCAL_PATH};
pub use model::Model;
pub use store::{Change, Datastore, Listed, Versioned};

#[cfg(feature = "etcdv3")]
pub use etcd::EtcdStore;
