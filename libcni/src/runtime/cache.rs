//! The result cache (`<cacheDir>/results/<network>-<containerID>-<ifname>`), byte-compatible
//! with Go libcni's `cniCacheV1` files so either runtime can read what the other wrote.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{Result, RuntimeError};
use crate::error::path_error_text as go_path_error;
use crate::types::{result::sort_keys, CniResult};

/// Where Go libcni keeps its cache when nobody says otherwise.
pub const DEFAULT_CACHE_DIR: &str = "/var/lib/cni";
/// The `kind` of the current cache format.
pub const CACHE_KIND_V1: &str = "cniCacheV1";

/// One cached attachment: what a DEL (or GC) needs to undo an ADD later.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkAttachment {
    pub container_id: String,
    pub network: String,
    pub ifname: String,
    /// The network config list bytes the ADD ran with.
    pub config: Vec<u8>,
    pub netns: String,
    pub cni_args: Vec<(String, String)>,
    pub capability_args: Map<String, Value>,
}

/// The on-disk JSON, fields in Go's order.
#[derive(Serialize)]
struct CacheFileOut<'a> {
    kind: &'a str,
    #[serde(rename = "containerId")]
    container_id: &'a str,
    /// Go encodes a `[]byte` as standard base64.
    config: String,
    #[serde(rename = "ifName")]
    ifname: &'a str,
    #[serde(rename = "networkName")]
    network_name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    netns: &'a str,
    #[serde(rename = "cniArgs", skip_serializing_if = "Vec::is_empty")]
    cni_args: Vec<[&'a str; 2]>,
    #[serde(rename = "capabilityArgs", skip_serializing_if = "is_empty_object")]
    capability_args: Value,
    result: Value,
}

fn is_empty_object(v: &Value) -> bool {
    v.as_object().is_none_or(Map::is_empty)
}

/// The on-disk JSON as Go reads it: case-insensitive keys, every field optional.
#[derive(Deserialize, Default)]
#[serde(rename = "libcni.cachedInfo")]
struct CacheFileIn {
    #[serde(default)]
    kind: String,
    #[serde(rename = "containerId", default)]
    container_id: String,
    #[serde(default)]
    config: Option<String>,
    #[serde(rename = "ifName", default)]
    ifname: String,
    #[serde(rename = "networkName", default)]
    network_name: String,
    #[serde(default)]
    netns: String,
    #[serde(rename = "cniArgs", default)]
    cni_args: Option<Vec<Vec<String>>>,
    #[serde(rename = "capabilityArgs", default)]
    capability_args: Option<Map<String, Value>>,
    #[serde(default)]
    result: Option<Map<String, Value>>,
}

impl CacheFileIn {
    fn parse(bytes: &[u8]) -> std::result::Result<Self, String> {
        let parsed: CacheFileIn = crate::gojson::from_slice(bytes).map_err(|e| e.to_string())?;
        if let Some(b64) = &parsed.config {
            decode_base64(b64)?;
        }
        Ok(parsed)
    }

    fn config_bytes(&self) -> Vec<u8> {
        self.config
            .as_deref()
            .and_then(|b| decode_base64(b).ok())
            .unwrap_or_default()
    }

    fn args(&self) -> Option<Vec<(String, String)>> {
        self.cni_args.as_ref().map(|pairs| {
            pairs
                .iter()
                .map(|p| {
                    (
                        p.first().cloned().unwrap_or_default(),
                        p.get(1).cloned().unwrap_or_default(),
                    )
                })
                .collect()
        })
    }
}

fn decode_base64(s: &str) -> std::result::Result<Vec<u8>, String> {
    // Go's decoder skips newlines inside the text.
    let clean: String = s.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    base64::engine::general_purpose::STANDARD
        .decode(clean)
        .map_err(|e| format!("illegal base64 data: {e}"))
}

/// Which attachment a cache entry is for.
#[derive(Debug, Clone, Copy)]
pub struct CacheKey<'a> {
    pub network: &'a str,
    pub container_id: &'a str,
    pub ifname: &'a str,
}

/// What is written along with the result.
#[derive(Debug, Clone, Copy)]
pub struct CacheEntry<'a> {
    pub key: CacheKey<'a>,
    pub config: &'a [u8],
    pub netns: &'a str,
    pub cni_args: &'a [(String, String)],
    pub capability_args: &'a Map<String, Value>,
}

/// The cache under one directory (`<dir>/results/...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultCache {
    dir: PathBuf,
}

impl ResultCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ResultCache { dir: dir.into() }
    }

    /// The cache directory (the one that holds `results/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn results_dir(&self) -> PathBuf {
        self.dir.join("results")
    }

    /// `<dir>/results/<network>-<containerID>-<ifname>`; all three must be non-empty.
    pub fn file_path(&self, key: CacheKey<'_>) -> Result<PathBuf> {
        if key.network.is_empty() || key.container_id.is_empty() || key.ifname.is_empty() {
            return Err(RuntimeError::Other(format!(
                "cache file path requires network name ({}), container ID ({}), and interface name ({})",
                crate::json::go_quote(key.network),
                crate::json::go_quote(key.container_id),
                crate::json::go_quote(key.ifname)
            )));
        }
        Ok(self.results_dir().join(format!(
            "{}-{}-{}",
            key.network, key.container_id, key.ifname
        )))
    }

    /// Go's `cacheAdd`: a plain (non-atomic) write of the cniCacheV1 JSON; the directory is
    /// created with mode 0700, the file with 0600.
    pub fn write(&self, entry: &CacheEntry<'_>, result: &CniResult) -> Result<()> {
        let out = CacheFileOut {
            kind: CACHE_KIND_V1,
            container_id: entry.key.container_id,
            config: base64::engine::general_purpose::STANDARD.encode(entry.config),
            ifname: entry.key.ifname,
            network_name: entry.key.network,
            netns: entry.netns,
            cni_args: entry
                .cni_args
                .iter()
                .map(|(k, v)| [k.as_str(), v.as_str()])
                .collect(),
            capability_args: sort_keys(Value::Object(entry.capability_args.clone())),
            result: sort_keys(result.to_value()),
        };
        let bytes = crate::json::to_compact(&out);
        let path = self.file_path(entry.key)?;
        let dir = self.results_dir();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| RuntimeError::Io(go_path_error("mkdir", &dir, &e)))?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| RuntimeError::Io(go_path_error("open", &path, &e)))?;
        file.write_all(bytes.as_bytes())
            .map_err(|e| RuntimeError::Io(go_path_error("write", &path, &e)))
    }

    /// Go's `cacheDel`: an incomplete key is silently nothing to delete.
    pub fn remove(&self, key: CacheKey<'_>) -> Result<()> {
        let Ok(path) = self.file_path(key) else {
            return Ok(());
        };
        std::fs::remove_file(&path)
            .map_err(|e| RuntimeError::Io(go_path_error("remove", &path, &e)))
    }

    /// Go's `getCachedResult`: the cached result converted to `cni_version`; `None` when
    /// there is no readable file. A file that is not cniCacheV1 is read as a bare result
    /// (the legacy format).
    pub fn read_result(&self, key: CacheKey<'_>, cni_version: &str) -> Result<Option<CniResult>> {
        let path = self.file_path(key)?;
        let Ok(data) = read_entry(&path) else {
            return Ok(None);
        };
        let result_bytes = match CacheFileIn::parse(&data) {
            Ok(c) if c.kind == CACHE_KIND_V1 => match &c.result {
                Some(r) => crate::json::to_compact(&Value::Object(r.clone())).into_bytes(),
                None => b"null".to_vec(),
            },
            _ => data,
        };
        let result = CniResult::from_bytes(&result_bytes).map_err(RuntimeError::Decode)?;
        let converted = result.get_as_version(cni_version).map_err(|e| {
            RuntimeError::Decode(format!(
                "failed to convert cached result to config version {}: {e}",
                crate::json::go_quote(cni_version)
            ))
        })?;
        Ok(Some(converted))
    }

    /// Go's `getCachedConfig`: the cached config bytes, CNI args and capability args; `None`
    /// when there is no readable file.
    pub fn read_config(&self, key: CacheKey<'_>) -> Result<Option<NetworkAttachment>> {
        let path = self.file_path(key)?;
        let Ok(data) = read_entry(&path) else {
            return Ok(None);
        };
        let cached = CacheFileIn::parse(&data).map_err(|e| {
            RuntimeError::Decode(format!(
                "failed to unmarshal cached network {} config: {e}",
                crate::json::go_quote(key.network)
            ))
        })?;
        if cached.kind != CACHE_KIND_V1 {
            return Err(RuntimeError::Decode(format!(
                "read cached network {} config has wrong kind: {}",
                crate::json::go_quote(key.network),
                cached.kind
            )));
        }
        Ok(Some(attachment(&cached)))
    }

    /// Go's `GetCachedAttachments`: every readable cniCacheV1 entry, in file name order,
    /// optionally only those of `container_id`. Unreadable or foreign files are skipped; a
    /// missing results directory is an error.
    pub fn attachments(&self, container_id: &str) -> Result<Vec<NetworkAttachment>> {
        let dir = self.results_dir();
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| RuntimeError::Io(go_path_error("open", &dir, &e)))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut out = Vec::new();
        for name in names {
            if !container_id.is_empty() {
                let part = format!("-{container_id}-");
                match name.find(&part) {
                    Some(pos) if pos > 0 && pos + part.len() < name.len() => {}
                    _ => continue,
                }
            }
            let Ok(data) = read_entry(&dir.join(&name)) else {
                continue;
            };
            let Ok(cached) = CacheFileIn::parse(&data) else {
                continue;
            };
            if cached.kind != CACHE_KIND_V1
                || (!container_id.is_empty() && cached.container_id != container_id)
                || cached.ifname.is_empty()
                || cached.network_name.is_empty()
            {
                continue;
            }
            out.push(attachment(&cached));
        }
        Ok(out)
    }
}

/// A cache file, bounded and non-blocking (`crate::fs`): whatever sits in the results
/// directory, it cannot make a runtime read without end.
fn read_entry(path: &Path) -> std::result::Result<Vec<u8>, crate::fs::ReadError> {
    crate::fs::read_bounded(path, crate::fs::CONFIG_LIMIT)
}

fn attachment(cached: &CacheFileIn) -> NetworkAttachment {
    NetworkAttachment {
        container_id: cached.container_id.clone(),
        network: cached.network_name.clone(),
        ifname: cached.ifname.clone(),
        config: cached.config_bytes(),
        netns: cached.netns.clone(),
        cni_args: cached.args().unwrap_or_default(),
        capability_args: cached.capability_args.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn key<'a>(net: &'a str, cid: &'a str, ifname: &'a str) -> CacheKey<'a> {
        CacheKey {
            network: net,
            container_id: cid,
            ifname,
        }
    }

    fn result_100() -> CniResult {
        CniResult::from_bytes(
            br#"{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","mac":"aa:bb:cc:dd:ee:ff","sandbox":"/ns"}],"ips":[{"interface":0,"address":"10.1.2.3/24","gateway":"10.1.2.1"}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn writes_go_format() {
        let d = tempfile::tempdir().unwrap();
        let cache = ResultCache::new(d.path().join("cni"));
        let caps: Map<String, Value> =
            serde_json::from_str(r#"{"portMappings":[{"hostPort":80,"containerPort":8080}]}"#)
                .unwrap();
        let args = vec![("K".to_string(), "V".to_string())];
        let entry = CacheEntry {
            key: key("net", "cid", "eth0"),
            config: br#"{"name":"net"}"#,
            netns: "/run/netns/x",
            cni_args: &args,
            capability_args: &caps,
        };
        cache.write(&entry, &result_100()).unwrap();
        let path = d.path().join("cni/results/net-cid-eth0");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"cniCacheV1","containerId":"cid","config":"eyJuYW1lIjoibmV0In0=","ifName":"eth0","networkName":"net","netns":"/run/netns/x","cniArgs":[["K","V"]],"capabilityArgs":{"portMappings":[{"containerPort":8080,"hostPort":80}]},"result":{"cniVersion":"1.0.0","interfaces":[{"mac":"aa:bb:cc:dd:ee:ff","name":"eth0","sandbox":"/ns"}],"ips":[{"address":"10.1.2.3/24","gateway":"10.1.2.1","interface":0}]}}"#
        );
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&d.path().join("cni/results")), 0o700);

        // Empty optional fields are left out.
        let entry = CacheEntry {
            key: key("net", "c2", "eth0"),
            config: b"{}",
            netns: "",
            cni_args: &[],
            capability_args: &Map::new(),
        };
        cache.write(&entry, &result_100()).unwrap();
        let text = std::fs::read_to_string(d.path().join("cni/results/net-c2-eth0")).unwrap();
        assert!(text.starts_with(
            r#"{"kind":"cniCacheV1","containerId":"c2","config":"e30=","ifName":"eth0","networkName":"net","result":{"#
        ));

        let back = cache
            .read_config(key("net", "cid", "eth0"))
            .unwrap()
            .unwrap();
        assert_eq!(back.config, br#"{"name":"net"}"#);
        assert_eq!(back.cni_args, args);
        assert_eq!(back.capability_args, caps);
        assert_eq!(back.netns, "/run/netns/x");
    }

    #[test]
    fn reads_and_converts() {
        let d = tempfile::tempdir().unwrap();
        let cache = ResultCache::new(d.path());
        let k = key("net", "cid", "eth0");
        assert!(cache.read_result(k, "1.0.0").unwrap().is_none());
        let entry = CacheEntry {
            key: k,
            config: b"{}",
            netns: "",
            cni_args: &[],
            capability_args: &Map::new(),
        };
        cache.write(&entry, &result_100()).unwrap();
        let r = cache.read_result(k, "0.4.0").unwrap().unwrap();
        assert_eq!(r.version(), "0.4.0");
        let r = cache.read_result(k, "1.1.0").unwrap().unwrap();
        assert_eq!(r.version(), "1.1.0");

        // A result that cannot be converted down.
        let no_ip = CniResult::from_bytes(br#"{"cniVersion":"1.0.0"}"#).unwrap();
        cache.write(&entry, &no_ip).unwrap();
        assert_eq!(
            cache.read_result(k, "0.2.0").unwrap_err().to_string(),
            "failed to convert cached result to config version \"0.2.0\": cannot convert: no valid IP addresses"
        );

        // Legacy: a bare result.
        std::fs::write(
            cache.file_path(k).unwrap(),
            br#"{"cniVersion":"0.2.0","ip4":{"ip":"10.0.0.2/24"}}"#,
        )
        .unwrap();
        let r = cache.read_result(k, "0.4.0").unwrap().unwrap();
        assert_eq!(r.to_value()["ips"][0]["address"], "10.0.0.2/24");
        assert!(cache
            .read_config(k)
            .unwrap_err()
            .to_string()
            .contains("has wrong kind"));

        // Garbage.
        std::fs::write(cache.file_path(k).unwrap(), b"garbage").unwrap();
        assert!(cache.read_result(k, "1.0.0").is_err());
        assert!(cache
            .read_config(k)
            .unwrap_err()
            .to_string()
            .starts_with("failed to unmarshal cached network \"net\" config: "));

        assert_eq!(
            cache.file_path(key("", "c", "")).unwrap_err().to_string(),
            "cache file path requires network name (\"\"), container ID (\"c\"), and interface name (\"\")"
        );
        cache.remove(k).unwrap();
        assert!(cache.remove(k).is_err());
        assert!(cache.remove(key("", "", "")).is_ok());
    }

    #[test]
    fn reads_a_file_go_wrote() {
        let d = tempfile::tempdir().unwrap();
        let cache = ResultCache::new(d.path());
        std::fs::create_dir_all(cache.results_dir()).unwrap();
        // As written by Go libcni v1.3.0 for a bridge + portmap conflist.
        std::fs::write(
            cache.results_dir().join("dbnet-abc-eth0"),
            r#"{"kind":"cniCacheV1","containerId":"abc","config":"eyJuYW1lIjoiZGJuZXQifQ==","ifName":"eth0","networkName":"dbnet","netns":"/var/run/netns/x","cniArgs":[["IgnoreUnknown","1"]],"result":{"cniVersion":"0.4.0","dns":{},"interfaces":[{"mac":"0a:58:0a:01:02:03","name":"cni0"}],"ips":[{"address":"10.1.2.3/24","gateway":"10.1.2.1","interface":0,"version":"4"}],"routes":[{"dst":"0.0.0.0/0"}]}}"#,
        )
        .unwrap();
        let r = cache
            .read_result(key("dbnet", "abc", "eth0"), "0.4.0")
            .unwrap()
            .unwrap();
        assert_eq!(r.to_value()["ips"][0]["gateway"], "10.1.2.1");
        let att = cache.attachments("").unwrap();
        assert_eq!(att.len(), 1);
        assert_eq!(att[0].config, br#"{"name":"dbnet"}"#);
        assert_eq!(att[0].cni_args, vec![("IgnoreUnknown".into(), "1".into())]);
    }

    #[test]
    fn attachments_filter() {
        let d = tempfile::tempdir().unwrap();
        let cache = ResultCache::new(d.path());
        assert!(cache.attachments("").is_err());
        let r = result_100();
        for (net, cid, ifname) in [
            ("a", "c1", "eth0"),
            ("b", "c1", "eth1"),
            ("a", "c2", "eth0"),
        ] {
            let entry = CacheEntry {
                key: key(net, cid, ifname),
                config: b"{}",
                netns: "",
                cni_args: &[],
                capability_args: &Map::new(),
            };
            cache.write(&entry, &r).unwrap();
        }
        std::fs::write(cache.results_dir().join("junk"), b"{").unwrap();
        std::fs::write(
            cache.results_dir().join("x-c1-legacy"),
            br#"{"cniVersion":"0.4.0"}"#,
        )
        .unwrap();
        let all = cache.attachments("").unwrap();
        let ids: Vec<_> = all
            .iter()
            .map(|a| format!("{}/{}/{}", a.network, a.container_id, a.ifname))
            .collect();
        assert_eq!(ids, vec!["a/c1/eth0", "a/c2/eth0", "b/c1/eth1"]);
        let c1 = cache.attachments("c1").unwrap();
        assert_eq!(c1.len(), 2);
        assert!(cache.attachments("eth0").unwrap().is_empty());
    }
}
