//! Loading everything a configuration names — certificates, the account database and the
//! proxy's route file — in one place, so that `postern check-config` checks exactly what start-up (and, later,
//! reload) would load, without binding a socket.

use std::sync::Arc;

use crate::auth::{PasswdDb, PasswdError};
use crate::config::Config;
use crate::proxy::route::{RouteLoadError, RouteSource};

/// A file named by a valid configuration that cannot be used. The message names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Accounts(#[from] PasswdError),
    #[error(transparent)]
    Routes(#[from] RouteLoadError),
}

/// What a configuration's files contain, loaded and checked.
pub struct Loaded {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// With `[proxy]`: the roots that backend certificates are verified against.
    pub proxy_tls: Option<Arc<rustls::ClientConfig>>,
    /// With `[proxy]`: where users' backends are.
    pub routes: Option<Arc<RouteSource>>,
    pub accounts: PasswdDb,
}

/// Loads the certificates and the account database the configuration names.
pub fn load_files(config: &Config) -> Result<Loaded, LoadError> {
    let tls = config
        .tls
        .as_ref()
        .map(crate::tls::server_config)
        .transpose()?;
    let accounts = PasswdDb::load(&config.auth.passwd_file)?;
    let routes = load_routes(config)?.map(std::sync::Arc::new);
    let proxy_tls = config
        .proxy
        .as_ref()
        .map(|p| crate::tls::client_config(p.backend_ca.as_deref()))
        .transpose()?;
    Ok(Loaded {
        tls,
        proxy_tls,
        routes,
        accounts,
    })
}

/// The proxy's route source, if the configuration has a `[proxy]` table: reads the route
/// file, if that is the source, failing with `file:line: reason`.
pub fn load_routes(config: &Config) -> Result<Option<RouteSource>, LoadError> {
    Ok(config.proxy.as_ref().map(RouteSource::load).transpose()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn write_config(dir: &Path, proxy: &str) -> Config {
        std::fs::write(dir.join("users"), "alice:{PLAIN}demo\n").unwrap();
        let text = format!(
            "[auth]\npasswd_file = \"users\"\n[pop3]\nlogin_type = \"plaintext\"\n\
             [[listener]]\nkind = \"pop3\"\naddress = \"127.0.0.1:0\"\n{proxy}"
        );
        let path = dir.join("postern.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path).unwrap()
    }

    #[test]
    fn a_broken_route_file_fails_the_load() {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), "");
        assert!(load_routes(&config).unwrap().is_none());
        assert!(load_files(&config).is_ok());

        let config = write_config(
            dir.path(),
            "[proxy]\nroute = \"file\"\nroute_file = \"routes\"\n",
        );
        std::fs::write(dir.path().join("routes"), "* imap backend:143\n").unwrap();
        assert!(load_routes(&config).unwrap().is_some());
        assert!(load_files(&config).is_ok());
        std::fs::write(
            dir.path().join("routes"),
            "* imap backend:143\nbob imap b:1 ssl\n",
        )
        .unwrap();
        let e = load_files(&config)
            .err()
            .expect("a broken route file")
            .to_string();
        assert!(
            e.ends_with("routes:2: unknown TLS mode \"ssl\": expected plain, starttls or tls"),
            "{e}"
        );
    }

    #[test]
    fn a_backend_ca_without_a_certificate_fails_the_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("routes"), "* imap backend:143\n").unwrap();
        let config = write_config(
            dir.path(),
            "[proxy]\nroute = \"file\"\nroute_file = \"routes\"\nbackend_ca = \"ca.pem\"\n",
        );
        std::fs::write(dir.path().join("ca.pem"), "not a certificate\n").unwrap();
        let e = load_files(&config)
            .err()
            .expect("an empty CA file")
            .to_string();
        assert!(e.contains("ca.pem: no certificate found"), "{e}");
        let cert = rcgen::generate_simple_self_signed(vec!["backend.internal".to_owned()])
            .unwrap()
            .cert
            .pem();
        std::fs::write(dir.path().join("ca.pem"), cert).unwrap();
        assert!(load_files(&config).is_ok());
        assert_eq!(
            crate::tls::backend_roots(&dir.path().join("ca.pem"))
                .unwrap()
                .len(),
            1
        );
    }
}
