//! What a connection offers right now, and the CAPABILITY list that announces it.
//!
//! The greeting, the CAPABILITY command, the `[CAPABILITY ...]` code after login and the
//! refusals of LOGIN and AUTHENTICATE all ask the same questions of the login policy, so they
//! are answered here once: a client is never shown a mechanism that would then be refused,
//! and is never refused one it was shown. Only finished extensions are listed.

use crate::auth::Mechanism;
use crate::imap::NonSyncLiterals;
use crate::imap::settings::Settings;

/// Extensions offered after login, whatever the connection.
const AUTHENTICATED: &[&str] = &[
    "IDLE",
    "NAMESPACE",
    "UIDPLUS",
    "MOVE",
    "UNSELECT",
    "CHILDREN",
    "SPECIAL-USE",
];

/// The login policy applied to one connection in its current TLS state.
#[derive(Clone, Copy)]
pub(crate) struct Offer<'a> {
    settings: &'a Settings,
    tls_active: bool,
}

/// Why a login is refused, before any password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Nothing at all before TLS (`secure`); the text says how to get TLS.
    TlsRequired,
    /// The password may not cross in clear here (`plaintext-login` without TLS).
    Cleartext,
    /// The mechanism is not one the server offers.
    Unsupported,
}

impl<'a> Offer<'a> {
    pub(crate) fn new(settings: &'a Settings, tls_active: bool) -> Self {
        Offer {
            settings,
            tls_active,
        }
    }

    /// May the client start TLS?
    pub(crate) fn starttls(self) -> bool {
        self.settings.starttls_offered && !self.tls_active
    }

    /// Why the LOGIN command is refused, if it is.
    pub(crate) fn login(self) -> Option<Refusal> {
        self.refusal(true)
    }

    /// Why this mechanism is refused, if it is.
    pub(crate) fn mechanism(self, mechanism: Mechanism) -> Option<Refusal> {
        if !self.settings.sasl.contains(&mechanism) {
            return Some(Refusal::Unsupported);
        }
        self.refusal(mechanism.sends_cleartext())
    }

    fn refusal(self, cleartext: bool) -> Option<Refusal> {
        let policy = self.settings.login_type;
        if !policy.allows_any(self.tls_active) {
            Some(Refusal::TlsRequired)
        } else if cleartext && !policy.allows_cleartext_password(self.tls_active) {
            Some(Refusal::Cleartext)
        } else {
            None
        }
    }

    /// The capability list, space-separated, without the `CAPABILITY` keyword.
    pub(crate) fn capabilities(self, authenticated: bool) -> String {
        let mut caps = vec!["IMAP4rev1"];
        match self.settings.limits.non_sync {
            NonSyncLiterals::Plus => caps.push("LITERAL+"),
            NonSyncLiterals::Minus => caps.push("LITERAL-"),
            NonSyncLiterals::Refused => {}
        }
        caps.extend(["SASL-IR", "ID", "ENABLE"]);
        if authenticated {
            caps.extend_from_slice(AUTHENTICATED);
        } else {
            // Clients that read only the pre-login list still learn about IDLE, as from
            // Dovecot; the rest is announced with the login's OK.
            caps.push("IDLE");
            if self.starttls() {
                caps.push("STARTTLS");
            }
            if self.login().is_some() {
                caps.push("LOGINDISABLED");
            }
        }
        let mut out = caps.join(" ");
        if !authenticated {
            for mechanism in &self.settings.sasl {
                if self.mechanism(*mechanism).is_none() {
                    out.push_str(" AUTH=");
                    out.push_str(mechanism.name());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::LoginType;

    fn settings(login_type: LoginType, starttls: bool) -> Settings {
        Settings {
            login_type,
            starttls_offered: starttls,
            sasl: vec![Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5],
            ..Settings::default()
        }
    }

    #[test]
    fn secure_offers_nothing_before_tls() {
        let s = settings(LoginType::Secure, true);
        let caps = Offer::new(&s, false).capabilities(false);
        assert_eq!(
            caps,
            "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE STARTTLS LOGINDISABLED"
        );
        let caps = Offer::new(&s, true).capabilities(false);
        assert_eq!(
            caps,
            "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5"
        );
        assert_eq!(Offer::new(&s, false).login(), Some(Refusal::TlsRequired));
        assert_eq!(
            Offer::new(&s, false).mechanism(Mechanism::CramMd5),
            Some(Refusal::TlsRequired)
        );
    }

    #[test]
    fn plaintext_login_allows_only_challenge_response_in_clear() {
        let s = settings(LoginType::PlaintextLogin, true);
        let offer = Offer::new(&s, false);
        assert_eq!(
            offer.capabilities(false),
            "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE STARTTLS LOGINDISABLED AUTH=CRAM-MD5"
        );
        assert_eq!(offer.login(), Some(Refusal::Cleartext));
        assert_eq!(offer.mechanism(Mechanism::Plain), Some(Refusal::Cleartext));
        assert_eq!(offer.mechanism(Mechanism::CramMd5), None);
    }

    #[test]
    fn plaintext_allows_everything_and_unknown_mechanisms_are_refused() {
        let mut s = settings(LoginType::Plaintext, false);
        s.sasl = vec![Mechanism::Plain];
        let offer = Offer::new(&s, false);
        assert_eq!(
            offer.capabilities(false),
            "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE AUTH=PLAIN"
        );
        assert_eq!(offer.login(), None);
        assert_eq!(
            offer.mechanism(Mechanism::Login),
            Some(Refusal::Unsupported)
        );
    }

    #[test]
    fn after_login_the_extensions() {
        let s = settings(LoginType::Secure, true);
        assert_eq!(
            Offer::new(&s, true).capabilities(true),
            "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT \
             CHILDREN SPECIAL-USE"
        );
    }
}
