//! A throwaway test PKI made with the `openssl` command: the etcd TLS tests and calico's
//! stand-in Kubernetes API server over https use it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// PEM files of a test PKI: a CA, and a certificate + key valid for `127.0.0.1` as both
/// server and client (etcd serves with it and requires clients to present one from the CA).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Makes, in `dir`, a CA and one certificate for 127.0.0.1 (server and client use) with the
/// `openssl` command (`apt-get install -y openssl`). Each call makes a new CA, so two
/// directories give two PKIs that do not trust each other.
pub fn make_pki(dir: &Path) -> TlsFiles {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run openssl (apt-get install -y openssl): {e}"));
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n\
         basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n",
    )
    .expect("write the certificate extensions");
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "ca.key",
    ]);
    run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-subj",
        "/CN=cnitest-ca",
        "-days",
        "2",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "etcd.key",
    ]);
    run(&[
        "req",
        "-new",
        "-key",
        "etcd.key",
        "-subj",
        "/CN=127.0.0.1",
        "-out",
        "etcd.csr",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "etcd.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "etcd.pem",
    ]);
    TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("etcd.pem"),
        key: dir.join("etcd.key"),
    }
}
