//! The limits: over-long lines, literals over the size limits, LITERAL- and refused
//! non-synchronizing literals, and what is skipped afterwards.

use super::*;
use crate::imap::{ErrorKind, NonSyncLiterals};

fn small() -> Limits {
    Limits {
        max_line: 64,
        max_literal: 100,
        max_command: 300,
        max_append: 1000,
        ..Limits::default()
    }
}

fn answers(limits: &Limits, input: &[u8]) -> Vec<String> {
    events_with(limits, input)
        .into_iter()
        .map(|e| match e {
            Event::Command(c) => format!("{} {}", c.tag, c.body.name()),
            Event::NeedContinuation { tag, size, message } => format!("+ {tag} {size} {message}"),
            Event::Line(l) => format!("line {}", String::from_utf8_lossy(&l)),
            Event::Error(e) => e.response().trim_end().to_owned(),
        })
        .collect()
}

#[test]
fn line_limit_counts_the_line_end() {
    // 62 bytes + CRLF = 64.
    let fits = format!("a LOGIN {} x\r\n", "u".repeat(62 - "a LOGIN  x".len()));
    assert_eq!(answers(&small(), fits.as_bytes()), ["a LOGIN"]);
    let over = format!(
        "a LOGIN {} x\r\nb NOOP\r\n",
        "u".repeat(63 - "a LOGIN  x".len())
    );
    assert_eq!(
        answers(&small(), over.as_bytes()),
        ["a BAD [LIMIT] Command line too long", "b NOOP"]
    );
}

#[test]
fn over_long_line_is_dropped_as_it_arrives() {
    let mut reader = CommandReader::new(small());
    reader.feed(b"tag1 SEARCH ");
    assert_eq!(reader.next_event(), None);
    reader.feed(&[b'A'; 100]);
    let Some(Event::Error(e)) = reader.next_event() else {
        panic!("not refused at once");
    };
    assert_eq!(e.response(), "tag1 BAD [LIMIT] Command line too long\r\n");
    for _ in 0..1000 {
        reader.feed(&[b'B'; 1000]);
        assert_eq!(reader.next_event(), None);
        assert_eq!(reader.buffered(), 0);
    }
    reader.feed(b"\r\nb NOOP\r\n");
    assert_eq!(reader.next_event(), Some(Event::Command(command("b NOOP"))));
    // No tag within the limit: untagged.
    assert_eq!(
        answers(&small(), &[b'x'; 200]),
        ["* BAD [LIMIT] Command line too long"]
    );
}

#[test]
fn limit_covers_all_lines_of_a_command() {
    // Each line is short, but literals do not reset the count.
    let mut input = b"a SEARCH".to_vec();
    for _ in 0..10 {
        input.extend_from_slice(b" TEXT {1+}\r\nx");
    }
    input.extend_from_slice(b"\r\nb NOOP\r\n");
    assert_eq!(
        answers(&small(), &input),
        ["a BAD [LIMIT] Command line too long", "b NOOP"]
    );
}

#[test]
fn literal_after_an_over_long_line_is_skipped() {
    // Non-synchronizing: the client sends the data anyway, and it must not be read as commands.
    let input = format!(
        "a LOGIN {} {{12+}}\r\nc LOGOUT\r\nxx\r\nb NOOP\r\n",
        "u".repeat(80)
    );
    assert_eq!(
        answers(&small(), input.as_bytes()),
        ["a BAD [LIMIT] Command line too long", "b NOOP"]
    );
    // Synchronizing: the client waits for a `+` that does not come, and sends a new command.
    let input = format!("a LOGIN {} {{12}}\r\nb NOOP\r\n", "u".repeat(80));
    assert_eq!(
        answers(&small(), input.as_bytes()),
        ["a BAD [LIMIT] Command line too long", "b NOOP"]
    );
    // An announcement that is inside a quoted string is none.
    let input = format!("a LOGIN \"{} {{12+}}\r\nb NOOP\r\n", "u".repeat(80));
    assert_eq!(
        answers(&small(), input.as_bytes()),
        ["a BAD [LIMIT] Command line too long", "b NOOP"]
    );
}

#[test]
fn literals_over_the_limits() {
    let l = small();
    assert_eq!(
        answers(&l, b"a LOGIN {101}\r\nb NOOP\r\n"),
        ["a BAD [TOOBIG] Literal too big", "b NOOP"]
    );
    assert_eq!(answers(&l, b"a LOGIN {100}\r\n"), ["+ a 100 false"]);
    assert_eq!(
        answers(&l, b"a APPEND INBOX {1001}\r\nb NOOP\r\n"),
        ["a NO [TOOBIG] Message too big", "b NOOP"]
    );
    assert_eq!(answers(&l, b"a APPEND INBOX {1000}\r\n"), ["+ a 1000 true"]);
    // The mailbox of an APPEND is held to the small limit.
    assert_eq!(
        answers(&l, b"a APPEND {101}\r\n"),
        ["a BAD [TOOBIG] Literal too big"]
    );
    // Too big for what is left of the command's allowance.
    let mut input = b"a SEARCH".to_vec();
    for _ in 0..3 {
        input.extend_from_slice(b" TEXT {99+}\r\n");
        input.extend_from_slice(&[b'x'; 99]);
    }
    input.extend_from_slice(b"\r\nb NOOP\r\n");
    assert_eq!(
        answers(&l, &input),
        ["a BAD [TOOBIG] Literal too big", "b NOOP"]
    );
}

#[test]
fn huge_announcements_cost_nothing() {
    let l = Limits::default();
    assert_eq!(
        answers(&l, b"a APPEND INBOX {1000000000}\r\nb NOOP\r\n"),
        ["a NO [TOOBIG] Message too big", "b NOOP"]
    );
    assert_eq!(
        answers(&l, b"a LOGIN {99999999999999999999999999}\r\nb NOOP\r\n"),
        ["a BAD [TOOBIG] Literal too big", "b NOOP"]
    );
    // A non-synchronizing gigabyte is skipped as it arrives, none of it kept.
    let mut reader = CommandReader::new(l);
    reader.feed(b"a APPEND INBOX {1073741824+}\r\n");
    match reader.next_event() {
        Some(Event::Error(Error {
            kind:
                ErrorKind::TooBig {
                    size,
                    message: true,
                    ..
                },
            ..
        })) => assert_eq!(size, 1 << 30),
        other => panic!("{other:?}"),
    }
    let chunk = vec![b'\n'; 1 << 20];
    for _ in 0..1024 {
        reader.feed(&chunk);
        assert_eq!(reader.next_event(), None);
        assert_eq!(reader.buffered(), 0);
    }
    reader.feed(b"\r\nb NOOP\r\n");
    assert_eq!(reader.next_event(), Some(Event::Command(command("b NOOP"))));
}

#[test]
fn literal_minus() {
    let l = Limits {
        non_sync: NonSyncLiterals::Minus,
        ..Limits::default()
    };
    let data = vec![b'x'; 4097];
    let mut input = b"a LOGIN {4096+}\r\n".to_vec();
    input.extend_from_slice(&data[..4096]);
    input.extend_from_slice(b" y\r\nb LOGIN {4097+}\r\n");
    input.extend_from_slice(&data);
    // The rest of the refused command, with another literal in it, is skipped too.
    input.extend_from_slice(b" {3+}\r\nc N\r\nd NOOP\r\n");
    input.extend_from_slice(b"e APPEND INBOX {4097+}\r\n");
    input.extend_from_slice(&data);
    input.extend_from_slice(b"\r\nf APPEND INBOX {4097}\r\n");
    assert_eq!(
        answers(&l, &input),
        [
            "a LOGIN",
            "b BAD [TOOBIG] Literal too big",
            "d NOOP",
            // RFC 7888 section 5: BAD with TOOBIG, even for APPEND.
            "e BAD [TOOBIG] Literal too big",
            // Synchronizing: fine.
            "+ f 4097 true",
        ]
    );
}

#[test]
fn non_synchronizing_literals_refused() {
    let l = Limits {
        non_sync: NonSyncLiterals::Refused,
        ..Limits::default()
    };
    assert_eq!(
        answers(&l, b"a LOGIN {3+}\r\nb N x\r\nc NOOP\r\nd LOGIN {1}\r\n"),
        [
            "a BAD Non-synchronizing literals are not supported",
            "c NOOP",
            "+ d 1 false"
        ]
    );
}

#[test]
fn many_small_literals_stay_cheap() {
    // Each synchronizing literal re-checks the command so far, within a budget; a client
    // sending thousands of them without waiting costs linear time.
    let mut input = b"a SEARCH".to_vec();
    for _ in 0..5000 {
        input.extend_from_slice(b" TEXT {1}\r\nx");
    }
    input.extend_from_slice(b"\r\n");
    let events = events_in_pieces(&Limits::default(), &input, 0);
    assert_eq!(events.len(), 5001);
    assert!(matches!(events.last(), Some(Event::Command(_))));
}
