//! The few system calls the disk store makes relative to its directory descriptor, which std
//! does not offer: `openat`-family calls, `O_TMPFILE` + `linkat`, and `getdents64` with a
//! buffer big enough to list a full store in one or two calls.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `openat(AT_FDCWD, path, flags, mode)` (always close-on-exec). Unlike `open` through musl,
/// this does not follow up with an `fcntl(F_SETFD)` of its own.
pub fn open_path(path: &Path, flags: libc::c_int, mode: u32) -> io::Result<File> {
    use std::os::unix::ffi::OsStrExt;
    let path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `path` is a valid NUL-terminated string; the descriptor is owned by nobody else.
    let fd = check(unsafe {
        libc::openat(
            libc::AT_FDCWD,
            path.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: `fd` was just returned by openat.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Opens the store directory itself.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    open_path(path, libc::O_RDONLY | libc::O_DIRECTORY, 0).map(OwnedFd::from)
}

/// `openat(dir, name, flags, mode)` (always close-on-exec).
pub fn open_at(dir: &OwnedFd, name: &str, flags: libc::c_int, mode: u32) -> io::Result<File> {
    let name = cstr(name)?;
    // SAFETY: `name` is a valid NUL-terminated string and `dir` a live descriptor; the
    // returned descriptor is owned by nobody else.
    let fd = check(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: `fd` was just returned by openat and is not owned elsewhere.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// An unnamed regular file in `dir` (`O_TMPFILE`), to be given a name with [`link_tmpfile`].
pub fn tmpfile_in(dir: &OwnedFd, mode: u32) -> io::Result<File> {
    open_at(dir, ".", libc::O_TMPFILE | libc::O_WRONLY, mode)
}

/// Whether an `O_TMPFILE` failure means the filesystem or kernel does not support it.
pub fn tmpfile_unsupported(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)
    )
}

/// Gives the unnamed file `file` the name `name` in `dir`; fails with `EEXIST` if the name
/// is taken, which makes this an exclusive create of an already complete file.
pub fn link_tmpfile(file: &File, dir: &OwnedFd, name: &str) -> io::Result<()> {
    let new = cstr(name)?;
    let empty = c"";
    // SAFETY: both paths are valid NUL-terminated strings, both descriptors are live.
    let rc = unsafe {
        libc::linkat(
            file.as_raw_fd(),
            empty.as_ptr(),
            dir.as_raw_fd(),
            new.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    match check(rc) {
        // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH on older kernels; the /proc form does not.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            let proc = cstr(&format!("/proc/self/fd/{}", file.as_raw_fd()))?;
            // SAFETY: as above.
            check(unsafe {
                libc::linkat(
                    libc::AT_FDCWD,
                    proc.as_ptr(),
                    dir.as_raw_fd(),
                    new.as_ptr(),
                    libc::AT_SYMLINK_FOLLOW,
                )
            })
            .map(drop)
        }
        other => other.map(drop),
    }
}

/// `unlinkat(dir, name, 0)`.
pub fn unlink_at(dir: &OwnedFd, name: &str) -> io::Result<()> {
    let name = cstr(name)?;
    // SAFETY: valid string, live descriptor.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) }).map(drop)
}

/// Whether the directory accepts new files, for when `O_TMPFILE` cannot tell.
pub fn dir_writable(dir: &OwnedFd) -> io::Result<()> {
    // SAFETY: valid string, live descriptor.
    check(unsafe { libc::faccessat(dir.as_raw_fd(), c".".as_ptr(), libc::W_OK, libc::AT_EACCESS) })
        .map(drop)
}

/// A directory entry: its name and `d_type` (`DT_UNKNOWN` on filesystems that do not fill it).
pub struct DirEntry {
    pub name: String,
    pub d_type: u8,
}

/// Every entry of `dir` except `.`, `..` and names that are not UTF-8 (which can be neither
/// an address nor a file the plugin writes).
pub fn read_dir(dir: &OwnedFd) -> io::Result<Vec<DirEntry>> {
    // Listing twice from the same descriptor would need a rewind; the store lists once.
    let mut buf = vec![0u8; 32 * 1024];
    let mut out = Vec::new();
    loop {
        // SAFETY: the buffer is valid for `buf.len()` bytes for the kernel to fill.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            return Ok(out);
        }
        let mut off = 0usize;
        while off < n as usize {
            // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            let d_type = buf[off + 18];
            let name_bytes = &buf[off + 19..off + reclen];
            let len = name_bytes
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(name_bytes.len());
            if let Ok(name) = std::str::from_utf8(&name_bytes[..len]) {
                if name != "." && name != ".." {
                    out.push(DirEntry {
                        name: name.to_string(),
                        d_type,
                    });
                }
            }
            if reclen == 0 {
                break;
            }
            off += reclen;
        }
    }
}
