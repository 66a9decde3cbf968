//! The RFC 822/2045 tokenizer behind Content-* parameters and addresses, with Dovecot's
//! leniencies.
//!
//! mail-parser has its own tokenizers, but they decode as they go (RFC 2047 words, RFC 2231
//! parameters) and recover from broken input in their own way, while ENVELOPE and
//! BODYSTRUCTURE must show the raw text exactly as far as Dovecot's tokenizer got before it
//! gave up. So this is a small cursor over one header value whose every function keeps the
//! C convention Dovecot's callers depend on: -1 for a syntax error, 0 when the input is used
//! up, 1 when there is more (the cursor then sits on the next token, comments and white
//! space skipped).

/// `-1`, `0` or `1`, as described in the module documentation.
pub(crate) type Ret = i32;

/// What Dovecot puts in place of a NUL in quoted strings and comments: U+FFFD.
const NUL_REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

/// Dovecot's atext table: 1 = atext, 2 = alphanumeric or 8-bit, 4 = atext that is a MIME
/// tspecial (`/`, `=`, `?`).
fn atext_class(b: u8) -> u8 {
    match b {
        b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' | 0x80..=0xff => 2,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'^' | b'_' | b'`'
        | b'{' | b'|' | b'}' | b'~' => 1,
        b'/' | b'=' | b'?' => 4,
        _ => 0,
    }
}

pub(crate) fn is_atext(b: u8) -> bool {
    atext_class(b) != 0
}

fn is_mime_token_char(b: u8) -> bool {
    atext_class(b) & 3 != 0 || b == b'.'
}

/// A cursor over one header value.
pub(crate) struct Cursor<'a> {
    pub data: &'a [u8],
    pub pos: usize,
    /// The text of the last comment skipped, when the caller wants it (addresses use a
    /// comment as the display name of a bare addr-spec).
    pub last_comment: Option<Vec<u8>>,
    /// Replace NUL in quoted strings and comments (Dovecot does for addresses and
    /// parameters).
    pub replace_nul: bool,
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8]) -> Cursor<'a> {
        Cursor {
            data,
            pos: 0,
            last_comment: None,
            replace_nul: false,
        }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The current byte; 0 at the end, which no caller mistakes for a token (Dovecot reads
    /// the NUL terminator there).
    pub fn peek(&self) -> u8 {
        self.data.get(self.pos).copied().unwrap_or(0)
    }

    fn more(&self) -> Ret {
        Ret::from(!self.at_end())
    }

    pub fn skip_comment(&mut self) -> Ret {
        let mut level = 1;
        let mut comment = self.last_comment.take().map(|mut c| {
            c.clear();
            c
        });
        self.pos += 1;
        let mut start = self.pos;
        while self.pos < self.data.len() {
            match self.data[self.pos] {
                0 => {
                    if self.replace_nul
                        && let Some(c) = comment.as_mut()
                    {
                        c.extend_from_slice(&self.data[start..self.pos]);
                        c.extend_from_slice(NUL_REPLACEMENT);
                        start = self.pos + 1;
                    }
                }
                b'(' => level += 1,
                b')' => {
                    level -= 1;
                    if level == 0 {
                        if let Some(c) = comment.as_mut() {
                            c.extend_from_slice(&self.data[start..self.pos]);
                        }
                        self.last_comment = comment;
                        self.pos += 1;
                        return self.more();
                    }
                }
                b'\n' => {
                    // Folding inside a comment: the (CR)LF is not part of the text.
                    if let Some(c) = comment.as_mut() {
                        let mut end = self.pos;
                        if end > start && self.data[end - 1] == b'\r' {
                            end -= 1;
                        }
                        c.extend_from_slice(&self.data[start..end]);
                        start = self.pos + 1;
                    }
                }
                b'\\' => {
                    self.pos += 1;
                    if self.pos >= self.data.len() {
                        self.last_comment = comment;
                        return -1;
                    }
                    if matches!(self.data[self.pos], b'\r' | b'\n' | 0) {
                        // Not an escape: the next byte is handled as itself.
                        self.pos -= 1;
                    } else {
                        if let Some(c) = comment.as_mut() {
                            c.extend_from_slice(&self.data[start..self.pos - 1]);
                        }
                        start = self.pos;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        self.last_comment = comment;
        -1
    }

    /// Skips white space (CR and LF included) and comments.
    pub fn skip_lwsp(&mut self) -> Ret {
        while self.pos < self.data.len() {
            match self.data[self.pos] {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'(' => {
                    if self.skip_comment() < 0 {
                        return -1;
                    }
                }
                _ => break,
            }
        }
        self.more()
    }

    pub fn parse_atom(&mut self, out: &mut Vec<u8>) -> Ret {
        if self.at_end() || !is_atext(self.peek()) {
            return -1;
        }
        let start = self.pos;
        while self.pos < self.data.len() && is_atext(self.data[self.pos]) {
            self.pos += 1;
        }
        out.extend_from_slice(&self.data[start..self.pos]);
        if self.at_end() { 0 } else { self.skip_lwsp() }
    }

    /// dot-atom, allowing white space around the dots as RFC 822 did.
    pub fn parse_dot_atom(&mut self, out: &mut Vec<u8>) -> Ret {
        if self.at_end() || !is_atext(self.peek()) {
            return -1;
        }
        let mut start = self.pos;
        self.pos += 1;
        while self.pos < self.data.len() {
            if is_atext(self.data[self.pos]) {
                self.pos += 1;
                continue;
            }
            if start == self.pos {
                // Nothing after a dot.
                return -1;
            }
            out.extend_from_slice(&self.data[start..self.pos]);
            let ret = self.skip_lwsp();
            if ret <= 0 {
                return ret;
            }
            if self.peek() != b'.' {
                return 1;
            }
            self.pos += 1;
            out.push(b'.');
            if self.skip_lwsp() <= 0 {
                return -1;
            }
            start = self.pos;
        }
        out.extend_from_slice(&self.data[start..self.pos]);
        0
    }

    /// A MIME token; it may be empty.
    pub fn parse_mime_token(&mut self, out: &mut Vec<u8>) -> Ret {
        let start = self.pos;
        while self.pos < self.data.len() && is_mime_token_char(self.data[self.pos]) {
            self.pos += 1;
        }
        out.extend_from_slice(&self.data[start..self.pos]);
        if self.at_end() { 0 } else { self.skip_lwsp() }
    }

    /// A quoted string at `"`: escapes undone, folding (CR)LF removed.
    pub fn parse_quoted_string(&mut self, out: &mut Vec<u8>) -> Ret {
        self.pos += 1;
        let mut start = self.pos;
        while self.pos < self.data.len() {
            match self.data[self.pos] {
                0 if self.replace_nul => {
                    out.extend_from_slice(&self.data[start..self.pos]);
                    out.extend_from_slice(NUL_REPLACEMENT);
                    start = self.pos + 1;
                }
                b'"' => {
                    out.extend_from_slice(&self.data[start..self.pos]);
                    self.pos += 1;
                    return self.skip_lwsp();
                }
                b'\n' => {
                    let mut end = self.pos;
                    if end > start && self.data[end - 1] == b'\r' {
                        end -= 1;
                    }
                    out.extend_from_slice(&self.data[start..end]);
                    start = self.pos + 1;
                }
                b'\\' => {
                    self.pos += 1;
                    if self.pos >= self.data.len() {
                        return -1;
                    }
                    if matches!(self.data[self.pos], b'\r' | b'\n' | 0) {
                        self.pos -= 1;
                    } else {
                        out.extend_from_slice(&self.data[start..self.pos - 1]);
                        start = self.pos;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        -1
    }

    fn parse_atom_or_dot(&mut self, out: &mut Vec<u8>) -> Ret {
        let start = self.pos;
        while self.pos < self.data.len() && (is_atext(self.data[self.pos]) || self.peek() == b'.') {
            self.pos += 1;
        }
        out.extend_from_slice(&self.data[start..self.pos]);
        if self.at_end() { 0 } else { self.skip_lwsp() }
    }

    /// phrase = 1*word / obs-phrase; words are joined with one space.
    pub fn parse_phrase(&mut self, out: &mut Vec<u8>) -> Ret {
        if self.at_end() {
            return 0;
        }
        if self.peek() == b'.' {
            return -1;
        }
        loop {
            let ret = if self.peek() == b'"' {
                self.parse_quoted_string(out)
            } else {
                self.parse_atom_or_dot(out)
            };
            if ret <= 0 {
                return ret;
            }
            let c = self.peek();
            if !is_atext(c) && c != b'"' && c != b'.' {
                break;
            }
            out.push(b' ');
        }
        self.skip_lwsp()
    }

    /// `[...]`, kept with its brackets and escapes.
    fn parse_domain_literal(&mut self, out: &mut Vec<u8>) -> Ret {
        let mut start = self.pos;
        self.pos += 1;
        while self.pos < self.data.len() {
            match self.data[self.pos] {
                0 if self.replace_nul => {
                    out.extend_from_slice(&self.data[start..self.pos]);
                    out.extend_from_slice(NUL_REPLACEMENT);
                    start = self.pos + 1;
                }
                b'[' => return -1,
                b']' => {
                    out.extend_from_slice(&self.data[start..=self.pos]);
                    self.pos += 1;
                    return self.skip_lwsp();
                }
                b'\n' => {
                    let mut end = self.pos;
                    if end > start && self.data[end - 1] == b'\r' {
                        end -= 1;
                    }
                    out.extend_from_slice(&self.data[start..end]);
                    start = self.pos + 1;
                }
                b'\\' => {
                    self.pos += 1;
                    if self.pos >= self.data.len() {
                        return -1;
                    }
                    if matches!(self.data[self.pos], b'\r' | b'\n' | 0) {
                        out.extend_from_slice(&self.data[start..self.pos]);
                        start = self.pos;
                        self.pos -= 1;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        -1
    }

    /// A domain at `@`.
    pub fn parse_domain(&mut self, out: &mut Vec<u8>) -> Ret {
        self.pos += 1;
        if self.skip_lwsp() <= 0 {
            return -1;
        }
        if self.peek() == b'[' {
            self.parse_domain_literal(out)
        } else {
            self.parse_dot_atom(out)
        }
    }

    /// `type/subtype` into `out`. Both must be non-empty tokens and nothing but a
    /// parameter may follow; otherwise -1, and `out` is left as it was.
    pub fn parse_content_type(&mut self, out: &mut Vec<u8>) -> Ret {
        let start_len = out.len();
        if self.skip_lwsp() <= 0 {
            return -1;
        }
        if self.parse_mime_token(out) <= 0 || out.len() == start_len {
            return -1;
        }
        if self.peek() != b'/' {
            out.truncate(start_len);
            return -1;
        }
        self.pos += 1;
        if self.skip_lwsp() <= 0 {
            out.truncate(start_len);
            return -1;
        }
        out.push(b'/');
        let sub_start = out.len();
        let ret = self.parse_mime_token(out);
        if ret < 0 || out.len() == sub_start || (!self.at_end() && self.peek() != b';') {
            out.truncate(start_len);
            return -1;
        }
        ret
    }

    /// `; attribute=value`: 0 at the end, -1 broken, 1 with the pair.
    fn parse_content_param(&mut self) -> (Ret, Vec<u8>, Vec<u8>) {
        let mut key = Vec::new();
        let mut value = Vec::new();
        if self.at_end() {
            return (0, key, value);
        }
        if self.peek() != b';' {
            return (-1, key, value);
        }
        self.pos += 1;
        if self.skip_lwsp() <= 0 {
            return (-1, key, value);
        }
        if self.parse_mime_token(&mut key) <= 0 {
            return (-1, key, value);
        }
        if self.peek() != b'=' {
            return (-1, key, value);
        }
        self.pos += 1;
        let mut ret = self.skip_lwsp();
        if ret <= 0 {
            // broken or no value
        } else if self.peek() == b'"' {
            ret = self.parse_quoted_string(&mut value);
        } else if self.peek() == b'=' {
            // Broken senders write name==?utf-8?b?...?= unquoted.
            while self.pos < self.data.len()
                && !matches!(self.data[self.pos], b';' | b' ' | b'\t' | b'\r' | b'\n')
            {
                value.push(self.data[self.pos]);
                self.pos += 1;
            }
        } else {
            ret = self.parse_mime_token(&mut value);
        }
        (if ret < 0 { -1 } else { 1 }, key, value)
    }

    /// The parameters after a Content-Type or Content-Disposition value, with RFC 2231
    /// continuations merged the way Dovecot merges them (`name*0*`, `name*1` become one
    /// `name*` whose value stays %-encoded).
    pub fn parse_params(&mut self) -> Vec<(Vec<u8>, Vec<u8>)> {
        struct Piece {
            key: Vec<u8>,
            value: Vec<u8>,
            idx: u32,
            extended: bool,
        }
        let saved = self.replace_nul;
        self.replace_nul = true;
        let mut result = Vec::new();
        let mut pieces: Vec<Piece> = Vec::new();
        loop {
            let (ret, key, value) = self.parse_content_param();
            if ret == 0 {
                break;
            }
            if ret < 0 {
                // Skip a byte and try again, as Dovecot does.
                if self.at_end() {
                    break;
                }
                self.pos += 1;
                continue;
            }
            // Dovecot works on C strings: a key ends at its first NUL.
            let key_c = match memchr::memchr(0, &key) {
                Some(i) => &key[..i],
                None => &key[..],
            };
            let mut plain = true;
            if let Some(star) = memchr::memchr(b'*', key_c) {
                let rest = &key_c[star + 1..];
                let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                let idx = if rest.is_empty() {
                    0
                } else {
                    rest[..digits].iter().fold(0u32, |n, &d| {
                        n.wrapping_mul(10).wrapping_add(u32::from(d - b'0'))
                    })
                };
                let after = if rest.is_empty() {
                    rest
                } else {
                    &rest[digits..]
                };
                let (extended, tail) = match after.first() {
                    Some(b'*') => (true, &after[1..]),
                    _ => (false, after),
                };
                if tail.is_empty() {
                    plain = false;
                    pieces.push(Piece {
                        key: key_c[..star].to_vec(),
                        value: c_str(&value).to_vec(),
                        idx,
                        extended,
                    });
                }
            }
            if plain {
                result.push((key_c.to_vec(), c_str(&value).to_vec()));
            }
        }
        self.replace_nul = saved;
        if pieces.is_empty() {
            return result;
        }
        pieces.sort_by(|a, b| a.key.cmp(&b.key).then(a.idx.cmp(&b.idx)));
        let mut i = 0;
        while i < pieces.len() {
            let mut ok = true;
            let mut have_extended = false;
            let mut next_idx = 0u32;
            let mut j = i;
            while j < pieces.len() && pieces[i].key.eq_ignore_ascii_case(&pieces[j].key) {
                if pieces[j].idx != next_idx {
                    ok = false;
                }
                have_extended |= pieces[j].extended;
                next_idx = next_idx.wrapping_add(1);
                j += 1;
            }
            if !ok {
                for p in &pieces[i..j] {
                    let mut key = p.key.clone();
                    key.push(b'*');
                    key.extend_from_slice(p.idx.to_string().as_bytes());
                    if p.extended {
                        key.push(b'*');
                    }
                    result.push((key, p.value.clone()));
                }
            } else {
                let mut value = Vec::new();
                if !pieces[i].extended && have_extended {
                    value.extend_from_slice(b"''");
                }
                for p in &pieces[i..j] {
                    if !p.extended && have_extended {
                        for &b in &p.value {
                            if b == b'%' {
                                value.extend_from_slice(b"%25");
                            } else {
                                value.push(b);
                            }
                        }
                    } else {
                        value.extend_from_slice(&p.value);
                    }
                }
                let mut key = pieces[i].key.clone();
                if have_extended {
                    key.push(b'*');
                }
                result.push((key, value));
            }
            i = j;
        }
        result
    }
}

/// Header text as Dovecot keeps it: every NUL replaced by U+FFFD.
pub(crate) fn replace_nuls(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &b in s {
        if b == 0 {
            out.extend_from_slice(NUL_REPLACEMENT);
        } else {
            out.push(b);
        }
    }
    out
}

/// Up to the first NUL, as a C string would end.
pub(crate) fn c_str(s: &[u8]) -> &[u8] {
    match memchr::memchr(0, s) {
        Some(i) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: &str) -> Vec<(String, String)> {
        let mut c = Cursor::new(v.as_bytes());
        let mut ct = Vec::new();
        c.parse_content_type(&mut ct);
        c.parse_params()
            .into_iter()
            .map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
            .collect()
    }

    #[test]
    fn content_type_and_params() {
        let mut c = Cursor::new(b" text / plain (x) ; charset=\"us-ascii\"");
        let mut ct = Vec::new();
        assert_eq!(c.parse_content_type(&mut ct), 1);
        assert_eq!(ct, b"text/plain");
        assert_eq!(
            c.parse_params(),
            vec![(b"charset".to_vec(), b"us-ascii".to_vec())]
        );
    }

    #[test]
    fn rfc2231_merged_but_not_decoded() {
        assert_eq!(
            params("a/b; name*0*=utf-8''%41; name*1=b%; x=1"),
            vec![
                ("x".into(), "1".into()),
                ("name*".into(), "utf-8''%41b%25".into())
            ]
        );
        assert_eq!(
            params("a/b; n*1=b; n*2=c"),
            vec![("n*1".into(), "b".into()), ("n*2".into(), "c".into())]
        );
    }

    #[test]
    fn broken_params_are_skipped() {
        assert_eq!(
            params("a/b; =x; ok=1; bare; q=2"),
            // An empty name is a name; after a parameter without `=` Dovecot skips byte by
            // byte and never finds the next `;`.
            vec![("".into(), "x".into()), ("ok".into(), "1".into())]
        );
    }

    #[test]
    fn equals_workaround() {
        assert_eq!(
            params("a/b; q==?utf-8?q?x?= ; r=1"),
            vec![
                ("q".into(), "=?utf-8?q?x?=".into()),
                ("r".into(), "1".into())
            ]
        );
    }

    #[test]
    fn phrase_and_comments() {
        let mut c = Cursor::new(b"\"Joe Q.\" Public (c) <x>");
        let mut out = Vec::new();
        assert_eq!(c.parse_phrase(&mut out), 1);
        assert_eq!(out, b"Joe Q. Public");
        assert_eq!(c.peek(), b'<');
    }
}
