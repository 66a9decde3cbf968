//! Retrieval MIME formats (Exchange's `PopMessagesRetrievalMimeFormat` /
//! `ImapMessagesRetrievalMimeFormat`): the form of a message a session of a given
//! [`RetrievalFormat`] is shown. Sans-IO and pure: [`convert`] takes the stored bytes and
//! gives the converted message, or `None` when the format leaves it as stored.
//!
//! What each format does (the message's own header fields — Subject, From, Date,
//! Message-ID... — always stay as they are, byte for byte):
//! - `original`: nothing.
//! - `text-only`: a multipart/alternative keeps only its text/plain part (converted from its
//!   HTML part when it has none); an HTML body is converted to plain text.
//! - `html-only`: a multipart/alternative keeps only its HTML part (which may be a
//!   multipart/related with its inline images); a plain-text body becomes minimal HTML.
//! - `html-and-text`: a body with only HTML or only text becomes a multipart/alternative of
//!   both, the stored one unchanged and the other converted.
//! - `best`: a multipart/alternative keeps its richest part as stored (HTML over text over
//!   anything else); nothing is converted.
//!
//! Which part is "the body": the message itself, or, through multiparts, their first part
//! (the root of a multipart/related, the first of a multipart/mixed), unless it is an
//! attachment (`Content-Disposition: attachment`). Every multipart/alternative counts,
//! wherever it is. Everything else — attachments, inline images, further parts — is kept
//! byte for byte, and never looked into: attached messages (message/rfc822) are
//! attachments, and signed or encrypted subtrees (multipart/signed, multipart/encrypted,
//! application/pkcs7-mime) would no longer verify if touched, so a message whose top level
//! is one of those is returned unchanged.
//!
//! How a message is rewritten: the MIME structure is found by the FETCH parser
//! ([`crate::mime::outline`]), the parts to replace are chosen, and the output is the stored
//! message with each chosen part's byte range replaced by the new part — a kept part is a
//! slice of the original, never re-encoded. When the part replaced is the message itself,
//! its header keeps every field except the `Content-*` ones (which describe the body, and
//! are replaced by the new body's), and gains `MIME-Version: 1.0` if it had none. Generated
//! text is UTF-8 (`charset=utf-8`), 7bit/8bit when its lines fit in 998 octets and
//! quoted-printable when not ([`text::encode`]). New lines use the stored message's line
//! ends (CR LF if its first line ends so, else LF), so [`crate::wire`] makes the same wire
//! form of converted mail as of stored mail. New multipart boundaries are derived from the
//! message's bytes and checked not to occur in it, so a conversion is deterministic.
//!
//! Converting a converted message again changes nothing (a test checks that over the
//! corpus): after `text-only` there is no HTML left to drop or convert, and so on.
//!
//! HTML → text uses the [`html2text`] crate (by jugglerchris, MIT; actively maintained, in
//! use by mail and feed readers such as meli and newsboat-likes): it parses with html5ever,
//! the browser-grade parser of the Servo project, so broken real-world HTML renders the way
//! a browser would read it, skips `<script>`/`<style>`, renders tables and lists, and can
//! keep links as footnotes — what "readable plain text with links" asks for. 0.17 needs
//! rustc 1.85 and builds with 1.95. Its decorations (`*em*`, `**strong**`) are off: the
//! output should read as text, not as Markdown.

mod text;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::mime::{self, Entity};
use crate::policy::RetrievalFormat;

pub use text::{html_to_text, text_to_html};

/// Changes whenever what [`convert`] produces for some message changes, so that converted
/// forms persisted by an older version are not served (see [`crate::mailbox::derived`]).
pub const VERSION: u32 = 1;

/// The message as `format` shows it, or `None` when that is the message as stored.
pub fn convert(message: &[u8], format: RetrievalFormat) -> Option<Vec<u8>> {
    if format == RetrievalFormat::Original {
        return None;
    }
    let parts = mime::outline(message);
    let mut plan = Plan {
        message,
        parts: &parts,
        format,
        edits: BTreeMap::new(),
    };
    plan.walk(0, true);
    if plan.edits.is_empty() {
        return None;
    }
    Some(plan.render())
}

/// What a replaced part becomes.
#[derive(Debug, Clone)]
enum New {
    /// A part of the message, as stored.
    Stored(usize),
    /// A generated UTF-8 text part: `text/<subtype>`.
    Text { subtype: &'static str, text: String },
    /// A new multipart/alternative of these.
    Alternative(Vec<New>),
}

/// How a part counts in a multipart/alternative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Other,
    Text,
    Html,
}

struct Plan<'a> {
    message: &'a [u8],
    parts: &'a [Entity],
    format: RetrievalFormat,
    /// Part → what replaces it. Never one inside another: the walk stops at a replaced part.
    edits: BTreeMap<usize, New>,
}

/// Parts that are never looked into or changed.
fn protected(e: &Entity) -> bool {
    e.message
        || e.is("multipart", "signed")
        || e.is("multipart", "encrypted")
        || e.is("application", "pkcs7-mime")
        || e.is("application", "x-pkcs7-mime")
}

impl Plan<'_> {
    fn walk(&mut self, i: usize, body_chain: bool) {
        let e = &self.parts[i];
        if protected(e) {
            return;
        }
        if e.multipart {
            if e.subtype == "alternative" {
                self.alternative(i);
                return;
            }
            for (n, &child) in e.children.iter().enumerate() {
                self.walk(child, body_chain && n == 0);
            }
            return;
        }
        if !body_chain || e.disposition.as_deref() == Some("attachment") {
            return;
        }
        use RetrievalFormat as F;
        let new = match (self.rank(i), self.format) {
            (Rank::Html, F::TextOnly) => Some(self.to_text(i)),
            (Rank::Html, F::HtmlAndText) => {
                Some(New::Alternative(vec![self.to_text(i), New::Stored(i)]))
            }
            (Rank::Text, F::HtmlOnly) => Some(self.to_html(i)),
            (Rank::Text, F::HtmlAndText) => {
                Some(New::Alternative(vec![New::Stored(i), self.to_html(i)]))
            }
            _ => None,
        };
        if let Some(new) = new {
            self.edits.insert(i, new);
        }
    }

    fn alternative(&mut self, i: usize) {
        let children = &self.parts[i].children;
        let ranked: Vec<(usize, Rank)> = children.iter().map(|&c| (c, self.rank(c))).collect();
        // The first text part (the usual order is plain first), the last HTML one (RFC 2046:
        // the last alternative is the richest).
        let text = ranked
            .iter()
            .find(|(_, r)| *r == Rank::Text)
            .map(|&(c, _)| c);
        let html = ranked
            .iter()
            .rev()
            .find(|(_, r)| *r == Rank::Html)
            .map(|&(c, _)| c);
        let several = children.len() > 1;
        use RetrievalFormat as F;
        let new = match self.format {
            F::Original => None,
            F::TextOnly => match (text, html) {
                (Some(t), _) if several => Some(New::Stored(t)),
                (None, Some(h)) => Some(self.to_text(h)),
                _ => None,
            },
            F::HtmlOnly => match (html, text) {
                (Some(h), _) if several => Some(New::Stored(h)),
                (None, Some(t)) => Some(self.to_html(t)),
                _ => None,
            },
            F::Best => {
                let best = ranked.iter().rev().max_by_key(|(_, r)| *r).map(|&(c, _)| c);
                best.filter(|_| several).map(New::Stored)
            }
            F::HtmlAndText => {
                let kept = children.iter().map(|&c| New::Stored(c));
                match (text, html) {
                    (None, Some(h)) => Some(New::Alternative(
                        std::iter::once(self.to_text(h)).chain(kept).collect(),
                    )),
                    (Some(t), None) => Some(New::Alternative(
                        kept.chain(std::iter::once(self.to_html(t))).collect(),
                    )),
                    _ => None,
                }
            }
        };
        if let Some(new) = new {
            self.edits.insert(i, new);
        }
    }

    /// Where the HTML of an HTML-ranked part is: itself, or the root of its
    /// multipart/related.
    fn html_leaf(&self, i: usize) -> usize {
        let e = &self.parts[i];
        if e.is("multipart", "related") {
            e.children[0]
        } else {
            i
        }
    }

    fn rank(&self, i: usize) -> Rank {
        let e = &self.parts[i];
        if e.disposition.as_deref() == Some("attachment") {
            Rank::Other
        } else if e.is("text", "html") {
            Rank::Html
        } else if e.is("text", "plain") {
            Rank::Text
        } else if e.is("multipart", "related")
            && e.children
                .first()
                .is_some_and(|&c| self.parts[c].is("text", "html"))
        {
            Rank::Html
        } else {
            Rank::Other
        }
    }

    fn to_text(&self, i: usize) -> New {
        let html = mime::decode_text(self.message, &self.parts[self.html_leaf(i)]);
        New::Text {
            subtype: "plain",
            text: text::html_to_text(&html),
        }
    }

    fn to_html(&self, i: usize) -> New {
        let plain = mime::decode_text(self.message, &self.parts[i]);
        New::Text {
            subtype: "html",
            text: text::text_to_html(&plain),
        }
    }

    fn render(&self) -> Vec<u8> {
        let msg = self.message;
        let eol: &[u8] = match memchr::memchr(b'\n', msg) {
            Some(i) if i > 0 && msg[i - 1] == b'\r' => b"\r\n",
            _ => b"\n",
        };
        let mut w = Writer {
            msg,
            parts: self.parts,
            eol,
            boundaries: 0,
        };
        let mut out = Vec::with_capacity(msg.len() + msg.len() / 4);
        if let Some(new) = self.edits.get(&0) {
            // The body of the message itself is replaced: its header keeps every field but
            // the Content-* ones, which the new body's take the place of.
            let top = &self.parts[0];
            let (content, body) = w.entity(new);
            let mut placed = false;
            let mut has_version = false;
            for f in &top.fields {
                let raw = &msg[f.clone()];
                if starts_with_ignore_case(raw, b"content-") {
                    if !std::mem::replace(&mut placed, true) {
                        out.extend_from_slice(&content);
                    }
                    continue;
                }
                has_version |= starts_with_ignore_case(raw, b"mime-version:");
                out.extend_from_slice(raw);
                if !raw.ends_with(b"\n") {
                    // A header cut short by the end of the message.
                    out.extend_from_slice(eol);
                }
            }
            if !has_version {
                out.extend_from_slice(b"MIME-Version: 1.0");
                out.extend_from_slice(eol);
            }
            if !placed {
                out.extend_from_slice(&content);
            }
            out.extend_from_slice(eol);
            out.extend_from_slice(&body);
            if !out.ends_with(b"\n") {
                // A part's last line end was its boundary's; the message should have one.
                out.extend_from_slice(eol);
            }
            return out;
        }
        let mut pos = 0;
        for (&i, new) in &self.edits {
            let range = self.parts[i].range();
            out.extend_from_slice(&msg[pos..range.start]);
            w.nested(new, &mut out);
            pos = range.end;
            // The line end before the boundary that follows is the boundary's — except after
            // a closed multipart, whose range takes in the line end of its `--b--` line.
            let rest = &msg[pos..];
            let separated = rest.is_empty()
                || rest.starts_with(b"\n")
                || rest.starts_with(b"\r\n")
                || out.ends_with(b"\n");
            if !separated {
                out.extend_from_slice(eol);
            }
        }
        out.extend_from_slice(&msg[pos..]);
        out
    }
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Builds new parts.
struct Writer<'a> {
    msg: &'a [u8],
    parts: &'a [Entity],
    eol: &'a [u8],
    /// Boundaries made so far in this message.
    boundaries: u32,
}

impl Writer<'_> {
    /// A part's Content-* header lines and its body (which, like every MIME body, is
    /// followed by the line end that belongs to the next boundary, or by nothing).
    fn entity(&mut self, new: &New) -> (Vec<u8>, Vec<u8>) {
        let eol = self.eol;
        match new {
            New::Stored(i) => {
                let e = &self.parts[*i];
                let mut content = Vec::new();
                for f in &e.fields {
                    let raw = &self.msg[f.clone()];
                    if starts_with_ignore_case(raw, b"content-") {
                        content.extend_from_slice(raw);
                        if !raw.ends_with(b"\n") {
                            content.extend_from_slice(eol);
                        }
                    }
                }
                (content, self.msg[e.body.clone()].to_vec())
            }
            New::Text { subtype, text } => {
                let (cte, body) = text::encode(text, eol);
                let mut content =
                    format!("Content-Type: text/{subtype}; charset=utf-8").into_bytes();
                content.extend_from_slice(eol);
                content.extend_from_slice(b"Content-Transfer-Encoding: ");
                content.extend_from_slice(cte.as_bytes());
                content.extend_from_slice(eol);
                (content, body)
            }
            New::Alternative(children) => {
                let boundary = self.boundary();
                let mut content =
                    format!("Content-Type: multipart/alternative; boundary=\"{boundary}\"")
                        .into_bytes();
                content.extend_from_slice(eol);
                let mut body = Vec::new();
                for child in children {
                    body.extend_from_slice(b"--");
                    body.extend_from_slice(boundary.as_bytes());
                    body.extend_from_slice(eol);
                    self.nested(child, &mut body);
                    // The line end before a boundary belongs to the boundary.
                    body.extend_from_slice(eol);
                }
                body.extend_from_slice(b"--");
                body.extend_from_slice(boundary.as_bytes());
                body.extend_from_slice(b"--");
                body.extend_from_slice(eol);
                (content, body)
            }
        }
    }

    /// A part inside a multipart: a stored one whole, header and all, as it is in the
    /// message (unless it is the message itself, whose header is the message's); a new one
    /// as its Content-* lines and body.
    fn nested(&mut self, new: &New, out: &mut Vec<u8>) {
        match new {
            New::Stored(i) if *i != 0 => out.extend_from_slice(&self.msg[self.parts[*i].range()]),
            other => {
                let (content, body) = self.entity(other);
                out.extend_from_slice(&content);
                out.extend_from_slice(self.eol);
                out.extend_from_slice(&body);
            }
        }
    }

    /// A boundary that occurs nowhere in the message.
    fn boundary(&mut self) -> String {
        let seed = crc32fast::hash(self.msg);
        loop {
            self.boundaries += 1;
            let b = format!("=_postern_{seed:08x}_{}", self.boundaries);
            if memchr::memmem::find(self.msg, b.as_bytes()).is_none() {
                return b;
            }
        }
    }
}
