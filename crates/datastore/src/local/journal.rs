//! The write-ahead journal that makes a multi-key transaction crash-atomic.
//!
//! A transaction's value files are replaced one rename at a time, so a process killed between
//! two renames (or a machine that stops) would leave some keys new and others old. Before
//! its first rename, a transaction writes its record (its revision and every write, put values
//! in full, then a trailer holding a checksum of all that) into `<root>/journal.idle`, syncs it
//! together with the transaction's temporary files (one journal commit of the filesystem for
//! all of them), and renames it to `<root>/journal`: from then on the transaction is committed.
//! The renames and removals follow, and the file is renamed back to `journal.idle`, where the
//! next transaction overwrites it in place (`files::apply_batch`).
//!
//! Whoever next takes the store's write lock and finds `journal` finishes what it says (a
//! record that does not decode, which the protocol never names `journal`, is dropped).
//! Readers that find one take the write lock to do the same before they read, so nobody ever
//! sees part of a transaction.
//!
//! Neither the directories of the renamed files nor the journal's return to idle are synced
//! (each fsync is a device cache flush, the bulk of a write's cost). Until the renames are
//! durable the pending journal is, and its rename back cannot reach the disk before them (the
//! filesystem commits metadata in order), so a machine crash leaves either the new files or
//! the journal to replay them from. A journal can also come back pending that was applied and
//! then overtaken by later writes. Every later write commits metadata durably (a directory
//! fsync, or its own journal's rename), which carries the earlier renames with it, and leaves
//! a newer revision durable (its value file, a delete's synced counter, or its journal), so
//! the recovered counter is above the journal's revision. A journal is replayed only when its
//! revision is at least the counter's; otherwise it is stale and dropped.
//!
//! ```text
//! cni-rs txn journal 1\n
//! revision <n>\n
//! put <key bytes> <file bytes>\n<key><value file contents>\n
//! delete <key bytes>\n<key>\n
//! end <writes> <FNV-1a 64 of everything above, 16 hex digits>\n
//! (anything after the trailer: left over from an earlier, longer record)
//! ```

use std::fmt::Write as _;

use crate::kv::Revision;

/// The journal while it counts: a transaction is being applied, or its writer died.
pub(crate) const PENDING: &str = "journal";
/// The same file between transactions (overwritten in place by the next one).
pub(crate) const IDLE: &str = "journal.idle";
const MAGIC: &str = "cni-rs txn journal 1\n";
/// The largest journal a transaction may write, so that every committed journal can be read
/// back (the read is bounded: `libcni::fs`).
pub(crate) const MAX_SIZE: u64 = 64 << 20;

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// The key's value file gets exactly these bytes (`files::encode_value`).
    Put {
        key: String,
        file: Vec<u8>,
    },
    Delete {
        key: String,
    },
}

/// A transaction as the journal holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub revision: Revision,
    pub ops: Vec<Op>,
}

impl Record {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let size: usize = self
            .ops
            .iter()
            .map(|op| match op {
                Op::Put { key, file } => key.len() + file.len() + 32,
                Op::Delete { key } => key.len() + 16,
            })
            .sum();
        let mut out = Vec::with_capacity(size + 96);
        out.extend_from_slice(MAGIC.as_bytes());
        out.extend_from_slice(format!("revision {}\n", self.revision).as_bytes());
        for op in &self.ops {
            match op {
                Op::Put { key, file } => {
                    out.extend_from_slice(format!("put {} {}\n", key.len(), file.len()).as_bytes());
                    out.extend_from_slice(key.as_bytes());
                    out.extend_from_slice(file);
                }
                Op::Delete { key } => {
                    out.extend_from_slice(format!("delete {}\n", key.len()).as_bytes());
                    out.extend_from_slice(key.as_bytes());
                }
            }
            out.push(b'\n');
        }
        let mut trailer = String::new();
        let _ = writeln!(trailer, "end {} {:016x}", self.ops.len(), fnv1a(&out));
        out.extend_from_slice(trailer.as_bytes());
        out
    }

    /// The record, or `None` when the bytes are not one whole journal (a torn write).
    pub(crate) fn decode(bytes: &[u8]) -> Option<Record> {
        let mut rest = bytes.strip_prefix(MAGIC.as_bytes())?;
        let revision = line(&mut rest)?.strip_prefix("revision ")?.parse().ok()?;
        let mut ops = Vec::new();
        loop {
            let body_len = bytes.len() - rest.len();
            let header = line(&mut rest)?;
            let mut words = header.split(' ');
            match words.next()? {
                "put" => {
                    let key_len: usize = words.next()?.parse().ok()?;
                    let file_len: usize = words.next()?.parse().ok()?;
                    let key = take(&mut rest, key_len)?;
                    let file = take(&mut rest, file_len)?.to_vec();
                    take(&mut rest, 1).filter(|nl| nl == b"\n")?;
                    ops.push(Op::Put {
                        key: String::from_utf8(key.to_vec()).ok()?,
                        file,
                    });
                }
                "delete" => {
                    let key_len: usize = words.next()?.parse().ok()?;
                    let key = take(&mut rest, key_len)?;
                    take(&mut rest, 1).filter(|nl| nl == b"\n")?;
                    ops.push(Op::Delete {
                        key: String::from_utf8(key.to_vec()).ok()?,
                    });
                }
                "end" => {
                    // What follows the trailer is left over from a longer earlier record (the
                    // file is overwritten in place).
                    let count: usize = words.next()?.parse().ok()?;
                    let sum = u64::from_str_radix(words.next()?, 16).ok()?;
                    let whole = words.next().is_none();
                    return (whole && count == ops.len() && sum == fnv1a(&bytes[..body_len]))
                        .then_some(Record { revision, ops });
                }
                _ => return None,
            }
        }
    }
}

/// The next `\n`-terminated line, as text.
fn line<'a>(rest: &mut &'a [u8]) -> Option<&'a str> {
    let nl = rest.iter().position(|&b| b == b'\n')?;
    let text = std::str::from_utf8(&rest[..nl]).ok()?;
    *rest = &rest[nl + 1..];
    Some(text)
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if rest.len() < n {
        return None;
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Some(head)
}

/// FNV-1a, 64 bit: tells a whole journal from a torn or garbled one (not an adversary's).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            revision: 42,
            ops: vec![
                Op::Put {
                    key: "/calico/ipam/v2/handle/h".into(),
                    file: b"42\n/calico/ipam/v2/handle/h\n{\"block\":{}}\n\n".to_vec(),
                },
                Op::Delete {
                    key: "/calico/ipam/v2/host/n/ipv4/block/10.0.0.0-26".into(),
                },
                Op::Put {
                    key: "/a b".into(),
                    file: vec![0, 10, 255],
                },
            ],
        }
    }

    #[test]
    fn round_trips() {
        let r = sample();
        assert_eq!(Record::decode(&r.encode()), Some(r));
        let empty = Record {
            revision: 1,
            ops: Vec::new(),
        };
        assert_eq!(Record::decode(&empty.encode()), Some(empty));
    }

    /// Every prefix of a journal (what a write killed part-way leaves) and every one-byte
    /// change is refused.
    #[test]
    fn torn_or_garbled_journals_are_refused() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            assert_eq!(Record::decode(&bytes[..cut]), None, "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert_eq!(Record::decode(&b), None, "byte {i} changed");
        }
        // The tail of an earlier, longer record is ignored.
        let mut longer = bytes.clone();
        longer.extend_from_slice(b"delete 3\n/x/y\nend 9 0123456789abcdef\n");
        assert_eq!(Record::decode(&longer), Some(sample()));
    }
}
