//! `sequence-set`: numbers, ranges and `*`, separated by commas.

use super::lexer::{Cursor, PResult};
use crate::imap::command::{SeqNumber, SeqRange, SequenceSet};

/// `seq-number = nz-number / "*"`.
fn seq_number(c: &mut Cursor<'_>) -> PResult<SeqNumber> {
    if c.eat(b'*') {
        Ok(SeqNumber::Last)
    } else {
        c.nz_number().map(SeqNumber::Number)
    }
}

/// `sequence-set = (seq-number / seq-range) *("," (seq-number / seq-range))`.
pub(super) fn sequence_set(c: &mut Cursor<'_>) -> PResult<SequenceSet> {
    let mut ranges = Vec::new();
    loop {
        let first = seq_number(c)?;
        let last = if c.eat(b':') { seq_number(c)? } else { first };
        ranges.push(SeqRange { first, last });
        if !c.eat(b',') {
            return Ok(SequenceSet(ranges));
        }
    }
}

/// Does the input continue with a sequence set (a SEARCH key that is one)?
pub(super) fn starts_sequence_set(c: &Cursor<'_>) -> bool {
    matches!(c.peek(), Some(b'0'..=b'9' | b'*'))
}
