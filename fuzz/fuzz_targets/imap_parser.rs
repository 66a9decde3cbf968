//! Fuzzes the IMAP command reader: any bytes, cut into pieces of any size, under any limits,
//! with the session's interventions (plain lines, refused literals) mixed in.
//!
//! The first byte of the input chooses the limits and how the session behaves, the second the
//! piece size; the rest is what the client sends. Checked: no panic, the memory bound after
//! every piece, every error answer a single line, and (when the session does not intervene)
//! the same events however the input is cut.

#![no_main]

use libfuzzer_sys::fuzz_target;
use postern::imap::{CommandReader, Event, Limits, NonSyncLiterals};

fn limits(config: u8) -> Limits {
    let mut limits = if config & 1 == 0 {
        Limits::default()
    } else {
        Limits {
            max_line: 48,
            max_literal: 64,
            max_command: 200,
            max_append: 300,
            max_depth: 4,
            ..Limits::default()
        }
    };
    limits.non_sync = match (config >> 1) & 3 {
        0 => NonSyncLiterals::Refused,
        1 => NonSyncLiterals::Minus,
        _ => NonSyncLiterals::Plus,
    };
    limits
}

fn run(limits: &Limits, input: &[u8], piece: usize, steer: bool) -> Vec<Event> {
    let bound = limits.max_line + limits.max_command + limits.max_append as usize;
    let mut reader = CommandReader::new(limits.clone());
    let mut events = Vec::new();
    for chunk in input.chunks(piece.max(1)) {
        reader.feed(chunk);
        while let Some(event) = reader.next_event() {
            match &event {
                Event::Command(_) if steer => reader.expect_line(),
                Event::NeedContinuation { .. } if steer => assert!(reader.refuse_literal()),
                Event::Error(e) => {
                    let response = e.response();
                    let line = response.strip_suffix("\r\n").expect("CRLF");
                    assert!(!line.contains(['\r', '\n']), "{response:?}");
                }
                _ => {}
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

fuzz_target!(|data: &[u8]| {
    let [config, piece, input @ ..] = data else {
        return;
    };
    let limits = limits(*config);
    let steer = config & 8 != 0;
    let events = run(&limits, input, usize::from(*piece), steer);
    if !steer {
        assert_eq!(events, run(&limits, input, input.len(), false));
    }
});
