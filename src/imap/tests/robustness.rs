//! The stable stand-in for `fuzz/`: hundreds of thousands of seeded hostile inputs, each
//! checked to cause no panic, to leave the reader within its memory bound, and to give the same
//! events however it is cut into pieces.
//!
//! Inputs are generated commands damaged in several places, several commands spliced together,
//! and runs of IMAP-flavoured tokens (braces, digits, quotes, parentheses, keywords, line
//! ends), read under default, tiny and LITERAL-/refused limits. A failure prints the seed of the
//! input, so it can be replayed.

use super::generator::{Generator, Rng};
use super::*;
use crate::imap::NonSyncLiterals;

/// Inputs per run: a few seconds in a debug build.
const INPUTS: u64 = 300_000;

const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"+",
    b"{0}",
    b"{1}",
    b"{5+}",
    b"{4097+}",
    b"{99999999999}",
    b"{18446744073709551616+}",
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"  ",
    b"\"",
    b"\\",
    b"(",
    b")",
    b"[",
    b"]",
    b"<",
    b">",
    b".",
    b"*",
    b"%",
    b"0",
    b"1",
    b"4294967296",
    b":",
    b",",
    b"\0",
    b"\xff",
    b"&",
    b"-",
    b"a1 ",
    b"NIL",
    b"FETCH",
    b"UID",
    b"SEARCH",
    b"NOT",
    b"OR",
    b"APPEND",
    b"LOGIN",
    b"BODY.PEEK[",
    b"HEADER.FIELDS",
    b"STORE",
    b"+FLAGS",
    b"\\Seen",
    b"INBOX",
    b"&U,BTFw-",
    b"AUTHENTICATE",
    b"IDLE",
    b"DONE",
];

fn limits_for(rng: &mut Rng) -> Limits {
    let mut limits = match rng.below(3) {
        0 => Limits::default(),
        _ => Limits {
            max_line: rng.range(1, 200) as usize,
            max_literal: rng.range(0, 300),
            max_command: rng.range(0, 600) as usize,
            max_append: rng.range(0, 5000),
            max_depth: rng.range(0, 12) as usize,
            ..Limits::default()
        },
    };
    limits.non_sync = *rng.pick(&[
        NonSyncLiterals::Plus,
        NonSyncLiterals::Minus,
        NonSyncLiterals::Refused,
    ]);
    limits
}

fn hostile_input(rng: &mut Rng, generator: &mut Generator) -> Vec<u8> {
    match rng.below(3) {
        0 => {
            // Token soup.
            let n = rng.range(1, 60);
            (0..n).flat_map(|_| rng.pick(TOKENS).to_vec()).collect()
        }
        _ => {
            // Generated commands, spliced and damaged.
            let mut input = Vec::new();
            for _ in 0..rng.range(1, 3) {
                input.extend(generator.command());
            }
            for _ in 0..rng.below(5) {
                let at = rng.below(input.len() as u64 + 1) as usize;
                match rng.below(4) {
                    0 if at < input.len() => {
                        let end = (at + rng.range(1, 8) as usize).min(input.len());
                        input.drain(at..end);
                    }
                    1 => {
                        let token = rng.pick(TOKENS);
                        input.splice(at..at, token.iter().copied());
                    }
                    2 if at < input.len() => input[at] = rng.below(256) as u8,
                    _ => {
                        let end = (at + rng.range(1, 20) as usize).min(input.len());
                        let copy = input[at..end].to_vec();
                        input.splice(at..at, copy);
                    }
                }
            }
            input
        }
    }
}

/// Feeds `input` in pieces of random sizes, taking every event after each piece and, when
/// `steer` is set, acting as a session might (asking for plain lines, refusing literals);
/// checks the memory bound throughout.
fn run(limits: &Limits, input: &[u8], rng: &mut Rng, steer: bool) -> Vec<Event> {
    let bound = limits.max_line + limits.max_command + limits.max_append as usize;
    let mut reader = CommandReader::new(limits.clone());
    let mut events = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let take = (rng.range(1, 64) as usize).min(rest.len());
        reader.feed(&rest[..take]);
        rest = &rest[take..];
        while let Some(event) = reader.next_event() {
            if steer {
                match (&event, rng.below(8)) {
                    (Event::Command(_), 0) => reader.expect_line(),
                    (Event::NeedContinuation { .. }, 0) => {
                        assert!(reader.refuse_literal());
                    }
                    _ => {}
                }
            }
            events.push(event);
        }
        assert!(
            reader.buffered() <= bound,
            "{} > {bound}",
            reader.buffered()
        );
    }
    events
}

#[test]
fn hostile_input_is_survived() {
    let mut rng = Rng::new(0xF022_0001);
    let mut generator = Generator::new(0xF022_0002);
    let mut events = 0;
    for i in 0..INPUTS {
        let seed = rng.next_u64();
        let mut local = Rng::new(seed);
        let limits = limits_for(&mut local);
        let input = hostile_input(&mut local, &mut generator);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let steer = local.one_in(2);
            let got = run(&limits, &input, &mut local, steer);
            if !steer && i % 8 == 0 {
                // However it is cut, the same events.
                assert_eq!(got, events_in_pieces(&limits, &input, 0));
            }
            got.len()
        }));
        match outcome {
            Ok(n) => events += n,
            Err(_) => panic!(
                "input {i} (seed {seed:#x}, {limits:?}): {:?}",
                String::from_utf8_lossy(&input)
            ),
        }
    }
    // The inputs were not all dull: plenty of events came out.
    assert!(events > INPUTS as usize, "{events}");
}
