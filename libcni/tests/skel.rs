//! The plugin-side dispatcher contract, ported from Go's `pkg/skel/skel_test.go`: env tables per
//! verb, validation order and texts, version gates, VERSION and about output, error passing.

use std::cell::RefCell;
use std::collections::HashMap;

use libcni::skel::{dispatch, CmdArgs, Io, Plugin};
use libcni::types::v100::Result100;
use libcni::{CniError, CniResult, PluginInfo};

#[derive(Default)]
struct Recorder {
    calls: RefCell<Vec<(String, CmdArgs)>>,
    fail_with: Option<CniError>,
}

impl Recorder {
    fn record(&self, verb: &str, args: &CmdArgs) -> Result<(), CniError> {
        self.calls.borrow_mut().push((verb.into(), args.clone()));
        match &self.fail_with {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

impl Plugin for Recorder {
    fn add(&self, args: &CmdArgs) -> Result<CniResult, CniError> {
        self.record("ADD", args)?;
        Ok(CniResult::V100(Result100 {
            cni_version: "1.0.0".into(),
            ..Default::default()
        }))
    }
    fn del(&self, args: &CmdArgs) -> Result<(), CniError> {
        self.record("DEL", args)
    }
    fn check(&self, args: &CmdArgs) -> Result<(), CniError> {
        self.record("CHECK", args)
    }
    fn gc(&self, args: &CmdArgs) -> Result<(), CniError> {
        self.record("GC", args)
    }
    fn status(&self, args: &CmdArgs) -> Result<(), CniError> {
        self.record("STATUS", args)
    }
}

struct Outcome {
    result: Result<(), CniError>,
    stdout: String,
    stderr: String,
}

fn full_env(cmd: &str) -> HashMap<&'static str, String> {
    let mut env = HashMap::new();
    env.insert("CNI_COMMAND", cmd.to_string());
    env.insert("CNI_CONTAINERID", "some-container-id".into());
    env.insert("CNI_NETNS", "/some/netns/path".into());
    env.insert("CNI_IFNAME", "eth0".into());
    env.insert("CNI_ARGS", "some;extra;args".into());
    env.insert("CNI_PATH", "/some/cni/path".into());
    env
}

const CONF: &str = r#"{"name":"skel-test","cniVersion":"1.1.0","some":"config"}"#;

fn run_with(
    plugin: &Recorder,
    info: &PluginInfo,
    about: &str,
    env: &HashMap<&'static str, String>,
    stdin: &str,
) -> Outcome {
    let getenv = |k: &str| env.get(k).cloned().unwrap_or_default();
    let mut input = stdin.as_bytes();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut io = Io {
        getenv: &getenv,
        stdin: &mut input,
        stdout: &mut out,
        stderr: &mut err,
    };
    let result = dispatch(plugin, info, about, &mut io);
    Outcome {
        result,
        stdout: String::from_utf8(out).unwrap(),
        stderr: String::from_utf8(err).unwrap(),
    }
}

fn run(env: &HashMap<&'static str, String>, stdin: &str) -> (Outcome, Recorder) {
    let plugin = Recorder::default();
    let out = run_with(
        &plugin,
        &PluginInfo::supports(libcni::version::ALL),
        "",
        env,
        stdin,
    );
    (out, plugin)
}

fn err_of(env: &HashMap<&'static str, String>, stdin: &str) -> CniError {
    run(env, stdin).0.result.unwrap_err()
}

#[test]
fn add_passes_every_variable_and_stdin() {
    let (out, plugin) = run(&full_env("ADD"), CONF);
    out.result.unwrap();
    let calls = plugin.calls.borrow();
    assert_eq!(calls.len(), 1);
    let (verb, args) = &calls[0];
    assert_eq!(verb, "ADD");
    assert_eq!(args.container_id, "some-container-id");
    assert_eq!(args.netns, "/some/netns/path");
    assert_eq!(args.ifname, "eth0");
    assert_eq!(args.args, "some;extra;args");
    assert_eq!(args.path, "/some/cni/path");
    assert_eq!(args.stdin_data, CONF.as_bytes());
    assert_eq!(out.stdout, "{\n    \"cniVersion\": \"1.0.0\"\n}");
}

#[test]
fn required_variables_per_verb() {
    // (verb, variable, required) as in Go skel's envVarChecker tables.
    let table: &[(&str, &[&str], &[&str])] = &[
        (
            "ADD",
            &["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
            &["CNI_ARGS"],
        ),
        (
            "CHECK",
            &["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
            &["CNI_ARGS"],
        ),
        (
            "DEL",
            &["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"],
            &["CNI_NETNS", "CNI_ARGS"],
        ),
        (
            "GC",
            &["CNI_PATH"],
            &["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS"],
        ),
        (
            "STATUS",
            &["CNI_PATH"],
            &["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS"],
        ),
    ];
    for (verb, required, optional) in table {
        for var in *required {
            let mut env = full_env(verb);
            env.remove(var);
            let e = err_of(&env, CONF);
            assert_eq!(e.code, 4, "{verb} without {var}");
            assert_eq!(e.msg, format!("required env variables [{var}] missing"));
        }
        for var in *optional {
            let mut env = full_env(verb);
            env.remove(var);
            let (out, plugin) = run(&env, CONF);
            assert!(out.result.is_ok(), "{verb} without {var}: {:?}", out.result);
            assert_eq!(plugin.calls.borrow().len(), 1);
        }
    }
}

#[test]
fn missing_variables_are_reported_together_in_go_order() {
    let mut env = full_env("ADD");
    for v in ["CNI_PATH", "CNI_NETNS", "CNI_CONTAINERID"] {
        env.remove(v);
    }
    assert_eq!(
        err_of(&env, CONF).msg,
        "required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_PATH] missing"
    );
}

#[test]
fn validators_run_in_order_and_win_over_missing_vars() {
    let mut env = full_env("ADD");
    env.insert("CNI_CONTAINERID", "-bad".into());
    env.remove("CNI_PATH");
    let e = err_of(&env, CONF);
    assert_eq!(
        (e.code, e.msg.as_str(), e.details.as_str()),
        (4, "invalid characters in containerID", "-bad")
    );

    let mut env = full_env("DEL");
    env.insert("CNI_IFNAME", "a-very-long-interface-name".into());
    let e = err_of(&env, CONF);
    assert_eq!(e.code, 4);
    assert_eq!(e.msg, "interface name is too long");
    assert_eq!(
        e.details,
        "interface name should be less than 16 characters"
    );

    // GC does not validate the container ID or ifname.
    let mut env = full_env("GC");
    env.insert("CNI_CONTAINERID", "-bad".into());
    env.insert("CNI_IFNAME", "x/y".into());
    assert!(run(&env, CONF).0.result.is_ok());
}

#[test]
fn stdin_must_be_json_with_a_valid_name() {
    let e = err_of(&full_env("ADD"), "{not json");
    assert_eq!(e.code, 6);
    assert!(
        e.msg.starts_with("error unmarshall network config: "),
        "{}",
        e.msg
    );
    let e = err_of(&full_env("ADD"), "");
    assert_eq!(
        e.msg,
        "error unmarshall network config: unexpected end of JSON input"
    );
    let e = err_of(&full_env("ADD"), "x");
    assert_eq!(
        e.msg,
        "error unmarshall network config: invalid character 'x' looking for beginning of value"
    );
    let e = err_of(&full_env("DEL"), r#"{"cniVersion":"1.0.0"}"#);
    assert_eq!((e.code, e.msg.as_str()), (7, "missing network name"));
    let e = err_of(&full_env("CHECK"), r#"{"name":"a b","cniVersion":"1.0.0"}"#);
    assert_eq!(
        (e.code, e.msg.as_str(), e.details.as_str()),
        (7, "invalid characters found in network name", "a b")
    );
    // Unknown commands still validate stdin first.
    let e = err_of(&full_env("BOGUS"), "{}");
    assert_eq!(e.code, 7);
    let e = err_of(&full_env("BOGUS"), CONF);
    assert_eq!((e.code, e.msg.as_str()), (4, "unknown CNI_COMMAND: BOGUS"));
}

#[test]
fn incompatible_versions_report_go_details() {
    let plugin = Recorder::default();
    let info = PluginInfo::supports(&["0.1.0", "0.2.0"]);
    let out = run_with(
        &plugin,
        &info,
        "",
        &full_env("ADD"),
        r#"{"name":"n","cniVersion":"0.3.0"}"#,
    );
    let e = out.result.unwrap_err();
    assert_eq!(e.code, 1);
    assert_eq!(e.msg, "incompatible CNI versions");
    assert_eq!(
        e.details,
        r#"config is "0.3.0", plugin supports ["0.1.0" "0.2.0"]"#
    );
    assert!(plugin.calls.borrow().is_empty());
}

#[test]
fn missing_cni_version_is_010() {
    let plugin = Recorder::default();
    let out = run_with(
        &plugin,
        &PluginInfo::supports(&["0.1.0"]),
        "",
        &full_env("DEL"),
        r#"{"name":"n"}"#,
    );
    out.result.unwrap();
    assert_eq!(plugin.calls.borrow().len(), 1);
}

#[test]
fn verb_floors() {
    for (verb, below, at) in [
        ("CHECK", "0.3.1", "0.4.0"),
        ("GC", "1.0.0", "1.1.0"),
        ("STATUS", "1.0.0", "1.1.0"),
    ] {
        let e = err_of(
            &full_env(verb),
            &format!(r#"{{"name":"n","cniVersion":"{below}"}}"#),
        );
        assert_eq!(e.code, 1);
        assert_eq!(e.msg, format!("config version does not allow {verb}"));
        let (out, plugin) = run(
            &full_env(verb),
            &format!(r#"{{"name":"n","cniVersion":"{at}"}}"#),
        );
        out.result.unwrap();
        assert_eq!(plugin.calls.borrow()[0].0, verb);

        // A plugin that stops below the config's version.
        let plugin = Recorder::default();
        let out = run_with(
            &plugin,
            &PluginInfo::supports(&["0.1.0", "0.2.0"]),
            "",
            &full_env(verb),
            &format!(r#"{{"name":"n","cniVersion":"{at}"}}"#),
        );
        assert_eq!(
            out.result.unwrap_err().msg,
            format!("plugin version does not allow {verb}")
        );
    }
}

#[test]
fn version_ignores_stdin_and_prints_go_json() {
    let env = HashMap::from([("CNI_COMMAND", "VERSION".to_string())]);
    let (out, plugin) = run(&env, "not even json");
    out.result.unwrap();
    assert_eq!(
        out.stdout,
        "{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\"0.1.0\",\"0.2.0\",\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]}\n"
    );
    assert!(plugin.calls.borrow().is_empty());
}

#[test]
fn about_goes_to_stderr_when_no_command() {
    let plugin = Recorder::default();
    let info = PluginInfo::supports(&["9.8.7", "10.0.0"]);
    let out = run_with(&plugin, &info, "AWESOME PLUGIN", &HashMap::new(), "");
    out.result.unwrap();
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "AWESOME PLUGIN\nCNI protocol versions supported: 9.8.7, 10.0.0\n"
    );
    // Without an about text it is the code-4 error.
    let out = run_with(&plugin, &info, "", &HashMap::new(), "");
    let e = out.result.unwrap_err();
    assert_eq!(
        (e.code, e.msg.as_str()),
        (4, "required env variables [CNI_COMMAND] missing")
    );
}

#[test]
fn typed_errors_pass_through() {
    let plugin = Recorder {
        fail_with: Some(CniError::with_details(11, "try again", "later")),
        ..Default::default()
    };
    let out = run_with(
        &plugin,
        &PluginInfo::supports(libcni::version::ALL),
        "",
        &full_env("DEL"),
        CONF,
    );
    assert_eq!(
        out.result.unwrap_err(),
        CniError::with_details(11, "try again", "later")
    );
}

#[test]
fn own_netns_is_refused_unless_overridden() {
    let mut env = full_env("ADD");
    env.insert("CNI_NETNS", "/proc/self/ns/net".into());
    let (out, plugin) = run(&env, CONF);
    let e = out.result.unwrap_err();
    assert_eq!(
        (e.code, e.msg.as_str()),
        (
            8,
            "plugin's netns and netns from CNI_NETNS should not be the same"
        )
    );
    assert!(
        plugin.calls.borrow().is_empty(),
        "checked before the handler runs"
    );
    env.insert("CNI_NETNS_OVERRIDE", "TRUE".into());
    assert!(run(&env, CONF).0.result.is_ok());
}

/// Go's `io.ReadAll` of stdin and its error (`error reading from stdin: ...`, code 5), with a
/// bound Go does not have: a runtime piping without end gets that error, not a plugin that
/// grows until it dies.
#[test]
fn stdin_is_read_whole_but_bounded() {
    let plugin = Recorder::default();
    let env = full_env("ADD");
    let getenv = |k: &str| env.get(k).cloned().unwrap_or_default();
    let outcome = |stdin: &mut dyn std::io::Read| {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut io = Io {
            getenv: &getenv,
            stdin,
            stdout: &mut out,
            stderr: &mut err,
        };
        dispatch(
            &plugin,
            &PluginInfo::supports(libcni::version::ALL),
            "",
            &mut io,
        )
    };
    let e = outcome(&mut std::io::repeat(b' ')).unwrap_err();
    assert_eq!(
        (e.code, e.msg.as_str()),
        (
            5,
            "error reading from stdin: network configuration too large (over 16777216 bytes)"
        )
    );
    struct IsDir;
    impl std::io::Read for IsDir {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(libc::EISDIR))
        }
    }
    let e = outcome(&mut IsDir).unwrap_err();
    assert_eq!(
        (e.code, e.msg.as_str()),
        (
            5,
            "error reading from stdin: read /dev/stdin: is a directory"
        )
    );
    // Exactly the limit is still read (and then judged as a config).
    let mut exact = CONF.as_bytes().to_vec();
    exact.resize(libcni::fs::CONFIG_LIMIT as usize, b' ');
    outcome(&mut exact.as_slice()).unwrap();
    assert_eq!(plugin.calls.borrow().len(), 1);
}
