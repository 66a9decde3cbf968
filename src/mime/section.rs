//! `BODY[section]` (RFC 3501 section 6.4.5): which bytes a section names, and the
//! HEADER.FIELDS filter.
//!
//! Part numbers are resolved the way Dovecot resolves them: a multipart's parts are
//! numbered from 1; any other part has only part 1, itself, and only a message/rfc822 part
//! can be looked into further, its number then standing for the message inside. HEADER,
//! HEADER.FIELDS and TEXT of a numbered part are those of the message inside a
//! message/rfc822 part; MIME is the part's own header. What does not exist is empty.
//!
//! HEADER.FIELDS returns the matching fields whole (continuation lines included) in the
//! order of the message, then an empty line (see [`header_fields`] for when Dovecot leaves
//! it out). An index may keep only some fields
//! ([`select_header_lines`]) and answer requests from those: the filter gives the same
//! bytes for the kept lines as for the whole header, as long as every requested name was
//! kept.

use std::ops::Range;

use super::header::Fields;
use super::tree::{Kind, PartTree};

/// The text part of a section specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionText<'a> {
    /// `BODY[]` or `BODY[1.2]`.
    Full,
    Header,
    HeaderFields {
        names: &'a [Vec<u8>],
        not: bool,
    },
    Text,
    Mime,
}

/// The bytes of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionBytes {
    /// A range of the stored message; the caller converts bare LF to CR LF when sending.
    Stored(Range<usize>),
    /// Bytes already in wire form (e.g. HEADER.FIELDS results).
    Owned(Vec<u8>),
}

/// `BODY[<part>.<text>]`: for example `part = []`, `text = Header` for `BODY[HEADER]`, or
/// `part = [1, 2]`, `text = Mime` for `BODY[1.2.MIME]`. A part that does not exist gives
/// an empty string, as Dovecot does. Ranges are clamped to the message, so a tree that does
/// not belong to `message` gives wrong bytes but never a panic.
pub fn section(
    message: &[u8],
    parts: &PartTree,
    part: &[u32],
    text: SectionText<'_>,
) -> SectionBytes {
    let clamp = |r: Range<usize>| {
        let end = r.end.min(message.len());
        r.start.min(end)..end
    };
    let Some(node) = find(parts, part) else {
        return SectionBytes::Owned(Vec::new());
    };
    let n = &parts.nodes[node];
    // HEADER, HEADER.FIELDS and TEXT of a numbered part are those of the message in it.
    let message_node = if part.is_empty() {
        Some(node)
    } else if n.kind == Kind::Message {
        n.children.first().copied()
    } else {
        None
    };
    match text {
        SectionText::Full => SectionBytes::Stored(clamp(n.body_start.min(n.end)..n.end)),
        SectionText::Mime => SectionBytes::Stored(clamp(n.header())),
        SectionText::Header => match message_node {
            Some(m) => SectionBytes::Stored(clamp(parts.nodes[m].header())),
            None => SectionBytes::Owned(Vec::new()),
        },
        SectionText::Text => match message_node {
            Some(m) => SectionBytes::Stored(clamp(parts.nodes[m].body())),
            None => SectionBytes::Owned(Vec::new()),
        },
        SectionText::HeaderFields { names, not } => match message_node {
            // Dovecot filters from the start of the header to the first empty line, even
            // past the end of a header that a boundary cut short.
            Some(m) => {
                let mut out = Vec::new();
                filter(
                    &message[clamp(parts.nodes[m].header_start..message.len())],
                    names,
                    not,
                    // Only the message's own HEADER.FIELDS gets an empty line it lacks.
                    !not && part.is_empty(),
                    &mut out,
                );
                SectionBytes::Owned(out)
            }
            None => SectionBytes::Owned(Vec::new()),
        },
    }
}

/// The node a part number names, `None` when there is none.
fn find(parts: &PartTree, part: &[u32]) -> Option<usize> {
    let mut node = 0;
    for (i, &num) in part.iter().enumerate() {
        let more = i + 1 < part.len();
        let n = &parts.nodes[node];
        if n.kind == Kind::Multipart {
            let idx = usize::try_from(num).ok()?.checked_sub(1)?;
            node = *n.children.get(idx)?;
        } else if num != 1 || (more && n.kind != Kind::Message) {
            return None;
        }
        let n = &parts.nodes[node];
        if more && n.kind == Kind::Message {
            node = *n.children.first()?;
        }
    }
    Some(node)
}

/// The fields of `header_block` named (`not == false`) or not named (`not == true`) in
/// `names`, compared without regard to ASCII case, in their original order and whole, in
/// wire form, followed by an empty line, as Dovecot answers `BODY[HEADER.FIELDS (...)]` of
/// a message. HEADER.FIELDS.NOT (`not == true`) is followed by one only when `header_block`
/// ends with one: Dovecot answers it (and the fields of a message inside a message/rfc822
/// part) with a filter that keeps the header's own empty line, or its lack of one, while
/// the message's HEADER.FIELDS come from its header cache, which always adds one.
pub fn header_fields(header_block: &[u8], names: &[Vec<u8>], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    header_fields_into(header_block, names, not, &mut out);
    out
}

/// [`header_fields`], appended to `out`: a FETCH of many messages reuses one buffer.
pub fn header_fields_into(header_block: &[u8], names: &[Vec<u8>], not: bool, out: &mut Vec<u8>) {
    filter(header_block, names, not, !not, out)
}

/// The HEADER.FIELDS filter; `add_missing_eoh` ends the result with an empty line even
/// when `header_block` has none.
fn filter(
    header_block: &[u8],
    names: &[Vec<u8>],
    not: bool,
    add_missing_eoh: bool,
    out: &mut Vec<u8>,
) {
    let mut fields = Fields::new(header_block, 0..header_block.len());
    for f in fields.by_ref() {
        let name = f.name(header_block);
        let listed = names.iter().any(|n| n.eq_ignore_ascii_case(name));
        if listed != not {
            crate::wire::extend(out, f.raw(header_block));
        }
    }
    if add_missing_eoh || fields.eoh().is_some() {
        out.extend_from_slice(b"\r\n");
    }
}

/// The raw lines (as stored) of the message header's fields named in `names`, in original
/// order: what an index keeps to answer HEADER.FIELDS without reading the message.
pub fn select_header_lines(message: &[u8], names: &[&str]) -> Vec<u8> {
    let header_end = super::parser::header_end(message);
    let mut out = Vec::new();
    for f in Fields::new(message, 0..header_end) {
        let name = f.name(message);
        if names
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
        {
            out.extend_from_slice(f.raw(message));
        }
    }
    out
}
