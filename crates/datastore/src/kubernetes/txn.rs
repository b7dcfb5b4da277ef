//! Several writes without a multi-object transaction: applied in order, and when one fails the
//! ones already applied are undone (newest first) before its error is returned. Callers order
//! their writes as Calico does — the handle before the block it counts addresses of — so what
//! a concurrent reader can see between two writes is what Calico's own sequence shows (a
//! handle count ahead of its block, never an address without its handle), and a failed block
//! write takes the handle count back, as Calico's decrement does.

use super::KubeStore;
use crate::batch::Write;
use crate::error::Result;
use crate::kv::{Kv, Revision};

/// How to take back one applied write.
enum Undo {
    /// It was created: delete it again (at the revision it was created at).
    Delete { key: String, revision: Revision },
    /// It was updated from `old`: write `old` back over the new revision.
    Restore {
        key: String,
        old: Vec<u8>,
        revision: Revision,
    },
    /// It was deleted: make it again.
    Recreate { key: String, old: Vec<u8> },
}

pub fn apply(store: &KubeStore, writes: &[Write]) -> Result<Revision> {
    let mut undo: Vec<Undo> = Vec::new();
    let mut last = 0;
    for w in writes {
        let done = match w {
            Write::Create { key, value } => store.create(key, value).inspect(|&r| {
                undo.push(Undo::Delete {
                    key: key.clone(),
                    revision: r,
                });
            }),
            Write::Update {
                key,
                value,
                revision,
            } => {
                // The value being replaced, to put back; a read the caller made is remembered.
                let old = match store.seen_at(key, *revision) {
                    Some(s) => Some(s.value),
                    None => store
                        .get(key)?
                        .filter(|p| p.revision == *revision)
                        .map(|p| p.value),
                };
                store.update(key, value, *revision).inspect(|&r| {
                    if let Some(old) = old {
                        undo.push(Undo::Restore {
                            key: key.clone(),
                            old,
                            revision: r,
                        });
                    }
                })
            }
            Write::Delete { key, revision } => store.delete(key, *revision).map(|old| {
                undo.push(Undo::Recreate {
                    key: key.clone(),
                    old: old.value,
                });
                // A delete makes no revision of its own here; the transaction's is the last write's.
                last
            }),
        };
        match done {
            Ok(r) => last = r,
            Err(e) => {
                // Best effort, newest first: an undo that fails leaves what Calico's interrupted
                // sequence leaves (a handle count a DEL frees).
                for u in undo.into_iter().rev() {
                    let _ = match u {
                        Undo::Delete { key, revision } => {
                            store.delete(&key, Some(revision)).map(drop)
                        }
                        Undo::Restore { key, old, revision } => {
                            store.update(&key, &old, revision).map(drop)
                        }
                        Undo::Recreate { key, old } => store.create(&key, &old).map(drop),
                    };
                }
                return Err(e);
            }
        }
    }
    Ok(last)
}
