//! `readiness_gates`: URLs that must answer 2xx/3xx before ADD proceeds (polled every 5 s for
//! up to 30 s, first poll after 5 s, as in Calico). Plain HTTP over std's TcpStream: a gate is
//! a local health endpoint, and an HTTP/TLS client would dwarf the plugin.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use libcni::{code, CniError};

const INTERVAL: Duration = Duration::from_secs(5);
const TIMEOUT: Duration = Duration::from_secs(30);

fn err(msg: String) -> CniError {
    CniError::new(code::INTERNAL, msg)
}

struct Url {
    host: String,
    port: u16,
    path: String,
}

fn parse(url: &str) -> Result<Url, CniError> {
    let invalid = || {
        err(format!(
            "invalid URL in readiness gates: parse {url:?}: invalid URI for request"
        ))
    };
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        if url.starts_with("https://") {
            err(format!("readiness gate {url:?}: https is not supported"))
        } else {
            invalid()
        }
    })?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if hostport.is_empty() {
        return Err(invalid());
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => (
            h.trim_matches(['[', ']']).to_string(),
            p.parse().map_err(|_| invalid())?,
        ),
        _ => (hostport.to_string(), 80),
    };
    Ok(Url {
        host,
        port,
        path: path.to_string(),
    })
}

fn ready(u: &Url) -> bool {
    let Some(addr) = (u.host.as_str(), u.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
    else {
        return false;
    };
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        u.path, u.host
    );
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .is_some_and(|c| (200..400).contains(&c))
}

pub fn wait(gates: &[String]) -> Result<(), CniError> {
    for g in gates {
        let u = parse(g)?;
        let start = Instant::now();
        loop {
            std::thread::sleep(INTERVAL);
            if ready(&u) {
                break;
            }
            if start.elapsed() >= TIMEOUT {
                return Err(err(format!(
                    "endpoint {g} is not ready: timed out waiting for the condition"
                )));
            }
        }
    }
    Ok(())
}
