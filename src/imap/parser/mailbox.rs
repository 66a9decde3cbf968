//! The commands that name mailboxes: SELECT, EXAMINE, CREATE, DELETE, SUBSCRIBE, UNSUBSCRIBE,
//! RENAME, LIST, LSUB, STATUS, APPEND, and COPY and MOVE (plain or UID).

use super::datetime::date_time;
use super::lexer::{Cursor, Literal, PResult, expected, is_list_char};
use super::sequence::sequence_set;
use super::store::flag_list;
use crate::imap::command::{CommandBody, Mailbox, StatusItem};
use crate::imap::error::{Syntax, quote};

/// `mailbox`: an astring holding well-formed modified UTF-7.
pub(super) fn mailbox(c: &mut Cursor<'_>) -> PResult<Mailbox> {
    let raw = c.astring("mailbox name")?;
    let name = std::str::from_utf8(&raw).map_err(|_| Syntax::Mutf7)?;
    Mailbox::new(name).map_err(|_| Syntax::Mutf7.into())
}

/// The commands whose only argument is a mailbox; `name` is the upper-cased command name.
pub(super) fn single(c: &mut Cursor<'_>, name: &[u8]) -> PResult<CommandBody> {
    c.sp()?;
    let mailbox = mailbox(c)?;
    Ok(match name {
        b"SELECT" => CommandBody::Select { mailbox },
        b"EXAMINE" => CommandBody::Examine { mailbox },
        b"CREATE" => CommandBody::Create { mailbox },
        b"DELETE" => CommandBody::Delete { mailbox },
        b"SUBSCRIBE" => CommandBody::Subscribe { mailbox },
        _ => CommandBody::Unsubscribe { mailbox },
    })
}

/// `RENAME SP mailbox SP mailbox`.
pub(super) fn rename(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    c.sp()?;
    let from = mailbox(c)?;
    c.sp()?;
    let to = mailbox(c)?;
    Ok(CommandBody::Rename { from, to })
}

/// `LIST`/`LSUB SP mailbox SP list-mailbox`, where `list-mailbox = 1*list-char / string`.
pub(super) fn list(c: &mut Cursor<'_>, name: &[u8]) -> PResult<CommandBody> {
    c.sp()?;
    let reference = mailbox(c)?;
    c.sp()?;
    let pattern = match c.take_while(is_list_char) {
        [] => c.string("mailbox pattern")?.into_owned(),
        pattern => pattern.to_vec(),
    };
    Ok(if name == b"LIST" {
        CommandBody::List { reference, pattern }
    } else {
        CommandBody::Lsub { reference, pattern }
    })
}

/// `STATUS SP mailbox SP "(" status-att *(SP status-att) ")"`.
pub(super) fn status(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    c.sp()?;
    let mailbox = mailbox(c)?;
    c.sp()?;
    c.expect(b'(', "(")?;
    let mut items = Vec::new();
    loop {
        let word = c.word();
        let item = match word.to_ascii_uppercase().as_slice() {
            b"MESSAGES" => StatusItem::Messages,
            b"RECENT" => StatusItem::Recent,
            b"UIDNEXT" => StatusItem::UidNext,
            b"UIDVALIDITY" => StatusItem::UidValidity,
            b"UNSEEN" => StatusItem::Unseen,
            [] => return expected("STATUS item"),
            _ => return Err(Syntax::UnknownStatusItem(quote(word)).into()),
        };
        items.push(item);
        if c.eat(b')') {
            break;
        }
        c.sp()?;
    }
    Ok(CommandBody::Status { mailbox, items })
}

/// `APPEND SP mailbox [SP flag-list] [SP date-time] SP literal`. The message literal's data is
/// the one the reader set aside.
pub(super) fn append(c: &mut Cursor<'_>, message: Option<Vec<u8>>) -> PResult<CommandBody> {
    c.sp()?;
    let mailbox = mailbox(c)?;
    c.sp()?;
    let mut flags = Vec::new();
    if c.peek() == Some(b'(') {
        flags = flag_list(c)?;
        c.sp()?;
    }
    let mut date = None;
    if c.peek() == Some(b'"') {
        date = Some(date_time(c)?);
        c.sp()?;
    }
    if c.peek() != Some(b'{') {
        return expected("message literal");
    }
    let message = match (c.literal()?, message) {
        (Literal::Message, Some(message)) => message,
        // A message small enough to stay in the buffer (only when the reader was not told it
        // was one: the literal is where a message goes, so accept it).
        (Literal::Data(data), _) => data.to_vec(),
        (Literal::Message, None) => return Err(Syntax::MissingLiteralData.into()),
    };
    Ok(CommandBody::Append {
        mailbox,
        flags,
        date,
        message,
    })
}

/// `COPY`/`MOVE SP sequence-set SP mailbox`.
pub(super) fn copy_or_move(c: &mut Cursor<'_>, name: &[u8], uid: bool) -> PResult<CommandBody> {
    c.sp()?;
    let set = sequence_set(c)?;
    c.sp()?;
    let mailbox = mailbox(c)?;
    Ok(if name == b"COPY" {
        CommandBody::Copy { uid, set, mailbox }
    } else {
        CommandBody::Move { uid, set, mailbox }
    })
}
