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
//! mail-parser does the decoding (encoded words, base64, quoted-printable, charsets);
//! Date: fields are read by Dovecot's stricter grammar ([`sent_date`]).

use mail_parser::HeaderValue;
use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::parsers::MessageStream;
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

/// What Dovecot compares SENTBEFORE/SENTON/SENTSINCE with when a message has no Date:
/// field it can read: 1 January 1970, the zero timestamp. So SENTBEFORE finds such mail.
pub const SENT_DATE_UNKNOWN: (i32, u8, u8) = (1970, 1, 1);

/// The calendar date of the first Date: field in the sender's own time zone, or `None` when
/// Dovecot could not read it either (then use [`SENT_DATE_UNKNOWN`]).
///
/// Not mail-parser's date parser: it reads dates more leniently than Dovecot (it takes
/// `10:00:t` as a time), and a date Dovecot cannot read must count as unknown. The grammar
/// is Dovecot's: `[day ","] dd mon [yy]yy hh:mm[:ss]
/// [zone]`, comments allowed anywhere; an unknown zone counts as +0000. Out-of-range
/// fields roll over as in Dovecot's timestamp arithmetic (31 Feb is 3 Mar, hour 25 the
/// next day).
pub fn sent_date(message: &[u8]) -> Option<(i32, u8, u8)> {
    let end = super::parser::header_end(message);
    let field =
        Fields::new(message, 0..end).find(|f| f.name(message).eq_ignore_ascii_case(b"Date"))?;
    let value = field.value(message);
    dovecot_date(&value)
}

/// Dovecot's message_date_parse, down to the local calendar date.
fn dovecot_date(value: &[u8]) -> Option<(i32, u8, u8)> {
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let mut c = Cursor::new(value);
    c.skip_lwsp();
    let next = |c: &mut Cursor<'_>| -> Option<Vec<u8>> {
        let mut tok = Vec::new();
        if !c.at_end() && c.parse_atom(&mut tok) < 0 {
            return None;
        }
        Some(tok)
    };
    let digits = |t: &[u8]| t.iter().all(u8::is_ascii_digit);
    let num = |t: &[u8]| t.iter().fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'));
    let is_sep = |b: u8| b == b':' || b == b'.';

    let mut tok = next(&mut c)?;
    if tok.len() == 3 {
        if c.peek() != b',' {
            return None;
        }
        c.pos += 1;
        c.skip_lwsp();
        tok = next(&mut c)?;
    }
    if tok.is_empty() || tok.len() > 2 || !digits(&tok) {
        return None;
    }
    let day = num(&tok);
    let tok = next(&mut c)?;
    if tok.len() < 3 {
        return None;
    }
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(&tok[..3]))? as i64
        + 1;
    let tok = next(&mut c)?;
    if (tok.len() != 2 && tok.len() != 4) || !digits(&tok) {
        return None;
    }
    let mut year = num(&tok);
    if tok.len() == 2 {
        year += if year < 70 { 2000 } else { 1900 };
    } else if year < 1900 {
        return None;
    }
    let tok = next(&mut c)?;
    if tok.is_empty() || tok.len() > 2 || !digits(&tok) {
        return None;
    }
    let hour = num(&tok);
    if !is_sep(c.peek()) || c.at_end() {
        return None;
    }
    c.pos += 1;
    c.skip_lwsp();
    let tok = next(&mut c)?;
    if tok.len() != 2 || !digits(&tok) {
        return None;
    }
    let minute = num(&tok);
    let mut second = 0;
    if !c.at_end() && is_sep(c.peek()) {
        c.pos += 1;
        c.skip_lwsp();
        let tok = next(&mut c)?;
        if tok.len() != 2 || !digits(&tok) {
            return None;
        }
        second = num(&tok);
    }
    // The zone only has to be a token; the date is the sender's, so it is not applied.
    next(&mut c)?;
    let days = days_from_civil(year, month, 1) + day - 1;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    Some((i32::try_from(y).ok()?, m, d))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
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
