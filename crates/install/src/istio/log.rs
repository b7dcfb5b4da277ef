//! Log lines in the shape of Istio's agents (`<RFC 3339 UTC>\t<level>\t<scope>\t<message>`)
//! on stderr.

use std::time::SystemTime;

fn line(level: &str, msg: &str) {
    let u = libcni::time::Utc::of(SystemTime::now());
    eprintln!(
        "{}T{}.{:06}Z\t{level}\tinstall\t{msg}",
        u.date(),
        u.hms(),
        u.nanos / 1000
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
