//! Writing strings into IMAP responses: atom, quoted string or literal, chosen the way
//! Dovecot 2.3 chooses.
//!
//! RFC 3501 lets a server send any string as quoted or literal; clients must accept both. We
//! still copy Dovecot's choice byte for byte, because ENVELOPE and BODYSTRUCTURE are compared
//! against Dovecot's in tests, caches built by clients from one server should match the
//! other's, and Dovecot's rule is a good one:
//!
//! - quoted when the text is 7-bit without CR or LF and needs at most four escapes (`"` and
//!   `\`); each escape costs a byte, a literal at least five, so past four the literal wins;
//! - a literal `{n}\r\n...` otherwise: 8-bit text, CR or LF (which a quoted string cannot
//!   carry at all), or many escapes;
//! - NUL can be in neither; Dovecot's strings are C strings and never hold one, so a NUL here
//!   forces a literal as well rather than corrupting the response silently.
//!
//! [`string_for_humans`] is Dovecot's variant for display text (ENVELOPE subjects and names):
//! folding and runs of white space collapse to one space, CR/LF vanish, NUL becomes 0x80.

/// Dovecot switches to a literal after this many quoted-specials.
const QUOTED_MAX_ESCAPES: usize = 4;

/// `NIL`, or the string.
pub(crate) fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        None => out.extend_from_slice(b"NIL"),
        Some(s) => string(out, s),
    }
}

/// `NIL`, or the string with every CR and LF removed (header values that may be folded).
pub(crate) fn nstring_nolf(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) if s.iter().any(|&b| b == b'\r' || b == b'\n') => {
            let clean: Vec<u8> = s
                .iter()
                .copied()
                .filter(|&b| b != b'\r' && b != b'\n')
                .collect();
            string(out, &clean);
        }
        _ => nstring(out, s),
    }
}

/// A quoted string or a literal (never an atom, never `NIL`).
pub(crate) fn string(out: &mut Vec<u8>, s: &[u8]) {
    let mut escapes = 0;
    for &b in s {
        match b {
            b'"' | b'\\' => {
                escapes += 1;
                if escapes > QUOTED_MAX_ESCAPES {
                    return literal(out, s);
                }
            }
            b'\r' | b'\n' | 0 | 0x80..=0xff => return literal(out, s),
            _ => {}
        }
    }
    out.push(b'"');
    for &b in s {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// `{n}\r\n` and the bytes.
pub(crate) fn literal(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'{');
    out.extend_from_slice(s.len().to_string().as_bytes());
    out.extend_from_slice(b"}\r\n");
    out.extend_from_slice(s);
}

// Not used inside the crate until the IMAP session writes LIST and STATUS replies.
#[allow(dead_code)]
/// An atom when every byte is an ASTRING-CHAR (and it is not empty and not `NIL`, which
/// would read back as nothing), else a string.
pub(crate) fn astring(out: &mut Vec<u8>, s: &[u8]) {
    if !s.is_empty() && s.iter().all(|&b| is_astring_char(b)) && !s.eq_ignore_ascii_case(b"NIL") {
        out.extend_from_slice(s);
    } else {
        string(out, s);
    }
}

#[allow(dead_code)]
/// A mailbox name, already in modified UTF-7 ([`crate::imap::mutf7`]), as Dovecot writes it
/// in LIST, STATUS and the like: an astring.
pub(crate) fn mailbox(out: &mut Vec<u8>, name: &str) {
    astring(out, name.as_bytes());
}

#[allow(dead_code)]
/// RFC 3501 ASTRING-CHAR: ATOM-CHAR or `]`.
fn is_astring_char(b: u8) -> bool {
    !matches!(b, 0..=0x20 | 0x7f..=0xff | b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\')
}

/// Display text: white space runs become one space, leading and trailing white space go,
/// CR and LF vanish, NUL becomes 0x80. Written quoted when nothing had to change, `""` when
/// nothing is left, else as a literal (Dovecot does not re-check whether the cleaned text
/// would now fit a quoted string).
pub(crate) fn string_for_humans(out: &mut Vec<u8>, s: &[u8]) {
    let mut modify = false;
    let mut last_lwsp = true;
    let mut whitespace_prefix = true;
    let mut removed = 0usize;
    for &b in s {
        match b {
            0 => {
                last_lwsp = false;
                modify = true;
            }
            b'\t' | b' ' => {
                if b == b'\t' {
                    modify = true;
                }
                if last_lwsp {
                    modify = true;
                    removed += 1;
                }
                last_lwsp = true;
            }
            b'\r' | b'\n' => {
                removed += 1;
                modify = true;
            }
            b'"' | b'\\' => {
                modify = true;
                last_lwsp = false;
            }
            _ => {
                if b >= 0x80 {
                    modify = true;
                }
                last_lwsp = false;
            }
        }
        if !last_lwsp {
            whitespace_prefix = false;
        }
    }
    if last_lwsp && !s.is_empty() && !whitespace_prefix {
        modify = true;
        removed += 1;
    }
    if !modify {
        out.push(b'"');
        out.extend_from_slice(s);
        out.push(b'"');
        return;
    }
    if s.len() == removed {
        out.extend_from_slice(b"\"\"");
        return;
    }
    let mut text = Vec::with_capacity(s.len() - removed);
    let mut last_lwsp = true;
    for &b in s {
        match b {
            0 => {
                text.push(0x80);
                last_lwsp = false;
            }
            b'\t' | b' ' => {
                if !last_lwsp {
                    text.push(b' ');
                }
                last_lwsp = true;
            }
            b'\r' | b'\n' => {}
            _ => {
                last_lwsp = false;
                text.push(b);
            }
        }
    }
    if last_lwsp && text.last() == Some(&b' ') {
        text.pop();
    }
    literal(out, &text);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn quoted_until_five_escapes() {
        assert_eq!(w(|o| string(o, b"a\"b")), r#""a\"b""#);
        assert_eq!(w(|o| string(o, br#"\\\\"#)), r#""\\\\\\\\""#);
        assert_eq!(w(|o| string(o, br#"\\\\\"#)), "{5}\r\n\\\\\\\\\\");
    }

    #[test]
    fn eight_bit_and_line_ends_are_literals() {
        assert_eq!(w(|o| string(o, "é".as_bytes())), "{2}\r\né");
        assert_eq!(w(|o| string(o, b"a\nb")), "{3}\r\na\nb");
        assert_eq!(w(|o| nstring(o, None)), "NIL");
        assert_eq!(w(|o| string(o, b"")), "\"\"");
    }

    #[test]
    fn astrings() {
        assert_eq!(w(|o| astring(o, b"INBOX")), "INBOX");
        assert_eq!(w(|o| astring(o, b"a]b")), "a]b");
        assert_eq!(w(|o| astring(o, b"nil")), "\"nil\"");
        assert_eq!(w(|o| astring(o, b"")), "\"\"");
        assert_eq!(w(|o| astring(o, b"a b")), "\"a b\"");
        assert_eq!(w(|o| mailbox(o, "Sent Items")), "\"Sent Items\"");
    }

    #[test]
    fn humans() {
        assert_eq!(w(|o| string_for_humans(o, b"plain text")), "\"plain text\"");
        assert_eq!(w(|o| string_for_humans(o, b"a\n\tb  c ")), "{5}\r\na b c");
        assert_eq!(w(|o| string_for_humans(o, b"  \t")), "\"\"");
        assert_eq!(w(|o| string_for_humans(o, b"")), "\"\"");
        assert_eq!(w(|o| string_for_humans(o, b"q\"")), "{2}\r\nq\"");
        let mut out = Vec::new();
        string_for_humans(&mut out, b"a\0");
        assert_eq!(out, b"{2}\r\na\x80");
    }
}
