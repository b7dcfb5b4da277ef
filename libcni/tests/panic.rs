//! A panicking plugin still speaks CNI: code 999 JSON on stdout, exit 1, the detail on stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/panic-<hash> → target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} missing: run `cargo test -p libcni` (it builds the examples)",
        path.display()
    );
    path
}

fn run(cmd: &str) -> (i32, String, String) {
    let mut child = Command::new(example("panicking"))
        .env_clear()
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", "c1")
        .env("CNI_NETNS", "/run/netns/none")
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", "/opt/cni/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"cniVersion":"1.0.0","name":"n","type":"panicking"}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn a_panic_becomes_a_code_999_error() {
    for (cmd, what) in [("ADD", "index out of bounds"), ("DEL", "DEL blew up")] {
        let (code, stdout, stderr) = run(cmd);
        assert_eq!(code, 1, "{cmd}: stdout {stdout} stderr {stderr}");
        let err: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{cmd}: stdout is not one JSON document ({e}): {stdout}"));
        assert_eq!(err["code"], 999);
        let msg = err["msg"].as_str().unwrap();
        assert!(msg.starts_with("plugin panicked: "), "{msg}");
        assert!(msg.contains(what), "{msg}");
        assert!(
            stderr.contains(what),
            "the detail goes to stderr too: {stderr}"
        );
        assert!(!stdout.contains("backtrace") && !stdout.contains("thread '"));
    }
}
