//! The settings a reload replaces, published as one immutable value.
//!
//! Everything that a reload may change — the configuration, the TLS certificates, and the
//! protocol settings derived from them — lives in one [`Live`], and the server holds the
//! current one behind an atomic pointer. A connection takes the current `Live` when it starts
//! and keeps it: its greeting, its capabilities and its STARTTLS certificate then agree with
//! each other for the whole session, while a login consults the newest account database and
//! configuration at the moment it happens. A reload builds a complete new `Live` first and
//! swaps it in with one store, so nobody ever sees half of one configuration and half of
//! another.

use std::sync::Arc;

use crate::auth::PasswdDb;
use crate::config::Config;

/// One generation of reloadable settings.
pub(crate) struct Live {
    pub config: Config,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// How the proxy verifies its backends' certificates (with `[proxy]`).
    pub proxy_tls: Option<Arc<rustls::ClientConfig>>,
    /// Where proxied users' backends are (with `[proxy]`).
    pub routes: Option<Arc<crate::proxy::route::RouteSource>>,
    pub hostname: String,
    pub pop3: super::pop3::Pop3Settings,
    pub imap: super::imap::ImapSettings,
}

impl Live {
    /// Derives every protocol setting from a configuration and what its files held.
    pub fn build(
        config: Config,
        tls: Option<Arc<rustls::ServerConfig>>,
        proxy_tls: Option<Arc<rustls::ClientConfig>>,
        routes: Option<Arc<crate::proxy::route::RouteSource>>,
        accounts: &PasswdDb,
    ) -> Live {
        let hostname = if config.server.hostname.is_empty() {
            system_hostname()
        } else {
            config.server.hostname.clone()
        };
        let pop3 =
            super::pop3::Pop3Settings::from_config(&config, accounts, tls.is_some(), &hostname);
        let imap = super::imap::ImapSettings::from_config(&config, accounts, tls.is_some());
        Live {
            config,
            tls,
            proxy_tls,
            routes,
            hostname,
            pop3,
            imap,
        }
    }
}

/// One protocol's session settings for each kind of listener: plain (STARTTLS/STLS offered
/// when a certificate is configured), implicit TLS, and the proxy's two, which offer only
/// mechanisms that carry the password, since the proxy must log in to the backend with it.
pub(crate) struct PerListener<S> {
    plain: Arc<S>,
    implicit: Arc<S>,
    proxy_plain: Arc<S>,
    proxy_implicit: Arc<S>,
}

impl<S> PerListener<S> {
    /// From the plain listener's settings, `implicit` (how implicit TLS differs) and
    /// `proxied` (how a proxy listener differs).
    pub fn new(plain: S, implicit: impl Fn(&S) -> S, proxied: impl Fn(&S) -> S) -> Self {
        let implicit = implicit(&plain);
        PerListener {
            proxy_plain: Arc::new(proxied(&plain)),
            proxy_implicit: Arc::new(proxied(&implicit)),
            plain: Arc::new(plain),
            implicit: Arc::new(implicit),
        }
    }

    /// The settings for a connection on a `kind` listener.
    pub fn for_listener(&self, kind: crate::config::ListenerKind) -> Arc<S> {
        match (kind.is_proxy(), kind.implicit_tls()) {
            (false, false) => self.plain.clone(),
            (false, true) => self.implicit.clone(),
            (true, false) => self.proxy_plain.clone(),
            (true, true) => self.proxy_implicit.clone(),
        }
    }
}

fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
