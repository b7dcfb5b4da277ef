//! Finding and executing plugin binaries (Go's `pkg/invoke`): `FindInPath`, `RawExec` with
//! its error decoding and "text file busy" retries, `ExecPluginWithResult` and
//! `GetVersionInfo`.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::error::{Result, RuntimeError};
use crate::error::io_error_text as go_errno_text;
use crate::error::{code, CniError};
use crate::types::CniResult;
use crate::version::{PluginInfo, CURRENT};

/// The OS list separator for `CNI_PATH`.
pub const PATH_LIST_SEPARATOR: char = ':';

/// How many extra attempts an exec gets when the binary is being written ("text file busy").
const BUSY_RETRIES: usize = 5;
const BUSY_DELAY: Duration = Duration::from_secs(1);

/// Splits a `CNI_PATH` value on the OS list separator, dropping empty entries.
pub fn split_path(path: &str) -> Vec<String> {
    path.split(PATH_LIST_SEPARATOR)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Go's `FindInPath`: the first `<dir>/<name>` that `stat`s (following symlinks) as a
/// regular file. The exec bit is not checked.
pub fn find_in_path<P: AsRef<Path>>(name: &str, dirs: &[P]) -> Result<PathBuf> {
    if name.is_empty() {
        return Err(RuntimeError::NoPluginName);
    }
    if name.contains(std::path::MAIN_SEPARATOR) {
        return Err(RuntimeError::InvalidPluginName(name.to_string()));
    }
    if dirs.is_empty() {
        return Err(RuntimeError::NoPaths);
    }
    for dir in dirs {
        let candidate = dir.as_ref().join(name);
        if std::fs::metadata(&candidate).is_ok_and(|m| m.is_file()) {
            return Ok(candidate);
        }
    }
    Err(RuntimeError::PluginNotFound {
        name: name.to_string(),
        paths: dirs
            .iter()
            .map(|d| d.as_ref().display().to_string())
            .collect(),
    })
}

/// The `CNI_*` variables of one invocation (Go's `invoke.Args`). They are set over the
/// inherited environment of this process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    pub command: String,
    pub container_id: String,
    pub netns: String,
    pub ifname: String,
    /// `CNI_ARGS` pairs, sent as `K=V;K=V`.
    pub args: Vec<(String, String)>,
    /// `CNI_PATH`, already joined with the list separator.
    pub path: String,
}

impl Env {
    /// The variables in the order Go sets them.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CNI_COMMAND", self.command.clone()),
            ("CNI_CONTAINERID", self.container_id.clone()),
            ("CNI_NETNS", self.netns.clone()),
            ("CNI_ARGS", join_args(&self.args)),
            ("CNI_IFNAME", self.ifname.clone()),
            ("CNI_PATH", self.path.clone()),
        ]
    }
}

/// `K=V;K=V`, Go's `stringify`.
pub fn join_args(args: &[(String, String)]) -> String {
    args.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// Runs `path` with `stdin` and the `CNI_*` variables of `env` over the inherited
/// environment; returns its stdout. See [`exec_with_vars`].
pub fn exec_plugin(path: &Path, stdin: &[u8], env: &Env) -> Result<Vec<u8>> {
    exec_with_vars(path, stdin, &env.vars())
}

/// Go's `RawExec.ExecPlugin`: runs `path` with `stdin`, the inherited environment and `vars`
/// set over it.
///
/// - Exit 0: returns stdout; the plugin's stderr is copied to ours.
/// - Non-zero exit (or a failure to start): stdout is decoded as the plugin's CNI error,
///   keeping its code, msg and details. With empty stdout the error is code 0,
///   `netplugin failed with no error message: <exit>` or `netplugin failed: "<stderr>": <exit>`;
///   stdout that is not an error object gives
///   `netplugin failed but error parsing its diagnostic message "<stdout>": <err>`.
/// - "text file busy" is retried up to 5 more times, 1 s apart.
pub fn exec_with_vars(path: &Path, stdin: &[u8], vars: &[(&str, String)]) -> Result<Vec<u8>> {
    let mut attempt = 0;
    loop {
        match run_once(path, stdin, vars) {
            Ok(Outcome::Exited {
                status,
                stdout,
                stderr,
            }) => {
                if status.success() {
                    if !stderr.is_empty() {
                        let _ = std::io::stderr().write_all(&stderr);
                    }
                    return Ok(stdout);
                }
                return Err(plugin_error(&exit_text(status), &stdout, &stderr).into());
            }
            Ok(Outcome::SpawnFailed(err)) => {
                let busy = err.kind() == std::io::ErrorKind::ExecutableFileBusy;
                if busy && attempt < BUSY_RETRIES {
                    attempt += 1;
                    std::thread::sleep(BUSY_DELAY);
                    continue;
                }
                let text = format!("fork/exec {}: {}", path.display(), go_errno_text(&err));
                return Err(plugin_error(&text, &[], &[]).into());
            }
            Err(e) => return Err(e),
        }
    }
}

enum Outcome {
    Exited {
        status: ExitStatus,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
    },
    SpawnFailed(std::io::Error),
}

fn run_once(path: &Path, stdin: &[u8], vars: &[(&str, String)]) -> Result<Outcome> {
    let mut cmd = Command::new(path);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Ok(Outcome::SpawnFailed(e)),
    };
    let io_err = |e: std::io::Error| RuntimeError::Io(format!("running {}: {e}", path.display()));
    let communicated = super::pipes::communicate(&mut child, stdin);
    // Reap the child whatever happened to the pipes.
    let status = child.wait().map_err(io_err)?;
    let (stdout, stderr) = communicated.map_err(io_err)?;
    Ok(Outcome::Exited {
        status,
        stdout,
        stderr,
    })
}

/// Go's `ProcessState.String()`: `exit status N` or `signal: <name>`.
fn exit_text(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    let Some(sig) = status.signal() else {
        return "exit status unknown".into();
    };
    let name = match sig {
        1 => "hangup".to_string(),
        2 => "interrupt".to_string(),
        3 => "quit".to_string(),
        4 => "illegal instruction".to_string(),
        6 => "aborted".to_string(),
        7 => "bus error".to_string(),
        8 => "floating point exception".to_string(),
        9 => "killed".to_string(),
        11 => "segmentation fault".to_string(),
        13 => "broken pipe".to_string(),
        14 => "alarm clock".to_string(),
        15 => "terminated".to_string(),
        n => format!("signal {n}"),
    };
    let core = if status.core_dumped() {
        " (core dumped)"
    } else {
        ""
    };
    format!("signal: {name}{core}")
}

/// The error object as Go decodes it: every field optional, keys case-insensitive, unknown
/// keys (such as `cniVersion`) ignored.
#[derive(Deserialize)]
#[serde(rename = "types.Error")]
struct WireError {
    #[serde(default)]
    code: u32,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    details: String,
}

/// Go's `RawExec.pluginErr`.
fn plugin_error(exit: &str, stdout: &[u8], stderr: &[u8]) -> CniError {
    if stdout.is_empty() {
        let msg = if stderr.is_empty() {
            format!("netplugin failed with no error message: {exit}")
        } else {
            format!(
                "netplugin failed: {}: {exit}",
                crate::json::go_quote(&String::from_utf8_lossy(stderr))
            )
        };
        return CniError::new(code::UNKNOWN, msg);
    }
    match crate::gojson::from_slice::<WireError>(stdout) {
        Ok(w) => CniError::with_details(w.code, w.msg, w.details),
        Err(e) => CniError::new(
            code::UNKNOWN,
            format!(
                "netplugin failed but error parsing its diagnostic message {}: {}",
                crate::json::go_quote(&String::from_utf8_lossy(stdout)),
                e
            ),
        ),
    }
}

/// Go's `fixupResultVersion`: the result's own `cniVersion` when it has a non-empty one;
/// otherwise the config's version, injected into the result.
pub fn fixup_result_version(netconf: &[u8], result: &[u8]) -> Result<(String, Vec<u8>)> {
    let conf_version = crate::version::config_version(netconf).map_err(RuntimeError::Decode)?;
    let raw: Value = crate::gojson::from_slice(result).map_err(|e| {
        RuntimeError::Decode(format!(
            "failed to unmarshal raw result: {e} result {}",
            String::from_utf8_lossy(result)
        ))
    })?;
    let mut map = match raw {
        Value::Object(m) => m,
        Value::Null => serde_json::Map::new(),
        other => {
            return Err(RuntimeError::Decode(format!(
                "failed to unmarshal raw result: json: cannot unmarshal {} into Go value of type map[string]interface {{}} result {}",
                crate::gojson::kind_name(&other),
                String::from_utf8_lossy(result)
            )))
        }
    };
    if let Some(Value::String(v)) = map.get("cniVersion") {
        if !v.is_empty() {
            return Ok((v.clone(), result.to_vec()));
        }
    }
    map.insert("cniVersion".into(), Value::String(conf_version.clone()));
    Ok((
        conf_version,
        crate::json::to_compact(&Value::Object(map)).into_bytes(),
    ))
}

/// Go's `ExecPluginWithResult`: exec, then build the result in its own version (or the
/// config's when it has none).
pub fn exec_with_result(path: &Path, netconf: &[u8], env: &Env) -> Result<CniResult> {
    let stdout = exec_plugin(path, netconf, env)?;
    result_from_output(netconf, &stdout)
}

/// Builds the result of a successful ADD from the plugin's stdout.
pub fn result_from_output(netconf: &[u8], stdout: &[u8]) -> Result<CniResult> {
    let (version, bytes) = fixup_result_version(netconf, stdout)?;
    CniResult::create(&version, &bytes).map_err(RuntimeError::Decode)
}

/// The message a plugin that predates `VERSION` answers with.
const UNKNOWN_VERSION_COMMAND: &str = "unknown CNI_COMMAND: VERSION";

/// Go's `GetVersionInfo`: `VERSION` with the dummy values old skels require. A plugin that
/// does not know `VERSION` supports only 0.1.0.
pub fn get_version_info(path: &Path) -> Result<PluginInfo> {
    let env = Env {
        command: "VERSION".into(),
        netns: "dummy".into(),
        ifname: "dummy".into(),
        path: "dummy".into(),
        ..Default::default()
    };
    let stdin = format!("{{\"cniVersion\":{}}}", crate::json::go_quote(CURRENT));
    match exec_plugin(path, stdin.as_bytes(), &env) {
        Ok(out) => PluginInfo::decode(&out).map_err(RuntimeError::Decode),
        Err(RuntimeError::Cni(e)) if e.to_string() == UNKNOWN_VERSION_COMMAND => {
            Ok(PluginInfo::supports(&["0.1.0"]))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn find_in_path_rules() {
        let d1 = tempfile::tempdir().unwrap();
        let d2 = tempfile::tempdir().unwrap();
        let dirs = [d1.path(), d2.path()];
        assert_eq!(
            find_in_path("", &dirs).unwrap_err().to_string(),
            "no plugin name provided"
        );
        assert_eq!(
            find_in_path("a/b", &dirs).unwrap_err().to_string(),
            "invalid plugin name: a/b"
        );
        let none: [&Path; 0] = [];
        assert_eq!(
            find_in_path("x", &none).unwrap_err().to_string(),
            "no paths provided"
        );
        assert_eq!(
            find_in_path("x", &dirs).unwrap_err().to_string(),
            format!(
                "failed to find plugin \"x\" in path [{} {}]",
                d1.path().display(),
                d2.path().display()
            )
        );
        // A directory does not count; a regular file does, exec bit or not; first dir wins.
        std::fs::create_dir(d1.path().join("x")).unwrap();
        std::fs::write(d2.path().join("x"), b"").unwrap();
        assert_eq!(find_in_path("x", &dirs).unwrap(), d2.path().join("x"));
        std::fs::write(d1.path().join("y"), b"").unwrap();
        std::fs::write(d2.path().join("y"), b"").unwrap();
        assert_eq!(find_in_path("y", &dirs).unwrap(), d1.path().join("y"));
        // Symlinks are followed; dangling ones are skipped.
        std::os::unix::fs::symlink(d2.path().join("y"), d1.path().join("link")).unwrap();
        assert_eq!(find_in_path("link", &dirs).unwrap(), d1.path().join("link"));
        std::os::unix::fs::symlink("/nonexistent/zz", d1.path().join("dangling")).unwrap();
        assert!(find_in_path("dangling", &dirs).is_err());
    }

    #[test]
    fn env_and_stdin_reach_the_plugin() {
        let d = tempfile::tempdir().unwrap();
        let p = script(
            d.path(),
            "env",
            "cat >/dev/null; printf '%s|%s|%s|%s|%s|%s' \"$CNI_COMMAND\" \"$CNI_CONTAINERID\" \"$CNI_NETNS\" \"$CNI_IFNAME\" \"$CNI_ARGS\" \"$CNI_PATH\"",
        );
        let env = Env {
            command: "ADD".into(),
            container_id: "c1".into(),
            netns: "/ns".into(),
            ifname: "eth0".into(),
            args: vec![("A".into(), "1".into()), ("B".into(), "2".into())],
            path: "/p1:/p2".into(),
        };
        let out = exec_plugin(&p, b"{}", &env).unwrap();
        assert_eq!(out, b"ADD|c1|/ns|eth0|A=1;B=2|/p1:/p2");
        let p = script(d.path(), "cat", "cat");
        assert_eq!(exec_plugin(&p, b"hello", &env).unwrap(), b"hello");
    }

    #[test]
    fn error_decoding() {
        let d = tempfile::tempdir().unwrap();
        let env = Env::default();
        let run = |body: &str, name: &str| {
            let p = script(d.path(), name, body);
            match exec_plugin(&p, b"", &env).unwrap_err() {
                RuntimeError::Cni(e) => e,
                other => panic!("unexpected {other:?}"),
            }
        };
        let e = run(
            r#"echo '{"cniVersion":"1.0.0","code":7,"msg":"bad","details":"more"}'; exit 1"#,
            "typed",
        );
        assert_eq!(
            (e.code, e.msg.as_str(), e.details.as_str()),
            (7, "bad", "more")
        );
        let e = run(r#"echo '{"Code":11,"MSG":"later"}'; exit 1"#, "ci");
        assert_eq!((e.code, e.msg.as_str()), (11, "later"));
        let e = run("exit 3", "silent");
        assert_eq!(e.code, 0);
        assert_eq!(
            e.msg,
            "netplugin failed with no error message: exit status 3"
        );
        let e = run("echo 'oops \"x\"' >&2; exit 1", "stderr");
        assert_eq!(
            e.msg,
            "netplugin failed: \"oops \\\"x\\\"\\n\": exit status 1"
        );
        let e = run("echo 'not json'; exit 1", "garbage");
        assert!(e.msg.starts_with(
            "netplugin failed but error parsing its diagnostic message \"not json\\n\": "
        ));
        let e = run("kill -9 $$", "killed");
        assert_eq!(
            e.msg,
            "netplugin failed with no error message: signal: killed"
        );
    }

    #[test]
    fn spawn_failure_is_worded_like_go() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("noexec");
        std::fs::write(&p, b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = exec_plugin(&p, b"", &Env::default()).unwrap_err();
        // root may execute a file without exec bits only if some x bit is set; none is.
        assert_eq!(
            err.to_string(),
            format!(
                "netplugin failed with no error message: fork/exec {}: permission denied",
                p.display()
            )
        );
    }

    #[test]
    fn fixup_uses_result_version_else_config_version() {
        let (v, b) =
            fixup_result_version(br#"{"cniVersion":"0.4.0"}"#, br#"{"cniVersion":"1.0.0"}"#)
                .unwrap();
        assert_eq!(
            (v.as_str(), b.as_slice()),
            ("1.0.0", &br#"{"cniVersion":"1.0.0"}"#[..])
        );
        let (v, b) = fixup_result_version(br#"{"cniVersion":"0.4.0"}"#, br#"{"ips":[]}"#).unwrap();
        assert_eq!(v, "0.4.0");
        assert_eq!(b, br#"{"cniVersion":"0.4.0","ips":[]}"#);
        let (v, _) = fixup_result_version(br#"{"cniVersion":"1.1.0"}"#, b"null").unwrap();
        assert_eq!(v, "1.1.0");
        let err = fixup_result_version(b"{}", b"[]").unwrap_err().to_string();
        assert!(err.starts_with("failed to unmarshal raw result: json: cannot unmarshal array"));
        let r = result_from_output(
            br#"{"cniVersion":"1.0.0"}"#,
            br#"{"ips":[{"address":"10.0.0.2/24"}]}"#,
        )
        .unwrap();
        assert_eq!(r.version(), "1.0.0");
    }

    #[test]
    fn version_info() {
        let d = tempfile::tempdir().unwrap();
        let p = script(
            d.path(),
            "v",
            r#"read x; [ "$CNI_NETNS$CNI_IFNAME$CNI_PATH" = dummydummydummy ] || exit 9; echo "{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\"0.4.0\",\"1.0.0\"],\"got\":$x}""#,
        );
        let info = get_version_info(&p).unwrap();
        assert_eq!(info.supported_versions, vec!["0.4.0", "1.0.0"]);
        let p = script(
            d.path(),
            "old",
            r#"echo '{"code":4,"msg":"unknown CNI_COMMAND: VERSION"}'; exit 1"#,
        );
        assert_eq!(
            get_version_info(&p).unwrap().supported_versions,
            vec!["0.1.0"]
        );
        let p = script(d.path(), "legacy", r#"echo '{"cniVersion":"0.2.0"}'"#);
        assert_eq!(
            get_version_info(&p).unwrap().supported_versions,
            vec!["0.1.0", "0.2.0"]
        );
    }

    #[test]
    fn split_path_drops_empty_entries() {
        assert_eq!(split_path("/a::/b:"), vec!["/a", "/b"]);
        assert!(split_path("").is_empty());
    }
}
