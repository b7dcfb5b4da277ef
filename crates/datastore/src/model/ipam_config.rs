//! Global IPAM settings (`model.IPAMConfig`), stored at `/calico/ipam/v2/config`.

use serde::{Deserialize, Serialize};

use super::Model;

pub const VM_ADDRESS_PERSISTENCE_ENABLED: &str = "Enabled";
pub const VM_ADDRESS_PERSISTENCE_DISABLED: &str = "Disabled";

/// Every field is `omitempty`, so a stored `{}` means strict affinity off **and** automatic
/// block allocation off; an absent key means [`IpamConfig::calico_default`] (allocation on).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamConfig {
    /// No borrowing from blocks affine to other hosts.
    #[serde(rename = "strict_affinity", default, skip_serializing_if = "is_false")]
    pub strict_affinity: bool,
    /// Claim new blocks when the affine ones are full.
    #[serde(
        rename = "auto_allocate_blocks",
        default,
        skip_serializing_if = "is_false"
    )]
    pub auto_allocate_blocks: bool,
    /// Maximum blocks affine to one host; 0 means Calico's default limit.
    #[serde(rename = "maxBlocksPerHost", default, skip_serializing_if = "is_zero")]
    pub max_blocks_per_host: i64,
    /// KubeVirt VM address persistence (`Enabled`/`Disabled`, v3.32); `None` means enabled.
    #[serde(
        rename = "kubeVirtVMAddressPersistence",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub kube_virt_vm_address_persistence: Option<String>,
    /// Seconds a released address rests before reuse (Calico HEAD only; kept when present).
    #[serde(rename = "ipCooldownSeconds", default, skip_serializing_if = "is_zero")]
    pub ip_cooldown_seconds: i64,
}

impl Model for IpamConfig {}

impl IpamConfig {
    /// What libcalico-go's `GetIPAMConfig` returns when the key is absent.
    pub fn calico_default() -> Self {
        IpamConfig {
            auto_allocate_blocks: true,
            ..IpamConfig::default()
        }
    }

    /// KubeVirt address persistence, enabled unless explicitly `Disabled`.
    pub fn vm_address_persistence(&self) -> bool {
        self.kube_virt_vm_address_persistence.as_deref() != Some(VM_ADDRESS_PERSISTENCE_DISABLED)
    }

    /// libcalico-go's `SetIPAMConfig` checks: allocation cannot be impossible everywhere, and a
    /// block limit only makes sense with strict affinity.
    pub fn validate(&self) -> Result<(), &'static str> {
        if !self.strict_affinity && !self.auto_allocate_blocks {
            return Err(
                "Cannot disable 'StrictAffinity' and 'AutoAllocateBlocks' at the same time",
            );
        }
        if self.max_blocks_per_host < 0 {
            return Err("MaxBlocksPerHost cannot be negative");
        }
        if self.max_blocks_per_host > 0 && !self.strict_affinity {
            return Err("MaxBlocksPerHost requires StrictAffinity to be enabled");
        }
        Ok(())
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omitempty_and_defaults() {
        assert_eq!(IpamConfig::default().encode(), b"{}");
        assert!(!IpamConfig::decode(b"{}").unwrap().auto_allocate_blocks);
        let c = IpamConfig::calico_default();
        assert_eq!(c.encode(), br#"{"auto_allocate_blocks":true}"#);
        assert!(c.vm_address_persistence());
        let strict = IpamConfig {
            strict_affinity: true,
            auto_allocate_blocks: true,
            max_blocks_per_host: 4,
            kube_virt_vm_address_persistence: Some("Disabled".into()),
            ip_cooldown_seconds: 0,
        };
        assert_eq!(
            String::from_utf8(strict.encode()).unwrap(),
            r#"{"strict_affinity":true,"auto_allocate_blocks":true,"maxBlocksPerHost":4,"kubeVirtVMAddressPersistence":"Disabled"}"#
        );
        assert!(!strict.vm_address_persistence());
        assert!(strict.validate().is_ok());
        assert!(IpamConfig::default().validate().is_err());
        let limit_without_strict = IpamConfig {
            max_blocks_per_host: 2,
            ..IpamConfig::calico_default()
        };
        assert!(limit_without_strict.validate().is_err());
    }
}
