//! Log lines in the shape of Istio's agents (`<RFC 3339 UTC>\t<level>\t<scope>\t<message>`)
//! on stderr.

use std::time::{SystemTime, UNIX_EPOCH};

fn line(level: &str, msg: &str) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = libcni::time::civil_from_days(days as i64);
    eprintln!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z\t{level}\tinstall\t{msg}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_micros()
    );
}

pub fn info(msg: &str) {
    line("info", msg);
}

pub fn warn(msg: &str) {
    line("warn", msg);
}

pub fn error(msg: &str) {
    line("error", msg);
}
