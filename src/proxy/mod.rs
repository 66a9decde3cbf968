//! Front-proxy mode: Postern authenticates a client, finds the user's backend (Dovecot,
//! Cyrus, Exchange...), logs in there for the client and then relays bytes both ways.
//!
//! This module holds what the proxy decides, without I/O: where a user's mail lives
//! ([`route`]). The runtime side (backend connections, the relay) is in `server::proxy`.

pub mod route;

pub use route::{Backend, BackendTls, LookupRequest, Route, RouteError};
