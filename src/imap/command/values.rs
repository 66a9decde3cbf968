//! The small argument types shared by several commands.

use std::fmt;

use crate::imap::mutf7::{self, Mutf7Error};

/// A mailbox name in its wire form: modified UTF-7 (RFC 3501 section 5.1.3), already checked
/// to be well-formed, so it is printable ASCII. `INBOX` is case-insensitive and is stored
/// upper-cased whatever the client sent; every other name is kept exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox(String);

impl Mailbox {
    /// The name of the inbox as it is stored.
    pub const INBOX: &'static str = "INBOX";

    /// A mailbox from its modified UTF-7 wire form, checked; any spelling of `INBOX` is folded.
    pub fn new(name: impl Into<String>) -> Result<Self, Mutf7Error> {
        let name = name.into();
        mutf7::decode(&name)?;
        Ok(if name.eq_ignore_ascii_case(Self::INBOX) {
            Mailbox(Self::INBOX.to_owned())
        } else {
            Mailbox(name)
        })
    }

    /// The modified UTF-7 form, as the client sent it (`INBOX` folded).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_inbox(&self) -> bool {
        self.0 == Self::INBOX
    }

    /// The name as Unicode.
    pub fn decoded(&self) -> String {
        // Only names that decode are made.
        mutf7::decode(&self.0).unwrap_or_else(|_| self.0.clone())
    }
}

/// A message flag in APPEND and STORE. The system flags are recognised in any case; keywords
/// and other `\`-flags (such as `\Recent`, which a client may not set) keep their spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Flag {
    Answered,
    Flagged,
    Deleted,
    Seen,
    Draft,
    /// A keyword such as `$Forwarded` or `NonJunk`.
    Keyword(String),
    /// A `\`-flag that is not one of the five above, without its backslash.
    Extension(String),
}

/// How STORE changes the flags: `FLAGS`, `+FLAGS` or `-FLAGS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    Replace,
    Add,
    Remove,
}

/// A STATUS data item (RFC 3501 section 6.3.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
}

/// A calendar date (SEARCH BEFORE/ON/SINCE...), checked to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

/// An APPEND date-time: a date, a time of day and the zone it is given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub date: Date,
    pub hour: u8,
    pub minute: u8,
    /// 0 to 60: RFC 5322 allows a leap second.
    pub second: u8,
    /// Minutes east of UTC, from the `+hhmm`/`-hhmm` zone.
    pub zone_minutes: i16,
}

/// A credential: compared and used like its content, but never shown by `Debug`, so a logged
/// command does not leak a password.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(pub T);

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_is_folded_other_names_are_not() {
        let mailbox = |name: &str| Mailbox::new(name).unwrap();
        assert_eq!(mailbox("iNbOx").as_str(), "INBOX");
        assert!(mailbox("inbox").is_inbox());
        assert_eq!(mailbox("Inbox.Sub").as_str(), "Inbox.Sub");
        assert!(!mailbox("Sent").is_inbox());
        assert_eq!(mailbox("&ZeVnLIqe-").decoded(), "\u{65e5}\u{672c}\u{8a9e}");
        assert_eq!(Mailbox::new("caf\u{e9}"), Err(Mutf7Error::RawByte(0xc3)));
        assert_eq!(Mailbox::new("&Jjo!"), Err(Mutf7Error::Unterminated));
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let password = Secret(b"hunter2".to_vec());
        assert_eq!(format!("{password:?}"), "Secret(..)");
        assert_eq!(password, Secret(b"hunter2".to_vec()));
    }
}
