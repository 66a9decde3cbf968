//! STORE and message flags (shared with APPEND).

use super::lexer::{Cursor, PResult, expected};
use super::sequence::sequence_set;
use crate::imap::command::{CommandBody, Flag, StoreMode};
use crate::imap::error::Syntax;

/// `flag`: a system flag, `\atom` or a keyword atom.
pub(super) fn flag(c: &mut Cursor<'_>) -> PResult<Flag> {
    let backslash = c.eat(b'\\');
    let name = c.atom("flag")?;
    // Atom characters are ASCII.
    let text = String::from_utf8_lossy(name).into_owned();
    if !backslash {
        return Ok(Flag::Keyword(text));
    }
    Ok(match name.to_ascii_uppercase().as_slice() {
        b"ANSWERED" => Flag::Answered,
        b"FLAGGED" => Flag::Flagged,
        b"DELETED" => Flag::Deleted,
        b"SEEN" => Flag::Seen,
        b"DRAFT" => Flag::Draft,
        _ => Flag::Extension(text),
    })
}

/// `flag-list = "(" [flag *(SP flag)] ")"`.
pub(super) fn flag_list(c: &mut Cursor<'_>) -> PResult<Vec<Flag>> {
    c.expect(b'(', "(")?;
    let mut flags = Vec::new();
    if c.eat(b')') {
        return Ok(flags);
    }
    loop {
        flags.push(flag(c)?);
        if c.eat(b')') {
            return Ok(flags);
        }
        c.sp()?;
    }
}

/// `STORE SP sequence-set SP ["+" / "-"] "FLAGS" [".SILENT"] SP (flag-list / flag *(SP flag))`.
pub(super) fn store(c: &mut Cursor<'_>, uid: bool) -> PResult<CommandBody> {
    c.sp()?;
    let set = sequence_set(c)?;
    c.sp()?;
    let mode = if c.eat(b'+') {
        StoreMode::Add
    } else if c.eat(b'-') {
        StoreMode::Remove
    } else {
        StoreMode::Replace
    };
    let item = c.word().to_ascii_uppercase();
    let silent = match item.as_slice() {
        b"FLAGS" => false,
        b"FLAGS.SILENT" => true,
        [] => return expected("FLAGS"),
        _ => return Err(Syntax::Expected("FLAGS").into()),
    };
    c.sp()?;
    let flags = if c.peek() == Some(b'(') {
        flag_list(c)?
    } else {
        let mut flags = vec![flag(c)?];
        while c.eat(b' ') {
            flags.push(flag(c)?);
        }
        flags
    };
    Ok(CommandBody::Store {
        uid,
        set,
        mode,
        silent,
        flags,
    })
}
