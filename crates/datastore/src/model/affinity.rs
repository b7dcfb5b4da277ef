//! A host's claim on a block (`model.BlockAffinity`), stored at
//! `/calico/ipam/v2/host/<node>/ipv4/block/10.0.0.0-26`.

use serde::{Deserialize, Serialize};

use super::Model;

/// Where a claim is in its two-phase life: written `pending` before the block is created or
/// taken, `confirmed` once the block carries the affinity, `pendingDeletion` while being
/// released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AffinityState {
    #[serde(rename = "confirmed")]
    Confirmed,
    #[serde(rename = "pending")]
    Pending,
    #[serde(rename = "pendingDeletion")]
    PendingDeletion,
    /// No state: an affinity written by old Calico versions (or an empty value). Counts as
    /// confirmed. Unknown states read as this too.
    #[default]
    #[serde(rename = "", other)]
    Unset,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockAffinity {
    #[serde(default)]
    pub state: AffinityState,
    #[serde(default)]
    pub deleted: bool,
}

impl BlockAffinity {
    pub fn new(state: AffinityState) -> Self {
        BlockAffinity {
            state,
            deleted: false,
        }
    }

    /// Confirmed, or stateless (libcalico-go treats "" as confirmed).
    pub fn is_confirmed(&self) -> bool {
        matches!(self.state, AffinityState::Confirmed | AffinityState::Unset)
    }
}

impl Model for BlockAffinity {
    /// Old Calico wrote affinities with an empty value; libcalico-go reads that as `{}`.
    fn decode(bytes: &[u8]) -> serde_json::Result<Self> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(BlockAffinity::default());
        }
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_with_calicos_names() {
        for (state, json) in [
            (
                AffinityState::Confirmed,
                r#"{"state":"confirmed","deleted":false}"#,
            ),
            (
                AffinityState::Pending,
                r#"{"state":"pending","deleted":false}"#,
            ),
            (
                AffinityState::PendingDeletion,
                r#"{"state":"pendingDeletion","deleted":false}"#,
            ),
        ] {
            let a = BlockAffinity::new(state);
            assert_eq!(String::from_utf8(a.encode()).unwrap(), json);
            assert_eq!(BlockAffinity::decode(json.as_bytes()).unwrap(), a);
        }
    }

    #[test]
    fn empty_and_stateless_values_count_as_confirmed() {
        for raw in [
            "",
            "{}",
            r#"{"state":""}"#,
            r#"{"state":"someday","deleted":false}"#,
        ] {
            let a = BlockAffinity::decode(raw.as_bytes()).unwrap();
            assert_eq!(a.state, AffinityState::Unset, "{raw}");
            assert!(a.is_confirmed(), "{raw}");
        }
        assert!(!BlockAffinity::new(AffinityState::Pending).is_confirmed());
        assert!(!BlockAffinity::new(AffinityState::PendingDeletion).is_confirmed());
    }
}
