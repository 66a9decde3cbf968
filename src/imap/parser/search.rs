//! SEARCH: the charset, every RFC 3501 search key, and nesting with parentheses, NOT and OR.
//!
//! Keys nest without bound in the grammar, and the parser recurses once per level, so every
//! level (a parenthesis, a NOT, an OR) is counted against `max_depth`; past it the command is
//! refused before the stack is at risk.

use super::datetime::date;
use super::lexer::{Cursor, PResult, expected};
use super::sequence::{sequence_set, starts_sequence_set};
use crate::imap::command::{CommandBody, SearchKey};
use crate::imap::error::{Syntax, quote};

/// `SEARCH [SP "CHARSET" SP astring] 1*(SP search-key)`.
pub(super) fn search(c: &mut Cursor<'_>, uid: bool) -> PResult<CommandBody> {
    c.sp()?;
    let mut charset = None;
    if c.eat_keyword(b"CHARSET ") {
        let name = c.astring("charset")?;
        let name = String::from_utf8(name.into_owned()).map_err(|_| Syntax::Expected("charset"))?;
        charset = Some(name);
        c.sp()?;
    }
    let mut criteria = vec![search_key(c)?];
    while c.eat(b' ') {
        criteria.push(search_key(c)?);
    }
    Ok(CommandBody::Search {
        uid,
        charset,
        criteria,
    })
}

/// One key. Only parenthesised lists, NOT and OR recurse, and they are all this function
/// does itself, so each level of nesting costs one small stack frame; the other keys are read
/// by [`leaf_key`].
fn search_key(c: &mut Cursor<'_>) -> PResult<SearchKey> {
    if c.eat(b'(') {
        c.descend()?;
        let mut keys = vec![search_key(c)?];
        while c.eat(b' ') {
            keys.push(search_key(c)?);
        }
        c.expect(b')', ")")?;
        c.ascend();
        return Ok(SearchKey::And(keys));
    }
    if c.eat_keyword(b"NOT ") {
        c.descend()?;
        let key = search_key(c)?;
        c.ascend();
        return Ok(SearchKey::Not(Box::new(key)));
    }
    if c.eat_keyword(b"OR ") {
        c.descend()?;
        let left = search_key(c)?;
        c.sp()?;
        let right = search_key(c)?;
        c.ascend();
        return Ok(SearchKey::Or(Box::new(left), Box::new(right)));
    }
    leaf_key(c)
}

/// A key that contains no other key.
#[inline(never)]
fn leaf_key(c: &mut Cursor<'_>) -> PResult<SearchKey> {
    if starts_sequence_set(c) {
        return sequence_set(c).map(SearchKey::SequenceSet);
    }
    let word = c.take_while(|b| b.is_ascii_alphabetic());
    let upper = word.to_ascii_uppercase();
    let key = match upper.as_slice() {
        b"ALL" => SearchKey::All,
        b"ANSWERED" => SearchKey::Answered,
        b"DELETED" => SearchKey::Deleted,
        b"DRAFT" => SearchKey::Draft,
        b"FLAGGED" => SearchKey::Flagged,
        b"NEW" => SearchKey::New,
        b"OLD" => SearchKey::Old,
        b"RECENT" => SearchKey::Recent,
        b"SEEN" => SearchKey::Seen,
        b"UNANSWERED" => SearchKey::Unanswered,
        b"UNDELETED" => SearchKey::Undeleted,
        b"UNDRAFT" => SearchKey::Undraft,
        b"UNFLAGGED" => SearchKey::Unflagged,
        b"UNSEEN" => SearchKey::Unseen,
        b"BCC" => SearchKey::Bcc(string_arg(c)?),
        b"BODY" => SearchKey::Body(string_arg(c)?),
        b"CC" => SearchKey::Cc(string_arg(c)?),
        b"FROM" => SearchKey::From(string_arg(c)?),
        b"SUBJECT" => SearchKey::Subject(string_arg(c)?),
        b"TEXT" => SearchKey::Text(string_arg(c)?),
        b"TO" => SearchKey::To(string_arg(c)?),
        b"HEADER" => {
            let field = string_arg(c)?;
            SearchKey::Header(field, string_arg(c)?)
        }
        b"BEFORE" => SearchKey::Before(date_arg(c)?),
        b"ON" => SearchKey::On(date_arg(c)?),
        b"SINCE" => SearchKey::Since(date_arg(c)?),
        b"SENTBEFORE" => SearchKey::SentBefore(date_arg(c)?),
        b"SENTON" => SearchKey::SentOn(date_arg(c)?),
        b"SENTSINCE" => SearchKey::SentSince(date_arg(c)?),
        b"KEYWORD" => SearchKey::Keyword(keyword_arg(c)?),
        b"UNKEYWORD" => SearchKey::Unkeyword(keyword_arg(c)?),
        b"LARGER" => {
            c.sp()?;
            SearchKey::Larger(c.number()?)
        }
        b"SMALLER" => {
            c.sp()?;
            SearchKey::Smaller(c.number()?)
        }
        b"UID" => {
            c.sp()?;
            SearchKey::Uid(sequence_set(c)?)
        }
        // NOT and OR without their space.
        b"NOT" | b"OR" => return expected("SP"),
        [] => return expected("search key"),
        _ => {
            let mut shown = word.to_vec();
            shown.extend_from_slice(c.take_while(|b| b != b' ' && b != b')'));
            return Err(Syntax::UnknownSearchKey(quote(&shown)).into());
        }
    };
    Ok(key)
}

fn string_arg(c: &mut Cursor<'_>) -> PResult<Vec<u8>> {
    c.sp()?;
    Ok(c.astring("search string")?.into_owned())
}

fn date_arg(c: &mut Cursor<'_>) -> PResult<crate::imap::command::Date> {
    c.sp()?;
    date(c)
}

/// `flag-keyword = atom`.
fn keyword_arg(c: &mut Cursor<'_>) -> PResult<String> {
    c.sp()?;
    let atom = c.atom("keyword")?;
    Ok(String::from_utf8_lossy(atom).into_owned())
}
