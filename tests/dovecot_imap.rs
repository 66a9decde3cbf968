//! Postern's IMAP server against a real Dovecot 2.3: the same answers for every corpus
//! message (ENVELOPE, BODY, BODYSTRUCTURE, RFC822.SIZE, byte for byte), and both servers on
//! one Maildir at the same time, agreeing on every UID and seeing each other's appends, flag
//! changes and expunges — Postern's IDLE sessions within moments, through inotify.

mod common;
mod support;

use std::time::Duration;

use common::dovecot::DovecotServer;
use support::imap::{Client, Response, show};
use support::{Options, TestServer, corpus};

/// The response to `FETCH seq item`, without the `* seq FETCH ` prefix.
fn item(c: &mut Client, seq: usize, item: &str) -> Vec<u8> {
    let r = c.ok(&format!("FETCH {seq} {item}"));
    let fetch: Vec<&Response> = r
        .iter()
        .filter(|r| r.starts_with(format!("* {seq} FETCH ").as_bytes()))
        .collect();
    assert_eq!(fetch.len(), 1, "FETCH {seq} {item}: {}", show(&r));
    fetch[0][format!("* {seq} FETCH ").len()..].to_vec()
}

fn login(port: u16, user: &str, password: &str) -> Client {
    let (mut c, greeting) = Client::connect(([127, 0, 0, 1], port).into());
    assert!(greeting.starts_with("* OK"), "{greeting}");
    c.login(user, password);
    c
}

#[test]
fn every_corpus_message_is_described_exactly_as_dovecot_does() {
    let server = TestServer::start(Options::default());
    let dovecot_home = support::temp_dir("dovecot-corpus");
    let dovecot_root = dovecot_home.join("Maildir");
    std::fs::create_dir_all(&dovecot_root).unwrap();
    let dovecot = DovecotServer::start(&dovecot_root, "alice", "secret", &["imap"]);
    let mut ours = login(server.imap.port(), "alice", "secret");
    let mut theirs = login(dovecot.port("imap"), "alice", "secret");
    let messages = corpus();
    for c in [&mut ours, &mut theirs] {
        c.ok("CREATE corpus");
        for (path, bytes) in &messages {
            let tagged = c.append("corpus", "", bytes);
            assert!(tagged.contains(" OK "), "{}: {tagged}", path.display());
        }
        c.ok("EXAMINE corpus");
    }
    let mut compared = 0;
    for (i, (path, _)) in messages.iter().enumerate() {
        for what in ["RFC822.SIZE", "ENVELOPE", "BODY", "BODYSTRUCTURE"] {
            let a = item(&mut ours, i + 1, what);
            let b = item(&mut theirs, i + 1, what);
            assert!(
                a == b,
                "{}: {what} differs\npostern: {}\ndovecot: {}",
                path.display(),
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b)
            );
            compared += 1;
        }
    }
    assert_eq!(compared, messages.len() * 4);
    let log = dovecot.log();
    assert!(!log.contains("Error:") && !log.contains("Panic:"), "{log}");
}

/// The UID of the message whose Subject is `subject`, through `c`.
fn uid_of(c: &mut Client, subject: &str) -> u32 {
    let r = show(&c.ok(&format!("UID SEARCH SUBJECT \"{subject}\"")));
    let line = r
        .lines()
        .find(|l| l.starts_with("* SEARCH"))
        .unwrap_or_default();
    let uids: Vec<u32> = line
        .split_whitespace()
        .skip(2)
        .map(|u| u.parse().unwrap())
        .collect();
    assert_eq!(uids.len(), 1, "SEARCH SUBJECT {subject}: {r}");
    uids[0]
}

fn appended_uid(tagged: &str) -> u32 {
    let code = tagged
        .split("[APPENDUID ")
        .nth(1)
        .unwrap_or_else(|| panic!("{tagged}"));
    code.split([' ', ']']).nth(1).unwrap().parse().unwrap()
}

#[test]
fn both_servers_on_one_maildir_agree_on_every_uid() {
    let server = TestServer::start(Options::default());
    let root = server.maildir("alice");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    let dovecot = DovecotServer::start(&root, "alice", "secret", &["imap"]);
    let mut ours = login(server.imap.port(), "alice", "secret");
    let mut theirs = login(dovecot.port("imap"), "alice", "secret");

    // Appended through Postern, seen through Dovecot with the same UID, and back.
    let a = appended_uid(&ours.append("INBOX", "", b"Subject: via postern\r\n\r\none\r\n"));
    let b = appended_uid(&theirs.append("INBOX", "", b"Subject: via dovecot\r\n\r\ntwo\r\n"));
    assert!(b > a, "UIDs {a} then {b}");
    ours.ok("SELECT INBOX");
    theirs.ok("SELECT INBOX");
    assert_eq!(uid_of(&mut theirs, "via postern"), a);
    assert_eq!(uid_of(&mut ours, "via dovecot"), b);
    let c = appended_uid(&ours.append("INBOX", "(\\Seen)", b"Subject: third\r\n\r\n3\r\n"));
    assert!(c > b);
    theirs.ok("NOOP");
    assert_eq!(uid_of(&mut theirs, "third"), c);

    // Dovecot's changes reach a Postern session in IDLE without it asking.
    ours.send(b"i IDLE\r\n");
    assert!(ours.response().starts_with(b"+ "));
    theirs.ok(&format!("UID STORE {a} +FLAGS (\\Flagged)"));
    let (r, took) = ours
        .wait_for("FLAGS (\\Flagged", Duration::from_secs(5))
        .expect("Dovecot's flag change never reached the IDLE session");
    assert!(
        String::from_utf8_lossy(&r).starts_with("* 1 FETCH"),
        "{}",
        String::from_utf8_lossy(&r)
    );
    eprintln!("flag change by Dovecot seen in IDLE after {took:?}");
    theirs.ok(&format!("UID STORE {b} +FLAGS (\\Deleted)"));
    theirs.ok("EXPUNGE");
    ours.wait_for("* 2 EXPUNGE", Duration::from_secs(5))
        .expect("Dovecot's expunge never reached the IDLE session");
    ours.send(b"DONE\r\n");
    let (_, tagged) = ours.until_tagged("i");
    assert!(tagged.contains("OK"), "{tagged}");

    // And Postern's reach Dovecot.
    ours.ok(&format!("UID STORE {c} +FLAGS (\\Answered $Forwarded)"));
    // Dovecot looks at the Maildir again when a command asks it to sync, as NOOP does.
    theirs.ok("NOOP");
    let r = show(&theirs.ok(&format!("UID FETCH {c} FLAGS")));
    assert!(r.contains("\\Answered") && r.contains("$Forwarded"), "{r}");
    ours.ok(&format!("UID STORE {a} +FLAGS (\\Deleted)"));
    ours.ok("EXPUNGE");
    let r = show(&theirs.ok("NOOP"));
    assert!(r.contains("* 1 EXPUNGE"), "{r}");
    let r = show(&theirs.ok("UID SEARCH ALL"));
    assert!(r.contains(&format!("* SEARCH {c}")), "{r}");
    let log = dovecot.log();
    assert!(!log.contains("Error:") && !log.contains("Panic:"), "{log}");
}
