//! The etcd backend when etcd is down, stuck or restarted: errors a retry can get past carry
//! CNI code 11 ("try again later"), and the client recovers when etcd is back.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::EtcdFixture;
use datastore::{DatastoreError, EtcdConfig, EtcdStore, Kv};
use libcni::CniCode;

fn quick(endpoints: &str) -> EtcdConfig {
    EtcdConfig {
        request_timeout: Duration::from_secs(2),
        dial_timeout: Duration::from_secs(2),
        ..EtcdConfig::with_endpoints(endpoints)
    }
}

/// A loopback port nobody listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn unreachable_etcd_is_try_again_later() {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    // Connecting is lazy; the first request finds nobody home.
    let err = EtcdStore::connect(&quick(&endpoint))
        .and_then(|kv| kv.get("/calico/ipam/v2/config"))
        .unwrap_err();
    assert!(matches!(err, DatastoreError::Unavailable(_)), "{err:?}");
    assert_eq!(err.code(), 11);
    assert!(err.is_retryable());
}

#[test]
fn a_stuck_etcd_times_out_as_try_again_later() {
    let fixture = EtcdFixture::new();
    let kv = EtcdStore::connect(&quick(&fixture.server.endpoint())).unwrap();
    kv.create("/t/k", b"v").unwrap();
    fixture.server.pause();
    let err = kv.get("/t/k").unwrap_err();
    fixture.server.resume();
    assert!(matches!(err, DatastoreError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("deadline exceeded"), "{err}");
    assert_eq!(err.code(), 11);
    assert_eq!(
        kv.get("/t/k").unwrap().unwrap().value,
        b"v",
        "answers again once resumed"
    );
}

#[test]
fn the_client_recovers_when_etcd_restarts() {
    let mut fixture = EtcdFixture::new();
    let kv = EtcdStore::connect(&quick(&fixture.server.endpoint())).unwrap();
    let rev = kv.create("/t/persist", b"before").unwrap();
    fixture.server.kill();
    let err = kv.update("/t/persist", b"during", rev).unwrap_err();
    assert_eq!(err.code(), 11, "{err}");
    fixture.server.restart();
    // The channel reconnects on its own; give it a few tries (each bounded by the deadline).
    let mut last = None;
    for _ in 0..20 {
        match kv.get("/t/persist") {
            Ok(got) => {
                last = None;
                let got = got.expect("data survived the restart");
                assert_eq!((got.value.as_slice(), got.revision), (&b"before"[..], rev));
                break;
            }
            Err(e) if e.is_retryable() => {
                last = Some(e);
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(last.is_none(), "no recovery: {last:?}");
    assert!(kv.update("/t/persist", b"after", rev).unwrap() > rev);
}

#[test]
fn a_dead_endpoint_in_the_list_is_routed_around() {
    let fixture = EtcdFixture::new();
    let endpoints = format!(
        "http://127.0.0.1:{},{}",
        closed_port(),
        fixture.server.endpoint()
    );
    let kv = EtcdStore::connect(&quick(&endpoints)).unwrap();
    assert_eq!(kv.endpoints().len(), 2);
    for i in 0..10 {
        kv.put(&format!("/t/lb/{i}"), b"x").unwrap();
    }
    assert_eq!(kv.list("/t/lb/").unwrap().len(), 10);
}

#[test]
fn bad_etcd_settings_are_config_errors() {
    let both = EtcdConfig {
        discovery_srv: "example.com".into(),
        ..EtcdConfig::with_endpoints("http://127.0.0.1:2379")
    };
    let err = EtcdStore::connect(&both).unwrap_err();
    assert_eq!(
        err.to_string(),
        "multiple discovery or bootstrap options specified, use either \"etcdEndpoints\" or \"etcdDiscoverySrv\""
    );
    assert_eq!(err.code(), 7);
    let none = EtcdStore::connect(&EtcdConfig::default()).unwrap_err();
    assert_eq!(none.to_string(), "no etcd endpoints specified");
    let missing_ca = EtcdConfig {
        ca_cert_file: "/nonexistent/ca.pem".into(),
        ..EtcdConfig::with_endpoints("https://127.0.0.1:2379")
    };
    let err = EtcdStore::connect(&missing_ca).unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not initialize etcdv3 client: open /nonexistent/ca.pem: no such file or directory"
    );
    assert_eq!(err.code(), 7);
    // An endpoint in a scheme the client cannot speak fails at once as a config error.
    let err = EtcdStore::connect(&EtcdConfig::with_endpoints("ftp://127.0.0.1:2379")).unwrap_err();
    assert!(
        err.to_string().contains("unsupported scheme \"ftp\""),
        "{err}"
    );
    assert_eq!(err.code(), 7);
}
