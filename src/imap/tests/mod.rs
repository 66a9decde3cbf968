//! Tests of the command reader and parser through the public API, the way the session will
//! drive them: feed bytes, take events.
//!
//! Every helper here feeds its input twice, in one piece and one byte at a time, and checks
//! that the events are the same, so each test also shows that where the input is cut does not
//! matter.

mod auth;
mod differential;
mod fetch;
mod generator;
mod limits;
mod literals;
mod mailbox;
mod misc;
mod robustness;
mod search;
mod session_robustness;
mod store;

use super::{Command, CommandBody, CommandReader, Error, Event, Limits};

/// All events for `input` fed in `chunks`-sized pieces (0: all at once).
pub(super) fn events_in_pieces(limits: &Limits, input: &[u8], piece: usize) -> Vec<Event> {
    let mut reader = CommandReader::new(limits.clone());
    let mut events = Vec::new();
    let piece = if piece == 0 {
        input.len().max(1)
    } else {
        piece
    };
    for chunk in input.chunks(piece) {
        reader.feed(chunk);
        events.extend(std::iter::from_fn(|| reader.next_event()));
    }
    events
}

/// All events for `input`, checked to be the same whether it arrives at once or byte by byte.
pub(super) fn events_with(limits: &Limits, input: &[u8]) -> Vec<Event> {
    let whole = events_in_pieces(limits, input, 0);
    let bytewise = events_in_pieces(limits, input, 1);
    assert_eq!(
        whole,
        bytewise,
        "split input differs: {:?}",
        String::from_utf8_lossy(input)
    );
    whole
}

pub(super) fn events(input: &[u8]) -> Vec<Event> {
    events_with(&Limits::default(), input)
}

/// The events for `input` without continuation requests.
fn outcome(input: &[u8]) -> Vec<Event> {
    let mut events = events(input);
    events.retain(|e| !matches!(e, Event::NeedContinuation { .. }));
    events
}

/// The one command in `line` (CRLF added; literals are sent without waiting).
pub(super) fn command(line: &str) -> Command {
    match outcome(format!("{line}\r\n").as_bytes()).as_slice() {
        [Event::Command(c)] => c.clone(),
        other => panic!("{line:?}: {other:?}"),
    }
}

/// The body of the one command in `line`.
pub(super) fn ok(line: &str) -> CommandBody {
    command(line).body
}

/// The error for the one command in `line` (CRLF added).
pub(super) fn err(line: &[u8]) -> Error {
    let mut input = line.to_vec();
    input.extend_from_slice(b"\r\n");
    match outcome(&input).as_slice() {
        [Event::Error(e)] => e.clone(),
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(line)),
    }
}

/// The response the session sends for the one bad command in `line`.
pub(super) fn bad(line: &str) -> String {
    err(line.as_bytes()).response()
}
