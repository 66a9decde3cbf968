//! What BODYSTRUCTURE and ENVELOPE say about a part, read from its header fields.
//!
//! Dovecot's rules, several of them surprising and all visible to clients:
//! - the first Content-Type, Content-Transfer-Encoding, Content-ID, Content-Description,
//!   Content-MD5, Content-Language and Content-Location count; a later Content-Disposition
//!   replaces an earlier one that had no parameters;
//! - a part that is not MIME (no MIME-Version, no Content-Type, not inside a multipart)
//!   loses all its Content-* fields, so `Content-Transfer-Encoding: 8bit` alone reads as 7bit;
//! - a broken Content-Type keeps the type it managed to read but no parameters;
//! - a Content-Transfer-Encoding that is not one clean token is ignored;
//! - a NUL in a string value becomes U+FFFD;
//! - in an envelope the *last* Date, Subject, Message-ID and In-Reply-To count, while
//!   repeated address fields add up.

use super::address::{self, Address};
use super::header::Field;
use super::parser::{IS_MIME, Part, RFC822};
use super::rfc822::{Cursor, c_str, replace_nuls};

pub(crate) type Params = Vec<(Vec<u8>, Vec<u8>)>;

#[derive(Debug, Default, Clone)]
pub(crate) struct PartData {
    pub content_type: Option<Vec<u8>>,
    pub content_subtype: Option<Vec<u8>>,
    pub type_params: Params,
    pub transfer_encoding: Option<Vec<u8>>,
    pub id: Option<Vec<u8>>,
    pub description: Option<Vec<u8>>,
    pub md5: Option<Vec<u8>>,
    pub disposition: Option<Vec<u8>>,
    pub disposition_params: Params,
    pub language: Option<Vec<Vec<u8>>>,
    pub location: Option<Vec<u8>>,
}

/// Envelope fields as Dovecot keeps them: strings raw, addresses parsed.
#[derive(Debug, Default, Clone)]
pub(crate) struct Envelope {
    pub date: Option<Vec<u8>>,
    pub subject: Option<Vec<u8>>,
    pub from: Option<Vec<Address>>,
    pub sender: Option<Vec<Address>>,
    pub reply_to: Option<Vec<Address>>,
    pub to: Option<Vec<Address>>,
    pub cc: Option<Vec<Address>>,
    pub bcc: Option<Vec<Address>>,
    pub in_reply_to: Option<Vec<u8>>,
    pub message_id: Option<Vec<u8>>,
}

/// The Content-* data of `part`.
pub(crate) fn part_data(msg: &[u8], parts: &[Part], part: usize) -> PartData {
    let p = &parts[part];
    let mut d = PartData::default();
    if p.flags & IS_MIME == 0 {
        return d;
    }
    for f in &p.fields {
        let name = f.name(msg);
        if name.len() < 8 || !name[..8].eq_ignore_ascii_case(b"Content-") {
            continue;
        }
        content_field(&mut d, msg, f);
    }
    d
}

fn content_field(d: &mut PartData, msg: &[u8], f: &Field) {
    let name = c_str(f.name(msg));
    let rest = &name[8.min(name.len())..];
    let is = |n: &[u8]| rest.eq_ignore_ascii_case(n);
    let wanted = (is(b"ID") && d.id.is_none())
        || (is(b"MD5") && d.md5.is_none())
        || (is(b"Type") && d.content_type.is_none())
        || (is(b"Transfer-Encoding") && d.transfer_encoding.is_none())
        || (is(b"Language") && d.language.is_none())
        || (is(b"Location") && d.location.is_none())
        || (is(b"Description") && d.description.is_none())
        || (is(b"Disposition") && d.disposition_params.is_empty());
    if !wanted {
        return;
    }
    let value = f.value(msg);
    if is(b"ID") {
        if d.id.is_none() {
            d.id = Some(replace_nuls(&value));
        }
    } else if is(b"MD5") {
        if d.md5.is_none() {
            d.md5 = Some(replace_nuls(&value));
        }
    } else if is(b"Type") {
        if d.content_type.is_none() {
            content_type(d, &value);
        }
    } else if is(b"Transfer-Encoding") {
        if d.transfer_encoding.is_none() {
            let mut c = Cursor::new(&value);
            c.skip_lwsp();
            let mut tok = Vec::new();
            if c.parse_mime_token(&mut tok) >= 0 && c.skip_lwsp() == 0 && !tok.is_empty() {
                d.transfer_encoding = Some(c_str(&tok).to_vec());
            }
        }
    } else if is(b"Language") {
        if d.language.is_none() {
            let mut c = Cursor::new(&value);
            let mut langs = Vec::new();
            c.skip_lwsp();
            loop {
                let mut atom = Vec::new();
                if c.parse_atom(&mut atom) < 0 {
                    break;
                }
                langs.push(c_str(&atom).to_vec());
                if c.at_end() || c.peek() != b',' {
                    break;
                }
                c.pos += 1;
                c.skip_lwsp();
            }
            if !langs.is_empty() {
                d.language = Some(langs);
            }
        }
    } else if is(b"Location") {
        if d.location.is_none() {
            d.location = Some(replace_nuls(&value));
        }
    } else if is(b"Description") {
        if d.description.is_none() {
            d.description = Some(replace_nuls(&value));
        }
    } else if is(b"Disposition") && d.disposition_params.is_empty() {
        let mut c = Cursor::new(&value);
        c.skip_lwsp();
        let mut tok = Vec::new();
        if c.parse_mime_token(&mut tok) >= 0 {
            d.disposition = Some(c_str(&tok).to_vec());
            d.disposition_params = c.parse_params();
        }
    }
}

fn content_type(d: &mut PartData, value: &[u8]) {
    let mut c = Cursor::new(value);
    c.skip_lwsp();
    let mut s = Vec::new();
    let ret = c.parse_content_type(&mut s);
    let s = c_str(&s);
    match memchr::memchr(b'/', s) {
        Some(i) => {
            d.content_type = Some(s[..i].to_vec());
            d.content_subtype = Some(s[i + 1..].to_vec());
        }
        None => {
            d.content_type = Some(s.to_vec());
            d.content_subtype = Some(Vec::new());
        }
    }
    if ret >= 0 {
        d.type_params = c.parse_params();
    }
}

/// The envelope of the message whose header is `part`'s.
pub(crate) fn envelope(msg: &[u8], part: &Part) -> Option<Envelope> {
    if part.fields.is_empty() {
        return None;
    }
    let mut e = Envelope::default();
    for f in &part.fields {
        let name = c_str(f.name(msg));
        if name.len() > 11 {
            continue;
        }
        let lower = name.to_ascii_lowercase();
        let string = |e: &mut Option<Vec<u8>>| *e = Some(replace_nuls(&f.value(msg)));
        // Repeated address fields add up. An empty list is no list: a Sender: with nothing
        // in it still falls back to From.
        let addrs = |e: &mut Option<Vec<Address>>| {
            let list = address::parse(&f.value(msg));
            if !list.is_empty() {
                e.get_or_insert_with(Vec::new).extend(list);
            }
        };
        match lower.as_slice() {
            b"date" => string(&mut e.date),
            b"subject" => string(&mut e.subject),
            b"message-id" => string(&mut e.message_id),
            b"in-reply-to" => string(&mut e.in_reply_to),
            b"from" => addrs(&mut e.from),
            b"sender" => addrs(&mut e.sender),
            b"reply-to" => addrs(&mut e.reply_to),
            b"to" => addrs(&mut e.to),
            b"cc" => addrs(&mut e.cc),
            b"bcc" => addrs(&mut e.bcc),
            _ => {}
        }
    }
    Some(e)
}

/// Whether `part` is shown as message/rfc822 (with envelope and inner structure).
pub(crate) fn is_rfc822(part: &Part) -> bool {
    part.flags & RFC822 != 0 && part.children.len() == 1
}
