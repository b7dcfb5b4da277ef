//! IPAMConfiguration, the v3 resource calicoctl shows for the IPAM settings
//! (`/calico/resources/v3/projectcalico.org/ipamconfigurations/default`).
//!
//! In etcd mode libcalico-go's IPAM reads `/calico/ipam/v2/config` ([`crate::model::IpamConfig`]);
//! tools that accept this resource should write that key too.

use serde::{Deserialize, Serialize};

use super::{Object, Spec};
use crate::model::IpamConfig;

pub type IpamConfiguration = Object<IpamConfigurationSpec>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamConfigurationSpec {
    #[serde(rename = "strictAffinity", default)]
    pub strict_affinity: bool,
    #[serde(rename = "maxBlocksPerHost", default, skip_serializing_if = "is_zero")]
    pub max_blocks_per_host: i32,
    #[serde(rename = "autoAllocateBlocks", default)]
    pub auto_allocate_blocks: bool,
    #[serde(
        rename = "kubeVirtVMAddressPersistence",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub kube_virt_vm_address_persistence: Option<String>,
}

impl Spec for IpamConfigurationSpec {
    const KIND: &'static str = "IPAMConfiguration";
    const PLURAL: &'static str = "ipamconfigurations";
}

impl From<&IpamConfigurationSpec> for IpamConfig {
    fn from(s: &IpamConfigurationSpec) -> Self {
        IpamConfig {
            strict_affinity: s.strict_affinity,
            auto_allocate_blocks: s.auto_allocate_blocks,
            max_blocks_per_host: i64::from(s.max_blocks_per_host),
            kube_virt_vm_address_persistence: s.kube_virt_vm_address_persistence.clone(),
            ip_cooldown_seconds: 0,
        }
    }
}

impl From<&IpamConfig> for IpamConfigurationSpec {
    fn from(c: &IpamConfig) -> Self {
        IpamConfigurationSpec {
            strict_affinity: c.strict_affinity,
            max_blocks_per_host: i32::try_from(c.max_blocks_per_host).unwrap_or(i32::MAX),
            auto_allocate_blocks: c.auto_allocate_blocks,
            kube_virt_vm_address_persistence: c.kube_virt_vm_address_persistence.clone(),
        }
    }
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}
