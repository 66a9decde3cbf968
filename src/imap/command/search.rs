//! SEARCH criteria (RFC 3501 section 6.4.4).

use super::{Date, SequenceSet};

/// One search key. Strings are bytes in the command's CHARSET (US-ASCII when none was named).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    All,
    Answered,
    Bcc(Vec<u8>),
    Before(Date),
    Body(Vec<u8>),
    Cc(Vec<u8>),
    Deleted,
    Draft,
    Flagged,
    From(Vec<u8>),
    /// `HEADER field-name string`.
    Header(Vec<u8>, Vec<u8>),
    Keyword(String),
    Larger(u32),
    New,
    Not(Box<SearchKey>),
    Old,
    On(Date),
    Or(Box<SearchKey>, Box<SearchKey>),
    Recent,
    Seen,
    SentBefore(Date),
    SentOn(Date),
    SentSince(Date),
    Since(Date),
    Smaller(u32),
    Subject(Vec<u8>),
    Text(Vec<u8>),
    To(Vec<u8>),
    Uid(SequenceSet),
    Unanswered,
    Undeleted,
    Undraft,
    Unflagged,
    Unkeyword(String),
    Unseen,
    /// A bare message set: the messages with these sequence numbers.
    SequenceSet(SequenceSet),
    /// A parenthesised list: all of the keys.
    And(Vec<SearchKey>),
}
