//! etcd over TLS with client certificates, configured through Calico's NetConf keys
//! (`etcd_ca_cert_file`, `etcd_cert_file`, `etcd_key_file`).

use std::time::Duration;

use datastore::resources::{IpPool, IpPoolSpec};
use datastore::{Datastore, EtcdConfig, EtcdStore, Kv, ResourceKey};
use serde_json::json;
use testkit::EtcdServer;

#[test]
fn netconf_tls_files_reach_a_tls_etcd() {
    let server = EtcdServer::start_tls();
    let tls = server.tls_files().unwrap();
    assert!(server.endpoint().starts_with("https://"));
    let ds = Datastore::from_netconf(&json!({
        "name": "net1",
        "type": "calico",
        "etcd_endpoints": server.endpoint(),
        "etcd_ca_cert_file": tls.ca,
        "etcd_cert_file": tls.cert,
        "etcd_key_file": tls.key,
    }))
    .unwrap();
    assert_eq!(ds.backend(), "etcdv3");
    ds.create_resource(&IpPool::new("p", IpPoolSpec::with_cidr("10.0.0.0/16")))
        .unwrap();
    let got = ds
        .get_resource(&ResourceKey::<IpPoolSpec>::global("p"))
        .unwrap()
        .unwrap();
    assert_eq!(got.spec.cidr, "10.0.0.0/16");
}

#[test]
fn a_client_without_a_certificate_is_refused() {
    let server = EtcdServer::start_tls();
    let tls = server.tls_files().unwrap();
    let config = EtcdConfig {
        ca_cert_file: tls.ca.to_string_lossy().into_owned(),
        request_timeout: Duration::from_secs(2),
        ..EtcdConfig::with_endpoints(&server.endpoint())
    };
    let result = EtcdStore::connect(&config).and_then(|kv| kv.get("/calico/ipam/v2/config"));
    assert!(
        result.is_err(),
        "etcd requires a client certificate: {result:?}"
    );

    let half = EtcdConfig {
        cert_file: tls.cert.to_string_lossy().into_owned(),
        ..config
    };
    let err = EtcdStore::connect(&half).unwrap_err();
    assert!(
        err.to_string()
            .contains("both etcd_cert_file and etcd_key_file"),
        "{err}"
    );
}
