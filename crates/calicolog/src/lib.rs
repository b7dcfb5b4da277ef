//! Calico's CNI logging (`utils.ConfigureLogging`), for calico and calico-ipam: Calico's
//! calico-ipam reads the same `log_*` keys of the same NetConf and writes to the same file as
//! calico, so the two share this.
//!
//! Lines go to stderr (never stdout, which carries the result) and, with `log_file_path`, to
//! that file (parent made 0755, file 0644, appended to), rotated as lumberjack does it for
//! Calico ([`rotate`]). `log_level` is `debug`, `info` or `error` in any case; anything else
//! is info. Warnings show at info and debug, as logrus shows them.
//!
//! A line: `2026-08-22T13:33:20Z [INFO][4242] ipam: Calico CNI IPAM request count IPv4=1 IPv6=0`.

mod rotate;
mod settings;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

pub use settings::Settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 0,
    Warning = 1,
    Info = 2,
    Debug = 3,
}

impl Level {
    /// `debug`, `info`, `error` (any case); anything else is info, as in Calico.
    pub fn parse(s: &str) -> Level {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Level::Debug,
            "error" => Level::Error,
            _ => Level::Info,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warning => "WARNING",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }
}

struct Logger {
    component: &'static str,
    level: Level,
    file: Option<fs::File>,
}

static LOGGER: Mutex<Option<Logger>> = Mutex::new(None);

/// Starts logging for this process as `component` (`calico`, `ipam`). Logging must never fail
/// a plugin: a log file that cannot be opened leaves stderr only.
pub fn init(component: &'static str, settings: &Settings) {
    let file = if settings.log_file_path.is_empty() {
        None
    } else {
        open(settings)
    };
    let logger = Logger {
        component,
        level: Level::parse(&settings.log_level),
        file,
    };
    *LOGGER.lock().unwrap_or_else(|p| p.into_inner()) = Some(logger);
}

fn open(settings: &Settings) -> Option<fs::File> {
    let path = Path::new(&settings.log_file_path);
    if let Some(parent) = path.parent() {
        let _ = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent);
    }
    rotate::if_full(path, settings);
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .open(path)
        .ok()
}

/// Writes one line at `level`, if the configured level lets it through. Before [`init`]
/// nothing is written.
pub fn log(level: Level, msg: &str) {
    let mut guard = LOGGER.lock().unwrap_or_else(|p| p.into_inner());
    let Some(logger) = guard.as_mut() else { return };
    if level > logger.level {
        return;
    }
    let ts = datastore::time::rfc3339(SystemTime::now());
    let line = format!(
        "{ts} [{}][{}] {}: {msg}\n",
        level.tag(),
        std::process::id(),
        logger.component
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Some(f) = logger.file.as_mut() {
        let _ = f.write_all(line.as_bytes());
    }
}

#[macro_export]
macro_rules! error {
    ($($t:tt)*) => { $crate::log($crate::Level::Error, &format!($($t)*)) };
}
#[macro_export]
macro_rules! warning {
    ($($t:tt)*) => { $crate::log($crate::Level::Warning, &format!($($t)*)) };
}
#[macro_export]
macro_rules! info {
    ($($t:tt)*) => { $crate::log($crate::Level::Info, &format!($($t)*)) };
}
#[macro_export]
macro_rules! debug {
    ($($t:tt)*) => { $crate::log($crate::Level::Debug, &format!($($t)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_as_calico_reads_them() {
        assert_eq!(Level::parse("DEBUG"), Level::Debug);
        assert_eq!(Level::parse("Error"), Level::Error);
        assert_eq!(Level::parse("info"), Level::Info);
        // logrus's other names are not Calico's: info.
        assert_eq!(Level::parse("warning"), Level::Info);
        assert_eq!(Level::parse(""), Level::Info);
        assert!(Level::Warning <= Level::Info && Level::Warning > Level::Error);
    }
}
