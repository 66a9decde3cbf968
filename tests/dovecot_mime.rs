//! `postern::mime` against a real Dovecot 2.3 on the same messages: ENVELOPE, BODY,
//! BODYSTRUCTURE, RFC822.SIZE and a set of `BODY[section]`s must be byte-identical for every
//! message of the shared corpus and for a set of malformed and corner-case messages that
//! pin down Dovecot's quirks. A client that cached one server's answers must be able to
//! talk to the other.
//!
//! The messages go into a Maildir served by Dovecot; a small IMAP client here reads its
//! answers, literals included, and every difference is collected and reported at the end
//! (set `POSTERN_MIME_DUMP` to a directory to get both sides of each difference as files).
//!
//! One known, deliberate difference: Dovecot replaces NUL bytes with 0x80 when it sends a
//! body section, while Postern sends the bytes as stored. Section bodies are therefore
//! compared with NUL mapped to 0x80 on our side; nothing else is adjusted.

mod common;
mod support;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::dovecot::DovecotServer;
use postern::mime::{self, SectionBytes, SectionText};

const USER: &str = "dora";
const PASSWORD: &str = "mime-pw";

/// Every message of the corpus, named by its path in the corpus.
fn corpus() -> Vec<(String, Vec<u8>)> {
    support::corpus()
        .into_iter()
        .map(|(path, bytes)| (path.display().to_string(), bytes))
        .collect()
}

fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

/// Shapes the corpus lacks, each chosen to pin down one of Dovecot's rules.
fn edge_cases() -> Vec<(String, Vec<u8>)> {
    let multipart = "From: a@b\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"xx\"\n\npreamble\n--xx\nContent-Type: text/plain; charset=utf-8\n\none\n--xx\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAAA\n--xx--\nepilogue\n";
    let mut mixed = multipart.replace('\n', "\r\n");
    mixed = mixed.replacen("\r\n", "\n", 3);
    let mut deep = String::new();
    for _ in 0..105 {
        deep.push_str("Content-Type: message/rfc822\n\n");
    }
    deep.push_str("Subject: deepest\n\nbody\n");
    let mut deep_multi = String::new();
    for i in 0..103 {
        deep_multi.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n"
        ));
    }
    deep_multi.push_str("Content-Type: text/plain\n\ninner\n");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("header-only-no-newline", b"Subject: only".to_vec()),
        ("header-only", b"Subject: x\nFrom: a@b\n".to_vec()),
        ("header-and-blank", b"Subject: x\n\n".to_vec()),
        ("no-header", b"\nbody line\n".to_vec()),
        ("fields-no-eoh-no-newline", b"To: t\nFrom: x".to_vec()),
        ("fields-no-match", b"X-A: 1\n\nbody\n".to_vec()),
        ("bare-cr", b"Subject: y\r\n\r\na\rb\r\n.\r\n..dot\n".to_vec()),
        (
            "duplicate-fields",
            b"Subject: first\nSubject: second\nFrom: one@a\nFrom: two@b\nMessage-ID: <1@a>\nMessage-ID: <2@b>\n\nx\n".to_vec(),
        ),
        (
            "folded-ids",
            b"Date: Mon, 7 Feb 1994\n 21:52:25 -0800\nMessage-ID:\n <folded@id>\nIn-Reply-To: <a@b>\n\t<c@d>\nSubject: folded\n  subject\tline  \n\nx\n".to_vec(),
        ),
        (
            "not-mime",
            b"Content-Transfer-Encoding: 8bit\nContent-ID: <cid@x>\nContent-Description: d\nContent-Disposition: inline\n\nx\n".to_vec(),
        ),
        (
            "content-type-no-subtype",
            b"MIME-Version: 1.0\nContent-Type: text\n\nx\n".to_vec(),
        ),
        (
            "content-type-empty",
            b"MIME-Version: 1.0\nContent-Type:\n\nx\n".to_vec(),
        ),
        (
            "content-type-garbage",
            b"MIME-Version: 1.0\nContent-Type: ;;; charset=x\n\nx\n".to_vec(),
        ),
        (
            "case-and-params",
            b"MIME-Version: 1.0\nContent-Type: TEXT/HTML (comment); CHARSET=UTF-8; Name*0=\"a b\"; Name*1*=%41; format = flowed\nContent-Transfer-Encoding: Quoted-Printable\n\n=41\n".to_vec(),
        ),
        (
            "dispositions",
            b"MIME-Version: 1.0\nContent-Type: application/pdf; name=x.pdf\nContent-Disposition: inline\nContent-Disposition: attachment; filename=\"x.pdf\"\nContent-Language: en, fr\nContent-Location: http://x/\n y\nContent-MD5: abc\nContent-ID: <i\n d>\n\nx\n".to_vec(),
        ),
        (
            "cte-garbage",
            b"MIME-Version: 1.0\nContent-Transfer-Encoding: base64 junk\n\nx\n".to_vec(),
        ),
        (
            "subjects-quoting",
            b"Subject: a \"b\" \\c \"d\" \"e\"\nFrom: \"q\\\"uote\" <a@b>\nTo: \"five\\\"\\\"\\\"\\\"\\\"\" <c@d>\n\nx\n".to_vec(),
        ),
        (
            "encoded-and-8bit",
            "Subject: =?UTF-8?B?w6nDqQ==?= and caf\u{e9}\nFrom: =?iso-8859-1?q?J=F6rg?= <j@x>\nTo: R\u{e9}n\u{e9}e <r@x>\n\nx\n".as_bytes().to_vec(),
        ),
        (
            "addresses",
            b"From: user\nSender: <>\nReply-To:\nTo: A Group:Ed Jones <c@a.test>,joe@where.test;, Undisclosed recipients:;\nCc: a@b (Comment Name), <@r1,@r2:x@y>, \"quoted local\"@z, broken <x@y, @bad\nBcc: Mary Smith <mary@x.test>, jdoe@example.org, \"Who?\" <one@y.test>, <boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>\n\nx\n".to_vec(),
        ),
        (
            "nul-in-header",
            b"Subject: a\0b\nFrom: x\0y@z\n\nbody\0here\n".to_vec(),
        ),
        (
            "no-colon-and-leading-space",
            b" leading: x\nno colon line\nSubject:x\n\nbody\n".to_vec(),
        ),
        (
            "multipart-no-boundary",
            b"MIME-Version: 1.0\nContent-Type: multipart/mixed\n\n--x\n\nbody\n".to_vec(),
        ),
        (
            "multipart-boundary-never-used",
            b"MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=zz\n\nno parts here\n".to_vec(),
        ),
        (
            "multipart-unterminated",
            b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"u\"\n\n--u\nContent-Type: text/plain\n\npart one\n--u\n\npart two, no end\n".to_vec(),
        ),
        (
            "multipart-header-cut-by-boundary",
            b"Content-Type: multipart/mixed; boundary=\"a\"\n\n--a\nContent-Type: multipart/mixed; boundary=\"ab\"\nMIME-Version: 1.0\n--ab\nContent-Type: text/plain\n\n--ab--\n--a--\n\n".to_vec(),
        ),
        (
            "boundary-right-after-part-header",
            b"Content-Type: multipart/mixed; boundary=\"a\"\n\n--a\nContent-Type: text/plain\n\n--a\nContent-Type: text/html\n\n<p>\n--a--\n".to_vec(),
        ),
        (
            "boundary-without-blank-line",
            b"Content-Type: multipart/mixed; boundary=\"a\"\n--a\nContent-Type: text/plain\n\nx\n--a--\n".to_vec(),
        ),
        (
            "nested-same-prefix",
            b"Content-Type: multipart/mixed; boundary=\"ab\"\n\n--ab\nContent-Type: multipart/mixed; boundary=\"a\"\n\n--a\nContent-Type: text/plain\n\nbody\n--ab\nContent-Type: text/html\n\nbody2\n".to_vec(),
        ),
        (
            "rfc822-cut-excluded-last",
            b"Content-Type: multipart/mixed; boundary=q\n\n--q\n\none\n--q\nContent-Type: message/rfc822\n\nSubject: s\nX: y\n--q--\n".to_vec(),
        ),
        (
            "rfc822-cut-no-match",
            b"Content-Type: multipart/mixed; boundary=q\n\n--q\n\none\n--q\nContent-Type: message/rfc822\n\nX: y\n--q--\n".to_vec(),
        ),
        (
            "rfc822-cut-matched-last",
            b"Content-Type: multipart/mixed; boundary=q\n\n--q\n\none\n--q\nContent-Type: message/rfc822\n\nX: y\nSubject: s\n--q--\n".to_vec(),
        ),
        (
            "rfc822-cut-no-colon",
            b"Content-Type: multipart/mixed; boundary=q\n\n--q\n\none\n--q\nContent-Type: message/rfc822\n\nno colon\n--q--\n".to_vec(),
        ),
        (
            "rfc822-eoh-no-match",
            b"Content-Type: multipart/mixed; boundary=q\n\n--q\n\none\n--q\nContent-Type: message/rfc822\n\nX: y\n\nbody\n--q--\n".to_vec(),
        ),
        (
            "rfc822-cut-two-no-match",
            b"Content-Type: multipart/mixed; boundary=q\n\n--q\n\none\n--q\nContent-Type: message/rfc822\n\nX: y\nZ: w\n--q--\n".to_vec(),
        ),
        ("multipart-lf", multipart.as_bytes().to_vec()),
        ("multipart-crlf", crlf(multipart)),
        ("multipart-mixed-line-ends", mixed.into_bytes()),
        (
            "rfc822-empty",
            b"MIME-Version: 1.0\nContent-Type: message/rfc822\n\n".to_vec(),
        ),
        (
            "rfc822-nested",
            b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=q\n\n--q\nContent-Type: message/rfc822\n\nSubject: inner\nFrom: In Ner <in@ner>\nContent-Type: multipart/alternative; boundary=r\n\n--r\n\nplain\n--r\nContent-Type: text/html\n\n<b>\n--r--\n--q--\n".to_vec(),
        ),
        (
            "digest",
            b"MIME-Version: 1.0\nContent-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nfirst\n--d\nContent-Type: text/plain\n\nsecond\n--d\n\n--d--\n".to_vec(),
        ),
        ("deep-rfc822", deep.into_bytes()),
        ("deep-multipart", deep_multi.into_bytes()),
        (
            "rfc3501-example",
            crlf("Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\nFrom: Terry Gray <gray@cac.washington.edu>\nSubject: IMAP4rev1 WG mtg summary and minutes\nTo: imap@cac.washington.edu\ncc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\nMessage-Id: <B27397-0100000@cac.washington.edu>\nMIME-Version: 1.0\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\n\nHello Joe, do you think we can meet at 3:30 tomorrow?\n"),
        ),
    ];
    cases
        .into_iter()
        .map(|(n, b)| (format!("edge/{n}"), b))
        .collect()
}

/// Writes the messages into `cur/` under Dovecot-style names whose order is the list's.
fn build_maildir(root: &Path, messages: &[(String, Vec<u8>)]) {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    for (n, (_, bytes)) in messages.iter().enumerate() {
        let name = format!("{}.M{}P{}.testhost:2,S", 1_600_000_000 + n, n, 1000 + n);
        fs::write(root.join("cur").join(name), bytes).unwrap();
    }
}

/// A minimal IMAP client that reads literals properly.
struct Imap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: u32,
}

impl Imap {
    fn connect(port: u16) -> Imap {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        let mut imap = Imap {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            tag: 0,
        };
        let greeting = imap.response();
        assert!(greeting.starts_with(b"* OK"), "greeting {greeting:?}");
        imap
    }

    /// One response: a line, and the literals it announces with the lines after them.
    fn response(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let start = out.len();
            self.reader.read_until(b'\n', &mut out).unwrap();
            assert!(out.ends_with(b"\r\n"), "connection closed mid-response");
            let line = &out[start..out.len() - 2];
            let Some(n) = literal_announcement(line) else {
                return out;
            };
            let mut lit = vec![0; n];
            self.reader.read_exact(&mut lit).unwrap();
            out.extend_from_slice(&lit);
        }
    }

    /// Sends a command; returns its untagged responses, panicking unless it ends in OK.
    fn command(&mut self, cmd: &str) -> Vec<Vec<u8>> {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        self.writer
            .write_all(format!("{tag} {cmd}\r\n").as_bytes())
            .unwrap();
        let mut untagged = Vec::new();
        loop {
            let r = self.response();
            if r.starts_with(tag.as_bytes()) {
                let status = String::from_utf8_lossy(&r);
                assert!(status[tag.len()..].starts_with(" OK"), "{cmd}: {status}");
                return untagged;
            }
            untagged.push(r);
        }
    }
}

/// `{n}` at the end of a line.
fn literal_announcement(line: &[u8]) -> Option<usize> {
    let open = line.iter().rposition(|&b| b == b'{')?;
    let inner = line[open + 1..].strip_suffix(b"}")?;
    std::str::from_utf8(inner).ok()?.parse().ok()
}

/// A parsed FETCH item value: its raw bytes as sent and, for strings, the string.
struct Value {
    raw: Vec<u8>,
    string: Option<Vec<u8>>,
}

/// Reads one IMAP value at `*pos` (list, quoted, literal, atom).
fn value(r: &[u8], pos: &mut usize) -> Value {
    let start = *pos;
    let mut string = None;
    match r[*pos] {
        b'(' => {
            *pos += 1;
            loop {
                while r[*pos] == b' ' {
                    *pos += 1;
                }
                if r[*pos] == b')' {
                    *pos += 1;
                    break;
                }
                value(r, pos);
            }
        }
        b'"' => {
            let mut s = Vec::new();
            *pos += 1;
            while r[*pos] != b'"' {
                if r[*pos] == b'\\' {
                    *pos += 1;
                }
                s.push(r[*pos]);
                *pos += 1;
            }
            *pos += 1;
            string = Some(s);
        }
        b'{' => {
            let close = *pos + r[*pos..].iter().position(|&b| b == b'}').unwrap();
            let n: usize = std::str::from_utf8(&r[*pos + 1..close])
                .unwrap()
                .parse()
                .unwrap();
            let data = close + 3;
            string = Some(r[data..data + n].to_vec());
            *pos = data + n;
        }
        _ => {
            while !matches!(r[*pos], b' ' | b')') {
                *pos += 1;
            }
        }
    }
    Value {
        raw: r[start..*pos].to_vec(),
        string,
    }
}

/// The items of a `* n FETCH (...)` response, by upper-cased name.
fn fetch_items(r: &[u8]) -> BTreeMap<String, Value> {
    let open = r.iter().position(|&b| b == b'(').unwrap();
    let mut pos = open + 1;
    let mut items = BTreeMap::new();
    loop {
        while r[pos] == b' ' {
            pos += 1;
        }
        if r[pos] == b')' {
            break;
        }
        let name_start = pos;
        let mut depth = 0;
        while depth > 0 || r[pos] != b' ' {
            match r[pos] {
                b'[' => depth += 1,
                b']' => depth -= 1,
                _ => {}
            }
            pos += 1;
        }
        let name = String::from_utf8_lossy(&r[name_start..pos]).to_ascii_uppercase();
        pos += 1;
        items.insert(name, value(r, &mut pos));
    }
    items
}

/// The sections fetched from every message, with the part and text they stand for.
fn sections() -> Vec<(&'static str, Vec<u32>, Want)> {
    vec![
        ("HEADER", vec![], Want::Header),
        ("TEXT", vec![], Want::Text),
        ("1", vec![1], Want::Full),
        ("1.MIME", vec![1], Want::Mime),
        ("2", vec![2], Want::Full),
        ("1.1", vec![1, 1], Want::Full),
        ("2.HEADER", vec![2], Want::Header),
        ("2.TEXT", vec![2], Want::Text),
        ("1.1.MIME", vec![1, 1], Want::Mime),
        ("1.HEADER", vec![1], Want::Header),
        ("3", vec![3], Want::Full),
        (
            "HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID CONTENT-TYPE)",
            vec![],
            Want::Fields(FIELDS, false),
        ),
        (
            "HEADER.FIELDS.NOT (RECEIVED SUBJECT)",
            vec![],
            Want::Fields(NOT_FIELDS, true),
        ),
        (
            "2.HEADER.FIELDS (SUBJECT FROM)",
            vec![2],
            Want::Fields(&["SUBJECT", "FROM"], false),
        ),
    ]
}

const FIELDS: &[&str] = &[
    "FROM",
    "TO",
    "SUBJECT",
    "DATE",
    "MESSAGE-ID",
    "CONTENT-TYPE",
];
const NOT_FIELDS: &[&str] = &["RECEIVED", "SUBJECT"];

#[derive(Clone, Copy)]
enum Want {
    Full,
    Header,
    Text,
    Mime,
    Fields(&'static [&'static str], bool),
}

fn ours(msg: &[u8], a: &mime::Analysis, part: &[u32], text: Want) -> Vec<u8> {
    let names: Vec<Vec<u8>>;
    let t = match text {
        Want::Full => SectionText::Full,
        Want::Header => SectionText::Header,
        Want::Text => SectionText::Text,
        Want::Mime => SectionText::Mime,
        Want::Fields(n, not) => {
            names = n.iter().map(|s| s.as_bytes().to_vec()).collect();
            SectionText::HeaderFields { names: &names, not }
        }
    };
    match mime::section(msg, &a.parts, part, t) {
        SectionBytes::Stored(r) => mime::to_wire(&msg[r]),
        SectionBytes::Owned(v) => v,
    }
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let s: String = s.chars().take(600).collect();
    format!("{s:?}")
}

#[test]
fn corpus_matches_dovecot() {
    let messages: Vec<_> = corpus().into_iter().chain(edge_cases()).collect();
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("Maildir");
    build_maildir(&maildir, &messages);
    let dovecot = DovecotServer::start(&maildir, USER, PASSWORD, &["imap"]);
    let mut imap = Imap::connect(dovecot.port("imap"));
    imap.command(&format!("LOGIN {USER} {PASSWORD}"));
    let select = imap.command("SELECT INBOX");
    let exists = format!("* {} EXISTS\r\n", messages.len());
    assert!(
        select.iter().any(|r| r == exists.as_bytes()),
        "Dovecot does not see all {} messages: {:?}",
        messages.len(),
        select.iter().map(|r| show(r)).collect::<Vec<_>>()
    );

    let dump = std::env::var_os("POSTERN_MIME_DUMP").map(PathBuf::from);
    let mut failures: Vec<String> = Vec::new();
    let mut checked = 0usize;
    for (i, (name, msg)) in messages.iter().enumerate() {
        let seq = i + 1;
        let a = mime::analyze(msg);
        let mut request =
            String::from("ENVELOPE BODY BODYSTRUCTURE RFC822.SIZE BODY.PEEK[]<10.50>");
        for (s, _, _) in sections() {
            request.push_str(&format!(" BODY.PEEK[{s}]"));
        }
        let responses = imap.command(&format!("FETCH {seq} ({request})"));
        assert_eq!(responses.len(), 1, "{name}: one FETCH response expected");
        let items = fetch_items(&responses[0]);
        let mut check = |item: &str, theirs: Option<&[u8]>, ours: &[u8]| {
            checked += 1;
            if theirs == Some(ours) {
                return;
            }
            let theirs = theirs.unwrap_or(b"<missing>");
            failures.push(format!(
                "{name} {item}\n  dovecot: {}\n  postern: {}",
                show(theirs),
                show(ours)
            ));
            if let Some(d) = &dump {
                let base = format!("{}-{}", name.replace('/', "_"), item.replace(' ', "_"));
                fs::create_dir_all(d).unwrap();
                fs::write(d.join(format!("{base}.dovecot")), theirs).unwrap();
                fs::write(d.join(format!("{base}.postern")), ours).unwrap();
            }
        };
        let raw = |k: &str| items.get(k).map(|v| v.raw.as_slice());
        check("ENVELOPE", raw("ENVELOPE"), &a.envelope);
        check("BODY", raw("BODY"), &a.body);
        check("BODYSTRUCTURE", raw("BODYSTRUCTURE"), &a.bodystructure);
        let size = mime::wire_len(msg).to_string();
        check("RFC822.SIZE", raw("RFC822.SIZE"), size.as_bytes());

        // Sections: compared as decoded strings, NIL as "NIL".
        let string = |k: &str| {
            items.get(k).map(|v| match &v.string {
                Some(s) => s.clone(),
                None => v.raw.clone(),
            })
        };
        let full = mime::to_wire(msg);
        let partial = &full[full.len().min(10)..full.len().min(60)];
        check(
            "BODY[]<10>",
            string("BODY[]<10>").as_deref(),
            &nul_as_dovecot(partial),
        );
        for (s, part, text) in sections() {
            let key = format!("BODY[{s}]");
            check(
                &key,
                string(&key).as_deref(),
                &nul_as_dovecot(&ours(msg, &a, &part, text)),
            );
        }
    }
    check_search(&mut imap, &messages, &mut failures);
    imap.command("LOGOUT");
    drop(dovecot);
    assert!(
        failures.is_empty(),
        "{} of {checked} items differ from Dovecot:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // All messages and every item were really compared.
    assert_eq!(checked, messages.len() * (5 + sections().len()));
}

/// A SEARCH key and how Postern evaluates it on one message.
enum Key {
    Header(&'static str, &'static str),
    Body(&'static str),
    Text(&'static str),
    SentBefore((i32, u8, u8)),
    SentOn((i32, u8, u8)),
    SentSince((i32, u8, u8)),
}

fn imap_date((y, m, d): (i32, u8, u8)) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!("{d}-{}-{y}", MONTHS[usize::from(m) - 1])
}

/// A UTF-8 search string as a non-synchronizing literal (Dovecot offers LITERAL+).
fn lit(s: &str) -> String {
    format!("{{{}+}}\r\n{s}", s.len())
}

/// SEARCH against Dovecot: for each key, the set of matching messages must be the same.
fn check_search(imap: &mut Imap, messages: &[(String, Vec<u8>)], failures: &mut Vec<String>) {
    use mime::search::{self, Needle};
    let keys = [
        Key::Header("From", "a"),
        Key::Header("From", "SMITH"),
        Key::Header("To", "example"),
        Key::Header("Subject", "test"),
        Key::Header("Subject", "\u{e9}"),
        Key::Header("Subject", "\u{c9}T\u{c9}"),
        Key::Header("Cc", ""),
        Key::Header("Content-Type", "MULTIPART"),
        Key::Header("X-Mailer", ""),
        Key::Body("hello"),
        Key::Body("the"),
        Key::Body("\u{e9}"),
        Key::Body("BODY"),
        Key::Body("=20"),
        Key::Text("boundary"),
        Key::Text("subject: re"),
        Key::Text("content-type"),
        Key::SentBefore((2005, 1, 1)),
        Key::SentOn((2011, 8, 3)),
        Key::SentSince((2020, 1, 1)),
    ];
    for key in keys {
        let (command, needle_text) = match &key {
            Key::Header(name, text) => (format!("HEADER {name} {}", lit(text)), *text),
            Key::Body(text) => (format!("BODY {}", lit(text)), *text),
            Key::Text(text) => (format!("TEXT {}", lit(text)), *text),
            Key::SentBefore(d) => (format!("SENTBEFORE {}", imap_date(*d)), ""),
            Key::SentOn(d) => (format!("SENTON {}", imap_date(*d)), ""),
            Key::SentSince(d) => (format!("SENTSINCE {}", imap_date(*d)), ""),
        };
        let responses = imap.command(&format!("SEARCH CHARSET UTF-8 {command}"));
        let mut theirs: Vec<usize> = Vec::new();
        for r in &responses {
            if let Some(rest) = r.strip_prefix(b"* SEARCH") {
                theirs.extend(
                    String::from_utf8_lossy(rest)
                        .split_whitespace()
                        .map(|n| n.parse::<usize>().unwrap()),
                );
            }
        }
        let needle = Needle::new(needle_text);
        let sent = |m: &[u8]| search::sent_date(m).unwrap_or(search::SENT_DATE_UNKNOWN);
        let ours: Vec<usize> = messages
            .iter()
            .enumerate()
            .filter(|(_, (_, m))| {
                let a = mime::analyze(m);
                match &key {
                    Key::Header(name, _) => search::header_contains(m, name.as_bytes(), &needle),
                    Key::Body(_) => search::body_contains(m, &a.parts, &needle),
                    Key::Text(_) => search::text_contains(m, &a.parts, &needle),
                    Key::SentBefore(d) => sent(m) < *d,
                    Key::SentOn(d) => sent(m) == *d,
                    Key::SentSince(d) => sent(m) >= *d,
                }
            })
            .map(|(i, _)| i + 1)
            .collect();
        if theirs != ours {
            let name = |n: &usize| messages[n - 1].0.clone();
            let only_theirs: Vec<_> = theirs
                .iter()
                .filter(|n| !ours.contains(n))
                .map(name)
                .collect();
            let only_ours: Vec<_> = ours
                .iter()
                .filter(|n| !theirs.contains(n))
                .map(name)
                .collect();
            failures.push(format!(
                "SEARCH {command:?}\n  only dovecot: {only_theirs:?}\n  only postern: {only_ours:?}"
            ));
        }
    }
}

/// Dovecot sends a NUL in a body section as 0x80.
fn nul_as_dovecot(b: &[u8]) -> Vec<u8> {
    b.iter().map(|&c| if c == 0 { 0x80 } else { c }).collect()
}
