//! The values stored under Calico's IPAM keys (libcalico-go `backend/model`), with the JSON
//! field names and `omitempty` rules of the Go structs, and the [`Model`] trait every stored
//! value implements.

mod affinity;
mod block;
mod handle;
mod ipam_config;

pub use affinity::{AffinityState, BlockAffinity};
pub use block::{
    AllocationAttribute, Block, ATTR_NAMESPACE, ATTR_NODE, ATTR_POD, ATTR_TIMESTAMP, ATTR_VMIM_UID,
    ATTR_VMI_NAME, ATTR_VMI_UID, ATTR_VM_UID,
};
pub use handle::Handle;
pub use ipam_config::{
    IpamConfig, VM_ADDRESS_PERSISTENCE_DISABLED, VM_ADDRESS_PERSISTENCE_ENABLED,
};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

/// A value stored in the datastore: JSON as Go's `encoding/json` writes it, Calico's defaults
/// applied on read.
pub trait Model: Serialize + DeserializeOwned + Sized {
    /// Parses a stored value and applies Calico's read-time defaults.
    fn decode(bytes: &[u8]) -> serde_json::Result<Self> {
        let mut v: Self = serde_json::from_slice(bytes)?;
        v.apply_defaults();
        Ok(v)
    }

    /// The defaults Calico fills in for fields a writer left out.
    fn apply_defaults(&mut self) {}

    /// The stored form: compact JSON with Go's HTML-safe escaping (`<`, `>`, `&` as `\u003c`...),
    /// byte-for-byte what `json.Marshal` writes for the same struct.
    fn encode(&self) -> Vec<u8> {
        libcni::json::to_compact(self).into_bytes()
    }
}

/// Go decodes `null` into a nil slice or map; serde would reject it.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
