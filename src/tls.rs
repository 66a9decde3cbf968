//! TLS server configuration: certificates from PEM files, chosen by SNI.
//!
//! A hosting site serves many domains from one address, and each domain's clients check the
//! certificate against the name they dialled. So the resolver picks the certificate by the
//! client's SNI (exact name first, then a `*.domain` wildcard entry) and falls back to the
//! default certificate for clients that send no SNI or an unknown name — rather than failing
//! the handshake, which is what old clients that never send SNI would otherwise see.
//!
//! Only TLS 1.2 and 1.3 with the aws-lc-rs provider: every certificate and key is loaded and
//! checked at start-up, so a broken file is an error naming that file, not a failed handshake
//! hours later.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::aws_lc_rs;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsConfig;

/// A certificate or key file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Builds the rustls server configuration from `[tls]`.
pub fn server_config(cfg: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let default = load_certified_key(&cfg.cert, &cfg.key, &provider)?;
    let mut exact = HashMap::new();
    let mut wildcard = HashMap::new();
    for sni in &cfg.sni {
        let key = load_certified_key(&sni.cert, &sni.key, &provider)?;
        let domain = sni.domain.trim_end_matches('.').to_ascii_lowercase();
        match domain.strip_prefix("*.") {
            Some(parent) => wildcard.insert(parent.to_owned(), key),
            None => exact.insert(domain, key),
        };
    }
    let resolver = SniResolver {
        default,
        exact,
        wildcard,
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    // Mail clients reconnect often; resumption saves them a full handshake each time.
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(4096);
    Ok(Arc::new(config))
}

/// Where Debian (and most distributions) keep the system's trusted CA certificates.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The certificates in `proxy.backend_ca` (PEM), as the roots backends' certificates are
/// verified against. At least one certificate, each one usable as a root.
pub fn backend_roots(path: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let file_err = |message: String| TlsError::File {
        path: path.to_owned(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(format!("cannot read certificates: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(format!("bad PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(file_err("no certificate found in the file".into()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for (index, cert) in certs.into_iter().enumerate() {
        roots
            .add(cert)
            .map_err(|e| file_err(format!("certificate {}: {e}", index + 1)))?;
    }
    Ok(roots)
}

/// The rustls client configuration a proxy verifies its backends with: the roots in `ca`,
/// or the system's bundle when `None`. Certificates are always verified; a backend with a
/// private CA gets that CA in `proxy.backend_ca`.
pub fn client_config(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let roots = backend_roots(ca.unwrap_or(Path::new(SYSTEM_CA_BUNDLE)))?;
    let provider = Arc::new(aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn load_certified_key(
    cert: &Path,
    key: &Path,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let file_err = |path: &Path, message: String| TlsError::File {
        path: path.to_owned(),
        message,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_err(cert, format!("cannot read certificate: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(cert, format!("bad PEM certificate: {e}")))?;
    if chain.is_empty() {
        return Err(file_err(cert, "no certificate found in the file".into()));
    }
    let der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| file_err(key, format!("cannot read private key: {e}")))?;
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| file_err(key, format!("unusable private key: {e}")))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| file_err(key, format!("key does not match {}: {e}", cert.display())))?;
    Ok(Arc::new(certified))
}

#[derive(Debug)]
struct SniResolver {
    default: Arc<CertifiedKey>,
    exact: HashMap<String, Arc<CertifiedKey>>,
    wildcard: HashMap<String, Arc<CertifiedKey>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = hello.server_name() else {
            return Some(self.default.clone());
        };
        let name = name.to_ascii_lowercase();
        if let Some(k) = self.exact.get(&name) {
            return Some(k.clone());
        }
        // A wildcard covers exactly one label, as certificate matching does.
        if let Some((_, parent)) = name.split_once('.')
            && let Some(k) = self.wildcard.get(parent)
        {
            return Some(k.clone());
        }
        Some(self.default.clone())
    }
}
