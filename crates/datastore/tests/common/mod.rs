//! Fixtures shared by the datastore integration tests: one per backend, each able to open
//! several independent clients of the same store (what many plugin processes are).

#![allow(dead_code)] // each test binary uses part of this module

use datastore::{Datastore, Kv, LocalStore};
#[cfg(feature = "etcdv3")]
use datastore::{EtcdConfig, EtcdStore};
#[cfg(feature = "etcdv3")]
use testkit::EtcdServer;

pub trait Fixture: Sync {
    /// A new client of the store under test.
    fn open(&self) -> Box<dyn Kv>;

    fn datastore(&self) -> Datastore {
        Datastore::new(self.open())
    }
}

/// The local store in a throwaway directory.
pub struct LocalFixture {
    pub dir: tempfile::TempDir,
}

impl LocalFixture {
    pub fn new() -> Self {
        LocalFixture {
            dir: tempfile::Builder::new()
                .prefix("cnitest-datastore-")
                .tempdir()
                .expect("temporary directory"),
        }
    }
}

impl Fixture for LocalFixture {
    fn open(&self) -> Box<dyn Kv> {
        Box::new(LocalStore::open(self.dir.path()).expect("open the local store"))
    }
}

/// A real etcd started for the test (killed and removed when dropped).
#[cfg(feature = "etcdv3")]
pub struct EtcdFixture {
    pub server: EtcdServer,
}

#[cfg(feature = "etcdv3")]
impl EtcdFixture {
    pub fn new() -> Self {
        EtcdFixture {
            server: EtcdServer::start(),
        }
    }

    pub fn config(&self) -> EtcdConfig {
        EtcdConfig {
            request_timeout: std::time::Duration::from_secs(10),
            ..EtcdConfig::with_endpoints(&self.server.endpoint())
        }
    }
}

#[cfg(feature = "etcdv3")]
impl Fixture for EtcdFixture {
    fn open(&self) -> Box<dyn Kv> {
        Box::new(EtcdStore::connect(&self.config()).expect("connect to etcd"))
    }
}

/// Defines one `#[test]` per backend for each listed case: `case(fixture: &dyn Fixture)`.
#[macro_export]
macro_rules! for_each_backend {
    ($($case:ident),* $(,)?) => {
        mod local {
            $(
                #[test]
                fn $case() {
                    let fixture = $crate::common::LocalFixture::new();
                    super::$case(&fixture);
                }
            )*
        }
        #[cfg(feature = "etcdv3")]
        mod etcd {
            $(
                #[test]
                fn $case() {
                    let fixture = $crate::common::EtcdFixture::new();
                    super::$case(&fixture);
                }
            )*
        }
    };
}
