//! The converter over the shared corpus and over messages made to show each rule.

use mail_parser::MimeHeaders;

use super::convert;
use crate::mime::{self, Entity};
use crate::policy::RetrievalFormat::{self, *};

const FORMATS: [RetrievalFormat; 4] = [TextOnly, HtmlOnly, HtmlAndText, Best];

fn parse(m: &[u8]) -> mail_parser::Message<'_> {
    mail_parser::MessageParser::default()
        .parse(m)
        .expect("mail-parser reads it")
}

/// Whether part `i` sits under a multipart/alternative (its alternatives may be dropped).
fn in_alternative(parts: &[Entity], mut i: usize) -> bool {
    while let Some(p) = parts[i].parent {
        if parts[p].is("multipart", "alternative") {
            return true;
        }
        i = p;
    }
    false
}

/// Whether part `i` sits under a part the converter must never touch.
fn under_protected(parts: &[Entity], i: usize) -> bool {
    let mut cur = Some(i);
    while let Some(c) = cur {
        if super::protected(&parts[c]) {
            return true;
        }
        cur = parts[c].parent;
    }
    false
}

/// The leaf parts every format must keep byte for byte: attachments and any non-text
/// leaf outside an alternative, and everything inside a signed/encrypted or attached
/// message (checked as that whole subtree).
fn must_keep(m: &[u8]) -> Vec<std::ops::Range<usize>> {
    let parts = mime::outline(m);
    let mut keep = Vec::new();
    for (i, e) in parts.iter().enumerate() {
        if i == 0 {
            continue;
        }
        if super::protected(e) && !e.parent.is_some_and(|p| under_protected(&parts, p)) {
            keep.push(e.range());
            continue;
        }
        if e.multipart || under_protected(&parts, i) || in_alternative(&parts, i) {
            continue;
        }
        let attachment = e.disposition.as_deref() == Some("attachment");
        if attachment || e.media_type != "text" {
            keep.push(e.range());
        }
    }
    keep
}

#[test]
fn corpus_in_every_format() {
    let corpus = crate::test_corpus::messages();
    let mut changed = [0usize; 4];
    for (path, m) in &corpus {
        for (n, format) in FORMATS.into_iter().enumerate() {
            let Some(out) = convert(m, format) else {
                continue;
            };
            changed[n] += 1;
            let what = format!("{} as {}", path.display(), format.as_str());
            assert_ne!(&out, m, "{what}: a change that changes nothing");
            // The result is a message both parsers read, and FETCH can analyse.
            let _ = parse(&out);
            let _ = mime::analyze(&out);
            assert_eq!(convert(&out, format), None, "{what}: not idempotent");
            for range in must_keep(m) {
                assert!(
                    memchr::memmem::find(&out, &m[range.clone()]).is_some(),
                    "{what}: part at {range:?} not kept byte for byte"
                );
            }
            // The message's own header fields stay as they were.
            let before = parse(m);
            let after = parse(&out);
            assert_eq!(before.subject(), after.subject(), "{what}");
            assert_eq!(before.message_id(), after.message_id(), "{what}");
            assert_eq!(before.date(), after.date(), "{what}");
            // Line ends stay the stored message's: no CR LF appears in LF mail.
            if !m.windows(2).any(|w| w == b"\r\n") {
                assert!(!out.windows(2).any(|w| w == b"\r\n"), "{what}: CR LF added");
            }
            assert!(
                out.split(|&b| b == b'\n').all(|l| l.len() <= 1000)
                    || m.split(|&b| b == b'\n').any(|l| l.len() > 1000),
                "{what}: a generated line longer than 998 octets"
            );
        }
    }
    // The corpus has HTML and alternatives: every format changes some of it.
    assert!(changed.iter().all(|&n| n > 0), "{changed:?}");
    assert_eq!(
        corpus
            .iter()
            .filter(|(_, m)| convert(m, Original).is_some())
            .count(),
        0
    );
}

#[test]
fn attachments_decode_to_the_same_bytes() {
    for (path, m) in crate::test_corpus::messages() {
        let before = parse(&m);
        let originals: Vec<Vec<u8>> = before
            .attachments()
            .filter(|a| a.attachment_name().is_some() && !a.is_text() && !a.is_text_html())
            .map(|a| a.contents().to_vec())
            .collect();
        if originals.is_empty() {
            continue;
        }
        for format in FORMATS {
            let Some(out) = convert(&m, format) else {
                continue;
            };
            let after = parse(&out);
            let now: Vec<Vec<u8>> = after.attachments().map(|a| a.contents().to_vec()).collect();
            for (n, a) in originals.iter().enumerate() {
                // Attachments inside a dropped alternative (inline images of the HTML
                // under text-only) are not the message's attachments.
                let in_alt = alt_only_attachment(&m, a);
                assert!(
                    in_alt || now.contains(a),
                    "{} as {}: attachment {n} lost or altered",
                    path.display(),
                    format.as_str()
                );
            }
        }
    }
}

/// Whether the attachment with these contents exists only under a multipart/alternative.
fn alt_only_attachment(m: &[u8], contents: &[u8]) -> bool {
    let parts = mime::outline(m);
    let msg = parse(m);
    msg.attachments().all(|a| {
        a.contents() != contents || {
            let offset = a.raw_header_offset() as usize;
            let found = parts.iter().position(|e| e.header.start == offset);
            found.is_some_and(|i| in_alternative(&parts, i))
        }
    })
}

const HTML_ONLY: &[u8] = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: Offer\r\n\
Message-ID: <1@example.com>\r\nMIME-Version: 1.0\r\n\
Content-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
<html><body><h1>Caf=E9 news</h1><p>See <a href=3D\"https://example.com/menu?x=3D1&amp;y=3D2\">our\r\n\
menu</a> and <b>reply</b>.</p><table><tr><td>cell</td></tr></table></body></html>\r\n";

const TEXT_ONLY: &[u8] =
    b"From: a@example.com\nSubject: plain\n\nIf a < b && c > d then \"x\"\n\n-- \nsig\n";

fn alternative(format: RetrievalFormat) -> Vec<u8> {
    convert(ALTERNATIVE, format).unwrap_or_else(|| ALTERNATIVE.to_vec())
}

const ALTERNATIVE: &[u8] = b"From: a@example.com\nSubject: both\nMIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=outer\n\n\
--outer\nContent-Type: multipart/alternative; boundary=alt\n\n\
--alt\nContent-Type: text/plain; charset=utf-8\n\nthe text\n\
--alt\nContent-Type: text/html; charset=utf-8\n\n<p>the <i>html</i></p>\n\
--alt--\n\
--outer\nContent-Type: application/pdf; name=a.pdf\nContent-Disposition: attachment; filename=a.pdf\n\
Content-Transfer-Encoding: base64\n\nJVBERi0xLjQKJcfsj6IK\n\
--outer--\n";

#[test]
fn html_only_message_as_text() {
    let out = convert(HTML_ONLY, TextOnly).expect("converted");
    let msg = parse(&out);
    let text = msg.body_text(0).expect("a text body").into_owned();
    assert!(text.contains("Café news"), "{text}");
    assert!(text.contains("https://example.com/menu?x=1&y=2"), "{text}");
    assert!(text.contains("cell"), "{text}");
    assert!(!text.contains('<') && !text.contains("</"), "{text}");
    assert!(msg.body_html(0).is_none_or(|h| !h.contains("<h1>")));
    let s = String::from_utf8_lossy(&out);
    assert!(
        s.contains("Content-Type: text/plain; charset=utf-8\r\n"),
        "{s}"
    );
    // The message's own header is kept, in order, with its line ends.
    assert!(s.starts_with(
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: Offer\r\n\
         Message-ID: <1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain"
    ));
    assert!(!out.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
}

#[test]
fn text_message_as_html() {
    let out = convert(TEXT_ONLY, HtmlOnly).expect("converted");
    let s = String::from_utf8(out.clone()).unwrap();
    assert!(s.starts_with("From: a@example.com\nSubject: plain\nMIME-Version: 1.0\n"));
    assert!(s.contains("Content-Type: text/html; charset=utf-8\n"));
    assert!(
        s.contains("If a &lt; b &amp;&amp; c &gt; d then &quot;x&quot;"),
        "{s}"
    );
    assert!(!out.contains(&b'\r'));
    assert_eq!(convert(TEXT_ONLY, TextOnly), None);
    assert_eq!(convert(TEXT_ONLY, Best), None);
}

#[test]
fn html_and_text_gains_the_other_part() {
    for (m, stored) in [(HTML_ONLY, "text/html"), (TEXT_ONLY, "text/plain")] {
        let out = convert(m, HtmlAndText).expect("converted");
        let parts = mime::outline(&out);
        assert!(parts[0].is("multipart", "alternative"));
        assert_eq!(parts[0].children.len(), 2);
        let (a, b) = (&parts[parts[0].children[0]], &parts[parts[0].children[1]]);
        assert!(a.is("text", "plain") && b.is("text", "html"));
        let msg = parse(&out);
        assert!(msg.body_text(0).is_some() && msg.body_html(0).is_some());
        // The stored body is one of the two, byte for byte.
        let original = mime::outline(m);
        let kept = if stored == "text/html" { b } else { a };
        assert_eq!(&out[kept.body.clone()], &m[original[0].body.clone()]);
    }
    assert_eq!(convert(ALTERNATIVE, HtmlAndText), None);
}

#[test]
fn alternatives_keep_one_part() {
    let text = alternative(TextOnly);
    let s = String::from_utf8_lossy(&text);
    assert!(s.contains("the text") && !s.contains("<p>"), "{s}");
    assert!(s.contains("--outer\nContent-Type: text/plain; charset=utf-8\n\nthe text\n--outer\n"));
    for f in [HtmlOnly, Best] {
        let html = alternative(f);
        let s = String::from_utf8_lossy(&html);
        assert!(
            s.contains("--outer\nContent-Type: text/html; charset=utf-8\n\n<p>the <i>html</i></p>\n--outer\n"),
            "{s}"
        );
        assert!(!s.contains("the text"));
    }
    // The attachment is there, byte for byte, in every form.
    for f in FORMATS {
        let out = alternative(f);
        assert!(memchr::memmem::find(&out, b"Content-Disposition: attachment; filename=a.pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQKJcfsj6IK\n--outer--\n").is_some());
    }
}

const SIGNED: &[u8] = b"From: a@example.com\nSubject: signed\nMIME-Version: 1.0\n\
Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=s\n\n\
--s\nContent-Type: multipart/alternative; boundary=alt\n\n\
--alt\nContent-Type: text/plain\n\ntext\n--alt\nContent-Type: text/html\n\n<b>html</b>\n--alt--\n\
--s\nContent-Type: application/pkcs7-signature; name=smime.p7s\nContent-Transfer-Encoding: base64\n\nMIIB\n--s--\n";

#[test]
fn signed_and_encrypted_are_never_altered() {
    for f in FORMATS {
        assert_eq!(convert(SIGNED, f), None);
        let encrypted = b"Subject: x\nMIME-Version: 1.0\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\nContent-Transfer-Encoding: base64\n\nMIIB\n";
        assert_eq!(convert(encrypted, f), None);
        let pgp = b"Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=e\n\n--e\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n--e\nContent-Type: text/html\n\n<b>x</b>\n--e--\n";
        assert_eq!(convert(pgp, f), None);
    }
    // A signed part inside a message is kept whole while the rest converts.
    let mixed = [
        &b"Subject: fwd\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: text/html\n\n<p>cover</p>\n--m\n"[..],
        &SIGNED[b"From: a@example.com\nSubject: signed\nMIME-Version: 1.0\n".len()..SIGNED.len() - 1],
        b"\n--m--\n",
    ]
    .concat();
    let out = convert(&mixed, TextOnly).expect("the cover converts");
    let signed_part = &mixed[mixed
        .windows(25)
        .position(|w| w == b"Content-Type: multipart/s")
        .unwrap()..mixed.len() - b"\n--m--\n".len()];
    assert!(memchr::memmem::find(&out, signed_part).is_some());
    assert!(String::from_utf8_lossy(&out).contains("cover"));
}

#[test]
fn crlf_mail_stays_crlf() {
    let crlf: Vec<u8> = String::from_utf8_lossy(ALTERNATIVE)
        .replace('\n', "\r\n")
        .into_bytes();
    for f in FORMATS {
        if let Some(out) = convert(&crlf, f) {
            assert!(
                !out.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'),
                "{f:?}"
            );
        }
    }
}
