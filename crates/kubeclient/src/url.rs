//! The API server URL, checked the way client-go checks it before any request is made: Go's
//! `net/url.Parse` for the parts a server URL has (scheme, `user@host:port` authority, path),
//! then client-go's `DefaultServerURL` (a bare `host:port` gets `https://` when TLS settings
//! are present, else `http://`). A malformed `k8s_api_root` or kubeconfig `server` therefore
//! fails at once with Go's words (`parse "https://\\": invalid character "\\" in host name`)
//! instead of reaching the resolver.

/// A parsed server URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// `http` or `https` (lower-cased, as Go keeps it).
    pub scheme: String,
    /// `host[:port]` as written (IPv6 in brackets): for URLs in errors and the Host header.
    pub authority: String,
    /// The host without brackets: what is dialled and, over TLS, verified.
    pub host: String,
    pub port: u16,
    /// Path prefix of the server URL, without a trailing `/` (usually empty).
    pub prefix: String,
}

impl ServerUrl {
    /// `scheme://authority`.
    pub fn base(&self) -> String {
        format!("{}://{}{}", self.scheme, self.authority, self.prefix)
    }

    pub fn is_https(&self) -> bool {
        self.scheme == "https"
    }
}

/// client-go's `DefaultServerURL`: the server of a config, `default_tls` when the config has
/// TLS settings (a CA, a client certificate, or insecure-skip-tls-verify).
pub fn server_url(host: &str, default_tls: bool) -> Result<ServerUrl, String> {
    if host.is_empty() {
        return Err("host must be a URL or a host:port pair".into());
    }
    let parsed = match parse(host) {
        Ok(u) if !u.scheme.is_empty() && !u.host.is_empty() => u,
        _ => {
            let scheme = if default_tls { "https://" } else { "http://" };
            let u = parse(&format!("{scheme}{host}"))?;
            if !u.path.is_empty() && u.path != "/" {
                return Err(format!(
                    "host must be a URL or a host:port pair: {}",
                    libcni::json::go_quote(host)
                ));
            }
            u
        }
    };
    let scheme = parsed.scheme.clone();
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "unsupported protocol scheme {}",
            libcni::json::go_quote(&scheme)
        ));
    }
    let (hostname, port) = split_host_port(&parsed.host);
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("invalid port {}", libcni::json::go_quote(p)))?,
        None if scheme == "https" => 443,
        None => 80,
    };
    Ok(ServerUrl {
        scheme,
        authority: parsed.host.clone(),
        host: hostname.to_string(),
        port,
        prefix: parsed.path.trim_end_matches('/').to_string(),
    })
}

/// The parts of Go's `url.URL` a server URL uses.
#[derive(Debug, Default, PartialEq, Eq)]
struct Parsed {
    scheme: String,
    host: String,
    path: String,
}

fn parse_error(raw: &str, why: impl std::fmt::Display) -> String {
    format!("parse {}: {why}", libcni::json::go_quote(raw))
}

/// Go's `url.Parse` (no fragment handling beyond cutting it, as Parse does).
fn parse(raw: &str) -> Result<Parsed, String> {
    let (u, _fragment) = raw.split_once('#').unwrap_or((raw, ""));
    if u.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(parse_error(
            raw,
            "net/url: invalid control character in URL",
        ));
    }
    let (scheme, rest) = get_scheme(u).map_err(|e| parse_error(raw, e))?;
    let mut out = Parsed {
        scheme: scheme.to_ascii_lowercase(),
        ..Parsed::default()
    };
    let rest = rest.split_once('?').map_or(rest, |(r, _)| r);
    if !rest.starts_with('/') && !out.scheme.is_empty() {
        // "scheme:opaque": no authority, no path to speak of.
        return Ok(out);
    }
    if out.scheme.is_empty() {
        if let Some(colon) = rest.find(':') {
            let slash = rest.find('/').unwrap_or(rest.len());
            if colon < slash {
                return Err(parse_error(
                    raw,
                    "first path segment in URL cannot contain colon",
                ));
            }
        }
    }
    let path = if let Some(after) = rest.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        let authority = &after[..end];
        out.host = parse_authority(authority).map_err(|e| parse_error(raw, e))?;
        &after[end..]
    } else {
        rest
    };
    out.path = unescape(path, false).map_err(|e| parse_error(raw, e))?;
    Ok(out)
}

/// Go's `getScheme`: letters first, then letters, digits, `+`, `-`, `.` up to a `:`.
fn get_scheme(raw: &str) -> Result<(&str, &str), &'static str> {
    for (i, c) in raw.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i == 0 => return Err("missing protocol scheme"),
            ':' => return Ok((&raw[..i], &raw[i + 1..])),
            // Not a scheme character: no scheme at all.
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

/// Go's `parseAuthority` + `parseHost`: the `host[:port]` with userinfo dropped.
fn parse_authority(authority: &str) -> Result<String, String> {
    let host = match authority.rfind('@') {
        Some(i) => {
            let user = &authority[..i];
            if user
                .bytes()
                .any(|b| !b.is_ascii_alphanumeric() && !b"-._:~!$&'()*+,;=%@".contains(&b))
            {
                return Err("net/url: invalid userinfo".into());
            }
            &authority[i + 1..]
        }
        None => authority,
    };
    if let Some(inner) = host.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return Err("missing ']' in host".into());
        };
        let after = &inner[close + 1..];
        if !valid_optional_port(after) {
            return Err(format!(
                "invalid port {} after host",
                libcni::json::go_quote(after)
            ));
        }
        return Ok(host.to_string());
    }
    if let Some(i) = host.rfind(':') {
        let port = &host[i..];
        if !valid_optional_port(port) {
            return Err(format!(
                "invalid port {} after host",
                libcni::json::go_quote(port)
            ));
        }
    }
    unescape(host, true)
}

fn valid_optional_port(port: &str) -> bool {
    match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// Go's `unescape` in host mode (invalid characters rejected) or path mode.
fn unescape(s: &str, host: bool) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                    out.push((hex(h).unwrap() * 16 + hex(l).unwrap()) as u8);
                    i += 3;
                    continue;
                }
                _ => {
                    let end = (i + 3).min(bytes.len());
                    return Err(format!(
                        "invalid URL escape {}",
                        libcni::json::go_quote(&s[i..end])
                    ));
                }
            }
        }
        if host && b < 0x80 && should_escape_in_host(b) {
            return Err(format!(
                "invalid character {} in host name",
                libcni::json::go_quote(&(b as char).to_string())
            ));
        }
        out.push(b);
        i += 1;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `shouldEscape(c, encodeHost)`: unreserved characters and the sub-delimiters RFC 3986
/// allows in a host (plus `:[]<>"` that Go tolerates) stay; the rest is invalid.
fn should_escape_in_host(c: u8) -> bool {
    !(c.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&c))
}

/// `host:port` → (`host`, Some(`port`)); brackets removed from IPv6 hosts.
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(inner) = authority.strip_prefix('[') {
        if let Some((h, after)) = inner.split_once(']') {
            return (h, after.strip_prefix(':').filter(|p| !p.is_empty()));
        }
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() => (h, Some(p)),
        Some((h, _)) => (h, None),
        None => (authority, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_host_port_pairs() {
        let u = server_url("https://10.96.0.1:443", false).unwrap();
        assert_eq!(
            (
                u.scheme.as_str(),
                u.host.as_str(),
                u.port,
                u.prefix.as_str()
            ),
            ("https", "10.96.0.1", 443, "")
        );
        let u = server_url("10.0.0.1:6443", true).unwrap();
        assert_eq!((u.scheme.as_str(), u.port), ("https", 6443));
        let u = server_url("localhost:8080", false).unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.host.as_str(), u.port),
            ("http", "localhost", 8080)
        );
        let u = server_url("https://[fd00::1]", false).unwrap();
        assert_eq!(
            (u.authority.as_str(), u.host.as_str(), u.port),
            ("[fd00::1]", "fd00::1", 443)
        );
        let u = server_url("https://rancher.example/k8s/clusters/c-1/", false).unwrap();
        assert_eq!(u.prefix, "/k8s/clusters/c-1");
        assert_eq!(u.base(), "https://rancher.example/k8s/clusters/c-1");
    }

    #[test]
    fn go_errors_before_any_network_call() {
        assert_eq!(
            server_url("\\", true).unwrap_err(),
            r#"parse "https://\\": invalid character "\\" in host name"#
        );
        // Go re-parses a URL that failed as "http://" + it, which leaves a path: the same
        // verdict as client-go's.
        assert_eq!(
            server_url("https://a b", false).unwrap_err(),
            r#"host must be a URL or a host:port pair: "https://a b""#
        );
        assert_eq!(
            server_url("a b:80", false).unwrap_err(),
            r#"parse "http://a b:80": invalid character " " in host name"#
        );
        assert_eq!(
            server_url("host:port", false).unwrap_err(),
            r#"parse "http://host:port": invalid port ":port" after host"#
        );
        assert_eq!(
            server_url("host/path", false).unwrap_err(),
            r#"host must be a URL or a host:port pair: "host/path""#
        );
        assert_eq!(
            server_url("", false).unwrap_err(),
            "host must be a URL or a host:port pair"
        );
        assert_eq!(
            server_url("ftp://x", false).unwrap_err(),
            r#"unsupported protocol scheme "ftp""#
        );
        assert_eq!(
            server_url("https://x\n", false).unwrap_err(),
            r#"parse "http://https://x\n": net/url: invalid control character in URL"#
        );
    }
}
