//! `/var/lib/calico/mtu` (calico-node writes the MTU it detected there): Calico's
//! calico_cni_k8s_test.go scenario 3 (file → container MTU; `mtu` in the config → that MTU)
//! and its `MTUFromFile` unit cases (missing file is fine unless `require_mtu_file`; an
//! unreadable or garbled file is an error), through the binary on both datastores.
//!
//! The path is fixed, so the host's /var/lib/calico is never written: every run goes through
//! testkit's `PrivateDirLauncher`, which gives the plugin a private mount namespace with a
//! tmpfs over /var/lib/calico holding only what the test put there. The datastore (temp dir
//! or etcd) stays outside /var/lib/calico.

mod common;

use std::path::Path;

use common::*;
use serde_json::{json, Value};
use testkit::{PluginRun, PrivateDirLauncher, PrivateEntry, TempNetns};

const NET: &str = "net1";
/// The kernel's MTU for a new veth.
const DEFAULT_MTU: u32 = 1500;

/// What /var/lib/calico holds for a run: nothing, or `mtu` as a file or a directory.
fn calico_dir(mtu: Option<PrivateEntry<'_>>) -> PrivateDirLauncher {
    let entries: Vec<(&str, PrivateEntry<'_>)> = mtu.into_iter().map(|e| ("mtu", e)).collect();
    PrivateDirLauncher::new(&calico(), Path::new("/var/lib/calico"), &entries)
}

/// A k8s pod (policy k8s, stand-in API) as upstream's MTU tests use.
struct Pods {
    h: Host,
}

impl Pods {
    fn new(store: Store) -> Self {
        let h = Host::new(store);
        h.namespace("test", json!({}));
        Pods { h }
    }

    fn conf(&self, extra: Value) -> Value {
        let mut c = self.h.conf(
            "1.0.0",
            NET,
            json!({ "policy": { "type": "k8s" },
                    "kubernetes": { "kubeconfig": self.h.kubeconfig() } }),
        );
        merge(&mut c, &extra);
        c
    }

    fn run(
        &self,
        l: &PrivateDirLauncher,
        cmd: &str,
        pod: &str,
        ns: &TempNetns,
        conf: &Value,
    ) -> PluginRun {
        if self.h.api().get("v1", "pods", Some("test"), pod).is_none() {
            self.h.pod("test", pod, json!({}), json!({}));
        }
        self.h.exec(
            self.h
                .invocation_of(l.path(), cmd, &format!("cid-{pod}"), ns.path(), conf)
                .args(format!(
                    "K8S_POD_NAMESPACE=test;K8S_POD_NAME={pod};K8S_POD_INFRA_CONTAINER_ID=whatever"
                )),
        )
    }

    /// ADD succeeds; the container end, the host end and the result all have `mtu`; DEL.
    fn add_expect_mtu(&self, l: &PrivateDirLauncher, pod: &str, conf: &Value, mtu: u32) {
        let c = TempNetns::new();
        let run = self.run(l, "ADD", pod, &c, conf);
        run.assert_success();
        let res = run.json();
        let what = format!("{:?} {pod}: {res}", self.h.store);
        // No MTU from the config or the file: the kernel's default, and none in the result.
        let in_result = if mtu == DEFAULT_MTU {
            json!(null)
        } else {
            json!(mtu)
        };
        assert_eq!(res["interfaces"][1]["mtu"], in_result, "{what}");
        let cl = c.ip_stdout(&["-o", "link", "show", "eth0"]);
        assert!(cl.contains(&format!(" mtu {mtu} ")), "{what}\n{cl}");
        let veth = res["interfaces"][0]["name"].as_str().unwrap();
        let hl = self.h.ip(&["-o", "link", "show", veth]);
        assert!(hl.contains(&format!(" mtu {mtu} ")), "{what}\n{hl}");
        self.run(l, "DEL", pod, &c, conf).assert_success();
        assert!(self.h.live_weps().is_empty());
    }

    /// ADD fails with Calico's code and a message naming the file, before anything exists.
    fn add_expect_error(&self, l: &PrivateDirLauncher, pod: &str, conf: &Value) -> String {
        let c = TempNetns::new();
        let run = self.run(l, "ADD", pod, &c, conf);
        assert_eq!(run.code, 1, "{run}");
        let err = run.json();
        assert_eq!(err["code"], 999, "{err}");
        let msg = err["msg"].as_str().unwrap().to_string();
        assert!(msg.contains("/var/lib/calico/mtu"), "{msg}");
        assert!(self.h.live_weps().is_empty(), "{msg}");
        assert!(self.h.reservations(NET).is_empty(), "{msg}");
        assert!(!self.h.ip(&["-o", "link"]).contains("cali"), "{msg}");
        assert!(!c.ip(&["link", "show", "eth0"]).status.success(), "{msg}");
        msg
    }
}

/// Scenario 3: the file's 3000 becomes the MTU when the config has no `mtu` (or `mtu: 0`).
#[test]
fn mtu_file_sets_the_mtu() {
    for store in K8S_STORES {
        let p = Pods::new(store);
        let l = calico_dir(Some(PrivateEntry::File("3000")));
        p.add_expect_mtu(&l, "mtutest1", &p.conf(json!({})), 3000);
        p.add_expect_mtu(&l, "mtutest2", &p.conf(json!({ "mtu": 0 })), 3000);
        // calico-node ends the file with a newline on some versions.
        let l = calico_dir(Some(PrivateEntry::File("1400\n")));
        p.add_expect_mtu(&l, "mtutest3", &p.conf(json!({})), 1400);
    }
}

/// Scenario 3: `mtu` 3000 and 4000 in the config → those MTUs; the config wins over the file.
#[test]
fn mtu_key_sets_the_mtu() {
    for store in K8S_STORES {
        let p = Pods::new(store);
        let none = calico_dir(None);
        p.add_expect_mtu(&none, "mtutest1", &p.conf(json!({ "mtu": 3000 })), 3000);
        p.add_expect_mtu(&none, "mtutest2", &p.conf(json!({ "mtu": 4000 })), 4000);
        let file = calico_dir(Some(PrivateEntry::File("3000")));
        p.add_expect_mtu(&file, "mtutest3", &p.conf(json!({ "mtu": 4000 })), 4000);
    }
}

/// Unit cases: a missing file is fine (the kernel's 1500), unless `require_mtu_file`.
#[test]
fn missing_mtu_file() {
    for store in K8S_STORES {
        let p = Pods::new(store);
        let none = calico_dir(None);
        p.add_expect_mtu(&none, "mtutest1", &p.conf(json!({})), DEFAULT_MTU);
        let required = p.conf(json!({ "require_mtu_file": true }));
        let msg = p.add_expect_error(&none, "mtutest2", &required);
        assert!(msg.contains("no such file or directory"), "{msg}");
        // A config MTU does not lift the requirement (Calico reads the file first).
        let required = p.conf(json!({ "require_mtu_file": true, "mtu": 1400 }));
        p.add_expect_error(&none, "mtutest3", &required);
        // With the file present the requirement is met.
        let file = calico_dir(Some(PrivateEntry::File("3000")));
        p.add_expect_mtu(
            &file,
            "mtutest4",
            &p.conf(json!({ "require_mtu_file": true })),
            3000,
        );
    }
}

/// Unit cases: an unreadable file (here a directory: root reads any mode) or one that is not
/// a number fails ADD, whether or not the config sets `mtu`.
#[test]
fn unreadable_mtu_file() {
    for store in K8S_STORES {
        let p = Pods::new(store);
        let dir = calico_dir(Some(PrivateEntry::Dir));
        let msg = p.add_expect_error(&dir, "mtutest1", &p.conf(json!({})));
        assert!(
            msg.ends_with("read /var/lib/calico/mtu: is a directory"),
            "Go's os.ReadFile wording: {msg}"
        );
        p.add_expect_error(&dir, "mtutest2", &p.conf(json!({ "mtu": 1400 })));
        let garbled = calico_dir(Some(PrivateEntry::File("big")));
        let msg = p.add_expect_error(&garbled, "mtutest3", &p.conf(json!({})));
        assert!(
            msg.ends_with(r#"strconv.Atoi: parsing "big": invalid syntax"#),
            "Go's strconv.Atoi wording: {msg}"
        );
    }
}
