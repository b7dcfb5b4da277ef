//! The `istio-cni` entry in the node's CNI config (`cni/pkg/install/cniconfig.go`): which file
//! is the primary network, inserting or replacing our entry (a `.conf` becomes a
//! `.conflist`), the validity check the watch loop runs, and the removal on shutdown.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value};

use super::gojson;
use super::settings::Settings;

/// The plugin's NetConf as install-cni marshals it (struct field order, `cniVersion` set),
/// with its keys in Go struct order.
pub fn plugin_config(s: &Settings) -> Vec<(&'static str, Value)> {
    let excludes: Vec<Value> = s
        .exclude_namespaces
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| Value::String(n.to_string()))
        .collect();
    let selectors = if s.ambient_enablement_selector.trim().is_empty() {
        json!([])
    } else {
        match kubeclient::yaml::parse(&s.ambient_enablement_selector) {
            Ok(v @ Value::Array(_)) => v,
            _ => {
                super::log::warn(
                    "AMBIENT_ENABLEMENT_SELECTOR is not a YAML list; ambient mode is not supported, writing []",
                );
                json!([])
            }
        }
    };
    vec![
        ("cniVersion", json!("0.3.1")),
        ("name", json!("istio-cni")),
        ("type", json!("istio-cni")),
        ("ipam", json!({})),
        ("dns", json!({})),
        ("plugin_log_level", json!(s.plugin_log_level)),
        (
            "cni_agent_run_dir",
            json!(s.cni_agent_run_dir.to_string_lossy()),
        ),
        ("ambient_enabled", json!(s.ambient_enabled)),
        ("enablement_selectors", selectors),
        (
            "exclude_namespaces",
            if excludes.is_empty() {
                Value::Null
            } else {
                Value::Array(excludes)
            },
        ),
        ("pod_namespace", json!(s.pod_namespace)),
        ("native_nftables", json!(s.native_nftables)),
        (
            "enable_ambient_detection_retry",
            json!(s.ambient_detection_retry),
        ),
    ]
}

/// The plugin entry as it goes into a list: the same object without `cniVersion`.
pub fn plugin_entry(s: &Settings) -> Value {
    let mut m = Map::new();
    for (k, v) in plugin_config(s) {
        if k != "cniVersion" {
            m.insert(k.to_string(), v);
        }
    }
    Value::Object(m)
}

/// libcni's `ConfListFromFile` / `ConfFromFile` + `ConfListFromConf` as install-cni uses
/// them: does `path` hold a usable network with at least one plugin?
fn usable(path: &Path) -> Result<(), String> {
    let bytes = crate::read::small_file(path).map_err(|e| e.to_string())?;
    let v: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("error parsing configuration: {e}"))?;
    let obj = v
        .as_object()
        .ok_or("error parsing configuration: not an object")?;
    if path.extension().is_some_and(|e| e == "conflist") {
        let name = obj.get("name").and_then(Value::as_str).unwrap_or_default();
        if name.is_empty() {
            return Err("error parsing configuration list: no name".into());
        }
        let plugins = obj
            .get("plugins")
            .ok_or("error parsing configuration list: no 'plugins' key")?
            .as_array()
            .ok_or("error parsing configuration list: invalid 'plugins' type")?;
        if plugins.iter().any(|p| !p.is_object()) {
            return Err("failed to parse plugin config".into());
        }
        if plugins.is_empty() {
            return Err("has no networks".into());
        }
    } else {
        let t = obj.get("type").and_then(Value::as_str).unwrap_or_default();
        if t.is_empty() {
            return Err("no 'type'; perhaps this is a .conflist?".into());
        }
    }
    Ok(())
}

/// install-cni's `getHighestPriorityConfigFilename`: `.conf` and `.conflist` files of `dir`
/// in name order, skipping unusable ones.
pub fn primary_conf_names(dir: &Path) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .flatten()
        .filter(|e| {
            e.file_type()
                .map(|t| t.is_file() || t.is_symlink())
                .unwrap_or(false)
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".conf") || n.ends_with(".conflist"))
        .collect();
    if names.is_empty() {
        return Err(format!("no networks found in {}", dir.display()));
    }
    names.sort();
    let valid: Vec<String> = names
        .into_iter()
        .filter(|n| match usable(&dir.join(n)) {
            Ok(()) => true,
            Err(e) => {
                super::log::warn(&format!("Error loading CNI config file {n}: {e}"));
                false
            }
        })
        .collect();
    if valid.is_empty() {
        return Err(format!("no valid networks found in {}", dir.display()));
    }
    Ok(valid)
}

/// The file to edit, if it exists now: `name` (or its `.conf`/`.conflist` twin).
pub fn resolve(dir: &Path, name: &str) -> Option<PathBuf> {
    let p = dir.join(name);
    if p.exists() {
        return Some(p);
    }
    if let Some(stem) = name.strip_suffix(".conf") {
        let list = dir.join(format!("{stem}.conflist"));
        if list.exists() {
            return Some(list);
        }
    }
    if let Some(stem) = name.strip_suffix(".conflist") {
        let conf = dir.join(format!("{stem}.conf"));
        if conf.exists() {
            return Some(conf);
        }
    }
    None
}

/// Go's `util.GetPlugins`/`GetPlugin` failure.
fn plugins_error() -> anyhow::Error {
    anyhow!("existing CNI config: error reading plugin list from CNI config")
}

/// install-cni's `insertCNIConfig`: a network (`type` at the top) becomes a list of it and
/// us; a list loses its first `istio-cni` entry and gets ours appended. Go's map output.
pub fn insert(existing: &[u8], entry: &Value) -> Result<String> {
    let mut existing: Map<String, Value> = serde_json::from_slice(existing)
        .map_err(|e| anyhow!("error loading existing CNI config (JSON error): {e}"))?;
    let new = if existing.contains_key("type") {
        existing.remove("cniVersion");
        json!({"name": "k8s-pod-network", "cniVersion": "0.3.1",
               "plugins": [Value::Object(existing), entry.clone()]})
    } else {
        let mut plugins = existing
            .get("plugins")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(plugins_error)?;
        if plugins.iter().any(|p| !p.is_object()) {
            return Err(plugins_error());
        }
        if let Some(i) = plugins.iter().position(|p| p["type"] == "istio-cni") {
            plugins.remove(i);
        }
        plugins.push(entry.clone());
        existing.insert("plugins".into(), Value::Array(plugins));
        Value::Object(existing)
    };
    let mut out = gojson::marshal_indent(&new, "  ");
    out.push('\n');
    Ok(out)
}

/// Removes the first `istio-cni` plugin of a list (install-cni's cleanup).
pub fn remove(existing: &[u8]) -> Result<String> {
    let mut existing: Map<String, Value> = serde_json::from_slice(existing)
        .map_err(|e| anyhow!("error loading existing CNI config (JSON error): {e}"))?;
    let mut plugins = existing
        .get("plugins")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(plugins_error)?;
    if let Some(i) = plugins.iter().position(|p| p["type"] == "istio-cni") {
        plugins.remove(i);
    }
    existing.insert("plugins".into(), Value::Array(plugins));
    let mut out = gojson::marshal_indent(&Value::Object(existing), "  ");
    out.push('\n');
    Ok(out)
}

/// Writes `data` to `path` through a temporary file in the same directory and a rename, so
/// a runtime reading the directory never sees a half-written file.
pub fn atomic_write(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("open {}", tmp.display()))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("write {}", tmp.display()))?;
    drop(f);
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("rename {}", path.display()))?;
    Ok(())
}

fn file_mode(path: &Path) -> Option<u32> {
    fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

/// Writes our config: chained into `primary` (keeping its mode; a `.conf` is renamed to
/// `.conflist`), or standalone to `primary`. Returns the file that now holds our entry.
pub fn write(s: &Settings, primary: &Path) -> Result<PathBuf> {
    if !s.chained_cni_plugin {
        let mut text = gojson::marshal_struct_indent(&plugin_config(s), "  ");
        text.push('\n');
        atomic_write(primary, text.as_bytes(), s.new_conf_mode())?;
        return Ok(primary.to_path_buf());
    }
    let existing = crate::read::small_file(primary).map_err(|_| {
        anyhow!(
            "CNI config file {} removed during configuration",
            primary.display()
        )
    })?;
    let text = insert(&existing, &plugin_entry(s))?;
    let mode = file_mode(primary).unwrap_or(s.new_conf_mode());
    atomic_write(primary, text.as_bytes(), mode)?;
    if primary.extension().is_some_and(|e| e == "conf") {
        let list = primary.with_extension("conflist");
        fs::rename(primary, &list).with_context(|| format!("rename {}", primary.display()))?;
        return Ok(list);
    }
    Ok(primary.to_path_buf())
}

/// install-cni's `checkValidCNIConfig` against the file we wrote.
pub fn valid(s: &Settings, ours: &Path) -> Result<()> {
    let bytes = crate::read::small_file(ours)
        .map_err(|_| anyhow!("CNI config file removed: {}", ours.display()))?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow!("error loading CNI config (JSON error): {e}"))?;
    if s.chained_cni_plugin {
        let plugins = v
            .get("plugins")
            .and_then(Value::as_array)
            .ok_or_else(plugins_error)?;
        if !plugins.iter().any(|p| p["type"] == "istio-cni") {
            bail!(
                "istio-cni CNI config removed from CNI config file: {}",
                ours.display()
            );
        }
    } else if v["type"] != "istio-cni" {
        bail!("istio-cni CNI config file modified: {}", ours.display());
    }
    Ok(())
}

/// Shutdown: our entry out of the primary list (its mode kept), or our standalone file gone.
pub fn cleanup(s: &Settings, ours: &Path) -> Result<()> {
    if !s.chained_cni_plugin {
        return match fs::remove_file(ours) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("remove {}", ours.display()))
            }
            _ => Ok(()),
        };
    }
    let Ok(existing) = crate::read::small_file(ours) else {
        return Ok(());
    };
    let text = remove(&existing)?;
    let mode = file_mode(ours).unwrap_or(s.new_conf_mode());
    atomic_write(ours, text.as_bytes(), mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_replaces_and_converts() {
        let entry = json!({"type": "istio-cni", "name": "istio-cni"});
        let list = br#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"istio-cni","old":true},{"type":"calico"},{"type":"istio-cni","second":1}]}"#;
        let out: Value = serde_json::from_str(&insert(list, &entry).unwrap()).unwrap();
        assert_eq!(
            out["plugins"],
            json!([{"type": "calico"}, {"type": "istio-cni", "second": 1}, entry])
        );
        let conf = br#"{"cniVersion":"0.4.0","name":"dbnet","type":"bridge"}"#;
        let out: Value = serde_json::from_str(&insert(conf, &entry).unwrap()).unwrap();
        assert_eq!(
            out,
            json!({"cniVersion": "0.3.1", "name": "k8s-pod-network",
                   "plugins": [{"name": "dbnet", "type": "bridge"}, entry]})
        );
        assert_eq!(
            insert(br#"{"name":"n","plugins":{}}"#, &entry)
                .unwrap_err()
                .to_string(),
            "existing CNI config: error reading plugin list from CNI config"
        );
        let removed: Value = serde_json::from_str(&remove(list).unwrap()).unwrap();
        assert_eq!(removed["plugins"].as_array().unwrap().len(), 2);
    }
}
