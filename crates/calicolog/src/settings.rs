//! The NetConf keys of Calico's logging (`types.NetConf`'s `LogLevel`, `LogFilePath`,
//! `LogFileMaxSize`, `LogFileMaxAge`, `LogFileMaxCount`), filled in from the decoded NetConf
//! (`calicoconf::NetConf::log_settings`).

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub log_level: String,
    pub log_file_path: String,
    /// MB before the file is rotated; 0: 100.
    pub log_file_max_size: i64,
    /// Days a rotated file is kept; 0: 30.
    pub log_file_max_age: i64,
    /// Rotated files kept; 0: 10.
    pub log_file_max_count: i64,
}

impl Settings {
    pub(crate) fn max_bytes(&self) -> u64 {
        let mb = if self.log_file_max_size > 0 {
            self.log_file_max_size as u64
        } else {
            100
        };
        mb << 20
    }

    pub(crate) fn max_age_secs(&self) -> u64 {
        let days = if self.log_file_max_age > 0 {
            self.log_file_max_age as u64
        } else {
            30
        };
        days * 86_400
    }

    pub(crate) fn max_count(&self) -> usize {
        if self.log_file_max_count > 0 {
            self.log_file_max_count as usize
        } else {
            10
        }
    }
}
