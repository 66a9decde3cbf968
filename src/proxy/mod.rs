//! Front-proxy mode: Postern authenticates a client, finds the user's backend (Dovecot,
//! Cyrus, Exchange...), logs in there for the client and then relays bytes both ways.
//!
//! This module holds what the proxy decides, without the runtime: where a user's mail lives
//! ([`route`]: a static backend, a route file, or an nginx `auth_http` service, asked with
//! blocking calls meant for a thread pool). The runtime side (backend connections, the
//! relay) is in `server::proxy`.

pub mod route;

pub use route::{
    Backend, BackendTls, LookupRequest, Route, RouteError, RouteLoadError, RouteSource,
};
