//! TLS for the API client: rustls (ring provider) driven synchronously over the TcpStream,
//! configured from a kubeconfig the way client-go's transport is: the cluster's CA (or no
//! verification with `insecure-skip-tls-verify`), the user's client certificate and key, TLS
//! 1.2 or 1.3, the URL's host (DNS name or IP address) as the name to verify.
//!
//! client-go falls back to the system roots without a CA; this build links no root store (the
//! Kubernetes API is served with the cluster's own CA, which every kubeconfig Calico writes
//! carries), so a CA is required and its absence is a clear configuration error instead.

use std::io;
use std::net::TcpStream;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{self, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct,
    RootCertStore, SignatureScheme, StreamOwned,
};

pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// PEM bytes of the trust and identity settings (files already read).
pub struct Settings {
    pub ca: Option<Vec<u8>>,
    pub insecure: bool,
    /// (certificate chain, private key)
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

/// Where Go's crypto/x509 looks for the system's root certificates on Linux, in its order;
/// `SSL_CERT_FILE` replaces the list. The first readable file is used; certificates in it that
/// do not parse are skipped (Go's `AppendCertsFromPEM`). No file: no roots, so verification
/// fails with "certificate signed by unknown authority", as in Go.
const SYSTEM_ROOT_FILES: [&str; 6] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The most a root bundle may hold: Debian's is about 200 KiB. A `SSL_CERT_FILE` naming
/// something endless (`/dev/zero`) is then skipped at once, as an unreadable file is.
const ROOTS_LIMIT: u64 = 16 << 20;

fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let files: Vec<String> = match std::env::var("SSL_CERT_FILE") {
        Ok(f) if !f.is_empty() => vec![f],
        _ => SYSTEM_ROOT_FILES.iter().map(|f| f.to_string()).collect(),
    };
    for file in files {
        let Ok(pem) = libcni::fs::read_bounded(std::path::Path::new(&file), ROOTS_LIMIT) else {
            continue;
        };
        for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
            let _ = roots.add(cert);
        }
        break;
    }
    roots
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(crypto::ring::default_provider())
}

/// The client configuration; errors in client-go's words where it has them.
pub fn client_config(s: &Settings) -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match (&s.ca, s.insecure) {
        (Some(_), true) => {
            return Err(
                "specifying a root certificates file with the insecure flag is not allowed".into(),
            )
        }
        (None, true) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider))),
        (Some(pem), false) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("unable to load root certificates: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("unable to load root certificates: {e}"))?;
            }
            if roots.is_empty() {
                return Err(
                    "unable to load root certificates: unable to parse bytes as PEM block".into(),
                );
            }
            builder.with_root_certificates(roots)
        }
        // No CA in the kubeconfig: the system's roots, as client-go (Go's crypto/x509) uses.
        (None, false) => builder.with_root_certificates(system_roots()),
    };
    let config = match &s.client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("tls: {e}"))?;
            if chain.is_empty() {
                return Err("tls: failed to find any PEM data in certificate input".into());
            }
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| match e {
                rustls::pki_types::pem::Error::NoItemsFound => {
                    "tls: failed to find any PEM data in key input".to_string()
                }
                e => format!("tls: {e}"),
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("tls: {e}"))?
        }
    };
    Ok(Arc::new(config))
}

/// Handshakes over `tcp` (so that certificate errors surface here, not in the first read).
pub fn connect(
    config: &Arc<ClientConfig>,
    host: &str,
    mut tcp: TcpStream,
) -> io::Result<TlsStream> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut conn = ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// An I/O error of a TLS stream, in Go's words for the usual TLS failures (what a Go Calico
/// user greps for), else rustls's.
pub fn describe(e: &io::Error, host: &str) -> String {
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return e.to_string();
    };
    let verify = |what: &str| format!("tls: failed to verify certificate: x509: {what}");
    match tls {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => verify("certificate signed by unknown authority"),
            // A CA with the issuer's name whose key did not sign the certificate: Go says
            // unknown authority too, naming the candidate.
            CertificateError::BadSignature => verify(
                "certificate signed by unknown authority (possibly because of a signature verification failure with a candidate authority certificate)",
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                verify(&format!("certificate is not valid for {host}"))
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => {
                verify("certificate has expired or is not yet valid")
            }
            other => verify(&format!("{other:?}")),
        },
        rustls::Error::AlertReceived(a) => format!(
            "remote error: tls: {}",
            match a {
                AlertDescription::BadCertificate => "bad certificate".to_string(),
                AlertDescription::CertificateRequired => "certificate required".to_string(),
                AlertDescription::UnknownCA => "unknown certificate authority".to_string(),
                AlertDescription::HandshakeFailure => "handshake failure".to_string(),
                AlertDescription::DecryptError => "error decrypting message".to_string(),
                other => format!("{other:?}"),
            }
        ),
        other => format!("tls: {other}"),
    }
}

/// `insecure-skip-tls-verify: true`: any server certificate is accepted (client-go's
/// InsecureSkipVerify), but the handshake signatures are still checked, so the connection is
/// at least with the holder of that certificate's key.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
