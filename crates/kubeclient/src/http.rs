//! HTTP/1.1 on a plain or TLS stream, kept alive: one connection carries every request of a
//! plugin run (client-go's transport keeps its connections too), so an ADD pays for one TCP
//! and TLS handshake however many API calls it makes. Bodies are framed by `Content-Length`
//! or chunked encoding; a response with `Connection: close` retires its connection.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::tls::TlsStream;

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
    let mut status_line = String::new();
    match conn.io.read_line(&mut status_line) {
        Ok(0) => {
            return Err(ExchangeError::NoResponse(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "EOF",
            )))
        }
        Ok(_) => {}
        Err(e) => return Err(ExchangeError::NoResponse(e)),
    }
    read_rest(&mut conn.io, &status_line).map_err(ExchangeError::Broken)
}

fn read_rest(r: &mut BufReader<Stream>, status_line: &str) -> io::Result<Response> {
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
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        let Some((name, value)) = h.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            "retry-after" => retry_after = value.parse().ok(),
            _ => {}
        }
    }
    let body = if chunked {
        read_chunked(r)?
    } else if let Some(n) = length {
        let mut b = vec![0; n];
        r.read_exact(&mut b)?;
        b
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else {
        close = true;
        let mut b = Vec::new();
        match r.read_to_end(&mut b) {
            // A TLS peer that closes without close_notify: the body is what arrived.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {}
            other => {
                other?;
            }
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
    let mut out = Vec::new();
    loop {
        let mut size = String::new();
        if r.read_line(&mut size)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "unexpected EOF",
            ));
        }
        let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        if n == 0 {
            // Trailers, then the empty line.
            loop {
                let mut t = String::new();
                if r.read_line(&mut t)? == 0 || t == "\r\n" || t == "\n" {
                    return Ok(out);
                }
            }
        }
        let start = out.len();
        out.resize(start + n, 0);
        r.read_exact(&mut out[start..])?;
        let mut crlf = String::new();
        r.read_line(&mut crlf)?;
    }
}
