//! Copying files onto the host the way Calico's installer does: skip when the
//! destination is already identical (size, mode, bytes), otherwise write
//! `<dst>.tmp` and rename it into place, so a runtime executing the old
//! binary, or reading the old file, never sees a half-written one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};

use crate::info;

/// Calico compares in chunks of this size; the tests exercise files larger than it.
const CHUNK: usize = 64_000;

/// Whether `dst` already holds `src`: same size, same mode (type and permission
/// bits, setuid included) and same bytes. A missing `dst` is simply "no"; a
/// missing `src` is an error.
pub fn destination_up_to_date(src: &Path, dst: &Path) -> Result<bool> {
    let src_meta = fs::metadata(src).with_context(|| format!("stat {}", src.display()))?;
    let dst_meta = match fs::metadata(dst) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("stat {}", dst.display())),
    };
    if src_meta.len() != dst_meta.len() || src_meta.mode() != dst_meta.mode() {
        return Ok(false);
    }
    let mut a = File::open(src).with_context(|| format!("open {}", src.display()))?;
    let mut b = File::open(dst).with_context(|| format!("open {}", dst.display()))?;
    let (mut buf_a, mut buf_b) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    loop {
        let n = read_full(&mut a, &mut buf_a)?;
        let m = read_full(&mut b, &mut buf_b)?;
        if n != m || buf_a[..n] != buf_b[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

/// Reads until `buf` is full or EOF, so both files are compared at the same offsets.
fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match f.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// What [`copy_file_and_permissions`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Copied {
    UpToDate,
    Written,
}

/// Installs `src` at `dst` with `src`'s permission bits, unless already identical.
///
/// Unlike Calico, the mode is set on the temporary file *before* the rename:
/// Calico renames first and chmods after, leaving a window in which a runtime
/// could find a non-executable plugin.
pub fn copy_file_and_permissions(src: &Path, dst: &Path) -> Result<Copied> {
    if destination_up_to_date(src, dst)? {
        info!(
            "File is already up to date, skipping file={}",
            dst.display()
        );
        return Ok(Copied::UpToDate);
    }
    let tmp = tmp_path(dst);
    let result = write_tmp(src, &tmp)
        .and_then(|()| fs::rename(&tmp, dst).map_err(|e| anyhow!("failed to rename file: {e}")));
    if result.is_err() {
        // Leave nothing half-made behind.
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| Copied::Written)
}

fn tmp_path(dst: &Path) -> PathBuf {
    let mut s = dst.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

fn write_tmp(src: &Path, tmp: &Path) -> Result<()> {
    let mut input = File::open(src).map_err(|e| anyhow!("failed to copy file: {e}"))?;
    let mode = input
        .metadata()
        .map_err(|e| anyhow!("failed to stat file: {e}"))?
        .permissions()
        .mode()
        & 0o7777;
    let mut out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(tmp)
        .map_err(|e| anyhow!("failed to copy file: {e}"))?;
    io::copy(&mut input, &mut out).map_err(|e| anyhow!("failed to copy file: {e}"))?;
    out.flush()?;
    out.sync_all()
        .map_err(|e| anyhow!("failed to copy file: {e}"))?;
    // Explicit chmod: the umask must not strip bits, and setuid is kept as Go keeps it.
    fs::set_permissions(tmp, fs::Permissions::from_mode(mode))
        .map_err(|e| anyhow!("failed to chmod file: {e}"))?;
    Ok(())
}

/// etcd's `fileutil.IsDirWriteable`: can a file (`.touch`) be created in `dir`?
pub fn is_dir_writeable(dir: &Path) -> Result<()> {
    let touch = dir.join(".touch");
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&touch)
        .with_context(|| format!("{} is not writeable", dir.display()))?;
    fs::remove_file(&touch).with_context(|| format!("remove {}", touch.display()))?;
    Ok(())
}

/// Calico's `fileExists`: exists and is not a directory; stat errors other than
/// "not found" are fatal.
pub fn file_exists(path: &Path) -> Result<bool> {
    match fs::metadata(path) {
        Ok(m) => Ok(!m.is_dir()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => {
            Err(e).with_context(|| format!("Failed to check if file {} exists", path.display()))
        }
    }
}

/// Calico's `directoryExists`.
pub fn directory_exists(path: &Path) -> Result<bool> {
    match fs::metadata(path) {
        Ok(m) => Ok(m.is_dir()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e)
            .with_context(|| format!("Failed to check if directory {} exists", path.display())),
    }
}
