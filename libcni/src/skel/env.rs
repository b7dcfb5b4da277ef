//! Reading the `CNI_*` environment for one invocation, in Go skel's order with Go's errors.

use crate::error::{code, CniError};

use super::validate::{validate_container_id, validate_interface_name};

/// Everything a plugin gets for one invocation (Go's `skel.CmdArgs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CmdArgs {
    pub container_id: String,
    pub netns: String,
    pub ifname: String,
    pub args: String,
    pub path: String,
    pub netns_override: String,
    pub stdin_data: Vec<u8>,
}

impl CmdArgs {
    /// The `CNI_PATH` directories, for delegation.
    pub fn path_dirs(&self) -> Vec<String> {
        crate::runtime::invoke::split_path(&self.path)
    }

    /// `CNI_NETNS_OVERRIDE` is `1` or `true` (any case).
    pub fn netns_override(&self) -> bool {
        self.netns_override == "1" || self.netns_override.eq_ignore_ascii_case("true")
    }
}

type Validator = fn(&str) -> Result<(), CniError>;

/// (variable, verbs that require it, validator)
const VARS: &[(&str, &[&str], Option<Validator>)] = &[
    (
        "CNI_COMMAND",
        &["ADD", "CHECK", "DEL", "GC", "STATUS"],
        None,
    ),
    (
        "CNI_CONTAINERID",
        &["ADD", "CHECK", "DEL"],
        Some(validate_container_id),
    ),
    ("CNI_NETNS", &["ADD", "CHECK"], None),
    (
        "CNI_IFNAME",
        &["ADD", "CHECK", "DEL"],
        Some(validate_interface_name),
    ),
    ("CNI_ARGS", &[], None),
    ("CNI_PATH", &["ADD", "CHECK", "DEL", "GC", "STATUS"], None),
    ("CNI_NETNS_OVERRIDE", &[], None),
];

/// Reads the variables (stdin is read by the caller). Missing required variables are all
/// reported in one code-4 error; the first failing validator wins before that.
pub fn read_env(getenv: &dyn Fn(&str) -> String) -> Result<(String, CmdArgs), CniError> {
    let cmd = getenv("CNI_COMMAND");
    let mut values = Vec::with_capacity(VARS.len());
    let mut missing = Vec::new();
    for (name, required_for, validator) in VARS {
        let value = getenv(name);
        let required = required_for.contains(&cmd.as_str());
        if value.is_empty() {
            if required || *name == "CNI_COMMAND" {
                missing.push(*name);
            }
        } else if required {
            if let Some(validate) = validator {
                validate(&value)?;
            }
        }
        values.push(value);
    }
    if !missing.is_empty() {
        return Err(CniError::new(
            code::INVALID_ENVIRONMENT_VARIABLES,
            format!("required env variables [{}] missing", missing.join(",")),
        ));
    }
    let mut v = values.into_iter();
    let mut next = || v.next().unwrap_or_default();
    let _cmd = next();
    let args = CmdArgs {
        container_id: next(),
        netns: next(),
        ifname: next(),
        args: next(),
        path: next(),
        netns_override: next(),
        stdin_data: Vec::new(),
    };
    Ok((cmd, args))
}
