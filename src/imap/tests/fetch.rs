//! FETCH and UID FETCH: every data item, the macros, sections and partial ranges.

use std::num::NonZeroU32;

use super::*;
use crate::imap::{FetchItem, Partial, Section, SectionText};

fn items(line: &str) -> Vec<FetchItem> {
    match ok(line) {
        CommandBody::Fetch { items, .. } => items,
        other => panic!("{other:?}"),
    }
}

fn nz(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).unwrap()
}

fn body(
    part: &[u32],
    text: Option<SectionText>,
    partial: Option<(u32, u32)>,
    peek: bool,
) -> FetchItem {
    FetchItem::BodySection {
        section: Section {
            part: part.iter().map(|&p| nz(p)).collect(),
            text,
        },
        partial: partial.map(|(offset, length)| Partial {
            offset,
            length: nz(length),
        }),
        peek,
    }
}

#[test]
fn simple_items() {
    use FetchItem::*;
    assert_eq!(
        items(
            "a FETCH 1 (flags INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE UID RFC822 RFC822.HEADER rfc822.text)"
        ),
        vec![
            Flags,
            InternalDate,
            Rfc822Size,
            Envelope,
            Body,
            BodyStructure,
            Uid,
            Rfc822,
            Rfc822Header,
            Rfc822Text
        ]
    );
    assert_eq!(items("a FETCH 1 UID"), vec![Uid]);
    assert_eq!(items("a FETCH 1 (UID)"), vec![Uid]);
    assert_eq!(items("a FETCH 1 body"), vec![Body]);
}

#[test]
fn macros_expand() {
    use FetchItem::*;
    assert_eq!(
        items("a FETCH 1:* ALL"),
        vec![Flags, InternalDate, Rfc822Size, Envelope]
    );
    assert_eq!(
        items("a FETCH 1 fast"),
        vec![Flags, InternalDate, Rfc822Size]
    );
    assert_eq!(
        items("a FETCH 1 FULL"),
        vec![Flags, InternalDate, Rfc822Size, Envelope, Body]
    );
    // Macros stand alone.
    assert_eq!(bad("a FETCH 1 (ALL)"), "a BAD Unknown FETCH item: ALL\r\n");
    assert_eq!(
        bad("a FETCH 1 ALL FLAGS"),
        "a BAD Unexpected characters after FETCH\r\n"
    );
}

#[test]
fn sections() {
    assert_eq!(
        items("a FETCH 1 BODY[]"),
        vec![body(&[], None, None, false)]
    );
    assert_eq!(
        items("a FETCH 1 BODY.PEEK[]<0.2048>"),
        vec![body(&[], None, Some((0, 2048)), true)]
    );
    assert_eq!(
        items(
            "a FETCH 1 (BODY[HEADER] body[text] BODY[1] BODY[1.2.3] BODY[3.MIME] BODY[2.header] BODY[4.2.TEXT])"
        ),
        vec![
            body(&[], Some(SectionText::Header), None, false),
            body(&[], Some(SectionText::Text), None, false),
            body(&[1], None, None, false),
            body(&[1, 2, 3], None, None, false),
            body(&[3], Some(SectionText::Mime), None, false),
            body(&[2], Some(SectionText::Header), None, false),
            body(&[4, 2], Some(SectionText::Text), None, false),
        ]
    );
    assert_eq!(
        items(
            "a FETCH 1 (BODY.PEEK[HEADER.FIELDS (DATE FROM \"Subject\" {2}\r\nTo)]<10.5> BODY[1.HEADER.FIELDS.NOT (X-Spam)])"
        ),
        vec![
            body(
                &[],
                Some(SectionText::HeaderFields {
                    not: false,
                    fields: vec![
                        b"DATE".to_vec(),
                        b"FROM".to_vec(),
                        b"Subject".to_vec(),
                        b"To".to_vec()
                    ]
                }),
                Some((10, 5)),
                true
            ),
            body(
                &[1],
                Some(SectionText::HeaderFields {
                    not: true,
                    fields: vec![b"X-Spam".to_vec()]
                }),
                None,
                false
            ),
        ]
    );
}

#[test]
fn fetch_errors() {
    assert_eq!(bad("a FETCH"), "a BAD Expected SP\r\n");
    assert_eq!(bad("a FETCH 1"), "a BAD Expected SP\r\n");
    assert_eq!(bad("a FETCH 1 "), "a BAD Expected FETCH item\r\n");
    assert_eq!(bad("a FETCH 1 ()"), "a BAD Expected FETCH item\r\n");
    assert_eq!(bad("a FETCH 1 (FLAGS"), "a BAD Expected SP\r\n");
    assert_eq!(bad("a FETCH 1 (FLAGS UID"), "a BAD Expected SP\r\n");
    assert_eq!(
        bad("a FETCH 1 FLAGS)"),
        "a BAD Unexpected characters after FETCH\r\n"
    );
    assert_eq!(
        bad("a FETCH 1 (FLAGS  UID)"),
        "a BAD Expected FETCH item\r\n"
    );
    assert_eq!(
        bad("a FETCH 1 X-GM-MSGID"),
        "a BAD Unknown FETCH item: X-GM-MSGID\r\n"
    );
    assert_eq!(bad("a FETCH 1 BODY.PEEK"), "a BAD Expected [\r\n");
    assert_eq!(
        bad("a FETCH 1 BODY["),
        "a BAD Expected section (HEADER, HEADER.FIELDS, TEXT or MIME)\r\n"
    );
    assert_eq!(bad("a FETCH 1 BODY[TEXT"), "a BAD Expected ]\r\n");
    assert_eq!(
        bad("a FETCH 1 BODY[MIME]"),
        "a BAD Expected section (HEADER, HEADER.FIELDS, TEXT or MIME)\r\n"
    );
    assert_eq!(
        bad("a FETCH 1 BODY[0]"),
        "a BAD Message numbers start at 1\r\n"
    );
    assert_eq!(
        bad("a FETCH 1 BODY[1.]"),
        "a BAD Expected section (HEADER, HEADER.FIELDS, TEXT or MIME)\r\n"
    );
    assert_eq!(
        bad("a FETCH 1 BODY[1..2]"),
        "a BAD Expected section (HEADER, HEADER.FIELDS, TEXT or MIME)\r\n"
    );
    assert_eq!(
        bad("a FETCH 1 BODY[HEADER.FIELDS]"),
        "a BAD Expected SP\r\n"
    );
    assert_eq!(
        bad("a FETCH 1 BODY[HEADER.FIELDS ()]"),
        "a BAD Expected header field name\r\n"
    );
    assert_eq!(
        bad("a FETCH 1 BODY[HEADER.FIELDS (A]"),
        "a BAD Expected SP\r\n"
    );
    assert_eq!(bad("a FETCH 1 BODY[]<0>"), "a BAD Expected .\r\n");
    assert_eq!(
        bad("a FETCH 1 BODY[]<0.0>"),
        "a BAD Message numbers start at 1\r\n"
    );
    assert_eq!(bad("a FETCH 1 BODY[]<0.10"), "a BAD Expected >\r\n");
    assert_eq!(
        bad("a FETCH 1 BODY[]<4294967296.1>"),
        "a BAD Number out of range\r\n"
    );
    assert_eq!(bad("a FETCH 1 BODY[]<x.1>"), "a BAD Expected number\r\n");
    assert_eq!(
        bad("a FETCH 1 RFC822.SIZE[]"),
        "a BAD Unexpected characters after FETCH\r\n"
    );
}

#[test]
fn uid_fetch_and_sets() {
    use crate::imap::{SeqNumber, SeqRange, SequenceSet};
    let n = |v| SeqNumber::Number(nz(v));
    let range = |first, last| SeqRange { first, last };
    assert_eq!(
        ok("a UID FETCH 1,3:5,*,7:*,*:2,4294967295 FLAGS"),
        CommandBody::Fetch {
            uid: true,
            set: SequenceSet(vec![
                range(n(1), n(1)),
                range(n(3), n(5)),
                range(SeqNumber::Last, SeqNumber::Last),
                range(n(7), SeqNumber::Last),
                range(SeqNumber::Last, n(2)),
                range(n(4294967295), n(4294967295)),
            ]),
            items: vec![FetchItem::Flags]
        }
    );
    assert_eq!(bad("a FETCH 1, FLAGS"), "a BAD Expected number\r\n");
    assert_eq!(bad("a FETCH ,1 FLAGS"), "a BAD Expected number\r\n");
    assert_eq!(bad("a FETCH 1:2:3 FLAGS"), "a BAD Expected SP\r\n");
    assert_eq!(
        bad("a FETCH 0:3 FLAGS"),
        "a BAD Message numbers start at 1\r\n"
    );
    assert_eq!(
        bad("a FETCH 4294967296 FLAGS"),
        "a BAD Number out of range\r\n"
    );
    assert_eq!(bad("a FETCH $ FLAGS"), "a BAD Expected number\r\n");
}
