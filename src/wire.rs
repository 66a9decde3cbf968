//! The wire form of stored messages: every line end a CRLF.
//!
//! Maildir files usually end their lines with a bare LF (that is how MDAs write them), but
//! IMAP and POP3 send CRLF, and every size a client is told (RFC822.SIZE, literal lengths,
//! BODYSTRUCTURE octets) is a size of the wire form. Converting is a pure function of the
//! stored bytes: each LF not preceded by CR becomes CRLF; a lone CR and a missing final
//! newline stay as they are, as in Dovecot.
//!
//! A [`Slice`] is a byte range of the wire form of part of a message (an IMAP partial fetch
//! `<offset.length>` counts wire octets), produced in bounded chunks. When the stored bytes
//! already are in wire form the slice is a plain sub-range of the stored bytes and goes out
//! without a copy.

use std::ops::Range;

/// Is `bytes[i]` a bare LF, given the whole buffer (so the byte before a range counts)?
fn bare_lf_at(bytes: &[u8], i: usize) -> bool {
    bytes[i] == b'\n' && (i == 0 || bytes[i - 1] != b'\r')
}

/// The wire length of `bytes[range]`.
pub fn len(bytes: &[u8], range: Range<usize>) -> u64 {
    let start = range.start;
    let part = &bytes[range];
    let bare = memchr::memchr_iter(b'\n', part)
        .filter(|&i| bare_lf_at(bytes, start + i))
        .count();
    part.len() as u64 + bare as u64
}

/// Appends the wire form of `bytes` (taken on their own: a leading LF is bare) to `out`.
pub fn extend(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut last = 0;
    for i in memchr::memchr_iter(b'\n', bytes) {
        if bare_lf_at(bytes, i) {
            out.extend_from_slice(&bytes[last..i]);
            out.extend_from_slice(b"\r\n");
            last = i + 1;
        }
    }
    out.extend_from_slice(&bytes[last..]);
}

/// Whether `bytes[range]` is already in wire form.
pub fn is_wire(bytes: &[u8], range: Range<usize>) -> bool {
    let start = range.start;
    memchr::memchr_iter(b'\n', &bytes[range]).all(|i| !bare_lf_at(bytes, start + i))
}

/// The bytes `skip..skip + take` of the wire form of `bytes[range]` (clamped to its end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    /// Where the next wire byte comes from in the stored bytes.
    pos: usize,
    end: usize,
    /// The next byte to send is the LF of a converted bare LF whose CR was skipped.
    lf_pending: bool,
    /// Wire bytes still to send.
    left: u64,
}

impl Slice {
    /// A slice of the wire form of `bytes[range]`. Finding where `skip` falls reads the
    /// skipped part once; nothing is copied.
    pub fn new(bytes: &[u8], range: Range<usize>, skip: u64, take: u64) -> Slice {
        let mut pos = range.start;
        let mut to_skip = skip;
        let mut lf_pending = false;
        while to_skip > 0 && pos < range.end {
            // Jump to the next LF: everything before it is one wire byte per stored byte.
            let next_lf = memchr::memchr(b'\n', &bytes[pos..range.end]).map(|i| pos + i);
            let run_end = next_lf.unwrap_or(range.end);
            let run = (run_end - pos) as u64;
            if to_skip <= run {
                pos += to_skip as usize;
                break;
            }
            pos = run_end;
            to_skip -= run;
            let Some(lf) = next_lf else { break };
            let width = if bare_lf_at(bytes, lf) { 2 } else { 1 };
            if to_skip >= width {
                to_skip -= width;
                pos = lf + 1;
            } else {
                // Skipping ends between the added CR and the LF.
                pos = lf + 1;
                lf_pending = true;
                break;
            }
        }
        let available = if pos >= range.end {
            u64::from(lf_pending)
        } else {
            len(bytes, pos..range.end) + u64::from(lf_pending)
        };
        Slice {
            pos,
            end: range.end,
            lf_pending,
            left: take.min(available),
        }
    }

    /// The whole wire form of `bytes[range]`.
    pub fn whole(bytes: &[u8], range: Range<usize>) -> Slice {
        Slice::new(bytes, range, 0, u64::MAX)
    }

    /// Wire bytes still to come.
    pub fn remaining(&self) -> u64 {
        self.left
    }

    /// If the rest of the slice is stored in wire form already, the stored range that is
    /// exactly it (the zero-copy case).
    pub fn as_stored(&self, bytes: &[u8]) -> Option<Range<usize>> {
        if self.lf_pending {
            return None;
        }
        let end = self.pos.checked_add(usize::try_from(self.left).ok()?)?;
        (end <= self.end && is_wire(bytes, self.pos..end)).then_some(self.pos..end)
    }

    /// Appends up to `max` more wire bytes to `out`; returns false once the slice is done.
    pub fn next_chunk(&mut self, bytes: &[u8], out: &mut Vec<u8>, max: usize) -> bool {
        if self.left == 0 {
            return false;
        }
        let mut room = (max as u64).min(self.left) as usize;
        let before = out.len();
        if self.lf_pending && room > 0 {
            out.push(b'\n');
            self.lf_pending = false;
            room -= 1;
        }
        while room > 0 && self.pos < self.end {
            let stop = self.end.min(self.pos + room);
            match memchr::memchr(b'\n', &bytes[self.pos..stop]) {
                None => {
                    out.extend_from_slice(&bytes[self.pos..stop]);
                    room -= stop - self.pos;
                    self.pos = stop;
                }
                Some(i) => {
                    let lf = self.pos + i;
                    out.extend_from_slice(&bytes[self.pos..lf]);
                    room -= lf - self.pos;
                    self.pos = lf + 1;
                    if bare_lf_at(bytes, lf) {
                        out.push(b'\r');
                        if room >= 2 {
                            out.push(b'\n');
                            room -= 2;
                        } else {
                            self.lf_pending = true;
                            room = 0;
                        }
                    } else {
                        out.push(b'\n');
                        room -= 1;
                    }
                }
            }
        }
        self.left -= (out.len() - before) as u64;
        self.left > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, &b) in bytes.iter().enumerate() {
            if bare_lf_at(bytes, i) {
                out.push(b'\r');
            }
            out.push(b);
        }
        out
    }

    fn collect(bytes: &[u8], range: Range<usize>, skip: u64, take: u64, chunk: usize) -> Vec<u8> {
        let mut slice = Slice::new(bytes, range, skip, take);
        let mut out = Vec::new();
        let expected_len = slice.remaining();
        while slice.next_chunk(bytes, &mut out, chunk) {}
        assert_eq!(out.len() as u64, expected_len);
        out
    }

    #[test]
    fn lengths() {
        assert_eq!(len(b"a\nb\r\nc", 0..6), 7);
        assert_eq!(len(b"a\r\n", 2..3), 1);
        assert!(is_wire(b"a\r\nb", 0..4));
        assert!(!is_wire(b"a\nb", 0..3));
    }

    #[test]
    fn every_slice_of_every_shape_matches_the_converted_bytes() {
        let samples: [&[u8]; 5] = [
            b"Subject: x\n\nline one\nline two\n",
            b"Subject: x\r\n\r\nbody\r\n",
            b"mixed\r\nline\nends\r\r\n\n\nx",
            b"\n\n\n",
            b"",
        ];
        for bytes in samples {
            for start in 0..=bytes.len() {
                for end in start..=bytes.len() {
                    let converted = {
                        // The wire form of a range depends on the byte before it.
                        let full = wire(&bytes[..end]);
                        let prefix = wire(&bytes[..start]);
                        full[prefix.len()..].to_vec()
                    };
                    assert_eq!(len(bytes, start..end), converted.len() as u64);
                    for skip in 0..=converted.len() + 1 {
                        for take in [0, 1, 2, 3, 100] {
                            for chunk in [1, 2, 7] {
                                let got = collect(bytes, start..end, skip as u64, take, chunk);
                                let from = skip.min(converted.len());
                                let to = (from + take as usize).min(converted.len());
                                assert_eq!(
                                    got,
                                    &converted[from..to],
                                    "{bytes:?} {start}..{end} skip {skip} take {take}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn stored_ranges_are_used_as_they_are() {
        let bytes = b"a\r\nbc\r\nd\ne";
        let slice = Slice::new(bytes, 0..7, 1, 4);
        assert_eq!(slice.as_stored(bytes), Some(1..5));
        let slice = Slice::new(bytes, 0..bytes.len(), 0, 100);
        assert_eq!(slice.as_stored(bytes), None);
    }
}
