//! How keys map to files: one directory per key segment, the value in `<last segment>.kv`.
//!
//! `/calico/ipam/v2/handle/net1.abc` → `data/calico/ipam/v2/handle/net1.abc.kv`
//!
//! A segment is written as is when it only holds `[A-Za-z0-9._:@+=,-]`; any other byte is
//! `%XX`, and so is a leading `.` (no `.`/`..`/hidden names: temporary files start with `.`)
//! and the `.` of a segment ending in `.kv` (a directory name never ends in `.kv`, so a key may
//! be both a value and a prefix of other keys, as in etcd). A name that would not fit in 255
//! bytes is cut and suffixed `~<hash>` (`~` is otherwise always escaped); those names cannot be
//! decoded, which is why every value file also records its full key.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{DatastoreError, Result};

pub(crate) const VALUE_SUFFIX: &str = ".kv";
const MAX_NAME: usize = 255;

/// Checks a key the local store can hold: absolute, no empty segment, no NUL or newline.
pub(crate) fn check_key(key: &str) -> Result<()> {
    let invalid = |reason| {
        Err(DatastoreError::InvalidKey {
            key: key.to_string(),
            reason,
        })
    };
    if !key.starts_with('/') {
        return invalid("keys must start with '/'");
    }
    if key.bytes().any(|b| b == 0 || b == b'\n') {
        return invalid("keys cannot hold NUL or newline");
    }
    if key[1..].split('/').any(str::is_empty) {
        return invalid("keys cannot have empty segments");
    }
    Ok(())
}

/// The file holding `key`'s value (the key must have passed [`check_key`]).
pub(crate) fn value_path(data: &Path, key: &str) -> PathBuf {
    let mut segs: Vec<&str> = key[1..].split('/').collect();
    let last = segs.pop().unwrap_or_default();
    let mut path = data.to_path_buf();
    for seg in segs {
        path.push(escape(seg, 0));
    }
    let mut name = escape(last, VALUE_SUFFIX.len());
    name.push_str(VALUE_SUFFIX);
    path.push(name);
    path
}

/// The directory of the complete segments of a list prefix, and the partial last segment:
/// `/a/b/c` → (`data/a/b`, `c`); `/a/b/` → (`data/a/b`, ``).
pub(crate) fn prefix_dir<'p>(data: &Path, prefix: &'p str) -> (PathBuf, &'p str) {
    let rest = prefix.strip_prefix('/').unwrap_or(prefix);
    let mut dir = data.to_path_buf();
    match rest.rsplit_once('/') {
        Some((dirs, partial)) => {
            for seg in dirs.split('/') {
                dir.push(escape(seg, 0));
            }
            (dir, partial)
        }
        None => (dir, rest),
    }
}

/// The segment a directory entry name stands for: `Some` for plain and escaped names, `None`
/// for cut-and-hashed ones (their files must be read to learn their keys).
pub(crate) fn unescape(name: &str) -> Option<String> {
    if name.contains('~') {
        return None;
    }
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = name.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn escape(seg: &str, reserve: usize) -> String {
    let mut out = String::with_capacity(seg.len());
    for (i, b) in seg.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric()
            || matches!(b, b'_' | b'-' | b':' | b'@' | b'+' | b'=' | b',')
            || (b == b'.' && i > 0);
        if plain {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    if out.ends_with(VALUE_SUFFIX) {
        let stem = out.len() - VALUE_SUFFIX.len();
        out.replace_range(stem..stem + 1, "%2E");
    }
    if out.len() + reserve > MAX_NAME {
        // Escaped names are ASCII, so any byte index is a char boundary.
        out.truncate(MAX_NAME - reserve - 17);
        let _ = write!(out, "~{:016x}", fnv1a(seg.as_bytes()));
    }
    out
}

/// FNV-1a, 64 bit: only tells long names apart; a collision is caught by the key check.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calico_keys_stay_readable() {
        let data = Path::new("/d");
        assert_eq!(
            value_path(data, "/calico/ipam/v2/assignment/ipv6/block/fd80::-122"),
            Path::new("/d/calico/ipam/v2/assignment/ipv6/block/fd80::-122.kv")
        );
        assert_eq!(
            value_path(data, "/calico/ipam/v2/handle/k8s-pod-network.0a1b"),
            Path::new("/d/calico/ipam/v2/handle/k8s-pod-network.0a1b.kv")
        );
        assert_eq!(
            value_path(data, "/calico/resources/v3/projectcalico.org/ippools/p"),
            Path::new("/d/calico/resources/v3/projectcalico.org/ippools/p.kv")
        );
    }

    #[test]
    fn odd_segments_are_escaped_and_round_trip() {
        for seg in [
            ".",
            "..",
            ".hidden",
            "a b",
            "x.kv",
            "100%",
            "tab\there",
            "ü",
            "a~b",
        ] {
            let name = escape(seg, 0);
            assert!(!name.starts_with('.'), "{seg} → {name}");
            assert!(!name.ends_with(VALUE_SUFFIX), "{seg} → {name}");
            assert!(!name.contains('/') && !name.contains(' '), "{seg} → {name}");
            assert_eq!(unescape(&name).as_deref(), Some(seg), "{seg} → {name}");
        }
        assert_eq!(escape("x.kv", 0), "x%2Ekv");
    }

    #[test]
    fn long_names_are_cut_and_hashed() {
        let long = "a".repeat(300);
        let other = format!("{}b", "a".repeat(299));
        let p1 = value_path(Path::new("/d"), &format!("/x/{long}"));
        let p2 = value_path(Path::new("/d"), &format!("/x/{other}"));
        let n1 = p1.file_name().unwrap().to_str().unwrap();
        assert!(n1.len() <= MAX_NAME, "{}", n1.len());
        assert!(n1.ends_with(VALUE_SUFFIX));
        assert_ne!(p1, p2);
        assert_eq!(unescape(n1.trim_end_matches(VALUE_SUFFIX)), None);
        // 253 characters (the longest Kubernetes name) + ".kv" fits without hashing.
        let k8s = "b".repeat(252);
        let n = escape(&k8s, VALUE_SUFFIX.len());
        assert_eq!(n, k8s);
    }

    #[test]
    fn keys_are_checked() {
        assert!(check_key("/calico/x").is_ok());
        for bad in ["calico/x", "/calico//x", "/calico/x/", "/a\nb", "/"] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn prefixes_split_into_directory_and_partial_segment() {
        let data = Path::new("/d");
        assert_eq!(
            prefix_dir(data, "/calico/ipam/v2/host/n1/"),
            (PathBuf::from("/d/calico/ipam/v2/host/n1"), "")
        );
        assert_eq!(
            prefix_dir(
                data,
                "/calico/resources/v3/projectcalico.org/workloadendpoints/ns/n1-k8s-"
            ),
            (
                PathBuf::from("/d/calico/resources/v3/projectcalico.org/workloadendpoints/ns"),
                "n1-k8s-"
            )
        );
        assert_eq!(prefix_dir(data, "/cal"), (PathBuf::from("/d"), "cal"));
        assert_eq!(prefix_dir(data, ""), (PathBuf::from("/d"), ""));
    }
}
