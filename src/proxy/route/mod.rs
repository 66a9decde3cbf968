//! Where a user's mail lives: the backend a proxied session is sent to.
//!
//! The types here are what every route source (a static default, a route file, an nginx
//! `auth_http` service) answers with, so that the proxy runtime never needs to know which
//! source it asked. [`RouteSource`] is the one the configuration chose, built by
//! [`RouteSource::load`] (which `check-config` and a reload run, so a broken route file is
//! refused before anything changes).
//!
//! Every lookup is blocking (a route file is a table in memory, but `auth_http` is an HTTP
//! request): the runtime calls [`RouteSource::lookup`] on a thread pool, never on an event
//! loop.

pub mod auth_http;
pub mod cache;
pub mod file;

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::config::{Protocol, ProxyConfig, RouteKind};

pub use auth_http::{AuthHttp, AuthHttpUrl};
pub use cache::RouteCache;
pub use file::RouteTable;

/// How the proxy talks to a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendTls {
    /// Clear text (a backend on a trusted network).
    Plain,
    /// Clear text upgraded with STARTTLS (IMAP) or STLS (POP3) before logging in.
    Starttls,
    /// TLS from the first byte (ports 993, 995).
    Tls,
}

/// A backend server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Backend {
    /// A host name or an IP address; also the name its certificate is checked against.
    pub host: String,
    pub port: u16,
    pub tls: BackendTls,
}

/// What the proxy knows about a login when it looks for the user's backend.
#[derive(Debug, Clone)]
pub struct LookupRequest {
    pub protocol: Protocol,
    /// The user name the client gave.
    pub user: String,
    /// The password the client gave (route sources such as auth_http check it).
    pub password: String,
    /// The client's address and port (after any PROXY protocol header).
    pub client_ip: IpAddr,
    pub client_port: u16,
    /// Whether the client's connection is encrypted.
    pub secure: bool,
    /// 1 for the first login attempt on this connection, then 2, 3...
    pub attempt: u32,
}

/// Where to send a user, and as whom to log in there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub backend: Backend,
    /// The user name to log in with at the backend (a route source may rewrite it).
    pub user: String,
    /// The password to log in with at the backend, when the route source replaces the
    /// client's (nginx's `Auth-Pass`).
    pub password: Option<String>,
}

/// Why there is no route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The route source refused the login (wrong password, unknown user, account
    /// disabled). `message` is for the client; `wait` is how long to wait before saying it
    /// (nginx's `Auth-Wait`).
    #[error("login refused: {message}")]
    Refused {
        message: String,
        wait: Option<Duration>,
    },
    /// No route source knows the user.
    #[error("no route for this user")]
    NoRoute,
    /// The route source could not be asked (down, timed out, answered nonsense); the
    /// client should try again later.
    #[error("route source unavailable: {0}")]
    Unavailable(String),
}

impl BackendTls {
    /// `plain`, `starttls` or `tls`, as in the configuration and the route file.
    pub fn parse(text: &str) -> Option<BackendTls> {
        match text {
            "plain" => Some(BackendTls::Plain),
            "starttls" => Some(BackendTls::Starttls),
            "tls" => Some(BackendTls::Tls),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BackendTls::Plain => "plain",
            BackendTls::Starttls => "starttls",
            BackendTls::Tls => "tls",
        }
    }
}

/// A backend address as written in the configuration and the route file: `host:port`,
/// `192.0.2.7:143` or `[2001:db8::7]:993`. The host is kept as written (without the
/// brackets), since it is also the name the backend's certificate is checked against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    /// The backend at this address, spoken to with `tls`.
    pub fn backend(&self, tls: BackendTls) -> Backend {
        Backend {
            host: self.host.clone(),
            port: self.port,
            tls,
        }
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for HostPort {
    type Err = String;

    fn from_str(text: &str) -> Result<HostPort, String> {
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("{text:?}: no ']' after the IPv6 address"))?;
            if host.parse::<Ipv6Addr>().is_err() {
                return Err(format!("{text:?}: {host:?} is not an IPv6 address"));
            }
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| format!("{text:?}: expected [IPV6]:PORT"))?;
            (host, port)
        } else {
            let (host, port) = text
                .rsplit_once(':')
                .ok_or_else(|| format!("{text:?}: expected HOST:PORT"))?;
            if host.contains(':') {
                return Err(format!(
                    "{text:?}: an IPv6 address goes in brackets, as in [2001:db8::1]:143"
                ));
            }
            check_host_name(host).map_err(|e| format!("{text:?}: {e}"))?;
            (host, port)
        };
        Ok(HostPort {
            host: host.to_owned(),
            port: parse_port(port).map_err(|e| format!("{text:?}: {e}"))?,
        })
    }
}

impl<'de> serde::Deserialize<'de> for HostPort {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<HostPort, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A port from 1 to 65535, digits only.
pub(crate) fn parse_port(text: &str) -> Result<u16, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port {text:?} is not a number"));
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("port {text} is not between 1 and 65535")),
        Ok(port) => Ok(port),
    }
}

/// A DNS name or an IPv4 address: letters, digits, `-`, `_` and dots, nothing that could
/// smuggle anything into a log line or a certificate check.
pub(crate) fn check_host_name(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("empty host".to_owned());
    }
    if host.len() > 253
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        || host.starts_with('.')
        || host.contains("..")
    {
        return Err(format!("{host:?} is not a host name or an IP address"));
    }
    Ok(())
}

/// One backend per protocol, from `proxy.imap_backend` and `proxy.pop3_backend`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticRoutes {
    pub imap: Option<Backend>,
    pub pop3: Option<Backend>,
}

impl StaticRoutes {
    /// Every IMAP user to `imap`, every POP3 user to `pop3`; a protocol without a backend
    /// has no route.
    pub fn lookup(&self, request: &LookupRequest) -> Result<Route, RouteError> {
        let backend = match request.protocol {
            Protocol::Imap => &self.imap,
            Protocol::Pop3 => &self.pop3,
        };
        let backend = backend.clone().ok_or(RouteError::NoRoute)?;
        Ok(Route {
            backend,
            user: request.user.clone(),
            password: None,
        })
    }
}

/// Why the route source a configuration names cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RouteLoadError {
    #[error("cannot read route file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}:{line}: {reason}")]
    Line {
        origin: String,
        line: usize,
        reason: String,
    },
    /// A setting the source needs is missing (a `ProxyConfig` built by hand; a parsed
    /// configuration has been validated).
    #[error("{0}")]
    Missing(&'static str),
}

/// Where the route comes from.
#[derive(Debug)]
pub enum RouteSourceKind {
    Static(StaticRoutes),
    File(RouteTable),
    AuthHttp(AuthHttp),
}

/// The route source `[proxy]` chose, with its cache. Immutable: a reload builds a new one
/// (so a reload also starts with an empty cache, and a changed route file or auth server
/// applies from the next login).
#[derive(Debug)]
pub struct RouteSource {
    kind: RouteSourceKind,
    /// Only for `auth_http`: the other sources answer from memory already.
    cache: Option<RouteCache>,
}

impl RouteSource {
    /// Builds the source `config` names, reading the route file if there is one. A broken
    /// file fails with `file:line: reason`.
    pub fn load(config: &ProxyConfig) -> Result<RouteSource, RouteLoadError> {
        let kind = match config.route {
            RouteKind::Static => RouteSourceKind::Static(StaticRoutes {
                imap: config
                    .imap_backend
                    .as_ref()
                    .map(|a| a.backend(config.backend_tls)),
                pop3: config
                    .pop3_backend
                    .as_ref()
                    .map(|a| a.backend(config.backend_tls)),
            }),
            RouteKind::File => {
                let path = config.route_file.as_ref().ok_or(RouteLoadError::Missing(
                    "proxy.route_file: required when proxy.route = \"file\"",
                ))?;
                RouteSourceKind::File(RouteTable::load(path, config.backend_tls)?)
            }
            RouteKind::AuthHttp => {
                let url = config.auth_http.clone().ok_or(RouteLoadError::Missing(
                    "proxy.auth_http: required when proxy.route = \"auth-http\"",
                ))?;
                RouteSourceKind::AuthHttp(AuthHttp::new(
                    url,
                    config.auth_http_timeout,
                    config.backend_tls,
                ))
            }
        };
        let cache = match kind {
            RouteSourceKind::AuthHttp(_)
                if config.cache_size > 0 && !config.cache_ttl.is_zero() =>
            {
                Some(RouteCache::new(config.cache_size, config.cache_ttl))
            }
            _ => None,
        };
        Ok(RouteSource { kind, cache })
    }

    /// A source built by hand (tests, or a caller with its own parts); `cache`, if any, is
    /// only consulted for `auth_http`.
    pub fn new(kind: RouteSourceKind, cache: Option<RouteCache>) -> RouteSource {
        RouteSource { kind, cache }
    }

    pub fn kind(&self) -> &RouteSourceKind {
        &self.kind
    }

    /// Where `request`'s user goes. Blocking: call it off the event loop.
    pub fn lookup(&self, request: &LookupRequest) -> Result<Route, RouteError> {
        match &self.kind {
            RouteSourceKind::Static(routes) => routes.lookup(request),
            RouteSourceKind::File(table) => table.lookup(request),
            RouteSourceKind::AuthHttp(client) => match &self.cache {
                None => client.lookup(request),
                Some(cache) => {
                    let key = RouteCache::key(request);
                    if let Some(route) = cache.get(&key) {
                        return Ok(route);
                    }
                    let route = client.lookup(request)?;
                    cache.insert(key, route.clone());
                    Ok(route)
                }
            },
        }
    }
}

#[cfg(test)]
mod tests;
