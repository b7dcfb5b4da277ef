//! Running a network's plugin chain (Go's `libcni.CNIConfig`): ADD with prevResult chaining
//! and caching, CHECK and DEL with the cached result, GC of stale attachments, STATUS, and
//! validation of a list against its plugins' VERSION answers.

use std::collections::HashSet;
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::cache::{CacheEntry, CacheKey, NetworkAttachment, ResultCache, DEFAULT_CACHE_DIR};
use super::conf::{NetworkConfigList, PluginConfig};
use super::error::{Result, RuntimeError};
use super::inject::{build_config, build_gc_config, build_status_config};
use super::invoke::{exec_plugin, exec_with_result, find_in_path, get_version_info, Env};
use crate::skel::validate::{
    validate_container_id, validate_interface_name, validate_network_name,
};
use crate::types::{CniResult, GcAttachment};
use crate::version::{PluginInfo, SpecVersion};

/// The arguments of one attachment, everything but the network config (Go's `RuntimeConf`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeConf {
    pub container_id: String,
    pub netns: String,
    pub ifname: String,
    /// `CNI_ARGS` pairs.
    pub args: Vec<(String, String)>,
    /// Capability args; each plugin gets, in `runtimeConfig`, those it declares.
    pub capability_args: Map<String, Value>,
    /// Go's deprecated per-call cache directory; used only when the [`CniConfig`] has none.
    pub cache_dir: Option<PathBuf>,
}

impl RuntimeConf {
    fn key<'a>(&'a self, network: &'a str) -> CacheKey<'a> {
        CacheKey {
            network,
            container_id: &self.container_id,
            ifname: &self.ifname,
        }
    }
}

/// Where plugins are found and results cached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniConfig {
    /// Plugin directories, searched in order; also sent to plugins as `CNI_PATH`.
    pub path: Vec<PathBuf>,
    /// The cache directory (the one holding `results/`). `None`: the runtime conf's, else
    /// `/var/lib/cni`.
    pub cache_dir: Option<PathBuf>,
}

/// Go's `version.GreaterThanOrEqualTo(v, min)`.
fn at_least(version: &str, min: SpecVersion) -> Result<bool> {
    SpecVersion::parse(version)
        .map(|v| v >= min)
        .map_err(RuntimeError::Config)
}

impl CniConfig {
    pub fn new(path: Vec<PathBuf>) -> Self {
        CniConfig {
            path,
            cache_dir: None,
        }
    }

    pub fn with_cache_dir(path: Vec<PathBuf>, cache_dir: impl Into<PathBuf>) -> Self {
        CniConfig {
            path,
            cache_dir: Some(cache_dir.into()),
        }
    }

    /// Go's `getCacheDir`: ours, else the runtime conf's, else `/var/lib/cni`.
    pub fn cache(&self, rt: Option<&RuntimeConf>) -> ResultCache {
        let dir = self
            .cache_dir
            .clone()
            .filter(|d| !d.as_os_str().is_empty())
            .or_else(|| rt.and_then(|r| r.cache_dir.clone()))
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE_DIR));
        ResultCache::new(dir)
    }

    /// `CNI_PATH` as plugins get it.
    pub fn path_env(&self) -> String {
        self.path
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(&super::invoke::PATH_LIST_SEPARATOR.to_string())
    }

    fn env(&self, command: &str, rt: &RuntimeConf) -> Env {
        Env {
            command: command.into(),
            container_id: rt.container_id.clone(),
            netns: rt.netns.clone(),
            ifname: rt.ifname.clone(),
            args: rt.args.clone(),
            path: self.path_env(),
        }
    }

    /// GC and STATUS get empty container ID, netns, ifname and args.
    fn bare_env(&self, command: &str) -> Env {
        self.env(command, &RuntimeConf::default())
    }

    /// Go's `FindInPath` over our plugin directories.
    pub fn find_plugin(&self, plugin_type: &str) -> Result<PathBuf> {
        find_in_path(plugin_type, &self.path)
    }

    fn add_one(
        &self,
        name: &str,
        cni_version: &str,
        plugin: &PluginConfig,
        prev: Option<&CniResult>,
        rt: &RuntimeConf,
    ) -> Result<CniResult> {
        let path = self.find_plugin(&plugin.plugin_type)?;
        validate_container_id(&rt.container_id)?;
        validate_network_name(name)?;
        validate_interface_name(&rt.ifname)?;
        let stdin = build_config(name, cni_version, plugin, prev, &rt.capability_args)?;
        exec_with_result(&path, &stdin, &self.env("ADD", rt))
    }

    fn run_without_result(
        &self,
        command: &str,
        name: &str,
        cni_version: &str,
        plugin: &PluginConfig,
        prev: Option<&CniResult>,
        rt: &RuntimeConf,
    ) -> Result<()> {
        let path = self.find_plugin(&plugin.plugin_type)?;
        let stdin = build_config(name, cni_version, plugin, prev, &rt.capability_args)?;
        exec_plugin(&path, &stdin, &self.env(command, rt)).map(drop)
    }

    fn write_cache(
        &self,
        network: &str,
        config: &[u8],
        rt: &RuntimeConf,
        result: &CniResult,
    ) -> Result<()> {
        let entry = CacheEntry {
            key: rt.key(network),
            config,
            netns: &rt.netns,
            cni_args: &rt.args,
            capability_args: &rt.capability_args,
        };
        self.cache(Some(rt)).write(&entry, result).map_err(|e| {
            e.context(format!(
                "failed to set network {} cached result",
                crate::json::go_quote(network)
            ))
        })
    }

    /// Go's `AddNetworkList`: ADD each plugin in order, each getting the previous plugin's
    /// result as `prevResult` (unconverted). The first failure stops the chain (no DEL, no
    /// cache); on success the final result is cached and returned.
    pub fn add_network_list(
        &self,
        list: &NetworkConfigList,
        rt: &RuntimeConf,
    ) -> Result<CniResult> {
        let mut result: Option<CniResult> = None;
        for plugin in &list.plugins {
            let r = self
                .add_one(&list.name, &list.cni_version, plugin, result.as_ref(), rt)
                .map_err(|e| RuntimeError::PluginFailed {
                    plugin: plugin.description(),
                    op: "add",
                    inner: Box::new(e),
                })?;
            result = Some(r);
        }
        let Some(result) = result else {
            return Err(RuntimeError::Config(format!(
                "network {} has no plugins",
                crate::json::go_quote(&list.name)
            )));
        };
        self.write_cache(&list.name, &list.bytes, rt, &result)?;
        Ok(result)
    }

    /// Go's `CheckNetworkList`: refused below 0.4.0, a no-op with `disableCheck`; otherwise
    /// CHECK each plugin in order with the cached result. Errors are returned unwrapped.
    pub fn check_network_list(&self, list: &NetworkConfigList, rt: &RuntimeConf) -> Result<()> {
        if !at_least(&list.cni_version, SpecVersion::CHECK_MIN)? {
            return Err(RuntimeError::VersionUnsupported {
                version: list.cni_version.clone(),
                verb: "CHECK",
            });
        }
        if list.disable_check {
            return Ok(());
        }
        let cached = self.cached_result_for_check(&list.name, &list.cni_version, rt)?;
        for plugin in &list.plugins {
            self.run_without_result(
                "CHECK",
                &list.name,
                &list.cni_version,
                plugin,
                cached.as_ref(),
                rt,
            )?;
        }
        Ok(())
    }

    fn cached_result_for_check(
        &self,
        name: &str,
        version: &str,
        rt: &RuntimeConf,
    ) -> Result<Option<CniResult>> {
        self.cache(Some(rt))
            .read_result(rt.key(name), version)
            .map_err(|e| {
                e.context(format!(
                    "failed to get network {} cached result",
                    crate::json::go_quote(name)
                ))
            })
    }

    /// The cached result a DEL sends (from 0.4.0); a cache that cannot be read or converted
    /// is removed and DEL goes on without a prevResult.
    fn cached_result_for_del(
        &self,
        name: &str,
        version: &str,
        rt: &RuntimeConf,
    ) -> Result<Option<CniResult>> {
        if !at_least(version, SpecVersion::PREV_RESULT_ON_DEL)? {
            return Ok(None);
        }
        let cache = self.cache(Some(rt));
        match cache.read_result(rt.key(name), version) {
            Ok(r) => Ok(r),
            Err(_) => {
                let _ = cache.remove(rt.key(name));
                Ok(None)
            }
        }
    }

    /// Go's `DelNetworkList`: DEL each plugin in reverse order, each with the cached result
    /// (0.4.0 and later). The first failure stops. On success the cache entry is removed.
    pub fn del_network_list(&self, list: &NetworkConfigList, rt: &RuntimeConf) -> Result<()> {
        let cached = self.cached_result_for_del(&list.name, &list.cni_version, rt)?;
        for plugin in list.plugins.iter().rev() {
            self.run_without_result(
                "DEL",
                &list.name,
                &list.cni_version,
                plugin,
                cached.as_ref(),
                rt,
            )
            .map_err(|e| RuntimeError::PluginFailed {
                plugin: plugin.description(),
                op: "delete",
                inner: Box::new(e),
            })?;
        }
        let _ = self.cache(Some(rt)).remove(rt.key(&list.name));
        Ok(())
    }

    /// Go's `GCNetworkList`: DEL every cached attachment of this network that is not in
    /// `valid` (all of them when `valid` is `None`), with its cached netns, CNI args and
    /// capability args; then, from 1.1.0, GC every plugin, with both attachment keys when
    /// `valid` is given. Errors are collected, not short-circuited. A no-op with `disableGC`.
    pub fn gc_network_list(
        &self,
        list: &NetworkConfigList,
        valid: Option<&[GcAttachment]>,
    ) -> Result<()> {
        if list.disable_gc {
            return Ok(());
        }
        let Ok(cached) = self.cache(None).attachments("") else {
            return Ok(());
        };
        let valid_set: Option<HashSet<(&str, &str)>> = valid.map(|v| {
            v.iter()
                .map(|a| (a.container_id.as_str(), a.ifname.as_str()))
                .collect()
        });
        let mut errors = Vec::new();
        for att in cached.iter().filter(|a| a.network == list.name) {
            let is_valid = valid_set
                .as_ref()
                .is_some_and(|s| s.contains(&(att.container_id.as_str(), att.ifname.as_str())));
            if is_valid {
                continue;
            }
            let rt = RuntimeConf {
                container_id: att.container_id.clone(),
                netns: att.netns.clone(),
                ifname: att.ifname.clone(),
                args: att.cni_args.clone(),
                capability_args: att.capability_args.clone(),
                cache_dir: None,
            };
            if let Err(e) = self.del_network_list(list, &rt) {
                errors.push(e.context(format!(
                    "failed to delete stale attachment {} {}",
                    rt.container_id, rt.ifname
                )));
            }
        }
        if at_least(&list.cni_version, SpecVersion::GC_MIN).unwrap_or(false) {
            for plugin in &list.plugins {
                let run = || -> Result<()> {
                    let stdin = build_gc_config(&list.name, &list.cni_version, plugin, valid)?;
                    let path = self.find_plugin(&plugin.plugin_type)?;
                    exec_plugin(&path, &stdin, &self.bare_env("GC")).map(drop)
                };
                if let Err(e) = run() {
                    errors.push(e.context(format!("failed to GC plugin {}", plugin.plugin_type)));
                }
            }
        }
        match errors.len() {
            0 => Ok(()),
            _ => Err(RuntimeError::Multiple(errors)),
        }
    }

    /// Go's `GetStatusNetworkList`: below 1.1.0 a no-op; otherwise STATUS each plugin in
    /// order and return the first error as is.
    pub fn get_status_network_list(&self, list: &NetworkConfigList) -> Result<()> {
        if !at_least(&list.cni_version, SpecVersion::GC_MIN).unwrap_or(false) {
            return Ok(());
        }
        for plugin in &list.plugins {
            let stdin =
                build_status_config(&list.name, &list.cni_version, plugin).map_err(|e| {
                    e.context(format!(
                        "failed to generate configuration to get plugin STATUS {}",
                        plugin.plugin_type
                    ))
                })?;
            let path = self.find_plugin(&plugin.plugin_type)?;
            exec_plugin(&path, &stdin, &self.bare_env("STATUS"))?;
        }
        Ok(())
    }

    /// Go's `ValidateNetworkList`: every plugin exists and lists the config's version among
    /// its supported ones. Returns the capabilities declared by the list, sorted.
    pub fn validate_network_list(&self, list: &NetworkConfigList) -> Result<Vec<String>> {
        let errors: Vec<String> = list
            .plugins
            .iter()
            .filter_map(|p| {
                self.validate_plugin(&p.plugin_type, &list.cni_version)
                    .err()
            })
            .map(|e| e.to_string())
            .collect();
        if !errors.is_empty() {
            return Err(RuntimeError::Other(format!("[{}]", errors.join(" "))));
        }
        Ok(list.capabilities())
    }

    /// Go's `ValidateNetwork` for a single plugin config.
    pub fn validate_network(&self, conf: &PluginConfig) -> Result<Vec<String>> {
        self.validate_plugin(&conf.plugin_type, &conf.cni_version)?;
        let mut caps: Vec<String> = conf
            .capabilities
            .iter()
            .filter(|(_, on)| **on)
            .map(|(c, _)| c.clone())
            .collect();
        caps.sort();
        Ok(caps)
    }

    fn validate_plugin(&self, plugin_type: &str, version: &str) -> Result<()> {
        let path = self.find_plugin(plugin_type)?;
        let version = if version.is_empty() { "0.1.0" } else { version };
        let info = get_version_info(&path)?;
        if info.is_supported(version) {
            Ok(())
        } else {
            Err(RuntimeError::Other(format!(
                "plugin {plugin_type} does not support config version {}",
                crate::json::go_quote(version)
            )))
        }
    }

    /// Go's `CNIConfig.GetVersionInfo`: the VERSION answer of a plugin found by type.
    pub fn get_version_info(&self, plugin_type: &str) -> Result<PluginInfo> {
        get_version_info(&self.find_plugin(plugin_type)?)
    }

    /// Go's `GetNetworkListCachedResult`: the cached result, converted to the list version.
    pub fn get_network_list_cached_result(
        &self,
        list: &NetworkConfigList,
        rt: &RuntimeConf,
    ) -> Result<Option<CniResult>> {
        self.cache(Some(rt))
            .read_result(rt.key(&list.name), &list.cni_version)
    }

    /// Go's `GetNetworkListCachedConfig`: the cached config bytes and `rt` with the cached
    /// CNI args and capability args filled in.
    pub fn get_network_list_cached_config(
        &self,
        list: &NetworkConfigList,
        rt: &RuntimeConf,
    ) -> Result<Option<(Vec<u8>, RuntimeConf)>> {
        let Some(att) = self.cache(Some(rt)).read_config(rt.key(&list.name))? else {
            return Ok(None);
        };
        let mut out = rt.clone();
        if !att.cni_args.is_empty() {
            out.args = att.cni_args;
        }
        out.capability_args = att.capability_args;
        Ok(Some((att.config, out)))
    }

    /// Go's `GetCachedAttachments`, optionally for one container.
    pub fn get_cached_attachments(&self, container_id: &str) -> Result<Vec<NetworkAttachment>> {
        self.cache(None).attachments(container_id)
    }

    /// Go's `AddNetwork`: a single plugin config, named and versioned by its own keys.
    pub fn add_network(&self, conf: &PluginConfig, rt: &RuntimeConf) -> Result<CniResult> {
        let result = self.add_one(&conf.name, &conf.cni_version, conf, None, rt)?;
        self.write_cache(&conf.name, &conf.bytes, rt, &result)?;
        Ok(result)
    }

    /// Go's `CheckNetwork`.
    pub fn check_network(&self, conf: &PluginConfig, rt: &RuntimeConf) -> Result<()> {
        if !at_least(&conf.cni_version, SpecVersion::CHECK_MIN)? {
            return Err(RuntimeError::VersionUnsupported {
                version: conf.cni_version.clone(),
                verb: "CHECK",
            });
        }
        let cached = self.cached_result_for_check(&conf.name, &conf.cni_version, rt)?;
        self.run_without_result(
            "CHECK",
            &conf.name,
            &conf.cni_version,
            conf,
            cached.as_ref(),
            rt,
        )
    }

    /// Go's `DelNetwork` (HEAD behaviour: a bad cache is removed, not fatal).
    pub fn del_network(&self, conf: &PluginConfig, rt: &RuntimeConf) -> Result<()> {
        let cached = self.cached_result_for_del(&conf.name, &conf.cni_version, rt)?;
        self.run_without_result(
            "DEL",
            &conf.name,
            &conf.cni_version,
            conf,
            cached.as_ref(),
            rt,
        )?;
        let _ = self.cache(Some(rt)).remove(rt.key(&conf.name));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_precedence() {
        let rt = RuntimeConf {
            cache_dir: Some("/rt".into()),
            ..Default::default()
        };
        assert_eq!(
            CniConfig::with_cache_dir(vec![], "/c")
                .cache(Some(&rt))
                .dir(),
            std::path::Path::new("/c")
        );
        assert_eq!(
            CniConfig::new(vec![]).cache(Some(&rt)).dir(),
            std::path::Path::new("/rt")
        );
        assert_eq!(
            CniConfig::new(vec![]).cache(None).dir(),
            std::path::Path::new("/var/lib/cni")
        );
        assert_eq!(
            CniConfig::new(vec!["/a".into(), "/b".into()]).path_env(),
            "/a:/b"
        );
    }

    #[test]
    fn add_validates_ids_after_finding_the_plugin() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("p"), b"").unwrap();
        let cni = CniConfig::with_cache_dir(vec![d.path().into()], d.path().join("cache"));
        let list = NetworkConfigList::from_bytes(
            br#"{"cniVersion":"1.0.0","name":"net","plugins":[{"type":"p","name":"pn"}]}"#,
        )
        .unwrap();
        let mut rt = RuntimeConf {
            container_id: "".into(),
            ifname: "eth0".into(),
            ..Default::default()
        };
        let err = cni.add_network_list(&list, &rt).unwrap_err();
        assert_eq!(
            err.to_string(),
            "plugin type=\"p\" name=\"pn\" failed (add): missing containerID"
        );
        assert_eq!(err.code(), 3);
        rt.container_id = "c".into();
        rt.ifname = "a/b".into();
        let err = cni.add_network_list(&list, &rt).unwrap_err();
        assert_eq!(err.code(), 4);
        let missing = NetworkConfigList::from_bytes(
            br#"{"cniVersion":"1.0.0","name":"net","plugins":[{"type":"nope"}]}"#,
        )
        .unwrap();
        assert_eq!(
            cni.add_network_list(&missing, &rt).unwrap_err().to_string(),
            format!(
                "plugin type=\"nope\" failed (add): failed to find plugin \"nope\" in path [{}]",
                d.path().display()
            )
        );
        let bad_name = NetworkConfigList::from_bytes(
            br#"{"cniVersion":"1.0.0","name":"bad name","plugins":[{"type":"p"}]}"#,
        )
        .unwrap();
        rt.ifname = "eth0".into();
        let err = cni.add_network_list(&bad_name, &rt).unwrap_err();
        assert_eq!(err.code(), 7);
        assert_eq!(
            err.to_string(),
            "plugin type=\"p\" failed (add): invalid characters found in network name; bad name"
        );
    }

    #[test]
    fn version_gates_without_running_anything() {
        let cni = CniConfig::new(vec![]);
        let old = NetworkConfigList::from_bytes(
            br#"{"cniVersion":"0.3.1","name":"n","plugins":[{"type":"p"}]}"#,
        )
        .unwrap();
        assert_eq!(
            cni.check_network_list(&old, &RuntimeConf::default())
                .unwrap_err()
                .to_string(),
            "configuration version \"0.3.1\" does not support the CHECK command"
        );
        // STATUS below 1.1.0 is a silent success; GC below 1.1.0 only does cache DELs.
        assert!(cni.get_status_network_list(&old).is_ok());
        let cni = CniConfig::with_cache_dir(vec![], "/nonexistent/cache");
        assert!(cni.gc_network_list(&old, None).is_ok());
    }
}
