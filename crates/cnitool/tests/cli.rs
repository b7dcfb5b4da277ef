//! cnitool end to end, with shell-script plugins in a scratch CNI_PATH.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::{Digest, Sha512};

const PLUGIN: &str = r#"#!/bin/sh
stdin=$(cat)
printf '%s|%s|%s|%s|%s|%s\n' "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_ARGS" "$stdin" >> "$0.calls"
case "$CNI_COMMAND" in
ADD) printf '{"cniVersion":"1.0.0","ips":[{"address":"10.9.2.3/24"}]}' ;;
VERSION) printf '{"cniVersion":"1.1.0","supportedVersions":["1.0.0","1.1.0"]}' ;;
STATUS) if [ -e "$0.down" ]; then printf '{"code":50,"msg":"plugin is down"}'; exit 1; fi ;;
esac
exit 0
"#;

struct Env {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Env {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        for d in ["bin", "net.d", "cache"] {
            std::fs::create_dir(root.join(d)).unwrap();
        }
        let plugin = root.join("bin/rec");
        std::fs::write(&plugin, PLUGIN).unwrap();
        std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            root.join("net.d/10-testnet.conflist"),
            r#"{"cniVersion":"1.1.0","name":"testnet","plugins":[{"type":"rec","capabilities":{"mac":true}}]}"#,
        )
        .unwrap();
        Env { _tmp: tmp, root }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cnitool"));
        c.args(args)
            .arg("--cache-dir")
            .arg(self.root.join("cache"))
            .env("NETCONFPATH", self.root.join("net.d"))
            .env("CNI_PATH", self.root.join("bin"))
            .env_remove("CNI_IFNAME")
            .env_remove("CNI_ARGS")
            .env_remove("CAP_ARGS");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.root.join("bin/rec.calls"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.splitn(6, '|').map(str::to_string).collect())
            .collect()
    }
}

fn container_id(netns: &Path) -> String {
    let d = Sha512::digest(netns.to_str().unwrap().as_bytes());
    let hex: String = d[..10].iter().map(|b| format!("{b:02x}")).collect();
    format!("cnitool-{hex}")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn add_check_del() {
    let e = Env::new();
    let netns = e.root.join("ns1");
    let out = e
        .cmd(&["add", "testnet", netns.to_str().unwrap()])
        .env("CNI_ARGS", "A=1;B=2")
        .env("CAP_ARGS", r#"{"mac":"aa:bb:cc:dd:ee:ff","ips":["x"]}"#)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    // Go's Result.Print: 4-space indent, no trailing newline.
    assert_eq!(
        stdout,
        "{\n    \"cniVersion\": \"1.0.0\",\n    \"ips\": [\n        {\n            \"address\": \"10.9.2.3/24\"\n        }\n    ]\n}"
    );
    let cid = container_id(&netns);
    let call = &e.calls()[0];
    assert_eq!(
        call[..5],
        [
            "ADD",
            cid.as_str(),
            netns.to_str().unwrap(),
            "eth0",
            "A=1;B=2"
        ]
    );
    let stdin: Value = serde_json::from_str(&call[5]).unwrap();
    assert_eq!(
        stdin["runtimeConfig"],
        serde_json::json!({"mac": "aa:bb:cc:dd:ee:ff"})
    );
    let cache = e.root.join(format!("cache/results/testnet-{cid}-eth0"));
    assert!(cache.exists());

    let out = e.run(&["check", "testnet", netns.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = e.run(&["del", "testnet", netns.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!cache.exists());
    let cmds: Vec<_> = e.calls().iter().map(|c| c[0].clone()).collect();
    assert_eq!(cmds, vec!["ADD", "CHECK", "DEL"]);
}

#[test]
fn ifname_flag_and_env() {
    let e = Env::new();
    let out = e
        .cmd(&["add", "testnet", "/x/ns"])
        .env("CNI_IFNAME", "net7")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = e.run(&["add", "-i", "net8", "testnet", "/x/ns"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = e
        .cmd(&["add", "testnet", "/x/ns"])
        .env("CNI_IFNAME", "")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let ifnames: Vec<_> = e.calls().iter().map(|c| c[3].clone()).collect();
    assert_eq!(ifnames, vec!["net7", "net8", "eth0"]);
}

#[test]
fn relative_netns_is_made_absolute() {
    let e = Env::new();
    let out = e
        .cmd(&["add", "testnet", "ns/../ns2"])
        .current_dir(&e.root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let abs = e.root.join("ns2");
    assert_eq!(e.calls()[0][2], abs.to_str().unwrap());
    assert_eq!(e.calls()[0][1], container_id(&abs));
}

#[test]
fn errors_are_one_line_exit_1() {
    let e = Env::new();
    let out = e
        .cmd(&["add", "testnet", "/x"])
        .env("CNI_ARGS", "A=1;oops")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "invalid CNI_ARGS pair \"oops\"\n");

    let out = e.run(&["add", "nope", "/x"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "no net configuration with name \"nope\" in {}\n",
            e.root.join("net.d").display()
        )
    );

    let out = e
        .cmd(&["add", "testnet", "/x"])
        .env("CNI_PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "plugin type=\"rec\" failed (add): failed to find plugin \"rec\" in path [/nonexistent]\n"
    );

    // Usage errors exit 1 too, as Go's cnitool does.
    let out = e.run(&["add"]);
    assert_eq!(out.status.code(), Some(1));
    let out = e.run(&["add", "testnet"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing <NETNS>"));
}

#[test]
fn gc_and_status() {
    let e = Env::new();
    assert!(e.run(&["add", "testnet", "/x/a"]).status.success());
    assert!(e.run(&["add", "testnet", "/x/b"]).status.success());
    let out = e.run(&["gc", "testnet", "/x/a"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cmds: Vec<_> = e.calls().iter().map(|c| c[0].clone()).collect();
    assert_eq!(cmds, vec!["ADD", "ADD", "DEL", "DEL", "GC"]);
    let gc: Value = serde_json::from_str(&e.calls()[4][5]).unwrap();
    assert!(gc.get("cni.dev/valid-attachments").is_none());
    assert_eq!(
        std::fs::read_dir(e.root.join("cache/results"))
            .unwrap()
            .count(),
        0
    );

    // gc and status do not need the netns.
    assert!(e.run(&["status", "testnet"]).status.success());
    std::fs::write(e.root.join("bin/rec.down"), b"").unwrap();
    let out = e.run(&["status", "testnet"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "plugin is down\n");
}

#[test]
fn conf_file_and_version() {
    let e = Env::new();
    let conf = e.root.join("other.conf");
    std::fs::write(
        &conf,
        r#"{"cniVersion":"1.0.0","name":"solo","type":"rec"}"#,
    )
    .unwrap();
    let out = e.run(&["add", "--conf", conf.to_str().unwrap(), "solo", "/x/s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdin: Value = serde_json::from_str(&e.calls()[0][5]).unwrap();
    assert_eq!(stdin["name"], "solo");
    let out = e.run(&["add", "--conf", conf.to_str().unwrap(), "other", "/x/s"]);
    assert_eq!(out.status.code(), Some(1));

    let out = e.run(&["version", "rec"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        info["supportedVersions"],
        serde_json::json!(["1.0.0", "1.1.0"])
    );
}
