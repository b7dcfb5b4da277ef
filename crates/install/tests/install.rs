//! Calico's install scenarios (cni-plugin/pkg/install/install_test.go) that do
//! not need an apiserver, run against the binary in a temporary root.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use common::*;

#[test]
fn default_install_puts_the_suite_and_conflist_on_the_host() {
    let f = Fixture::new();
    f.run_ok();
    let bins = names(&f.path("host/opt/cni/bin"));
    assert_eq!(
        bins,
        [
            "calico",
            "calico-ipam",
            "host-local",
            "loopback",
            "portmap",
            "tuning"
        ],
        "every binary but install, and no .touch or .tmp left behind"
    );
    for name in &bins {
        assert_eq!(mode(&f.host_bin(name)), 0o755, "{name} keeps its mode");
        assert_eq!(
            fs::read(f.host_bin(name)).unwrap(),
            fs::read(f.path("opt/cni/bin").join(name)).unwrap()
        );
    }
    assert!(f.net_d("10-calico.conflist").is_file());
}

#[test]
fn default_conflist_is_byte_equal_to_calicos() {
    let f = Fixture::new();
    let out = f.run_ok();
    assert_eq!(read(&f.net_d("10-calico.conflist")), expected_default());
    // Calico prints the written file on stdout.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", expected_default())
    );
    assert_eq!(mode(&f.net_d("10-calico.conflist")), 0o644);
}

#[test]
fn conflist_permission_defaults_to_0600_and_is_enforced_on_existing_files() {
    let f = Fixture::new().without_env("TEST_FILE_PERMISSION");
    fs::write(f.net_d("10-calico.conflist"), "old").unwrap();
    fs::set_permissions(
        f.net_d("10-calico.conflist"),
        fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    f.run_ok();
    assert_eq!(mode(&f.net_d("10-calico.conflist")), 0o600);
    assert_eq!(read(&f.net_d("10-calico.conflist")), expected_default());
}

#[test]
fn read_only_bin_dir_alone_fails() {
    testkit::require_root();
    let f = Fixture::new().read_only("host/opt/cni/bin");
    let out = f.run_fails();
    assert!(String::from_utf8_lossy(&out.stderr).contains("found no writeable directory"));
    assert!(names(&f.path("host/opt/cni/bin")).is_empty());
    assert!(
        !f.net_d("10-calico.conflist").exists(),
        "no conflist without plugins"
    );
}

#[test]
fn writable_secondary_bin_dir_is_used_when_the_primary_is_read_only() {
    testkit::require_root();
    let f = Fixture::new().read_only("host/opt/cni/bin");
    fs::create_dir_all(f.path("host/secondary-bin-dir")).unwrap();
    f.run_ok();
    let names = names(&f.path("host/secondary-bin-dir"));
    assert!(names.contains(&"calico".to_string()), "{names:?}");
    assert!(names.contains(&"calico-ipam".to_string()), "{names:?}");
    assert!(common::names(&f.path("host/opt/cni/bin")).is_empty());
}

#[test]
fn both_bin_dirs_read_only_fails() {
    testkit::require_root();
    let f = Fixture::new()
        .read_only("host/opt/cni/bin")
        .read_only("host/secondary-bin-dir");
    f.run_fails();
}

#[test]
fn read_only_dir_with_plugins_present_is_fine_without_updates() {
    testkit::require_root();
    let f = Fixture::new().with_env("UPDATE_CNI_BINARIES", "false");
    fs::write(f.host_bin("calico"), "stub").unwrap();
    fs::write(f.host_bin("calico-ipam"), "stub").unwrap();
    let f = f.read_only("host/opt/cni/bin");
    f.run_ok();
    assert_eq!(read(&f.host_bin("calico")), "stub");
    assert_eq!(read(&f.net_d("10-calico.conflist")), expected_default());
}

#[test]
fn read_only_dir_with_only_calico_present_fails() {
    testkit::require_root();
    let f = Fixture::new().with_env("UPDATE_CNI_BINARIES", "false");
    fs::write(f.host_bin("calico"), "stub").unwrap();
    let f = f.read_only("host/opt/cni/bin");
    f.run_fails();
}

#[test]
fn read_only_dir_with_plugins_present_still_fails_when_updating() {
    testkit::require_root();
    let f = Fixture::new();
    fs::write(f.host_bin("calico"), "stub").unwrap();
    fs::write(f.host_bin("calico-ipam"), "stub").unwrap();
    let f = f.read_only("host/opt/cni/bin");
    f.run_fails();
}

#[test]
fn cni_conf_name_renames_the_file_and_removes_the_old_one() {
    let f = Fixture::new().with_env("CNI_CONF_NAME", "20-calico.conflist");
    fs::write(f.net_d("10-calico.conflist"), "{}").unwrap();
    f.run_ok();
    assert_eq!(read(&f.net_d("20-calico.conflist")), expected_default());
    assert!(
        !f.net_d("10-calico.conflist").exists(),
        "CNI_OLD_CONF_NAME removed"
    );
}

#[test]
fn cni_old_conf_name_is_the_one_removed() {
    let f = Fixture::new()
        .with_env("CNI_CONF_NAME", "20-calico.conflist")
        .with_env("CNI_OLD_CONF_NAME", "05-old.conflist");
    fs::write(f.net_d("05-old.conflist"), "{}").unwrap();
    fs::write(f.net_d("10-calico.conflist"), "{}").unwrap();
    f.run_ok();
    assert!(!f.net_d("05-old.conflist").exists());
    assert!(f.net_d("10-calico.conflist").exists());
}

#[test]
fn custom_network_config_is_written_verbatim() {
    let f = Fixture::new().with_env("CNI_NETWORK_CONFIG", "{}");
    f.run_ok();
    assert_eq!(read(&f.net_d("10-calico.conflist")), "{}");
}

#[test]
fn invalid_network_config_fails_and_writes_nothing() {
    let f = Fixture::new().with_env("CNI_NETWORK_CONFIG", "{\"missing quote}");
    let out = f.run_fails();
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a valid json object"));
    assert!(!f.net_d("10-calico.conflist").exists());
}

#[test]
fn a_json_array_is_not_a_config() {
    let f = Fixture::new().with_env("CNI_NETWORK_CONFIG", "[]");
    f.run_fails();
}

#[test]
fn network_config_file_beats_the_variable() {
    let f = Fixture::new();
    let alt = f.net_d("alternate-config");
    fs::write(&alt, include_str!("data/alternate.conflist")).unwrap();
    let f = f
        .with_env(
            "CNI_NETWORK_CONFIG",
            "'oops, I used the CNI_NETWORK_CONFIG'",
        )
        .with_env("CNI_NETWORK_CONFIG_FILE", alt.to_str().unwrap());
    f.run_ok();
    assert_eq!(
        read(&f.net_d("10-calico.conflist")),
        include_str!("data/alternate.conflist")
    );
}

#[test]
fn missing_network_config_file_fails() {
    let f = Fixture::new().with_env("CNI_NETWORK_CONFIG_FILE", "/nonexistent/conf");
    f.run_fails();
}

#[test]
fn every_placeholder_has_calicos_default() {
    let template = r#"{"a":"__LOG_LEVEL__","b":"__LOG_FILE_PATH__","c":"__LOG_FILE_MAX_SIZE__","d":"__LOG_FILE_MAX_AGE__","e":"__LOG_FILE_MAX_COUNT__","f":"__DATASTORE_TYPE__","g":"__KUBERNETES_NODE_NAME__","h":"__KUBECONFIG_FILEPATH__","i":"__CNI_MTU__","j":"__KUBERNETES_SERVICE_HOST__","k":"__KUBERNETES_SERVICE_PORT__","l":"__SERVICEACCOUNT_TOKEN__","m":"__ETCD_CERT_FILE__","n":"__ETCD_CA_CERT_FILE__","o":"__ETCD_KEY_FILE__","p":"__ETCD_ENDPOINTS__","q":"__ETCD_DISCOVERY_SRV__","r":"__REQUIRE_MTU_FILE__","s":"__CALICO_API_GROUP__"}"#;
    let f = Fixture::new().with_env("CNI_NETWORK_CONFIG", template);
    f.run_ok();
    let port = f.api.port();
    assert_eq!(
        read(&f.net_d("10-calico.conflist")),
        format!(
            r#"{{"a":"info","b":"/var/log/calico/cni/cni.log","c":"100","d":"30","e":"10","f":"kubernetes","g":"my-node","h":"/etc/cni/net.d/calico-kubeconfig","i":"1500","j":"127.0.0.1","k":"{port}","l":"my-secret-key","m":"","n":"","o":"","p":"","q":"","r":"false","s":"crd.projectcalico.org/v1"}}"#
        )
    );
}

#[test]
fn every_placeholder_takes_its_variable() {
    let template = r#"{"a":"__LOG_LEVEL__","b":"__LOG_FILE_PATH__","c":"__LOG_FILE_MAX_SIZE__","d":"__LOG_FILE_MAX_AGE__","e":"__LOG_FILE_MAX_COUNT__","f":"__DATASTORE_TYPE__","g":"__KUBERNETES_NODE_NAME__","h":"__KUBECONFIG_FILEPATH__","i":"__CNI_MTU__","p":"__ETCD_ENDPOINTS__","q":"__ETCD_DISCOVERY_SRV__","r":"__REQUIRE_MTU_FILE__","s":"__CALICO_API_GROUP__"}"#;
    let f = Fixture::new()
        .with_env("CNI_NETWORK_CONFIG", template)
        .with_env("LOG_LEVEL", "debug")
        .with_env("LOG_FILE_PATH", "/l")
        .with_env("LOG_FILE_MAX_SIZE", "1")
        .with_env("LOG_FILE_MAX_AGE", "2")
        .with_env("LOG_FILE_MAX_COUNT", "3")
        .with_env("DATASTORE_TYPE", "etcdv3")
        .with_env("KUBERNETES_NODE_NAME", "node-b")
        .with_env("CNI_NET_DIR", "/var/lib/cni/net.d")
        .with_env("CNI_MTU", "8950")
        .with_env("ETCD_ENDPOINTS", "https://e:2379")
        .with_env("ETCD_DISCOVERY_SRV", "example.com")
        .with_env("REQUIRE_MTU_FILE", "true")
        .with_env("CALICO_API_GROUP", "projectcalico.org/v3");
    f.run_ok();
    assert_eq!(
        read(&f.net_d("10-calico.conflist")),
        r#"{"a":"debug","b":"/l","c":"1","d":"2","e":"3","f":"etcdv3","g":"node-b","h":"/var/lib/cni/net.d/calico-kubeconfig","i":"8950","p":"https://e:2379","q":"example.com","r":"true","s":"projectcalico.org/v3"}"#
    );
}

#[test]
fn node_name_defaults_to_the_lower_cased_hostname() {
    let f = Fixture::new()
        .without_env("KUBERNETES_NODE_NAME")
        .with_env("CNI_NETWORK_CONFIG", r#"{"n":"__KUBERNETES_NODE_NAME__"}"#);
    f.run_ok();
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        read(&f.net_d("10-calico.conflist")),
        format!(r#"{{"n":"{}"}}"#, host.trim().to_lowercase())
    );
}

#[test]
fn reinstall_replaces_a_running_plugin() {
    let f = Fixture::new();
    let sleep = fs::read("/bin/sleep").unwrap();
    f.write_source("portmap", &sleep);
    f.run_ok();
    // The installed plugin is executing (its text is busy: writing it in place
    // would fail with ETXTBSY) while a newer one is installed.
    let mut running = Command::new(f.host_bin("portmap"))
        .arg("30")
        .spawn()
        .unwrap();
    let mut newer = sleep.clone();
    newer.extend_from_slice(b"newer");
    f.write_source("portmap", &newer);
    let out = f.run();
    let _ = running.kill();
    let _ = running.wait();
    assert!(out.status.success());
    assert_eq!(fs::read(f.host_bin("portmap")).unwrap(), newer);
    assert!(!f.path("host/opt/cni/bin/portmap.tmp").exists());
}

#[test]
fn identical_binaries_are_left_alone_and_changed_ones_replaced() {
    let f = Fixture::new();
    f.run_ok();
    let ino = |name: &str| fs::metadata(f.host_bin(name)).unwrap().ino();
    let (calico, tuning) = (ino("calico"), ino("tuning"));
    f.write_source("tuning", b"#!/bin/sh\necho newer tuning\n");
    f.run_ok();
    assert_eq!(ino("calico"), calico, "identical file not rewritten");
    assert_ne!(ino("tuning"), tuning, "changed file replaced by rename");
    assert_eq!(
        read(&f.host_bin("tuning")),
        "#!/bin/sh\necho newer tuning\n"
    );
}

#[test]
fn a_mode_change_alone_reinstalls_with_the_source_mode() {
    let f = Fixture::new();
    f.run_ok();
    fs::set_permissions(f.host_bin("loopback"), fs::Permissions::from_mode(0o700)).unwrap();
    f.run_ok();
    assert_eq!(mode(&f.host_bin("loopback")), 0o755);
}

#[test]
fn skip_cni_binaries_are_not_installed() {
    let f = Fixture::new().with_env("SKIP_CNI_BINARIES", "portmap,tuning");
    f.run_ok();
    let names = names(&f.path("host/opt/cni/bin"));
    assert_eq!(names, ["calico", "calico-ipam", "host-local", "loopback"]);
}

#[test]
fn update_cni_binaries_false_keeps_existing_files() {
    let f = Fixture::new().with_env("UPDATE_CNI_BINARIES", "false");
    fs::write(f.host_bin("portmap"), "theirs").unwrap();
    f.run_ok();
    assert_eq!(read(&f.host_bin("portmap")), "theirs");
    assert!(
        f.host_bin("tuning").is_file(),
        "missing ones still installed"
    );
}

#[test]
fn bad_boolean_is_fatal() {
    let f = Fixture::new().with_env("UPDATE_CNI_BINARIES", "yes");
    let out = f.run_fails();
    assert!(String::from_utf8_lossy(&out.stderr).contains("UPDATE_CNI_BINARIES"));
}

#[test]
fn hidden_file_in_secrets_is_not_copied() {
    let f = Fixture::new();
    fs::create_dir_all(f.path("calico-secrets")).unwrap();
    fs::write(f.path("calico-secrets/.hidden"), "doesn't matter").unwrap();
    f.run_ok();
    assert!(!f.net_d("calico-tls/.hidden").exists());
}

#[test]
fn etcd_cert_is_copied_and_its_path_templated() {
    let f = Fixture::new().with_env(
        "CNI_NETWORK_CONFIG",
        "{\"etcd_cert\": \"__ETCD_CERT_FILE__\", \"ca\": \"__ETCD_CA_CERT_FILE__\"}",
    );
    fs::create_dir_all(f.path("calico-secrets")).unwrap();
    fs::write(f.path("calico-secrets/etcd-cert"), "doesn't matter").unwrap();
    f.run_ok();
    assert_eq!(read(&f.net_d("calico-tls/etcd-cert")), "doesn't matter");
    assert!(!f.net_d("calico-tls/etcd-ca").exists());
    assert_eq!(
        read(&f.net_d("10-calico.conflist")),
        "{\"etcd_cert\": \"/etc/cni/net.d/calico-tls/etcd-cert\", \"ca\": \"\"}"
    );
}

#[test]
fn tls_assets_dir_and_cni_net_dir_are_honoured() {
    let f = Fixture::new();
    let secrets = f.path("elsewhere");
    fs::create_dir_all(&secrets).unwrap();
    for (name, mode) in [
        ("etcd-ca", 0o644),
        ("etcd-cert", 0o644),
        ("etcd-key", 0o600),
    ] {
        fs::write(secrets.join(name), name).unwrap();
        fs::set_permissions(secrets.join(name), fs::Permissions::from_mode(mode)).unwrap();
    }
    let f = f
        .with_env("TLS_ASSETS_DIR", secrets.to_str().unwrap())
        .with_env("CNI_NET_DIR", "/custom/net.d")
        .with_env(
            "CNI_NETWORK_CONFIG",
            r#"{"a":"__ETCD_CA_CERT_FILE__","b":"__ETCD_CERT_FILE__","c":"__ETCD_KEY_FILE__"}"#,
        );
    f.run_ok();
    assert_eq!(mode(&f.net_d("calico-tls/etcd-key")), 0o600);
    assert_eq!(read(&f.net_d("calico-tls/etcd-ca")), "etcd-ca");
    assert_eq!(
        read(&f.net_d("10-calico.conflist")),
        r#"{"a":"/custom/net.d/calico-tls/etcd-ca","b":"/custom/net.d/calico-tls/etcd-cert","c":"/custom/net.d/calico-tls/etcd-key"}"#
    );
}

#[test]
fn stale_tls_dir_is_removed() {
    let f = Fixture::new();
    fs::create_dir_all(f.net_d("calico-tls")).unwrap();
    fs::write(f.net_d("calico-tls/etcd-cert"), "stale").unwrap();
    f.run_ok();
    assert!(!f.net_d("calico-tls").exists());
}

/// The token of the `calico-cni-plugin` service account, asked for with calico-node's own
/// (TokenRequest, 24 h, Calico's body), so the plugins run with the CNI role. (The IPv6
/// bracketing of the server is the unit test `ipv6_host_is_bracketed`.)
#[test]
fn kubeconfig_gets_a_token_of_the_cni_service_account() {
    let f = Fixture::new();
    f.run_ok();
    let path = f.net_d("calico-kubeconfig");
    assert_eq!(mode(&path), 0o600);
    let text = read(&path);
    let token = text
        .lines()
        .find_map(|l| l.strip_prefix("    token: "))
        .expect("a token line")
        .to_string();
    assert_ne!(token, TOKEN, "not the pod's own token");
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(fs::read(f.api.ca_pem()).unwrap());
    let port = f.api.port();
    assert_eq!(
        text,
        format!(
            "# Kubeconfig file for Calico CNI plugin.\napiVersion: v1\nkind: Config\nclusters:\n\
             - name: local\n  cluster:\n    server: https://127.0.0.1:{port}\n    \
             certificate-authority-data: {ca}\nusers:\n- name: calico\n  user:\n    token: {token}\n\
             contexts:\n- name: calico-context\n  context:\n    cluster: local\n    user: calico\n\
             current-context: calico-context\n"
        )
    );
    let reqs = f.api.requests();
    let tr = reqs
        .iter()
        .find(|r| r.path.ends_with("/serviceaccounts/calico-cni-plugin/token"))
        .expect("a TokenRequest");
    assert_eq!(
        (tr.method.as_str(), tr.user.as_str(), tr.status),
        ("POST", NODE_USER, 201)
    );
    assert_eq!(
        tr.path,
        "/api/v1/namespaces/kube-system/serviceaccounts/calico-cni-plugin/token"
    );
    assert_eq!(tr.body_json().unwrap()["spec"]["expirationSeconds"], 86400);
    // The token is the CNI plugin's: the API knows it as that account.
    f.api.clear_requests();
    let client = kubeclient::Client::from_sources(&kubeclient::Sources {
        kubeconfig: path.display().to_string(),
        ..Default::default()
    })
    .unwrap();
    client.get("/api/v1/namespaces/kube-system").unwrap();
    assert_eq!(f.api.requests()[0].user, CNI_USER);
}

/// No TokenRequest API (or no such account): the pod's own token, as Calico falls back.
#[test]
fn kubeconfig_falls_back_to_the_pods_token_on_404() {
    let f = Fixture::new().with_env("CALICO_CNI_SERVICE_ACCOUNT", "no-such-account");
    // (calico-node's role names the account it may ask for; this one may ask for any.)
    f.api.bind(
        NODE_USER,
        vec![testkit::Rule::new(
            &["create"],
            &[""],
            &["serviceaccounts/token"],
        )],
    );
    f.run_ok();
    assert!(read(&f.net_d("calico-kubeconfig")).contains(&format!("    token: {TOKEN}\n")));
}

/// An apiserver that cannot be reached fails the install (Calico: fatal), so the init
/// container is retried rather than the CNI left with the wrong identity.
#[test]
fn kubeconfig_needs_the_apiserver() {
    let f = Fixture::new().with_env("KUBERNETES_SERVICE_PORT", "1");
    let out = f.run_fails();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Unable to create token for CNI kubeconfig"),
        "{err}"
    );
    assert!(err.contains("connect: connection refused"), "{err}");
    assert!(!f.net_d("calico-kubeconfig").exists());
}

#[test]
fn kubeconfig_skip_tls_verify_has_no_ca() {
    let f = Fixture::new().with_env("SKIP_TLS_VERIFY", "true");
    f.run_ok();
    let text = read(&f.net_d("calico-kubeconfig"));
    assert!(
        text.contains("    insecure-skip-tls-verify: true\n"),
        "{text}"
    );
    assert!(!text.contains("certificate-authority-data"), "{text}");
}

/// A `ca.crt` that holds no certificate: client-go goes on without it (the system roots),
/// which cannot verify the apiserver, so the TokenRequest and the install fail.
#[test]
fn kubeconfig_without_a_usable_ca_cannot_reach_the_apiserver() {
    let f = Fixture::new();
    fs::write(
        f.path("var/run/secrets/kubernetes.io/serviceaccount/ca.crt"),
        "junk",
    )
    .unwrap();
    let out = f.run_fails();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("certificate signed by unknown authority"),
        "{err}"
    );
}

#[test]
fn outside_a_pod_there_is_no_kubeconfig_and_no_token() {
    let f = Fixture::new().with_env("CNI_NETWORK_CONFIG", r#"{"t":"__SERVICEACCOUNT_TOKEN__"}"#);
    fs::remove_dir_all(f.path("var/run/secrets")).unwrap();
    f.run_ok();
    assert!(!f.net_d("calico-kubeconfig").exists());
    assert_eq!(read(&f.net_d("10-calico.conflist")), r#"{"t":""}"#);
}

#[test]
fn in_a_pod_without_the_apiserver_address_fails() {
    let f = Fixture::new().without_env("KUBERNETES_SERVICE_HOST");
    let out = f.run_fails();
    assert!(String::from_utf8_lossy(&out.stderr).contains("KUBERNETES_SERVICE_HOST"));
}

#[test]
fn missing_host_net_d_is_fatal() {
    let f = Fixture::new();
    fs::remove_dir_all(f.path("host/etc/cni/net.d")).unwrap();
    f.run_fails();
}
