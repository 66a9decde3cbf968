//! The text of the server's replies, in one place.
//!
//! Clients act on the status indicator and the RFC 2449 response code only (`[AUTH]`,
//! `[IN-USE]`, `[LOGIN-DELAY]`, `[SYS/TEMP]`), but people read the rest in logs and mail-client
//! error boxes, so the wording follows Dovecot, which most users and admins already know.
//! Each constant is the text after `+OK ` or `-ERR `; the session adds the status indicator.
//! Anything that echoes client or runtime text goes through [`sanitize`] so a reply line can
//! never be split or lengthened by what it quotes.

pub(super) const GREETING: &str = "Postern ready.";
pub(super) const CAPA_FOLLOWS: &str = "Capability list follows";
pub(super) const LOGGED_IN: &str = "Logged in.";
pub(super) const LOGGING_OUT: &str = "Logging out.";
pub(super) const LOGGING_OUT_DELETED: &str = "Logging out, messages deleted.";
pub(super) const MARKED_DELETED: &str = "Marked to be deleted.";
pub(super) const BEGIN_TLS: &str = "Begin TLS negotiation now.";

pub(super) const AUTH_FAILED: &str = "[AUTH] Authentication failed.";
pub(super) const ACCOUNT_NEEDS_TLS: &str =
    "[AUTH] This account must authenticate over TLS (or with APOP).";
pub(super) const ACCOUNT_DISABLED: &str = "[AUTH] POP3 access is disabled for this account.";
pub(super) const IN_USE: &str = "[IN-USE] Mailbox is locked by another POP3 session.";
pub(super) const TOO_MANY_SESSIONS: &str =
    "[IN-USE] Too many POP3 sessions of this account are open already.";
pub(super) const CLEARTEXT_DISALLOWED: &str =
    "[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.";
pub(super) const TLS_REQUIRED_USE_STLS: &str =
    "[AUTH] Authentication requires TLS: use STLS or port 995.";
pub(super) const TLS_REQUIRED: &str = "[AUTH] Authentication requires TLS: use port 995.";
pub(super) const NO_USERNAME: &str = "No username given.";
pub(super) const APOP_UNAVAILABLE: &str = "APOP is not available.";
pub(super) const UNSUPPORTED_MECHANISM: &str = "Unsupported authentication mechanism.";
pub(super) const AUTH_CANCELLED: &str = "Authentication cancelled.";
pub(super) const ALREADY_LOGGED_IN: &str = "Already logged in.";
pub(super) const TLS_ALREADY_ACTIVE: &str = "TLS is already active.";
pub(super) const STLS_UNAVAILABLE: &str = "STLS is not available.";
pub(super) const MESSAGE_DELETED: &str = "Message is deleted.";
pub(super) const LINE_TOO_LONG: &str = "Line too long.";
pub(super) const TOO_MANY_BAD_COMMANDS: &str = "Too many bad commands.";
pub(super) const IDLE_TIMEOUT: &str = "Disconnected for inactivity.";
pub(super) const SHUTTING_DOWN: &str = "[SYS/TEMP] Server shutting down.";
pub(super) const KICKED: &str = "[SYS/TEMP] Disconnected by the administrator.";

/// Longest quoted piece of client or runtime text.
const MAX_QUOTE: usize = 200;

pub(super) fn login_delay(seconds: u32) -> String {
    format!("[LOGIN-DELAY] Logging in too often: wait {seconds} seconds between logins.")
}

pub(super) fn temporary_failure(reason: &str) -> String {
    if reason.trim().is_empty() {
        "[SYS/TEMP] Temporary server failure, try again later.".to_owned()
    } else {
        format!("[SYS/TEMP] {}", sanitize(reason.as_bytes()))
    }
}

/// A route source's refusal (proxy mode), shown as the source worded it.
pub(super) fn rejected(text: &str) -> String {
    format!("[AUTH] {}", sanitize(text.as_bytes()))
}

/// A backend's refusal with its own response code (proxy mode), passed on.
pub(super) fn refused(answer: &str) -> String {
    sanitize(answer.as_bytes())
}

pub(super) fn unreadable_message(number: usize, reason: &str) -> String {
    format!(
        "[SYS/TEMP] Could not read message {number}: {}",
        sanitize(reason.as_bytes())
    )
}

pub(super) fn commit_failed(reason: &str) -> String {
    format!(
        "[SYS/TEMP] Some deleted messages were not removed: {}",
        sanitize(reason.as_bytes())
    )
}

pub(super) fn malformed_sasl(why: &str) -> String {
    format!("Malformed authentication response: {why}")
}

pub(super) fn needs_login(command: &str) -> String {
    format!("{command} is not allowed before login.")
}

pub(super) fn no_such_message(number: &str) -> String {
    format!("There's no message {}.", sanitize(number.as_bytes()))
}

/// Makes foreign text safe to put inside a reply line (see [`crate::quote`]).
pub(super) fn sanitize(text: &[u8]) -> String {
    crate::quote::quote(text, MAX_QUOTE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_lines_whole() {
        assert_eq!(sanitize(b"disk\r\nfull\0\xff"), "disk??full??");
        assert_eq!(sanitize("é".as_bytes()), "??");
        let long = sanitize(&[b'x'; 1000]);
        assert_eq!(long.len(), MAX_QUOTE + 3);
        assert!(long.ends_with("..."));
    }

    #[test]
    fn texts_carry_their_response_codes() {
        assert_eq!(
            temporary_failure(""),
            "[SYS/TEMP] Temporary server failure, try again later."
        );
        assert_eq!(temporary_failure("db down\r\n"), "[SYS/TEMP] db down??");
        assert!(login_delay(300).starts_with("[LOGIN-DELAY] "));
        assert!(login_delay(300).contains("300"));
        assert_eq!(no_such_message("99"), "There's no message 99.");
    }
}
