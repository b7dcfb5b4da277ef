//! etcd endpoint discovery by DNS SRV records, as etcd's `srv.GetClient("etcd-client", domain)`
//! does for Calico's `etcd_discovery_srv`: `_etcd-client-ssl._tcp.<domain>` gives `https://`
//! endpoints, `_etcd-client._tcp.<domain>` `http://` ones; either may be missing, not both.
//!
//! A minimal stub resolver (one question, UDP with a TCP retry on truncation, the nameservers
//! of /etc/resolv.conf) instead of a DNS crate: this is the only lookup the suite makes.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

const TYPE_SRV: u16 = 33;
const CLASS_IN: u16 = 1;
const TIMEOUT: Duration = Duration::from_secs(3);

/// One SRV record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// Without the trailing dot.
    pub target: String,
}

/// The endpoints for `domain`: https ones first, each list in priority order.
pub fn discover(domain: &str, nameservers: &[SocketAddr]) -> Result<Vec<String>, String> {
    let mut endpoints = Vec::new();
    let mut errors = Vec::new();
    for (service, scheme) in [("etcd-client-ssl", "https"), ("etcd-client", "http")] {
        match lookup_srv(&format!("_{service}._tcp.{domain}"), nameservers) {
            Ok(records) => endpoints.extend(records.into_iter().map(|r| {
                let host = if r.target.contains(':') {
                    format!("[{}]", r.target)
                } else {
                    r.target
                };
                format!("{scheme}://{host}:{}", r.port)
            })),
            Err(e) => errors.push(e),
        }
    }
    if errors.len() == 2 {
        return Err(format!(
            "failed to discover etcd endpoints through SRV discovery: dns lookup errors: {} and {}",
            errors[0], errors[1]
        ));
    }
    Ok(endpoints)
}

/// The nameservers of /etc/resolv.conf (port 53), or 127.0.0.1 like glibc when none.
pub fn system_nameservers() -> Vec<SocketAddr> {
    // Bounded like host-local's resolvConf: what matters is a few lines.
    let conf = libcni::fs::read_bounded(std::path::Path::new("/etc/resolv.conf"), 1 << 20)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let mut out: Vec<SocketAddr> = conf
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next())?
        })
        .filter_map(|w| w.split('%').next()?.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect();
    if out.is_empty() {
        out.push(SocketAddr::from(([127, 0, 0, 1], 53)));
    }
    out
}

/// SRV records of `name`, sorted by priority (then heavier weight first).
pub fn lookup_srv(name: &str, nameservers: &[SocketAddr]) -> Result<Vec<Srv>, String> {
    let fqdn = name.trim_end_matches('.');
    let id = (std::process::id() as u16)
        ^ (crate::time::unix_nanos(std::time::SystemTime::now()) as u16);
    let query = build_query(id, fqdn)?;
    let mut last_err = format!("lookup {fqdn}: no nameservers");
    for &server in nameservers {
        match exchange(server, &query).and_then(|resp| parse_response(id, &resp)) {
            Ok(mut records) => {
                records.sort_by(|a, b| a.priority.cmp(&b.priority).then(b.weight.cmp(&a.weight)));
                return Ok(records);
            }
            Err(Answer::NoSuchHost) => return Err(format!("lookup {fqdn}: no such host")),
            Err(Answer::Failed(e)) => last_err = format!("lookup {fqdn} on {server}: {e}"),
        }
    }
    Err(last_err)
}

enum Answer {
    NoSuchHost,
    Failed(String),
}

impl From<std::io::Error> for Answer {
    fn from(e: std::io::Error) -> Self {
        Answer::Failed(e.to_string())
    }
}

fn build_query(id: u16, name: &str) -> Result<Vec<u8>, String> {
    let mut q = Vec::with_capacity(name.len() + 18);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD; one question
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("lookup {name}: invalid domain name"));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&TYPE_SRV.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(q)
}

/// UDP first; over TCP when the UDP answer is truncated.
fn exchange(server: SocketAddr, query: &[u8]) -> Result<Vec<u8>, Answer> {
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let sock = UdpSocket::bind(bind)?;
    sock.set_read_timeout(Some(TIMEOUT))?;
    sock.connect(server)?;
    sock.send(query)?;
    let mut buf = vec![0u8; 4096];
    let n = sock.recv(&mut buf)?;
    buf.truncate(n);
    if buf.len() > 2 && buf[2] & 0x02 != 0 {
        let mut tcp = TcpStream::connect_timeout(&server, TIMEOUT)?;
        tcp.set_read_timeout(Some(TIMEOUT))?;
        let mut framed = (query.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(query);
        tcp.write_all(&framed)?;
        let mut len = [0u8; 2];
        tcp.read_exact(&mut len)?;
        buf = vec![0u8; u16::from_be_bytes(len) as usize];
        tcp.read_exact(&mut buf)?;
    }
    Ok(buf)
}

fn parse_response(id: u16, msg: &[u8]) -> Result<Vec<Srv>, Answer> {
    let bad = || Answer::Failed("malformed DNS response".into());
    if msg.len() < 12 || u16::from_be_bytes([msg[0], msg[1]]) != id || msg[2] & 0x80 == 0 {
        return Err(bad());
    }
    match msg[3] & 0x0f {
        0 => {}
        3 => return Err(Answer::NoSuchHost),
        rcode => {
            return Err(Answer::Failed(format!(
                "server answered with rcode {rcode}"
            )))
        }
    }
    let qd = u16::from_be_bytes([msg[4], msg[5]]);
    let an = u16::from_be_bytes([msg[6], msg[7]]);
    let mut pos = 12;
    for _ in 0..qd {
        pos = skip_name(msg, pos).ok_or_else(bad)? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        pos = skip_name(msg, pos).ok_or_else(bad)?;
        let field = |at: usize| -> Option<u16> {
            Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]))
        };
        let rtype = field(pos).ok_or_else(bad)?;
        let rdlen = field(pos + 8).ok_or_else(bad)? as usize;
        let rdata = pos + 10;
        if rdata + rdlen > msg.len() {
            return Err(bad());
        }
        if rtype == TYPE_SRV && rdlen >= 7 {
            out.push(Srv {
                priority: field(rdata).ok_or_else(bad)?,
                weight: field(rdata + 2).ok_or_else(bad)?,
                port: field(rdata + 4).ok_or_else(bad)?,
                target: read_name(msg, rdata + 6).ok_or_else(bad)?,
            });
        }
        pos = rdata + rdlen;
    }
    Ok(out)
}

/// The position after the (possibly compressed) name at `pos`.
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *msg.get(pos)? as usize;
        match len {
            0 => return Some(pos + 1),
            l if l & 0xc0 == 0xc0 => return Some(pos + 2),
            l => pos += 1 + l,
        }
    }
}

/// The dotted name at `pos`, following compression pointers (with a hop limit).
fn read_name(msg: &[u8], mut pos: usize) -> Option<String> {
    let mut labels: Vec<String> = Vec::new();
    for _ in 0..64 {
        let len = *msg.get(pos)? as usize;
        if len == 0 {
            return Some(labels.join("."));
        }
        if len & 0xc0 == 0xc0 {
            pos = ((len & 0x3f) << 8) | *msg.get(pos + 1)? as usize;
            continue;
        }
        let label = msg.get(pos + 1..pos + 1 + len)?;
        labels.push(String::from_utf8_lossy(label).into_owned());
        pos += 1 + len;
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::thread;

    /// A one-zone DNS server on loopback answering SRV questions from `zone` (name →
    /// records; names absent are NXDOMAIN). Serves until the socket errors (process exit).
    pub(crate) fn fake_dns(zone: HashMap<String, Vec<Srv>>) -> SocketAddr {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, peer)) = sock.recv_from(&mut buf) {
                let q = &buf[..n];
                let end = skip_name(q, 12).unwrap();
                let name = read_name(q, 12).unwrap();
                let mut resp = q[..end + 4].to_vec();
                resp[2] = 0x81; // response, RD
                let records = zone.get(&name);
                resp[3] = if records.is_some() { 0x80 } else { 0x83 };
                let records = records.cloned().unwrap_or_default();
                resp[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
                for r in records {
                    resp.extend_from_slice(&[0xc0, 12]); // name: pointer to the question
                    resp.extend_from_slice(&TYPE_SRV.to_be_bytes());
                    resp.extend_from_slice(&CLASS_IN.to_be_bytes());
                    resp.extend_from_slice(&60u32.to_be_bytes());
                    let mut rdata = Vec::new();
                    rdata.extend_from_slice(&r.priority.to_be_bytes());
                    rdata.extend_from_slice(&r.weight.to_be_bytes());
                    rdata.extend_from_slice(&r.port.to_be_bytes());
                    for label in r.target.split('.') {
                        rdata.push(label.len() as u8);
                        rdata.extend_from_slice(label.as_bytes());
                    }
                    rdata.push(0);
                    resp.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
                    resp.extend_from_slice(&rdata);
                }
                let _ = sock.send_to(&resp, peer);
            }
        });
        addr
    }

    fn srv(priority: u16, port: u16, target: &str) -> Srv {
        Srv {
            priority,
            weight: 0,
            port,
            target: target.into(),
        }
    }

    #[test]
    fn discovers_https_then_http_in_priority_order() {
        let dns = fake_dns(HashMap::from([
            (
                "_etcd-client._tcp.example.test".to_string(),
                vec![
                    srv(20, 2379, "b.example.test"),
                    srv(10, 2379, "a.example.test"),
                ],
            ),
            (
                "_etcd-client-ssl._tcp.example.test".to_string(),
                vec![srv(10, 2380, "c.example.test")],
            ),
        ]));
        assert_eq!(
            discover("example.test", &[dns]).unwrap(),
            [
                "https://c.example.test:2380",
                "http://a.example.test:2379",
                "http://b.example.test:2379"
            ]
        );
    }

    #[test]
    fn fails_only_when_both_lookups_fail() {
        let dns = fake_dns(HashMap::from([(
            "_etcd-client._tcp.one.test".to_string(),
            vec![srv(0, 4001, "127.0.0.1")],
        )]));
        assert_eq!(
            discover("one.test", &[dns]).unwrap(),
            ["http://127.0.0.1:4001"]
        );
        let err = discover("none.test", &[dns]).unwrap_err();
        assert_eq!(
            err,
            "failed to discover etcd endpoints through SRV discovery: dns lookup errors: \
             lookup _etcd-client-ssl._tcp.none.test: no such host and \
             lookup _etcd-client._tcp.none.test: no such host"
        );
    }

    /// `etcd_discovery_srv` end to end: SRV records from a DNS server lead to a real etcd.
    #[test]
    fn discovered_endpoints_reach_a_real_etcd() {
        use crate::kv::Kv;
        let etcd = testkit::EtcdServer::start();
        let dns = fake_dns(HashMap::from([(
            "_etcd-client._tcp.cluster.test".to_string(),
            vec![srv(0, etcd.client_port(), "127.0.0.1")],
        )]));
        let config = crate::config::EtcdConfig {
            discovery_srv: "cluster.test".into(),
            nameservers: vec![dns],
            ..crate::config::EtcdConfig::default()
        };
        let store = crate::etcd::EtcdStore::connect(&config).unwrap();
        assert_eq!(store.endpoints(), [etcd.endpoint()]);
        let rev = store.create("/calico/ipam/v2/config", b"{}").unwrap();
        assert_eq!(
            store
                .get("/calico/ipam/v2/config")
                .unwrap()
                .unwrap()
                .revision,
            rev
        );
    }

    #[test]
    fn reads_resolv_conf_style_nameservers() {
        let ns = system_nameservers();
        assert!(!ns.is_empty());
        assert!(ns.iter().all(|a| a.port() == 53));
    }
}
