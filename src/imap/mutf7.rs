//! Modified UTF-7, the IMAP4rev1 mailbox name encoding (RFC 3501 section 5.1.3).
//!
//! Printable ASCII stands for itself except `&`, which is written `&-`; every other character
//! is UTF-16 in base64 (with `,` for `/`, no padding) between `&` and `-`. The parser uses
//! [`decode`] to refuse malformed names with BAD, so that the store only ever sees names that
//! mean exactly one thing: the RFC's SHOULD for CREATE, applied to every mailbox argument,
//! since a name that cannot be created cannot be selected either. Decoding is strict: printable
//! ASCII inside base64, superfluous shifts (`&AGE-&AGI-`), non-zero padding bits, stray base64
//! characters and unpaired surrogates are all errors, so `encode(decode(s)) == s` for every
//! name that decodes.

/// Why a name is not modified UTF-7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Mutf7Error {
    #[error("byte {0:#04x} must be base64-encoded")]
    RawByte(u8),
    #[error("base64 section not closed with '-'")]
    Unterminated,
    #[error("invalid base64 character {0:#04x}")]
    InvalidBase64(u8),
    #[error("base64 section does not end on a character boundary")]
    Padding,
    #[error("invalid UTF-16 in base64 section")]
    Utf16,
    #[error("printable ASCII encoded in base64")]
    EncodedAscii,
    #[error("superfluous shift between two base64 sections")]
    SuperfluousShift,
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn is_direct(c: u32) -> bool {
    (0x20..0x7f).contains(&c)
}

fn base64_value(b: u8) -> Option<u32> {
    match b {
        b'A'..=b'Z' => Some(u32::from(b - b'A')),
        b'a'..=b'z' => Some(u32::from(b - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(b - b'0') + 52),
        b'+' => Some(62),
        b',' => Some(63),
        _ => None,
    }
}

/// The Unicode name that `name` encodes.
pub fn decode(name: &str) -> Result<String, Mutf7Error> {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    // Where the last base64 section ended: a new one may not start right there.
    let mut section_end = None;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'&' {
            if !is_direct(u32::from(b)) {
                return Err(Mutf7Error::RawByte(b));
            }
            out.push(char::from(b));
            i += 1;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'-') {
            out.push('&');
            i += 2;
            continue;
        }
        if section_end == Some(i) {
            return Err(Mutf7Error::SuperfluousShift);
        }
        let start = i + 1;
        let len = bytes[start..]
            .iter()
            .position(|&b| b == b'-')
            .ok_or(Mutf7Error::Unterminated)?;
        decode_section(&bytes[start..start + len], &mut out)?;
        i = start + len + 1;
        section_end = Some(i);
    }
    Ok(out)
}

/// Appends the characters of one base64 section (between `&` and `-`, never empty).
fn decode_section(section: &[u8], out: &mut String) -> Result<(), Mutf7Error> {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut units = Vec::with_capacity(section.len() * 6 / 16);
    for &b in section {
        let value = base64_value(b).ok_or(Mutf7Error::InvalidBase64(b))?;
        bits = (bits << 6) | value;
        nbits += 6;
        if nbits >= 16 {
            nbits -= 16;
            units.push((bits >> nbits) as u16);
            bits &= (1 << nbits) - 1;
        }
    }
    // What is left must be fewer bits than one base64 character carries, all zero: anything
    // more is a character that encodes nothing, so the same name would have two spellings.
    if nbits >= 6 || bits != 0 || units.is_empty() {
        return Err(Mutf7Error::Padding);
    }
    for c in char::decode_utf16(units) {
        let c = c.map_err(|_| Mutf7Error::Utf16)?;
        if is_direct(u32::from(c)) {
            return Err(Mutf7Error::EncodedAscii);
        }
        out.push(c);
    }
    Ok(())
}

/// The modified UTF-7 form of a Unicode name.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for c in name.chars() {
        if is_direct(u32::from(c)) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Writes the pending UTF-16 units as one base64 section.
fn flush(units: &mut Vec<u16>, out: &mut String) {
    if units.is_empty() {
        return;
    }
    out.push('&');
    let mut bits = 0u32;
    let mut nbits = 0;
    for unit in units.drain(..) {
        bits = (bits << 16) | u32::from(unit);
        nbits += 16;
        while nbits >= 6 {
            nbits -= 6;
            out.push(char::from(ALPHABET[((bits >> nbits) & 0x3f) as usize]));
        }
        bits &= (1 << nbits) - 1;
    }
    if nbits > 0 {
        out.push(char::from(
            ALPHABET[((bits << (6 - nbits)) & 0x3f) as usize],
        ));
    }
    out.push('-');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_3501_example() {
        let name = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
        let unicode = "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}";
        assert_eq!(decode(name).unwrap(), unicode);
        assert_eq!(encode(unicode), name);
        // The RFC's corrected forms of its two bad examples.
        assert_eq!(decode("&Jjo-!").unwrap(), "\u{263a}!");
        assert_eq!(
            decode("&U,BTF2XlZyyKng-").unwrap(),
            "\u{53f0}\u{5317}\u{65e5}\u{672c}\u{8a9e}"
        );
        assert_eq!(
            encode("\u{53f0}\u{5317}\u{65e5}\u{672c}\u{8a9e}"),
            "&U,BTF2XlZyyKng-"
        );
    }

    #[test]
    fn rfc_3501_bad_examples_are_refused() {
        // No shift back to ASCII before "!".
        assert_eq!(decode("&Jjo!"), Err(Mutf7Error::Unterminated));
        assert_eq!(
            decode("&U,BTFw-&ZeVnLIqe-"),
            Err(Mutf7Error::SuperfluousShift)
        );
    }

    #[test]
    fn ampersand_and_ascii() {
        assert_eq!(decode("Tom &- Jerry").unwrap(), "Tom & Jerry");
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(decode("&-&-").unwrap(), "&&");
        // A base64 section followed by an escaped "&" is not a superfluous shift.
        assert_eq!(decode("&AOk-&-").unwrap(), "\u{e9}&");
        assert_eq!(decode("").unwrap(), "");
        assert_eq!(encode("INBOX.Sent"), "INBOX.Sent");
    }

    #[test]
    fn malformed_names() {
        assert_eq!(decode("caf\u{e9}"), Err(Mutf7Error::RawByte(0xc3)));
        assert_eq!(decode("a\tb"), Err(Mutf7Error::RawByte(b'\t')));
        assert_eq!(decode("a\x7fb"), Err(Mutf7Error::RawByte(0x7f)));
        assert_eq!(decode("&"), Err(Mutf7Error::Unterminated));
        assert_eq!(decode("&AOk"), Err(Mutf7Error::Unterminated));
        assert_eq!(decode("&AO/-"), Err(Mutf7Error::InvalidBase64(b'/')));
        assert_eq!(decode("&AOk=-"), Err(Mutf7Error::InvalidBase64(b'=')));
        // "é" is 00E9: "AOk" carries 18 bits, the last two zero. "AOl" has a non-zero pad bit;
        // "AOkA" an extra character.
        assert_eq!(decode("&AOl-"), Err(Mutf7Error::Padding));
        assert_eq!(decode("&AOkA-"), Err(Mutf7Error::Padding));
        assert_eq!(decode("&A-"), Err(Mutf7Error::Padding));
        // "A" (0041) must stand for itself.
        assert_eq!(decode("&AEE-"), Err(Mutf7Error::EncodedAscii));
        // A lone high surrogate (D83D).
        assert_eq!(decode("&2D0-"), Err(Mutf7Error::Utf16));
    }

    #[test]
    fn astral_characters_use_surrogate_pairs() {
        let name = "mail \u{1f600}";
        let encoded = encode(name);
        assert_eq!(encoded, "mail &2D3eAA-");
        assert_eq!(decode(&encoded).unwrap(), name);
    }

    #[test]
    fn round_trip_of_assorted_names() {
        let names = [
            "\u{e9}t\u{e9}",
            "Entw\u{fc}rfe",
            "\u{41f}\u{43e}\u{447}\u{442}\u{430}/\u{412}\u{445}\u{43e}\u{434}\u{44f}\u{449}\u{438}\u{435}",
            "a\u{0}b\u{1f}c",
            "&&\u{e9}&",
            "\u{7f}",
        ];
        for name in names {
            let encoded = encode(name);
            assert!(
                encoded.bytes().all(|b| is_direct(u32::from(b))),
                "{encoded}"
            );
            assert_eq!(decode(&encoded).as_deref(), Ok(name), "{encoded}");
        }
    }
}
