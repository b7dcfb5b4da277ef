//! The plugin entry point (Go's `skel.PluginMainFuncs`): env and stdin validation, version
//! gates per verb, dispatch to the plugin's handlers, error output.

use std::io::{Read, Write};

use serde::Deserialize;

use crate::error::{code, CniError};
use crate::types::CniResult;
use crate::version::{PluginInfo, SpecVersion};

use super::env::{read_env, CmdArgs};
use super::validate::validate_network_name;

/// A CNI plugin: one handler per verb. GC and STATUS default to success, which is what Go's
/// skel does for a plugin that registers no handler.
pub trait Plugin {
    /// ADD: returns the result to print, already in the shape the plugin wants printed
    /// (normally converted to the config's `cniVersion`).
    fn add(&self, args: &CmdArgs) -> Result<CniResult, CniError>;
    fn del(&self, args: &CmdArgs) -> Result<(), CniError>;
    fn check(&self, args: &CmdArgs) -> Result<(), CniError>;
    fn gc(&self, _args: &CmdArgs) -> Result<(), CniError> {
        Ok(())
    }
    fn status(&self, _args: &CmdArgs) -> Result<(), CniError> {
        Ok(())
    }
}

/// The about line the reference plugins print: `CNI <name> plugin <version>`.
pub fn about(name: &str) -> String {
    format!("CNI {name} plugin v{}", env!("CARGO_PKG_VERSION"))
}

/// What the process environment looks like to the dispatcher; swapped out in tests.
pub struct Io<'a> {
    pub getenv: &'a dyn Fn(&str) -> String,
    pub stdin: &'a mut dyn Read,
    pub stdout: &'a mut dyn Write,
    pub stderr: &'a mut dyn Write,
}

/// Runs the plugin for this process and exits: 0 on success, 1 with the error JSON on stdout
/// otherwise. A panic anywhere is turned into a code-999 error, never a raw trace on stdout.
pub fn run(plugin: &dyn Plugin, info: &PluginInfo, about: &str) -> ! {
    install_panic_hook();
    let getenv = |k: &str| std::env::var(k).unwrap_or_default();
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    // Not locked for the run, unlike stdin and stdout: a plugin's other threads write to
    // stderr too (log lines, a delegated IPAM plugin's stderr copied from a netns thread),
    // and would wait forever for a lock the main thread holds while it joins them.
    let mut stderr = std::io::stderr();
    let mut io = Io {
        getenv: &getenv,
        stdin: &mut stdin.lock(),
        stdout: &mut stdout.lock(),
        stderr: &mut stderr,
    };
    let code = match dispatch(plugin, info, about, &mut io) {
        Ok(()) => 0,
        Err(e) => {
            let _ = io.stdout.write_all(e.to_json().as_bytes());
            1
        }
    };
    let _ = io.stdout.flush();
    std::process::exit(code)
}

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let err = CniError::new(code::INTERNAL, format!("plugin panicked: {what}"));
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(err.to_json().as_bytes());
        let _ = out.flush();
        eprintln!("plugin panicked: {what}{location}");
        std::process::exit(1);
    }));
}

/// The whole dispatcher, with its I/O injected.
pub fn dispatch(
    plugin: &dyn Plugin,
    info: &PluginInfo,
    about: &str,
    io: &mut Io<'_>,
) -> Result<(), CniError> {
    let (cmd, mut args) = match read_env(io.getenv) {
        Ok(v) => v,
        Err(e) => {
            if e.code == code::INVALID_ENVIRONMENT_VARIABLES
                && (io.getenv)("CNI_COMMAND").is_empty()
                && !about.is_empty()
            {
                let _ = writeln!(io.stderr, "{about}");
                let _ = writeln!(
                    io.stderr,
                    "CNI protocol versions supported: {}",
                    info.supported_versions.join(", ")
                );
                return Ok(());
            }
            return Err(e);
        }
    };

    if cmd == "VERSION" {
        // Go's skel never reads stdin for VERSION.
        return io
            .stdout
            .write_all(info.encode().as_bytes())
            .map_err(|e| CniError::new(code::IO_FAILURE, e.to_string()));
    }

    read_stdin(io.stdin, &mut args.stdin_data)?;
    validate_config(&args.stdin_data)?;

    match cmd.as_str() {
        "ADD" => {
            check_version(&args, info)?;
            check_own_netns(&args)?;
            let result = plugin.add(&args)?;
            io.stdout
                .write_all(result.to_json().as_bytes())
                .map_err(|e| CniError::new(code::IO_FAILURE, e.to_string()))
        }
        "DEL" => {
            check_version(&args, info)?;
            check_own_netns(&args)?;
            plugin.del(&args)
        }
        "CHECK" => {
            gate(&args, info, SpecVersion::CHECK_MIN, "CHECK")?;
            plugin.check(&args)
        }
        "GC" => {
            gate(&args, info, SpecVersion::GC_MIN, "GC")?;
            plugin.gc(&args)
        }
        "STATUS" => {
            gate(&args, info, SpecVersion::GC_MIN, "STATUS")?;
            plugin.status(&args)
        }
        other => Err(CniError::new(
            code::INVALID_ENVIRONMENT_VARIABLES,
            format!("unknown CNI_COMMAND: {other}"),
        )),
    }
}

/// All of stdin, as Go's `io.ReadAll`, with Go's error (`error reading from stdin: read
/// /dev/stdin: ...`, code 5), but never more than [`crate::fs::CONFIG_LIMIT`]: a runtime that
/// pipes without end gets the same error, code and all, instead of a plugin that eats memory.
pub fn read_stdin(stdin: &mut dyn Read, buf: &mut Vec<u8>) -> Result<(), CniError> {
    let fail =
        |why: String| CniError::new(code::IO_FAILURE, format!("error reading from stdin: {why}"));
    // A typical config fits; read_to_end alone would start at 32 bytes and read five times.
    buf.reserve(4096);
    // One byte past the limit tells a config of exactly the limit from a longer one.
    Read::take(stdin, crate::fs::CONFIG_LIMIT + 1)
        .read_to_end(buf)
        .map_err(|e| {
            fail(crate::error::path_error_text(
                "read",
                std::path::Path::new("/dev/stdin"),
                &e,
            ))
        })?;
    if buf.len() as u64 > crate::fs::CONFIG_LIMIT {
        return Err(fail(format!(
            "network configuration too large (over {} bytes)",
            crate::fs::CONFIG_LIMIT
        )));
    }
    Ok(())
}

/// Go's `validateConfig`: stdin must be JSON with a valid `name`.
fn validate_config(stdin: &[u8]) -> Result<(), CniError> {
    /// Go's anonymous `struct { Name string "json:\"name\"" }`.
    #[derive(Deserialize, Default)]
    #[serde(default, rename = "struct { Name string \"json:\\\"name\\\"\" }")]
    struct NameOnly {
        name: String,
    }
    let name = crate::gojson::from_slice::<NameOnly>(stdin)
        .map_err(|e| {
            CniError::new(
                code::DECODING_FAILURE,
                format!("error unmarshall network config: {e}"),
            )
        })?
        .name;
    if name.is_empty() {
        return Err(CniError::new(
            code::INVALID_NETWORK_CONFIG,
            "missing network name",
        ));
    }
    validate_network_name(&name)
}

/// The config's version must be one the plugin lists (code 1 with Go's details otherwise).
fn check_version(args: &CmdArgs, info: &PluginInfo) -> Result<String, CniError> {
    let version = crate::version::config_version(&args.stdin_data)
        .map_err(|e| CniError::new(code::DECODING_FAILURE, e))?;
    if !info.is_supported(&version) {
        return Err(CniError::with_details(
            code::INCOMPATIBLE_CNI_VERSION,
            "incompatible CNI versions",
            format!(
                "config is {}, plugin supports {}",
                crate::json::go_quote(&version),
                info.quoted_list()
            ),
        ));
    }
    Ok(version)
}

/// CHECK, GC and STATUS exist only from a given spec version on, for the config and for the
/// plugin.
fn gate(args: &CmdArgs, info: &PluginInfo, min: SpecVersion, verb: &str) -> Result<(), CniError> {
    let decode = |e: String| CniError::new(code::DECODING_FAILURE, e);
    let version = crate::version::config_version(&args.stdin_data).map_err(decode)?;
    let config = SpecVersion::parse(&version).map_err(decode)?;
    if config < min {
        return Err(CniError::new(
            code::INCOMPATIBLE_CNI_VERSION,
            format!("config version does not allow {verb}"),
        ));
    }
    for supported in &info.supported_versions {
        if SpecVersion::parse(supported).map_err(decode)? >= config {
            check_version(args, info)?;
            return Ok(());
        }
    }
    Err(CniError::new(
        code::INCOMPATIBLE_CNI_VERSION,
        format!("plugin version does not allow {verb}"),
    ))
}

/// Refuses to work on the plugin's own netns unless `CNI_NETNS_OVERRIDE` says so. Go runs
/// this after the handler (so the ADD result is already printed); running it first keeps
/// the host untouched. A path that is not an openable netns passes, so DEL after the
/// netns is gone still works.
fn check_own_netns(args: &CmdArgs) -> Result<(), CniError> {
    use std::os::unix::fs::MetadataExt;
    if args.netns_override() || args.netns.is_empty() {
        return Ok(());
    }
    let (Ok(target), Ok(own)) = (
        std::fs::metadata(&args.netns),
        std::fs::metadata("/proc/thread-self/ns/net"),
    ) else {
        return Ok(());
    };
    if target.dev() == own.dev() && target.ino() == own.ino() {
        return Err(CniError::new(
            code::INVALID_NETNS,
            "plugin's netns and netns from CNI_NETNS should not be the same",
        ));
    }
    Ok(())
}
