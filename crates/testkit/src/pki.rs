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
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n\
         basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n",
    )
    .expect("write the certificate extensions");
    ec_key(dir, "ca.key");
    openssl(
        dir,
        &[
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
        ],
    );
    ec_key(dir, "etcd.key");
    sign(dir, "etcd.key", "127.0.0.1", "etcd.pem");
    TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("etcd.pem"),
        key: dir.join("etcd.key"),
    }
}

/// Issues `cert` (a file name in `dir`) for the key file `key` with subject CN `cn`, signed by
/// the CA [`make_pki`] made in `dir`, with its extensions (127.0.0.1, server and client use).
pub fn sign(dir: &Path, key: &str, cn: &str, cert: &str) {
    sign_subject(dir, key, &format!("/CN={cn}"), cert)
}

/// Makes a new EC P-256 key `NAME.key` and a certificate `NAME.pem` for it with `subject`
/// (openssl's form: `/CN=alice/O=devs/O=ops` — a Kubernetes client certificate's user is its
/// CN, its groups its O values), signed by the CA [`make_pki`] made in `dir`, with its
/// extensions (127.0.0.1, server and client use). `ca` is that CA.
pub fn issue(dir: &Path, name: &str, subject: &str) -> TlsFiles {
    let key = format!("{name}.key");
    let cert = format!("{name}.pem");
    ec_key(dir, &key);
    sign_subject(dir, &key, subject, &cert);
    TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join(cert),
        key: dir.join(key),
    }
}

/// [`sign`] with a whole subject in openssl's form (`/CN=alice/O=devs`).
pub fn sign_subject(dir: &Path, key: &str, subject: &str, cert: &str) {
    let csr = format!("{cert}.csr");
    openssl(
        dir,
        &["req", "-new", "-key", key, "-subj", subject, "-out", &csr],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
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
            cert,
        ],
    );
}

/// Makes a new EC P-256 private key, the file `out` in `dir`.
pub fn ec_key(dir: &Path, out: &str) {
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            out,
        ],
    );
}

/// Runs the `openssl` command in `dir`; panics with its stderr when it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
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
}
