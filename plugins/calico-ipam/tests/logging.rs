//! calico-ipam logs as Calico's does, with the NetConf's `log_*` keys (the ones calico reads,
//! decoded the same way): to `log_file_path` at `log_level`, rotated at `log_file_max_size`,
//! never to stdout.

mod common;

use serde_json::{json, Value};

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn add_and_del_log_to_the_configured_file_at_the_configured_level() {
    let b = common::Backend::local();
    b.pool("p4", "192.168.0.0/16", |_| {});
    // The directory does not exist yet: it is made, as Calico makes it.
    let log = b.dir.path().join("calico/cni/cni.log");
    let mut conf = b.conf("1.0.0", "node1", json!({}));
    conf["log_file_path"] = json!(log);
    conf["log_level"] = json!("info");

    let r = b.run("ADD", "c1", "", &conf);
    r.assert_success();
    let _: Value = serde_json::from_str(&r.stdout).expect("stdout is only the result");
    let text = read(&log);
    let lines: Vec<&str> = text.lines().collect();
    assert!(!lines.is_empty(), "nothing logged");
    for l in &lines {
        assert!(l.contains("] ipam: "), "{l}");
        assert!(!l.contains("[DEBUG]"), "debug at info: {l}");
    }
    assert!(
        text.contains(r#"[INFO]"#)
            && text.contains(
                r#"Calico CNI IPAM request count IPv4=1 IPv6=0 ContainerID="c1" HandleID="net1.c1""#
            ),
        "{text}"
    );
    assert!(text.contains("Acquired host-wide IPAM lock."), "{text}");
    assert!(
        text.contains("Calico CNI IPAM assigned addresses IPv4=[\"192.168."),
        "{text}"
    );
    // The same lines went to stderr too.
    assert!(
        r.stderr.contains("Calico CNI IPAM request count"),
        "{}",
        r.stderr
    );

    // DEBUG (any case), keys in another case (Go matches them case-insensitively).
    let obj = conf.as_object_mut().unwrap();
    obj.remove("log_level");
    obj.remove("log_file_path");
    conf["LOG_FILE_PATH"] = json!(log);
    conf["Log_Level"] = json!("DEBUG");
    b.run("DEL", "c1", "", &conf).assert_success();
    let text = read(&log);
    assert!(
        text.contains(r#"[INFO]"#)
            && text
                .contains(r#"Released address using handle ContainerID="c1" HandleID="net1.c1""#),
        "{text}"
    );
    assert!(text.contains("[DEBUG]"), "{text}");
    assert!(
        text.contains("Asked to release address but it doesn't exist"),
        "{text}"
    );

    // error: nothing at info.
    let before = read(&log);
    conf["Log_Level"] = json!("error");
    b.run("ADD", "c2", "", &conf).assert_success();
    assert_eq!(read(&log), before);
}

#[test]
fn the_file_rotates_and_a_key_of_the_wrong_type_is_gos_error() {
    let b = common::Backend::local();
    b.pool("p4", "192.168.0.0/16", |_| {});
    let log = b.dir.path().join("cni.log");
    std::fs::write(&log, vec![b'x'; 1 << 20]).unwrap();
    let mut conf = b.conf("1.0.0", "node1", json!({}));
    conf["log_file_path"] = json!(log);
    conf["log_file_max_size"] = json!(1);
    b.run("ADD", "c1", "", &conf).assert_success();
    assert!(read(&log).contains("Calico CNI IPAM request count"));
    let backups: Vec<String> = std::fs::read_dir(b.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("cni.log-"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(
        std::fs::metadata(b.dir.path().join(&backups[0]))
            .unwrap()
            .len(),
        1 << 20
    );

    conf["log_file_max_size"] = json!("100");
    let r = b.run("ADD", "c2", "", &conf);
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(
        r.json(),
        json!({ "code": 999, "msg": "failed to load netconf: json: cannot unmarshal string into Go struct field NetConf.log_file_max_size of type int" })
    );
}
