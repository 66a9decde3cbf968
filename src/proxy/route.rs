//! Where a user's mail lives: the backend a proxied session is sent to.
//!
//! The types here are what every route source (a static default, a route file, an nginx
//! `auth_http` service) answers with, so that the proxy runtime never needs to know which
//! source it asked.

use std::net::IpAddr;
use std::time::Duration;

use crate::config::Protocol;

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

/// `host:port` or `[v6]:port` into its parts.
pub fn parse_host_port(text: &str) -> Option<(String, u16)> {
    let (host, port) = text.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port: u16 = port.parse().ok()?;
    (!host.is_empty() && port != 0).then(|| (host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_port() {
        use super::parse_host_port as p;
        assert_eq!(p("127.0.0.1:143"), Some(("127.0.0.1".into(), 143)));
        assert_eq!(p("[::1]:993"), Some(("::1".into(), 993)));
        assert_eq!(
            p("mail.example.org:110"),
            Some(("mail.example.org".into(), 110))
        );
        assert_eq!(p("nohost"), None);
        assert_eq!(p(":143"), None);
        assert_eq!(p("a:0"), None);
        assert_eq!(p("a:99999"), None);
    }
}
