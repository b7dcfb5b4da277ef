//! `/healthz` (always 200) and `/readyz` (200 once installed and watching, else 503), as the
//! agent's health server answers the DaemonSet's probes.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};

pub fn serve(addr: &str, ready: Arc<AtomicBool>) -> Result<()> {
    let listener = TcpListener::bind(addr).with_context(|| format!("listen on {addr}"))?;
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut line = String::new();
            let _ = BufReader::new(&conn).read_line(&mut line);
            let path = line.split_whitespace().nth(1).unwrap_or("/");
            let (code, body) = match path {
                "/healthz" => (200, "OK"),
                "/readyz" if ready.load(Ordering::SeqCst) => (200, "OK"),
                "/readyz" => (503, "not ready"),
                _ => (404, "404 page not found"),
            };
            let reason = match code {
                200 => "OK",
                503 => "Service Unavailable",
                _ => "Not Found",
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok(())
}
