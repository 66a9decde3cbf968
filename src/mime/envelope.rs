//! ENVELOPE (RFC 3501 section 7.4.2) as Dovecot writes it.
//!
//! Date, Message-ID and In-Reply-To go out as they are in the header, unfolded (line ends
//! removed, the folding white space kept); Subject and display names go through
//! [`string_for_humans`] (white space collapsed, encoded words left encoded). A missing
//! Sender or Reply-To repeats From. The result is the list without its parentheses; callers
//! add them.

use super::address::Address;
use super::data::Envelope;
use crate::imap::syntax::{nstring, nstring_nolf, string_for_humans};

/// Writes the ten envelope fields, space-separated.
pub(crate) fn write(out: &mut Vec<u8>, e: Option<&Envelope>) {
    let Some(e) = e else {
        out.extend_from_slice(b"NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL");
        return;
    };
    nstring_nolf(out, e.date.as_deref());
    out.push(b' ');
    match &e.subject {
        None => out.extend_from_slice(b"NIL"),
        Some(s) => string_for_humans(out, s),
    }
    let from = e.from.as_deref();
    for list in [
        from,
        e.sender.as_deref().or(from),
        e.reply_to.as_deref().or(from),
        e.to.as_deref(),
        e.cc.as_deref(),
        e.bcc.as_deref(),
    ] {
        out.push(b' ');
        addresses(out, list);
    }
    out.push(b' ');
    nstring_nolf(out, e.in_reply_to.as_deref());
    out.push(b' ');
    nstring_nolf(out, e.message_id.as_deref());
}

fn addresses(out: &mut Vec<u8>, list: Option<&[Address]>) {
    let Some(list) = list else {
        out.extend_from_slice(b"NIL");
        return;
    };
    out.push(b'(');
    for a in list {
        out.push(b'(');
        match &a.name {
            None => out.extend_from_slice(b"NIL"),
            Some(n) => string_for_humans(out, n),
        }
        out.push(b' ');
        nstring(out, a.route.as_deref());
        out.push(b' ');
        nstring(out, a.mailbox.as_deref());
        out.push(b' ');
        nstring(out, a.domain.as_deref());
        out.push(b')');
    }
    out.push(b')');
}
