//! Finding line ends and literal announcements in client input.
//!
//! An IMAP command is lines and literals: a line that ends with `{n}` or `{n+}` (outside a
//! quoted string) is followed by n bytes of literal data, and the command goes on after them
//! (RFC 3501 section 4.3, RFC 7888 section 3). That is all the reader needs to know to frame a
//! command without parsing it; these helpers find it. [`line_end`] and [`announcement`] work
//! on bytes the reader keeps; [`Suffix`] recognises the same announcement one byte at a time,
//! for input the reader throws away as it arrives.

/// Where the scanner is with respect to quoted strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Quote {
    #[default]
    Outside,
    Inside,
    /// Inside, right after a backslash.
    Escaped,
}

impl Quote {
    fn step(self, b: u8) -> Quote {
        match (self, b) {
            (Quote::Outside, b'"') => Quote::Inside,
            (Quote::Outside, _) => Quote::Outside,
            (Quote::Inside, b'"') => Quote::Outside,
            (Quote::Inside, b'\\') => Quote::Escaped,
            (Quote::Inside | Quote::Escaped, _) => Quote::Inside,
        }
    }
}

/// The index of the first LF in `bytes`, with `quote` advanced over the bytes before it (or
/// over all of them when there is none). A quoted string cannot hold a line end, so an LF ends
/// the line even inside one; the parser then reports the unterminated string.
pub(super) fn line_end(bytes: &[u8], quote: &mut Quote) -> Option<usize> {
    let mut pos = 0;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let found = match *quote {
            Quote::Outside => memchr::memchr2(b'\n', b'"', rest),
            Quote::Inside => memchr::memchr3(b'\n', b'"', b'\\', rest),
            Quote::Escaped => Some(0),
        };
        let at = pos + found?;
        if bytes[at] == b'\n' {
            return Some(at);
        }
        *quote = quote.step(bytes[at]);
        pos = at + 1;
    }
    None
}

/// A literal announced at the end of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Announced {
    /// The announced length, saturated at `u64::MAX`.
    pub(super) size: u64,
    /// `{n+}`: the client sends the data without waiting.
    pub(super) non_sync: bool,
    /// Where the `{` is in the line.
    pub(super) open: usize,
}

/// The literal announced by `line` (without its LF; a CR before it is allowed), if it ends with
/// `{digits}` or `{digits+}`. The caller has made sure the end is outside quotes.
pub(super) fn announcement(line: &[u8]) -> Option<Announced> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let inner = line.strip_suffix(b"}")?;
    let (inner, non_sync) = match inner.strip_suffix(b"+") {
        Some(inner) => (inner, true),
        None => (inner, false),
    };
    let digits = inner
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let open = inner.len().checked_sub(digits + 1)?;
    if digits == 0 || inner[open] != b'{' {
        return None;
    }
    let size = inner[open + 1..].iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    Some(Announced {
        size,
        non_sync,
        open,
    })
}

/// Recognises a literal announcement and tracks quotes byte by byte, keeping nothing of the
/// line: [`announcement`] for a line that is being thrown away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Suffix {
    quote: Quote,
    state: SuffixState,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum SuffixState {
    #[default]
    Nothing,
    Open,
    Digits(u64),
    Plus(u64),
    Closed(u64, bool),
    ClosedCr(u64, bool),
}

impl Suffix {
    /// Starts from a known quote state.
    pub(super) fn new(quote: Quote) -> Self {
        Suffix {
            quote,
            state: SuffixState::Nothing,
        }
    }

    /// Takes one byte of the line (never its LF).
    pub(super) fn push(&mut self, b: u8) {
        use SuffixState as S;
        self.quote = self.quote.step(b);
        self.state = match (self.state, b) {
            (_, b'{') => S::Open,
            (S::Open, b'0'..=b'9') => S::Digits(u64::from(b - b'0')),
            (S::Digits(n), b'0'..=b'9') => {
                S::Digits(n.saturating_mul(10).saturating_add(u64::from(b - b'0')))
            }
            (S::Digits(n), b'+') => S::Plus(n),
            (S::Digits(n), b'}') => S::Closed(n, false),
            (S::Plus(n), b'}') => S::Closed(n, true),
            (S::Closed(n, plus), b'\r') => S::ClosedCr(n, plus),
            _ => S::Nothing,
        };
    }

    /// At the line's LF: the literal it announces, if any. (`open` is not known here.)
    pub(super) fn at_line_end(&self) -> Option<(u64, bool)> {
        match (self.quote, self.state) {
            (Quote::Outside, SuffixState::Closed(n, plus) | SuffixState::ClosedCr(n, plus)) => {
                Some((n, plus))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(bytes: &[u8]) -> (Option<usize>, Quote) {
        let mut q = Quote::Outside;
        (line_end(bytes, &mut q), q)
    }

    #[test]
    fn line_ends_and_quotes() {
        assert_eq!(end(b"a NOOP\r\nb"), (Some(7), Quote::Outside));
        assert_eq!(end(b"a \"x\ny\""), (Some(4), Quote::Inside));
        assert_eq!(end(b"a \"x\\\"y\" z"), (None, Quote::Outside));
        assert_eq!(end(b"a \"x\\"), (None, Quote::Escaped));
        // Resuming after an escape: the escaped quote does not close the string.
        let mut q = Quote::Escaped;
        assert_eq!(line_end(b"\"abc\"\n", &mut q), Some(5));
        assert_eq!(q, Quote::Outside);
    }

    #[test]
    fn announcements() {
        let a = |l: &[u8]| announcement(l).map(|a| (a.size, a.non_sync, a.open));
        assert_eq!(a(b"a LOGIN {5}"), Some((5, false, 8)));
        assert_eq!(a(b"a LOGIN {5+}\r"), Some((5, true, 8)));
        assert_eq!(a(b"{0}"), Some((0, false, 0)));
        assert_eq!(
            a(b"x {99999999999999999999999999}"),
            Some((u64::MAX, false, 2))
        );
        for no in [
            &b"a {}"[..],
            b"a {+}",
            b"a 5}",
            b"a {5",
            b"a {5}x",
            b"a {5+5}",
            b"a {5}\r\r",
            b"a {-5}",
        ] {
            assert_eq!(a(no), None, "{:?}", String::from_utf8_lossy(no));
        }
    }

    /// The byte-by-byte recogniser agrees with the whole-line one on every line made of the
    /// characters that matter.
    #[test]
    fn suffix_agrees_with_announcement() {
        let alphabet = b"{}+9\r\"\\ 0";
        let mut line = Vec::new();
        for mut n in 0u32..9u32.pow(6) {
            line.clear();
            while n > 0 {
                line.push(alphabet[(n % 9) as usize]);
                n /= 9;
            }
            let mut quote = Quote::Outside;
            let mut whole = None;
            if line_end(&line, &mut quote).is_none() && quote == Quote::Outside {
                whole = announcement(&line).map(|a| (a.size, a.non_sync));
            }
            let mut suffix = Suffix::new(Quote::Outside);
            line.iter().for_each(|&b| suffix.push(b));
            assert_eq!(
                suffix.at_line_end(),
                whole,
                "{:?}",
                String::from_utf8_lossy(&line)
            );
        }
    }
}
