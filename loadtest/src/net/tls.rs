//! TLS client configuration: which certificates to trust and which name to ask for.
//!
//! Load tests mostly run against servers with self-signed or private-CA certificates, so
//! checking can be relaxed (`insecure`: any certificate, though handshake signatures are
//! still verified so the cryptographic work stays the same as a real client's) or pointed
//! at a CA file. Without either, the system's CA bundle is used.
//!
//! Session resumption is off: every emulated client is a different device, and resumed
//! handshakes would make the server's TLS cost look far lower than it is.

use std::path::Path;
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::TlsConnector;

/// Why a TLS client could not be set up (before any connection).
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("no CA certificates: none found in {0}; give a CA file or allow insecure TLS")]
    NoRoots(String),
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Where Debian, Fedora and Alpine/macOS keep the system CA bundle.
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// A connector trusting what the options say.
pub fn connector(insecure: bool, cafile: Option<&Path>) -> Result<TlsConnector, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(roots(cafile)?)
            .with_no_client_auth()
    };
    config.resumption = Resumption::disabled();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The name sent in SNI and checked against the certificate (an IP address is allowed).
pub fn server_name(sni: &str) -> Result<ServerName<'static>, TlsSetupError> {
    ServerName::try_from(sni.to_owned()).map_err(|_| TlsSetupError::ServerName(sni.to_owned()))
}

fn roots(cafile: Option<&Path>) -> Result<RootCertStore, TlsSetupError> {
    let mut store = RootCertStore::empty();
    let paths: Vec<std::path::PathBuf> = match cafile {
        Some(p) => vec![p.to_path_buf()],
        None => std::env::var_os("SSL_CERT_FILE")
            .map(std::path::PathBuf::from)
            .into_iter()
            .chain(SYSTEM_BUNDLES.iter().map(std::path::PathBuf::from))
            .collect(),
    };
    for path in &paths {
        let iter = match CertificateDer::pem_file_iter(path) {
            Ok(iter) => iter,
            Err(e) if cafile.is_some() => {
                return Err(TlsSetupError::CaFile {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                });
            }
            Err(_) => continue,
        };
        for cert in iter {
            let cert = cert.map_err(|e| TlsSetupError::CaFile {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            // A bundle may hold certificates rustls cannot use; the others still count.
            let _ = store.add(cert);
        }
        if !store.is_empty() {
            return Ok(store);
        }
    }
    let tried: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    Err(TlsSetupError::NoRoots(tried.join(", ")))
}

/// Accepts any certificate chain, but still checks that the server signed the handshake
/// with the key in it.
#[derive(Debug)]
struct AcceptAnyCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCert {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
