//! Running the firewall tools (`iptables`, `ip6tables`, their `-restore`, `nft`).
//!
//! Tools are looked up in `PATH` the way Go's `exec.LookPath` does, so a missing tool fails
//! with Go's text and error messages show the resolved path as go-iptables' do.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{FirewallError, Result};

/// A tool resolved in `PATH`, with the extra environment its runs get.
#[derive(Debug, Clone)]
pub struct Tool {
    path: PathBuf,
    env: Vec<(String, String)>,
}

/// What a tool run produced, whatever its exit status.
#[derive(Debug)]
pub struct Output {
    /// Exit status; -1 when the tool was killed (Go's `ExitStatus()`).
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Tool {
    /// Go's `exec.LookPath(name)`: a name with a slash is used as is, otherwise the first
    /// executable regular file named `name` in a `PATH` directory (an empty entry is `.`).
    pub fn find(name: &str) -> Result<Tool> {
        let not_found = || FirewallError::NotFound {
            name: name.to_string(),
        };
        if name.contains('/') {
            return is_executable(Path::new(name))
                .then(|| Tool {
                    path: name.into(),
                    env: Vec::new(),
                })
                .ok_or_else(not_found);
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        for dir in path.as_bytes().split(|b| *b == b':') {
            let dir = if dir.is_empty() {
                Path::new(".")
            } else {
                Path::new(OsStr::from_bytes(dir))
            };
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return Ok(Tool {
                    path: candidate,
                    env: Vec::new(),
                });
            }
        }
        Err(not_found())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The extra environment of this tool's runs.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The same tool, run with `key=value` added to its environment (e.g. legacy iptables'
    /// `XTABLES_LOCKFILE`).
    pub fn with_env(mut self, key: &str, value: &str) -> Tool {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Runs the tool with `args` and optional stdin; fails only if it cannot be started.
    pub fn output(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Output> {
        let mut cmd = Command::new(&self.path);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| FirewallError::Spawn {
            path: self.path.display().to_string(),
            message: libcni::error::io_error_text(&e),
        })?;
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // Scripts are far smaller than a pipe buffer, and the tools read all of stdin
            // before they write anything, so writing before reading cannot deadlock. A tool
            // that exits early closes the pipe: its exit status tells what went wrong.
            let _ = pipe.write_all(data);
        }
        let out = child.wait_with_output().map_err(|e| FirewallError::Spawn {
            path: self.path.display().to_string(),
            message: libcni::error::io_error_text(&e),
        })?;
        Ok(Output {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Runs the tool and returns its stdout; a non-zero exit is a [`FirewallError::Command`].
    pub fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<String> {
        let out = self.output(args, stdin)?;
        if out.status == 0 {
            Ok(out.stdout)
        } else {
            Err(self.failed(args, out))
        }
    }

    /// The error for a failed run, with the argv as go-iptables prints it.
    pub fn failed(&self, args: &[&str], out: Output) -> FirewallError {
        let mut argv = vec![self.path.display().to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        FirewallError::Command {
            argv,
            status: out.status,
            stderr: out.stderr,
        }
    }
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tools_and_reports_failures() {
        let sh = Tool::find("sh").expect("sh on PATH");
        assert!(sh.path().is_absolute() || sh.path().starts_with("."));
        assert_eq!(sh.run(&["-c", "cat"], Some(b"hi")).unwrap(), "hi");
        let err = sh
            .run(&["-c", "echo oops >&2; exit 3"], None)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("running ["), "{err}");
        assert!(
            err.ends_with(" -c echo oops >&2; exit 3]: exit status 3: oops\n"),
            "{err}"
        );
    }

    #[test]
    fn missing_tool_reads_like_go() {
        let err = Tool::find("no-such-tool-xyz").unwrap_err();
        assert_eq!(
            err.to_string(),
            "exec: \"no-such-tool-xyz\": executable file not found in $PATH"
        );
        assert!(Tool::find("/nonexistent/iptables").is_err());
    }
}
