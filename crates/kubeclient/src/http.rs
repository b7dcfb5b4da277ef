//! HTTP/1.1 on a plain or TLS stream, kept alive: one connection carries every request of a
//! plugin run (client-go's transport keeps its connections too), so an ADD pays for one TCP
//! and TLS handshake however many API calls it makes. Bodies are framed by `Content-Length`
//! or chunked encoding; a response with `Connection: close` retires its connection.
//!
//! What a server sends is bounded, so a broken or hostile one fails the request instead of
//! exhausting memory: headers as Go's transport bounds them (10 MiB), bodies at
//! [`MAX_BODY`] (Go reads any size), and a `Content-Length` or chunk size is never trusted
//! to size a buffer before its bytes arrive.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::tls::TlsStream;

/// The most a response body may hold: far above anything Calico's plugins read (a list page
/// is at most 500 objects).
pub const MAX_BODY: u64 = 64 << 20;
/// Go's `http.Transport` default for `MaxResponseHeaderBytes`: status line and headers.
const MAX_HEADER: u64 = 10 << 20;
/// Go's limit on a line of chunked framing (a size line, a trailer).
const MAX_CHUNK_LINE: u64 = 4096;

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn body_too_large() -> io::Error {
    invalid(format!("response body too large (over {MAX_BODY} bytes)"))
}

/// One line (with its newline), at most `budget` bytes of it; what was read is taken off the
/// budget. `Ok(None)` at the end of the stream. `too_long` when the budget ran out first.
fn read_line_within(
    r: &mut impl BufRead,
    budget: &mut u64,
    too_long: impl Fn() -> io::Error,
) -> io::Result<Option<String>> {
    let mut line = String::new();
    let n = r.take(*budget).read_line(&mut line)?;
    *budget -= n as u64;
    if n == 0 {
        return if *budget == 0 {
            Err(too_long())
        } else {
            Ok(None)
        };
    }
    if !line.ends_with('\n') && *budget == 0 {
        return Err(too_long());
    }
    Ok(Some(line))
}

fn headers_too_large() -> io::Error {
    invalid(format!(
        "net/http: server response headers exceeded {MAX_HEADER} bytes; aborted"
    ))
}

/// Exactly `n` bytes appended to `out`, which grows as they arrive (a length the server
/// claims is not allocated up front).
fn read_exactly(r: &mut impl Read, n: u64, out: &mut Vec<u8>) -> io::Result<()> {
    let got = r.take(n).read_to_end(out)? as u64;
    if got < n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "unexpected EOF",
        ));
    }
    Ok(())
}

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &t.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
        }
    }
}

/// A connection with its read buffer (bytes of the next response may already be in it).
pub struct Conn {
    io: BufReader<Stream>,
    /// Has carried a request before: a failure before any response byte may just be the
    /// server closing an idle connection, and the request can go again on a fresh one.
    pub reused: bool,
}

impl Conn {
    pub fn new(stream: Stream) -> Conn {
        Conn {
            io: BufReader::new(stream),
            reused: false,
        }
    }

    /// Bounds the next reads and writes (None: wait forever).
    pub fn set_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        let tcp = self.io.get_ref().tcp();
        tcp.set_read_timeout(t)?;
        tcp.set_write_timeout(t)
    }
}

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// `Retry-After` in seconds.
    pub retry_after: Option<u64>,
    /// The server will close the connection (or the body ran to EOF).
    pub close: bool,
}

/// Why an exchange failed: before the response began (the request may be sent again on a new
/// connection when this one was reused) or after.
pub enum ExchangeError {
    NoResponse(io::Error),
    Broken(io::Error),
}

pub struct Request<'a> {
    pub method: &'a str,
    /// Path and query, from the server root.
    pub target: &'a str,
    pub host: &'a str,
    pub headers: &'a [(&'a str, String)],
    pub body: Option<(&'a str, &'a [u8])>,
}

/// Sends `req` and reads its response.
pub fn exchange(conn: &mut Conn, req: &Request) -> Result<Response, ExchangeError> {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\n",
        req.method, req.target, req.host
    );
    for (k, v) in req.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = match req.body {
        Some((content_type, body)) => {
            head.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                body.len()
            ));
            body
        }
        None => &[],
    };
    head.push_str("\r\n");
    let mut msg = head.into_bytes();
    msg.extend_from_slice(body);
    let s = conn.io.get_mut();
    s.write_all(&msg)
        .and_then(|_| s.flush())
        .map_err(ExchangeError::NoResponse)?;
    let mut header_budget = MAX_HEADER;
    let status_line = match read_line_within(&mut conn.io, &mut header_budget, headers_too_large) {
        Ok(Some(line)) => line,
        Ok(None) => {
            return Err(ExchangeError::NoResponse(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "EOF",
            )))
        }
        Err(e) => return Err(ExchangeError::NoResponse(e)),
    };
    read_rest(&mut conn.io, &status_line, header_budget).map_err(ExchangeError::Broken)
}

fn read_rest(
    r: &mut impl BufRead,
    status_line: &str,
    mut header_budget: u64,
) -> io::Result<Response> {
    let malformed = || io::Error::new(io::ErrorKind::InvalidData, "malformed HTTP response");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(malformed)?;
    let mut length = None;
    let mut chunked = false;
    let mut close = status_line.starts_with("HTTP/1.0");
    let mut retry_after = None;
    loop {
        let h = match read_line_within(r, &mut header_budget, headers_too_large)? {
            Some(h) if h != "\r\n" && h != "\n" => h,
            _ => break,
        };
        let Some((name, value)) = h.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse::<u64>().ok(),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            "retry-after" => retry_after = value.parse().ok(),
            _ => {}
        }
    }
    let body = if chunked {
        read_chunked(r)?
    } else if let Some(n) = length {
        if n > MAX_BODY {
            return Err(body_too_large());
        }
        let mut b = Vec::new();
        read_exactly(r, n, &mut b)?;
        b
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else {
        close = true;
        let mut b = Vec::new();
        // One byte past the limit tells a body of exactly MAX_BODY from a longer one.
        match r.take(MAX_BODY + 1).read_to_end(&mut b) {
            // A TLS peer that closes without close_notify: the body is what arrived.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {}
            other => {
                other?;
            }
        }
        if b.len() as u64 > MAX_BODY {
            return Err(body_too_large());
        }
        b
    };
    Ok(Response {
        status,
        body,
        retry_after,
        close,
    })
}

fn read_chunked(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    // Go's chunked reader's words for a framing line that does not end.
    let line = |r: &mut _| {
        let mut budget = MAX_CHUNK_LINE;
        read_line_within(r, &mut budget, || invalid("header line too long".into()))
    };
    let mut out = Vec::new();
    loop {
        let Some(size) = line(r)? else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "unexpected EOF",
            ));
        };
        let n = u64::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|_| invalid("bad chunk size".into()))?;
        if n == 0 {
            // Trailers, then the empty line.
            loop {
                match line(r)? {
                    Some(t) if t != "\r\n" && t != "\n" => {}
                    _ => return Ok(out),
                }
            }
        }
        if out.len() as u64 + n > MAX_BODY {
            return Err(body_too_large());
        }
        read_exactly(r, n, &mut out)?;
        line(r)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response read from `bytes` (then `tail`, e.g. an endless stream).
    fn response(bytes: &[u8], tail: impl Read) -> io::Result<Response> {
        let mut r = io::BufReader::new(bytes.chain(tail));
        let mut budget = MAX_HEADER;
        let status = read_line_within(&mut r, &mut budget, headers_too_large)?.unwrap();
        read_rest(&mut r, &status, budget)
    }

    /// `.0` over and over.
    struct Cycle(Vec<u8>, usize);

    impl Read for Cycle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.0.len() - self.1);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 = (self.1 + n) % self.0.len();
            Ok(n)
        }
    }

    #[test]
    fn bodies_by_length_chunks_and_close() {
        let r = response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
            io::empty(),
        )
        .unwrap();
        assert_eq!(
            (r.status, r.body.as_slice(), r.close),
            (200, &b"{}"[..], false)
        );
        let r = response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{\"\r\n1;x=y\r\n}\r\n0\r\nT: 1\r\n\r\n",
            io::empty(),
        )
        .unwrap();
        assert_eq!(r.body, b"{\"}");
        let r = response(b"HTTP/1.1 200 OK\r\n\r\nall of it", io::empty()).unwrap();
        assert_eq!((r.body.as_slice(), r.close), (&b"all of it"[..], true));
        let e = response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}",
            io::empty(),
        )
        .err()
        .unwrap();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }

    /// A server that claims or sends more than the bound fails the request at once, without
    /// a buffer of the claimed size.
    #[test]
    fn what_a_server_sends_is_bounded() {
        let too_large = "response body too large (over 67108864 bytes)";
        let claims = [
            "HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\n\r\n".to_string(),
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                MAX_BODY + 1
            ),
            format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
                MAX_BODY + 1
            ),
        ];
        for head in claims {
            let e = response(head.as_bytes(), io::repeat(b'x')).err().unwrap();
            assert_eq!(e.to_string(), too_large, "{head}");
        }
        // Endless data: a body read to the end of the stream, chunks that never stop, one
        // header that never ends, a chunk size line that never ends.
        let e = response(b"HTTP/1.1 200 OK\r\n\r\n", io::repeat(b'x'))
            .err()
            .unwrap();
        assert_eq!(e.to_string(), too_large);
        let mut frame = b"1000\r\n".to_vec();
        frame.extend_from_slice(&[b'x'; 0x1000]);
        frame.extend_from_slice(b"\r\n");
        let e = response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            Cycle(frame, 0),
        )
        .err()
        .unwrap();
        assert_eq!(e.to_string(), too_large);
        let e = response(b"HTTP/1.1 200 OK\r\nX-Long: ", io::repeat(b'a'))
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "net/http: server response headers exceeded 10485760 bytes; aborted"
        );
        let e = response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            io::repeat(b'1'),
        )
        .err()
        .unwrap();
        assert_eq!(e.to_string(), "header line too long");
    }
}
