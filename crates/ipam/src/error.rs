//! IPAM errors: a datastore failure (with its CNI code, 11 where a retry can succeed) or one of
//! libcalico-go's IPAM texts (999).

use libcni::CniCode;

use datastore::DatastoreError;

#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    #[error(transparent)]
    Datastore(#[from] DatastoreError),
    /// libcalico-go's wording, e.g. `no configured Calico pools for node n1`.
    #[error("{0}")]
    Msg(String),
}

impl IpamError {
    pub fn msg(s: impl Into<String>) -> Self {
        IpamError::Msg(s.into())
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, IpamError::Datastore(e) if e.is_not_found())
    }
}

impl CniCode for IpamError {
    fn code(&self) -> u32 {
        match self {
            IpamError::Datastore(e) => e.code(),
            IpamError::Msg(_) => libcni::error::code::INTERNAL,
        }
    }
}

pub type Result<T, E = IpamError> = std::result::Result<T, E>;
