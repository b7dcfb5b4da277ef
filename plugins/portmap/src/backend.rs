//! The firewall backend for this invocation, including upstream's default: iptables, unless
//! it is unusable and nftables works.
//!
//! Upstream probes both tools on every invocation before doing anything. We start with
//! iptables and fall back only if its first operation finds iptables unusable (tool missing,
//! table unreadable) and nftables works: the same choice, without two probe execs per call.

use firewall::nftables::Nft;
use firewall::portmap::{IptablesPortMapper, NftablesPortMapper, PortMapper, NFT_TABLE};
use firewall::{Family, Iptables, Result};

use crate::config::{Backend, Probe};

/// Asks the host (upstream's `SupportsIPTables` / `SupportsNFTables`).
pub struct HostProbe;

impl Probe for HostProbe {
    fn iptables_usable(&self) -> bool {
        Iptables::new(Family::V4)
            .and_then(|i| i.list("filter"))
            .is_ok()
    }

    fn nftables_usable(&self) -> bool {
        Nft::new()
            .and_then(|n| n.check(&format!("add table ip {NFT_TABLE}\n")))
            .is_ok()
    }
}

pub struct Firewall {
    mapper: Box<dyn PortMapper>,
    /// Still free to fall back to nftables (auto mode, nothing done yet).
    may_fall_back: bool,
}

impl Firewall {
    pub fn new(backend: Backend) -> Self {
        match backend {
            Backend::Nftables => Firewall {
                mapper: Box::new(NftablesPortMapper::new()),
                may_fall_back: false,
            },
            Backend::Iptables | Backend::Auto => Firewall {
                mapper: Box::new(IptablesPortMapper::new()),
                may_fall_back: backend == Backend::Auto,
            },
        }
    }

    /// Runs `op` on the backend; in auto mode, an unusable iptables on the first operation
    /// switches to nftables for the rest of the invocation if nftables works.
    pub fn run<T>(&mut self, op: impl Fn(&dyn PortMapper) -> Result<T>) -> Result<T> {
        let result = op(&*self.mapper);
        let fall_back = self.may_fall_back;
        self.may_fall_back = false;
        match result {
            Err(e) if fall_back && e.is_unavailable() && HostProbe.nftables_usable() => {
                self.mapper = Box::new(NftablesPortMapper::new());
                op(&*self.mapper)
            }
            other => other,
        }
    }
}
