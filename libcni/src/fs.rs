//! Reading a file that a configuration names (a resolv.conf, an allowlist, a backup, a
//! datastore's values) without trusting what it turns out to be.
//!
//! A config can name `/dev/zero`, `/dev/urandom`, a FIFO or a terminal as easily as a file, and
//! a plain `fs::read` then grows memory until the process dies, or blocks forever. Here:
//!
//! - **Nothing blocks.** The file is opened with `O_NONBLOCK` (opening a FIFO with no writer
//!   would otherwise wait for one) and read that way: a FIFO nobody writes to reads as empty
//!   (EOF, as POSIX has it), a FIFO or terminal with nothing to read yet fails with `read <path>:
//!   resource temporarily unavailable`. Regular files and devices such as `/dev/zero` are not
//!   affected by the flag. Go blocks on both (it waits for a writer, then for data).
//! - **Memory is bounded.** [`read_bounded`] holds at most `limit` bytes and fails with
//!   [`ReadError::TooLarge`] past it. [`scan_lines`] streams, holding one line at a time.
//! - **Go's line limit.** [`scan_lines`] is Go's `bufio.Scanner` with `ScanLines`: lines end at
//!   `\n`, one trailing `\r` is dropped, the last line needs no `\n`, and a line of 64 KiB or
//!   more (counting a `\r`) fails with Go's `bufio.Scanner: token too long`, as soon as that
//!   much has been read. So `/dev/zero` fails exactly as in Go, at once.
//!
//! Errors print like Go's `*fs.PathError` (`open <path>: no such file or directory`).

use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{path_error_text, CniCode};

/// Go's `bufio.MaxScanTokenSize`: a line must be shorter than this (its `\r` included).
pub const MAX_LINE: usize = 64 * 1024;

/// The most a network configuration may hold, wherever it is read from: a plugin's stdin, a
/// conflist, a result cache entry (which holds a config and a result). Far above any real one
/// (a few KiB); Go has no limit.
pub const CONFIG_LIMIT: u64 = 16 << 20;

/// Why a bounded read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Could not open (`open <path>: <errno text>`).
    #[error("{}", path_error_text("open", path, source))]
    Open { path: PathBuf, source: io::Error },
    /// Could not read (`read <path>: <errno text>`), e.g. a directory or an empty FIFO with a
    /// writer.
    #[error("{}", path_error_text("read", path, source))]
    Read { path: PathBuf, source: io::Error },
    /// Longer than the caller's limit (Go has no limit and no such error).
    #[error("read {}: file too large (over {limit} bytes)", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    /// A line of [`MAX_LINE`] bytes or more; Go's text.
    #[error("bufio.Scanner: token too long")]
    LineTooLong { path: PathBuf },
}

impl ReadError {
    /// True when the file does not exist (callers where a missing file is no error).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Open { source, .. } if source.kind() == ErrorKind::NotFound)
    }

    /// The underlying I/O error, when there is one.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            ReadError::Open { source, .. } | ReadError::Read { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ReadError::Open { path, .. }
            | ReadError::Read { path, .. }
            | ReadError::TooLarge { path, .. }
            | ReadError::LineTooLong { path } => path,
        }
    }
}

impl CniCode for ReadError {}

/// An open file that yields at most `limit` bytes, then [`ReadError::TooLarge`].
struct Bounded {
    file: File,
    path: PathBuf,
    limit: u64,
    read: u64,
}

impl Bounded {
    fn open(path: &Path, limit: u64) -> Result<Self, ReadError> {
        let file = OpenOptions::new()
            .read(true)
            // Never wait: not for a FIFO's writer at open, not for data at read. O_NOCTTY: a
            // terminal named by a config must not become our controlling terminal.
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map_err(|source| ReadError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Bounded {
            file,
            path: path.to_path_buf(),
            limit,
            read: 0,
        })
    }

    /// Reads into `buf`; 0 only at the end of the file.
    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, ReadError> {
        // One byte beyond the limit tells a file of exactly `limit` bytes from a longer one.
        let room = self.limit.saturating_sub(self.read).saturating_add(1);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = loop {
            match self.file.read(&mut buf[..want]) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(ReadError::Read {
                        path: self.path.clone(),
                        source,
                    })
                }
            }
        };
        self.read += n as u64;
        if self.read > self.limit {
            return Err(ReadError::TooLarge {
                path: self.path.clone(),
                limit: self.limit,
            });
        }
        Ok(n)
    }
}

/// The whole of `path`, if it holds at most `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut file = Bounded::open(path, limit)?;
    // Sized from fstat, as `fs::read` does: a regular file takes one read of its size (plus
    // one byte) and one short probe that sees the end, and the buffer is not much bigger than
    // the file (plugins allocate from a bump arena that never reuses memory). Devices and
    // FIFOs report no size: their buffer grows by doubling.
    let size = file.file.metadata().map_or(0, |m| m.len());
    let mut want = if size > 0 {
        usize::try_from(size.min(limit))
            .unwrap_or(usize::MAX)
            .saturating_add(1)
    } else {
        4096
    };
    let mut out = Vec::new();
    loop {
        let len = out.len();
        // Never more than the limit allows (plus the byte that tells a longer file).
        let left = limit.saturating_sub(len as u64).saturating_add(1);
        let ask = want.min(usize::try_from(left).unwrap_or(usize::MAX));
        out.resize(len + ask, 0);
        let n = file.read_some(&mut out[len..])?;
        out.truncate(len + n);
        if n == 0 {
            return Ok(out);
        }
        // A short read is usually the end of a regular file: probe with little.
        want = if n < ask { 64 } else { ask.saturating_mul(2) };
    }
}

/// Calls `each` with every line of `path` in order, as Go's `bufio.Scanner` splits them (see
/// the module docs), reading at most `limit` bytes in all.
pub fn scan_lines(path: &Path, limit: u64, mut each: impl FnMut(&[u8])) -> Result<(), ReadError> {
    let mut file = Bounded::open(path, limit)?;
    let too_long = || ReadError::LineTooLong {
        path: path.to_path_buf(),
    };
    // The start of a line whose end has not been read yet.
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = file.read_some(&mut chunk)?;
        if n == 0 {
            break;
        }
        let mut rest = &chunk[..n];
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            if pending.len() + nl >= MAX_LINE {
                return Err(too_long());
            }
            if pending.is_empty() {
                each(drop_cr(&rest[..nl]));
            } else {
                pending.extend_from_slice(&rest[..nl]);
                each(drop_cr(&pending));
                pending.clear();
            }
            rest = &rest[nl + 1..];
        }
        // Go's buffer is full at 64 KiB without a newline: too long, even right before EOF.
        if pending.len() + rest.len() >= MAX_LINE {
            return Err(too_long());
        }
        pending.extend_from_slice(rest);
    }
    if !pending.is_empty() {
        each(drop_cr(&pending));
    }
    Ok(())
}

fn drop_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(contents: &[u8], limit: u64) -> Result<Vec<Vec<u8>>, ReadError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, contents).unwrap();
        let mut out = Vec::new();
        scan_lines(&path, limit, |l| out.push(l.to_vec()))?;
        Ok(out)
    }

    #[test]
    fn lines_split_like_go_scan_lines() {
        let got = lines_of(b"a\r\n\nb c\r\r\nlast", 1 << 20).unwrap();
        assert_eq!(got, [&b"a"[..], b"", b"b c\r", b"last"]);
        assert_eq!(lines_of(b"", 1 << 20).unwrap(), Vec::<Vec<u8>>::new());
        assert_eq!(lines_of(b"x\n", 1 << 20).unwrap(), [b"x"]);
    }

    /// The exact edges Go's host-local shows (checked against Debian's binary): 65535 bytes
    /// before the newline pass, 65536 fail, a `\r` counts, and so does a last line without
    /// a newline.
    #[test]
    fn line_limit_is_gos() {
        let ok = |prefix: usize, tail: &[u8]| {
            let mut c = vec![b'a'; prefix];
            c.extend_from_slice(tail);
            lines_of(&c, 1 << 20)
        };
        assert_eq!(ok(MAX_LINE - 1, b"\nz\n").unwrap().len(), 2);
        assert_eq!(ok(MAX_LINE - 1, b"").unwrap().len(), 1);
        for (prefix, tail) in [
            (MAX_LINE, &b"\nz\n"[..]),
            (MAX_LINE - 1, b"\r\nz\n"),
            (MAX_LINE, b""),
        ] {
            let err = ok(prefix, tail).unwrap_err();
            assert_eq!(err.to_string(), "bufio.Scanner: token too long");
        }
    }

    #[test]
    fn endless_devices_stop_at_once() {
        let err = scan_lines(Path::new("/dev/zero"), 1 << 20, |_| {}).unwrap_err();
        assert!(matches!(err, ReadError::LineTooLong { .. }), "{err}");
        // Random bytes hold a newline every 256 bytes on average: the total limit stops it.
        let err = scan_lines(Path::new("/dev/urandom"), 1 << 20, |_| {}).unwrap_err();
        assert_eq!(
            err.to_string(),
            "read /dev/urandom: file too large (over 1048576 bytes)"
        );
        let err = read_bounded(Path::new("/dev/zero"), 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "read /dev/zero: file too large (over 10 bytes)"
        );
    }

    #[test]
    fn the_limit_is_inclusive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [7u8; 10]).unwrap();
        assert_eq!(read_bounded(&path, 10).unwrap(), [7u8; 10]);
        assert!(matches!(
            read_bounded(&path, 9),
            Err(ReadError::TooLarge { limit: 9, .. })
        ));
        assert!(lines_of(&[b'x'; 10], 10).is_ok());
        assert!(lines_of(&[b'x'; 10], 9).is_err());
    }

    #[test]
    fn a_fifo_never_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // No writer: opens at once and reads as empty.
        assert_eq!(read_bounded(&fifo, 100).unwrap(), b"");
        // A writer that has written nothing yet: fails instead of waiting for it.
        let _writer = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&fifo)
            .unwrap();
        let err = read_bounded(&fifo, 100).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("read {}: resource temporarily unavailable", fifo.display())
        );
    }

    #[test]
    fn errors_read_like_go() {
        let err = read_bounded(Path::new("/nonexistent/x"), 10).unwrap_err();
        assert!(err.is_not_found());
        assert_eq!(
            err.to_string(),
            "open /nonexistent/x: no such file or directory"
        );
        let err = read_bounded(Path::new("/"), 10).unwrap_err();
        assert!(!err.is_not_found());
        assert_eq!(err.to_string(), "read /: is a directory");
    }
}
