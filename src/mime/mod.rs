//! Message analysis for IMAP FETCH and SEARCH: ENVELOPE, BODY, BODYSTRUCTURE, the byte
//! ranges behind `BODY[section]`, and the decoded text that SEARCH looks in.
//!
//! The yardstick is Dovecot 2.3: Postern serves mailboxes side by side with it, clients
//! cache BODYSTRUCTURE and fetch parts by number, and so every answer here must be the one
//! Dovecot gives, byte for byte, for well-formed and malformed mail alike
//! (`tests/dovecot_mime.rs` checks the whole shared corpus against a real Dovecot).
//!
//! Messages are taken as stored: lines may end in CR LF, bare LF or a mixture. Every size and
//! line count reported is the wire figure (each bare LF counted as CR LF), which is what
//! Dovecot reports as the "virtual" size; byte ranges ([`SectionBytes::Stored`]) are into
//! the stored bytes and the caller converts line ends as it sends them.
//!
//! Where this departs from mail-parser, and why:
//! - **Part boundaries** ([`parser`]): mail-parser's offsets and its repairs of broken
//!   multiparts differ from Dovecot's (where a part ends, which newline belongs to a
//!   boundary, what happens when a header is cut short by a boundary, nesting limits), and
//!   part numbers and sizes must be Dovecot's, so the structure is computed here.
//! - **Content-* parameters and addresses** ([`rfc822`], [`address`]): ENVELOPE and
//!   BODYSTRUCTURE show raw, undecoded text (encoded words stay encoded, RFC 2231
//!   continuations are merged but not decoded), including Dovecot's placeholders for
//!   broken addresses; mail-parser decodes as it parses, so these have their own tokenizer.
//! - **Header lines** ([`header`]): the MIME parser must check for a boundary before each
//!   header line, so lines are read here, by Dovecot's rules for names and folding.
//!
//! - **Date:** ([`search::sent_date`]): mail-parser accepts dates Dovecot rejects, and a
//!   date Dovecot cannot read counts as 1 January 1970 in SENTBEFORE, so Dovecot's grammar
//!   is used.
//!
//! mail-parser does the decoding: RFC 2047 encoded words, transfer encodings and charsets
//! for SEARCH ([`search`]).

mod address;
mod bodystructure;
mod data;
mod envelope;
mod header;
mod outline;
mod parser;
mod rfc822;
mod section;
mod tree;

pub mod search;

pub use outline::{Entity, decode_text, outline};
pub use section::{
    SectionBytes, SectionText, header_fields, header_fields_into, section, select_header_lines,
};
pub use tree::PartTree;

/// What FETCH needs of a message that does not change: computed once, cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// The parenthesised ENVELOPE list exactly as it follows `ENVELOPE ` in a FETCH response.
    pub envelope: Vec<u8>,
    /// FETCH BODY: the structure without extension data, parenthesised.
    pub body: Vec<u8>,
    /// FETCH BODYSTRUCTURE: with extension data, parenthesised.
    pub bodystructure: Vec<u8>,
    /// Where the parts are, for `BODY[section]`.
    pub parts: PartTree,
}

/// Analyses a message as stored. Total: any bytes give an answer, never a panic.
pub fn analyze(message: &[u8]) -> Analysis {
    let parts = parser::parse(message);
    let structure = bodystructure::Structure {
        parts: &parts,
        data: (0..parts.len())
            .map(|i| data::part_data(message, &parts, i))
            .collect(),
        envelopes: parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let is_message = i == 0
                    || p.parent
                        .is_some_and(|parent| data::is_rfc822(&parts[parent]));
                if is_message {
                    data::envelope(message, p)
                } else {
                    None
                }
            })
            .collect(),
    };
    let mut envelope = vec![b'('];
    envelope::write(&mut envelope, structure.envelopes[0].as_ref());
    envelope.push(b')');
    let mut body = vec![b'('];
    structure.write(&mut body, 0, false);
    body.push(b')');
    let mut bodystructure = vec![b'('];
    structure.write(&mut bodystructure, 0, true);
    bodystructure.push(b')');
    Analysis {
        envelope,
        body,
        bodystructure,
        parts: PartTree::from_parts(&parts),
    }
}

/// The wire size of stored bytes: every bare LF counts as CR LF (see [`crate::wire`]).
pub fn wire_len(bytes: &[u8]) -> u64 {
    crate::wire::len(bytes, 0..bytes.len())
}

/// `bytes` with every bare LF made CR LF (see [`crate::wire`]).
pub fn to_wire(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    crate::wire::extend(&mut out, bytes);
    out
}

#[cfg(test)]
mod tests;
