//! `SLEEP=true`: the installer stays up and refreshes the host's TLS assets and
//! kubeconfig when their sources change. Waits are bounded (a deadline, not a
//! timing assertion): the child is always killed.

mod common;

use std::fs;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use common::*;

/// Kills the sleeping installer even when an assertion fails.
struct Sleeper(Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Sleeper {
    fn start(f: &Fixture) -> Sleeper {
        // Its log goes to a file: an inherited stderr would interleave with other tests.
        let log = fs::File::create(f.path("install.log")).unwrap();
        let mut s = Sleeper(
            f.command()
                .stdout(std::process::Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn install"),
        );
        wait_for("the first install to finish", || {
            f.net_d("10-calico.conflist").is_file()
        });
        assert!(
            s.0.try_wait().unwrap().is_none(),
            "SLEEP=true must keep running"
        );
        s
    }
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn content(p: &Path) -> Option<String> {
    fs::read_to_string(p).ok()
}

fn sleeping() -> Fixture {
    Fixture::new()
        .with_env("SLEEP", "true")
        .with_env("CNI_INSTALL_POLL_INTERVAL_MS", "50")
}

#[test]
fn changed_etcd_cert_is_copied_again_with_the_other_assets() {
    let f = sleeping();
    fs::create_dir_all(f.path("calico-secrets")).unwrap();
    fs::write(f.path("calico-secrets/etcd-cert"), "cert v1").unwrap();
    fs::write(f.path("calico-secrets/etcd-key"), "key v1").unwrap();
    let _s = Sleeper::start(&f);
    assert_eq!(read(&f.net_d("calico-tls/etcd-cert")), "cert v1");

    // Kubernetes updates a secret by swapping files; replace both.
    fs::write(f.path("calico-secrets/etcd-key"), "key v2").unwrap();
    fs::write(f.path("calico-secrets/etcd-cert.new"), "cert v2").unwrap();
    fs::rename(
        f.path("calico-secrets/etcd-cert.new"),
        f.path("calico-secrets/etcd-cert"),
    )
    .unwrap();
    wait_for("etcd-cert to be re-copied", || {
        content(&f.net_d("calico-tls/etcd-cert")).as_deref() == Some("cert v2")
    });
    wait_for("etcd-key to be re-copied", || {
        content(&f.net_d("calico-tls/etcd-key")).as_deref() == Some("key v2")
    });
}

/// The pod's token rotates: the kubeconfig gets a new CNI token, asked for with the new one.
#[test]
fn rotated_token_rewrites_the_kubeconfig() {
    let f = sleeping();
    let _s = Sleeper::start(&f);
    let token = |t: &str| {
        t.lines()
            .find_map(|l| l.strip_prefix("    token: "))
            .map(str::to_string)
    };
    let first = token(&read(&f.net_d("calico-kubeconfig"))).expect("a token");
    f.api.add_token(
        "rotated-token-v2",
        NODE_USER,
        vec![testkit::Rule::new(
            &["create"],
            &[""],
            &["serviceaccounts/token"],
        )],
    );
    fs::write(
        f.path("var/run/secrets/kubernetes.io/serviceaccount/token"),
        "rotated-token-v2",
    )
    .unwrap();
    wait_for("the kubeconfig to carry a new token", || {
        content(&f.net_d("calico-kubeconfig"))
            .and_then(|t| token(&t))
            .is_some_and(|t| t != first)
    });
    assert!(f.api.requests().iter().any(|r| r.path.ends_with("/token")
        && r.token.as_deref() == Some("rotated-token-v2")
        && r.status == 201));
}

#[test]
fn nothing_to_watch_exits_1_like_calico() {
    // No etcd-cert and not in a pod: Calico's watch on etcd-cert fails, exit 1.
    let f = sleeping();
    fs::remove_dir_all(f.path("var/run/secrets")).unwrap();
    let out = f.run_fails();
    assert!(String::from_utf8_lossy(&out.stderr).contains("etcd-cert"));
    // The install itself was done before giving up.
    assert_eq!(read(&f.net_d("10-calico.conflist")), expected_default());
}
