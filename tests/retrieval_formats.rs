//! Retrieval MIME formats end to end: one Maildir (the corpus's multipart messages plus a
//! few made to show each rule) served to five accounts at once — one on the protocols'
//! configured format (`text-only` for both), one per-account override of each other format
//! (`original`, `html-only`, `html-and-text`, `best`) — and read by real clients: Python's
//! poplib and imaplib and mbsync (`tests/clients/retrieval_formats.py`, which checks that
//! every size announced is the size sent, partial fetches, TOP and SEARCH LARGER/SMALLER).
//!
//! Here every byte a client got is compared with what [`postern::convert::convert`] makes of
//! the stored message (so POP3 RETR, IMAP BODY[] and mbsync's files are the converted form),
//! BODYSTRUCTURE and HEADER.FIELDS with the analysis of that form, SEARCH TEXT with what the
//! converted text holds; signed mail must come out byte for byte as stored in every format,
//! the `original` account must get the stored bytes while the others get theirs, UIDLs are
//! the same for all, a flag set by one account's session is seen by another's, and after a
//! restart nothing is converted again.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use postern::policy::RetrievalFormat::{self, *};
use support::{Options, TestServer, crlf, python, temp_dir};

const ALT: &[u8] = b"From: a@example.com\nTo: b@example.com\nSubject: alternative with attachment\n\
Message-ID: <alt@example.com>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=outer\n\n\
--outer\nContent-Type: multipart/alternative; boundary=alt\n\n\
--alt\nContent-Type: text/plain; charset=utf-8\n\nthe plainword version\n\
--alt\nContent-Type: text/html; charset=utf-8\n\n<p>the <b>htmlword</b> version</p>\n\
--alt--\n\
--outer\nContent-Type: application/pdf; name=a.pdf\nContent-Disposition: attachment; filename=a.pdf\n\
Content-Transfer-Encoding: base64\n\nJVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoK\n\
--outer--\n";

const HTML_ONLY: &[u8] = b"From: a@example.com\r\nSubject: html only\r\nMIME-Version: 1.0\r\n\
Content-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
<html><body><p>Caf=E9 htmlonlyword: <a href=3D\"https://example.org/link-target\">the link</a></p>\
</body></html>\r\n";

const TEXT_ONLY: &[u8] =
    b"From: a@example.com\nSubject: text only\n\ntextonlyword: a < b & c > d\n";

const SIGNED: &[u8] = b"From: a@example.com\nSubject: signed\nMIME-Version: 1.0\n\
Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=s\n\n\
--s\nContent-Type: multipart/alternative; boundary=alt\n\n\
--alt\nContent-Type: text/plain\n\nsignedword text\n--alt\nContent-Type: text/html\n\n<b>signedword html</b>\n--alt--\n\
--s\nContent-Type: application/pkcs7-signature; name=smime.p7s\nContent-Transfer-Encoding: base64\n\nMIIBsignature\n--s--\n";

const ACCOUNTS: [(&str, RetrievalFormat, &str); 5] = [
    ("proto", TextOnly, ""),
    (
        "orig",
        Original,
        "pop3_retrieval_format=original imap_retrieval_format=original",
    ),
    (
        "html",
        HtmlOnly,
        "pop3_retrieval_format=html-only imap_retrieval_format=html-only",
    ),
    (
        "both",
        HtmlAndText,
        "pop3_retrieval_format=html-and-text imap_retrieval_format=html-and-text",
    ),
    (
        "best",
        Best,
        "pop3_retrieval_format=best imap_retrieval_format=best",
    ),
];

const WORDS: [&str; 5] = ["plainword", "htmlword", "href", "link-target", "signedword"];

/// The stored messages: the synthetic ones, then the corpus's multipart ones.
fn stored() -> Vec<Vec<u8>> {
    let mut out = vec![
        ALT.to_vec(),
        HTML_ONLY.to_vec(),
        TEXT_ONLY.to_vec(),
        SIGNED.to_vec(),
    ];
    for (_, m) in support::corpus() {
        let parts = postern::mime::outline(&m);
        if parts[0].multipart && parts.len() < 40 {
            out.push(m);
        }
    }
    out
}

/// What a client of `format` must be sent for `m`, in wire form.
fn expected(m: &[u8], format: RetrievalFormat) -> Vec<u8> {
    crlf(&postern::convert::convert(m, format).unwrap_or_else(|| m.to_vec()))
}

struct Run {
    summary: serde_json::Value,
    imap: BTreeMap<u32, Vec<u8>>,
    pop3: BTreeMap<String, Vec<u8>>,
    out: std::path::PathBuf,
}

fn run(server: &TestServer, user: &str, flag_uid: Option<u32>) -> Run {
    let out = temp_dir(&format!("formats-{user}"));
    let pop3 = server.pop3.port().to_string();
    let imap = server.imap.port().to_string();
    let out_s = out.to_str().unwrap().to_owned();
    let flag = flag_uid.map(|u| u.to_string());
    let mut args = vec![
        "--pop3-port",
        &pop3,
        "--imap-port",
        &imap,
        "--user",
        user,
        "--password",
        "pw",
        "--out",
        &out_s,
    ];
    for w in WORDS {
        args.extend_from_slice(&["--search", w]);
    }
    if let Some(f) = &flag {
        args.extend_from_slice(&["--flag-uid", f]);
    }
    let text = python("retrieval_formats.py", &args);
    assert!(
        text.contains(&format!("ok retrieval_formats {user}")),
        "{text}"
    );
    assert!(text.contains("ok mbsync"), "{text}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let mut imap = BTreeMap::new();
    let mut pop3 = BTreeMap::new();
    for entry in std::fs::read_dir(out.join("imap")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "eml") {
            let uid: u32 = p.file_stem().unwrap().to_str().unwrap().parse().unwrap();
            imap.insert(uid, std::fs::read(&p).unwrap());
        }
    }
    for entry in std::fs::read_dir(out.join("pop3")).unwrap() {
        let p = entry.unwrap().path();
        let uidl = p.file_stem().unwrap().to_str().unwrap().to_owned();
        pop3.insert(uidl, std::fs::read(&p).unwrap());
    }
    Run {
        summary,
        imap,
        pop3,
        out,
    }
}

fn search(run: &Run, key: &str) -> Vec<u32> {
    run.summary["imap"]["search"][key]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn every_format_end_to_end_with_real_clients() {
    let shared = temp_dir("formats-maildir").join("Maildir");
    let accounts = ACCOUNTS
        .iter()
        .map(|(user, _, extra)| {
            (
                user.to_string(),
                "{PLAIN}pw".to_string(),
                format!("userdb_mail=maildir:{} {extra}", shared.display()),
            )
        })
        .collect();
    let mut server = TestServer::start(Options {
        accounts,
        extra_pop3: "retrieval_format = \"text-only\"".into(),
        extra_imap: "retrieval_format = \"text-only\"".into(),
        ..Options::default()
    });
    let messages = stored();
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(shared.join(sub)).unwrap();
    }
    for (i, m) in messages.iter().enumerate() {
        std::fs::write(
            shared
                .join("new")
                .join(format!("{}.M{i}P1.test", 1_700_000_000 + i)),
            m,
        )
        .unwrap();
    }

    // The original account first: it tells which UID and UIDL hold which stored message.
    let orig = run(&server, "orig", None);
    let mut by_uid: BTreeMap<u32, &[u8]> = BTreeMap::new();
    for (uid, body) in &orig.imap {
        let m = messages
            .iter()
            .find(|m| crlf(m) == *body)
            .unwrap_or_else(|| panic!("UID {uid} is not a stored message as stored"));
        by_uid.insert(*uid, m);
    }
    assert_eq!(by_uid.len(), messages.len());
    let uid_of = |m: &[u8]| *by_uid.iter().find(|(_, s)| **s == m).unwrap().0;
    let uidl_uid = |uidl: &str| u32::from_str_radix(&uidl[..8], 16).unwrap();

    let mut runs = BTreeMap::new();
    runs.insert("orig", orig);
    for (user, _, _) in &ACCOUNTS[..] {
        if *user == "orig" {
            continue;
        }
        // The html-only session flags the alternative; everyone else must see it.
        let flag = (*user == "html").then(|| uid_of(ALT));
        runs.insert(user, run(&server, user, flag));
    }

    for (user, format, _) in ACCOUNTS {
        let r = &runs[user];
        let what = |uid: u32| format!("{user} ({}) UID {uid}", format.as_str());
        // IMAP: every body is the format's form of the stored message, BODYSTRUCTURE and the
        // header fields are those of that form.
        assert_eq!(r.imap.len(), messages.len(), "{user}");
        for (uid, body) in &r.imap {
            let stored = by_uid[uid];
            let want = expected(stored, format);
            assert!(
                *body == want,
                "{}: BODY[] is not the converted form",
                what(*uid)
            );
            let analysis = postern::mime::analyze(&want);
            let bs = std::fs::read(r.out.join("imap").join(format!("{uid}.bs"))).unwrap();
            let mut item = b"BODYSTRUCTURE ".to_vec();
            item.extend_from_slice(&analysis.bodystructure);
            assert!(
                memchr::memmem::find(&bs, &item).is_some(),
                "{}: BODYSTRUCTURE {} not in {}",
                what(*uid),
                String::from_utf8_lossy(&analysis.bodystructure),
                String::from_utf8_lossy(&bs)
            );
            let hf = std::fs::read(r.out.join("imap").join(format!("{uid}.hf"))).unwrap();
            let head_end = postern::mime::outline(&want)[0].header.end;
            let names = [b"content-type".to_vec(), b"subject".to_vec()];
            let want_hf = postern::mime::header_fields(&want[..head_end], &names, false);
            assert_eq!(hf, want_hf, "{}: HEADER.FIELDS", what(*uid));
        }
        // POP3: same bodies, same UIDLs as everyone.
        assert_eq!(r.pop3.len(), messages.len());
        for (uidl, body) in &r.pop3 {
            let stored = by_uid[&uidl_uid(uidl)];
            assert!(*body == expected(stored, format), "{user}: RETR of {uidl}");
        }
        assert_eq!(
            r.summary["pop3"]["uidls"], runs["orig"].summary["pop3"]["uidls"],
            "{user}: UIDLs differ between formats"
        );
        // Signed mail is the stored bytes, whatever the format; the attachment is intact.
        assert_eq!(
            r.imap[&uid_of(SIGNED)],
            crlf(SIGNED),
            "{user}: signed mail altered"
        );
        assert!(
            memchr::memmem::find(
                &r.imap[&uid_of(ALT)],
                &crlf(b"Content-Disposition: attachment; filename=a.pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoK\n--outer--\n")
            )
            .is_some(),
            "{user}: attachment"
        );
        // SEARCH sees the converted text.
        let alt = uid_of(ALT);
        let html_only = uid_of(HTML_ONLY);
        let has = |key: &str, uid: u32| search(r, key).contains(&uid);
        let (plain, html) = match format {
            Original | HtmlAndText => (true, true),
            TextOnly => (true, false),
            HtmlOnly | Best => (false, true),
        };
        assert_eq!(has("TEXT plainword", alt), plain, "{user}: TEXT plainword");
        assert_eq!(has("BODY htmlword", alt), html, "{user}: BODY htmlword");
        // An HTML-only body under text-only has no markup left, but keeps its link.
        assert_eq!(
            has("BODY href", html_only),
            format != TextOnly,
            "{user}: href"
        );
        assert!(has("BODY link-target", html_only), "{user}: link kept");
        assert!(has("TEXT signedword", uid_of(SIGNED)), "{user}: signed");
    }
    // A flag set in the html-only session shows in the sessions of other formats after it.
    for user in ["both", "best"] {
        let flags = &runs[user].summary["imap"]["messages"][uid_of(ALT).to_string()]["flags"];
        assert!(
            flags.as_array().unwrap().iter().any(|f| f == "\\Flagged"),
            "{user}: {flags}"
        );
    }

    // The forms are persisted beside the index, as files Dovecot does not look at; a
    // restart serves them without converting anything again.
    let derived: Vec<(String, u64, std::time::SystemTime)> = std::fs::read_dir(&shared)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_str().unwrap().starts_with("postern-"))
        .map(|e| {
            let m = e.metadata().unwrap();
            (
                e.file_name().into_string().unwrap(),
                m.len(),
                m.modified().unwrap(),
            )
        })
        .collect();
    let mut names: Vec<&str> = derived.iter().map(|(n, _, _)| n.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "postern-best.index",
            "postern-html-and-text.index",
            "postern-html-only.index",
            "postern-text-only.index"
        ]
    );
    for entry in std::fs::read_dir(&shared).unwrap() {
        let e = entry.unwrap();
        if e.file_type().unwrap().is_dir() {
            let name = e.file_name().into_string().unwrap();
            assert!(["cur", "new", "tmp"].contains(&name.as_str()), "{name}");
        }
    }
    server.restart();
    let again = run(&server, "proto", None);
    assert_eq!(again.imap, runs["proto"].imap);
    assert_eq!(again.pop3, runs["proto"].pop3);
    for (name, len, modified) in &derived {
        let m = std::fs::metadata(shared.join(name)).unwrap();
        assert_eq!(
            (m.len(), m.modified().unwrap()),
            (*len, *modified),
            "{name} was written again after the restart"
        );
    }
    for r in runs.values() {
        let _ = std::fs::remove_dir_all(&r.out);
    }
    let _ = std::fs::remove_dir_all(Path::new(&again.out));
}
