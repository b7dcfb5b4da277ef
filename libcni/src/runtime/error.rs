//! The runtime side's error type. Display strings follow Go libcni's messages so tools and
//! tests that match on them keep working.

use std::fmt;

use crate::error::{code, CniError};

/// Everything that can go wrong when loading configs, running plugins or using the cache.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// `FindInPath` with an empty plugin name.
    #[error("no plugin name provided")]
    NoPluginName,
    /// `FindInPath` with a name that contains a path separator.
    #[error("invalid plugin name: {0}")]
    InvalidPluginName(String),
    /// `FindInPath` with no directories to look in.
    #[error("no paths provided")]
    NoPaths,
    /// No regular file `<dir>/<name>` in any directory.
    #[error("failed to find plugin {} in path [{}]", crate::json::go_quote(.name), .paths.join(" "))]
    PluginNotFound { name: String, paths: Vec<String> },
    /// A CNI error: what a plugin printed on failure (or Go's wording of a failed exec), or a
    /// failed validation of the container ID, network name or interface name.
    #[error("{0}")]
    Cni(CniError),
    /// A network configuration that cannot be used (Go's `error parsing configuration...`).
    #[error("{0}")]
    Config(String),
    /// `LoadConfList`: files exist but none has this name.
    #[error("no net configuration with name \"{name}\" in {dir}")]
    NotFound { dir: String, name: String },
    /// `LoadConfList`: no configuration files at all.
    #[error("no net configurations found in {dir}")]
    NoConfigsFound { dir: String },
    /// A plugin's output (result or VERSION answer) that cannot be decoded or converted.
    #[error("{0}")]
    Decode(String),
    /// A file system operation, worded like Go's `*PathError` (`open /x: permission denied`).
    #[error("{0}")]
    Io(String),
    /// A verb the configuration's version does not have (`configuration version "0.3.1" does
    /// not support the CHECK command`).
    #[error("configuration version {} does not support the {verb} command", crate::json::go_quote(.version))]
    VersionUnsupported { version: String, verb: &'static str },
    /// A failed plugin of a chain: `plugin type="T" name="N" failed (add): ...`.
    #[error("plugin {plugin} failed ({op}): {inner}")]
    PluginFailed {
        plugin: String,
        op: &'static str,
        inner: Box<RuntimeError>,
    },
    /// Any other error with a Go-worded prefix; keeps the inner error's code.
    #[error("{context}: {inner}")]
    Context {
        context: String,
        inner: Box<RuntimeError>,
    },
    /// Several errors collected (GC); printed one per line like Go's `errors.Join`.
    #[error("{}", join_lines(.0))]
    Multiple(Vec<RuntimeError>),
    /// Anything else, with Go's message.
    #[error("{0}")]
    Other(String),
}

fn join_lines(errs: &[RuntimeError]) -> String {
    errs.iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

impl RuntimeError {
    /// The CNI error code that best describes this error: a plugin's own error keeps its
    /// code; configuration problems are 7, undecodable output 6, I/O 5, version gates 1,
    /// everything else 999 (internal).
    pub fn code(&self) -> u32 {
        match self {
            RuntimeError::Cni(e) => e.code,
            RuntimeError::Config(_)
            | RuntimeError::NotFound { .. }
            | RuntimeError::NoConfigsFound { .. } => code::INVALID_NETWORK_CONFIG,
            RuntimeError::Decode(_) => code::DECODING_FAILURE,
            RuntimeError::Io(_) => code::IO_FAILURE,
            RuntimeError::VersionUnsupported { .. } => code::INCOMPATIBLE_CNI_VERSION,
            RuntimeError::PluginFailed { inner, .. } | RuntimeError::Context { inner, .. } => {
                inner.code()
            }
            RuntimeError::Multiple(errs) if errs.len() == 1 => errs[0].code(),
            _ => code::INTERNAL,
        }
    }

    /// The plugin's CNI error if this is (or wraps) one.
    pub fn cni_error(&self) -> Option<&CniError> {
        match self {
            RuntimeError::Cni(e) => Some(e),
            RuntimeError::PluginFailed { inner, .. } | RuntimeError::Context { inner, .. } => {
                inner.cni_error()
            }
            _ => None,
        }
    }

    /// As a CNI error for a plugin to print: a delegate's own error passes through unchanged
    /// (Go's skel passes `*types.Error` through); anything else is code 999 with this
    /// error's message, as Go's skel wraps untyped errors.
    pub fn into_cni(self) -> CniError {
        match self {
            RuntimeError::Cni(e) => e,
            other => CniError::internal(other),
        }
    }

    pub(crate) fn context(self, context: impl fmt::Display) -> Self {
        RuntimeError::Context {
            context: context.to_string(),
            inner: Box::new(self),
        }
    }
}

impl From<CniError> for RuntimeError {
    fn from(e: CniError) -> Self {
        RuntimeError::Cni(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let plugin = RuntimeError::Cni(CniError::new(11, "later"));
        let wrapped = RuntimeError::PluginFailed {
            plugin: "type=\"x\"".into(),
            op: "add",
            inner: Box::new(plugin),
        };
        assert_eq!(wrapped.code(), 11);
        assert_eq!(wrapped.to_string(), "plugin type=\"x\" failed (add): later");
        assert_eq!(RuntimeError::NoPaths.code(), code::INTERNAL);
        assert_eq!(
            RuntimeError::PluginNotFound {
                name: "p".into(),
                paths: vec!["/a".into(), "/b".into()]
            }
            .to_string(),
            "failed to find plugin \"p\" in path [/a /b]"
        );
        assert_eq!(
            RuntimeError::VersionUnsupported {
                version: "0.3.1".into(),
                verb: "CHECK"
            }
            .to_string(),
            "configuration version \"0.3.1\" does not support the CHECK command"
        );
        assert_eq!(RuntimeError::NoPaths.into_cni().code, 999);
    }
}
