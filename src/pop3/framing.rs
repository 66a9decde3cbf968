//! The wire form of a message in a RETR or TOP reply (RFC 1939 section 3), produced in pieces.
//!
//! This is the hot path of a POP3 server: nearly every byte it sends goes through here. Stored
//! messages are usually already in wire form (CRLF line ends, few lines starting with "."), so
//! the framer hands out long ranges of the stored bytes to be written as they are, straight
//! from the store's memory map, and copies into a caller-owned scratch buffer only where bytes
//! must be inserted: a CR before a bare LF, a second "." at the start of a line that begins with
//! one, the CRLF a message without a final line end needs, and the terminating ".\r\n". When
//! insertions are dense (a message stored with bare LFs) it copies whole stretches into the
//! scratch buffer instead, so the writer is not flooded with tiny ranges.
//!
//! Bytes are never changed otherwise: a bare CR stays as it is, and an LF already preceded by
//! CR is not touched.

use std::ops::Range;

/// One piece of the wire form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Send `body[range]` unchanged.
    Body(Range<usize>),
    /// Send the scratch buffer, which the framer has just filled.
    Scratch,
}

/// Clean stretches at least this long are sent as [`Chunk::Body`] instead of being copied:
/// below it, one more write costs more than the copy it saves.
const MIN_BODY_RUN: usize = 4096;

/// Produces the wire form of one message body, chunk by chunk.
#[derive(Debug, Clone)]
pub struct Framer {
    top_lines: Option<u32>,
    /// End of the part of the body that is sent; found on the first call, when the body is
    /// first seen.
    limit: Option<usize>,
    /// Next body byte to send. The insertion a byte needs (if any) is always emitted together
    /// with the byte, so nothing before `pos` is pending.
    pos: usize,
    /// The first position at or after `pos` that needs an insertion, when already found.
    next_special: Option<usize>,
    done: bool,
}

impl Framer {
    /// A framer for RETR (`None`) or for `TOP msg n` (`Some(n)`): the header, the blank line
    /// after it and at most `n` lines of the body.
    pub fn new(top_lines: Option<u32>) -> Self {
        Framer {
            top_lines,
            limit: None,
            pos: 0,
            next_special: None,
            done: false,
        }
    }

    /// The next piece of the wire form of `body`, or `None` when the terminating ".\r\n" has
    /// been produced. `body` must be the same bytes on every call. On [`Chunk::Scratch`] the
    /// scratch buffer has been cleared and refilled with about `max` bytes at most.
    pub fn next(&mut self, body: &[u8], scratch: &mut Vec<u8>, max: usize) -> Option<Chunk> {
        if self.done {
            return None;
        }
        let limit = *self
            .limit
            .get_or_insert_with(|| content_end(body, self.top_lines));
        scratch.clear();
        // Every call must make progress, whatever `max` the caller passes.
        let max = max.max(1);
        let min_run = MIN_BODY_RUN.min(max);

        if self.pos < limit {
            let special = self.special(body, limit);
            let run = special - self.pos;
            // The rest of the message is clean: send it as it is, however short, so a
            // message in wire form always goes out as one range.
            if run > 0 && (run >= min_run || special == limit) {
                let range = self.pos..special;
                self.pos = special;
                return Some(Chunk::Body(range));
            }
        }

        while self.pos < limit && scratch.len() < max {
            let special = self.special(body, limit);
            if special == self.pos {
                let byte = body[special];
                scratch.push(if byte == b'\n' { b'\r' } else { b'.' });
                scratch.push(byte);
                self.pos += 1;
                continue;
            }
            let run = special - self.pos;
            if run >= min_run {
                // Long enough to be worth its own write: leave it for the next call.
                break;
            }
            let take = run.min(max - scratch.len());
            scratch.extend_from_slice(&body[self.pos..self.pos + take]);
            self.pos += take;
        }

        if self.pos >= limit {
            if limit > 0 && body[limit - 1] != b'\n' {
                scratch.extend_from_slice(b"\r\n");
            }
            scratch.extend_from_slice(b".\r\n");
            self.done = true;
        }
        Some(Chunk::Scratch)
    }

    /// The first position at or after `pos` that needs an insertion, or `limit`.
    fn special(&mut self, body: &[u8], limit: usize) -> usize {
        // A position found from an earlier `pos` stays valid until it is passed: nothing
        // between the two needed an insertion.
        if let Some(found) = self.next_special
            && found >= self.pos
        {
            return found;
        }
        let found = find_special(body, self.pos, limit);
        self.next_special = Some(found);
        found
    }
}

/// The first position in `from..limit` that needs an insertion: a bare LF (needs CR) or a "."
/// starting a line (needs another "."); `limit` if there is none.
fn find_special(body: &[u8], from: usize, limit: usize) -> usize {
    if from < limit && body[from] == b'.' && (from == 0 || body[from - 1] == b'\n') {
        return from;
    }
    for offset in memchr::memchr_iter(b'\n', &body[from..limit]) {
        let lf = from + offset;
        if lf == 0 || body[lf - 1] != b'\r' {
            return lf;
        }
        if lf + 1 < limit && body[lf + 1] == b'.' {
            return lf + 1;
        }
    }
    limit
}

/// Where the sent part of the body ends: all of it for RETR; for TOP, after the header, the
/// blank line that ends it and `n` more lines. A message without a blank line is all header
/// and is sent whole.
fn content_end(body: &[u8], top_lines: Option<u32>) -> usize {
    let Some(n) = top_lines else {
        return body.len();
    };
    let mut pos = 0;
    loop {
        let Some(offset) = memchr::memchr(b'\n', &body[pos..]) else {
            return body.len();
        };
        let line = &body[pos..pos + offset];
        pos += offset + 1;
        if line.is_empty() || line == b"\r" {
            break;
        }
    }
    for _ in 0..n {
        match memchr::memchr(b'\n', &body[pos..]) {
            Some(offset) => pos += offset + 1,
            None => return body.len(),
        }
    }
    pos
}
