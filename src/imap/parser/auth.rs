//! LOGIN, AUTHENTICATE (with the SASL-IR initial response of RFC 4959), ENABLE (RFC 5161) and
//! ID (RFC 2971): the commands about who the client is and what it wants.

use super::lexer::{Cursor, PResult, expected};
use crate::imap::command::{CommandBody, Secret};
use crate::imap::error::Syntax;

/// `AUTHENTICATE SP auth-type [SP (base64 / "=")]`.
pub(super) fn authenticate(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    c.sp()?;
    let mechanism = c.atom("SASL mechanism")?;
    let initial_response = if c.eat(b' ') {
        let response =
            c.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        if response != b"=" && !is_base64(response) {
            return Err(Syntax::Base64.into());
        }
        // Only ASCII was taken.
        Some(Secret(String::from_utf8_lossy(response).into_owned()))
    } else {
        None
    };
    Ok(CommandBody::Authenticate {
        mechanism: String::from_utf8_lossy(mechanism).to_ascii_uppercase(),
        initial_response,
    })
}

/// Non-empty base64 (RFC 3501 `base64`): whole groups of four, `=` padding only at the end.
fn is_base64(text: &[u8]) -> bool {
    if text.is_empty() || !text.len().is_multiple_of(4) {
        return false;
    }
    let data = text
        .strip_suffix(b"==")
        .or_else(|| text.strip_suffix(b"="))
        .unwrap_or(text);
    data.iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// `LOGIN SP userid SP password`, both astrings.
pub(super) fn login(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    c.sp()?;
    let username = c.astring("user name")?.into_owned();
    c.sp()?;
    let password = c.astring("password")?.into_owned();
    Ok(CommandBody::Login {
        username,
        password: Secret(password),
    })
}

/// `ENABLE 1*(SP capability)`.
pub(super) fn enable(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    let mut capabilities = Vec::new();
    while c.eat(b' ') {
        let name = c.atom("capability name")?;
        capabilities.push(String::from_utf8_lossy(name).into_owned());
    }
    if capabilities.is_empty() {
        return expected("SP");
    }
    Ok(CommandBody::Enable { capabilities })
}

/// `ID SP ("(" [string SP nstring *(SP string SP nstring)] ")" / NIL)`.
pub(super) fn id(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    c.sp()?;
    if !c.eat(b'(') {
        return match c.nstring("parameter list")? {
            None => Ok(CommandBody::Id { parameters: None }),
            Some(_) => expected("parameter list"),
        };
    }
    let mut parameters = Vec::new();
    if !c.eat(b')') {
        loop {
            let field = c.string("field name")?.into_owned();
            c.sp()?;
            let value = c.nstring("field value")?.map(|v| v.into_owned());
            parameters.push((field, value));
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
    }
    Ok(CommandBody::Id {
        parameters: Some(parameters),
    })
}
