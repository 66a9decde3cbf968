//! `postern check-config`: everything start-up would load, loaded and checked without
//! binding a socket, so an operator can validate a change before reloading or restarting.

use crate::auth::PasswdDb;
use crate::config::Config;

/// A file named by a valid configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("{path}: {message}")]
    Accounts {
        path: std::path::PathBuf,
        message: String,
    },
}

/// Loads the certificates and the account database the configuration names.
pub fn check_files(config: &Config) -> Result<(), CheckError> {
    if let Some(tls) = &config.tls {
        crate::tls::server_config(tls)?;
    }
    PasswdDb::load(&config.auth.passwd_file).map_err(|e| CheckError::Accounts {
        path: config.auth.passwd_file.clone(),
        message: e.to_string(),
    })?;
    Ok(())
}
