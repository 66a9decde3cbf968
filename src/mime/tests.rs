//! Unit tests of the whole analysis: structures, envelopes, sections and searches of small
//! messages whose Dovecot answers are known (each shape here is also in
//! `tests/dovecot_mime.rs`, where the real Dovecot confirms it).

use super::search::{self, Needle};
use super::*;

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn body(m: &[u8]) -> String {
    s(&analyze(m).body)
}

fn bodystructure(m: &[u8]) -> String {
    s(&analyze(m).bodystructure)
}

fn envelope(m: &[u8]) -> String {
    s(&analyze(m).envelope)
}

fn sect(m: &[u8], part: &[u32], text: SectionText<'_>) -> Vec<u8> {
    let a = analyze(m);
    match section(m, &a.parts, part, text) {
        SectionBytes::Stored(r) => to_wire(&m[r]),
        SectionBytes::Owned(v) => v,
    }
}

const PLAIN: &str = "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\"";

#[test]
fn rfc3501_fetch_example() {
    let m = "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\nFrom: Terry Gray <gray@cac.washington.edu>\nSubject: IMAP4rev1 WG mtg summary and minutes\nTo: imap@cac.washington.edu\ncc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\nMessage-Id: <B27397-0100000@cac.washington.edu>\nMIME-Version: 1.0\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\n\nHello Joe, do you think we can meet at 3:30 tomorrow?\n".replace('\n', "\r\n");
    let gray = "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\"))";
    assert_eq!(
        envelope(m.as_bytes()),
        format!(
            "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg summary and minutes\" {gray} {gray} {gray} ((NIL NIL \"imap\" \"cac.washington.edu\")) ((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL \"<B27397-0100000@cac.washington.edu>\")"
        )
    );
    // Plain 7-bit text gets Dovecot's fixed, lower-case spelling.
    assert_eq!(body(m.as_bytes()), format!("({PLAIN} 55 1)"));
    assert_eq!(
        bodystructure(m.as_bytes()),
        format!("({PLAIN} 55 1 NIL NIL NIL NIL)")
    );
}

#[test]
fn single_part_keeps_its_spelling_when_not_plain() {
    let m = b"MIME-Version: 1.0\nContent-Type: TEXT/HTML; CHARSET=UTF-8\nContent-Transfer-Encoding: 8bit\n\n<p>\n";
    assert_eq!(
        bodystructure(m),
        "(\"TEXT\" \"HTML\" (\"CHARSET\" \"UTF-8\") NIL NIL \"8bit\" 5 1 NIL NIL NIL NIL)"
    );
    // Without MIME-Version or Content-Type the Content-* fields do not count.
    assert_eq!(
        body(b"Content-Transfer-Encoding: 8bit\n\nx\n"),
        format!("({PLAIN} 3 1)")
    );
}

const MULTI: &str = "From: a@b\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"xx\"\n\npreamble\n--xx\nContent-Type: text/plain; charset=utf-8\n\none\n--xx\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAAA\n--xx--\nepilogue\n";

#[test]
fn multipart() {
    assert_eq!(
        bodystructure(MULTI.as_bytes()),
        "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 3 0 NIL NIL NIL NIL)(\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 4 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"xx\") NIL NIL NIL)"
    );
    let m = MULTI.as_bytes();
    assert_eq!(sect(m, &[1], SectionText::Full), b"one");
    assert_eq!(
        sect(m, &[2], SectionText::Mime),
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    );
    assert_eq!(sect(m, &[3], SectionText::Full), b"");
    // A part that is not a multipart has one part: itself.
    assert_eq!(sect(m, &[1, 1], SectionText::Full), b"one");
    assert_eq!(sect(m, &[1, 2], SectionText::Full), b"");
}

#[test]
fn line_ends_do_not_change_wire_figures() {
    let lf = MULTI.as_bytes().to_vec();
    let crlf = MULTI.replace('\n', "\r\n").into_bytes();
    let mixed = MULTI
        .replace('\n', "\r\n")
        .replacen("\r\n", "\n", 5)
        .into_bytes();
    let a = analyze(&lf);
    for other in [&crlf, &mixed] {
        let b = analyze(other);
        assert_eq!(a.body, b.body);
        assert_eq!(a.bodystructure, b.bodystructure);
        assert_eq!(a.envelope, b.envelope);
        assert_eq!(wire_len(other), wire_len(&lf));
        assert_eq!(to_wire(other), to_wire(&lf));
        for part in [&[][..], &[1], &[2]] {
            assert_eq!(
                sect(other, part, SectionText::Mime),
                sect(&lf, part, SectionText::Mime)
            );
        }
    }
}

#[test]
fn nested_multipart_and_message() {
    let m = b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=q\n\n--q\nContent-Type: message/rfc822\n\nSubject: inner\nFrom: In Ner <in@ner>\nContent-Type: multipart/alternative; boundary=r\n\n--r\n\nplain\n--r\nContent-Type: text/html\n\n<b>\n--r--\n--q--\n";
    assert_eq!(
        body(m),
        "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 148 (NIL \"inner\" ((\"In Ner\" NIL \"in\" \"ner\")) ((\"In Ner\" NIL \"in\" \"ner\")) ((\"In Ner\" NIL \"in\" \"ner\")) NIL NIL NIL NIL NIL) ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 0) \"alternative\") 12) \"mixed\")"
    );
    // Numbers go through the message/rfc822 part into the message inside.
    assert_eq!(sect(m, &[1, 1], SectionText::Full), b"plain");
    assert_eq!(sect(m, &[1, 2], SectionText::Full), b"<b>");
    assert_eq!(
        sect(m, &[1], SectionText::Header),
        b"Subject: inner\r\nFrom: In Ner <in@ner>\r\nContent-Type: multipart/alternative; boundary=r\r\n\r\n"
    );
    assert_eq!(
        sect(m, &[1], SectionText::Mime),
        b"Content-Type: message/rfc822\r\n\r\n"
    );
    let names = [b"subject".to_vec()];
    assert_eq!(
        sect(
            m,
            &[1],
            SectionText::HeaderFields {
                names: &names,
                not: false
            }
        ),
        b"Subject: inner\r\n\r\n"
    );
}

#[test]
fn digest_parts_default_to_messages() {
    let m = b"MIME-Version: 1.0\nContent-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nfirst\n--d\nContent-Type: text/plain\n\nsecond\n--d--\n";
    let b = body(m);
    assert!(
        b.starts_with("((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 21 (NIL \"one\" "),
        "{b}"
    );
    assert!(b.ends_with(&format!("({PLAIN} 6 0) \"digest\")")), "{b}");
}

#[test]
fn broken_boundaries() {
    // No boundary parameter: a multipart with no parts is shown with one empty text part.
    assert_eq!(
        body(b"MIME-Version: 1.0\nContent-Type: multipart/mixed\n\n--x\n\nbody\n"),
        format!("(({PLAIN} 0 0) \"mixed\")")
    );
    // A boundary that is never used, and one that is never closed.
    assert_eq!(
        body(b"MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=zz\n\nno parts\n"),
        format!("(({PLAIN} 0 0) \"alternative\")")
    );
    let m = b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"u\"\n\n--u\nContent-Type: text/plain\n\npart one\n--u\n\npart two, no end\n";
    assert_eq!(body(m), format!("(({PLAIN} 8 0)({PLAIN} 18 1) \"mixed\")"));
    // Junk after the subtype voids the Content-Type, so there are no parts at all.
    assert_eq!(
        body(b"Content-Type: multipart/mixed\n boundary=\"b\"\n\n--b\n\nx\n--b--\n"),
        "(\"\" \"\" NIL NIL NIL \"7bit\" 17)"
    );
}

#[test]
fn no_blank_line_empty_and_header_only() {
    assert_eq!(body(b""), format!("({PLAIN} 0 0)"));
    assert_eq!(envelope(b""), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    assert_eq!(body(b"Subject: x\nFrom: a@b\n"), format!("({PLAIN} 0 0)"));
    let only = b"Subject: only";
    assert_eq!(sect(only, &[], SectionText::Header), b"Subject: only");
    assert_eq!(sect(only, &[], SectionText::Text), b"");
    // A boundary right after a part's header, without an empty line: the part has a
    // header and no body.
    let m = b"Content-Type: multipart/mixed; boundary=\"a\"\n--a\nContent-Type: text/plain\n\nx\n--a--\n";
    assert_eq!(body(m), format!("(({PLAIN} 0 0) \"mixed\")"));
}

#[test]
fn header_strings() {
    let m =
        "Subject: =?UTF-8?B?w6nDqQ==?= and caf\u{e9}\nFrom: =?iso-8859-1?q?J=F6rg?= <j@x>\n\nx\n";
    let e = envelope(m.as_bytes());
    // Encoded words stay encoded; 8-bit text makes a literal.
    assert!(
        e.starts_with("(NIL {30}\r\n=?UTF-8?B?w6nDqQ==?= and caf\u{e9} ((\"=?iso-8859-1?q?J=F6rg?=\" NIL \"j\" \"x\"))"),
        "{e}"
    );
    let folded = b"Message-ID:\n <folded@id>\nSubject: folded\n  subject\tline  \n\nx\n";
    assert_eq!(
        envelope(folded),
        "(NIL {19}\r\nfolded subject line NIL NIL NIL NIL NIL NIL NIL \" <folded@id>\")"
    );
}

#[test]
fn odd_addresses_and_groups() {
    let m = b"From: user\nTo: A Group:Ed Jones <c@a.test>,joe@where.test;, Undisclosed recipients:;\nCc: a@b (Comment Name), <@r1,@r2:x@y>, broken <x@y\n\nx\n";
    assert_eq!(
        envelope(m),
        "(NIL NIL ((NIL NIL \"user\" \"MISSING_DOMAIN\")) ((NIL NIL \"user\" \"MISSING_DOMAIN\")) ((NIL NIL \"user\" \"MISSING_DOMAIN\")) ((NIL NIL \"A Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")(NIL NIL \"joe\" \"where.test\")(NIL NIL NIL NIL)(NIL NIL \"Undisclosed recipients\" NIL)(NIL NIL NIL NIL)) ((\"Comment Name\" NIL \"a\" \"b\")(NIL \"@r1,@r2\" \"x\" \"y\")(\"broken\" NIL \"x\" \"SYNTAX_ERROR\")) NIL NIL NIL)"
    );
}

#[test]
fn header_fields_from_cached_lines_match_the_full_header() {
    let messages = crate::test_corpus::bytes();
    let cached = [
        "From",
        "To",
        "Cc",
        "Subject",
        "Date",
        "Message-ID",
        "Received",
    ];
    let requests: [&[&str]; 4] = [
        &["FROM"],
        &["subject", "date", "from"],
        &["Received", "To", "CC", "Message-Id"],
        &[],
    ];
    for m in &messages {
        let a = analyze(m);
        let lines = select_header_lines(m, &cached);
        for request in requests {
            let names: Vec<Vec<u8>> = request.iter().map(|n| n.as_bytes().to_vec()).collect();
            let full = match section(
                m,
                &a.parts,
                &[],
                SectionText::HeaderFields {
                    names: &names,
                    not: false,
                },
            ) {
                SectionBytes::Owned(v) => v,
                SectionBytes::Stored(_) => unreachable!("HEADER.FIELDS are built"),
            };
            assert_eq!(header_fields(&lines, &names, false), full);
        }
    }
}

#[test]
fn part_tree_encoding() {
    let a = analyze(MULTI.as_bytes());
    let mut enc = Vec::new();
    a.parts.encode(&mut enc);
    assert_eq!(PartTree::decode(&enc), Some(a.parts.clone()));
    assert_eq!(PartTree::decode(&enc[..enc.len() - 1]), None);
    let mut longer = enc.clone();
    longer.push(0);
    assert_eq!(PartTree::decode(&longer), None);
    assert_eq!(PartTree::decode(b""), None);
    let mut wrong_version = enc.clone();
    wrong_version[0] = 9;
    assert_eq!(PartTree::decode(&wrong_version), None);
}

#[test]
fn search_normalizes_like_dovecot() {
    assert_eq!(search::normalize("é"), search::normalize("É"));
    assert_eq!(search::normalize("ǆ"), search::normalize("ǅ"));
    assert!(search::normalize("é").starts_with('E'));
    let m = "Subject: =?utf-8?q?Caf=C3=A9?= society\nFrom: \"Joe Smith\" <joe@x>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nd=E9j=E0 vu\n--b\nContent-Type: message/rfc822\n\nSubject: inner\nContent-Transfer-Encoding: base64\n\naGlkZGVuIHRleHQ=\n--b\nContent-Type: image/png\n\nnot searched\n--b--\n";
    let m = m.as_bytes();
    let a = analyze(m);
    assert!(search::header_contains(m, b"subject", &Needle::new("CAFÉ")));
    assert!(search::header_contains(m, b"SUBJECT", &Needle::new("cafe")));
    assert!(search::header_contains(
        m,
        b"From",
        &Needle::new("joe smith")
    ));
    assert!(search::header_contains(m, b"From", &Needle::new("")));
    assert!(!search::header_contains(m, b"Cc", &Needle::new("")));
    assert!(search::body_contains(m, &a.parts, &Needle::new("DÉJÀ")));
    assert!(search::body_contains(
        m,
        &a.parts,
        &Needle::new("hidden text")
    ));
    assert!(!search::body_contains(
        m,
        &a.parts,
        &Needle::new("not searched")
    ));
    assert!(!search::body_contains(m, &a.parts, &Needle::new("inner")));
    assert!(search::text_contains(
        m,
        &a.parts,
        &Needle::new("subject: inner")
    ));
}

#[test]
fn sent_dates() {
    let date = |v: &str| search::sent_date(format!("Date: {v}\n\nx").as_bytes());
    assert_eq!(date("Tue, 7 Apr 2026 23:59:59 -1200"), Some((2026, 4, 7)));
    assert_eq!(date("7 apr 99 10:00"), Some((1999, 4, 7)));
    assert_eq!(date("31 Feb 2001 25:00:00 +0000"), Some((2001, 3, 4)));
    assert_eq!(date("Tue, 7 Apr 2026 10:00:t"), None);
    assert_eq!(date("yesterday"), None);
    assert_eq!(search::sent_date(b"Subject: none\n\n"), None);
}
