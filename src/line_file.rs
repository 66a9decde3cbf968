//! What the line-oriented files Postern reads (the passwd-file, the proxy's route file)
//! share: UTF-8 text whose errors name the line, and numbered lines with blank lines and
//! `#` comments skipped. Each file's own syntax stays in its module.

/// `bytes` as UTF-8, or the 1-based number of the line holding the first invalid byte, so
/// that the error can say `file:line` like every other error in these files.
pub fn utf8_text(bytes: Vec<u8>) -> Result<String, usize> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        1 + valid.iter().filter(|&&b| b == b'\n').count()
    })
}

/// The lines that say something, with their 1-based numbers: LF or CRLF ends, without the
/// CR; blank lines and lines starting with `#` (after leading blanks) left out.
pub fn content_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n').enumerate().filter_map(|(index, raw)| {
        let content = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = content.trim();
        (!trimmed.is_empty() && !trimmed.starts_with('#')).then_some((index + 1, content))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bad_byte_names_its_line() {
        assert_eq!(utf8_text(b"a\nb".to_vec()), Ok("a\nb".to_owned()));
        assert_eq!(utf8_text(b"ok\r\nok\n\xff\n".to_vec()), Err(3));
        assert_eq!(utf8_text(b"\xc3".to_vec()), Err(1));
    }

    #[test]
    fn comments_and_blank_lines_are_skipped_and_lines_keep_their_numbers() {
        let text = "# head\r\nalice:x\r\n\n   \n  # indented comment\nbob:y  \n";
        let lines: Vec<_> = content_lines(text).collect();
        assert_eq!(lines, [(2, "alice:x"), (6, "bob:y  ")]);
    }
}
