//! Quoting client (or other foreign) text inside a protocol reply line.
//!
//! Every protocol echoes something back now and then — an unknown command's name, a bad
//! message number, a reason from the store — and a reply line must never carry a CR or LF
//! that would split it (reply injection), nor long text that would reflect a payload. One
//! rule for all protocols: printable ASCII only, anything else becomes `?`, and at most
//! `max` bytes, marked with `...` when cut.

/// `bytes` made safe to quote in a reply line, cut to `max` bytes.
pub fn quote(bytes: &[u8], max: usize) -> String {
    let mut out: String = bytes
        .iter()
        .take(max)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    if bytes.len() > max {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn line_breaks_and_8bit_become_question_marks() {
        assert_eq!(quote(b"disk\r\nfull\0\xff", 100), "disk??full??");
        assert_eq!(quote("é".as_bytes(), 100), "??");
    }

    #[test]
    fn long_text_is_cut_and_marked() {
        assert_eq!(quote(b"abcdef", 3), "abc...");
        assert_eq!(quote(b"abc", 3), "abc");
    }
}
