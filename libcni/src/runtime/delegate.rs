//! Delegation from a plugin to another plugin, typically IPAM (Go's `invoke.DelegateAdd`,
//! `DelegateCheck`, `DelegateDel`, `DelegateGC`, `DelegateStatus`).
//!
//! The delegate is looked up in the calling plugin's own `CNI_PATH` and runs with the
//! calling plugin's environment, only `CNI_COMMAND` changed. The other `CNI_*` variables are
//! taken from the plugin's [`CmdArgs`] when set there, which is the same thing when the
//! plugin was run by a runtime and keeps delegation working when a test drives the plugin's
//! dispatcher with an injected environment.
//!
//! A delegate's CNI error comes back unchanged (code, msg, details); anything else (not
//! found, unreadable result) is code 999 with Go's message, as Go's skel would report it.

use crate::error::CniError;
use crate::skel::CmdArgs;
use crate::types::CniResult;

use super::error::Result;
use super::invoke::{exec_with_vars, find_in_path, result_from_output, split_path};

fn run(command: &str, plugin_type: &str, stdin: &[u8], args: &CmdArgs) -> Result<Vec<u8>> {
    let dirs = split_path(&args.path);
    let path = find_in_path(plugin_type, &dirs)?;
    let mut vars = vec![("CNI_COMMAND", command.to_string())];
    for (name, value) in [
        ("CNI_CONTAINERID", &args.container_id),
        ("CNI_NETNS", &args.netns),
        ("CNI_IFNAME", &args.ifname),
        ("CNI_ARGS", &args.args),
        ("CNI_PATH", &args.path),
        ("CNI_NETNS_OVERRIDE", &args.netns_override),
    ] {
        if !value.is_empty() {
            vars.push((name, value.clone()));
        }
    }
    exec_with_vars(&path, stdin, &vars)
}

/// ADD through `plugin_type`; the result is built in its own `cniVersion` (the config's
/// when it has none), as Go's `ExecPluginWithResult` does.
pub fn delegate_add(
    plugin_type: &str,
    stdin: &[u8],
    args: &CmdArgs,
) -> Result<CniResult, CniError> {
    run("ADD", plugin_type, stdin, args)
        .and_then(|out| result_from_output(stdin, &out))
        .map_err(|e| e.into_cni())
}

/// CHECK through `plugin_type`.
pub fn delegate_check(plugin_type: &str, stdin: &[u8], args: &CmdArgs) -> Result<(), CniError> {
    run("CHECK", plugin_type, stdin, args)
        .map(drop)
        .map_err(|e| e.into_cni())
}

/// DEL through `plugin_type`.
pub fn delegate_del(plugin_type: &str, stdin: &[u8], args: &CmdArgs) -> Result<(), CniError> {
    run("DEL", plugin_type, stdin, args)
        .map(drop)
        .map_err(|e| e.into_cni())
}

/// GC through `plugin_type`.
pub fn delegate_gc(plugin_type: &str, stdin: &[u8], args: &CmdArgs) -> Result<(), CniError> {
    run("GC", plugin_type, stdin, args)
        .map(drop)
        .map_err(|e| e.into_cni())
}

/// STATUS through `plugin_type`.
pub fn delegate_status(plugin_type: &str, stdin: &[u8], args: &CmdArgs) -> Result<(), CniError> {
    run("STATUS", plugin_type, stdin, args)
        .map(drop)
        .map_err(|e| e.into_cni())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &std::path::Path, name: &str, body: &str) {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn delegates_with_command_overridden() {
        let d = tempfile::tempdir().unwrap();
        script(
            d.path(),
            "ipam",
            r#"cat >/dev/null
case "$CNI_COMMAND" in
  ADD) echo "{\"ips\":[{\"address\":\"10.0.0.5/24\"}],\"dns\":{\"domain\":\"$CNI_CONTAINERID-$CNI_IFNAME\"}}" ;;
  DEL) echo '{"code":11,"msg":"try later","details":"busy"}'; exit 1 ;;
  *) exit 0 ;;
esac"#,
        );
        let args = CmdArgs {
            container_id: "c1".into(),
            netns: "/ns".into(),
            ifname: "eth0".into(),
            path: format!("/nonexistent:{}", d.path().display()),
            ..Default::default()
        };
        let stdin = br#"{"cniVersion":"1.0.0","name":"n","ipam":{"type":"ipam"}}"#;
        let r = delegate_add("ipam", stdin, &args).unwrap();
        assert_eq!(r.version(), "1.0.0");
        assert_eq!(r.to_value()["dns"]["domain"], "c1-eth0");
        let e = delegate_del("ipam", stdin, &args).unwrap_err();
        assert_eq!(
            (e.code, e.msg.as_str(), e.details.as_str()),
            (11, "try later", "busy")
        );
        delegate_check("ipam", stdin, &args).unwrap();
        delegate_gc("ipam", stdin, &args).unwrap();
        delegate_status("ipam", stdin, &args).unwrap();
        let e = delegate_add("missing", stdin, &args).unwrap_err();
        assert_eq!(e.code, 999);
        assert_eq!(
            e.msg,
            format!(
                "failed to find plugin \"missing\" in path [/nonexistent {}]",
                d.path().display()
            )
        );
    }
}
