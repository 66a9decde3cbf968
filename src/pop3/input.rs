//! Splitting the client's byte stream into command lines, with a hard bound per line.
//!
//! A POP3 client controls how many bytes it sends before a line feed, so the reader never keeps
//! more than `max_line` bytes of an unfinished line: once a line is known to be too long its
//! bytes are dropped as they arrive and only a [`Line::TooLong`] marker is queued, in order with
//! the complete lines around it, so the reply to it comes out where the client expects it.

use std::collections::VecDeque;

/// One unit of client input, in arrival order.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line {
    /// A complete line without its line terminator (CRLF or a bare LF).
    Complete(Vec<u8>),
    /// A line longer than the limit; its bytes were discarded.
    TooLong,
}

/// Accumulates received bytes and hands out complete lines.
pub(super) struct LineReader {
    /// Longest accepted line, terminator included.
    max: usize,
    /// The start of a line whose end has not arrived yet (never longer than `max`).
    partial: Vec<u8>,
    /// The current line was already reported as too long: drop bytes up to its line feed.
    discarding: bool,
    ready: VecDeque<Line>,
}

impl LineReader {
    pub(super) fn new(max: usize) -> Self {
        LineReader {
            max,
            partial: Vec::new(),
            discarding: false,
            ready: VecDeque::new(),
        }
    }

    /// Adds received bytes.
    pub(super) fn push(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let (piece, complete) = match memchr::memchr(b'\n', data) {
                Some(lf) => (&data[..=lf], true),
                None => (data, false),
            };
            data = &data[piece.len()..];
            if self.discarding {
                self.discarding = !complete;
                continue;
            }
            if self.partial.len() + piece.len() > self.max {
                // Reported as soon as it is known, not when the line feed finally arrives, so
                // that the buffered part is freed at once.
                self.partial.clear();
                self.ready.push_back(Line::TooLong);
                self.discarding = !complete;
                continue;
            }
            self.partial.extend_from_slice(piece);
            if complete {
                let mut line = std::mem::take(&mut self.partial);
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.ready.push_back(Line::Complete(line));
            }
        }
    }

    /// The oldest unprocessed line.
    pub(super) fn pop(&mut self) -> Option<Line> {
        self.ready.pop_front()
    }

    /// Is a line waiting to be processed?
    pub(super) fn has_line(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Forgets everything buffered, complete or not.
    /// Everything received and not yet read as commands, for a proxy handing the connection
    /// to a backend: complete lines (with CRLF) and the partial one. `None` if a line was
    /// too long (its bytes are gone).
    pub(super) fn take_raw(&mut self) -> Option<Vec<u8>> {
        let mut raw = Vec::new();
        for line in self.ready.drain(..) {
            match line {
                Line::Complete(bytes) => {
                    raw.extend_from_slice(&bytes);
                    raw.extend_from_slice(b"\r\n");
                }
                Line::TooLong => return None,
            }
        }
        if self.discarding {
            return None;
        }
        raw.append(&mut self.partial);
        Some(raw)
    }

    pub(super) fn clear(&mut self) {
        self.partial.clear();
        self.discarding = false;
        self.ready.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(max: usize, chunks: &[&[u8]]) -> Vec<Line> {
        let mut r = LineReader::new(max);
        for c in chunks {
            r.push(c);
        }
        std::iter::from_fn(|| r.pop()).collect()
    }

    fn complete(s: &str) -> Line {
        Line::Complete(s.as_bytes().to_vec())
    }

    #[test]
    fn crlf_and_bare_lf() {
        assert_eq!(
            lines(100, &[b"STAT\r\nNOOP\nQUIT\r"]),
            vec![complete("STAT"), complete("NOOP")]
        );
        assert_eq!(lines(100, &[b"ST", b"AT\r", b"\n"]), vec![complete("STAT")]);
        assert_eq!(lines(100, &[b"\r\n\n"]), vec![complete(""), complete("")]);
    }

    #[test]
    fn limit_counts_the_terminator() {
        // 8 bytes of text + CRLF = 10 bytes: fits a limit of 10, not one of 9.
        assert_eq!(lines(10, &[b"12345678\r\n"]), vec![complete("12345678")]);
        assert_eq!(lines(9, &[b"12345678\r\n"]), vec![Line::TooLong]);
        assert_eq!(lines(9, &[b"12345678\n"]), vec![complete("12345678")]);
    }

    #[test]
    fn over_long_line_is_dropped_as_it_arrives() {
        let mut r = LineReader::new(16);
        r.push(b"NOOP\r\n");
        for _ in 0..1000 {
            r.push(&[b'A'; 1000]);
            assert!(r.partial.len() <= 16);
        }
        r.push(b"AAAA\r\nSTAT\r\n");
        assert_eq!(r.pop(), Some(complete("NOOP")));
        assert_eq!(r.pop(), Some(Line::TooLong));
        assert_eq!(r.pop(), Some(complete("STAT")));
        assert_eq!(r.pop(), None);
    }

    #[test]
    fn clear_forgets_partial_and_discard_state() {
        let mut r = LineReader::new(8);
        r.push(b"XXXXXXXXXXXX");
        r.clear();
        r.push(b"USER\r\n");
        assert_eq!(r.pop(), Some(complete("USER")));
        assert!(!r.has_line());
    }
}
