//! The per-listener knobs of an IMAP session.
//!
//! One `Settings` is built from the configuration for each listener and shared by all of its
//! sessions, so everything a session may offer is decided in one place: the login policy,
//! whether STARTTLS exists here, the input limits, and what the mailbox index can answer
//! without opening a message file.

use crate::auth::Mechanism;
use crate::imap::Limits;
use crate::policy::LoginType;

/// What an IMAP listener offers and enforces.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Which authentication is allowed before and after TLS.
    pub login_type: LoginType,
    /// STARTTLS is available on this listener (a plain listener with a certificate).
    pub starttls_offered: bool,
    /// SASL mechanisms the account database can serve, in the order advertised.
    pub sasl: Vec<Mechanism>,
    /// Bounds on client input (line, literal and APPEND sizes, SEARCH nesting).
    pub limits: Limits,
    /// After this many failed commands in a row the session is closed (0 = never).
    pub max_bad_commands: u32,
    /// Header fields every mailbox index keeps (lower-case): a `HEADER.FIELDS` request
    /// naming only these is answered from the index.
    pub cached_headers: Vec<String>,
    /// SPECIAL-USE attributes by folder name (modified UTF-7 wire form), e.g.
    /// `("Sent", "\\Sent")`.
    pub special_use: Vec<(String, &'static str)>,
    /// The `name`/`version` this server reports in an ID response.
    pub implementation: Option<(String, String)>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            login_type: LoginType::Secure,
            starttls_offered: false,
            sasl: vec![Mechanism::Plain, Mechanism::Login],
            limits: Limits::default(),
            max_bad_commands: 20,
            cached_headers: crate::config::DEFAULT_CACHED_HEADERS
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            special_use: vec![
                ("Drafts".into(), "\\Drafts"),
                ("Junk".into(), "\\Junk"),
                ("Sent".into(), "\\Sent"),
                ("Trash".into(), "\\Trash"),
            ],
            implementation: Some(("Postern".into(), env!("CARGO_PKG_VERSION").into())),
        }
    }
}

impl Settings {
    /// Whether every field in `names` is one the index keeps.
    pub fn headers_cached(&self, names: &[Vec<u8>]) -> bool {
        names.iter().all(|name| {
            self.cached_headers
                .iter()
                .any(|cached| cached.as_bytes().eq_ignore_ascii_case(name))
        })
    }

    /// The SPECIAL-USE attribute of a folder, if it has one.
    pub fn special_use_of(&self, name: &str) -> Option<&'static str> {
        self.special_use
            .iter()
            .find(|(folder, _)| folder == name)
            .map(|&(_, attr)| attr)
    }
}
