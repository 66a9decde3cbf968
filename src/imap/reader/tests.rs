//! What the reader holds while a large command streams through it: the properties the public
//! API cannot show.

use super::*;
use crate::imap::command::CommandBody;

fn append_header(size: usize) -> Vec<u8> {
    format!("a APPEND INBOX {{{size}+}}\r\n").into_bytes()
}

#[test]
fn message_data_bypasses_the_buffer() {
    let size = 8 * 1024 * 1024;
    let mut reader = CommandReader::new(Limits::default());
    reader.feed(&append_header(size));
    assert_eq!(reader.next_event(), None);
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..size / chunk.len() {
        reader.feed(&chunk);
        assert_eq!(reader.next_event(), None);
        // Only the command line stays in the buffer; the data went straight to the message.
        assert_eq!(reader.buf.len(), append_header(size).len());
    }
    let message = &reader.cmd.message.as_ref().unwrap().1;
    assert_eq!(message.len(), size);
    // Grown once to the announced size, not doubled past it.
    assert_eq!(message.capacity(), size);
    reader.feed(b"\r\n");
    let Some(Event::Command(command)) = reader.next_event() else {
        panic!("no command");
    };
    let CommandBody::Append { message, .. } = command.body else {
        panic!("not APPEND");
    };
    assert_eq!(message.len(), size);
}

#[test]
fn message_data_arriving_with_the_header_is_moved_out() {
    let mut input = append_header(10);
    input.extend_from_slice(b"0123456789\r\nb NOOP\r\n");
    let mut reader = CommandReader::new(Limits::default());
    reader.feed(&input);
    assert!(matches!(reader.next_event(), Some(Event::Command(_))));
    assert!(matches!(reader.next_event(), Some(Event::Command(_))));
    assert_eq!(reader.next_event(), None);
    assert_eq!(reader.buffered(), 0);
}

#[test]
fn skipped_data_is_never_buffered() {
    let mut reader = CommandReader::new(Limits {
        max_append: 10,
        ..Limits::default()
    });
    reader.feed(&append_header(1 << 20));
    assert!(matches!(reader.next_event(), Some(Event::Error(_))));
    let chunk = vec![b'\n'; 4096];
    for _ in 0..256 {
        reader.feed(&chunk);
        assert!(reader.buf.is_empty());
        assert_eq!(reader.next_event(), None);
    }
    assert_eq!(reader.state, State::Discard(Suffix::new(Quote::Outside)));
}

#[test]
fn buffer_shrinks_after_a_big_command() {
    let mut reader = CommandReader::new(Limits::default());
    let mut input = b"a LOGIN {60000+}\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'u', 60000));
    input.extend_from_slice(b" p\r\n");
    for chunk in input.chunks(4096) {
        reader.feed(chunk);
    }
    assert!(matches!(reader.next_event(), Some(Event::Command(_))));
    assert!(reader.buf.capacity() >= 60000);
    reader.feed(b"b NOOP\r\n");
    assert!(reader.buf.capacity() <= BUF_KEEP);
    assert!(matches!(reader.next_event(), Some(Event::Command(_))));
}

#[test]
fn prefix_checks_stop_at_their_budget() {
    let mut reader = CommandReader::new(Limits::default());
    reader.feed(b"a SEARCH TEXT {1}\r\n");
    assert!(matches!(
        reader.next_event(),
        Some(Event::NeedContinuation { .. })
    ));
    assert_eq!(reader.cmd.check_budget, CHECK_BUDGET - 19);
    reader.cmd.check_budget = 5;
    // Past the budget, a wrong command is no longer caught early, only at its end.
    reader.feed(b"x BOGUS {1}\r\n");
    assert!(matches!(
        reader.next_event(),
        Some(Event::NeedContinuation { .. })
    ));
    reader.feed(b"y\r\n");
    assert!(matches!(reader.next_event(), Some(Event::Error(_))));
}
