//! The real IMAP server on loopback, spoken to byte by byte: the corpus byte-exact, the
//! index answering header-only FETCHes without opening a message file, sessions on different
//! worker threads seeing each other's changes, IDLE hearing of an MTA's delivery, bad input,
//! and shutdown.

mod support;

use std::fs;
use std::time::{Duration, Instant};

use support::imap::{Client, literal_after, show};
use support::{Options, TestServer, corpus, crlf};

/// `message_opens()` counts for the whole process, and tests run in parallel threads: every
/// test here holds this lock, so the ones that count opens see only their own.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn logged_in(server: &TestServer) -> Client {
    let (mut c, greeting) = Client::connect(server.imap);
    assert!(
        greeting.starts_with("* OK [CAPABILITY IMAP4rev1"),
        "{greeting}"
    );
    c.login("alice", "secret");
    c
}

/// Writes `n` small, varied messages into alice's `cur/` as an MDA and earlier IMAP
/// sessions would have left them.
fn fill(server: &TestServer, n: usize) {
    let md = server.maildir("alice");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(md.join(sub)).unwrap();
    }
    for i in 0..n {
        let body = format!(
            "From: Sender {i} <s{i}@example.org>\nTo: alice@example.org\nSubject: Message {i}\n\
             Date: Tue, 1 Dec 2026 10:{:02}:00 +0000\nMessage-ID: <{i}@example.org>\n\
             Content-Type: text/plain; charset=us-ascii\n\nBody of message {i}.\n",
            i % 60
        );
        let name = format!(
            "{}.M{i}P1.test:2,{}",
            1_700_000_000 + i,
            if i % 3 == 0 { "S" } else { "" }
        );
        fs::write(md.join("cur").join(name), body).unwrap();
    }
}

const HEADER_FETCH: &str = "FETCH 1:* (FLAGS UID INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE \
     BODY.PEEK[HEADER.FIELDS (From To Subject Date Message-ID Content-Type)])";

#[test]
fn header_only_fetch_of_10000_messages_opens_no_message_file() {
    let _serial = serial();
    let server = TestServer::start(Options::default());
    fill(&server, 10_000);
    let mut c = logged_in(&server);
    let select = c.ok("SELECT INBOX");
    assert!(
        show(&select).contains("* 10000 EXISTS"),
        "{}",
        show(&select)
    );
    // The first SELECT built the index; from now on nothing needs a message file.
    let before = postern::store::message_opens();
    let start = Instant::now();
    let fetched = c.ok(HEADER_FETCH);
    let elapsed = start.elapsed();
    assert_eq!(
        postern::store::message_opens(),
        before,
        "a header-only FETCH opened messages"
    );
    assert_eq!(fetched.len(), 10_000);
    let first = String::from_utf8_lossy(&fetched[0]).into_owned();
    assert!(
        first.contains("ENVELOPE (\"Tue, 1 Dec 2026 10:00:00 +0000\" \"Message 0\""),
        "{first}"
    );
    assert!(first.contains("FLAGS (\\Seen)"), "{first}");
    let header = literal_after(
        &fetched[4],
        "BODY[HEADER.FIELDS (From To Subject Date Message-ID Content-Type)]",
    )
    .unwrap();
    assert!(header.starts_with(b"From: Sender 4 <s4@example.org>\r\nTo: alice@example.org\r\n"));
    assert!(header.ends_with(b"\r\n\r\n"));
    eprintln!("header-only FETCH of 10,000 messages (debug build): {elapsed:?}");
    c.ok("LOGOUT");
    drop(c);

    // A restarted server reads the index from disk: still no message file is opened.
    let mut server = server;
    server.restart();
    let before = postern::store::message_opens();
    let mut c = logged_in(&server);
    c.ok("SELECT INBOX");
    let again = c.ok(HEADER_FETCH);
    assert_eq!(again.len(), 10_000);
    assert_eq!(
        postern::store::message_opens(),
        before,
        "the index was not reused after a restart"
    );
    assert_eq!(
        show(&again),
        show(&fetched),
        "answers differ after a restart"
    );
}

#[test]
fn corpus_survives_append_and_fetch_byte_exact() {
    let _serial = serial();
    let server = TestServer::start(Options::default());
    let mut c = logged_in(&server);
    c.ok("CREATE corpus");
    let messages = corpus();
    for (path, bytes) in &messages {
        let tagged = c.append("corpus", "", bytes);
        assert!(
            tagged.contains("OK [APPENDUID "),
            "{}: {tagged}",
            path.display()
        );
    }
    c.ok("SELECT corpus");
    for (i, (path, bytes)) in messages.iter().enumerate() {
        let r = c.ok(&format!("FETCH {} (RFC822.SIZE BODY.PEEK[])", i + 1));
        let wire = crlf(bytes);
        let got = literal_after(&r[0], "BODY[]").unwrap_or_else(|| panic!("{}", show(&r)));
        assert!(got == wire, "{}: BODY[] differs", path.display());
        let size = format!("RFC822.SIZE {} ", wire.len());
        assert!(
            String::from_utf8_lossy(&r[0]).contains(&size),
            "{}: {}",
            path.display(),
            show(&r)
        );
    }
    // And the files hold exactly what was appended.
    let dir = server.maildir("alice").join(".corpus");
    let mut stored: Vec<Vec<u8>> = ["cur", "new"]
        .iter()
        .flat_map(|sub| fs::read_dir(dir.join(sub)).unwrap())
        .map(|e| fs::read(e.unwrap().path()).unwrap())
        .collect();
    let mut appended: Vec<Vec<u8>> = messages.into_iter().map(|(_, b)| b).collect();
    stored.sort();
    appended.sort();
    assert!(
        stored == appended,
        "stored files differ from what was appended"
    );
}

#[test]
fn sessions_on_both_workers_see_each_others_changes() {
    let _serial = serial();
    let server = TestServer::start(Options::default());
    fill(&server, 3);
    // With two workers and SO_REUSEPORT spreading connections by their ports, eight sessions
    // all land on one worker with probability 1/128; the test wants both.
    let mut sessions: Vec<Client> = (0..8).map(|_| logged_in(&server)).collect();
    for s in &mut sessions {
        s.ok("SELECT INBOX");
    }
    let (writer, others) = sessions.split_first_mut().unwrap();
    writer.ok("STORE 2 +FLAGS (\\Flagged)");
    for s in others.iter_mut() {
        let r = show(&s.ok("NOOP"));
        assert!(r.contains("* 2 FETCH (FLAGS (\\Flagged))"), "{r}");
    }
    for s in others.iter_mut() {
        s.send(b"i IDLE\r\n");
        assert!(String::from_utf8_lossy(&s.response()).starts_with("+ "));
    }
    let (appended, tagged) = writer.append_all("INBOX", "", b"Subject: new\r\n\r\nhi\r\n");
    assert!(tagged.contains("OK"), "{tagged}");
    let mut recent = usize::from(show(&appended).contains("* 1 RECENT"));
    for s in others.iter_mut() {
        let (r, _) = s
            .wait_for("* 4 EXISTS", Duration::from_secs(5))
            .expect("an IDLE session did not hear of the new message");
        assert!(String::from_utf8_lossy(&r).contains("EXISTS"));
        s.send(b"DONE\r\n");
        let (untagged, tagged) = s.until_tagged("i");
        assert!(tagged.contains("OK"), "{tagged}");
        let all = show(&untagged);
        if all.contains("* 1 RECENT") {
            recent += 1;
        }
    }
    // \Recent goes to exactly one session: the writer or one of the others.
    assert_eq!(recent, 1, "\\Recent must go to exactly one session");
    writer.ok("STORE 1 +FLAGS (\\Deleted)");
    writer.ok("EXPUNGE");
    for s in others.iter_mut() {
        let r = show(&s.ok("NOOP"));
        assert!(r.contains("* 1 EXPUNGE"), "{r}");
    }
}

#[test]
fn idle_hears_an_mta_delivery_within_a_second() {
    let _serial = serial();
    let server = TestServer::start(Options::default());
    fill(&server, 1);
    let mut c = logged_in(&server);
    c.ok("SELECT INBOX");
    c.send(b"i IDLE\r\n");
    assert!(String::from_utf8_lossy(&c.response()).starts_with("+ "));
    // As an MTA delivers: write in tmp/, rename into new/.
    let md = server.maildir("alice");
    let tmp = md.join("tmp/1800000000.M1P99.mta");
    fs::write(&tmp, b"Subject: delivered\n\nhello\n").unwrap();
    let delivered = Instant::now();
    fs::rename(&tmp, md.join("new/1800000000.M1P99.mta")).unwrap();
    let (_, _) = c
        .wait_for("* 2 EXISTS", Duration::from_secs(5))
        .expect("IDLE never heard of the delivery");
    let latency = delivered.elapsed();
    assert!(latency < Duration::from_secs(1), "EXISTS after {latency:?}");
    c.send(b"DONE\r\n");
    let (_, tagged) = c.until_tagged("i");
    assert!(tagged.contains("OK"), "{tagged}");
}

#[test]
fn bad_input_gets_clear_answers_and_loses_nothing() {
    let _serial = serial();
    let server = TestServer::start(Options::default());
    fill(&server, 2);
    let mut c = logged_in(&server);
    c.ok("SELECT INBOX");
    let (_, t) = c.command("FETCH 1 (FLAGS");
    assert!(t.contains(" BAD "), "{t}");
    let (_, t) = c.command("SELECT &Jjo!");
    assert!(t.contains(" BAD "), "{t}");
    c.send(b"n1 NOOP\0\r\n");
    let (_, t) = c.until_tagged("n1");
    assert!(t.contains(" BAD "), "{t}");
    // A 1 GB literal announcement is refused before any data is sent.
    c.send(b"big APPEND INBOX {1000000000}\r\n");
    let r = String::from_utf8_lossy(&c.response()).into_owned();
    assert!(r.starts_with("big NO [TOOBIG]"), "{r}");
    // The session goes on.
    c.ok("NOOP");
    let r = show(&c.ok("FETCH 1:* UID"));
    assert!(r.contains("* 2 FETCH"), "{r}");

    // A disconnect in the middle of an APPEND literal appends nothing.
    let (mut d, _) = Client::connect(server.imap);
    d.login("alice", "secret");
    d.send(b"x APPEND INBOX {100}\r\n");
    assert!(d.response().starts_with(b"+"));
    d.send(b"Subject: half");
    drop(d);
    std::thread::sleep(Duration::from_millis(200));
    let r = show(&c.ok("NOOP"));
    assert!(!r.contains("EXISTS"), "{r}");
    let (_, t) = c.command("STATUS INBOX (MESSAGES)");
    assert!(t.contains("OK"), "{t}");
    let tmp: Vec<_> = fs::read_dir(server.maildir("alice").join("tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty(), "tmp/ has leftovers");

    // A flood of unknown commands ends with BYE, not a hang.
    let (mut f, _) = Client::connect(server.imap);
    let mut flood = Vec::new();
    for i in 0..100 {
        flood.extend_from_slice(format!("f{i} FROBNICATE\r\n").as_bytes());
    }
    f.send(&flood);
    let mut text = String::new();
    while let Ok(n) = std::io::Read::read_to_string(f.reader.get_mut(), &mut text) {
        if n == 0 {
            break;
        }
    }
    assert!(text.contains("* BYE Too many invalid commands."), "{text}");
}

#[test]
fn shutdown_says_bye() {
    let _serial = serial();
    let mut server = TestServer::start(Options::default());
    let mut c = logged_in(&server);
    c.ok("SELECT INBOX");
    c.send(b"i IDLE\r\n");
    c.response();
    server.stop();
    let (r, _) = c
        .wait_for("* BYE", Duration::from_secs(10))
        .expect("no BYE at shutdown");
    assert!(String::from_utf8_lossy(&r).contains("[UNAVAILABLE] Server shutting down."));
}

#[test]
fn a_damaged_index_is_rebuilt() {
    let _serial = serial();
    let mut server = TestServer::start(Options::default());
    fill(&server, 50);
    let mut c = logged_in(&server);
    c.ok("SELECT INBOX");
    let good = show(&c.ok("FETCH 1:* (UID ENVELOPE BODYSTRUCTURE)"));
    c.ok("LOGOUT");
    drop(c);
    server.stop();
    let index = server.maildir("alice").join("postern.index");
    let mut bytes = fs::read(&index).unwrap();
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + 64] {
        *b ^= 0x5a;
    }
    bytes.truncate(bytes.len() - 100);
    fs::write(&index, &bytes).unwrap();
    server.restart();
    let before = postern::store::message_opens();
    let mut c = logged_in(&server);
    c.ok("SELECT INBOX");
    let again = show(&c.ok("FETCH 1:* (UID ENVELOPE BODYSTRUCTURE)"));
    assert_eq!(again, good, "answers differ after the index was damaged");
    assert!(
        postern::store::message_opens() > before,
        "the damaged records were not recomputed from the messages"
    );
    // And the rewritten index serves the next session without reading messages.
    c.ok("LOGOUT");
    drop(c);
    server.restart();
    let before = postern::store::message_opens();
    let mut c = logged_in(&server);
    c.ok("SELECT INBOX");
    assert_eq!(show(&c.ok("FETCH 1:* (UID ENVELOPE BODYSTRUCTURE)")), good);
    assert_eq!(postern::store::message_opens(), before);
}

#[test]
fn literal_minus_when_configured() {
    let _serial = serial();
    let server = TestServer::start(Options {
        extra_imap: "literals = \"minus\"".into(),
        ..Options::default()
    });
    let (mut c, greeting) = Client::connect(server.imap);
    assert!(greeting.contains(" LITERAL- "), "{greeting}");
    assert!(!greeting.contains("LITERAL+"), "{greeting}");
    c.send(b"l LOGIN {5+}\r\nalice secret\r\n");
    let (_, tagged) = c.until_tagged("l");
    assert!(tagged.starts_with("l OK"), "{tagged}");
    let big = vec![b'x'; 5000];
    c.send(format!("a APPEND INBOX {{{}+}}\r\n", big.len()).as_bytes());
    c.send(&big);
    c.send(b"\r\n");
    let (_, tagged) = c.until_tagged("a");
    assert!(tagged.starts_with("a BAD [TOOBIG]"), "{tagged}");
    // The refused literal's bytes were skipped: the session goes on.
    c.ok("NOOP");
    let small = b"Subject: s\r\n\r\nx\r\n";
    c.send(format!("b APPEND INBOX {{{}+}}\r\n", small.len()).as_bytes());
    c.send(small);
    c.send(b"\r\n");
    let (_, tagged) = c.until_tagged("b");
    assert!(tagged.contains("OK [APPENDUID "), "{tagged}");
}
