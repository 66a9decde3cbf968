//! Accounts and authentication, shared by POP3 and IMAP.
//!
//! The account database is a Dovecot-compatible passwd-file ([`PasswdDb`]), so existing
//! Dovecot installations can be served without converting anything. Protocol code turns what a
//! client sent into [`Credentials`] (SASL exchanges via [`SaslExchange`]), asks the shared
//! [`Authenticator`] to check them, and applies the [`Penalty`] delays it is given. Nothing here
//! does I/O except reading the passwd-file.

mod account;
mod authenticator;
mod cache;
mod cram;
mod credentials;
mod crypt;
mod decoy;
mod digest;
mod expiring;
mod hash;
mod maildir;
mod md5_block;
mod md5_crypt;
mod passwd;
mod penalty;
mod sasl;
mod scheme;

pub use authenticator::{AuthResult, AuthSettings, Authenticator};
pub use credentials::Credentials;
pub use hash::{HashError, HashScheme, hash_password};
pub use passwd::{Account, PasswdDb, PasswdError};
pub use penalty::Penalty;
pub use sasl::{Mechanism, SaslExchange, SaslStep};
