//! `resolvConf`: a resolv.conf parsed into the result's `dns`, as the reference's `dns.go`.

use std::path::Path;

use libcni::types::Dns;

/// The most of a resolv.conf we read. Go reads any amount (and never finishes
/// `/dev/urandom`, whose lines are short); a real one is a few hundred bytes.
pub const MAX_SIZE: u64 = 1 << 20;

/// Reads and parses `path` line by line as Go's `bufio.Scanner` does: its errors
/// (`open <path>: <errno text>`, `bufio.Scanner: token too long` for a line of 64 KiB, so
/// `/dev/zero` fails at once), and never blocking or holding more than [`MAX_SIZE`] bytes
/// (`libcni::fs`).
pub fn parse_file(path: &str) -> Result<Dns, String> {
    let mut dns = Dns::default();
    libcni::fs::scan_lines(Path::new(path), MAX_SIZE, |line| {
        parse_line(&mut dns, &String::from_utf8_lossy(line))
    })
    .map_err(|e| e.to_string())?;
    Ok(dns)
}

/// [`parse_file`] on text already read (the unit tests).
#[cfg(test)]
fn parse(text: &str) -> Dns {
    let mut dns = Dns::default();
    for line in text.lines() {
        parse_line(&mut dns, line);
    }
    dns
}

/// `nameserver` takes its first argument, `domain` its first (the last line wins), `search`
/// and `options` all of theirs; comments (`#`, `;`), blank lines and lines with fewer than
/// two fields are skipped, and other keywords ignored.
fn parse_line(dns: &mut Dns, line: &str) {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
        return;
    }
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 2 {
        return;
    }
    let args = fields[1..].iter().map(|s| s.to_string());
    match fields[0] {
        "nameserver" => dns.nameservers.push(fields[1].to_string()),
        "domain" => dns.domain = fields[1].to_string(),
        "search" => dns.search.extend(args),
        "options" => dns.options.extend(args),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_nameservers() {
        let dns = parse("nameserver 10.0.0.1\nnameserver 10.0.0.2\n");
        assert_eq!(dns.nameservers, ["10.0.0.1", "10.0.0.2"]);
        assert!(dns.domain.is_empty() && dns.search.is_empty() && dns.options.is_empty());
    }

    #[test]
    fn semicolon_lines_are_comments() {
        let dns = parse("nameserver 10.0.0.1\n;nameserver 10.0.0.2\n");
        assert_eq!(dns.nameservers, ["10.0.0.1"]);
    }

    #[test]
    fn all_fields() {
        let dns = parse(
            "nameserver 10.0.0.0\n\
             # a comment\n\
             ; another comment\n\
             nameserver 10.0.0.2\n\
             domain example.com\n\
             search example.net example.org\n\
             search example.gov\n\
             options one two three\n\
             options four\n\
             lonely\n\
             sortlist 10.0.0.0/8\n",
        );
        assert_eq!(dns.nameservers, ["10.0.0.0", "10.0.0.2"]);
        assert_eq!(dns.domain, "example.com");
        assert_eq!(dns.search, ["example.net", "example.org", "example.gov"]);
        assert_eq!(dns.options, ["one", "two", "three", "four"]);
    }

    #[test]
    fn missing_file_reads_like_go() {
        assert_eq!(
            parse_file("/nonexistent/resolv.conf").unwrap_err(),
            "open /nonexistent/resolv.conf: no such file or directory"
        );
    }
}
