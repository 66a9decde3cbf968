//! The configuration file: one TOML document, parsed strictly.
//!
//! Every table rejects unknown keys and every value is checked here, before anything starts,
//! so a typo is a start-up error that names the key (`pop3.login_typ: unknown field ...`)
//! rather than a setting silently ignored in production. Paths given relative to the config
//! file are resolved against the file's directory, so a config can be moved with its data.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::policy::{LoginType, RetrievalFormat};
use crate::proxy::route::{AuthHttpUrl, BackendTls, HostPort};

/// A configuration problem, with the file and the key it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

/// The whole configuration, validated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    pub auth: AuthConfig,
    #[serde(default)]
    pub mail: MailConfig,
    #[serde(default)]
    pub pop3: Pop3Config,
    #[serde(default)]
    pub imap: ImapConfig,
    #[serde(default, rename = "listener")]
    pub listeners: Vec<ListenerConfig>,
    #[serde(default)]
    pub admin: AdminConfig,
    /// Front-proxy settings, for `*-proxy` listeners.
    #[serde(default)]
    pub proxy: Option<ProxyConfig>,
}

/// `[proxy]`: where proxied users' mail lives and how the proxy logs in there.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Which route source finds a user's backend.
    pub route: RouteKind,
    /// `route = "static"`: the backend of every IMAP user (`host:port`, `[ipv6]:port`).
    #[serde(default)]
    pub imap_backend: Option<HostPort>,
    /// `route = "static"`: the backend of every POP3 user.
    #[serde(default)]
    pub pop3_backend: Option<HostPort>,
    /// How the proxy talks to a backend when the route does not say: always for `static`
    /// and `auth-http` (nginx's protocol has no way to say, short of Postern's
    /// `X-Postern-Backend-TLS` header), and for route-file lines without a mode.
    #[serde(default = "default_backend_tls")]
    pub backend_tls: BackendTls,
    /// `route = "file"`: the route file, re-read on reload.
    #[serde(default)]
    pub route_file: Option<PathBuf>,
    /// `route = "auth-http"`: an nginx `auth_http` service, `http://host:port/path`.
    #[serde(default)]
    pub auth_http: Option<AuthHttpUrl>,
    /// The whole exchange with the auth_http service (connect, request, answer).
    #[serde(with = "duration", default = "default_proxy_timeout")]
    pub auth_http_timeout: Duration,
    /// auth_http answers remembered (successes only); 0 turns the cache off.
    #[serde(default = "default_proxy_cache_size")]
    pub cache_size: usize,
    /// How long an auth_http success is reused for the same user, password, protocol and
    /// TLS state; "0s" turns the cache off.
    #[serde(with = "duration", default = "default_proxy_cache_ttl")]
    pub cache_ttl: Duration,
    /// PEM certificates that backends' certificates are verified against.
    #[serde(default)]
    pub backend_ca: Option<PathBuf>,
    /// Time allowed to connect to a backend (and finish its TLS handshake).
    #[serde(with = "duration", default = "default_proxy_timeout")]
    pub connect_timeout: Duration,
    /// Time allowed for the backend's greeting and login.
    #[serde(with = "duration", default = "default_proxy_login_timeout")]
    pub login_timeout: Duration,
    /// Who checks the client's password.
    #[serde(default)]
    pub check_password: CheckPassword,
    /// A master user the proxy logs in to the backend as, on behalf of the client (Dovecot's
    /// `user*master` style); needs `master_password`.
    #[serde(default)]
    pub master_user: Option<String>,
    #[serde(default)]
    pub master_password: Option<Secret>,
    /// Tell the backend the client's address, so that its logs and limits see the client
    /// rather than the proxy.
    #[serde(default = "default_true")]
    pub forward_client_ip: bool,
}

/// `proxy.route`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteKind {
    /// One backend per protocol: `imap_backend`, `pop3_backend`.
    Static,
    /// A route file: user, `@domain` or `*` to a backend.
    File,
    /// An nginx `auth_http` service, which also checks the password.
    AuthHttp,
}

impl RouteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteKind::Static => "static",
            RouteKind::File => "file",
            RouteKind::AuthHttp => "auth-http",
        }
    }
}

/// `proxy.check_password`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CheckPassword {
    /// The backend's own login checks it (the proxy passes the client's password on).
    #[default]
    Backend,
    /// Postern checks it against `auth.passwd_file` before it asks for a route.
    Local,
}

/// A secret from the configuration, kept out of `Debug` output (and so out of logs).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

fn default_backend_tls() -> BackendTls {
    BackendTls::Starttls
}
fn default_proxy_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_proxy_login_timeout() -> Duration {
    Duration::from_secs(15)
}
fn default_proxy_cache_size() -> usize {
    10_000
}
fn default_proxy_cache_ttl() -> Duration {
    Duration::from_secs(60)
}
fn default_true() -> bool {
    true
}

/// `[admin]`: the administration socket that `postern who`, `kick` and `reload` talk to.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// A Unix socket, created mode 0600 and answering only root and the server's own user.
    /// Without one, `postern reload` is not available (SIGHUP still is).
    pub socket: Option<PathBuf>,
    /// Whether a reload that switches an account's POP3 or IMAP off (or removes the account,
    /// or sets `nologin`) also ends that account's open sessions of that protocol. Off, the
    /// change applies from the next login, as in Exchange.
    pub end_disabled_sessions: bool,
}

/// `[server]`: threads, limits and timeouts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Host name used in greetings and APOP timestamps; empty means the system's.
    pub hostname: String,
    /// Connections across all listeners and workers.
    pub max_connections: usize,
    /// Connections from one client IP address.
    pub max_connections_per_ip: usize,
    /// Logged-in sessions of one user in one protocol (IMAP and POP3 count apart), across
    /// all client addresses; proxied sessions count too. 0: no limit.
    pub max_sessions_per_user: usize,
    /// Longest command line accepted, CRLF included.
    pub max_line_length: usize,
    /// Time allowed to log in after connecting.
    #[serde(with = "duration")]
    pub preauth_timeout: Duration,
    /// How long sessions may finish after SIGTERM before they are closed.
    #[serde(with = "duration")]
    pub shutdown_grace: Duration,
    /// 4 KiB read buffers in each worker's io_uring buffer ring, lent to a connection only
    /// while data it received is being handed over. A burst that finds the ring empty falls
    /// back to a buffer of the connection's own, so this bounds memory, not correctness.
    pub read_buffers: std::num::NonZero<u16>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            workers: 0,
            hostname: String::new(),
            max_connections: 100_000,
            max_connections_per_ip: 50,
            max_sessions_per_user: 0,
            max_line_length: 1024,
            preauth_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
            read_buffers: std::num::NonZero::new(256).expect("non-zero"),
        }
    }
}

/// `[tls]`: the default certificate and per-domain (SNI) certificates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    #[serde(default)]
    pub sni: Vec<SniCert>,
}

/// One `[[tls.sni]]` entry: a certificate for a host name (`*.example.com` allowed).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SniCert {
    pub domain: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `[auth]`: the account database and the brute-force defences.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// A Dovecot-compatible passwd-file.
    pub passwd_file: PathBuf,
    /// Delay before the first failed attempt from an IP is answered; doubles per failure.
    #[serde(with = "duration", default = "default_failure_delay")]
    pub failure_delay: Duration,
    #[serde(with = "duration", default = "default_max_failure_delay")]
    pub max_failure_delay: Duration,
    /// Recent successful verifications remembered, so a client that logs in every minute does
    /// not cost an argon2 run every time.
    #[serde(default = "default_cache_size")]
    pub cache_size: usize,
    #[serde(with = "duration", default = "default_cache_ttl")]
    pub cache_ttl: Duration,
    /// Threads that run password hashing, off the event loops. 0 means one per core.
    #[serde(default)]
    pub hash_threads: usize,
}

fn default_failure_delay() -> Duration {
    Duration::from_secs(2)
}
fn default_max_failure_delay() -> Duration {
    Duration::from_secs(15)
}
fn default_cache_size() -> usize {
    4096
}
fn default_cache_ttl() -> Duration {
    Duration::from_secs(3600)
}

/// `[mail]`: where mailboxes live and how they are written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// Maildir location template: `%u` user, `%n` local part, `%d` domain, `%h` or `~` home.
    /// A `userdb_mail=maildir:...` field on the account wins.
    pub location: String,
    /// fsync after writes that the protocols promise are durable.
    pub fsync: bool,
    /// Threads that read, index and write mail, off the event loops. Their work waits on
    /// the disk (fsync, first reads) more than on the CPU, so there are more of them than
    /// cores. 0 means four per core, at least eight.
    pub store_threads: usize,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            location: "~/Maildir".into(),
            fsync: true,
            store_threads: 0,
        }
    }
}

/// `[pop3]`: the POP3 service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pop3Config {
    pub login_type: LoginType,
    /// The MIME form messages are handed out in (`original` unless set); accounts may
    /// override it with `pop3_retrieval_format=`.
    pub retrieval_format: RetrievalFormat,
    /// RFC 1939 exclusive maildrop lock (Dovecot's `pop3_lock_session`).
    pub lock_session: bool,
    /// Autologout timer; RFC 1939 requires at least ten minutes.
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
    /// Value of the CAPA EXPIRE tag, if advertised (`NEVER` or a number of days).
    pub expire: Option<String>,
    /// Minimum seconds between logins of one user, advertised as LOGIN-DELAY and enforced.
    pub login_delay: Option<u32>,
    /// Value of the CAPA IMPLEMENTATION tag; empty hides it.
    pub implementation: String,
    /// Errors in a row before the session is closed.
    pub max_bad_commands: u32,
}

impl Default for Pop3Config {
    fn default() -> Self {
        Pop3Config {
            login_type: LoginType::Secure,
            retrieval_format: RetrievalFormat::Original,
            lock_session: true,
            idle_timeout: Duration::from_secs(600),
            expire: None,
            login_delay: None,
            implementation: "Postern".into(),
            max_bad_commands: 20,
        }
    }
}

/// `[imap]`: the IMAP service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImapConfig {
    pub login_type: LoginType,
    /// The MIME form messages are handed out in (`original` unless set); accounts may
    /// override it with `imap_retrieval_format=`.
    pub retrieval_format: RetrievalFormat,
    /// Autologout timer; RFC 3501 requires at least thirty minutes.
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
    /// Longest command, literal data excluded. RFC 7162 asks clients to keep lines under
    /// 8192 octets, and UID sets from big mailboxes get long, so this is much larger than
    /// POP3's limit.
    pub max_line_length: usize,
    /// Largest literal outside APPEND (a password, a search string, a mailbox name).
    pub max_literal: u64,
    /// Largest message APPEND accepts; a larger one gets `NO [TOOBIG]`.
    pub max_message_size: u64,
    /// Errors in a row before the session is closed (0 = never).
    pub max_bad_commands: u32,
    /// Which non-synchronizing literals to offer (RFC 7888): `plus` (LITERAL+, any size
    /// within the limits) or `minus` (LITERAL-, at most 4096 octets).
    pub literals: Literals,
    /// Header fields kept in each mailbox's index, so that a client's header-only FETCH
    /// of them never opens a message file. The defaults are what common clients ask for.
    pub cached_headers: Vec<String>,
    /// RFC 6154 SPECIAL-USE attributes by folder name: `Sent = "\\Sent"`.
    pub special_use: std::collections::BTreeMap<String, String>,
}

/// `imap.literals`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Literals {
    #[default]
    Plus,
    Minus,
}

/// What Thunderbird, Apple Mail, K-9, Outlook, Evolution and mbsync ask for in their
/// header-only FETCHes (`BODY.PEEK[HEADER.FIELDS (...)]`), collected from their requests.
pub const DEFAULT_CACHED_HEADERS: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Reply-To",
    "Sender",
    "Content-Type",
    "Priority",
    "X-Priority",
    "Importance",
    "Newsgroups",
    "List-Id",
    "List-Unsubscribe",
    "List-Post",
    "Delivered-To",
    "X-Mailer",
    "X-TUID",
    "X-K9mail-Identity",
    "Chat-Version",
    "Disposition-Notification-To",
    "Return-Path",
];

/// The folders Debian's Dovecot marks with a SPECIAL-USE attribute (its 15-mailboxes.conf),
/// plus `Archive`.
const DEFAULT_SPECIAL_USE: &[(&str, &str)] = &[
    ("Archive", "\\Archive"),
    ("Drafts", "\\Drafts"),
    ("Junk", "\\Junk"),
    ("Sent", "\\Sent"),
    ("Sent Messages", "\\Sent"),
    ("Trash", "\\Trash"),
];

/// The attributes RFC 6154 defines.
const SPECIAL_USE_ATTRIBUTES: &[&str] = &[
    "\\All",
    "\\Archive",
    "\\Drafts",
    "\\Flagged",
    "\\Junk",
    "\\Sent",
    "\\Trash",
];

impl Default for ImapConfig {
    fn default() -> Self {
        ImapConfig {
            login_type: LoginType::Secure,
            retrieval_format: RetrievalFormat::Original,
            idle_timeout: Duration::from_secs(30 * 60),
            max_line_length: 64 * 1024,
            max_literal: 64 * 1024,
            max_message_size: 64 * 1024 * 1024,
            max_bad_commands: 20,
            literals: Literals::Plus,
            cached_headers: DEFAULT_CACHED_HEADERS
                .iter()
                .map(|&h| h.to_owned())
                .collect(),
            special_use: DEFAULT_SPECIAL_USE
                .iter()
                .map(|&(name, attr)| (name.to_owned(), attr.to_owned()))
                .collect(),
        }
    }
}

impl ImapConfig {
    /// A configured SPECIAL-USE attribute in its canonical spelling (`\Sent`), if it is one
    /// RFC 6154 defines.
    pub fn canonical_special_use(attr: &str) -> Option<&'static str> {
        SPECIAL_USE_ATTRIBUTES
            .iter()
            .copied()
            .find(|known| known.eq_ignore_ascii_case(attr))
    }
}

/// What a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerKind {
    /// POP3 on a plain socket, STLS when a certificate is configured (port 110).
    Pop3,
    /// POP3 inside implicit TLS (port 995).
    Pop3s,
    /// IMAP on a plain socket, STARTTLS when a certificate is configured (port 143).
    Imap,
    /// IMAP inside implicit TLS (port 993).
    Imaps,
    /// Front proxy for IMAP (plain with STARTTLS): log in, then relay to the user's backend.
    #[serde(rename = "imap-proxy")]
    ImapProxy,
    /// Front proxy for IMAP inside implicit TLS.
    #[serde(rename = "imaps-proxy")]
    ImapsProxy,
    /// Front proxy for POP3 (plain with STLS).
    #[serde(rename = "pop3-proxy")]
    Pop3Proxy,
    /// Front proxy for POP3 inside implicit TLS.
    #[serde(rename = "pop3s-proxy")]
    Pop3sProxy,
}

/// The protocol a listener speaks, whatever its transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Pop3,
    Imap,
}

impl ListenerKind {
    pub fn implicit_tls(self) -> bool {
        use ListenerKind::*;
        matches!(self, Pop3s | Imaps | Pop3sProxy | ImapsProxy)
    }

    pub fn protocol(self) -> Protocol {
        use ListenerKind::*;
        match self {
            Pop3 | Pop3s | Pop3Proxy | Pop3sProxy => Protocol::Pop3,
            Imap | Imaps | ImapProxy | ImapsProxy => Protocol::Imap,
        }
    }

    /// Does this listener relay to backends instead of serving mail itself?
    pub fn is_proxy(self) -> bool {
        use ListenerKind::*;
        matches!(self, Pop3Proxy | Pop3sProxy | ImapProxy | ImapsProxy)
    }

    pub fn name(self) -> &'static str {
        match self {
            ListenerKind::Pop3 => "pop3",
            ListenerKind::Pop3s => "pop3s",
            ListenerKind::Imap => "imap",
            ListenerKind::Imaps => "imaps",
            ListenerKind::ImapProxy => "imap-proxy",
            ListenerKind::ImapsProxy => "imaps-proxy",
            ListenerKind::Pop3Proxy => "pop3-proxy",
            ListenerKind::Pop3sProxy => "pop3s-proxy",
        }
    }
}

/// One `[[listener]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    pub kind: ListenerKind,
    /// `ip:port`; port 0 picks a free port (tests).
    pub address: SocketAddr,
    /// Expect a PROXY protocol header (`"v1"`, `"v2"` or `"any"`) from a load balancer
    /// before anything else, implicit TLS included; its client address then stands for the
    /// socket's. Absent: no header is expected.
    #[serde(default)]
    pub proxy_protocol: Option<crate::proxy_header::Accept>,
    /// The proxies allowed to send that header: addresses (`"127.0.0.1"`) or CIDR prefixes
    /// (`"10.0.0.0/8"`). Connections from anywhere else are refused.
    #[serde(default)]
    pub proxy_from: Vec<IpPrefix>,
}

impl ListenerConfig {
    /// May a PROXY protocol header come from `ip`?
    pub fn proxy_trusted(&self, ip: IpAddr) -> bool {
        self.proxy_from.iter().any(|p| p.contains(ip))
    }
}

/// An IP address or a CIDR prefix (`192.0.2.7`, `10.0.0.0/8`, `2001:db8::/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

impl IpPrefix {
    /// Is `ip` inside the prefix? An IPv4-mapped IPv6 address (`::ffff:192.0.2.7`) counts
    /// as the IPv4 address it carries; otherwise the families must match.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => mask(
                u128::from(net.to_bits()),
                u128::from(ip.to_bits()),
                self.len,
                32,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => mask(net.to_bits(), ip.to_bits(), self.len, 128),
            _ => false,
        }
    }
}

/// Do `a` and `b`, numbers of `bits` bits, share their first `len` bits?
fn mask(a: u128, b: u128, len: u8, bits: u32) -> bool {
    let shift = bits - u32::from(len);
    a.checked_shr(shift).unwrap_or(0) == b.checked_shr(shift).unwrap_or(0)
}

impl std::str::FromStr for IpPrefix {
    type Err = String;

    fn from_str(s: &str) -> Result<IpPrefix, String> {
        let (addr, len) = match s.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR prefix"))?;
        let bits: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => bits,
            Some(len) => match len.parse::<u8>() {
                Ok(n) if n <= bits && len.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(format!("{s:?}: the prefix length must be 0 to {bits}")),
            },
        };
        // A host part that is not zero is most likely a typo (10.1.0.0/8 for 10.1.0.0/16).
        let zeroed = match addr {
            IpAddr::V4(a) => a.to_bits().checked_shl(u32::from(len)).unwrap_or(0) == 0,
            IpAddr::V6(a) => a.to_bits().checked_shl(u32::from(len)).unwrap_or(0) == 0,
        };
        if !zeroed {
            return Err(format!(
                "{s:?} has bits set after the first {len}; write the network address"
            ));
        }
        Ok(IpPrefix { addr, len })
    }
}

impl TryFrom<String> for IpPrefix {
    type Error = String;

    fn try_from(s: String) -> Result<IpPrefix, String> {
        s.parse()
    }
}

impl std::fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl Config {
    /// Reads, parses and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses and validates configuration text; `path` names it in errors and anchors
    /// relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let invalid = |key: String, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            key,
            message,
        };
        let de = toml::Deserializer::parse(text)
            .map_err(|e| invalid("(syntax)".into(), e.to_string().trim_end().to_owned()))?;
        let mut config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let message = e.inner().message().to_owned();
            let key = if key == "." {
                "(top level)".into()
            } else {
                key
            };
            invalid(key, message)
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        config
            .validate()
            .map_err(|(key, message)| invalid(key.into(), message))?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.auth.passwd_file);
        if let Some(socket) = &mut self.admin.socket {
            fix(socket);
        }
        if let Some(proxy) = &mut self.proxy {
            if let Some(file) = &mut proxy.route_file {
                fix(file);
            }
            if let Some(ca) = &mut proxy.backend_ca {
                fix(ca);
            }
        }
        if let Some(tls) = &mut self.tls {
            fix(&mut tls.cert);
            fix(&mut tls.key);
            for s in &mut tls.sni {
                fix(&mut s.cert);
                fix(&mut s.key);
            }
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.listeners.is_empty() {
            return Err(("listener", "at least one [[listener]] is required".into()));
        }
        for l in &self.listeners {
            if l.kind.implicit_tls() && self.tls.is_none() {
                return Err((
                    "listener.kind",
                    format!("a {} listener needs a [tls] section", l.kind.name()),
                ));
            }
            if l.proxy_protocol.is_none() && !l.proxy_from.is_empty() {
                return Err((
                    "listener.proxy_from",
                    format!(
                        "{}: proxy_from without proxy_protocol; set proxy_protocol = \"v1\", \
                         \"v2\" or \"any\"",
                        l.address
                    ),
                ));
            }
            if l.proxy_protocol.is_some() && l.proxy_from.is_empty() {
                return Err((
                    "listener.proxy_from",
                    format!(
                        "{}: a proxy_protocol listener needs proxy_from, the addresses of the \
                         proxies allowed to send the header",
                        l.address
                    ),
                ));
            }
        }
        self.validate_proxy()?;
        if self.pop3.idle_timeout < Duration::from_secs(600) {
            return Err((
                "pop3.idle_timeout",
                "RFC 1939 requires the autologout timer to be at least 10 minutes".into(),
            ));
        }
        if self.server.max_line_length < 64 {
            return Err(("server.max_line_length", "must be at least 64".into()));
        }
        if self.server.max_connections == 0 {
            return Err(("server.max_connections", "must be at least 1".into()));
        }
        if self.server.max_connections_per_ip == 0 {
            return Err(("server.max_connections_per_ip", "must be at least 1".into()));
        }
        if self.server.preauth_timeout.is_zero() {
            return Err(("server.preauth_timeout", "must be more than zero".into()));
        }
        if self.pop3.login_type != LoginType::Plaintext && self.tls.is_none() {
            return Err((
                "pop3.login_type",
                format!(
                    "`{}` needs TLS but there is no [tls] section; configure a certificate or \
                     use login_type = \"plaintext\"",
                    self.pop3.login_type.as_str()
                ),
            ));
        }
        self.validate_imap()?;
        if let Some(proxy) = &self.proxy {
            proxy.validate()?;
        }
        if let Some(e) = &self.pop3.expire
            && e != "NEVER"
            && e.parse::<u32>().is_err()
        {
            return Err((
                "pop3.expire",
                "must be \"NEVER\" or a number of days".into(),
            ));
        }
        if self.mail.location.is_empty() {
            return Err(("mail.location", "must not be empty".into()));
        }
        Ok(())
    }

    /// Every proxy listener needs a `[proxy]` table, and with static routes a backend for
    /// its protocol.
    fn validate_proxy(&self) -> Result<(), (&'static str, String)> {
        for l in self.listeners.iter().filter(|l| l.kind.is_proxy()) {
            let Some(proxy) = &self.proxy else {
                return Err((
                    "proxy",
                    format!("a {} listener needs a [proxy] section", l.kind.name()),
                ));
            };
            if proxy.route != RouteKind::Static {
                continue;
            }
            let (backend, key) = match l.kind.protocol() {
                Protocol::Imap => (&proxy.imap_backend, "proxy.imap_backend"),
                Protocol::Pop3 => (&proxy.pop3_backend, "proxy.pop3_backend"),
            };
            if backend.is_none() {
                return Err((key, format!("required by the {} listener", l.kind.name())));
            }
        }
        Ok(())
    }

    fn validate_imap(&self) -> Result<(), (&'static str, String)> {
        let imap = &self.imap;
        let serves_imap = self
            .listeners
            .iter()
            .any(|l| l.kind.protocol() == Protocol::Imap);
        if serves_imap && imap.login_type != LoginType::Plaintext && self.tls.is_none() {
            return Err((
                "imap.login_type",
                format!(
                    "`{}` needs TLS but there is no [tls] section; configure a certificate or \
                     use login_type = \"plaintext\"",
                    imap.login_type.as_str()
                ),
            ));
        }
        if imap.idle_timeout < Duration::from_secs(30 * 60) {
            return Err((
                "imap.idle_timeout",
                "RFC 3501 requires the autologout timer to be at least 30 minutes".into(),
            ));
        }
        if imap.max_line_length < 1024 {
            return Err(("imap.max_line_length", "must be at least 1024".into()));
        }
        if imap.max_literal < 1024 {
            return Err(("imap.max_literal", "must be at least 1024".into()));
        }
        if imap.max_message_size < 1024 {
            return Err(("imap.max_message_size", "must be at least 1024".into()));
        }
        for name in &imap.cached_headers {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                return Err((
                    "imap.cached_headers",
                    format!("{name:?} is not a header field name"),
                ));
            }
        }
        for (folder, attr) in &imap.special_use {
            if ImapConfig::canonical_special_use(attr).is_none() {
                return Err((
                    "imap.special_use",
                    format!(
                        "{folder}: {attr:?} is not an RFC 6154 attribute (\\All, \\Archive, \
                         \\Drafts, \\Flagged, \\Junk, \\Sent, \\Trash)"
                    ),
                ));
            }
            if folder.is_empty() {
                return Err(("imap.special_use", "empty folder name".into()));
            }
        }
        Ok(())
    }

    /// The number of worker threads to run.
    pub fn worker_count(&self) -> usize {
        match self.server.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

impl ProxyConfig {
    fn validate(&self) -> Result<(), (&'static str, String)> {
        let route = self.route;
        let needed_by = |key: &'static str, kind: RouteKind| {
            (
                key,
                format!("required when proxy.route = \"{}\"", kind.as_str()),
            )
        };
        let only_for = |key: &'static str, kind: RouteKind| {
            (
                key,
                format!(
                    "only used when proxy.route = \"{}\" (it is \"{}\")",
                    kind.as_str(),
                    route.as_str()
                ),
            )
        };
        match route {
            RouteKind::Static => {
                if self.imap_backend.is_none() && self.pop3_backend.is_none() {
                    return Err((
                        "proxy.imap_backend",
                        "proxy.route = \"static\" needs imap_backend, pop3_backend or both".into(),
                    ));
                }
            }
            RouteKind::File => {
                if self.route_file.is_none() {
                    return Err(needed_by("proxy.route_file", RouteKind::File));
                }
            }
            RouteKind::AuthHttp => {
                if self.auth_http.is_none() {
                    return Err(needed_by("proxy.auth_http", RouteKind::AuthHttp));
                }
            }
        }
        if route != RouteKind::Static {
            if self.imap_backend.is_some() {
                return Err(only_for("proxy.imap_backend", RouteKind::Static));
            }
            if self.pop3_backend.is_some() {
                return Err(only_for("proxy.pop3_backend", RouteKind::Static));
            }
        }
        if route != RouteKind::File && self.route_file.is_some() {
            return Err(only_for("proxy.route_file", RouteKind::File));
        }
        if route != RouteKind::AuthHttp && self.auth_http.is_some() {
            return Err(only_for("proxy.auth_http", RouteKind::AuthHttp));
        }
        for (key, value) in [
            ("proxy.auth_http_timeout", self.auth_http_timeout),
            ("proxy.connect_timeout", self.connect_timeout),
            ("proxy.login_timeout", self.login_timeout),
        ] {
            if value.is_zero() {
                return Err((key, "must be more than zero".into()));
            }
        }
        match (&self.master_user, &self.master_password) {
            (Some(_), None) => {
                return Err((
                    "proxy.master_password",
                    "required when proxy.master_user is set".into(),
                ));
            }
            (None, Some(_)) => {
                return Err((
                    "proxy.master_user",
                    "required when proxy.master_password is set".into(),
                ));
            }
            (Some(user), Some(_)) => {
                if user.is_empty() || user.chars().any(|c| c.is_control() || c.is_whitespace()) {
                    return Err((
                        "proxy.master_user",
                        format!("{user:?} is empty or contains whitespace or a control character"),
                    ));
                }
                // Logging in as the master user, the backend never sees the client's
                // password: someone else must check it.
                if self.check_password == CheckPassword::Backend && route != RouteKind::AuthHttp {
                    return Err((
                        "proxy.check_password",
                        "with proxy.master_user the backend never sees the client's password; \
                         set check_password = \"local\" (or use route = \"auth-http\", which \
                         checks it)"
                            .into(),
                    ));
                }
            }
            (None, None) => {}
        }
        if let Some(secret) = &self.master_password
            && secret
                .expose()
                .chars()
                .any(|c| c == '\r' || c == '\n' || c == '\0')
        {
            return Err((
                "proxy.master_password",
                "must not contain CR, LF or NUL".into(),
            ));
        }
        Ok(())
    }
}

/// Durations written as `250ms`, `30s`, `10m`, `2h`, `1d`.
mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, de::Error};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_duration(&s).ok_or_else(|| {
            D::Error::custom(format!(
                "invalid duration {s:?}: use a number with ms, s, m, h or d (e.g. \"30s\")"
            ))
        })
    }
}

/// Parses `250ms`, `30s`, `10m`, `2h`, `1d`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => return Some(Duration::from_millis(n)),
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[auth]
passwd_file = "users"
[pop3]
login_type = "plaintext"
[[listener]]
kind = "pop3"
address = "127.0.0.1:1110"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/postern/postern.toml"))
    }

    #[test]
    fn minimal_config_and_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.auth.passwd_file, Path::new("/etc/postern/users"));
        assert_eq!(c.pop3.idle_timeout, Duration::from_secs(600));
        assert_eq!(c.server.preauth_timeout, Duration::from_secs(60));
        assert_eq!(c.listeners[0].kind, ListenerKind::Pop3);
        assert!(c.worker_count() >= 1);
    }

    #[test]
    fn unknown_key_is_named() {
        let text = MINIMAL.replace("[pop3]", "[pop3]\nlogin_typ = \"secure\"");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains("login_typ"), "{e}");
    }

    #[test]
    fn bad_value_is_named() {
        let text = MINIMAL.replace("login_type = \"plaintext\"", "login_type = \"open\"");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains("pop3.login_type"), "{e}");
        let text = format!("{MINIMAL}\n[server]\npreauth_timeout = \"soon\"\n");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains("server.preauth_timeout"), "{e}");
    }

    #[test]
    fn rfc_minimum_autologout() {
        let text = MINIMAL.replace("[pop3]", "[pop3]\nidle_timeout = \"5m\"");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains("pop3.idle_timeout"), "{e}");
    }

    #[test]
    fn secure_login_needs_tls() {
        let text = MINIMAL.replace("\"plaintext\"", "\"secure\"");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains("pop3.login_type"), "{e}");
    }

    #[test]
    fn implicit_tls_needs_certificate() {
        let text = MINIMAL.replace("\"pop3\"", "\"pop3s\"");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains("listener.kind"), "{e}");
    }

    #[test]
    fn shipped_example_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("postern.example.toml");
        let c = Config::load(&path).unwrap();
        assert_eq!(c.pop3.login_type, LoginType::Secure);
        assert_eq!(c.imap.login_type, LoginType::Secure);
        assert_eq!(c.listeners.len(), 4);
        assert_eq!(
            c.imap.special_use.get("Sent").map(String::as_str),
            Some("\\Sent")
        );
    }

    #[test]
    fn imap_settings_are_checked() {
        let with_imap =
            format!("{MINIMAL}\n[[listener]]\nkind = \"imap\"\naddress = \"127.0.0.1:1143\"\n");
        // The default login type for IMAP is `secure`, which needs a certificate.
        let e = parse(&with_imap).unwrap_err().to_string();
        assert!(e.contains("imap.login_type"), "{e}");
        let plain = with_imap.replace("[pop3]", "[imap]\nlogin_type = \"plaintext\"\n[pop3]");
        let c = parse(&plain).unwrap();
        assert_eq!(c.imap.idle_timeout, Duration::from_secs(1800));
        assert!(c.imap.cached_headers.iter().any(|h| h == "Subject"));
        let short = plain.replace("[imap]", "[imap]\nidle_timeout = \"29m\"");
        let e = parse(&short).unwrap_err().to_string();
        assert!(e.contains("imap.idle_timeout"), "{e}");
        let bad_attr = format!("{plain}\n[imap.special_use]\nSent = \"\\\\Outbox\"\n");
        let e = parse(&bad_attr).unwrap_err().to_string();
        assert!(e.contains("imap.special_use"), "{e}");
        let bad_header = plain.replace("[imap]", "[imap]\ncached_headers = [\"Sub ject\"]");
        let e = parse(&bad_header).unwrap_err().to_string();
        assert!(e.contains("imap.cached_headers"), "{e}");
        // A POP3-only configuration without TLS does not care about the IMAP login type.
        assert!(parse(MINIMAL).is_ok());
    }

    #[test]
    fn no_proxy_table_means_no_proxy() {
        assert!(parse(MINIMAL).unwrap().proxy.is_none());
    }

    #[test]
    fn proxy_defaults_and_paths() {
        let text = format!(
            "{MINIMAL}\n[proxy]\nroute = \"file\"\nroute_file = \"routes\"\n\
             backend_ca = \"/etc/ssl/backends.pem\"\n"
        );
        let p = parse(&text).unwrap().proxy.unwrap();
        assert_eq!(p.route, RouteKind::File);
        assert_eq!(
            p.route_file.as_deref(),
            Some(Path::new("/etc/postern/routes"))
        );
        assert_eq!(
            p.backend_ca.as_deref(),
            Some(Path::new("/etc/ssl/backends.pem"))
        );
        assert_eq!(p.backend_tls, BackendTls::Starttls);
        assert_eq!(p.auth_http_timeout, Duration::from_secs(5));
        assert_eq!(p.cache_size, 10_000);
        assert_eq!(p.cache_ttl, Duration::from_secs(60));
        assert_eq!(p.connect_timeout, Duration::from_secs(5));
        assert_eq!(p.login_timeout, Duration::from_secs(15));
        assert_eq!(p.check_password, CheckPassword::Backend);
        assert!(p.master_user.is_none() && p.master_password.is_none());
        assert!(p.forward_client_ip);
    }

    #[test]
    fn proxy_every_setting() {
        let text = format!(
            "{MINIMAL}\n[proxy]\nroute = \"auth-http\"\n\
             auth_http = \"http://127.0.0.1:9000/mail-auth\"\nauth_http_timeout = \"2s\"\n\
             backend_tls = \"tls\"\ncache_size = 5\ncache_ttl = \"10m\"\n\
             connect_timeout = \"1s\"\nlogin_timeout = \"20s\"\ncheck_password = \"local\"\n\
             master_user = \"proxy\"\nmaster_password = \"s3cret\"\nforward_client_ip = false\n"
        );
        let p = parse(&text).unwrap().proxy.unwrap();
        assert_eq!(p.route, RouteKind::AuthHttp);
        let url = p.auth_http.as_ref().unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.path.as_str()),
            ("127.0.0.1", 9000, "/mail-auth")
        );
        assert_eq!(p.auth_http_timeout, Duration::from_secs(2));
        assert_eq!(p.backend_tls, BackendTls::Tls);
        assert_eq!((p.cache_size, p.cache_ttl), (5, Duration::from_secs(600)));
        assert_eq!(p.connect_timeout, Duration::from_secs(1));
        assert_eq!(p.login_timeout, Duration::from_secs(20));
        assert_eq!(p.check_password, CheckPassword::Local);
        assert_eq!(p.master_user.as_deref(), Some("proxy"));
        assert_eq!(
            p.master_password.as_ref().map(Secret::expose),
            Some("s3cret")
        );
        assert!(!p.forward_client_ip);
        assert!(
            !format!("{p:?}").contains("s3cret"),
            "the password stays out of Debug"
        );

        let text = format!(
            "{MINIMAL}\n[proxy]\nroute = \"static\"\nimap_backend = \"[2001:db8::1]:143\"\n\
             pop3_backend = \"pop.internal:110\"\n"
        );
        let p = parse(&text).unwrap().proxy.unwrap();
        assert_eq!(p.imap_backend.unwrap().host, "2001:db8::1");
        assert_eq!(p.pop3_backend.unwrap().port, 110);
    }

    #[test]
    fn proxy_errors_name_the_key() {
        let cases: &[(&str, &str)] = &[
            ("", "proxy: missing field `route`"),
            ("route = \"ldap\"", "proxy.route"),
            ("route = \"static\"\nimap_backnd = \"a:1\"", "imap_backnd"),
            (
                "route = \"static\"",
                "proxy.imap_backend: proxy.route = \"static\" needs",
            ),
            (
                "route = \"static\"\nimap_backend = \"a\"",
                "proxy.imap_backend",
            ),
            (
                "route = \"static\"\npop3_backend = \"a:0\"",
                "proxy.pop3_backend",
            ),
            (
                "route = \"static\"\nimap_backend = \"::1:143\"",
                "proxy.imap_backend",
            ),
            (
                "route = \"file\"",
                "proxy.route_file: required when proxy.route = \"file\"",
            ),
            (
                "route = \"auth-http\"",
                "proxy.auth_http: required when proxy.route = \"auth-http\"",
            ),
            (
                "route = \"auth-http\"\nauth_http = \"https://auth/\"",
                "proxy.auth_http",
            ),
            (
                "route = \"file\"\nroute_file = \"r\"\nimap_backend = \"a:1\"",
                "proxy.imap_backend: only used when proxy.route = \"static\" (it is \"file\")",
            ),
            (
                "route = \"static\"\nimap_backend = \"a:1\"\nroute_file = \"r\"",
                "proxy.route_file: only used when proxy.route = \"file\"",
            ),
            (
                "route = \"file\"\nroute_file = \"r\"\nauth_http = \"http://a/\"",
                "proxy.auth_http: only used when proxy.route = \"auth-http\"",
            ),
            (
                "route = \"static\"\nimap_backend = \"a:1\"\nbackend_tls = \"ssl\"",
                "proxy.backend_tls",
            ),
            (
                "route = \"static\"\nimap_backend = \"a:1\"\nconnect_timeout = \"0s\"",
                "proxy.connect_timeout: must be more than zero",
            ),
            (
                "route = \"static\"\nimap_backend = \"a:1\"\nlogin_timeout = \"soon\"",
                "proxy.login_timeout",
            ),
            (
                "route = \"static\"\nimap_backend = \"a:1\"\ncheck_password = \"ldap\"",
                "proxy.check_password",
            ),
            (
                "route = \"static\"\nimap_backend = \"a:1\"\nmaster_user = \"m\"",
                "proxy.master_password: required when proxy.master_user is set",
            ),
            (
                "route = \"static\"\nimap_backend = \"a:1\"\nmaster_password = \"p\"",
                "proxy.master_user: required when proxy.master_password is set",
            ),
            (
                "route = \"static\"\nimap_backend = \"a:1\"\nmaster_user = \"m\"\n\
                 master_password = \"p\"",
                "proxy.check_password: with proxy.master_user",
            ),
            (
                "route = \"static\"\nimap_backend = \"a:1\"\nmaster_user = \"m x\"\n\
                 master_password = \"p\"\ncheck_password = \"local\"",
                "proxy.master_user",
            ),
        ];
        for (table, expected) in cases {
            let text = format!("{MINIMAL}\n[proxy]\n{table}\n");
            let e = parse(&text).unwrap_err().to_string();
            assert!(e.contains(expected), "{table}: {e}");
        }
        // A master user is fine when Postern checks the password, or auth_http does.
        for ok in [
            "route = \"static\"\nimap_backend = \"a:1\"\ncheck_password = \"local\"",
            "route = \"auth-http\"\nauth_http = \"http://a/\"",
        ] {
            let text =
                format!("{MINIMAL}\n[proxy]\n{ok}\nmaster_user = \"m\"\nmaster_password = \"p\"\n");
            assert!(parse(&text).is_ok(), "{ok}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("5 weeks"), None);
    }

    #[test]
    fn proxy_protocol_listeners() {
        use crate::proxy_header::Accept;
        let with = |lines: &str| {
            MINIMAL.replace(
                "address = \"127.0.0.1:1110\"",
                &format!("address = \"127.0.0.1:1110\"\n{lines}"),
            )
        };
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.listeners[0].proxy_protocol, None);
        assert!(c.listeners[0].proxy_from.is_empty());
        let c = parse(&with(
            "proxy_protocol = \"any\"\nproxy_from = [\"127.0.0.1\", \"10.0.0.0/8\", \"2001:db8::/32\"]",
        ))
        .unwrap();
        let l = &c.listeners[0];
        assert_eq!(l.proxy_protocol, Some(Accept::Any));
        assert!(l.proxy_trusted("127.0.0.1".parse().unwrap()));
        assert!(!l.proxy_trusted("127.0.0.2".parse().unwrap()));
        assert!(l.proxy_trusted("10.200.3.4".parse().unwrap()));
        assert!(l.proxy_trusted("::ffff:10.1.2.3".parse().unwrap()));
        assert!(l.proxy_trusted("2001:db8:ffff::1".parse().unwrap()));
        assert!(!l.proxy_trusted("2001:db9::1".parse().unwrap()));
        for (v, want) in [("v1", Accept::V1), ("v2", Accept::V2)] {
            let c = parse(&with(&format!(
                "proxy_protocol = \"{v}\"\nproxy_from = [\"::1\"]"
            )))
            .unwrap();
            assert_eq!(c.listeners[0].proxy_protocol, Some(want));
        }
        for (lines, key) in [
            (
                "proxy_protocol = \"v3\"\nproxy_from = [\"::1\"]",
                "listener[0].proxy_protocol",
            ),
            ("proxy_from = [\"127.0.0.1\"]", "listener.proxy_from"),
            ("proxy_protocol = \"v1\"", "listener.proxy_from"),
            (
                "proxy_protocol = \"v1\"\nproxy_from = [\"localhost\"]",
                "listener[0].proxy_from[0]",
            ),
            (
                "proxy_protocol = \"v1\"\nproxy_from = [\"10.0.0.0/33\"]",
                "listener[0].proxy_from[0]",
            ),
            (
                "proxy_protocol = \"v1\"\nproxy_from = [\"10.1.0.0/8\"]",
                "listener[0].proxy_from[0]",
            ),
        ] {
            let e = parse(&with(lines)).unwrap_err().to_string();
            assert!(e.contains(&format!("{key}:")), "{lines}: {e}");
        }
    }

    #[test]
    fn ip_prefixes() {
        let p = |s: &str| s.parse::<IpPrefix>();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(p("0.0.0.0/0").unwrap().contains(ip("203.0.113.9")));
        assert!(!p("0.0.0.0/0").unwrap().contains(ip("::1")));
        assert!(p("::/0").unwrap().contains(ip("::1")));
        assert!(p("192.0.2.7").unwrap().contains(ip("192.0.2.7")));
        assert!(!p("192.0.2.7").unwrap().contains(ip("192.0.2.6")));
        assert!(p("192.0.2.7/32").unwrap().contains(ip("::ffff:192.0.2.7")));
        assert!(p("192.0.2.128/25").unwrap().contains(ip("192.0.2.255")));
        assert!(!p("192.0.2.128/25").unwrap().contains(ip("192.0.2.127")));
        assert!(p("::1/128").unwrap().contains(ip("::1")));
        assert!(p("fe80::/10").unwrap().contains(ip("febf::1")));
        assert!(!p("fe80::/10").unwrap().contains(ip("fec0::1")));
        assert_eq!(p("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(p("::1").unwrap().to_string(), "::1/128");
        for bad in [
            "",
            "/8",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.1/8",
            "fe80::1/10",
            "10.0.0.0/8/8",
            "10.0.0",
            " 10.0.0.0/8",
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }
}
