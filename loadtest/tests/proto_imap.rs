//! The IMAP client against bytes captured from a real Dovecot 2.3.19 session (greeting,
//! LOGIN, SELECT, the imap-sync header listing, a BODY[] fetch, IDLE with a delivery,
//! LOGOUT), replayed by a scripted peer over an in-memory pipe; and against broken servers,
//! which must give errors, never panics or hangs.

use std::time::Duration;

use postern_load::proto::imap::{IdleEvent, Imap};
use postern_load::proto::{ProtoError, Wire};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};

const GREETING: &[u8] = b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN] Dovecot (Debian) ready.\r\n";

const LOGIN: &[u8] = b"a1 OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY] Logged in\r\n";

const SELECT: &[u8] = b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n\
* 4 EXISTS\r\n\
* 4 RECENT\r\n\
* OK [UNSEEN 1] First unseen.\r\n\
* OK [UIDVALIDITY 1795808934] UIDs valid\r\n\
* OK [UIDNEXT 5] Predicted next UID\r\n\
a2 OK [READ-WRITE] Select completed (0.003 + 0.000 + 0.002 secs).\r\n";

const LISTING: &[u8] = b"* 1 FETCH (UID 1 FLAGS (\\Recent) INTERNALDATE \"27-Nov-2026 19:48:52 +0000\" RFC822.SIZE 95 BODY[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID REFERENCES)] {79}\r\n\
From: a@example.org\r\n\
To: b@example.org\r\n\
Subject: dots\r\n\
Message-ID: <1@test>\r\n\
\r\n\
)\r\n\
* 2 FETCH (UID 2 FLAGS (\\Recent) INTERNALDATE \"27-Nov-2026 19:48:52 +0000\" RFC822.SIZE 44 BODY[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID REFERENCES)] {38}\r\n\
From: a@example.org\r\n\
Subject: crlf\r\n\
\r\n\
)\r\n\
* 3 FETCH (UID 3 FLAGS (\\Recent) INTERNALDATE \"27-Nov-2026 19:48:52 +0000\" RFC822.SIZE 59 BODY[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID REFERENCES)] {50}\r\n\
From: a@example.org\r\n\
Subject: no final newline\r\n\
\r\n\
)\r\n\
* 4 FETCH (UID 4 FLAGS (\\Recent) INTERNALDATE \"27-Nov-2026 19:48:52 +0000\" RFC822.SIZE 48 BODY[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID REFERENCES)] {38}\r\n\
From: a@example.org\r\n\
Subject: 8bit\r\n\
\r\n\
)\r\n\
a3 OK Fetch completed (0.001 + 0.000 secs).\r\n";

const BODY: &[u8] = b"From: a@example.org\r\n\
To: b@example.org\r\n\
Subject: dots\r\n\
Message-ID: <1@test>\r\n\
\r\n\
.\r\n\
..\r\n\
.x\r\n\
end\r\n";

const IDLE: &[u8] = b"+ idling\r\n";
const IDLE_NEWS: &[u8] = b"* 5 EXISTS\r\n* 5 RECENT\r\n";
const IDLE_DONE: &[u8] = b"a5 OK Idle completed (3.425 + 3.421 + 3.424 secs).\r\n";
const LOGOUT: &[u8] = b"* BYE Logging out\r\na6 OK Logout completed (0.001 + 0.000 secs).\r\n";

/// A peer that answers each expected client line (checked) with canned bytes.
fn scripted(greeting: Vec<u8>, script: Vec<(&'static str, Vec<u8>)>) -> Wire {
    let (client, server) = tokio::io::duplex(1 << 20);
    tokio::spawn(serve(server, greeting, script));
    Wire::new(Box::new(client), Duration::from_secs(2))
}

async fn serve(server: DuplexStream, greeting: Vec<u8>, script: Vec<(&'static str, Vec<u8>)>) {
    let (r, mut w) = tokio::io::split(server);
    let mut r = BufReader::new(r);
    w.write_all(&greeting).await.unwrap();
    for (expect, reply) in script {
        let mut line = String::new();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        assert_eq!(line.trim_end(), expect, "client sent something else");
        w.write_all(&reply).await.unwrap();
    }
    // Hold the pipe open so that a client expecting more times out instead of seeing EOF.
    tokio::time::sleep(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_dovecot_session_parses() {
    let mut body_reply = b"* 1 FETCH (UID 1 RFC822.SIZE 95 BODY[] {95}\r\n".to_vec();
    body_reply.extend_from_slice(BODY);
    body_reply.extend_from_slice(b")\r\na4 OK Fetch completed (0.001 + 0.000 secs).\r\n");
    let mut idle_reply = IDLE.to_vec();
    idle_reply.extend_from_slice(IDLE_NEWS);
    let wire = scripted(
        GREETING.to_vec(),
        vec![
            ("a1 LOGIN \"carol\" \"pw\"", LOGIN.to_vec()),
            ("a2 SELECT \"INBOX\"", SELECT.to_vec()),
            (
                "a3 UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID REFERENCES)])",
                LISTING.to_vec(),
            ),
            ("a4 UID FETCH 1 (UID RFC822.SIZE BODY.PEEK[])", body_reply),
            ("a5 IDLE", idle_reply),
            ("DONE", IDLE_DONE.to_vec()),
            ("a6 LOGOUT", LOGOUT.to_vec()),
        ],
    );
    let mut imap = Imap::greet(wire).await.unwrap();
    assert!(imap.capabilities.iter().any(|c| c == "IDLE"));
    imap.login("carol", "pw").await.unwrap();
    assert!(
        imap.capabilities.iter().any(|c| c == "CONDSTORE"),
        "capabilities from the LOGIN code"
    );

    let sel = imap.select("INBOX").await.unwrap();
    assert_eq!(sel.exists, 4);
    assert_eq!(sel.uid_validity, Some(1_795_808_934));
    assert_eq!(sel.uid_next, Some(5));

    let items = "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID REFERENCES)])";
    let (list, exists) = imap.uid_fetch("1:*", items, &|_| false).await.unwrap();
    assert!(exists.is_empty());
    let summary: Vec<(u32, Option<u32>, Option<u64>, u64)> = list
        .iter()
        .map(|f| (f.seq, f.uid, f.size, f.header.clone().unwrap().unwrap().len))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, Some(1), Some(95), 79),
            (2, Some(2), Some(44), 38),
            (3, Some(3), Some(59), 50),
            (4, Some(4), Some(48), 38)
        ]
    );
    assert_eq!(list[0].flags.as_deref(), Some(&["\\Recent".to_owned()][..]));
    assert_eq!(
        list[0].internal_date.as_deref(),
        Some("27-Nov-2026 19:48:52 +0000")
    );
    assert!(postern_load::verify::imap_listing(&[4], &list).is_empty());

    let (bodies, _) = imap
        .uid_fetch("1", "(UID RFC822.SIZE BODY.PEEK[])", &|seq| seq == 1)
        .await
        .unwrap();
    let body = bodies[0].body.clone().unwrap().unwrap();
    assert_eq!(body.len, 95);
    assert_eq!(body.bytes.as_deref(), Some(BODY));

    let tag = imap.idle_start().await.unwrap();
    assert_eq!(
        imap.idle_wait(Duration::from_secs(2)).await.unwrap(),
        IdleEvent::Exists(5)
    );
    // RECENT follows; nothing else comes.
    assert_eq!(
        imap.idle_wait(Duration::from_millis(100)).await.unwrap(),
        IdleEvent::Quiet
    );
    imap.idle_done(&tag).await.unwrap();
    assert_eq!(imap.exists, Some(5));
    imap.logout().await.unwrap();
}

async fn broken(reply: &[u8]) -> ProtoError {
    let wire = scripted(
        GREETING.to_vec(),
        vec![
            ("a1 LOGIN \"carol\" \"pw\"", LOGIN.to_vec()),
            ("a2 SELECT \"INBOX\"", reply.to_vec()),
        ],
    );
    let mut imap = Imap::greet(wire).await.unwrap();
    imap.login("carol", "pw").await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), imap.select("INBOX"))
        .await
        .expect("the client hung")
        .unwrap_err()
}

#[tokio::test]
async fn broken_servers_give_errors() {
    let cases: [(&[u8], &str); 7] = [
        (b"garbage\r\n", "protocol"),
        (b"* 4 EXISTS\r\na9 OK wrong tag\r\n", "protocol"),
        (b"* 4 EXISTS\r\n", "timeout"),
        (b"a2 OK no EXISTS\r\n", "protocol"),
        (b"a2 NO [NONEXISTENT] Mailbox doesn't exist\r\n", "protocol"),
        (b"* BYE going away\r\n", "protocol"),
        (b"* 1 FETCH (BODY[] {99999999999999}\r\nabc", "timeout"),
    ];
    for (reply, kind) in cases {
        let e = broken(reply).await;
        assert_eq!(e.kind(), kind, "{:?}: {e}", String::from_utf8_lossy(reply));
    }
}

#[tokio::test]
async fn a_truncated_literal_is_an_error() {
    let wire = scripted(
        GREETING.to_vec(),
        vec![(
            "a1 UID FETCH 1 (UID RFC822.SIZE BODY.PEEK[])",
            b"* 1 FETCH (UID 1 BODY[] {50}\r\nonly a few bytes".to_vec(),
        )],
    );
    let mut imap = Imap::greet(wire).await.unwrap();
    let e = imap
        .uid_fetch("1", "(UID RFC822.SIZE BODY.PEEK[])", &|_| true)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "timeout", "{e}");
}

#[tokio::test]
async fn bad_greetings() {
    for (greeting, kind) in [
        (&b"* BYE Too many connections\r\n"[..], "protocol"),
        (b"+OK this is POP3\r\n", "protocol"),
        (b"", "io"),
    ] {
        let (client, mut server) = tokio::io::duplex(1024);
        server.write_all(greeting).await.unwrap();
        drop(server);
        let e = Imap::greet(Wire::new(Box::new(client), Duration::from_secs(2)))
            .await
            .err()
            .unwrap();
        assert_eq!(e.kind(), kind, "{e}");
    }
}

#[tokio::test]
async fn login_refused_is_a_login_error() {
    let wire = scripted(
        GREETING.to_vec(),
        vec![(
            "a1 LOGIN \"carol\" \"bad\"",
            b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n".to_vec(),
        )],
    );
    let mut imap = Imap::greet(wire).await.unwrap();
    assert_eq!(
        imap.login("carol", "bad").await.unwrap_err().kind(),
        "login"
    );
}

#[tokio::test]
async fn authenticate_plain_and_noop() {
    let wire = scripted(
        GREETING.to_vec(),
        vec![
            ("a1 AUTHENTICATE PLAIN", b"+ \r\n".to_vec()),
            (
                "AGNhcm9sAHB3",
                b"a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n".to_vec(),
            ),
            (
                "a2 NOOP",
                b"* 7 EXISTS\r\n* 1 RECENT\r\na2 OK NOOP completed.\r\n".to_vec(),
            ),
            (
                "a3 CAPABILITY",
                b"* CAPABILITY IMAP4rev1 IDLE MOVE\r\na3 OK done\r\n".to_vec(),
            ),
            (
                "a4 AUTHENTICATE PLAIN",
                b"a4 NO [AUTHENTICATIONFAILED] nope\r\n".to_vec(),
            ),
        ],
    );
    let mut imap = Imap::greet(wire).await.unwrap();
    imap.authenticate_plain("carol", "pw").await.unwrap();
    assert_eq!(imap.noop().await.unwrap(), Some(7));
    assert!(
        imap.capability()
            .await
            .unwrap()
            .contains(&"MOVE".to_owned())
    );
    let e = imap.authenticate_plain("carol", "pw").await.unwrap_err();
    assert_eq!(e.kind(), "login");
}
