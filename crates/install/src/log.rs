//! Log lines on stderr in the shape of Calico's `cni-installer` component
//! (`<date> <time> [LEVEL][pid] cni-installer/<file>: <message>`). Stdout is
//! reserved for the rendered conflist, which Calico prints there.

use std::time::SystemTime;

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

/// UTC `YYYY-MM-DD HH:MM:SS.mmm`.
fn timestamp() -> String {
    let u = libcni::time::Utc::of(SystemTime::now());
    format!("{} {}.{:03}", u.date(), u.hms(), u.nanos / 1_000_000)
}
