//! Loading everything a configuration names — certificates and the account database — in
//! one place, so that `postern check-config` checks exactly what start-up (and, later,
//! reload) would load, without binding a socket.

use std::sync::Arc;

use crate::auth::{PasswdDb, PasswdError};
use crate::config::Config;

/// A file named by a valid configuration that cannot be used. The message names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Accounts(#[from] PasswdError),
}

/// What a configuration's files contain, loaded and checked.
pub struct Loaded {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// With `[proxy]`: the roots that backend certificates are verified against.
    pub proxy_tls: Option<Arc<rustls::ClientConfig>>,
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
    let proxy_tls = config
        .proxy
        .as_ref()
        .map(|p| crate::tls::client_config(p.backend_ca.as_deref()))
        .transpose()?;
    Ok(Loaded {
        tls,
        proxy_tls,
        accounts,
    })
}
