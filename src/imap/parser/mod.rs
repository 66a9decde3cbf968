//! The IMAP command grammar: RFC 3501 section 9 plus IDLE, MOVE, NAMESPACE, ENABLE, ID,
//! UNSELECT, UID EXPUNGE, SASL-IR and non-synchronizing literals, over one command the reader
//! has framed.
//!
//! Parsing is a recursive descent over a [`lexer::Cursor`], one file per command family. It
//! follows the ABNF strictly (single spaces, no trailing space, no empty lists where the
//! grammar has none) with a few deliberate leniencies, each what Dovecot does and clients rely
//! on: a bare LF ends a line like CRLF, quoted strings may hold 8-bit bytes (RFC 9051's UTF-8),
//! numbers may have leading zeros, and keywords are matched in any case. Mailbox names are
//! held to modified UTF-7, which the ABNF leaves to prose. Nothing depends on session state, so
//! a command is parsed the same way whether or not it is allowed at that moment; the session
//! decides that.
//!
//! The same code checks a command that is not complete yet ([`check_prefix`]): when a
//! synchronizing literal is announced, parsing what came before it tells whether the command
//! can still be valid, so a bad command is refused before the client sends the literal.

mod auth;
mod datetime;
mod fetch;
mod lexer;
mod mailbox;
mod search;
mod sequence;
mod store;

use self::lexer::{Cursor, Fail, PResult, is_tag_char};
use crate::imap::command::{Command, CommandBody};
use crate::imap::error::{Error, ErrorKind, Syntax, quote};

/// Parses one complete command: `bytes` run from the tag to the end of the last line, without
/// its CRLF. When the APPEND message was taken out of the buffer, `message` is it and the
/// offset in `bytes` where its data would have begun.
pub(crate) fn parse(
    bytes: &[u8],
    message: Option<(usize, Vec<u8>)>,
    max_depth: usize,
) -> Result<Command, Error> {
    let (message_at, message) = match message {
        Some((at, data)) => (Some(at), Some(data)),
        None => (None, None),
    };
    let mut c = Cursor::new(bytes, false, message_at, max_depth);
    let tag = tag(&mut c, bytes)?;
    match command(&mut c, message) {
        Ok(body) => Ok(Command { tag, body }),
        Err(fail) => Err(error(Some(tag), fail)),
    }
}

/// Checks the part of a command received so far, which ends with the header of a
/// synchronizing literal: `Ok` when it is valid up to that literal. `message_at` is where an
/// APPEND message that was set aside would begin, as for [`parse`].
pub(crate) fn check_prefix(
    bytes: &[u8],
    message_at: Option<usize>,
    max_depth: usize,
) -> Result<(), Error> {
    let mut c = Cursor::new(bytes, true, message_at, max_depth);
    let tag = tag(&mut c, bytes)?;
    // The message's content does not matter to the syntax.
    let placeholder = message_at.map(|_| Vec::new());
    match command(&mut c, placeholder) {
        Err(Fail::Incomplete) => Ok(()),
        // The command ended before the literal, or parsed without using it: either way the
        // literal is in the wrong place.
        Ok(_) => Err(error(Some(tag), Syntax::Trailing("command").into())),
        Err(fail) => Err(error(Some(tag), fail)),
    }
}

/// The tag at the start of a command, when it is a valid tag followed by a space: what an
/// error in a command that could not be parsed in full is answered with.
pub(crate) fn leading_tag(bytes: &[u8]) -> Option<String> {
    let len = bytes.iter().position(|&b| !is_tag_char(b))?;
    (len > 0 && bytes[len] == b' ').then(|| String::from_utf8_lossy(&bytes[..len]).into_owned())
}

fn error(tag: Option<String>, fail: Fail) -> Error {
    let kind = match fail {
        Fail::Syntax(syntax) => ErrorKind::Bad(syntax),
        Fail::TooDeep => ErrorKind::TooDeep,
        // Only a prefix check stops at a literal, and it reports that as success.
        Fail::Incomplete => ErrorKind::Bad(Syntax::MissingLiteralData),
    };
    Error { tag, kind }
}

/// Reads the tag and the space after it.
fn tag(c: &mut Cursor<'_>, bytes: &[u8]) -> Result<String, Error> {
    let untagged = |syntax| Error {
        tag: None,
        kind: ErrorKind::Bad(syntax),
    };
    if bytes.is_empty() {
        return Err(untagged(Syntax::EmptyLine));
    }
    if memchr::memchr(0, bytes).is_some() {
        return Err(Error {
            tag: leading_tag(bytes),
            kind: Syntax::Nul.into(),
        });
    }
    let tag = c.take_while(is_tag_char);
    if tag.is_empty() {
        return Err(untagged(Syntax::InvalidTag));
    }
    // Tag characters are printable ASCII.
    let tag = String::from_utf8_lossy(tag).into_owned();
    match c.peek() {
        Some(b' ') => {
            c.sp().map_err(|f| error(Some(tag.clone()), f))?;
            Ok(tag)
        }
        None => Err(error(Some(tag), Syntax::MissingCommand.into())),
        Some(_) => Err(untagged(Syntax::InvalidTag)),
    }
}

/// The command name and its arguments, up to the end of the command.
fn command(c: &mut Cursor<'_>, message: Option<Vec<u8>>) -> PResult<CommandBody> {
    let name = c.take_while(lexer::is_atom_char);
    if name.is_empty() {
        return Err(Syntax::MissingCommand.into());
    }
    let upper = name.to_ascii_uppercase();
    let body = match upper.as_slice() {
        b"CAPABILITY" => CommandBody::Capability,
        b"NOOP" => CommandBody::Noop,
        b"LOGOUT" => CommandBody::Logout,
        b"STARTTLS" => CommandBody::StartTls,
        b"CHECK" => CommandBody::Check,
        b"CLOSE" => CommandBody::Close,
        b"EXPUNGE" => CommandBody::Expunge,
        b"IDLE" => CommandBody::Idle,
        b"NAMESPACE" => CommandBody::Namespace,
        b"UNSELECT" => CommandBody::Unselect,
        b"AUTHENTICATE" => auth::authenticate(c)?,
        b"LOGIN" => auth::login(c)?,
        b"ENABLE" => auth::enable(c)?,
        b"ID" => auth::id(c)?,
        b"SELECT" | b"EXAMINE" | b"CREATE" | b"DELETE" | b"SUBSCRIBE" | b"UNSUBSCRIBE" => {
            mailbox::single(c, &upper)?
        }
        b"RENAME" => mailbox::rename(c)?,
        b"LIST" | b"LSUB" => mailbox::list(c, &upper)?,
        b"STATUS" => mailbox::status(c)?,
        b"APPEND" => mailbox::append(c, message)?,
        b"SEARCH" => search::search(c, false)?,
        b"FETCH" => fetch::fetch(c, false)?,
        b"STORE" => store::store(c, false)?,
        b"COPY" | b"MOVE" => mailbox::copy_or_move(c, &upper, false)?,
        b"UID" => uid(c)?,
        _ => return Err(unknown_command(c, name)),
    };
    c.end(body.name())?;
    Ok(body)
}

/// `UID` followed by COPY, MOVE, FETCH, SEARCH, STORE or EXPUNGE.
fn uid(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    c.sp()?;
    let name = c.take_while(lexer::is_atom_char);
    let upper = name.to_ascii_uppercase();
    match upper.as_slice() {
        b"COPY" | b"MOVE" => mailbox::copy_or_move(c, &upper, true),
        b"FETCH" => fetch::fetch(c, true),
        b"SEARCH" => search::search(c, true),
        b"STORE" => store::store(c, true),
        b"EXPUNGE" => {
            c.sp()?;
            Ok(CommandBody::UidExpunge {
                set: sequence::sequence_set(c)?,
            })
        }
        [] => lexer::expected("UID command"),
        _ => Err(unknown_command(c, name)),
    }
}

fn unknown_command(c: &mut Cursor<'_>, name: &[u8]) -> Fail {
    // Quote the name with whatever follows it up to the next space, so that `FOO(BAR` is
    // shown as the client wrote it.
    let mut shown = name.to_vec();
    shown.extend_from_slice(c.take_while(|b| b != b' '));
    Syntax::UnknownCommand(quote(&shown)).into()
}
