//! FETCH data items (RFC 3501 section 6.4.5).

use std::num::NonZeroU32;

/// One data item to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItem {
    Envelope,
    Flags,
    InternalDate,
    /// `RFC822`: the whole message, like `BODY[]`, but sets `\Seen`.
    Rfc822,
    Rfc822Header,
    Rfc822Size,
    Rfc822Text,
    /// `BODY` without a section: the body structure without extension data.
    Body,
    BodyStructure,
    Uid,
    /// `BODY[section]<partial>` or, with `peek`, `BODY.PEEK[section]<partial>`, which leaves
    /// `\Seen` alone.
    BodySection {
        section: Section,
        partial: Option<Partial>,
        peek: bool,
    },
}

/// What `[...]` selects: a part (empty for the whole message) and what of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    /// Part numbers: `[1.2.TEXT]` is `[1, 2]`; `[]` and `[HEADER]` have none.
    pub part: Vec<NonZeroU32>,
    /// `None` for the whole part (`BODY[]`, `BODY[1.2]`).
    pub text: Option<SectionText>,
}

/// The part of a section after its part numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    Header,
    /// `HEADER.FIELDS (...)`, or with `not` `HEADER.FIELDS.NOT (...)`; the field names as sent.
    HeaderFields {
        not: bool,
        fields: Vec<Vec<u8>>,
    },
    Text,
    /// The MIME header of a part; only after part numbers.
    Mime,
}

/// `<offset.length>`: a byte range of the section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partial {
    pub offset: u32,
    pub length: NonZeroU32,
}

impl FetchItem {
    /// The items of the macros `ALL`, `FAST` and `FULL`.
    pub(crate) fn macro_items(name: &[u8]) -> Option<Vec<FetchItem>> {
        use FetchItem::{Body, Envelope, Flags, InternalDate, Rfc822Size};
        let items = if name.eq_ignore_ascii_case(b"ALL") {
            vec![Flags, InternalDate, Rfc822Size, Envelope]
        } else if name.eq_ignore_ascii_case(b"FAST") {
            vec![Flags, InternalDate, Rfc822Size]
        } else if name.eq_ignore_ascii_case(b"FULL") {
            vec![Flags, InternalDate, Rfc822Size, Envelope, Body]
        } else {
            return None;
        };
        Some(items)
    }
}
