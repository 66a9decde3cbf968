//! BODY and BODYSTRUCTURE (RFC 3501 section 7.4.2) as Dovecot writes them.
//!
//! Dovecot's choices, all reproduced: type, subtype, parameter names and values exactly as
//! in the header (no case folding); `("charset" "us-ascii")` appended to the parameters of
//! every text part that has no charset; `"7bit"` for a missing Content-Transfer-Encoding;
//! a multipart with no parts shows one empty text/plain part; Content-Language is always a
//! list; Content-ID, Content-Description, Content-MD5 and Content-Location lose their CRs
//! and LFs; a message/rfc822 part carries the envelope and structure of the message inside
//! it and its own line count.

use super::data::{self, Params, PartData};
use super::envelope;
use super::parser::{MULTIPART, Part, TEXT};
use crate::imap::syntax::{nstring_nolf, string};

const EMPTY_BODY: &[u8] = b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)";
const PLAIN_7BIT: &[u8] = b"\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\"";
const EMPTY_BODYSTRUCTURE: &[u8] =
    b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)";

/// Everything the writer needs about the message, computed once for BODY and BODYSTRUCTURE.
pub(crate) struct Structure<'m> {
    pub parts: &'m [Part],
    pub data: Vec<PartData>,
    pub envelopes: Vec<Option<data::Envelope>>,
}

impl Structure<'_> {
    /// Writes the structure of `part` without its outer parentheses.
    pub fn write(&self, out: &mut Vec<u8>, part: usize, extended: bool) {
        if part == 0 && self.is_plain_7bit() {
            // Dovecot does not keep a structure for the commonest message of all and
            // writes a fixed one, in its own spelling, from the sizes alone.
            let body = &self.parts[0].body;
            out.extend_from_slice(PLAIN_7BIT);
            out.extend_from_slice(format!(" {} {}", body.wire, body.lines).as_bytes());
            if extended {
                out.extend_from_slice(b" NIL NIL NIL NIL");
            }
            return;
        }
        if self.parts[part].flags & MULTIPART != 0 {
            self.multipart(out, part, extended);
        } else {
            self.single(out, part, extended);
        }
    }

    /// A single text/plain part in US-ASCII and 7bit with nothing else to say: Dovecot's
    /// test, which looks only at the first parameter.
    fn is_plain_7bit(&self) -> bool {
        let p = &self.parts[0];
        let d = &self.data[0];
        let eq = |v: &Option<Vec<u8>>, want: &[u8]| {
            v.as_ref().is_none_or(|v| v.eq_ignore_ascii_case(want))
        };
        p.flags & TEXT != 0
            && p.children.is_empty()
            && eq(&d.content_subtype, b"plain")
            && d.type_params.first().is_none_or(|(k, v)| {
                k.eq_ignore_ascii_case(b"charset") && v.eq_ignore_ascii_case(b"us-ascii")
            })
            && d.id.is_none()
            && d.description.is_none()
            && eq(&d.transfer_encoding, b"7bit")
            && d.md5.is_none()
            && d.disposition.is_none()
            && d.language.is_none()
            && d.location.is_none()
    }

    fn multipart(&self, out: &mut Vec<u8>, part: usize, extended: bool) {
        let p = &self.parts[part];
        let d = &self.data[part];
        if p.children.is_empty() {
            out.extend_from_slice(if extended {
                EMPTY_BODYSTRUCTURE
            } else {
                EMPTY_BODY
            });
        }
        for &c in &p.children {
            out.push(b'(');
            self.write(out, c, extended);
            out.push(b')');
        }
        out.push(b' ');
        string(out, d.content_subtype.as_deref().unwrap_or_default());
        if !extended {
            return;
        }
        out.push(b' ');
        params(out, &d.type_params, false);
        common(out, d);
    }

    fn single(&self, out: &mut Vec<u8>, part: usize, extended: bool) {
        let p = &self.parts[part];
        let d = &self.data[part];
        let rfc822 = data::is_rfc822(p);
        let text;
        if rfc822 {
            out.extend_from_slice(b"\"message\" \"rfc822\"");
            text = false;
        } else if let Some(t) = &d.content_type {
            let sub = d.content_subtype.as_deref().unwrap_or_default();
            // A multipart or message left unparsed (too deeply nested) cannot be shown as
            // one without its parts: Dovecot calls it an opaque blob.
            let unparsed = (t.eq_ignore_ascii_case(b"multipart") && p.flags & MULTIPART == 0)
                || (t.eq_ignore_ascii_case(b"message") && sub.eq_ignore_ascii_case(b"rfc822"));
            text = t.eq_ignore_ascii_case(b"text");
            if unparsed {
                out.extend_from_slice(b"\"application\" \"octet-stream\"");
            } else {
                string(out, t);
                out.push(b' ');
                string(out, sub);
            }
        } else {
            text = true;
            out.extend_from_slice(b"\"text\" \"plain\"");
        }
        out.push(b' ');
        params(out, &d.type_params, text);
        out.push(b' ');
        nstring_nolf(out, d.id.as_deref());
        out.push(b' ');
        nstring_nolf(out, d.description.as_deref());
        out.push(b' ');
        match &d.transfer_encoding {
            Some(e) => string(out, e),
            None => out.extend_from_slice(b"\"7bit\""),
        }
        out.push(b' ');
        out.extend_from_slice(p.body.wire.to_string().as_bytes());
        if text {
            out.push(b' ');
            out.extend_from_slice(p.body.lines.to_string().as_bytes());
        } else if rfc822 {
            let child = p.children[0];
            out.extend_from_slice(b" (");
            envelope::write(out, self.envelopes[child].as_ref());
            out.extend_from_slice(b") (");
            self.write(out, child, extended);
            out.extend_from_slice(b") ");
            out.extend_from_slice(p.body.lines.to_string().as_bytes());
        }
        if !extended {
            return;
        }
        out.push(b' ');
        nstring_nolf(out, d.md5.as_deref());
        common(out, d);
    }
}

/// Disposition, language, location.
fn common(out: &mut Vec<u8>, d: &PartData) {
    out.push(b' ');
    match &d.disposition {
        None => out.extend_from_slice(b"NIL"),
        Some(disp) => {
            out.push(b'(');
            string(out, disp);
            out.push(b' ');
            params(out, &d.disposition_params, false);
            out.push(b')');
        }
    }
    out.push(b' ');
    match &d.language {
        None => out.extend_from_slice(b"NIL"),
        Some(langs) => {
            out.push(b'(');
            for (i, l) in langs.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                string(out, l);
            }
            out.push(b')');
        }
    }
    out.push(b' ');
    nstring_nolf(out, d.location.as_deref());
}

fn params(out: &mut Vec<u8>, params: &Params, default_charset: bool) {
    if !default_charset && params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    let mut seen_charset = false;
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        seen_charset |= k.eq_ignore_ascii_case(b"charset");
        string(out, k);
        out.push(b' ');
        string(out, v);
    }
    if default_charset && !seen_charset {
        if !params.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(b"\"charset\" \"us-ascii\"");
    }
    out.push(b')');
}
