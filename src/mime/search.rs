//! SEARCH over message text (RFC 3501 section 6.4.4): header fields, body text, both, and
//! the sent date.
//!
//! Matching follows Dovecot 2.3 without a full-text index: both the needle and the text are
//! normalized the way Dovecot's default normalizer does it (each character to its title
//! case, then decomposed, compatibility forms included), and the needle must occur as a
//! substring. So `ß` finds `ß`, `e` finds `é` (its decomposition starts with `E`), and case
//! never matters, in any script. A [`Needle`] is normalized once and used for every message.
//!
//! What is searched, as in Dovecot:
//! - a header key looks at every field of that name in the message header, its value with
//!   RFC 2047 encoded words decoded to UTF-8; an empty needle matches when the field exists;
//! - BODY looks at the body of every leaf part whose Content-Type is text/*, message/* or
//!   missing (messages inside message/rfc822 parts included), with the transfer encoding
//!   undone and the charset converted; a match never spans two parts;
//! - TEXT looks at every header of every part as well.
//!
//! mail-parser does the decoding (encoded words, base64, quoted-printable, charsets).

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::parsers::MessageStream;
use mail_parser::{DateTime, HeaderValue};
use unicode_normalization::UnicodeNormalization;

use super::PartTree;
use super::header::{Field, Fields};
use super::rfc822::Cursor;
use super::tree::Kind;

/// A search string, normalized once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needle {
    folded: String,
}

impl Needle {
    /// Prepares a UTF-8 needle (already converted from the client's CHARSET).
    pub fn new(text: &str) -> Needle {
        Needle {
            folded: normalize(text),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.folded.is_empty()
    }

    fn found_in(&self, haystack: &str) -> bool {
        memchr::memmem::find(normalize(haystack).as_bytes(), self.folded.as_bytes()).is_some()
    }
}

/// Dovecot's default normalizer: title case, then full decomposition.
pub fn normalize(text: &str) -> String {
    let titled: String = text.chars().map(titlecase).collect();
    titled.nfkd().collect()
}

/// The simple title-case mapping of a character. Rust has only upper and lower case; the
/// two differ from title case for the Latin digraphs (which have a title-case form of
/// their own) and for characters whose upper case is several characters (for which the
/// simple mapping keeps the character).
fn titlecase(c: char) -> char {
    match c {
        '\u{01C4}'..='\u{01C6}' => '\u{01C5}',
        '\u{01C7}'..='\u{01C9}' => '\u{01C8}',
        '\u{01CA}'..='\u{01CC}' => '\u{01CB}',
        '\u{01F1}'..='\u{01F3}' => '\u{01F2}',
        _ => {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        }
    }
}

/// Whether the message header has a field `name` whose decoded value contains `needle`.
pub fn header_contains(message: &[u8], name: &[u8], needle: &Needle) -> bool {
    let end = super::parser::header_end(message);
    Fields::new(message, 0..end)
        .filter(|f| f.name(message).eq_ignore_ascii_case(name))
        .any(|f| needle.is_empty() || needle.found_in(&decoded_value(message, &f)))
}

/// Whether the text of the message's body parts contains `needle`.
pub fn body_contains(message: &[u8], parts: &PartTree, needle: &Needle) -> bool {
    search_parts(message, parts, needle, false)
}

/// Whether any header or body text of the message contains `needle`.
pub fn text_contains(message: &[u8], parts: &PartTree, needle: &Needle) -> bool {
    search_parts(message, parts, needle, true)
}

/// The calendar date of the Date: field, in the sender's own time zone.
pub fn sent_date(message: &[u8]) -> Option<(i32, u8, u8)> {
    let end = super::parser::header_end(message);
    let field =
        Fields::new(message, 0..end).find(|f| f.name(message).eq_ignore_ascii_case(b"Date"))?;
    let value = field.value(message);
    let value = String::from_utf8_lossy(&value);
    let date = DateTime::parse_rfc822(value.trim())?;
    if !(1..=12).contains(&date.month) || !(1..=31).contains(&date.day) {
        return None;
    }
    Some((i32::from(date.year), date.month, date.day))
}

/// A field's value unfolded, with RFC 2047 encoded words decoded.
fn decoded_value(msg: &[u8], f: &Field) -> String {
    let mut value = f.value(msg);
    // mail-parser's unstructured parser reads up to the end of the field's line.
    value.push(b'\n');
    match MessageStream::new(&value).parse_unstructured() {
        HeaderValue::Text(t) => t.into_owned(),
        HeaderValue::TextList(l) => l.join(" "),
        _ => String::new(),
    }
}

fn search_parts(msg: &[u8], parts: &PartTree, needle: &Needle, headers: bool) -> bool {
    if needle.is_empty() {
        return true;
    }
    parts.nodes.iter().any(|n| {
        let header = n.header_start.min(msg.len())..n.body_start.min(msg.len());
        let mut text = String::new();
        if headers {
            for f in Fields::new(msg, header.clone()) {
                text.push_str(&String::from_utf8_lossy(f.name(msg)));
                text.push_str(": ");
                text.push_str(&decoded_value(msg, &f));
                text.push_str("\r\n");
            }
        }
        if n.kind == Kind::Leaf
            && let Some(body) = leaf_text(msg, header, n.body_start..n.end)
        {
            text.push_str(&body);
        }
        needle.found_in(&text)
    })
}

/// The decoded body of a leaf part, when its type is one that is searched.
fn leaf_text(
    msg: &[u8],
    header: std::ops::Range<usize>,
    body: std::ops::Range<usize>,
) -> Option<String> {
    let mut content_type = None;
    let mut charset = None;
    let mut encoding = None;
    for f in Fields::new(msg, header) {
        if content_type.is_none() && f.name_is(msg, b"Content-Type") {
            let value = f.value(msg);
            let mut c = Cursor::new(&value);
            c.skip_lwsp();
            let mut ct = Vec::new();
            c.parse_content_type(&mut ct);
            charset = c
                .parse_params()
                .into_iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(b"charset"))
                .map(|(_, v)| v);
            content_type = Some(ct);
        } else if encoding.is_none() && f.name_is(msg, b"Content-Transfer-Encoding") {
            let value = f.value(msg);
            encoding = Some(String::from_utf8_lossy(&value).trim().to_ascii_lowercase());
        }
    }
    if let Some(ct) = &content_type {
        let text = ct.len() >= 5 && ct[..5].eq_ignore_ascii_case(b"text/");
        let message = ct.len() >= 8 && ct[..8].eq_ignore_ascii_case(b"message/");
        if !text && !message {
            return None;
        }
    }
    let end = body.end.min(msg.len());
    let raw = &msg[body.start.min(end)..end];
    let decoded = match encoding.as_deref() {
        Some("base64") => base64_decode(raw).unwrap_or_default(),
        Some("quoted-printable") => quoted_printable_decode(raw).unwrap_or_else(|| raw.to_vec()),
        _ => raw.to_vec(),
    };
    let text = match charset.as_deref().and_then(charset_decoder) {
        Some(decode) => decode(&decoded),
        None => String::from_utf8_lossy(&decoded).into_owned(),
    };
    Some(text)
}
