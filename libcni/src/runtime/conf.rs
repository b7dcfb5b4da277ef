//! Network configuration lists and files (Go's `libcni/conf.go`): loose parsing of a
//! conflist, `cniVersions` selection, single-plugin `.conf` upconversion, the
//! `<confdir>/<network>/*.conf` plugin directory, and lookup of a network in a config
//! directory by name or as the default network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::{Result, RuntimeError};
use crate::error::path_error_text as go_path_error;
use crate::version::{SpecVersion, CURRENT};

/// One plugin of a list: the raw JSON object as written, plus the keys the runtime needs.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginConfig {
    /// The plugin's object, unchanged (Go keeps the bytes and re-decodes them per call).
    pub network: Value,
    /// `type`: the binary to run.
    pub plugin_type: String,
    /// The plugin object's own `name`, if any (only used in error messages of a list; the
    /// list's name is what the plugin receives).
    pub name: String,
    /// The plugin object's own `cniVersion` (used when the plugin runs on its own).
    pub cni_version: String,
    /// `capabilities`: which capability args the plugin wants in `runtimeConfig`.
    pub capabilities: BTreeMap<String, bool>,
    /// The bytes this plugin was loaded from: the file for a plugin file, Go's re-encoding
    /// (compact, keys sorted) for a plugin inline in a list.
    pub bytes: Vec<u8>,
}

/// The keys of a plugin object the runtime looks at, decoded like Go's `types.PluginConf`.
#[derive(Deserialize, Default)]
#[serde(default, rename = "types.PluginConf")]
struct PluginKeys {
    #[serde(rename = "cniVersion")]
    cni_version: String,
    name: String,
    #[serde(rename = "type")]
    plugin_type: String,
    capabilities: Option<BTreeMap<String, bool>>,
}

impl PluginConfig {
    /// Go's `NetworkPluginConfFromBytes`: a single plugin object, which must have a `type`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let parse_err =
            |e: String| RuntimeError::Config(format!("error parsing configuration: {e}"));
        let network: Value =
            crate::gojson::from_slice(bytes).map_err(|e| parse_err(e.to_string()))?;
        let mut conf = Self::from_value(network).map_err(|e| match e {
            RuntimeError::Config(m) => parse_err(m),
            other => other,
        })?;
        conf.bytes = bytes.to_vec();
        Ok(conf)
    }

    /// A plugin object already decoded; `bytes` become Go's re-encoding of it. Errors are
    /// the bare reasons (`missing 'type'`, a type mismatch).
    fn from_value(network: Value) -> Result<Self> {
        if !network.is_object() {
            return Err(RuntimeError::Config(format!(
                "json: cannot unmarshal {} into Go value of type types.PluginConf",
                crate::gojson::kind_name(&network)
            )));
        }
        let keys: PluginKeys =
            crate::gojson::from_value(&network).map_err(|e| RuntimeError::Config(e.to_string()))?;
        if keys.plugin_type.is_empty() {
            return Err(RuntimeError::Config("missing 'type'".into()));
        }
        let bytes = super::inject::encode(&network);
        Ok(PluginConfig {
            network,
            plugin_type: keys.plugin_type,
            name: keys.name,
            cni_version: keys.cni_version,
            capabilities: keys.capabilities.unwrap_or_default(),
            bytes,
        })
    }

    /// Go's `ConfFromFile` (a single-plugin `.conf`/`.json` file).
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = read_file(path)?;
        Self::from_bytes(&bytes)
    }

    /// Go's `pluginDescription`: `type="T"`, plus ` name="N"` when the plugin has a name.
    pub fn description(&self) -> String {
        let mut out = format!("type={}", crate::json::go_quote(&self.plugin_type));
        if !self.name.is_empty() {
            out.push_str(&format!(" name={}", crate::json::go_quote(&self.name)));
        }
        out
    }
}

/// A network: a named, versioned chain of plugins (Go's `NetworkConfigList`).
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfigList {
    pub name: String,
    /// The version every plugin is called with: `cniVersion`, or the highest usable entry
    /// of `cniVersions`.
    pub cni_version: String,
    /// `cniVersions` as written (empty when absent).
    pub cni_versions: Vec<String>,
    pub disable_check: bool,
    pub disable_gc: bool,
    pub load_only_inlined_plugins: bool,
    pub plugins: Vec<PluginConfig>,
    /// The bytes the list was parsed from; they go into the result cache.
    pub bytes: Vec<u8>,
}

fn list_err(msg: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Config(format!("error parsing configuration list: {msg}"))
}

/// Go's `%T` of a value decoded into `interface{}`.
pub(crate) fn go_dyn_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn greater_than_current(v: &str) -> std::result::Result<bool, String> {
    Ok(SpecVersion::parse(v)? > SpecVersion::parse(CURRENT)?)
}

impl NetworkConfigList {
    /// Go's `NetworkConfFromBytes`: the list is decoded as a generic map and checked key by
    /// key, with Go's error texts. A list without `plugins` parses to zero plugins (the file
    /// loaders then look in the plugin directory).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let raw: Value = crate::gojson::from_slice(bytes).map_err(|e| list_err(e.to_string()))?;
        let raw = match raw {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => {
                return Err(list_err(format!(
                    "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                    crate::gojson::kind_name(&other)
                )))
            }
        };

        let name = match raw.get("name") {
            None => return Err(list_err("no name")),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(list_err(format!(
                    "invalid name type {}",
                    go_dyn_type(other)
                )))
            }
        };

        let mut cni_version = match raw.get("cniVersion") {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(list_err(format!(
                    "invalid cniVersion type {}",
                    go_dyn_type(other)
                )))
            }
        };

        let mut cni_versions = Vec::new();
        if let Some(raw_versions) = raw.get("cniVersions") {
            let Value::Array(entries) = raw_versions else {
                // Go prints the type of its failed assertion, which is always this.
                return Err(list_err("invalid type for cniVersions: []interface {}"));
            };
            let mut usable: Vec<String> = Vec::new();
            for (i, entry) in entries.iter().enumerate() {
                let Value::String(v) = entry else {
                    return Err(list_err(format!(
                        "invalid type for cniVersions index {i}: {}",
                        go_dyn_type(entry)
                    )));
                };
                cni_versions.push(v.clone());
                match greater_than_current(v) {
                    Err(e) => {
                        return Err(list_err(format!(
                            "invalid cniVersions entry {v} at index {i}: {e}"
                        )))
                    }
                    Ok(false) => usable.push(v.clone()),
                    Ok(true) => {}
                }
            }
            if !cni_version.is_empty() {
                match greater_than_current(&cni_version) {
                    Err(e) => {
                        return Err(list_err(format!("invalid cniVersion {cni_version}: {e}")))
                    }
                    Ok(false) => usable.push(cni_version.clone()),
                    Ok(true) => {}
                }
            }
            // Every entry parsed above, so the keys are valid.
            if let Some(max) = usable
                .iter()
                .max_by_key(|v| SpecVersion::parse(v).unwrap_or(SpecVersion(0, 0, 0)))
            {
                cni_version = max.clone();
            }
        }

        let read_bool = |key: &str| -> Result<bool> {
            match raw.get(key) {
                None => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(Value::String(s)) => match s.to_lowercase().as_str() {
                    "true" => Ok(true),
                    "false" => Ok(false),
                    lower => Err(list_err(format!(
                        "invalid value {} for {key}",
                        crate::json::go_quote(lower)
                    ))),
                },
                Some(other) => Err(list_err(format!(
                    "invalid type {} for {key}",
                    go_dyn_type(other)
                ))),
            }
        };
        let disable_check = read_bool("disableCheck")?;
        let disable_gc = read_bool("disableGC")?;
        let load_only_inlined_plugins = read_bool("loadOnlyInlinedPlugins")?;

        let mut list = NetworkConfigList {
            name,
            cni_version,
            cni_versions,
            disable_check,
            disable_gc,
            load_only_inlined_plugins,
            plugins: Vec::new(),
            bytes: bytes.to_vec(),
        };

        let plugins = match raw.get("plugins") {
            None if load_only_inlined_plugins => {
                return Err(list_err(
                    "`loadOnlyInlinedPlugins` is true, and no 'plugins' key",
                ))
            }
            None => return Ok(list),
            Some(Value::Array(p)) => p,
            Some(other) => {
                return Err(list_err(format!(
                    "invalid 'plugins' type {}",
                    go_dyn_type(other)
                )))
            }
        };
        if plugins.is_empty() {
            return Err(list_err("no plugins in list"));
        }
        for (i, plugin) in plugins.iter().enumerate() {
            let conf = PluginConfig::from_value(plugin.clone()).map_err(|e| {
                RuntimeError::Config(format!(
                    "failed to parse plugin config {i}: error parsing configuration: {e}"
                ))
            })?;
            list.plugins.push(conf);
        }
        Ok(list)
    }

    /// Go's `NetworkConfFromFile` / `ConfListFromFile`: parses the file, then (unless
    /// `loadOnlyInlinedPlugins`) appends the plugins of `<dir of file>/<name>/*.conf`. A list
    /// that ends up empty is an error.
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = read_file(path)?;
        let mut list = Self::from_bytes(&bytes)?;
        if !list.load_only_inlined_plugins {
            let dir = path.parent().unwrap_or(Path::new(".")).join(&list.name);
            list.plugins.extend(plugins_from_dir(&dir)?);
        }
        if list.plugins.is_empty() {
            return Err(RuntimeError::Config("no plugin configs found".into()));
        }
        Ok(list)
    }

    /// Go's `ConfListFromConf`: a single-plugin config "upconverted" into a list whose name
    /// and version are the plugin's own.
    pub fn from_conf(conf: &PluginConfig) -> Result<Self> {
        let mut raw = Map::new();
        raw.insert("name".into(), Value::String(conf.name.clone()));
        raw.insert("cniVersion".into(), Value::String(conf.cni_version.clone()));
        raw.insert("plugins".into(), Value::Array(vec![conf.network.clone()]));
        let bytes = super::inject::encode(&Value::Object(raw));
        Self::from_bytes(&bytes)
    }

    /// The capabilities some plugin of the list declares `true`, sorted.
    pub fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> = self
            .plugins
            .iter()
            .flat_map(|p| p.capabilities.iter())
            .filter(|(_, on)| **on)
            .map(|(c, _)| c.clone())
            .collect();
        caps.sort();
        caps.dedup();
        caps
    }
}

/// Go's `os.ReadFile` error wording inside `error reading <file>: ...`; bounded and
/// non-blocking (`crate::fs`), so a config directory entry naming something endless fails.
fn read_file(path: &Path) -> Result<Vec<u8>> {
    crate::fs::read_bounded(path, crate::fs::CONFIG_LIMIT)
        .map_err(|e| RuntimeError::Io(format!("error reading {}: {e}", path.display())))
}

/// Go's `NetworkPluginConfsFromFiles`: every `*.conf` of `dir`, sorted, each a plugin object.
/// A missing directory holds no plugins.
pub fn plugins_from_dir(dir: &Path) -> Result<Vec<PluginConfig>> {
    let files = conf_files(dir, &[".conf"]).map_err(|e| {
        e.context(format!(
            "failed to read plugin config files in {}",
            dir.display()
        ))
    })?;
    files.iter().map(|f| PluginConfig::from_file(f)).collect()
}

/// Go's `filepath.Ext`: the suffix from the last `.` of the final element.
fn go_ext(name: &str) -> &str {
    match name.rfind('.') {
        Some(pos) => &name[pos..],
        None => "",
    }
}

/// Go's `ConfFiles`: the files of `dir` (not sub-directories) whose extension is exactly one
/// of `extensions` (with the dot, e.g. `.conflist`), sorted by name. A missing directory is
/// empty.
pub fn conf_files(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RuntimeError::Io(go_path_error("open", dir, &e))),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| RuntimeError::Io(go_path_error("readdirent", dir, &e)))?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if extensions.contains(&go_ext(&name)) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

/// Go's `LoadConf`: the first `*.conf`/`*.json` single-plugin config of `dir` whose `name`
/// matches. Any file that fails to load aborts the search.
pub fn load_conf(dir: &Path, name: &str) -> Result<PluginConfig> {
    let files = conf_files(dir, &[".conf", ".json"])?;
    if files.is_empty() {
        return Err(RuntimeError::NoConfigsFound {
            dir: dir.display().to_string(),
        });
    }
    for file in &files {
        let conf = PluginConfig::from_file(file)?;
        if conf.name == name {
            return Ok(conf);
        }
    }
    Err(RuntimeError::NotFound {
        dir: dir.display().to_string(),
        name: name.to_string(),
    })
}

/// Go's `LoadConfList` / `LoadNetworkConf` (what cnitool uses): the first `*.conflist` of
/// `dir` (sorted) named `name`, any conflist that fails to parse aborting the search; else
/// the first matching `*.conf`/`*.json`, upconverted.
pub fn load_conf_list(dir: &Path, name: &str) -> Result<NetworkConfigList> {
    let lists = conf_files(dir, &[".conflist"])?;
    for file in &lists {
        let list = NetworkConfigList::from_file(file)?;
        if list.name == name {
            return Ok(list);
        }
    }
    match load_conf(dir, name) {
        Ok(conf) => NetworkConfigList::from_conf(&conf),
        Err(RuntimeError::NoConfigsFound { .. }) if !lists.is_empty() => {
            Err(RuntimeError::NotFound {
                dir: dir.display().to_string(),
                name: name.to_string(),
            })
        }
        Err(e) => Err(e),
    }
}

/// The default network of a config directory as containerd picks it: `*.conf`,
/// `*.conflist` and `*.json` sorted together, and the first file wins (a conflist through
/// the list loader, the others as upconverted single-plugin configs).
pub fn load_default_network(dir: &Path) -> Result<NetworkConfigList> {
    let files = conf_files(dir, &[".conf", ".conflist", ".json"])?;
    let Some(first) = files.first() else {
        return Err(RuntimeError::NoConfigsFound {
            dir: dir.display().to_string(),
        });
    };
    load_file(first)
}

/// Loads one file by its extension: `.conflist` as a list, anything else as a single-plugin
/// config upconverted to a list.
pub fn load_file(path: &Path) -> Result<NetworkConfigList> {
    if go_ext(&path.file_name().unwrap_or_default().to_string_lossy()) == ".conflist" {
        NetworkConfigList::from_file(path)
    } else {
        NetworkConfigList::from_conf(&PluginConfig::from_file(path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<NetworkConfigList> {
        NetworkConfigList::from_bytes(s.as_bytes())
    }

    fn err(s: &str) -> String {
        parse(s).unwrap_err().to_string()
    }

    #[test]
    fn parses_a_list() {
        let l = parse(
            r#"{"cniVersion":"1.0.0","name":"net","disableCheck":true,
                "plugins":[{"type":"bridge","name":"b","capabilities":{"portMappings":true}},{"type":"portmap"}]}"#,
        )
        .unwrap();
        assert_eq!(l.name, "net");
        assert_eq!(l.cni_version, "1.0.0");
        assert!(l.disable_check && !l.disable_gc);
        assert_eq!(l.plugins.len(), 2);
        assert_eq!(l.plugins[0].description(), "type=\"bridge\" name=\"b\"");
        assert_eq!(l.plugins[1].description(), "type=\"portmap\"");
        assert_eq!(l.capabilities(), vec!["portMappings"]);
        assert_eq!(
            l.plugins[0].bytes,
            br#"{"capabilities":{"portMappings":true},"name":"b","type":"bridge"}"#
        );
    }

    #[test]
    fn error_texts() {
        assert_eq!(
            err(r#"{"plugins":[]}"#),
            "error parsing configuration list: no name"
        );
        assert_eq!(
            err(r#"{"name":5}"#),
            "error parsing configuration list: invalid name type float64"
        );
        assert_eq!(
            err(r#"{"name":"n","cniVersion":1}"#),
            "error parsing configuration list: invalid cniVersion type float64"
        );
        assert_eq!(
            err(r#"{"name":"n","plugins":[]}"#),
            "error parsing configuration list: no plugins in list"
        );
        assert_eq!(
            err(r#"{"name":"n","plugins":{}}"#),
            "error parsing configuration list: invalid 'plugins' type map[string]interface {}"
        );
        assert_eq!(
            err(r#"{"name":"n","plugins":[{"type":"a"},{"name":"x"}]}"#),
            "failed to parse plugin config 1: error parsing configuration: missing 'type'"
        );
        assert_eq!(
            err(r#"{"name":"n","loadOnlyInlinedPlugins":true}"#),
            "error parsing configuration list: `loadOnlyInlinedPlugins` is true, and no 'plugins' key"
        );
        assert_eq!(
            err(r#"{"name":"n","disableCheck":"Yes"}"#),
            "error parsing configuration list: invalid value \"yes\" for disableCheck"
        );
        assert_eq!(
            err(r#"{"name":"n","disableGC":1}"#),
            "error parsing configuration list: invalid type float64 for disableGC"
        );
        assert!(err("{").starts_with("error parsing configuration list: "));
        assert_eq!(
            err("[]"),
            "error parsing configuration list: json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
        // No plugins key is fine for the bytes parser.
        assert!(parse(r#"{"name":"n"}"#).unwrap().plugins.is_empty());
    }

    #[test]
    fn string_bools() {
        let l = parse(
            r#"{"name":"n","disableCheck":"TRUE","disableGC":"false","loadOnlyInlinedPlugins":"True","plugins":[{"type":"x"}]}"#,
        )
        .unwrap();
        assert!(l.disable_check && !l.disable_gc && l.load_only_inlined_plugins);
    }

    #[test]
    fn version_selection() {
        let v = |s: &str| parse(s).unwrap().cni_version;
        // The maximum wins.
        assert_eq!(
            v(
                r#"{"name":"n","cniVersion":"0.4.0","cniVersions":["1.0.0","0.3.1"],"plugins":[{"type":"x"}]}"#
            ),
            "1.0.0"
        );
        // cniVersion merges with the list.
        assert_eq!(
            v(
                r#"{"name":"n","cniVersion":"1.1.0","cniVersions":["1.0.0"],"plugins":[{"type":"x"}]}"#
            ),
            "1.1.0"
        );
        // Versions newer than ours are ignored.
        assert_eq!(
            v(r#"{"name":"n","cniVersions":["1.0.0","4.0.0"],"plugins":[{"type":"x"}]}"#),
            "1.0.0"
        );
        assert_eq!(
            v(
                r#"{"name":"n","cniVersion":"4.0.0","cniVersions":["1.0.0"],"plugins":[{"type":"x"}]}"#
            ),
            "1.0.0"
        );
        // Without cniVersions, cniVersion is taken as is, unvalidated.
        assert_eq!(
            v(r#"{"name":"n","cniVersion":"4.0.0","plugins":[{"type":"x"}]}"#),
            "4.0.0"
        );
        // An empty array falls back to cniVersion.
        assert_eq!(
            v(r#"{"name":"n","cniVersion":"0.3.1","cniVersions":[],"plugins":[{"type":"x"}]}"#),
            "0.3.1"
        );
        // All too new and no cniVersion: empty.
        assert_eq!(
            v(r#"{"name":"n","cniVersions":["9.0.0"],"plugins":[{"type":"x"}]}"#),
            ""
        );
        assert_eq!(
            err(r#"{"name":"n","cniVersions":["1.0.0","x.y"],"plugins":[{"type":"x"}]}"#),
            "error parsing configuration list: invalid cniVersions entry x.y at index 1: failed to convert major version part \"x\": strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            err(r#"{"name":"n","cniVersions":[1],"plugins":[{"type":"x"}]}"#),
            "error parsing configuration list: invalid type for cniVersions index 0: float64"
        );
        assert_eq!(
            err(r#"{"name":"n","cniVersions":"1.0.0","plugins":[{"type":"x"}]}"#),
            "error parsing configuration list: invalid type for cniVersions: []interface {}"
        );
        assert_eq!(
            err(r#"{"name":"n","cniVersion":"a.b","cniVersions":["1.0.0"],"plugins":[{"type":"x"}]}"#),
            "error parsing configuration list: invalid cniVersion a.b: failed to convert major version part \"a\": strconv.Atoi: parsing \"a\": invalid syntax"
        );
    }

    #[test]
    fn upconverts_a_single_conf() {
        let conf = PluginConfig::from_bytes(
            br#"{"cniVersion":"0.4.0","name":"single","type":"bridge","bridge":"br0"}"#,
        )
        .unwrap();
        let l = NetworkConfigList::from_conf(&conf).unwrap();
        assert_eq!(l.name, "single");
        assert_eq!(l.cni_version, "0.4.0");
        assert_eq!(l.plugins.len(), 1);
        assert_eq!(l.plugins[0].network["bridge"], "br0");
        assert_eq!(
            l.bytes,
            br#"{"cniVersion":"0.4.0","name":"single","plugins":[{"bridge":"br0","cniVersion":"0.4.0","name":"single","type":"bridge"}]}"#
        );
        assert_eq!(
            PluginConfig::from_bytes(br#"{"name":"x"}"#)
                .unwrap_err()
                .to_string(),
            "error parsing configuration: missing 'type'"
        );
        // Go's case-insensitive keys.
        let c =
            PluginConfig::from_bytes(br#"{"Name":"n","TYPE":"t","CNIVersion":"1.0.0"}"#).unwrap();
        assert_eq!(
            (
                c.name.as_str(),
                c.plugin_type.as_str(),
                c.cni_version.as_str()
            ),
            ("n", "t", "1.0.0")
        );
    }

    fn write(dir: &Path, name: &str, body: &str) {
        std::fs::write(dir.join(name), body).unwrap();
    }

    #[test]
    fn loads_by_name() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        assert_eq!(
            load_conf_list(dir, "x").unwrap_err().to_string(),
            format!("no net configurations found in {}", dir.display())
        );
        // Missing directory: the same.
        let missing = dir.join("missing");
        assert_eq!(
            load_conf_list(&missing, "x").unwrap_err().to_string(),
            format!("no net configurations found in {}", missing.display())
        );
        write(
            dir,
            "10-a.conflist",
            r#"{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"p1"}]}"#,
        );
        assert_eq!(
            load_conf_list(dir, "x").unwrap_err().to_string(),
            format!("no net configuration with name \"x\" in {}", dir.display())
        );
        // The conflist is preferred over a .conf of the same name.
        write(
            dir,
            "00-a.conf",
            r#"{"cniVersion":"0.4.0","name":"a","type":"p2"}"#,
        );
        let l = load_conf_list(dir, "a").unwrap();
        assert_eq!(l.plugins[0].plugin_type, "p1");
        // .json is a single conf too; upconverted.
        write(
            dir,
            "20-b.json",
            r#"{"cniVersion":"0.3.1","name":"b","type":"p3"}"#,
        );
        let l = load_conf_list(dir, "b").unwrap();
        assert_eq!(
            (l.cni_version.as_str(), l.plugins[0].plugin_type.as_str()),
            ("0.3.1", "p3")
        );
        // Other extensions and sub-directories are ignored.
        write(
            dir,
            "30-c.conflist.bak",
            r#"{"name":"c","plugins":[{"type":"p"}]}"#,
        );
        std::fs::create_dir(dir.join("d.conflist")).unwrap();
        assert!(matches!(
            load_conf_list(dir, "c"),
            Err(RuntimeError::NotFound { .. })
        ));
        // A broken conflist aborts the search, even for a later name.
        write(dir, "05-broken.conflist", "{");
        assert!(load_conf_list(dir, "a")
            .unwrap_err()
            .to_string()
            .starts_with("error parsing configuration list: "));
    }

    #[test]
    fn plugin_directory_merge() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        write(
            dir,
            "a.conflist",
            r#"{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"inline"}]}"#,
        );
        std::fs::create_dir(dir.join("a")).unwrap();
        write(&dir.join("a"), "20-second.conf", r#"{"type":"second"}"#);
        write(&dir.join("a"), "10-first.conf", r#"{"type":"first"}"#);
        write(&dir.join("a"), "ignored.json", r#"{"type":"ignored"}"#);
        let l = NetworkConfigList::from_file(&dir.join("a.conflist")).unwrap();
        let types: Vec<_> = l.plugins.iter().map(|p| p.plugin_type.as_str()).collect();
        assert_eq!(types, vec!["inline", "first", "second"]);
        assert_eq!(l.plugins[1].bytes, br#"{"type":"first"}"#);

        // loadOnlyInlinedPlugins skips the directory.
        write(
            dir,
            "b.conflist",
            r#"{"name":"b","loadOnlyInlinedPlugins":true,"plugins":[{"type":"inline"}]}"#,
        );
        std::fs::create_dir(dir.join("b")).unwrap();
        write(&dir.join("b"), "x.conf", r#"{"type":"x"}"#);
        assert_eq!(
            NetworkConfigList::from_file(&dir.join("b.conflist"))
                .unwrap()
                .plugins
                .len(),
            1
        );

        // No plugins key: only the directory.
        write(dir, "c.conflist", r#"{"name":"c"}"#);
        std::fs::create_dir(dir.join("c")).unwrap();
        write(&dir.join("c"), "x.conf", r#"{"type":"x"}"#);
        assert_eq!(
            NetworkConfigList::from_file(&dir.join("c.conflist"))
                .unwrap()
                .plugins[0]
                .plugin_type,
            "x"
        );

        // Nothing anywhere.
        write(dir, "e.conflist", r#"{"name":"e"}"#);
        assert_eq!(
            NetworkConfigList::from_file(&dir.join("e.conflist"))
                .unwrap_err()
                .to_string(),
            "no plugin configs found"
        );
        // A bad plugin file.
        write(dir, "f.conflist", r#"{"name":"f"}"#);
        std::fs::create_dir(dir.join("f")).unwrap();
        write(&dir.join("f"), "x.conf", r#"{"name":"no type"}"#);
        assert_eq!(
            NetworkConfigList::from_file(&dir.join("f.conflist"))
                .unwrap_err()
                .to_string(),
            "error parsing configuration: missing 'type'"
        );
        let missing = dir.join("nope.conflist");
        assert_eq!(
            NetworkConfigList::from_file(&missing)
                .unwrap_err()
                .to_string(),
            format!(
                "error reading {0}: open {0}: no such file or directory",
                missing.display()
            )
        );
    }

    #[test]
    fn default_network_is_the_first_file() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        assert!(matches!(
            load_default_network(dir),
            Err(RuntimeError::NoConfigsFound { .. })
        ));
        write(
            dir,
            "20-b.conflist",
            r#"{"name":"b","plugins":[{"type":"p"}]}"#,
        );
        assert_eq!(load_default_network(dir).unwrap().name, "b");
        write(dir, "10-a.conf", r#"{"name":"a","type":"p"}"#);
        assert_eq!(load_default_network(dir).unwrap().name, "a");
        write(dir, "05-z.json", r#"{"name":"z","type":"p"}"#);
        assert_eq!(load_default_network(dir).unwrap().name, "z");
        write(dir, "01-bad.conf", r#"{"name":"z"}"#);
        assert!(load_default_network(dir).is_err());
    }

    #[test]
    fn conf_files_sorted_exact_extension() {
        let d = tempfile::tempdir().unwrap();
        for n in ["b.conf", "a.conf", "c.CONF", "d.conf~", ".conf"] {
            write(d.path(), n, "{}");
        }
        let files = conf_files(d.path(), &[".conf"]).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![".conf", "a.conf", "b.conf"]);
    }
}
