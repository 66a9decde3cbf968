//! What a client presented to prove who it is, independent of the protocol that carried it.
//!
//! POP3 (USER/PASS, APOP, AUTH) and IMAP (LOGIN, AUTHENTICATE) all reduce to one of these three
//! shapes, so the [`Authenticator`](super::Authenticator) checks them in one place.

use std::fmt;

/// What the client proved. Built by protocol code.
#[derive(Clone)]
pub enum Credentials {
    /// USER/PASS, AUTH PLAIN, AUTH LOGIN, IMAP LOGIN. `authzid` is SASL PLAIN's authorization
    /// identity when the client sent a non-empty one.
    Password {
        authzid: Option<String>,
        user: String,
        password: String,
    },
    /// APOP (RFC 1939): `digest` is lowercase hex MD5(timestamp || secret); `timestamp`
    /// includes the angle brackets.
    Apop {
        user: String,
        timestamp: String,
        digest: String,
    },
    /// CRAM-MD5 (RFC 2195): `digest` is hex HMAC-MD5(key = secret, challenge).
    CramMd5 {
        user: String,
        challenge: String,
        digest: String,
    },
}

impl Credentials {
    /// The user name the client authenticated as.
    pub fn user(&self) -> &str {
        match self {
            Credentials::Password { user, .. }
            | Credentials::Apop { user, .. }
            | Credentials::CramMd5 { user, .. } => user,
        }
    }
}

impl fmt::Debug for Credentials {
    /// Passwords and digests are left out: a digest is enough for an offline guessing attack.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const REDACTED: &str = "<redacted>";
        match self {
            Credentials::Password { authzid, user, .. } => f
                .debug_struct("Password")
                .field("authzid", authzid)
                .field("user", user)
                .field("password", &REDACTED)
                .finish(),
            Credentials::Apop {
                user, timestamp, ..
            } => f
                .debug_struct("Apop")
                .field("user", user)
                .field("timestamp", timestamp)
                .field("digest", &REDACTED)
                .finish(),
            Credentials::CramMd5 {
                user, challenge, ..
            } => f
                .debug_struct("CramMd5")
                .field("user", user)
                .field("challenge", challenge)
                .field("digest", &REDACTED)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let all = [
            Credentials::Password {
                authzid: Some("admin".into()),
                user: "alice".into(),
                password: "hunter2".into(),
            },
            Credentials::Apop {
                user: "alice".into(),
                timestamp: "<1@x>".into(),
                digest: "hunter2".into(),
            },
            Credentials::CramMd5 {
                user: "alice".into(),
                challenge: "<1@x>".into(),
                digest: "hunter2".into(),
            },
        ];
        for creds in &all {
            let shown = format!("{creds:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(
                shown.contains("alice") && shown.contains("<redacted>"),
                "{shown}"
            );
            assert_eq!(creds.user(), "alice");
        }
    }
}
