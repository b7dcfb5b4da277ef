//! Calico's "file comparison tests" for `destinationUptoDate`, against our
//! `destination_up_to_date`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use install::copy::{copy_file_and_permissions, destination_up_to_date, Copied};

/// 256000 pseudo-random letters: four times Calico's 64000-byte read buffer.
fn big_file() -> Vec<u8> {
    let letters = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..256_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            letters[(x % letters.len() as u64) as usize]
        })
        .collect()
}

struct Pair {
    _dir: tempfile::TempDir,
    src: PathBuf,
    dst: PathBuf,
}

fn pair(src: &[u8], dst: &[u8]) -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let (s, d) = (dir.path().join("srcFile"), dir.path().join("dstFile"));
    fs::write(&s, src).unwrap();
    fs::write(&d, dst).unwrap();
    for p in [&s, &d] {
        fs::set_permissions(p, fs::Permissions::from_mode(0o644)).unwrap();
    }
    Pair {
        _dir: dir,
        src: s,
        dst: d,
    }
}

fn up_to_date(p: &Pair) -> bool {
    destination_up_to_date(&p.src, &p.dst).unwrap()
}

#[test]
fn equal_files() {
    assert!(up_to_date(&pair(b"doesn't matter", b"doesn't matter")));
}

#[test]
fn unequal_files() {
    assert!(!up_to_date(&pair(b"doesn't matter", b"it does matter")));
}

#[test]
fn unequal_files_of_the_same_size() {
    assert!(!up_to_date(&pair(b"foobar", b"barfoo")));
}

#[test]
fn differing_modes() {
    let p = pair(b"doesn't matter", b"doesn't matter");
    fs::set_permissions(&p.dst, fs::Permissions::from_mode(0o777)).unwrap();
    assert!(!up_to_date(&p));
}

#[test]
fn big_file_against_small_file() {
    let big = big_file();
    assert!(!up_to_date(&pair(&big, &big[..10])));
}

#[test]
fn small_file_against_big_file() {
    let big = big_file();
    assert!(!up_to_date(&pair(&big[..10], &big)));
}

#[test]
fn files_larger_than_the_buffer_that_differ_slightly() {
    let big = big_file();
    assert!(!up_to_date(&pair(&big[..128_002], &big[..128_003])));
    // Same size, one byte different in the third chunk.
    let mut other = big.clone();
    other[200_000] ^= 0x20;
    assert!(!up_to_date(&pair(&big, &other)));
}

#[test]
fn identical_files_larger_than_the_buffer() {
    let big = big_file();
    assert!(up_to_date(&pair(&big, &big)));
}

#[test]
fn missing_destination_is_not_up_to_date_and_missing_source_is_an_error() {
    let p = pair(b"a", b"a");
    fs::remove_file(&p.dst).unwrap();
    assert!(!up_to_date(&p));
    fs::remove_file(&p.src).unwrap();
    assert!(destination_up_to_date(&p.src, &p.dst).is_err());
}

#[test]
fn copy_writes_then_skips() {
    let p = pair(b"new contents", b"old");
    fs::set_permissions(&p.src, fs::Permissions::from_mode(0o4755)).unwrap();
    assert_eq!(
        copy_file_and_permissions(&p.src, &p.dst).unwrap(),
        Copied::Written
    );
    assert_eq!(fs::read(&p.dst).unwrap(), b"new contents");
    assert_eq!(
        fs::metadata(&p.dst).unwrap().permissions().mode() & 0o7777,
        0o4755,
        "setuid kept, as Go's chmod keeps it"
    );
    assert!(!p.dst.with_file_name("dstFile.tmp").exists());
    assert_eq!(
        copy_file_and_permissions(&p.src, &p.dst).unwrap(),
        Copied::UpToDate
    );
}

#[test]
fn failed_copy_leaves_no_temporary_file() {
    // A directory in the way: the temporary file is written, the rename fails.
    let p = pair(b"x", b"y");
    let dst = p.dst.with_file_name("a-dir");
    fs::create_dir_all(dst.join("inside")).unwrap();
    let err = copy_file_and_permissions(&p.src, &dst).unwrap_err();
    assert!(err.to_string().contains("failed to rename file"), "{err}");
    assert!(!p.dst.with_file_name("a-dir.tmp").exists());
}
