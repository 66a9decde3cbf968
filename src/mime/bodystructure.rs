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
use super::parser::{MULTIPART, Part};
use crate::imap::syntax::{nstring, string};

const EMPTY_BODY: &[u8] = b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)";
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
        if self.parts[part].flags & MULTIPART != 0 {
            self.multipart(out, part, extended);
        } else {
            self.single(out, part, extended);
        }
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
            text = t.eq_ignore_ascii_case(b"text");
            string(out, t);
            out.push(b' ');
            string(out, d.content_subtype.as_deref().unwrap_or_default());
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

/// An nstring with CR and LF removed.
fn nstring_nolf(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) if s.iter().any(|&b| b == b'\r' || b == b'\n') => {
            let clean: Vec<u8> = s
                .iter()
                .copied()
                .filter(|&b| b != b'\r' && b != b'\n')
                .collect();
            nstring(out, Some(&clean));
        }
        _ => nstring(out, s),
    }
}
