//! What went wrong with a command, and what the session answers for it.
//!
//! Every error leaves the session usable: the reader has already thrown away (or will skip, as
//! it arrives) the rest of the bad command, so the next command is read normally. The answers,
//! chosen once here so the session does not have to:
//!
//! | error | answer |
//! |---|---|
//! | syntax ([`ErrorKind::Bad`]) | `tag BAD <reason>` |
//! | command line over `max_line` | `tag BAD [LIMIT] Command line too long` |
//! | SEARCH nested over `max_depth` | `tag BAD [LIMIT] Command nested too deeply` |
//! | APPEND message over `max_append` | `tag NO [TOOBIG] Message too big` (RFC 7889) |
//! | non-synchronizing literal over 4096 octets under LITERAL- | `tag BAD [TOOBIG] ...` (RFC 7888 section 5, for APPEND too) |
//! | any other literal over `max_literal` or `max_command` | `tag BAD [TOOBIG] Literal too big` |
//!
//! `[LIMIT]` is RFC 9051's code for running into an implementation limit; `[TOOBIG]` is the
//! code RFC 4469 and RFC 7889 give to data over a size limit. Where no tag could be read
//! (an empty line, garbage where the tag should be, an over-long line without one), the answer
//! is untagged: `* BAD ...`, as in RFC 9051 section 7.1.3.

/// A command that was refused, with its tag when one was read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct Error {
    pub tag: Option<String>,
    pub kind: ErrorKind,
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("{0}")]
    Bad(#[from] Syntax),
    #[error("Command line too long")]
    LineTooLong,
    #[error("Command nested too deeply")]
    TooDeep,
    /// A literal over a limit. `size` is the announced length (saturated at `u64::MAX`);
    /// `message` marks the APPEND message; `literal_minus` marks a non-synchronizing literal
    /// over LITERAL-'s 4096 octets, which RFC 7888 answers with BAD even in APPEND.
    #[error("{}", if *message && !*literal_minus { "Message too big" } else { "Literal too big" })]
    TooBig {
        size: u64,
        limit: u64,
        message: bool,
        literal_minus: bool,
    },
}

/// The syntax errors, each displayed as the text of its BAD answer. Texts that quote the
/// client are sanitised and cut short when the error is made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Syntax {
    #[error("Empty command line")]
    EmptyLine,
    #[error("Command contains a NUL byte")]
    Nul,
    #[error("Invalid tag")]
    InvalidTag,
    #[error("Missing command name")]
    MissingCommand,
    #[error("Unknown command: {0}")]
    UnknownCommand(String),
    #[error("Expected {0}")]
    Expected(&'static str),
    #[error("Unexpected characters after {0}")]
    Trailing(&'static str),
    #[error("Number out of range")]
    NumberTooBig,
    #[error("Message numbers start at 1")]
    Zero,
    #[error("Invalid date")]
    InvalidDate,
    #[error("Mailbox name is not valid modified UTF-7")]
    Mutf7,
    #[error("Unterminated quoted string")]
    UnterminatedQuote,
    #[error("Invalid escape in quoted string")]
    InvalidEscape,
    #[error("Invalid base64 data")]
    Base64,
    #[error("Literal data missing")]
    MissingLiteralData,
    #[error("Non-synchronizing literals are not supported")]
    NonSyncLiteral,
    #[error("Unknown FETCH item: {0}")]
    UnknownFetchItem(String),
    #[error("Unknown SEARCH key: {0}")]
    UnknownSearchKey(String),
    #[error("Unknown STATUS item: {0}")]
    UnknownStatusItem(String),
}

/// The status of an error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Bad,
    No,
}

impl ErrorKind {
    pub fn status(&self) -> Status {
        match self {
            ErrorKind::TooBig {
                message: true,
                literal_minus: false,
                ..
            } => Status::No,
            _ => Status::Bad,
        }
    }

    /// The response code to put in brackets before the text.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            ErrorKind::Bad(_) => None,
            ErrorKind::LineTooLong | ErrorKind::TooDeep => Some("LIMIT"),
            ErrorKind::TooBig { .. } => Some("TOOBIG"),
        }
    }
}

impl Error {
    /// The whole response line, CRLF included: `a1 NO [TOOBIG] Message too big\r\n`.
    pub fn response(&self) -> String {
        let tag = self.tag.as_deref().unwrap_or("*");
        let status = match self.kind.status() {
            Status::Bad => "BAD",
            Status::No => "NO",
        };
        match self.kind.code() {
            Some(code) => format!("{tag} {status} [{code}] {}\r\n", self.kind),
            None => format!("{tag} {status} {}\r\n", self.kind),
        }
    }
}

/// Longest piece of client text quoted in an error: enough to recognise a typo, too short to
/// reflect a payload.
const MAX_QUOTED: usize = 24;

/// Client text made safe to quote in a response line (see [`crate::quote`]).
pub(crate) fn quote(bytes: &[u8]) -> String {
    crate::quote::quote(bytes, MAX_QUOTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(tag: Option<&str>, kind: ErrorKind) -> Error {
        Error {
            tag: tag.map(str::to_owned),
            kind,
        }
    }

    fn too_big(message: bool, literal_minus: bool) -> ErrorKind {
        ErrorKind::TooBig {
            size: 1 << 30,
            limit: 1 << 16,
            message,
            literal_minus,
        }
    }

    #[test]
    fn each_error_has_its_answer() {
        assert_eq!(
            error(Some("a1"), Syntax::Expected("SP").into()).response(),
            "a1 BAD Expected SP\r\n"
        );
        assert_eq!(
            error(None, Syntax::EmptyLine.into()).response(),
            "* BAD Empty command line\r\n"
        );
        assert_eq!(
            error(Some("t"), ErrorKind::LineTooLong).response(),
            "t BAD [LIMIT] Command line too long\r\n"
        );
        assert_eq!(
            error(Some("t"), ErrorKind::TooDeep).response(),
            "t BAD [LIMIT] Command nested too deeply\r\n"
        );
        assert_eq!(
            error(Some("t"), too_big(true, false)).response(),
            "t NO [TOOBIG] Message too big\r\n"
        );
        assert_eq!(
            error(Some("t"), too_big(true, true)).response(),
            "t BAD [TOOBIG] Literal too big\r\n"
        );
        assert_eq!(
            error(Some("t"), too_big(false, false)).response(),
            "t BAD [TOOBIG] Literal too big\r\n"
        );
    }

    #[test]
    fn quoted_client_text_cannot_break_the_line() {
        assert_eq!(quote(b"FOO\r\n* OK"), "FOO??* OK");
        assert_eq!(quote(b"\xff\x00"), "??");
        assert_eq!(
            quote(&[b'A'; 100]),
            format!("{}...", "A".repeat(MAX_QUOTED))
        );
    }
}
