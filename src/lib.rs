//! Postern: a POP3/IMAP4 mail-access server and front proxy on io_uring.
//!
//! The crate is split along the sans-IO line: [`pop3`] (and, so far only its command reader,
//! [`imap`]) hold protocol code that sees only bytes and events; [`store`] and [`auth`] are
//! the mailstore and account database; [`server`] is the only part that touches sockets,
//! io_uring and TLS.

pub mod admin;
pub mod auth;
pub mod body;
pub mod check;
pub mod cli;
pub mod config;
pub mod convert;
pub mod demo;
pub mod imap;
pub mod line_file;
pub mod mailbox;
pub mod mime;
pub mod policy;
pub mod pop3;
pub mod proxy;
pub mod proxy_header;
pub mod quote;
pub mod server;
pub mod store;
pub mod tls;
pub mod wire;

/// The shared test corpus, for unit tests (the same loader the integration tests use).
#[cfg(test)]
#[path = "../tests/common/corpus.rs"]
mod test_corpus;
