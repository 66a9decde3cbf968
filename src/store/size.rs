//! Wire sizes: a message's length in octets as POP3 and IMAP send it.
//!
//! On the wire every line ends in CRLF, while Maildir files often end lines in a bare LF.
//! Dovecot calls the wire size the "virtual size" and counts every LF not preceded by CR as
//! two octets; POP3 LIST/STAT and IMAP RFC822.SIZE must report exactly that number, or
//! clients that check sizes reject the message.

/// The wire size of stored message bytes: each bare LF becomes CRLF; nothing else changes
/// (a missing final newline is not added, a lone CR stays one octet).
pub(super) fn wire_size(bytes: &[u8]) -> u64 {
    let mut bare_lf = 0u64;
    let mut prev = 0u8;
    for &b in bytes {
        if b == b'\n' && prev != b'\r' {
            bare_lf += 1;
        }
        prev = b;
    }
    bytes.len() as u64 + bare_lf
}

#[cfg(test)]
mod tests {
    use super::wire_size;

    #[test]
    fn lf_counts_twice() {
        assert_eq!(wire_size(b"a\nb\n"), 6);
    }

    #[test]
    fn crlf_counts_once() {
        assert_eq!(wire_size(b"a\r\nb\r\n"), 6);
    }

    #[test]
    fn mixed_line_ends() {
        assert_eq!(wire_size(b"a\r\nb\nc\r\n\n"), 11);
    }

    #[test]
    fn no_trailing_newline() {
        assert_eq!(wire_size(b"a\nlast"), 7);
    }

    #[test]
    fn lone_cr_and_empty() {
        assert_eq!(wire_size(b"a\rb"), 3);
        assert_eq!(wire_size(b""), 0);
        assert_eq!(wire_size(b"\n"), 2);
        assert_eq!(wire_size(b"\r"), 1);
    }
}
