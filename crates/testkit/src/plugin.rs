//! Running a plugin binary the way a container runtime does: CNI_* variables
//! in the environment, the network config on stdin, the result on stdout.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// What a plugin run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRun {
    /// Exit code; 128 + signal number if the plugin was killed.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// True when the run was killed for exceeding [`Invocation::timeout`].
    pub timed_out: bool,
}

impl PluginRun {
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// Panics, showing the run, unless the plugin exited 0.
    pub fn assert_success(&self) -> &Self {
        if !self.success() {
            panic!("plugin failed:\n{self}");
        }
        self
    }

    /// stdout parsed as JSON; panics, showing the run, if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("plugin stdout is not JSON ({e}):\n{self}"))
    }
}

impl fmt::Display for PluginRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "exit code: {}", self.code)?;
        if self.timed_out {
            writeln!(f, "(killed: timed out)")?;
        }
        writeln!(f, "stdout:\n{}", self.stdout)?;
        write!(f, "stderr:\n{}", self.stderr)
    }
}

/// A plugin invocation, built up then `run()`.
///
/// The child gets the test's environment minus every inherited `CNI_*`
/// variable, plus exactly what was asked for here, so a developer's shell
/// can't change test outcomes. CNI_PATH is unset unless given.
///
/// ```no_run
/// # use testkit::Invocation;
/// let run = Invocation::new("/usr/lib/cni/loopback")
///     .command("ADD")
///     .container_id("ctr1")
///     .netns("/run/netns/x")
///     .ifname("lo")
///     .stdin(r#"{"cniVersion":"1.0.0","name":"lo","type":"loopback"}"#)
///     .run();
/// assert_eq!(run.code, 0);
/// ```
#[derive(Debug, Clone)]
pub struct Invocation {
    bin: PathBuf,
    /// Applied in order; `None` removes the variable.
    env: Vec<(OsString, Option<OsString>)>,
    stdin: Vec<u8>,
    timeout: Option<Duration>,
    memory_limit: Option<u64>,
    /// A program (with its arguments) that runs the plugin: `<wrapper> <args> <plugin>`.
    wrapper: Option<(PathBuf, Vec<OsString>)>,
    /// Command-line arguments of the binary itself (plugins take none; test children do).
    argv: Vec<OsString>,
    /// The working directory; the test's own when `None`.
    cwd: Option<PathBuf>,
}

impl Invocation {
    pub fn new(bin: impl AsRef<Path>) -> Self {
        Self {
            bin: bin.as_ref().to_path_buf(),
            env: Vec::new(),
            stdin: Vec::new(),
            timeout: None,
            memory_limit: None,
            wrapper: None,
            argv: Vec::new(),
            cwd: None,
        }
    }

    /// CNI_COMMAND: ADD, DEL, CHECK, GC, STATUS, VERSION.
    pub fn command(self, command: impl AsRef<OsStr>) -> Self {
        self.env("CNI_COMMAND", command)
    }

    /// CNI_CONTAINERID.
    pub fn container_id(self, id: impl AsRef<OsStr>) -> Self {
        self.env("CNI_CONTAINERID", id)
    }

    /// CNI_NETNS.
    pub fn netns(self, path: impl AsRef<OsStr>) -> Self {
        self.env("CNI_NETNS", path)
    }

    /// CNI_IFNAME.
    pub fn ifname(self, name: impl AsRef<OsStr>) -> Self {
        self.env("CNI_IFNAME", name)
    }

    /// CNI_ARGS (`K1=V1;K2=V2`).
    pub fn args(self, args: impl AsRef<OsStr>) -> Self {
        self.env("CNI_ARGS", args)
    }

    /// CNI_PATH (colon-separated plugin directories).
    pub fn path(self, path: impl AsRef<OsStr>) -> Self {
        self.env("CNI_PATH", path)
    }

    /// Sets any environment variable.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env.push((
            key.as_ref().to_os_string(),
            Some(value.as_ref().to_os_string()),
        ));
        self
    }

    /// Removes a variable, including one set earlier on this invocation.
    pub fn unset(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_os_string(), None));
        self
    }

    /// The bytes fed to the plugin's stdin (the network configuration).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = bytes.into();
        self
    }

    /// Kills the plugin (and everything it started: it runs in its own process group) when it
    /// has not finished after `limit`; the run then has `timed_out` set and exit code 137.
    /// For tests that must fail, not hang, when a plugin hangs.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Caps the plugin's data segment and private writable mappings (`RLIMIT_DATA`), so a
    /// plugin that grows memory without bound dies (allocation failure) instead of taking the
    /// machine with it.
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// Runs the plugin through `program`: `program args... <plugin>` (strace, unshare, ...),
    /// with the same environment and stdin.
    pub fn wrapped<I, A>(mut self, program: impl AsRef<Path>, args: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: AsRef<OsStr>,
    {
        self.wrapper = Some((
            program.as_ref().to_path_buf(),
            args.into_iter()
                .map(|a| a.as_ref().to_os_string())
                .collect(),
        ));
        self
    }

    /// Appends a command-line argument for the binary (a plugin takes none; a test binary
    /// re-run as a child process does).
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.argv.push(arg.as_ref().to_os_string());
        self
    }

    /// Runs the plugin in `dir` (a scratch directory, so that relative paths a test feeds it
    /// land there).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The plugin binary this runs.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// Runs the plugin to completion. Panics only if it cannot be started.
    pub fn run(&self) -> PluginRun {
        use std::os::unix::process::CommandExt;
        let mut cmd = match &self.wrapper {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        cmd.args(&self.argv);
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        if self.timeout.is_some() {
            cmd.process_group(0);
        }
        if let Some(bytes) = self.memory_limit {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            // SAFETY: setrlimit is async-signal-safe and touches only the child.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        for (key, _) in std::env::vars_os() {
            if key.as_encoded_bytes().starts_with(b"CNI_") {
                cmd.env_remove(&key);
            }
        }
        for (key, value) in &self.env {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());

        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start plugin {}: {e}", self.bin.display()));

        // Feed stdin from another thread: a plugin may fill its stdout pipe
        // before reading stdin, or exit without reading it at all (a closed
        // pipe is then fine, not an error).
        let feeder = child.stdin.take().map(|mut pipe| {
            let input = self.stdin.clone();
            std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            })
        });
        // The watchdog kills the process group at the deadline unless told the run is over.
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let watchdog = self.timeout.map(|limit| {
            let pgid = child.id() as libc::pid_t;
            std::thread::spawn(move || {
                if finished.recv_timeout(limit).is_err() {
                    // SAFETY: signals our child's own process group, which it still leads (it
                    // has not been reaped: wait_with_output is still waiting for it).
                    unsafe { libc::kill(-pgid, libc::SIGKILL) };
                    return true;
                }
                false
            })
        });
        let output = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("waiting for plugin {}: {e}", self.bin.display()));
        let _ = done.send(());
        let timed_out = watchdog.is_some_and(|w| w.join().unwrap_or(false));
        if let Some(feeder) = feeder {
            let _ = feeder.join();
        }

        let code = output.status.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            128 + output.status.signal().unwrap_or(0)
        });
        PluginRun {
            code,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            timed_out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shell "plugin" that prints its CNI environment and stdin as JSON.
    fn echo_plugin(dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("echo-plugin");
        std::fs::write(
            &path,
            r#"#!/bin/sh
input=$(cat)
printf '{"command":"%s","cid":"%s","netns":"%s","ifname":"%s","args":"%s","path":"%s","path_set":"%s","extra":"%s","stdin":%s}' \
  "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_ARGS" "$CNI_PATH" "${CNI_PATH+yes}" "$EXTRA" "$input"
echo "to stderr" >&2
exit ${EXIT_CODE:-0}
"#,
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn passes_exactly_what_was_asked() {
        let dir = crate::temp_dir();
        let bin = echo_plugin(dir.path());
        let run = Invocation::new(&bin)
            .command("ADD")
            .container_id("c1")
            .netns("/run/netns/x")
            .ifname("eth0")
            .args("A=1;B=2")
            .env("EXTRA", "yes")
            .stdin(r#"{"k":1}"#)
            .run();
        run.assert_success();
        assert_eq!(run.stderr, "to stderr\n");
        let v = run.json();
        assert_eq!(v["command"], "ADD");
        assert_eq!(v["cid"], "c1");
        assert_eq!(v["netns"], "/run/netns/x");
        assert_eq!(v["ifname"], "eth0");
        assert_eq!(v["args"], "A=1;B=2");
        assert_eq!(v["path_set"], "", "CNI_PATH must be unset by default");
        assert_eq!(v["extra"], "yes");
        assert_eq!(v["stdin"]["k"], 1);
    }

    #[test]
    fn unset_removes_and_exit_code_is_reported() {
        let dir = crate::temp_dir();
        let bin = echo_plugin(dir.path());
        let run = Invocation::new(&bin)
            .command("DEL")
            .path("/opt/cni/bin")
            .env("EXTRA", "x")
            .unset("EXTRA")
            .env("EXIT_CODE", "3")
            .stdin("null")
            .run();
        assert_eq!(run.code, 3);
        assert!(!run.success());
        let v = run.json();
        assert_eq!(v["path"], "/opt/cni/bin");
        assert_eq!(v["extra"], "");
    }

    #[test]
    fn a_hanging_plugin_and_its_children_are_killed_at_the_timeout() {
        let dir = crate::temp_dir();
        let bin = dir.path().join("hang");
        std::fs::write(&bin, "#!/bin/sh\nsleep 30 &\nsleep 30\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let start = std::time::Instant::now();
        // The backgrounded sleep holds stdout open: the run only ends if it is killed too.
        let run = Invocation::new(&bin)
            .timeout(Duration::from_millis(300))
            .run();
        assert!(run.timed_out, "{run}");
        assert_eq!(run.code, 137);
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
        let quick = Invocation::new("/bin/true")
            .timeout(Duration::from_secs(30))
            .run();
        assert!(!quick.timed_out && quick.success(), "{quick}");
    }

    #[test]
    fn the_memory_limit_stops_a_growing_plugin() {
        // 64 MiB of data cannot be allocated under a 16 MiB limit.
        let run = Invocation::new("/bin/sh")
            .env("X", "")
            .memory_limit(16 << 20)
            .stdin("x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo ${#x}")
            .run();
        assert!(!run.success(), "{run}");
        let unlimited = Invocation::new("/bin/sh")
            .stdin("x=$(head -c 1048576 /dev/zero | tr '\\0' a); echo ${#x}")
            .memory_limit(256 << 20)
            .run();
        assert_eq!(unlimited.stdout.trim(), "1048576", "{unlimited}");
    }

    #[test]
    fn json_panic_shows_the_run() {
        let run = PluginRun {
            code: 1,
            stdout: "not json".into(),
            stderr: "oops".into(),
            timed_out: false,
        };
        let err = std::panic::catch_unwind(|| run.json()).expect_err("must panic");
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("not json") && msg.contains("oops"), "{msg}");
    }
}
