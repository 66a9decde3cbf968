//! The per-listener knobs of a POP3 session.
//!
//! One `Settings` is built from the configuration for each listener and shared (behind an `Arc`)
//! by all of its sessions, so everything a session may offer is decided in one place: the login
//! policy, whether STLS exists here, what CAPA advertises and the input limits that keep a hostile
//! client from growing a session without bound.

use crate::auth::Mechanism;
use crate::policy::LoginType;

/// What a POP3 listener offers and enforces.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Which authentication is allowed before and after TLS.
    pub login_type: LoginType,
    /// STLS is available on this listener (a plain listener with a certificate configured).
    pub stls_offered: bool,
    /// The CAPA `IMPLEMENTATION` value; `None` leaves the line out.
    pub implementation: Option<String>,
    /// The CAPA `EXPIRE` value (`"NEVER"`, `"30"`); `None` leaves the line out.
    pub expire: Option<String>,
    /// The CAPA `LOGIN-DELAY` value in seconds; `None` leaves the line out.
    pub login_delay: Option<u32>,
    /// The longest accepted command line, CRLF included. A longer line is answered with
    /// `-ERR Line too long.` and thrown away; the session goes on.
    pub max_line: usize,
    /// After this many failed commands in a row the session is closed (0 = never), as Dovecot
    /// does, so that a client speaking the wrong protocol cannot hold a connection forever.
    /// Before login only a successful login ends the run, so failed logins count too.
    pub max_bad_commands: u32,
    /// SASL mechanisms the account database can serve.
    pub sasl: Vec<Mechanism>,
    /// Some secret in the account database can serve APOP.
    pub apop: bool,
    /// This server's host name. The greeting names the host only inside the APOP timestamp
    /// (`<pid.nanos@host>`), which the runtime builds from this value.
    pub hostname: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            login_type: LoginType::Secure,
            stls_offered: false,
            implementation: Some("Postern".to_owned()),
            expire: None,
            login_delay: None,
            max_line: 1024,
            max_bad_commands: 20,
            sasl: vec![Mechanism::Plain, Mechanism::Login],
            apop: false,
            hostname: "localhost".to_owned(),
        }
    }
}
