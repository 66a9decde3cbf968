//! FETCH: the data items, body sections and partial ranges.

use super::lexer::{Cursor, PResult, expected};
use super::sequence::sequence_set;
use crate::imap::command::{CommandBody, FetchItem, Partial, Section, SectionText};
use crate::imap::error::{Syntax, quote};

/// `FETCH SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP
/// fetch-att) ")")`.
pub(super) fn fetch(c: &mut Cursor<'_>, uid: bool) -> PResult<CommandBody> {
    c.sp()?;
    let set = sequence_set(c)?;
    c.sp()?;
    let mut items = Vec::new();
    if c.eat(b'(') {
        loop {
            items.push(fetch_att(c)?);
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
    } else {
        let word = c.word();
        match FetchItem::macro_items(word) {
            Some(expanded) => items = expanded,
            None => items.push(item(c, word)?),
        }
    }
    Ok(CommandBody::Fetch { uid, set, items })
}

fn fetch_att(c: &mut Cursor<'_>) -> PResult<FetchItem> {
    let word = c.word();
    item(c, word)
}

/// The item named `word` (already read), with its section and partial range if it has them.
fn item(c: &mut Cursor<'_>, word: &[u8]) -> PResult<FetchItem> {
    let item = match word.to_ascii_uppercase().as_slice() {
        b"ENVELOPE" => FetchItem::Envelope,
        b"FLAGS" => FetchItem::Flags,
        b"INTERNALDATE" => FetchItem::InternalDate,
        b"RFC822" => FetchItem::Rfc822,
        b"RFC822.HEADER" => FetchItem::Rfc822Header,
        b"RFC822.SIZE" => FetchItem::Rfc822Size,
        b"RFC822.TEXT" => FetchItem::Rfc822Text,
        b"BODYSTRUCTURE" => FetchItem::BodyStructure,
        b"UID" => FetchItem::Uid,
        b"BODY" if c.peek() != Some(b'[') => FetchItem::Body,
        b"BODY" => body_section(c, false)?,
        b"BODY.PEEK" => body_section(c, true)?,
        [] => return expected("FETCH item"),
        _ => return Err(Syntax::UnknownFetchItem(quote(word)).into()),
    };
    Ok(item)
}

/// `section ["<" number "." nz-number ">"]`.
fn body_section(c: &mut Cursor<'_>, peek: bool) -> PResult<FetchItem> {
    let section = section(c)?;
    let partial = if c.eat(b'<') {
        let offset = c.number()?;
        c.expect(b'.', ".")?;
        let length = c.nz_number()?;
        c.expect(b'>', ">")?;
        Some(Partial { offset, length })
    } else {
        None
    };
    Ok(FetchItem::BodySection {
        section,
        partial,
        peek,
    })
}

/// `section = "[" [section-spec] "]"`, where `section-spec = section-msgtext / (section-part
/// ["." section-text])` and `section-part = nz-number *("." nz-number)`.
fn section(c: &mut Cursor<'_>) -> PResult<Section> {
    c.expect(b'[', "[")?;
    let mut section = Section::default();
    if c.eat(b']') {
        return Ok(section);
    }
    if c.peek().is_some_and(|b| b.is_ascii_digit()) {
        loop {
            section.part.push(c.nz_number()?);
            if !c.eat(b'.') {
                break;
            }
            if !c.peek().is_some_and(|b| b.is_ascii_digit()) {
                section.text = Some(section_text(c, true)?);
                break;
            }
        }
    } else {
        section.text = Some(section_text(c, false)?);
    }
    c.expect(b']', "]")?;
    Ok(section)
}

/// `section-text = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT" / "MIME"`;
/// MIME only after part numbers.
fn section_text(c: &mut Cursor<'_>, after_part: bool) -> PResult<SectionText> {
    let word = c.word();
    let text = match word.to_ascii_uppercase().as_slice() {
        b"HEADER" => SectionText::Header,
        b"TEXT" => SectionText::Text,
        b"MIME" if after_part => SectionText::Mime,
        b"HEADER.FIELDS" => header_fields(c, false)?,
        b"HEADER.FIELDS.NOT" => header_fields(c, true)?,
        _ => return expected("section (HEADER, HEADER.FIELDS, TEXT or MIME)"),
    };
    Ok(text)
}

/// `SP header-list`, `header-list = "(" header-fld-name *(SP header-fld-name) ")"`.
fn header_fields(c: &mut Cursor<'_>, not: bool) -> PResult<SectionText> {
    c.sp()?;
    c.expect(b'(', "(")?;
    let mut fields = Vec::new();
    loop {
        fields.push(c.astring("header field name")?.into_owned());
        if c.eat(b')') {
            return Ok(SectionText::HeaderFields { not, fields });
        }
        c.sp()?;
    }
}
