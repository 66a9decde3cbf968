//! SELECT, EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS,
//! APPEND, COPY and MOVE.

use std::num::NonZeroU32;

use super::*;
use crate::imap::{Date, DateTime, Flag, Mailbox, SeqNumber, SeqRange, SequenceSet, StatusItem};

fn mailbox(name: &str) -> Mailbox {
    Mailbox::new(name).unwrap()
}

fn set(first: u32, last: Option<u32>) -> SequenceSet {
    let n = |v| SeqNumber::Number(NonZeroU32::new(v).unwrap());
    SequenceSet(vec![SeqRange {
        first: n(first),
        last: last.map_or(SeqNumber::Last, n),
    }])
}

#[test]
fn single_mailbox_commands() {
    for name in [
        "SELECT",
        "EXAMINE",
        "CREATE",
        "DELETE",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
    ] {
        let body = ok(&format!("a {} \"Sent Items\"", name.to_lowercase()));
        assert_eq!(body.name(), name);
        let expected_mailbox = mailbox("Sent Items");
        let got = match body {
            CommandBody::Select { mailbox }
            | CommandBody::Examine { mailbox }
            | CommandBody::Create { mailbox }
            | CommandBody::Delete { mailbox }
            | CommandBody::Subscribe { mailbox }
            | CommandBody::Unsubscribe { mailbox } => mailbox,
            other => panic!("{other:?}"),
        };
        assert_eq!(got, expected_mailbox);
        assert_eq!(bad(&format!("a {name}")), "a BAD Expected SP\r\n");
        assert_eq!(
            bad(&format!("a {name} ")),
            "a BAD Expected mailbox name\r\n"
        );
        assert_eq!(
            bad(&format!("a {name} a b")),
            format!("a BAD Unexpected characters after {name}\r\n")
        );
    }
}

#[test]
fn mailbox_names() {
    let select = |name: &str| CommandBody::Select {
        mailbox: mailbox(name),
    };
    assert_eq!(ok("a SELECT inbox"), select("INBOX"));
    assert_eq!(ok("a SELECT \"InBox\""), select("INBOX"));
    assert!(
        matches!(ok("a SELECT {5}\r\niNbOx"), CommandBody::Select { mailbox } if mailbox.is_inbox())
    );
    assert_eq!(ok("a SELECT INBOX.Sent]"), select("INBOX.Sent]"));
    assert_eq!(
        ok("a SELECT ~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        select("~peter/mail/&U,BTFw-/&ZeVnLIqe-")
    );
    assert_eq!(ok("a SELECT \"Tom &- Jerry\""), select("Tom &- Jerry"));
    let mutf7 = "a BAD Mailbox name is not valid modified UTF-7\r\n";
    assert_eq!(bad("a SELECT &U,BTFw-&ZeVnLIqe-"), mutf7);
    assert_eq!(bad("a SELECT &Jjo!"), mutf7);
    assert_eq!(bad("a SELECT Tom&Jerry"), mutf7);
    assert_eq!(bad("a SELECT &AEE-"), mutf7);
    assert_eq!(bad("a CREATE \"caf\u{e9}\""), mutf7);
    assert_eq!(bad("a CREATE {2}\r\na\tb"), mutf7);
    assert_eq!(bad("a SELECT (x)"), "a BAD Expected mailbox name\r\n");
    assert_eq!(
        bad("a SELECT x%"),
        "a BAD Unexpected characters after SELECT\r\n"
    );
}

#[test]
fn rename() {
    assert_eq!(
        ok("a RENAME old \"new one\""),
        CommandBody::Rename {
            from: mailbox("old"),
            to: mailbox("new one")
        }
    );
    assert_eq!(bad("a RENAME old"), "a BAD Expected SP\r\n");
    assert_eq!(
        bad("a RENAME old &-&"),
        "a BAD Mailbox name is not valid modified UTF-7\r\n"
    );
}

#[test]
fn list_and_lsub() {
    assert_eq!(
        ok("a LIST \"\" *"),
        CommandBody::List {
            reference: mailbox(""),
            pattern: b"*".to_vec()
        }
    );
    assert_eq!(
        ok("a lsub #news. comp.mail.%"),
        CommandBody::Lsub {
            reference: mailbox("#news."),
            pattern: b"comp.mail.%".to_vec()
        }
    );
    assert_eq!(
        ok("a LIST ~/Mail/ \"%/f*o]\""),
        CommandBody::List {
            reference: mailbox("~/Mail/"),
            pattern: b"%/f*o]".to_vec()
        }
    );
    // The pattern is not a mailbox name: a partial base64 run is fine there.
    assert_eq!(
        ok("a LIST \"\" &U,BT*"),
        CommandBody::List {
            reference: mailbox(""),
            pattern: b"&U,BT*".to_vec()
        }
    );
    assert_eq!(bad("a LIST \"\""), "a BAD Expected SP\r\n");
    assert_eq!(bad("a LIST \"\" "), "a BAD Expected mailbox pattern\r\n");
    assert_eq!(bad("a LIST \"\" (x)"), "a BAD Expected mailbox pattern\r\n");
    assert_eq!(bad("a LIST * x"), "a BAD Expected mailbox name\r\n");
}

#[test]
fn status() {
    assert_eq!(
        ok("a STATUS blurdybloop (UIDNEXT messages Recent UIDVALIDITY UNSEEN)"),
        CommandBody::Status {
            mailbox: mailbox("blurdybloop"),
            items: vec![
                StatusItem::UidNext,
                StatusItem::Messages,
                StatusItem::Recent,
                StatusItem::UidValidity,
                StatusItem::Unseen
            ]
        }
    );
    assert_eq!(bad("a STATUS x"), "a BAD Expected SP\r\n");
    assert_eq!(bad("a STATUS x MESSAGES"), "a BAD Expected (\r\n");
    assert_eq!(bad("a STATUS x ()"), "a BAD Expected STATUS item\r\n");
    assert_eq!(bad("a STATUS x (MESSAGES"), "a BAD Expected SP\r\n");
    assert_eq!(
        bad("a STATUS x (SIZE)"),
        "a BAD Unknown STATUS item: SIZE\r\n"
    );
    assert_eq!(
        bad("a STATUS x (MESSAGES )"),
        "a BAD Expected STATUS item\r\n"
    );
}

fn append_event(input: &[u8]) -> CommandBody {
    match events(input).last() {
        Some(Event::Command(c)) => c.body.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn append_forms() {
    let message = b"Subject: hi\r\n\r\n{5}\r\nbody\r\n";
    let header = format!(
        "a APPEND saved-messages (\\Seen $Junk) \" 7-Feb-1994 21:52:25 -0800\" {{{}}}\r\n",
        message.len()
    );
    let input = [header.as_bytes(), message, b"\r\n"].concat();
    assert_eq!(
        append_event(&input),
        CommandBody::Append {
            mailbox: mailbox("saved-messages"),
            flags: vec![Flag::Seen, Flag::Keyword("$Junk".into())],
            date: Some(DateTime {
                date: Date {
                    year: 1994,
                    month: 2,
                    day: 7
                },
                hour: 21,
                minute: 52,
                second: 25,
                zone_minutes: -480
            }),
            message: message.to_vec(),
        }
    );
    assert_eq!(
        append_event(b"a APPEND INBOX {3+}\r\nabc\r\n"),
        CommandBody::Append {
            mailbox: mailbox("INBOX"),
            flags: vec![],
            date: None,
            message: b"abc".to_vec(),
        }
    );
    // The mailbox as a literal, empty flags, a zero-length message.
    assert_eq!(
        append_event(b"a APPEND {4}\r\nSent () {0}\r\n\r\n"),
        CommandBody::Append {
            mailbox: mailbox("Sent"),
            flags: vec![],
            date: None,
            message: vec![],
        }
    );
    assert_eq!(
        append_event(b"a APPEND x \"01-Jan-2000 00:00:00 +0000\" {1}\r\nx\r\n"),
        CommandBody::Append {
            mailbox: mailbox("x"),
            flags: vec![],
            date: Some(DateTime {
                date: Date {
                    year: 2000,
                    month: 1,
                    day: 1
                },
                hour: 0,
                minute: 0,
                second: 0,
                zone_minutes: 0
            }),
            message: b"x".to_vec(),
        }
    );
}

#[test]
fn append_errors() {
    assert_eq!(bad("a APPEND INBOX"), "a BAD Expected SP\r\n");
    assert_eq!(
        bad("a APPEND INBOX abc"),
        "a BAD Expected message literal\r\n"
    );
    assert_eq!(bad("a APPEND INBOX \"abc\""), "a BAD Invalid date\r\n");
    assert_eq!(bad("a APPEND INBOX (\\Seen"), "a BAD Expected SP\r\n");
    assert_eq!(bad("a APPEND INBOX (\\Seen)"), "a BAD Expected SP\r\n");
    for date in [
        "31-Feb-2001 00:00:00 +0000",
        "29-Feb-1900 00:00:00 +0000",
        "1-Jan-2000 00:00:00 +0000",
        "01-Foo-2000 00:00:00 +0000",
        "01-Jan-00 00:00:00 +0000",
        "01-Jan-2000 24:00:00 +0000",
        "01-Jan-2000 00:60:00 +0000",
        "01-Jan-2000 00:00:61 +0000",
        "01-Jan-2000 0:00:00 +0000",
        "01-Jan-2000 00:00:00 0000",
        "01-Jan-2000 00:00:00 +2400",
        "01-Jan-2000 00:00:00 +0060",
        "01-Jan-2000 00:00:00 +000",
        "01-Jan-2000  00:00:00 +0000",
    ] {
        assert_eq!(
            bad(&format!("a APPEND x \"{date}\" {{1+}}\r\nx")),
            "a BAD Invalid date\r\n",
            "{date}"
        );
    }
    assert!(matches!(
        ok("a APPEND x \"29-Feb-2000 23:59:60 -2359\" {1}\r\nx"),
        CommandBody::Append { .. }
    ));
    // Only one message: MULTIAPPEND (RFC 3502) is not offered.
    assert_eq!(
        events(b"a APPEND x {1+}\r\nx {1+}\r\ny\r\n")
            .last()
            .unwrap(),
        &Event::Error(Error {
            tag: Some("a".into()),
            kind: crate::imap::Syntax::Trailing("APPEND").into()
        })
    );
}

#[test]
fn copy_and_move() {
    assert_eq!(
        ok("a COPY 2:4 MEETING"),
        CommandBody::Copy {
            uid: false,
            set: set(2, Some(4)),
            mailbox: mailbox("MEETING")
        }
    );
    assert_eq!(
        ok("a uid copy 7:* Trash"),
        CommandBody::Copy {
            uid: true,
            set: set(7, None),
            mailbox: mailbox("Trash")
        }
    );
    assert_eq!(
        ok("a MOVE 1 \"Junk\""),
        CommandBody::Move {
            uid: false,
            set: set(1, Some(1)),
            mailbox: mailbox("Junk")
        }
    );
    assert_eq!(
        ok("a UID MOVE 42:43 Archive"),
        CommandBody::Move {
            uid: true,
            set: set(42, Some(43)),
            mailbox: mailbox("Archive")
        }
    );
    assert_eq!(bad("a COPY 1"), "a BAD Expected SP\r\n");
    assert_eq!(bad("a COPY x y"), "a BAD Expected number\r\n");
    assert_eq!(bad("a MOVE 0 y"), "a BAD Message numbers start at 1\r\n");
    assert_eq!(bad("a MOVE 1: y"), "a BAD Expected number\r\n");
}
