//! An IPAM handle (`model.IPAMHandle`), stored at `/calico/ipam/v2/handle/<id>`: how many
//! addresses the handle holds in which block. The handle id lives only in the key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{null_as_default, Model};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handle {
    /// Block CIDR (`10.0.0.0/26`) → number of addresses held there.
    #[serde(default, deserialize_with = "null_as_default")]
    pub block: BTreeMap<String, i64>,
    #[serde(default)]
    pub deleted: bool,
}

impl Model for Handle {}

impl Handle {
    /// Adds `n` addresses in block `cidr`.
    pub fn increment(&mut self, cidr: &str, n: i64) {
        *self.block.entry(cidr.to_string()).or_default() += n;
    }

    /// Removes `n` addresses in block `cidr`, dropping the block when none are left. Returns
    /// false (and changes nothing) if the handle holds fewer than `n` there.
    pub fn decrement(&mut self, cidr: &str, n: i64) -> bool {
        match self.block.get_mut(cidr) {
            Some(have) if *have >= n => {
                *have -= n;
                if *have == 0 {
                    self.block.remove(cidr);
                }
                true
            }
            _ => false,
        }
    }

    /// True when the handle holds no address (and should be deleted).
    pub fn is_empty(&self) -> bool {
        self.block.values().all(|&n| n <= 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_counting() {
        let mut h = Handle::default();
        h.increment("10.0.0.0/26", 1);
        h.increment("fd80::/122", 1);
        h.increment("10.0.0.0/26", 1);
        assert_eq!(
            String::from_utf8(h.encode()).unwrap(),
            r#"{"block":{"10.0.0.0/26":2,"fd80::/122":1},"deleted":false}"#
        );
        assert!(h.decrement("10.0.0.0/26", 2));
        assert!(!h.decrement("fd80::/122", 2));
        assert!(h.decrement("fd80::/122", 1));
        assert!(h.is_empty());
        assert_eq!(
            String::from_utf8(h.encode()).unwrap(),
            r#"{"block":{},"deleted":false}"#
        );
        assert_eq!(
            Handle::decode(br#"{"block":null}"#).unwrap(),
            Handle::default()
        );
    }
}
