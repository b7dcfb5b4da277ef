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

/// How often an undo re-reads and tries again after its own write lost a race.
const UNDO_ATTEMPTS: u32 = 100;

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

/// Undoes one write, retried like Calico's handle decrement when the undo's own write loses
/// a race: the key is read again and, while it still holds what this transaction wrote, put
/// back. Once someone else has changed it, it is theirs (an undo never overwrites another
/// writer), and that is what Calico's interrupted sequence leaves too: a handle count a DEL
/// frees.
fn take_back(store: &KubeStore, u: Undo) -> Result<()> {
    match u {
        Undo::Recreate { key, old } => store.create(&key, &old).map(drop),
        Undo::Delete { key, revision } => while_ours(store, &key, revision, |rev| {
            store.delete(&key, Some(rev)).map(drop)
        }),
        Undo::Restore { key, old, revision } => while_ours(store, &key, revision, |rev| {
            store.update(&key, &old, rev).map(drop)
        }),
    }
}

/// Runs `write` at the revision this transaction left `key` at; after a lost race, again at
/// the new revision as long as the key still holds this transaction's value.
fn while_ours(
    store: &KubeStore,
    key: &str,
    revision: Revision,
    write: impl Fn(Revision) -> Result<()>,
) -> Result<()> {
    let ours = store.seen_at(key, revision).map(|s| s.value);
    let mut rev = revision;
    for _ in 0..UNDO_ATTEMPTS {
        match write(rev) {
            Err(e) if e.is_conflict() => match store.get(key)? {
                Some(cur) if Some(&cur.value) == ours.as_ref() => rev = cur.revision,
                _ => return Ok(()),
            },
            other => return other,
        }
    }
    Ok(())
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
                for u in undo.into_iter().rev() {
                    let _ = take_back(store, u);
                }
                return Err(e);
            }
        }
    }
    Ok(last)
}
