//! A test-double CNI plugin (a port of Go's `plugins/test/noop`), used by libcni's runtime
//! tests. It does nothing to the network: it records each invocation and answers as told.
//!
//! The behaviour comes from a JSON "debug file", found in this order: `DEBUG=<path>` in
//! `CNI_ARGS`, the `debugFile` key of the config, `<argv[0]>.debug` (so a symlink to this
//! binary named `foo` reads `foo.debug` next to it; this also works for VERSION, which gets
//! neither args nor config). Without a debug file ADD prints `{"cniVersion": <config's>}`,
//! VERSION lists every spec version, and everything else succeeds silently.
//!
//! Debug file keys (all optional):
//! - `reportResult`: ADD's stdout, verbatim; `PASSTHROUGH` prints the prevResult.
//! - `reportError`, `reportErrorCode` (default 999), `reportErrorDetails`: fail with this
//!   CNI error (on stdout, exit 1); `failOn` limits that to one command.
//! - `reportStdout` + `exitCode`: print this raw text and exit with this code instead.
//! - `reportStderr`: written to stderr.
//! - `reportVersionSupport`: the VERSION list; `versionUnknown: true` answers VERSION like a
//!   plugin that predates it.
//! - `commandLog`: a file to which `<COMMAND> <type>` is appended, one line per call.
//!
//! Every call is appended to `<debug file>.calls` as one JSON line: `command`,
//! `containerID`, `netns`, `ifname`, `args`, `path` and `stdin` (as JSON when it parses).

use std::io::{Read, Write};

use serde_json::{json, Value};

fn main() {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let command = var("CNI_COMMAND");
    let cni_args = var("CNI_ARGS");
    let mut stdin = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut stdin);
    let conf: Value = serde_json::from_slice(&stdin).unwrap_or(Value::Null);

    let debug_path = cni_args
        .split(';')
        .find_map(|kv| kv.strip_prefix("DEBUG=").map(str::to_string))
        .or_else(|| conf["debugFile"].as_str().map(str::to_string))
        .or_else(|| {
            let own = format!("{}.debug", std::env::args().next().unwrap_or_default());
            std::path::Path::new(&own).exists().then_some(own)
        });
    let debug: Value = debug_path
        .as_deref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);

    if let Some(p) = &debug_path {
        let record = json!({
            "command": command,
            "containerID": var("CNI_CONTAINERID"),
            "netns": var("CNI_NETNS"),
            "ifname": var("CNI_IFNAME"),
            "args": cni_args,
            "path": var("CNI_PATH"),
            "stdin": serde_json::from_slice::<Value>(&stdin)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&stdin).into_owned())),
            "stdinRaw": String::from_utf8_lossy(&stdin),
        });
        append(&format!("{p}.calls"), &format!("{record}\n"));
    }
    if let Some(log) = debug["commandLog"].as_str() {
        let plugin_type = conf["type"].as_str().unwrap_or("?");
        append(log, &format!("{command} {plugin_type}\n"));
    }
    if let Some(s) = debug["reportStderr"].as_str() {
        eprint!("{s}");
    }
    if let Some(code) = debug["exitCode"].as_i64() {
        print!("{}", debug["reportStdout"].as_str().unwrap_or(""));
        let _ = std::io::stdout().flush();
        std::process::exit(code as i32);
    }

    if command == "VERSION" {
        if debug["versionUnknown"].as_bool() == Some(true) {
            fail(4, "unknown CNI_COMMAND: VERSION", "");
        }
        let versions = match &debug["reportVersionSupport"] {
            Value::Array(v) => Value::Array(v.clone()),
            _ => json!(["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]),
        };
        println!(
            "{}",
            json!({"cniVersion": "1.1.0", "supportedVersions": versions})
        );
        return;
    }

    if let Some(msg) = debug["reportError"].as_str() {
        let applies = debug["failOn"].as_str().is_none_or(|c| c == command);
        if applies {
            let code = debug["reportErrorCode"].as_u64().unwrap_or(999);
            fail(
                code,
                msg,
                debug["reportErrorDetails"].as_str().unwrap_or(""),
            );
        }
    }

    if command == "ADD" {
        let version = conf["cniVersion"].as_str().unwrap_or("").to_string();
        match debug["reportResult"].as_str() {
            Some("PASSTHROUGH") | None if !conf["prevResult"].is_null() => {
                print!("{}", conf["prevResult"])
            }
            Some("PASSTHROUGH") | None => print!("{}", json!({ "cniVersion": version })),
            Some(raw) => print!("{raw}"),
        }
    }
}

fn fail(code: u64, msg: &str, details: &str) -> ! {
    let mut err = json!({"code": code, "msg": msg});
    if !details.is_empty() {
        err["details"] = Value::String(details.into());
    }
    print!("{err}");
    let _ = std::io::stdout().flush();
    std::process::exit(1);
}

fn append(path: &str, line: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(line.as_bytes());
    }
}
