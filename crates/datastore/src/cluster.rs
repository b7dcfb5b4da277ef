//! ClusterInformation, the object every Calico component checks before using the datastore
//! (`calico -t` requires `datastoreReady: true`).

use crate::error::Result;
use crate::resources::{ClusterInformation, ClusterInformationSpec, CLUSTER_INFORMATION_NAME};
use crate::store::Datastore;
use crate::{Key, ResourceKey};

impl Datastore {
    /// `clusterinformations/default`, if present.
    pub fn cluster_information(&self) -> Result<Option<ClusterInformation>> {
        self.get_resource(&ResourceKey::global(CLUSTER_INFORMATION_NAME))
    }

    /// libcalico-go's error for a missing ClusterInformation: `resource does not exist:
    /// ClusterInformation(default) with error: <cause>`, the cause being the API's 404 on
    /// Kubernetes and `<nil>` on etcd.
    pub fn missing_cluster_information(&self) -> String {
        let key = ResourceKey::<ClusterInformationSpec>::global(CLUSTER_INFORMATION_NAME);
        format!(
            "resource does not exist: {key} with error: {}",
            self.kv
                .absence_cause(&key.path())
                .unwrap_or_else(|| "<nil>".into())
        )
    }

    /// True when ClusterInformation exists and says `datastoreReady: true`.
    pub fn is_ready(&self) -> Result<bool> {
        Ok(self
            .cluster_information()?
            .is_some_and(|ci| ci.spec.datastore_ready == Some(true)))
    }

    /// Creates `clusterinformations/default` (a random GUID, the given version and type,
    /// ready) unless it exists; returns the stored object either way. What calico-node does on
    /// a new cluster, for setups without calico-node (the local store).
    pub fn ensure_cluster_information(
        &self,
        calico_version: &str,
        cluster_type: &str,
    ) -> Result<ClusterInformation> {
        if let Some(ci) = self.cluster_information()? {
            return Ok(ci);
        }
        let ci = ClusterInformation::new(
            CLUSTER_INFORMATION_NAME,
            ClusterInformationSpec {
                cluster_guid: crate::uuid::new_v4().replace('-', ""),
                cluster_type: cluster_type.to_string(),
                calico_version: calico_version.to_string(),
                datastore_ready: Some(true),
                variant: "Calico".to_string(),
            },
        );
        match self.create_resource(&ci) {
            Ok(created) => Ok(created),
            // Another process created it first: theirs stands.
            Err(e) if e.is_already_exists() => self.cluster_information()?.ok_or(e),
            Err(e) => Err(e),
        }
    }
}
