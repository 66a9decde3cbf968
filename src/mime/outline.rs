//! [`outline`]: a message's MIME tree with what a rewriter needs of each part — where its
//! header fields and body lie in the stored bytes, its media type, charset, transfer
//! encoding and disposition — and [`decode_text`] to read a text part as UTF-8.
//!
//! It is the same parse as FETCH's (Dovecot's rules, [`super::parser`]), so a part the
//! converter keeps is exactly the byte range a client would fetch as `BODY[n]`, and the
//! defaults are Dovecot's: a part without Content-Type is text/plain (message/rfc822 inside
//! multipart/digest), and a part that is not MIME has no Content-* data at all.

use std::ops::Range;

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;

use super::data;
use super::parser::{DIGEST, MULTIPART};

/// One MIME part of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// The header block, including the empty line that ends it (when there is one).
    pub header: Range<usize>,
    pub body: Range<usize>,
    /// The raw lines of each header field (continuations included), in order.
    pub fields: Vec<Range<usize>>,
    /// Lower case; `text`/`plain` when the part says nothing.
    pub media_type: String,
    pub subtype: String,
    /// The `charset` parameter, lower case.
    pub charset: Option<String>,
    /// Content-Transfer-Encoding, lower case.
    pub transfer_encoding: Option<String>,
    /// Content-Disposition's token, lower case.
    pub disposition: Option<String>,
    /// A multipart, whose children are its parts.
    pub multipart: bool,
    /// A message/rfc822 part with the message inside as its one child.
    pub message: bool,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
}

impl Entity {
    /// The whole part: header and body.
    pub fn range(&self) -> Range<usize> {
        self.header.start..self.body.end
    }

    /// `type/subtype`.
    pub fn is(&self, media_type: &str, subtype: &str) -> bool {
        self.media_type == media_type && self.subtype == subtype
    }
}

fn lower(v: &Option<Vec<u8>>) -> Option<String> {
    v.as_ref()
        .map(|b| String::from_utf8_lossy(b).trim().to_ascii_lowercase())
}

/// The parts of `message`; index 0 is the message itself, children follow their parents.
/// Total: any bytes give an answer.
pub fn outline(message: &[u8]) -> Vec<Entity> {
    let parts = super::parser::parse(message);
    (0..parts.len())
        .map(|i| {
            let p = &parts[i];
            let d = data::part_data(message, &parts, i);
            let in_digest = p
                .parent
                .is_some_and(|parent| parts[parent].flags & DIGEST != 0);
            // A Content-Type that cannot be read is still not text/plain: nobody may take
            // `application-x-gzip` for text.
            let has_type = p.fields.iter().any(|f| f.name_is(message, b"Content-Type"))
                && p.flags & super::parser::IS_MIME != 0;
            let (media_type, subtype) = match (lower(&d.content_type), lower(&d.content_subtype)) {
                (Some(t), s) if !t.is_empty() => (t, s.unwrap_or_default()),
                _ if has_type => (String::new(), String::new()),
                _ if in_digest => ("message".to_owned(), "rfc822".to_owned()),
                _ => ("text".to_owned(), "plain".to_owned()),
            };
            let charset = d
                .type_params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(b"charset"))
                .map(|(_, v)| String::from_utf8_lossy(v).trim().to_ascii_lowercase());
            Entity {
                header: p.pos..p.body_start(),
                body: p.body_start()..p.end(),
                fields: p.fields.iter().map(|f| f.start..f.end).collect(),
                media_type,
                subtype,
                charset,
                transfer_encoding: lower(&d.transfer_encoding),
                disposition: lower(&d.disposition),
                multipart: p.flags & MULTIPART != 0,
                message: data::is_rfc822(p),
                parent: p.parent,
                children: p.children.clone(),
            }
        })
        .collect()
}

/// The body of a text part as UTF-8: transfer encoding undone, charset converted. An
/// unknown charset, or none, is read as UTF-8 when it is valid UTF-8 and as Windows-1252
/// (what mislabelled mail nearly always is) when not.
pub fn decode_text(message: &[u8], entity: &Entity) -> String {
    let end = entity.body.end.min(message.len());
    let raw = &message[entity.body.start.min(end)..end];
    let bytes = match entity.transfer_encoding.as_deref() {
        Some("base64") => base64_decode(raw).unwrap_or_default(),
        Some("quoted-printable") => quoted_printable_decode(raw).unwrap_or_else(|| raw.to_vec()),
        _ => raw.to_vec(),
    };
    if let Some(decode) = entity.charset.as_deref().and_then(|c| {
        // UTF-8 and ASCII are read below without a copy through a decoder.
        (!matches!(c, "utf-8" | "utf8" | "us-ascii"))
            .then(|| charset_decoder(c.as_bytes()))
            .flatten()
    }) {
        return decode(&bytes);
    }
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => match charset_decoder(b"windows-1252") {
            Some(decode) => decode(e.as_bytes()),
            None => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outline_of_a_multipart() {
        let m = b"MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=b\n\n\
--b\nContent-Type: text/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n\
caf=E9\n--b\nContent-Type: text/html\n\n<p>x</p>\n--b--\n";
        let o = outline(m);
        assert_eq!(o.len(), 3);
        assert!(o[0].multipart && o[0].is("multipart", "alternative"));
        assert_eq!(o[0].children, vec![1, 2]);
        assert_eq!(o[1].charset.as_deref(), Some("iso-8859-1"));
        assert_eq!(decode_text(m, &o[1]), "café");
        assert!(o[2].is("text", "html"));
        assert_eq!(&m[o[2].body.clone()], b"<p>x</p>");
        assert_eq!(o[0].fields.len(), 2);
    }

    #[test]
    fn defaults_and_mislabelled_text() {
        let m = b"Subject: x\n\ncaf\xe9\n";
        let o = outline(m);
        assert!(o[0].is("text", "plain"));
        assert_eq!(decode_text(m, &o[0]), "café\n");
    }
}
