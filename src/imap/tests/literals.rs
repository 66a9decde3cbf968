//! Synchronizing and non-synchronizing literals: continuation requests, early refusal, data
//! that looks like syntax, and APPEND messages.

use super::*;
use crate::imap::{Secret, Syntax};

fn continuation(tag: &str, size: u64, message: bool) -> Event {
    Event::NeedContinuation {
        tag: tag.into(),
        size,
        message,
    }
}

fn login(user: &[u8], password: &[u8]) -> Event {
    Event::Command(Command {
        tag: "a".into(),
        body: CommandBody::Login {
            username: user.to_vec(),
            password: Secret(password.to_vec()),
        },
    })
}

#[test]
fn synchronizing_literal_asks_for_continuation() {
    let mut reader = CommandReader::new(Limits::default());
    reader.feed(b"a LOGIN {5}\r\n");
    assert_eq!(reader.next_event(), Some(continuation("a", 5, false)));
    assert_eq!(reader.next_event(), None);
    assert!(reader.in_command());
    reader.feed(b"alice {6}\r\n");
    assert_eq!(reader.next_event(), Some(continuation("a", 6, false)));
    reader.feed(b"secret\r\n");
    assert_eq!(reader.next_event(), Some(login(b"alice", b"secret")));
    assert_eq!(reader.next_event(), None);
    assert!(!reader.in_command());
}

#[test]
fn non_synchronizing_literals_need_no_continuation() {
    // RFC 7888's example.
    assert_eq!(
        events(b"a LOGIN {11+}\r\nFRED FOOBAR {7+}\r\nfat man\r\n"),
        vec![login(b"FRED FOOBAR", b"fat man")]
    );
}

#[test]
fn literal_data_is_not_syntax() {
    // Quotes, braces, line ends and a literal announcement inside literal data.
    assert_eq!(
        events(b"a LOGIN {9}\r\n\"x{1}\r\n\r\n {2+}\r\n\"}\r\n"),
        vec![
            continuation("a", 9, false),
            login(b"\"x{1}\r\n\r\n", b"\"}")
        ]
    );
    assert_eq!(
        events(b"a LOGIN {0}\r\n {0+}\r\n\r\n"),
        vec![continuation("a", 0, false), login(b"", b"")]
    );
}

#[test]
fn announcement_inside_quotes_is_not_a_literal() {
    // The quoted string runs into the line end: bad, and no continuation is asked for.
    assert_eq!(
        events(b"a LOGIN \"x {5}\r\nb NOOP\r\n"),
        vec![
            Event::Error(Error {
                tag: Some("a".into()),
                kind: Syntax::UnterminatedQuote.into()
            }),
            Event::Command(command("b NOOP"))
        ]
    );
    // A closed quote before it: a literal.
    assert_eq!(
        events(b"a LOGIN \"x\\\"\" {1}\r\ny\r\n"),
        vec![continuation("a", 1, false), login(b"x\"", b"y")]
    );
}

#[test]
fn a_command_already_wrong_is_refused_before_its_literal() {
    // No `+`: the client sends nothing more of the command, and the next line is a command.
    for (line, answer) in [
        ("a NOOP {5}", "a BAD Unexpected characters after NOOP\r\n"),
        ("a XYZZY {5}", "a BAD Unknown command: XYZZY\r\n"),
        (
            "a SELECT INBOX {5}",
            "a BAD Unexpected characters after SELECT\r\n",
        ),
        ("a FETCH 0 {5}", "a BAD Message numbers start at 1\r\n"),
        ("a APPEND INBOX (\\Seen {5}", "a BAD Expected flag\r\n"),
        (
            "a LOGIN a b{5}",
            "a BAD Unexpected characters after LOGIN\r\n",
        ),
        ("+ LOGIN {5}", "* BAD Invalid tag\r\n"),
    ] {
        let events = events(format!("{line}\r\nb NOOP\r\n").as_bytes());
        match events.as_slice() {
            [Event::Error(e), Event::Command(c)] => {
                assert_eq!(e.response(), answer, "{line}");
                assert_eq!(c.tag, "b");
            }
            other => panic!("{line}: {other:?}"),
        }
    }
}

#[test]
fn the_session_may_refuse_a_literal() {
    let mut reader = CommandReader::new(Limits::default());
    assert!(!reader.refuse_literal());
    reader.feed(b"a APPEND Drafts {500}\r\nb NOOP\r\n");
    assert_eq!(reader.next_event(), Some(continuation("a", 500, true)));
    assert!(reader.refuse_literal());
    assert!(!reader.refuse_literal());
    assert_eq!(reader.next_event(), Some(Event::Command(command("b NOOP"))));
    // Once the next event has been taken, it is too late.
    reader.feed(b"c LOGIN {1}\r\n");
    assert_eq!(reader.next_event(), Some(continuation("c", 1, false)));
    assert_eq!(reader.next_event(), None);
    assert!(!reader.refuse_literal());
    reader.feed(b"x y\r\n");
    assert!(matches!(reader.next_event(), Some(Event::Command(_))));
}

#[test]
fn bytes_after_a_refused_literal_are_commands() {
    // Whatever arrives between the continuation request and the refusal is not the literal:
    // the client was told no, so what it sends next is its next command.
    let mut reader = CommandReader::new(Limits::default());
    reader.feed(b"a APPEND INBOX {8}\r\n");
    assert_eq!(reader.next_event(), Some(continuation("a", 8, true)));
    reader.feed(b"b NOOP\r\n");
    assert!(reader.refuse_literal());
    assert_eq!(reader.next_event(), Some(Event::Command(command("b NOOP"))));
    assert_eq!(reader.buffered(), 0);
}

#[test]
fn append_message_is_marked_and_the_mailbox_literal_is_not() {
    let events = events(b"a APPEND {5}\r\nDraft (\\Seen) {3}\r\nxyz\r\n");
    assert_eq!(events[0], continuation("a", 5, false));
    assert_eq!(events[1], continuation("a", 3, true));
    assert!(
        matches!(&events[2], Event::Command(Command { body: CommandBody::Append { message, .. }, .. }) if message == b"xyz")
    );
    let events = events_with(&Limits::default(), b"A APPEND INBOX {3}\r\nxyz\r\n");
    assert_eq!(events[0], continuation("A", 3, true));
    let events = events_with(&Limits::default(), b"a append {1}\r\nx {3}\r\nxyz\r\n");
    assert_eq!(events[1], continuation("a", 3, true));
}

/// RFC 3501's CHAR8 excludes NUL, but real mail holds NULs now and then (the shared corpus
/// has such a message), Dovecot stores them, and a message must survive APPEND byte for
/// byte: the APPEND message is taken as it is. NUL anywhere else is still refused.
#[test]
fn message_with_nul_is_taken_as_it_is() {
    let got = events(b"a APPEND INBOX {3+}\r\nx\0y\r\nb NOOP\r\n");
    assert!(
        matches!(&got[0], Event::Command(Command { body: CommandBody::Append { message, .. }, .. }) if message == b"x\0y"),
        "{got:?}"
    );
    assert_eq!(got[1], Event::Command(command("b NOOP")));
    assert_eq!(
        events(b"a LOGIN {3+}\r\nx\0y pw\r\n"),
        vec![Event::Error(Error {
            tag: Some("a".into()),
            kind: Syntax::Nul.into()
        })]
    );
}

#[test]
fn large_message_arrives_intact() {
    let message: Vec<u8> = (0..3_000_000u32)
        .map(|i| b"ab\r\n{}\"x"[i as usize % 8])
        .collect();
    let mut input = format!("a APPEND INBOX {{{}}}\r\n", message.len()).into_bytes();
    input.extend_from_slice(&message);
    input.extend_from_slice(b"\r\nb NOOP\r\n");
    for piece in [0, 1000, 65536] {
        let events = events_in_pieces(&Limits::default(), &input, piece);
        assert_eq!(events.len(), 3, "{piece}");
        match &events[1] {
            Event::Command(Command {
                body: CommandBody::Append { message: got, .. },
                ..
            }) => assert!(got == &message, "{piece}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(events[2], Event::Command(command("b NOOP")));
    }
}
