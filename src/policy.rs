//! Client-access policy shared by every protocol: which login types exist and what each one
//! allows before and after TLS, and in which MIME form messages are handed out.
//!
//! The three login types follow Exchange's `LoginType` setting for POP3/IMAP. They are decided
//! here once, so the POP3 and IMAP state machines ask the same question ("may this mechanism be
//! used on this connection right now?") and can never disagree about it. The retrieval formats
//! follow Exchange's `MessagesRetrievalMimeFormat`; what each one does to a message is
//! [`crate::convert`]'s business, this is only the name of the choice.

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

/// The MIME form in which a protocol hands messages to clients (Exchange's
/// `MessagesRetrievalMimeFormat`), per protocol in the config and overridable per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RetrievalFormat {
    /// The message exactly as stored.
    #[default]
    Original,
    /// Only plain-text bodies: HTML alternatives are dropped, HTML-only bodies are converted.
    TextOnly,
    /// Only HTML bodies: text alternatives are dropped, text-only bodies become minimal HTML.
    HtmlOnly,
    /// Both: a body with only one of the two gains the other as a multipart/alternative.
    HtmlAndText,
    /// The richest body the message has, as stored: HTML where there is HTML, else text.
    Best,
}

impl RetrievalFormat {
    /// Every format, in the order documentation lists them.
    pub const ALL: [RetrievalFormat; 5] = [
        RetrievalFormat::Original,
        RetrievalFormat::TextOnly,
        RetrievalFormat::HtmlOnly,
        RetrievalFormat::HtmlAndText,
        RetrievalFormat::Best,
    ];

    /// The name used in configuration files and the account database.
    pub fn as_str(self) -> &'static str {
        match self {
            RetrievalFormat::Original => "original",
            RetrievalFormat::TextOnly => "text-only",
            RetrievalFormat::HtmlOnly => "html-only",
            RetrievalFormat::HtmlAndText => "html-and-text",
            RetrievalFormat::Best => "best",
        }
    }

    /// Parses the configuration name of a format.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

impl LoginType {
    /// The stricter of two login types: an account's own setting may tighten its protocol's,
    /// never loosen it, because what a server offers before login cannot depend on who is
    /// going to log in.
    pub fn stricter(self, other: LoginType) -> LoginType {
        fn rank(t: LoginType) -> u8 {
            match t {
                LoginType::Plaintext => 0,
                LoginType::PlaintextLogin => 1,
                LoginType::Secure => 2,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LoginType::*;
    use super::RetrievalFormat;

    #[test]
    fn format_names_round_trip() {
        for f in RetrievalFormat::ALL {
            assert_eq!(RetrievalFormat::parse(f.as_str()), Some(f));
        }
        assert_eq!(RetrievalFormat::parse("html"), None);
    }

    #[test]
    fn stricter_login_type() {
        assert_eq!(Plaintext.stricter(Secure), Secure);
        assert_eq!(Secure.stricter(Plaintext), Secure);
        assert_eq!(PlaintextLogin.stricter(Plaintext), PlaintextLogin);
    }

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
