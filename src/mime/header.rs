//! Header lines as Dovecot's header parser sees them.
//!
//! A header block is read one physical line at a time, because the MIME parser must look for
//! an enclosing part's `--boundary` before every line (a part whose header is cut short by a
//! boundary ends there). [`read_line`] gives one line; [`Fields`] assembles the lines of a
//! block into fields for everyone who only needs the finished header.
//!
//! The rules are Dovecot's, including the forgiving ones: a line without a colon is a field
//! whose whole line is the name; white space before the colon is not part of the name; all
//! white space after the colon is skipped (unless the value is nothing but white space, then
//! one character); a line starting with a space or tab continues the previous field, even
//! when that "field" had no colon. A field's value ([`Field::value`]) is its lines joined by
//! a bare LF, CRs dropped, leading white space of continuation lines kept: exactly the
//! `full_value` Dovecot's ENVELOPE and BODYSTRUCTURE code is given, so folded values come
//! out the way Dovecot prints them (a folded Message-ID is a literal with an LF in it).

/// One physical header line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line {
    pub start: usize,
    /// End of the content: before the CR LF, LF, or (at the end of input) the end.
    pub content_end: usize,
    /// After the newline.
    pub end: usize,
    /// The line ends in LF (else the input ended first).
    pub newline: bool,
    /// The line ends in CR LF.
    pub crlf: bool,
}

impl Line {
    /// The empty line that ends a header.
    pub fn is_eoh(&self) -> bool {
        self.newline && self.content_end == self.start
    }
}

/// The line at `pos`, or `None` at the end of input.
pub(crate) fn read_line(msg: &[u8], pos: usize) -> Option<Line> {
    if pos >= msg.len() {
        return None;
    }
    match memchr::memchr(b'\n', &msg[pos..]) {
        Some(i) => {
            let lf = pos + i;
            let crlf = lf > pos && msg[lf - 1] == b'\r';
            Some(Line {
                start: pos,
                content_end: if crlf { lf - 1 } else { lf },
                end: lf + 1,
                newline: true,
                crlf,
            })
        }
        // The input ends inside a line: Dovecot keeps even a final CR in the content.
        None => Some(Line {
            start: pos,
            content_end: msg.len(),
            end: msg.len(),
            newline: false,
            crlf: false,
        }),
    }
}

/// Whether the line after `line` continues the same field.
pub(crate) fn continues(msg: &[u8], line: &Line) -> bool {
    line.newline && matches!(msg.get(line.end), Some(b' ' | b'\t'))
}

/// One field of a header block, possibly several lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    /// Start of the first line.
    pub start: usize,
    /// End of the name (white space before the colon excluded).
    pub name_end: usize,
    /// Start of the value on the first line, or `None` when the line has no colon.
    pub value_start: Option<usize>,
    /// End of the first line's content.
    pub first_end: usize,
    /// After the last line's newline.
    pub end: usize,
}

fn is_lwsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

impl Field {
    /// Reads the name and value position from the first line of a field.
    pub fn from_first_line(msg: &[u8], line: &Line) -> Field {
        let content = &msg[line.start..line.content_end];
        // Dovecot looks for the colon up to the LF, so a colon can never be the CR.
        let colon = memchr::memchr(b':', content);
        let (name_end, value_start) = match colon {
            None => (line.content_end, None),
            Some(c) => {
                let mut name_end = line.start + c;
                while name_end > line.start && is_lwsp(msg[name_end - 1]) {
                    name_end -= 1;
                }
                let value = &content[c + 1..];
                let skip = match value.iter().position(|&b| !is_lwsp(b)) {
                    Some(n) => n,
                    None => usize::from(!value.is_empty()),
                };
                (name_end, Some(line.start + c + 1 + skip))
            }
        };
        Field {
            start: line.start,
            name_end,
            value_start,
            first_end: line.content_end,
            end: line.end,
        }
    }

    pub fn name<'m>(&self, msg: &'m [u8]) -> &'m [u8] {
        &msg[self.start..self.name_end]
    }

    /// The name as C code compares it: up to the first NUL.
    pub fn name_is(&self, msg: &[u8], name: &[u8]) -> bool {
        let n = self.name(msg);
        let n = match memchr::memchr(0, n) {
            Some(i) => &n[..i],
            None => n,
        };
        n.eq_ignore_ascii_case(name)
    }

    /// The unfolded value: lines joined by LF, CRs of line ends dropped.
    pub fn value(&self, msg: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(v) = self.value_start {
            out.extend_from_slice(&msg[v..self.first_end]);
        }
        let mut pos = match read_line(msg, self.start) {
            Some(first) => first.end,
            None => return out,
        };
        while pos < self.end {
            let Some(line) = read_line(msg, pos) else {
                break;
            };
            out.push(b'\n');
            out.extend_from_slice(&msg[line.start..line.content_end]);
            pos = line.end;
        }
        out
    }

    /// The raw lines of the field as stored.
    pub fn raw<'m>(&self, msg: &'m [u8]) -> &'m [u8] {
        &msg[self.start..self.end]
    }
}

/// The fields of a header block (which may or may not include its ending empty line).
pub(crate) struct Fields<'m> {
    msg: &'m [u8],
    pos: usize,
    end: usize,
    eoh: Option<std::ops::Range<usize>>,
}

impl<'m> Fields<'m> {
    /// The fields in `msg[range]`.
    pub fn new(msg: &'m [u8], range: std::ops::Range<usize>) -> Fields<'m> {
        Fields {
            msg,
            pos: range.start,
            end: range.end.min(msg.len()),
            eoh: None,
        }
    }

    /// The empty line that ended the block, once iteration has reached it.
    pub fn eoh(&self) -> Option<std::ops::Range<usize>> {
        self.eoh.clone()
    }
}

impl Iterator for Fields<'_> {
    type Item = Field;

    fn next(&mut self) -> Option<Field> {
        let block = &self.msg[..self.end];
        let line = read_line(block, self.pos)?;
        if line.is_eoh() {
            self.eoh = Some(line.start..line.end);
            self.pos = self.end;
            return None;
        }
        let mut field = Field::from_first_line(block, &line);
        let mut last = line;
        while continues(block, &last) {
            match read_line(block, last.end) {
                Some(next) => last = next,
                None => break,
            }
        }
        field.end = last.end;
        self.pos = last.end;
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(m: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        Fields::new(m, 0..m.len())
            .map(|f| (f.name(m).to_vec(), f.value(m)))
            .collect()
    }

    #[test]
    fn names_values_and_folding() {
        let m = b"Subject:  hello\r\n\tworld\r\nX-Empty:   \nno colon\nTo : a\n\nbody";
        assert_eq!(
            fields(m),
            vec![
                (b"Subject".to_vec(), b"hello\n\tworld".to_vec()),
                (b"X-Empty".to_vec(), b"  ".to_vec()),
                (b"no colon".to_vec(), b"".to_vec()),
                (b"To".to_vec(), b"a".to_vec()),
            ]
        );
    }

    #[test]
    fn unterminated_last_line_keeps_cr() {
        let m = b"A: b\r";
        assert_eq!(fields(m), vec![(b"A".to_vec(), b"b\r".to_vec())]);
        assert!(read_line(m, 5).is_none());
    }
}
