//! The MIME structure of a message: where each part's header and body are, their sizes and
//! line counts on the wire, and what kind of part each is.
//!
//! This is where Postern departs furthest from mail-parser. mail-parser finds parts its own
//! way (its boundary matching, where a part ends, how a truncated or unterminated multipart
//! is repaired), and BODYSTRUCTURE sizes, line counts and part numbers must be the ones
//! Dovecot computes, for every malformed message as well, or a client that cached one
//! server's answer and asks the other for `BODY[2.1]` gets the wrong bytes. So the
//! structure is found by a parser that follows the rules of Dovecot 2.3's message parser:
//!
//! - a boundary line is `--` plus a prefix match of an open boundary (the longest one; the
//!   innermost on a tie), whatever follows on the line; `--boundary--` closes it;
//! - the CR LF or LF before a boundary line belongs to the boundary, not to the part before;
//! - every header line (and the position right after the empty line ending a header) is
//!   checked for an enclosing part's boundary: a part whose header is cut short by one ends
//!   there, and the header's last newline goes to the enclosing part;
//! - a multipart's boundary only counts when its header ends with an empty line and the
//!   part is MIME (has MIME-Version or Content-Type); without Content-Type a part is
//!   text/plain, or message/rfc822 directly inside multipart/digest;
//! - a boundary found inside a nested part closes every part inside the one it belongs to;
//! - no more than 100 levels of nesting and 10000 parts: deeper multiparts and messages are
//!   left as opaque bodies.
//!
//! Sizes are counted the way Dovecot counts its "virtual" (wire) size: every LF not preceded
//! by CR counts two bytes. Lines are LFs.

use super::header::{self, Field};
use super::rfc822::Cursor;

pub(crate) const MULTIPART: u8 = 0x01;
pub(crate) const DIGEST: u8 = 0x02;
pub(crate) const RFC822: u8 = 0x04;
pub(crate) const TEXT: u8 = 0x08;
pub(crate) const IS_MIME: u8 = 0x40;

const MAX_NESTED: usize = 100;
/// Longer boundaries are cut to this length (RFC 2046 allows 70).
const BOUNDARY_MAX: usize = 80;
const MAX_TOTAL: usize = 10_000;

/// Octets as stored, octets on the wire, and lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Size {
    pub physical: usize,
    pub wire: u64,
    pub lines: u32,
}

impl Size {
    fn add(&mut self, other: &Size) {
        self.physical += other.physical;
        self.wire += other.wire;
        self.lines += other.lines;
    }
}

/// One MIME part.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    /// Offset of the header in the message.
    pub pos: usize,
    pub header: Size,
    pub body: Size,
    pub flags: u8,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    /// The header's fields, in order.
    pub fields: Vec<Field>,
}

impl Part {
    fn new(pos: usize, parent: Option<usize>) -> Part {
        Part {
            pos,
            header: Size::default(),
            body: Size::default(),
            flags: 0,
            parent,
            children: Vec::new(),
            fields: Vec::new(),
        }
    }

    pub fn body_start(&self) -> usize {
        self.pos + self.header.physical
    }

    pub fn end(&self) -> usize {
        self.body_start() + self.body.physical
    }
}

struct Boundary {
    text: Vec<u8>,
    part: usize,
    epilogue: bool,
}

/// What to do next.
enum Next {
    Header,
    BodyToBoundary,
    BodyToEof,
    Done,
}

struct Parser<'m> {
    msg: &'m [u8],
    pos: usize,
    parts: Vec<Part>,
    cur: usize,
    /// Open boundaries, oldest first.
    boundaries: Vec<Boundary>,
    last_chr: u8,
    depth: usize,
}

/// The parts of `msg`; index 0 is the message itself, children follow their parents.
pub(crate) fn parse(msg: &[u8]) -> Vec<Part> {
    let mut p = Parser {
        msg,
        pos: 0,
        parts: vec![Part::new(0, None)],
        cur: 0,
        boundaries: Vec::new(),
        last_chr: b'\n',
        depth: 0,
    };
    let mut next = Next::Header;
    loop {
        next = match next {
            Next::Header => p.header(),
            Next::BodyToBoundary => p.body_to_boundary(),
            Next::BodyToEof => {
                let end = msg.len();
                p.add_block(p.pos, end);
                Next::Done
            }
            Next::Done => break,
        };
    }
    // The input ended: close every open part.
    while let Some(parent) = p.parts[p.cur].parent {
        p.finish_part(parent);
    }
    p.parts
}

/// Where the message header ends (after its empty line, or at the end of input): the
/// message itself has no enclosing boundary to cut it short.
pub(crate) fn header_end(msg: &[u8]) -> usize {
    let mut pos = 0;
    while let Some(line) = header::read_line(msg, pos) {
        pos = line.end;
        if line.is_eoh() {
            break;
        }
    }
    pos
}

impl Parser<'_> {
    fn too_deep(&self) -> bool {
        self.depth + 1 >= MAX_NESTED || self.parts.len() >= MAX_TOTAL
    }

    /// Counts a body block into the current part, as Dovecot's parser does block by block.
    fn add_block(&mut self, start: usize, end: usize) {
        if end <= start {
            return;
        }
        let data = &self.msg[start..end];
        let mut lines = 0u32;
        let mut missing_cr = 0u64;
        let mut prev = self.last_chr;
        for i in memchr::memchr_iter(b'\n', data) {
            lines += 1;
            let before = if i == 0 { prev } else { data[i - 1] };
            if before != b'\r' {
                missing_cr += 1;
            }
        }
        prev = data[data.len() - 1];
        self.last_chr = prev;
        let body = &mut self.parts[self.cur].body;
        body.physical += data.len();
        body.wire += data.len() as u64 + missing_cr;
        body.lines += lines;
        self.pos = end;
    }

    /// Leaves the current part for its parent, adding its sizes to the parent's body.
    fn finish_part(&mut self, parent: usize) {
        let child = &self.parts[self.cur];
        let (h, b) = (child.header, child.body);
        let p = &mut self.parts[parent];
        p.body.add(&b);
        p.body.add(&h);
        self.cur = parent;
        self.depth = self.depth.saturating_sub(1);
    }

    fn append_child(&mut self, flags: u8) {
        let parent = self.cur;
        let pos = self.parts[parent].end();
        let idx = self.parts.len();
        let mut part = Part::new(pos, Some(parent));
        part.flags = flags;
        self.parts.push(part);
        self.parts[parent].children.push(idx);
        self.cur = idx;
        self.depth += 1;
    }

    /// The open boundary that the line at `at` starts with, if any: the longest one
    /// that the line starts with, the innermost among equals. A boundary that fills the
    /// line exactly, or all but a final `--`, wins at once: "foo--" may be boundary "foo"
    /// ending or boundary "foo--" going on, and the innermost decides.
    fn boundary_at(&self, at: usize) -> Option<usize> {
        let rest = &self.msg[at.min(self.msg.len())..];
        if rest.len() < 2 || rest[0] != b'-' || rest[1] != b'-' {
            return None;
        }
        let data = &rest[2..];
        let (find, trailing_dashes) = match memchr::memchr(b'\n', data) {
            Some(lf) => {
                let mut n = lf;
                if n > 0 && data[n - 1] == b'\r' {
                    n -= 1;
                }
                (n, n > 2 && data[n - 1] == b'-' && data[n - 2] == b'-')
            }
            None => (data.len().min(BOUNDARY_MAX + 4), false),
        };
        let mut best: Option<usize> = None;
        for (i, b) in self.boundaries.iter().enumerate().rev() {
            let blen = b.text.len();
            if blen <= find
                && data[..blen] == b.text[..]
                && best.is_none_or(|j| self.boundaries[j].text.len() < blen)
            {
                best = Some(i);
                if blen == find || (trailing_dashes && blen + 2 == find) {
                    break;
                }
            }
        }
        best
    }

    fn epilogue_at(&self, at: usize, boundary: usize) -> bool {
        let blen = self.boundaries[boundary].text.len();
        let after = at + 2 + blen;
        self.msg.get(after..after + 2) == Some(b"--")
    }

    /// Parses the current part's header from `self.pos`.
    fn header(&mut self) -> Next {
        let part = self.cur;
        let msg = self.msg;
        let mut seen_content_type = false;
        let mut last_boundary: Option<Vec<u8>> = None;
        let mut multipart = false;
        let mut prev_newline = 0usize;
        let mut eoh = false;
        let mut field: Option<Field> = None;
        loop {
            let at = self.pos;
            let at_eoh =
                msg.get(at) == Some(&b'\n') || msg.get(at..at + 2) == Some(b"\r\n".as_slice());
            if at_eoh
                && last_boundary.is_some()
                && self.parts[part].flags & IS_MIME != 0
                && !multipart
            {
                if !self.too_deep() {
                    self.boundaries.push(Boundary {
                        text: last_boundary.take().unwrap_or_default(),
                        part,
                        epilogue: false,
                    });
                    multipart = true;
                } else {
                    self.parts[part].flags &= !MULTIPART;
                    last_boundary = None;
                }
            }
            let cut = if at < msg.len() && !self.boundaries.is_empty() {
                self.boundary_at(at)
                    .filter(|&b| self.boundaries[b].part != part)
            } else {
                None
            };
            if cut.is_some() {
                // Cut short by an enclosing boundary; the newline before it is the
                // boundary's.
                if prev_newline > 0 {
                    let h = &mut self.parts[part].header;
                    h.lines -= 1;
                    h.physical -= prev_newline;
                    h.wire -= 2;
                    if let Some(parent) = self.parts[part].parent {
                        let pb = &mut self.parts[parent].body;
                        pb.lines += 1;
                        pb.physical += prev_newline;
                        pb.wire += 2;
                    }
                }
                break;
            }
            if eoh {
                break;
            }
            let Some(line) = header::read_line(msg, at) else {
                break;
            };
            let h = &mut self.parts[part].header;
            h.physical += line.end - line.start;
            h.wire += (line.end - line.start) as u64;
            if line.newline {
                h.lines += 1;
                if !line.crlf {
                    h.wire += 1;
                }
            }
            self.pos = line.end;
            prev_newline = if !line.newline {
                0
            } else if line.crlf {
                2
            } else {
                1
            };
            let continuing = field.is_some();
            if line.is_eoh() && !continuing {
                eoh = true;
                continue;
            }
            let f = field.get_or_insert_with(|| Field::from_first_line(msg, &line));
            f.end = line.end;
            let f = *f;
            let is_content_type = f.name_is(msg, b"Content-Type");
            if is_content_type || f.name_is(msg, b"MIME-Version") {
                self.parts[part].flags |= IS_MIME;
            }
            if header::continues(msg, &line) {
                continue;
            }
            field = None;
            if is_content_type && !seen_content_type {
                seen_content_type = true;
                self.content_type(part, &f, &mut last_boundary);
            }
            self.parts[part].fields.push(f);
        }
        if let Some(f) = field.take() {
            self.parts[part].fields.push(f);
        }

        let p = &mut self.parts[part];
        if p.flags & IS_MIME == 0 {
            p.flags = 0;
        }
        if !seen_content_type || p.flags & IS_MIME == 0 {
            let in_digest = p
                .parent
                .is_some_and(|parent| self.parts[parent].flags & DIGEST != 0);
            let p = &mut self.parts[part];
            p.flags |= if in_digest { RFC822 } else { TEXT };
        }
        self.last_chr = b'\n';
        if multipart {
            Next::BodyToBoundary
        } else if self.parts[part].flags & RFC822 != 0 && !self.too_deep() {
            self.append_child(0);
            Next::Header
        } else {
            self.parts[part].flags &= !RFC822;
            if self.boundaries.is_empty() {
                Next::BodyToEof
            } else {
                Next::BodyToBoundary
            }
        }
    }

    /// The first Content-Type of a part: its kind, and a multipart's boundary.
    fn content_type(&mut self, part: usize, field: &Field, boundary: &mut Option<Vec<u8>>) {
        let value = field.value(self.msg);
        let mut c = Cursor::new(&value);
        c.skip_lwsp();
        let mut ct = Vec::new();
        let ret = c.parse_content_type(&mut ct);
        let flags = &mut self.parts[part].flags;
        if ct.eq_ignore_ascii_case(b"message/rfc822") {
            *flags |= RFC822;
        } else if ct.len() >= 4
            && ct[..4].eq_ignore_ascii_case(b"text")
            && (ct.len() == 4 || ct[4] == b'/')
        {
            *flags |= TEXT;
        } else if ct.len() >= 10 && ct[..10].eq_ignore_ascii_case(b"multipart/") {
            *flags |= MULTIPART;
            if ct[10..].eq_ignore_ascii_case(b"digest") {
                *flags |= DIGEST;
            }
        }
        if ret < 0 || *flags & MULTIPART == 0 || boundary.is_some() {
            return;
        }
        if let Some((_, v)) = c
            .parse_params()
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(b"boundary"))
        {
            let mut v = super::rfc822::c_str(&v).to_vec();
            v.truncate(BOUNDARY_MAX);
            *boundary = Some(v);
        }
    }

    /// Reads body up to the next boundary line (or the end), then the boundary line.
    fn body_to_boundary(&mut self) -> Next {
        let msg = self.msg;
        let start = self.pos;
        if start >= msg.len() {
            return Next::Done;
        }
        if self.last_chr == b'\n'
            && let Some(b) = self.boundary_at(start)
        {
            return self.part_finish(b, start, true);
        }
        for lf in memchr::memchr_iter(b'\n', &msg[start..]).map(|i| start + i) {
            if let Some(b) = self.boundary_at(lf + 1) {
                let boundary_start = if lf > start && msg[lf - 1] == b'\r' {
                    lf - 1
                } else {
                    lf
                };
                self.add_block(start, boundary_start);
                self.pos = boundary_start;
                return self.part_finish(b, boundary_start, false);
            }
        }
        self.add_block(start, msg.len());
        Next::Done
    }

    /// A boundary line at `at` (with the newline before it unless `first_line`).
    fn part_finish(&mut self, b: usize, at: usize, first_line: bool) -> Next {
        let owner = self.boundaries[b].part;
        while self.cur != owner {
            let Some(parent) = self.parts[self.cur].parent else {
                break;
            };
            self.finish_part(parent);
        }
        let newline = if first_line {
            0
        } else if self.msg[at] == b'\r' {
            2
        } else {
            1
        };
        let line_start = at + newline;
        let epilogue = self.epilogue_at(line_start, b);
        self.boundaries[b].epilogue = epilogue;
        let blen = self.boundaries[b].text.len();
        if epilogue {
            self.boundaries.truncate(b);
        } else {
            self.boundaries.truncate(b + 1);
        }
        let line_end = line_start + 2 + blen + if epilogue { 2 } else { 0 };
        self.add_block(at, line_end);
        // The rest of the boundary line.
        let rest_end = match memchr::memchr(b'\n', &self.msg[line_end..]) {
            Some(i) => line_end + i + 1,
            None => {
                self.add_block(line_end, self.msg.len());
                return Next::Done;
            }
        };
        self.add_block(line_end, rest_end);
        match self.boundaries.last() {
            Some(open) if open.part == self.cur => {
                self.append_child(IS_MIME);
                Next::Header
            }
            Some(_) => Next::BodyToBoundary,
            None => Next::BodyToEof,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(p: &Part) -> (usize, usize, u32, usize, u32) {
        (
            p.pos,
            p.header.physical,
            p.header.lines,
            p.body.physical,
            p.body.lines,
        )
    }

    #[test]
    fn duplicate_boundary() {
        let m = b"Content-Type: multipart/mixed; boundary=\"a\"\n\n--a\nContent-Type: multipart/mixed; boundary=\"a\"\n\n--a\nContent-Type: text/plain\n\nbody\n";
        let parts = parse(m);
        assert_eq!(parts.len(), 3);
        assert_eq!(sizes(&parts[0]), (0, 45, 2, 84, 7));
        assert_eq!(sizes(&parts[1]), (49, 45, 2, 35, 4));
        assert_eq!(sizes(&parts[2]), (98, 26, 2, 5, 1));
        assert_eq!(parts[2].flags, TEXT | IS_MIME);
    }

    #[test]
    fn continuing_truncated_boundary() {
        let m = b"Content-Type: multipart/mixed; boundary=\"a\"\n\n--a\nContent-Type: multipart/mixed; boundary=\"ab\"\nMIME-Version: 1.0\n--ab\nContent-Type: text/plain\n\n--ab--\n--a--\n\n";
        let parts = parse(m);
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[0].header.physical + parts[0].body.physical, m.len());
        assert_eq!(sizes(&parts[0]), (0, 45, 2, 112, 9));
        assert_eq!(sizes(&parts[1]), (49, 62, 1, 0, 0));
        assert_eq!(parts[1].flags, MULTIPART | IS_MIME);
        assert_eq!(sizes(&parts[2]), (117, 25, 1, 0, 0));
        assert_eq!(sizes(&parts[3]).1, 0);
    }

    #[test]
    fn empty_multipart() {
        let m = b"Content-Type: multipart/mixed; boundary=\"ab\"\n\nbody\n";
        let parts = parse(m);
        assert_eq!(parts.len(), 1);
        assert_eq!(sizes(&parts[0]), (0, 46, 2, 5, 1));
        assert_eq!(parts[0].flags, MULTIPART | IS_MIME);
    }

    #[test]
    fn trailing_dashes() {
        let m = b"Content-Type: multipart/mixed; boundary=\"a--\"\n\n--a--\nContent-Type: multipart/mixed; boundary=\"a----\"\n\n--a----\nContent-Type: text/plain\n\nbody\n--a------\nContent-Type: text/html\n\nbody2\n--a----";
        let parts = parse(m);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].children.len(), 1);
        assert_eq!(parts[1].children.len(), 1);
    }

    #[test]
    fn nested_rfc822_is_limited() {
        let mut m = Vec::new();
        for _ in 0..150 {
            m.extend_from_slice(b"Content-Type: message/rfc822\n\n");
        }
        m.extend_from_slice(b"body\n");
        let parts = parse(&m);
        assert_eq!(parts.len(), MAX_NESTED);
        assert_eq!(parts[0].body.physical + parts[0].header.physical, m.len());
    }

    #[test]
    fn wire_sizes_count_bare_lf_twice() {
        let m = b"A: b\nC: d\r\n\nx\ny\r\n";
        let parts = parse(m);
        assert_eq!(parts[0].header.wire, 14);
        assert_eq!(parts[0].body.wire, 6);
        assert_eq!(parts[0].body.lines, 2);
    }
}
