//! Talking to a plugin process over its three pipes from one thread: stdin is written and
//! stdout and stderr are read as each becomes ready (poll(2)), so a plugin that writes a lot
//! before reading cannot deadlock against us, without a thread per pipe (two thread starts
//! per exec were a measurable part of a chain's ADD).

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::process::Child;

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own; no memory is passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads what is there now; false once the pipe is at end of file.
fn drain(r: &mut impl Read, into: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0u8; 8192];
    loop {
        match r.read(&mut chunk) {
            Ok(0) => return Ok(false),
            Ok(n) => into.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Writes `input` to the child's stdin (then closes it) while collecting its stdout and
/// stderr until both end. A plugin that exits without reading its stdin is not an error.
pub(crate) fn communicate(child: &mut Child, input: &[u8]) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut stdin = child.stdin.take().filter(|_| !input.is_empty());
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    for fd in [
        stdin.as_ref().map(AsRawFd::as_raw_fd),
        stdout.as_ref().map(AsRawFd::as_raw_fd),
        stderr.as_ref().map(AsRawFd::as_raw_fd),
    ]
    .into_iter()
    .flatten()
    {
        set_nonblocking(fd)?;
    }
    let (mut out, mut err, mut written) = (Vec::new(), Vec::new(), 0);
    loop {
        let mut fds = Vec::with_capacity(3);
        let mut slot = |fd: Option<RawFd>, events: i16| {
            fd.map(|fd| {
                fds.push(libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                });
                fds.len() - 1
            })
        };
        let i_in = slot(stdin.as_ref().map(AsRawFd::as_raw_fd), libc::POLLOUT);
        let i_out = slot(stdout.as_ref().map(AsRawFd::as_raw_fd), libc::POLLIN);
        let i_err = slot(stderr.as_ref().map(AsRawFd::as_raw_fd), libc::POLLIN);
        if fds.is_empty() {
            return Ok((out, err));
        }
        // SAFETY: `fds` is a live, correctly sized array of pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let ready = |i: Option<usize>| i.is_some_and(|i| fds[i].revents != 0);
        if ready(i_in) {
            if let Some(pipe) = stdin.as_mut() {
                match pipe.write(&input[written..]) {
                    Ok(k) => written += k,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // EPIPE and the like: the plugin stopped reading; that is its business.
                    Err(_) => written = input.len(),
                }
                if written >= input.len() {
                    stdin = None; // closes the pipe: the plugin sees end of input
                }
            }
        }
        if ready(i_out) && !drain(stdout.as_mut().expect("polled"), &mut out)? {
            stdout = None;
        }
        if ready(i_err) && !drain(stderr.as_mut().expect("polled"), &mut err)? {
            stderr = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    fn run(script: &str, input: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut child = Command::new("sh")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let r = communicate(&mut child, input).unwrap();
        child.wait().unwrap();
        r
    }

    #[test]
    fn echoes_large_input_while_writing_both_streams() {
        // More than a pipe buffer each way: a writer that blocked would deadlock here.
        let input = vec![b'x'; 300_000];
        let (out, err) = run("tee /dev/stderr", &input);
        assert_eq!(out.len(), input.len());
        assert_eq!(err.len(), input.len());
    }

    #[test]
    fn a_child_that_ignores_stdin_is_fine() {
        let (out, err) = run("echo hi; echo oops >&2", &vec![b'y'; 1_000_000]);
        assert_eq!(out, b"hi\n");
        assert_eq!(err, b"oops\n");
        let (out, _) = run("cat", b"");
        assert!(out.is_empty(), "empty input closes stdin at once");
    }
}
