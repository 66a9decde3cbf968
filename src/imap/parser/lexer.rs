//! The tokens of RFC 3501 section 9 (atoms, numbers, quoted strings, literals, astring,
//! nstring) read from one framed command.
//!
//! A [`Cursor`] walks the bytes of a command as the reader framed them: lines and literal data
//! in place, CRLFs between lines included, the final CRLF not. Tokens are slices of those bytes;
//! only a quoted string with escapes needs a copy. The APPEND message is the exception: the
//! reader moved its bytes out of the buffer as they arrived, and the cursor hands it out where
//! its literal header says it belongs.

use std::borrow::Cow;
use std::num::NonZeroU32;

use crate::imap::error::Syntax;

/// Why parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Fail {
    /// Checking a command that is not complete yet: the parser reached the literal whose data
    /// the client has not been asked for, so everything before it is valid.
    Incomplete,
    Syntax(Syntax),
    TooDeep,
}

impl From<Syntax> for Fail {
    fn from(s: Syntax) -> Self {
        Fail::Syntax(s)
    }
}

pub(super) type PResult<T> = Result<T, Fail>;

pub(super) fn expected<T>(what: &'static str) -> PResult<T> {
    Err(Fail::Syntax(Syntax::Expected(what)))
}

/// `ATOM-CHAR`: any 7-bit character except controls, SP and `( ) { % * " \ ]`.
pub(super) fn is_atom_char(b: u8) -> bool {
    (0x21..0x7f).contains(&b)
        && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// `ASTRING-CHAR`: an atom character or `]`.
pub(super) fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// `list-char`: an atom character, a wildcard or `]`.
pub(super) fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

/// `tag`: an astring character other than `+`.
pub(super) fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

/// A literal found in the command.
pub(super) enum Literal<'a> {
    Data(&'a [u8]),
    /// The APPEND message, which the reader keeps apart.
    Message,
}

pub(super) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// The buffer stops right after a literal header whose data has not been sent yet.
    prefix: bool,
    /// Where the APPEND message's data would begin in `buf`, had the reader left it there.
    message_at: Option<usize>,
    depth: usize,
    max_depth: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(
        buf: &'a [u8],
        prefix: bool,
        message_at: Option<usize>,
        max_depth: usize,
    ) -> Self {
        Cursor {
            buf,
            pos: 0,
            prefix,
            message_at,
            depth: 0,
            max_depth,
        }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Consumes `b` if it is next.
    pub(super) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn expect(&mut self, b: u8, what: &'static str) -> PResult<()> {
        if self.eat(b) { Ok(()) } else { expected(what) }
    }

    /// Exactly one space: RFC 3501 allows nothing else between arguments.
    pub(super) fn sp(&mut self) -> PResult<()> {
        self.expect(b' ', "SP")
    }

    /// The command must end here.
    pub(super) fn end(&self, command: &'static str) -> PResult<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(Syntax::Trailing(command).into())
        }
    }

    /// Consumes and returns the longest run of bytes matching `pred` (possibly empty).
    pub(super) fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        &self.buf[start..self.pos]
    }

    /// `atom`: one or more atom characters.
    pub(super) fn atom(&mut self, what: &'static str) -> PResult<&'a [u8]> {
        match self.take_while(is_atom_char) {
            [] => expected(what),
            atom => Ok(atom),
        }
    }

    /// A keyword made of letters, digits, `.` and `-` (command names, FETCH and SEARCH item
    /// names): the caller compares it case-insensitively.
    pub(super) fn word(&mut self) -> &'a [u8] {
        self.take_while(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    }

    /// Consumes `kw` (ASCII, any case) if the input continues with it.
    pub(super) fn eat_keyword(&mut self, kw: &[u8]) -> bool {
        let end = self.pos + kw.len();
        if end <= self.buf.len() && self.buf[self.pos..end].eq_ignore_ascii_case(kw) {
            self.pos = end;
            true
        } else {
            false
        }
    }

    fn digits(&mut self, what: &'static str) -> PResult<&'a [u8]> {
        match self.take_while(|b| b.is_ascii_digit()) {
            [] => expected(what),
            digits => Ok(digits),
        }
    }

    /// `number`: a 32-bit unsigned value.
    pub(super) fn number(&mut self) -> PResult<u32> {
        let digits = self.digits("number")?;
        to_u32(digits)
    }

    /// `nz-number`: a non-zero number. Leading zeros, which the ABNF does not allow, are
    /// accepted as Dovecot and imap-codec accept them: `007` can only mean 7.
    pub(super) fn nz_number(&mut self) -> PResult<NonZeroU32> {
        let digits = self.digits("number")?;
        let value = to_u32(digits)?;
        NonZeroU32::new(value).ok_or(Fail::Syntax(Syntax::Zero))
    }

    /// `quoted`, without its quotes and with `\\` and `\"` unescaped. Besides the RFC 3501
    /// characters, 8-bit bytes are accepted (RFC 9051 allows UTF-8 here, and clients send it);
    /// only NUL, CR and LF are refused.
    pub(super) fn quoted(&mut self) -> PResult<Cow<'a, [u8]>> {
        self.expect(b'"', "quoted string")?;
        let start = self.pos;
        let mut owned: Option<Vec<u8>> = None;
        let mut run = start;
        loop {
            let Some(b) = self.peek() else {
                return Err(Syntax::UnterminatedQuote.into());
            };
            match b {
                b'"' => {
                    let text = &self.buf[run..self.pos];
                    self.pos += 1;
                    return Ok(match owned {
                        Some(mut v) => {
                            v.extend_from_slice(text);
                            Cow::Owned(v)
                        }
                        None => Cow::Borrowed(&self.buf[start..self.pos - 1]),
                    });
                }
                b'\\' => {
                    let escaped = self.buf.get(self.pos + 1).copied();
                    if !matches!(escaped, Some(b'"' | b'\\')) {
                        return Err(Syntax::InvalidEscape.into());
                    }
                    let v = owned.get_or_insert_with(Vec::new);
                    v.extend_from_slice(&self.buf[run..self.pos]);
                    self.pos += 1;
                    run = self.pos;
                    self.pos += 1;
                }
                b'\r' | b'\n' => return Err(Syntax::UnterminatedQuote.into()),
                0 => return Err(Syntax::Nul.into()),
                _ => self.pos += 1,
            }
        }
    }

    /// `literal`: `{n}` or `{n+}`, a line end, then n bytes of data.
    pub(super) fn literal(&mut self) -> PResult<Literal<'a>> {
        self.expect(b'{', "literal")?;
        let digits = self.digits("literal length")?;
        self.eat(b'+');
        self.expect(b'}', "}")?;
        self.eat(b'\r');
        self.expect(b'\n', "line end after literal length")?;
        if self.message_at == Some(self.pos) {
            return Ok(Literal::Message);
        }
        if self.prefix && self.at_end() {
            return Err(Fail::Incomplete);
        }
        // The reader framed this literal from the same header, so the data is there; a length
        // that does not fit is as wrong as one that does not match.
        let len = usize::try_from(to_u32(digits)?).map_err(|_| Syntax::MissingLiteralData)?;
        let data = self
            .buf
            .get(self.pos..self.pos + len)
            .ok_or(Syntax::MissingLiteralData)?;
        self.pos += len;
        Ok(Literal::Data(data))
    }

    /// `string`: quoted or literal.
    pub(super) fn string(&mut self, what: &'static str) -> PResult<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => match self.literal()? {
                Literal::Data(data) => Ok(Cow::Borrowed(data)),
                Literal::Message => expected(what),
            },
            _ => expected(what),
        }
    }

    /// `astring`: an atom (with `]` allowed) or a string.
    pub(super) fn astring(&mut self, what: &'static str) -> PResult<Cow<'a, [u8]>> {
        match self.take_while(is_astring_char) {
            [] => self.string(what),
            atom => Ok(Cow::Borrowed(atom)),
        }
    }

    /// `nstring`: `NIL` or a string.
    pub(super) fn nstring(&mut self, what: &'static str) -> PResult<Option<Cow<'a, [u8]>>> {
        if matches!(self.peek(), Some(b'"' | b'{')) {
            return self.string(what).map(Some);
        }
        match self.take_while(is_astring_char) {
            nil if nil.eq_ignore_ascii_case(b"NIL") => Ok(None),
            _ => expected(what),
        }
    }

    /// Enters one level of nesting.
    pub(super) fn descend(&mut self) -> PResult<()> {
        if self.depth >= self.max_depth {
            return Err(Fail::TooDeep);
        }
        self.depth += 1;
        Ok(())
    }

    pub(super) fn ascend(&mut self) {
        self.depth -= 1;
    }
}

fn to_u32(digits: &[u8]) -> PResult<u32> {
    // At most 10 digits fit; counting them first keeps a long run from overflowing.
    let significant = digits.iter().skip_while(|&&d| d == b'0').count();
    if significant > 10 {
        return Err(Syntax::NumberTooBig.into());
    }
    let value = digits
        .iter()
        .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
    u32::try_from(value).map_err(|_| Syntax::NumberTooBig.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(buf: &[u8]) -> Cursor<'_> {
        Cursor::new(buf, false, None, 10)
    }

    #[test]
    fn quoted_strings() {
        assert_eq!(cursor(br#""abc" x"#).quoted().unwrap(), &b"abc"[..]);
        assert_eq!(cursor(br#""""#).quoted().unwrap(), &b""[..]);
        assert_eq!(cursor(br#""a\"b\\c""#).quoted().unwrap(), &br#"a"b\c"#[..]);
        assert!(matches!(
            cursor(br#""a\"b""#).quoted().unwrap(),
            Cow::Owned(_)
        ));
        assert!(matches!(
            cursor(br#""ab""#).quoted().unwrap(),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            cursor("\"caf\u{e9}\"".as_bytes()).quoted().unwrap(),
            "caf\u{e9}".as_bytes()
        );
        assert_eq!(
            cursor(br#""abc"#).quoted(),
            Err(Syntax::UnterminatedQuote.into())
        );
        assert_eq!(
            cursor(b"\"ab\r\nc\"").quoted(),
            Err(Syntax::UnterminatedQuote.into())
        );
        assert_eq!(
            cursor(br#""a\b""#).quoted(),
            Err(Syntax::InvalidEscape.into())
        );
        assert_eq!(
            cursor(br#""a\"#).quoted(),
            Err(Syntax::InvalidEscape.into())
        );
        assert_eq!(cursor(b"\"a\0\"").quoted(), Err(Syntax::Nul.into()));
    }

    #[test]
    fn literals() {
        let mut c = cursor(b"{3}\r\nabc rest");
        assert!(matches!(c.literal(), Ok(Literal::Data(b"abc"))));
        assert_eq!(c.peek(), Some(b' '));
        assert!(matches!(
            cursor(b"{3+}\nabc").literal(),
            Ok(Literal::Data(b"abc"))
        ));
        assert!(matches!(
            cursor(b"{0}\r\n").literal(),
            Ok(Literal::Data(b""))
        ));
        assert!(matches!(
            cursor(b"{5}\r\nabc").literal(),
            Err(Fail::Syntax(Syntax::MissingLiteralData))
        ));
        assert!(matches!(
            Cursor::new(b"{5}\r\n", true, None, 10).literal(),
            Err(Fail::Incomplete)
        ));
        assert!(matches!(
            Cursor::new(b"{5}\r\n", false, Some(5), 10).literal(),
            Ok(Literal::Message)
        ));
        assert!(matches!(
            cursor(b"{3} abc").literal(),
            Err(Fail::Syntax(Syntax::Expected(_)))
        ));
        assert!(matches!(
            cursor(b"{}\r\n").literal(),
            Err(Fail::Syntax(Syntax::Expected(_)))
        ));
    }

    #[test]
    fn numbers() {
        assert_eq!(cursor(b"4294967295").number(), Ok(u32::MAX));
        assert_eq!(cursor(b"0004294967295").number(), Ok(u32::MAX));
        assert_eq!(
            cursor(b"4294967296").number(),
            Err(Syntax::NumberTooBig.into())
        );
        assert_eq!(
            cursor(&[b'9'; 100]).number(),
            Err(Syntax::NumberTooBig.into())
        );
        assert_eq!(cursor(b"0").number(), Ok(0));
        assert_eq!(cursor(b"x").number(), expected("number"));
        assert_eq!(cursor(b"17").nz_number().map(|n| n.get()), Ok(17));
        assert_eq!(cursor(b"0").nz_number(), Err(Syntax::Zero.into()));
        assert_eq!(cursor(b"07").nz_number().map(|n| n.get()), Ok(7));
        assert_eq!(cursor(b"00").nz_number(), Err(Syntax::Zero.into()));
    }

    #[test]
    fn astring_and_nstring() {
        assert_eq!(cursor(b"a]b c").astring("x").unwrap(), &b"a]b"[..]);
        assert_eq!(cursor(b"\"a b\"").astring("x").unwrap(), &b"a b"[..]);
        assert_eq!(cursor(b"{1}\r\n(").astring("x").unwrap(), &b"("[..]);
        assert_eq!(cursor(b"(").astring("x"), expected("x"));
        assert_eq!(cursor(b"nil").nstring("x"), Ok(None));
        assert_eq!(
            cursor(b"\"NIL\"").nstring("x"),
            Ok(Some(Cow::Borrowed(&b"NIL"[..])))
        );
        assert_eq!(cursor(b"NILS").nstring("x"), expected("x"));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut c = Cursor::new(b"", false, None, 2);
        assert_eq!(c.descend(), Ok(()));
        assert_eq!(c.descend(), Ok(()));
        assert_eq!(c.descend(), Err(Fail::TooDeep));
        c.ascend();
        assert_eq!(c.descend(), Ok(()));
    }

    #[test]
    fn character_classes() {
        for b in b"(){%*\"\\] \x7f\x00\x80".iter() {
            assert!(!is_atom_char(*b), "{b}");
        }
        assert!(is_astring_char(b']'));
        assert!(!is_tag_char(b'+'));
        assert!(is_list_char(b'%') && is_list_char(b'*'));
        assert!(is_atom_char(b'[') && is_atom_char(b'+') && is_atom_char(b'~'));
    }
}
