//! What a connection offers right now, and the CAPA reply (RFC 2449) that announces it.
//!
//! CAPA, the bare AUTH mechanism list, the APOP timestamp in the greeting and the refusals of
//! USER/PASS/APOP/AUTH all ask the same questions of the login policy, so they are answered
//! here once: a client is never shown a capability that would then be refused, and is never
//! refused one it was shown.

use super::output::OutputQueue;
use super::response;
use super::settings::Settings;
use crate::auth::Mechanism;

/// The login policy applied to one connection in its current TLS state.
#[derive(Clone, Copy)]
pub(super) struct Offer<'a> {
    settings: &'a Settings,
    tls_active: bool,
}

impl<'a> Offer<'a> {
    pub(super) fn new(settings: &'a Settings, tls_active: bool) -> Self {
        Offer {
            settings,
            tls_active,
        }
    }

    /// May USER/PASS be used?
    pub(super) fn user_pass(self) -> bool {
        self.settings
            .login_type
            .allows_cleartext_password(self.tls_active)
    }

    /// Can APOP succeed, so that the greeting should carry its timestamp?
    pub(super) fn apop(self) -> bool {
        self.settings.apop
            && self
                .settings
                .login_type
                .allows_challenge_response(self.tls_active)
    }

    /// May this SASL mechanism be used? Only mechanisms the account database can serve count.
    pub(super) fn mechanism(self, mechanism: Mechanism) -> bool {
        self.settings.sasl.contains(&mechanism)
            && self.refusal(mechanism.sends_cleartext()).is_none()
    }

    /// The SASL mechanisms that may be used, in configuration order.
    pub(super) fn mechanisms(self) -> impl Iterator<Item = Mechanism> + 'a {
        self.settings
            .sasl
            .iter()
            .copied()
            .filter(move |&m| self.mechanism(m))
    }

    /// May the client start TLS?
    pub(super) fn stls(self) -> bool {
        self.settings.stls_offered && !self.tls_active
    }

    /// Why a login of this kind is refused on this connection, as the `-ERR` text; `None` if
    /// it is allowed. `cleartext` is whether it sends the password itself.
    pub(super) fn refusal(self, cleartext: bool) -> Option<&'static str> {
        let policy = self.settings.login_type;
        if !policy.allows_any(self.tls_active) {
            Some(if self.stls() {
                response::TLS_REQUIRED_USE_STLS
            } else {
                response::TLS_REQUIRED
            })
        } else if cleartext && !policy.allows_cleartext_password(self.tls_active) {
            Some(response::CLEARTEXT_DISALLOWED)
        } else {
            None
        }
    }

    /// Queues the CAPA reply. `authorization`: the session is still in the AUTHORIZATION
    /// state, the only one where USER, SASL and STLS can be used.
    pub(super) fn write_capa(self, out: &mut OutputQueue, authorization: bool) {
        out.line(format_args!("+OK {}", response::CAPA_FOLLOWS));
        for fixed in [
            "CAPA",
            "TOP",
            "UIDL",
            "RESP-CODES",
            "AUTH-RESP-CODE",
            "PIPELINING",
        ] {
            out.line(fixed);
        }
        if authorization {
            if self.user_pass() {
                out.line("USER");
            }
            let mut sasl = String::new();
            for m in self.mechanisms() {
                sasl.push(' ');
                sasl.push_str(m.name());
            }
            if !sasl.is_empty() {
                out.line(format_args!("SASL{sasl}"));
            }
            if self.stls() {
                out.line("STLS");
            }
        }
        if let Some(expire) = &self.settings.expire {
            out.line(capa_line("EXPIRE", expire));
        }
        if let Some(delay) = self.settings.login_delay {
            out.line(format_args!("LOGIN-DELAY {delay}"));
        }
        if let Some(implementation) = &self.settings.implementation {
            out.line(capa_line("IMPLEMENTATION", implementation));
        }
        out.line(".");
    }
}

/// A capability line with a configured argument, made safe to send: one line of printable
/// ASCII, well within RFC 2449's 512-octet limit (sanitizing caps the length).
fn capa_line(tag: &str, argument: &str) -> String {
    format!("{tag} {}", response::sanitize(argument.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::LoginType;

    fn settings(login_type: LoginType) -> Settings {
        Settings {
            login_type,
            sasl: vec![Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5],
            apop: true,
            stls_offered: true,
            ..Settings::default()
        }
    }

    fn names(offer: Offer<'_>) -> Vec<&'static str> {
        offer.mechanisms().map(Mechanism::name).collect()
    }

    #[test]
    fn policy_matrix() {
        let plain = settings(LoginType::Plaintext);
        let login = settings(LoginType::PlaintextLogin);
        let secure = settings(LoginType::Secure);
        for tls in [false, true] {
            let o = Offer::new(&plain, tls);
            assert!(o.user_pass() && o.apop());
            assert_eq!(names(o), ["PLAIN", "LOGIN", "CRAM-MD5"]);
            assert_eq!(o.refusal(true), None);
        }
        let o = Offer::new(&login, false);
        assert!(!o.user_pass() && o.apop());
        assert_eq!(names(o), ["CRAM-MD5"]);
        assert_eq!(o.refusal(true), Some(response::CLEARTEXT_DISALLOWED));
        assert_eq!(o.refusal(false), None);
        let o = Offer::new(&secure, false);
        assert!(!o.user_pass() && !o.apop());
        assert!(names(o).is_empty());
        assert_eq!(o.refusal(false), Some(response::TLS_REQUIRED_USE_STLS));
        for s in [&login, &secure] {
            let o = Offer::new(s, true);
            assert!(o.user_pass() && o.apop() && !o.stls());
            assert_eq!(names(o), ["PLAIN", "LOGIN", "CRAM-MD5"]);
        }
        let no_stls = Settings {
            stls_offered: false,
            ..settings(LoginType::Secure)
        };
        assert_eq!(
            Offer::new(&no_stls, false).refusal(true),
            Some(response::TLS_REQUIRED)
        );
    }

    #[test]
    fn only_configured_mechanisms_are_offered() {
        let s = Settings {
            login_type: LoginType::Plaintext,
            sasl: vec![Mechanism::Login],
            ..Settings::default()
        };
        let o = Offer::new(&s, false);
        assert_eq!(names(o), ["LOGIN"]);
        assert!(!o.mechanism(Mechanism::Plain));
        assert!(!o.mechanism(Mechanism::CramMd5));
    }

    #[test]
    fn configured_values_cannot_break_the_list() {
        assert_eq!(capa_line("EXPIRE", "30\r\n."), "EXPIRE 30??.");
        // RFC 2449: at most 512 octets per capability line, CRLF included.
        assert!(capa_line("IMPLEMENTATION", &"x".repeat(5000)).len() <= 510);
    }
}
