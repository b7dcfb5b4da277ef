//! Log lines on stderr in the shape of Calico's `cni-installer` component
//! (`<date> <time> [LEVEL][pid] cni-installer/<file>: <message>`). Stdout is
//! reserved for the rendered conflist, which Calico prints there.

use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy)]
pub enum Level {
    Info,
    Warning,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
        }
    }
}

pub fn log(level: Level, file: &str, msg: std::fmt::Arguments<'_>) {
    let file = file.rsplit('/').next().unwrap_or(file);
    eprintln!(
        "{} [{}][{}] cni-installer/{}: {}",
        timestamp(),
        level.as_str(),
        std::process::id(),
        file,
        msg
    );
}

#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Info, file!(), format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Warning, file!(), format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Error, file!(), format_args!($($arg)*)) };
}

/// UTC `YYYY-MM-DD HH:MM:SS.mmm`, without a date crate.
fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = libcni::time::civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}
