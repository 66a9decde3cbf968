//! SEARCH and UID SEARCH: every key, CHARSET, nesting, and the depth limit.

use std::num::NonZeroU32;

use super::*;
use crate::imap::{Date, ErrorKind, SearchKey, SeqNumber, SeqRange, SequenceSet};

fn search(line: &str) -> (bool, Option<String>, Vec<SearchKey>) {
    match ok(line) {
        CommandBody::Search {
            uid,
            charset,
            criteria,
        } => (uid, charset, criteria),
        other => panic!("{other:?}"),
    }
}

fn keys(line: &str) -> Vec<SearchKey> {
    search(line).2
}

fn date(year: u16, month: u8, day: u8) -> Date {
    Date { year, month, day }
}

fn set(first: u32, last: u32) -> SequenceSet {
    let n = |v| SeqNumber::Number(NonZeroU32::new(v).unwrap());
    SequenceSet(vec![SeqRange {
        first: n(first),
        last: n(last),
    }])
}

#[test]
fn every_key() {
    use SearchKey::*;
    let s = |v: &str| v.as_bytes().to_vec();
    let line = "a SEARCH ALL ANSWERED BCC x BEFORE 1-Feb-2000 BODY \"a b\" CC y DELETED DRAFT FLAGGED \
                FROM z HEADER X-Foo bar KEYWORD $Junk LARGER 100 NEW NOT SEEN OLD ON 29-feb-2004 \
                OR SEEN RECENT RECENT SEEN SENTBEFORE 01-Jan-1999 SENTON \"2-Mar-2001\" \
                SENTSINCE 3-Apr-2002 SINCE 31-Dec-2020 SMALLER 5 SUBJECT {4}\r\nw y  TEXT t TO u UID 1:2 \
                UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNKEYWORD NonJunk UNSEEN 1:2 (SEEN DELETED)";
    assert_eq!(
        keys(line),
        vec![
            All,
            Answered,
            Bcc(s("x")),
            Before(date(2000, 2, 1)),
            Body(s("a b")),
            Cc(s("y")),
            Deleted,
            Draft,
            Flagged,
            From(s("z")),
            Header(s("X-Foo"), s("bar")),
            Keyword("$Junk".into()),
            Larger(100),
            New,
            Not(Box::new(Seen)),
            Old,
            On(date(2004, 2, 29)),
            Or(Box::new(Seen), Box::new(Recent)),
            Recent,
            Seen,
            SentBefore(date(1999, 1, 1)),
            SentOn(date(2001, 3, 2)),
            SentSince(date(2002, 4, 3)),
            Since(date(2020, 12, 31)),
            Smaller(5),
            Subject(s("w y ")),
            Text(s("t")),
            To(s("u")),
            Uid(set(1, 2)),
            Unanswered,
            Undeleted,
            Undraft,
            Unflagged,
            Unkeyword("NonJunk".into()),
            Unseen,
            SequenceSet(set(1, 2)),
            And(vec![Seen, Deleted]),
        ]
    );
}

#[test]
fn charset_and_uid() {
    assert_eq!(
        search("a UID SEARCH CHARSET UTF-8 TEXT {6}\r\nd\u{e9}j\u{e0}"),
        (
            true,
            Some("UTF-8".into()),
            vec![SearchKey::Text("d\u{e9}j\u{e0}".as_bytes().to_vec())]
        )
    );
    assert_eq!(
        search("a search charset \"us-ascii\" all"),
        (false, Some("us-ascii".into()), vec![SearchKey::All])
    );
    assert_eq!(
        bad("a SEARCH CHARSET"),
        "a BAD Unknown SEARCH key: CHARSET\r\n"
    );
    assert_eq!(bad("a SEARCH CHARSET UTF-8"), "a BAD Expected SP\r\n");
    assert_eq!(
        bad("a SEARCH CHARSET (x) ALL"),
        "a BAD Expected charset\r\n"
    );
}

#[test]
fn nesting() {
    use SearchKey::*;
    assert_eq!(
        keys("a SEARCH OR (FROM a NOT (SEEN)) NOT OR 1 2:3"),
        vec![Or(
            Box::new(And(vec![
                From(b"a".to_vec()),
                Not(Box::new(And(vec![Seen])))
            ])),
            Box::new(Not(Box::new(Or(
                Box::new(SequenceSet(set(1, 1))),
                Box::new(SequenceSet(set(2, 3)))
            ))))
        )]
    );
    assert_eq!(
        keys("a SEARCH ((((ALL))))"),
        vec![And(vec![And(vec![And(vec![And(vec![All])])])])]
    );
}

#[test]
fn search_errors() {
    assert_eq!(bad("a SEARCH"), "a BAD Expected SP\r\n");
    assert_eq!(bad("a SEARCH "), "a BAD Expected search key\r\n");
    assert_eq!(bad("a SEARCH ALL "), "a BAD Expected search key\r\n");
    assert_eq!(bad("a SEARCH FOO"), "a BAD Unknown SEARCH key: FOO\r\n");
    assert_eq!(
        bad("a SEARCH X-GM-RAW x"),
        "a BAD Unknown SEARCH key: X-GM-RAW\r\n"
    );
    assert_eq!(bad("a SEARCH ALLX"), "a BAD Unknown SEARCH key: ALLX\r\n");
    assert_eq!(bad("a SEARCH ()"), "a BAD Expected search key\r\n");
    assert_eq!(bad("a SEARCH (ALL"), "a BAD Expected )\r\n");
    assert_eq!(
        bad("a SEARCH ALL)"),
        "a BAD Unexpected characters after SEARCH\r\n"
    );
    assert_eq!(bad("a SEARCH ((ALL)"), "a BAD Expected )\r\n");
    assert_eq!(
        bad("a SEARCH (ALL))"),
        "a BAD Unexpected characters after SEARCH\r\n"
    );
    assert_eq!(bad("a SEARCH NOT"), "a BAD Expected SP\r\n");
    assert_eq!(bad("a SEARCH OR ALL"), "a BAD Expected SP\r\n");
    assert_eq!(bad("a SEARCH FROM"), "a BAD Expected SP\r\n");
    assert_eq!(bad("a SEARCH FROM (x)"), "a BAD Expected search string\r\n");
    assert_eq!(bad("a SEARCH HEADER X"), "a BAD Expected SP\r\n");
    assert_eq!(bad("a SEARCH LARGER x"), "a BAD Expected number\r\n");
    assert_eq!(
        bad("a SEARCH LARGER 99999999999"),
        "a BAD Number out of range\r\n"
    );
    assert_eq!(bad("a SEARCH KEYWORD \\Seen"), "a BAD Expected keyword\r\n");
    assert_eq!(bad("a SEARCH UID x"), "a BAD Expected number\r\n");
    assert_eq!(bad("a SEARCH 0"), "a BAD Message numbers start at 1\r\n");
    for d in [
        "32-Jan-2000",
        "0-Jan-2000",
        "29-Feb-2001",
        "1-Jan-20",
        "1 Jan 2000",
        "\"1-Jan-2000",
        "1-January-2000",
        "123-Jan-2000",
    ] {
        assert_eq!(
            bad(&format!("a SEARCH SINCE {d}")),
            "a BAD Invalid date\r\n",
            "{d}"
        );
    }
}

#[test]
fn depth_is_limited() {
    let limits = Limits {
        max_depth: 5,
        ..Limits::default()
    };
    let run = |line: String| events_with(&limits, format!("{line}\r\n").as_bytes());
    for depth in 0..=5 {
        let nots = "NOT ".repeat(depth);
        assert!(
            matches!(run(format!("a SEARCH {nots}ALL"))[..], [Event::Command(_)]),
            "{depth}"
        );
        let parens = format!("{}ALL{}", "(".repeat(depth), ")".repeat(depth));
        assert!(
            matches!(run(format!("a SEARCH {parens}"))[..], [Event::Command(_)]),
            "{depth}"
        );
        let ors = "OR ALL ".repeat(depth);
        assert!(
            matches!(run(format!("a SEARCH {ors}ALL"))[..], [Event::Command(_)]),
            "{depth}"
        );
    }
    let too_deep = |line: String| match &run(line)[..] {
        [Event::Error(e)] => e.kind == ErrorKind::TooDeep && e.tag.as_deref() == Some("a"),
        _ => false,
    };
    assert!(too_deep(format!("a SEARCH {}ALL", "NOT ".repeat(6))));
    assert!(too_deep(format!("a SEARCH {}ALL", "(".repeat(6))));
    assert!(too_deep(
        "a SEARCH (NOT (OR ALL (NOT (ALL)))) ALL".to_owned()
    ));
    assert_eq!(
        err(format!("a SEARCH {}ALL{}", "(".repeat(101), ")".repeat(101)).as_bytes()).response(),
        "a BAD [LIMIT] Command nested too deeply\r\n"
    );
}

/// The default depth, on a thread with a small stack, in a debug build: the deepest command
/// allowed parses, and a hostile one is refused, well before the stack runs out.
#[test]
fn default_depth_fits_a_small_stack() {
    let limits = Limits::default();
    let max = limits.max_depth;
    let handle = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            let mut reader = CommandReader::new(limits);
            let mut results = Vec::new();
            for line in [
                format!("a SEARCH {}ALL\r\n", "NOT ".repeat(max)),
                format!("a SEARCH {}ALL{}\r\n", "(".repeat(max), ")".repeat(max)),
                format!("a SEARCH {}ALL ALL\r\n", "OR ALL ".repeat(max)),
                format!("b SEARCH {}ALL\r\n", "(".repeat(60_000)),
            ] {
                reader.feed(line.as_bytes());
                results.push(reader.next_event());
            }
            results
        })
        .unwrap();
    let results = handle.join().unwrap();
    for accepted in &results[..3] {
        assert!(matches!(accepted, Some(Event::Command(_))), "{accepted:?}");
    }
    assert!(matches!(
        results[3],
        Some(Event::Error(Error {
            kind: ErrorKind::TooDeep,
            ..
        }))
    ));
}
