//! The bounds on what one client can make the reader hold or do, and which non-synchronizing
//! literals it accepts.
//!
//! Every byte the reader keeps is counted against one of these, so the memory a connection can
//! pin is `max_line + max_command` for an ordinary command plus `max_append` for a message
//! being appended, whatever the client announces or sends.

/// Non-synchronizing literals (`{n+}`, RFC 7888) accepted from the client; must match what
/// CAPABILITY advertises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonSyncLiterals {
    /// Neither LITERAL+ nor LITERAL- is advertised: a `{n+}` literal is answered with BAD (its
    /// bytes, which the client sends anyway, are skipped).
    Refused,
    /// LITERAL+: any size up to the literal limits.
    Plus,
    /// LITERAL-: at most [`LITERAL_MINUS_MAX`] octets; a larger one is answered with
    /// `BAD [TOOBIG]` and its bytes are skipped.
    Minus,
}

/// The largest non-synchronizing literal a LITERAL- server accepts (RFC 7888 section 5).
pub const LITERAL_MINUS_MAX: u64 = 4096;

/// Limits on client input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The longest command, literal data excluded: every line of it and their CRLFs together.
    /// RFC 7162 section 4 asks clients to stay near 8192 octets; a longer one is answered with
    /// `BAD [LIMIT]` and the rest of the command is thrown away as it arrives.
    pub max_line: usize,
    /// The largest literal anywhere but in the APPEND message (a LOGIN password, a SEARCH
    /// string, a mailbox name).
    pub max_literal: u64,
    /// The most bytes one command may occupy in the buffer, line and literal data together
    /// (the APPEND message excluded): bounds a command made of many literals.
    pub max_command: usize,
    /// The largest APPEND message (the APPENDLIMIT of RFC 7889). A larger one is answered with
    /// `NO [TOOBIG]`.
    pub max_append: u64,
    /// How deeply SEARCH keys may nest (parentheses, NOT and OR each count one level). The
    /// parser recurses per level, so this is what keeps a hostile line off the stack's end.
    pub max_depth: usize,
    pub non_sync: NonSyncLiterals,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 64 * 1024,
            max_literal: 64 * 1024,
            max_command: 1024 * 1024,
            max_append: 64 * 1024 * 1024,
            max_depth: 100,
            non_sync: NonSyncLiterals::Plus,
        }
    }
}
