//! Commands without arguments, tags, command names, and the errors that can happen before any
//! argument is read.

use super::*;
use crate::imap::is_idle_done;

#[test]
fn commands_without_arguments() {
    for (line, body) in [
        ("a CAPABILITY", CommandBody::Capability),
        ("a noop", CommandBody::Noop),
        ("a Logout", CommandBody::Logout),
        ("a STARTTLS", CommandBody::StartTls),
        ("a CHECK", CommandBody::Check),
        ("a close", CommandBody::Close),
        ("a EXPUNGE", CommandBody::Expunge),
        ("a IDLE", CommandBody::Idle),
        ("a NAMESPACE", CommandBody::Namespace),
        ("a UNSELECT", CommandBody::Unselect),
    ] {
        assert_eq!(ok(line), body, "{line}");
        let name = body.name();
        assert_eq!(
            bad(&format!("t {name} x")),
            format!("t BAD Unexpected characters after {name}\r\n")
        );
        assert_eq!(
            bad(&format!("t {name} ")),
            format!("t BAD Unexpected characters after {name}\r\n")
        );
    }
}

#[test]
fn tags() {
    assert_eq!(command("A001 NOOP").tag, "A001");
    assert_eq!(command("a]b.c-d!~ NOOP").tag, "a]b.c-d!~");
    assert_eq!(bad("+a NOOP"), "* BAD Invalid tag\r\n");
    assert_eq!(bad("a+b NOOP"), "* BAD Invalid tag\r\n");
    assert_eq!(bad("* NOOP"), "* BAD Invalid tag\r\n");
    assert_eq!(bad("(a) NOOP"), "* BAD Invalid tag\r\n");
    assert_eq!(bad("\"a\" NOOP"), "* BAD Invalid tag\r\n");
    assert_eq!(bad(" a NOOP"), "* BAD Invalid tag\r\n");
    assert_eq!(bad("a"), "a BAD Missing command name\r\n");
    assert_eq!(bad("a "), "a BAD Missing command name\r\n");
    assert_eq!(bad("a  NOOP"), "a BAD Missing command name\r\n");
    assert_eq!(bad("a\tNOOP"), "* BAD Invalid tag\r\n");
}

#[test]
fn empty_lines_and_nul_bytes() {
    assert_eq!(bad(""), "* BAD Empty command line\r\n");
    assert_eq!(
        events(b"\r\n\na NOOP\r\n"),
        vec![
            Event::Error(err(b"")),
            Event::Error(err(b"")),
            Event::Command(command("a NOOP"))
        ]
    );
    assert_eq!(
        err(b"a NOOP\0").response(),
        "a BAD Command contains a NUL byte\r\n"
    );
    assert_eq!(
        err(b"\0a NOOP").response(),
        "* BAD Command contains a NUL byte\r\n"
    );
    assert_eq!(
        err(b"a LOGIN {3}\r\nx\0y z").response(),
        "a BAD Command contains a NUL byte\r\n"
    );
}

#[test]
fn unknown_commands_are_bad_with_the_tag() {
    assert_eq!(bad("a1 XYZZY"), "a1 BAD Unknown command: XYZZY\r\n");
    assert_eq!(
        bad("a1 SELECTX INBOX"),
        "a1 BAD Unknown command: SELECTX\r\n"
    );
    assert_eq!(bad("a1 FOO(BAR) x"), "a1 BAD Unknown command: FOO(BAR)\r\n");
    assert_eq!(bad("a1 GET\x1b[2J"), "a1 BAD Unknown command: GET?[2J\r\n");
    assert_eq!(
        bad(&format!("a1 {}", "X".repeat(100))),
        format!("a1 BAD Unknown command: {}...\r\n", "X".repeat(24))
    );
    assert_eq!(bad("a1 UID"), "a1 BAD Expected SP\r\n");
    assert_eq!(bad("a1 UID "), "a1 BAD Expected UID command\r\n");
    assert_eq!(bad("a1 UID NOOP"), "a1 BAD Unknown command: NOOP\r\n");
    assert_eq!(
        bad("a1 UID SELECT INBOX"),
        "a1 BAD Unknown command: SELECT\r\n"
    );
}

#[test]
fn line_ends() {
    // A bare LF ends a line as CRLF does; a CR alone does not.
    assert_eq!(
        events(b"a NOOP\nb NOOP\r\n"),
        vec![
            Event::Command(command("a NOOP")),
            Event::Command(command("b NOOP"))
        ]
    );
    assert_eq!(
        bad("a NOOP\r"),
        "a BAD Unexpected characters after NOOP\r\n"
    );
}

#[test]
fn pipelined_commands_come_out_in_order() {
    let input = b"1 NOOP\r\n2 SELECT INBOX\r\n3 BAD!\r\n4 LOGOUT\r\n";
    let events = events(input);
    assert_eq!(events.len(), 4);
    assert_eq!(events[0], Event::Command(command("1 NOOP")));
    assert_eq!(events[1], Event::Command(command("2 SELECT INBOX")));
    assert!(matches!(&events[2], Event::Error(e) if e.tag.as_deref() == Some("3")));
    assert_eq!(events[3], Event::Command(command("4 LOGOUT")));
}

#[test]
fn plain_lines_for_authenticate_and_idle() {
    let mut reader = CommandReader::new(Limits::default());
    reader.feed(b"a IDLE\r\nDONE\r\nb NOOP\r\n");
    assert_eq!(reader.next_event(), Some(Event::Command(command("a IDLE"))));
    reader.expect_line();
    let Some(Event::Line(line)) = reader.next_event() else {
        panic!("no line");
    };
    assert!(is_idle_done(&line));
    // One line only: the next is a command again.
    assert_eq!(reader.next_event(), Some(Event::Command(command("b NOOP"))));
    assert!(is_idle_done(b"done"));
    assert!(!is_idle_done(b"DONE "));

    // A line with literal syntax or quotes is taken as it is.
    let mut reader = CommandReader::new(Limits::default());
    reader.feed(b"a AUTHENTICATE PLAIN\r\n");
    assert!(matches!(reader.next_event(), Some(Event::Command(_))));
    reader.expect_line();
    assert_eq!(reader.next_event(), None);
    reader.feed(b"\"{5}\r");
    assert_eq!(reader.next_event(), None);
    reader.feed(b"\n");
    assert_eq!(reader.next_event(), Some(Event::Line(b"\"{5}".to_vec())));
    assert!(!reader.in_command());
}

#[test]
fn over_long_plain_line() {
    let limits = Limits {
        max_line: 16,
        ..Limits::default()
    };
    let mut reader = CommandReader::new(limits);
    reader.expect_line();
    reader.feed(&[b'A'; 40]);
    let Some(Event::Error(e)) = reader.next_event() else {
        panic!("no error");
    };
    assert_eq!(e.response(), "* BAD [LIMIT] Command line too long\r\n");
    reader.feed(b"AAAA\r\na NOOP\r\n");
    assert_eq!(reader.next_event(), Some(Event::Command(command("a NOOP"))));
    // 14 characters + CRLF = 16 bytes fit.
    reader.expect_line();
    reader.feed(b"AAAAAAAAAAAAAA\r\n");
    assert_eq!(reader.next_event(), Some(Event::Line(vec![b'A'; 14])));
}

#[test]
fn clear_forgets_everything() {
    let mut reader = CommandReader::new(Limits::default());
    reader.feed(b"a STARTTLS\r\nb LOGIN x {5}\r\n");
    assert!(matches!(reader.next_event(), Some(Event::Command(_))));
    reader.clear();
    assert_eq!(reader.buffered(), 0);
    assert!(!reader.in_command());
    reader.feed(b"c NOOP\r\n");
    assert_eq!(reader.next_event(), Some(Event::Command(command("c NOOP"))));
}

#[test]
fn names_of_commands() {
    assert_eq!(ok("a UID FETCH 1 UID").name(), "UID FETCH");
    assert_eq!(ok("a FETCH 1 UID").name(), "FETCH");
    assert_eq!(ok("a UID EXPUNGE 1").name(), "UID EXPUNGE");
    assert_eq!(ok("a UID MOVE 1 x").name(), "UID MOVE");
}
