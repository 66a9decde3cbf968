//! Client-access policy shared by every protocol: which login types exist and what each one
//! allows before and after TLS.
//!
//! The three login types follow Exchange's `LoginType` setting for POP3/IMAP. They are decided
//! here once, so the POP3 and IMAP state machines ask the same question ("may this mechanism be
//! used on this connection right now?") and can never disagree about it.

use serde::Deserialize;

/// How a protocol lets clients authenticate, per Exchange's POP3/IMAP `LoginType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LoginType {
    /// Passwords may cross the network in clear (USER/PASS, LOGIN, AUTH PLAIN without TLS).
    Plaintext,
    /// Only the user name may cross in clear: without TLS, only mechanisms that never reveal
    /// the password (APOP, CRAM-MD5) are offered.
    PlaintextLogin,
    /// No authentication of any kind before TLS.
    #[default]
    Secure,
}

impl LoginType {
    /// May a mechanism that sends the password itself (USER/PASS, PLAIN, LOGIN) be used?
    pub fn allows_cleartext_password(self, tls_active: bool) -> bool {
        tls_active || self == LoginType::Plaintext
    }

    /// May a challenge-response mechanism (APOP, CRAM-MD5) be used?
    ///
    /// Under `secure` nothing is allowed before TLS, not even challenge-response, so that a
    /// client never starts authenticating on an unprotected connection.
    pub fn allows_challenge_response(self, tls_active: bool) -> bool {
        tls_active || self != LoginType::Secure
    }

    /// Is any authentication possible on this connection right now?
    pub fn allows_any(self, tls_active: bool) -> bool {
        self.allows_challenge_response(tls_active)
    }

    /// The name used in configuration files and the account database.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginType::Plaintext => "plaintext",
            LoginType::PlaintextLogin => "plaintext-login",
            LoginType::Secure => "secure",
        }
    }

    /// Parses the configuration name of a login type.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "plaintext" => Some(LoginType::Plaintext),
            "plaintext-login" => Some(LoginType::PlaintextLogin),
            "secure" => Some(LoginType::Secure),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LoginType::*;

    #[test]
    fn matrix() {
        assert!(Plaintext.allows_cleartext_password(false));
        assert!(Plaintext.allows_challenge_response(false));
        assert!(!PlaintextLogin.allows_cleartext_password(false));
        assert!(PlaintextLogin.allows_challenge_response(false));
        assert!(PlaintextLogin.allows_cleartext_password(true));
        assert!(!Secure.allows_cleartext_password(false));
        assert!(!Secure.allows_challenge_response(false));
        assert!(!Secure.allows_any(false));
        assert!(Secure.allows_cleartext_password(true));
        assert!(Secure.allows_challenge_response(true));
    }
}
