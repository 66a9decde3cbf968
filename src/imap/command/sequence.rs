//! Message sets: `1`, `2:4`, `7:*`, `1,3:5,9` (RFC 3501 `sequence-set`).
//!
//! They are kept as sent: ranges in the order and direction the client wrote them (`5:1` is the
//! same set as `1:5`, RFC 3501 section 9), because only the mailbox knows what `*` is. Zero is
//! never a message number or UID, so the parser refuses it.

use std::num::NonZeroU32;

/// One or more ranges, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSet(pub Vec<SeqRange>);

/// `first:last`; a single number has `first == last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    pub first: SeqNumber,
    pub last: SeqNumber,
}

/// A message number or UID, or `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNumber {
    Number(NonZeroU32),
    /// `*`: the largest number in use in the mailbox.
    Last,
}

impl SeqNumber {
    /// The number, with `*` standing for `largest` (the highest message number or UID).
    pub fn resolve(self, largest: u32) -> u32 {
        match self {
            SeqNumber::Number(n) => n.get(),
            SeqNumber::Last => largest,
        }
    }
}

impl SeqRange {
    /// The range as `low..=high` once `*` is known to be `largest`.
    pub fn resolve(self, largest: u32) -> std::ops::RangeInclusive<u32> {
        let (a, b) = (self.first.resolve(largest), self.last.resolve(largest));
        a.min(b)..=a.max(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: u32) -> SeqNumber {
        SeqNumber::Number(NonZeroU32::new(v).unwrap())
    }

    #[test]
    fn ranges_resolve_in_either_direction() {
        let r = SeqRange {
            first: n(5),
            last: n(2),
        };
        assert_eq!(r.resolve(10), 2..=5);
        let r = SeqRange {
            first: n(7),
            last: SeqNumber::Last,
        };
        assert_eq!(r.resolve(4), 4..=7);
        assert_eq!(SeqNumber::Last.resolve(9), 9);
    }
}
