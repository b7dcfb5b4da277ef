//! The link's original attributes, saved on ADD and restored on DEL:
//! `<dataDir>/<containerID>_<ifname>.json`, in the Go plugin's format (1-space-indented JSON,
//! keys `mac`, `promisc`, `mtu`, `allmulti`, `txQLen`, each present only when ADD changes
//! it), so a node can switch between the Go and Rust plugins with attachments in place.

use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use libcni::error::path_error_text;
use libcni::CniError;

use serde::Deserialize;

/// Go's `configToRestore`. Encoded by hand (five flat fields, Go's one-space indent), decoded
/// with Go's rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename = "main.configToRestore")]
pub struct Backup {
    /// "" when the MAC is not changed.
    pub mac: String,
    pub promisc: Option<bool>,
    /// 0 when the MTU is not changed.
    pub mtu: i64,
    pub allmulti: Option<bool>,
    #[serde(rename = "txQLen")]
    pub txqlen: Option<i64>,
}

/// Far more than the five fields take; a bigger file is not a backup.
const MAX_SIZE: u64 = 64 * 1024;

pub fn file(data_dir: &str, container_id: &str, ifname: &str) -> PathBuf {
    Path::new(data_dir).join(format!("{container_id}_{ifname}.json"))
}

impl Backup {
    /// Go's `json.MarshalIndent(v, "", " ")` of its struct: the set fields in declaration
    /// order, one per line, indented by one space.
    fn to_json(&self) -> Vec<u8> {
        let mut fields: Vec<String> = Vec::new();
        if !self.mac.is_empty() {
            fields.push(format!(
                "\"mac\": {}",
                libcni::json::to_compact(self.mac.as_str())
            ));
        }
        if let Some(on) = self.promisc {
            fields.push(format!("\"promisc\": {on}"));
        }
        if self.mtu != 0 {
            fields.push(format!("\"mtu\": {}", self.mtu));
        }
        if let Some(on) = self.allmulti {
            fields.push(format!("\"allmulti\": {on}"));
        }
        if let Some(len) = self.txqlen {
            fields.push(format!("\"txQLen\": {len}"));
        }
        if fields.is_empty() {
            return b"{}".to_vec();
        }
        format!("{{\n {}\n}}", fields.join(",\n ")).into_bytes()
    }

    /// Go's `json.Unmarshal` into its struct: keys matched case-insensitively, later ones
    /// winning, `null` leaving a field alone; None when Go would fail to decode.
    fn from_json(bytes: &[u8]) -> Option<Backup> {
        libcni::gojson::from_slice(bytes).ok()
    }

    /// Writes (or overwrites) the file, creating the folder, mode 0600, when missing.
    pub fn save(&self, data_dir: &str, container_id: &str, ifname: &str) -> Result<(), CniError> {
        let dir = Path::new(data_dir);
        if let Err(e) = std::fs::metadata(dir) {
            if e.kind() == ErrorKind::NotFound {
                // Go's MkdirAll(dir, 0600): parents too, all 0600 (root needs no x bit).
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o600)
                    .create(dir)
                    .map_err(|e| {
                        CniError::internal(format!(
                            "failed to create backup directory: {}",
                            path_error_text("mkdir", dir, &e)
                        ))
                    })?;
            }
        }
        let path = file(data_dir, container_id, ifname);
        let save_err = |e: std::io::Error, op: &str| {
            CniError::internal(format!(
                "failed to save file {ifname}.json: {}",
                path_error_text(op, &path, &e)
            ))
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            // A FIFO in its place fails at once (ENXIO) instead of waiting for a reader.
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| save_err(e, "open"))?;
        f.write_all(&self.to_json())
            .map_err(|e| save_err(e, "write"))
    }

    /// The saved attributes; None when there is nothing (usable) to restore: no file, or a
    /// file that is not a backup (left in place, as Go does). Read bounded and without
    /// blocking (`libcni::fs`): a backup is a few dozen bytes, and the path is the config's
    /// `dataDir`, which may hold anything.
    pub fn load(path: &Path) -> Result<Option<Backup>, String> {
        let bytes = match libcni::fs::read_bounded(path, MAX_SIZE) {
            Ok(bytes) => bytes,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(format!("failed to open file \"{}\": {e}", path.display())),
        };
        // A `null` document decodes to an empty backup in Go (nothing to restore, file removed).
        Ok(Backup::from_json(&bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn format_matches_go() {
        let b = Backup {
            mac: "ae:fb:fe:d4:1c:63".into(),
            promisc: Some(false),
            mtu: 1500,
            allmulti: Some(false),
            txqlen: None,
        };
        assert_eq!(
            String::from_utf8(b.to_json()).unwrap(),
            "{\n \"mac\": \"ae:fb:fe:d4:1c:63\",\n \"promisc\": false,\n \"mtu\": 1500,\n \"allmulti\": false\n}"
        );
        let t = Backup {
            txqlen: Some(1000),
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(t.to_json()).unwrap(),
            "{\n \"txQLen\": 1000\n}"
        );
        assert_eq!(
            String::from_utf8(Backup::default().to_json()).unwrap(),
            "{}"
        );
    }

    #[test]
    fn save_creates_private_dirs_and_load_reads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("a/b");
        let data = data.to_str().unwrap();
        let b = Backup {
            mtu: 9000,
            txqlen: Some(5),
            ..Default::default()
        };
        b.save(data, "ctr", "eth0").unwrap();
        let path = file(data, "ctr", "eth0");
        assert!(path.ends_with("a/b/ctr_eth0.json"));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&tmp.path().join("a")), 0o600);
        assert_eq!(Backup::load(&path).unwrap(), Some(b));
        assert_eq!(Backup::load(&tmp.path().join("none.json")).unwrap(), None);
        std::fs::write(&path, "not json").unwrap();
        assert_eq!(Backup::load(&path).unwrap(), None);
        std::fs::write(&path, "null").unwrap();
        assert_eq!(Backup::load(&path).unwrap(), Some(Backup::default()));
        std::fs::write(
            &path,
            r#"{"MTU":1400,"TXQLEN":7,"promisc":null,"other":[1]}"#,
        )
        .unwrap();
        assert_eq!(
            Backup::load(&path).unwrap(),
            Some(Backup {
                mtu: 1400,
                txqlen: Some(7),
                ..Default::default()
            })
        );
        for bad in [r#"{"mtu":"x"}"#, "[]", r#"{"mac":1}"#] {
            std::fs::write(&path, bad).unwrap();
            assert_eq!(Backup::load(&path).unwrap(), None, "{bad}");
        }
    }
}
