//! Postern's Maildir store against a real Dovecot 2.3 on the same maildir: every UIDL and
//! every size must be identical, whichever server saw the mail first, while new mail keeps
//! arriving and both keep serving. This is the promise to POP3 users moving from Dovecot:
//! nothing is downloaded twice.

mod common;
mod support;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::dovecot::DovecotServer;
use postern::store::{Inbox, Maildir, StoreError, StoreOptions, uidl};

const USER: &str = "carol";
const PASSWORD: &str = "s3cret";

/// `(UIDL, LIST size)` per message, in message-number order.
type Listing = Vec<(String, u64)>;

/// Every message of the corpus, named by its path in the corpus.
fn corpus() -> Vec<(String, Vec<u8>)> {
    support::corpus()
        .into_iter()
        .map(|(path, bytes)| (path.display().to_string(), bytes))
        .collect()
}

/// A few shapes the corpus may lack.
fn edge_cases() -> Vec<(String, Vec<u8>)> {
    vec![
        ("empty".into(), Vec::new()),
        (
            "no-final-newline".into(),
            b"Subject: x\n\nlast line".to_vec(),
        ),
        (
            "bare-cr".into(),
            b"Subject: y\r\n\r\na\rb\r\n.\r\n..dot\n".to_vec(),
        ),
    ]
}

/// Wire size computed independently of the store: CRLF for every bare LF.
fn wire_size(bytes: &[u8]) -> u64 {
    let bare = bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
        .count();
    (bytes.len() + bare) as u64
}

/// Delivers like an MDA: written in `tmp/`, renamed into `new/` or straight into `cur/`
/// with flags; some names carry `,S=` and `,W=`. Seconds go down while the counter goes up,
/// so delivery order and Dovecot's file-name order differ.
fn deliver(maildir: &Path, n: usize, bytes: &[u8], dovecot: Option<&DovecotServer>) {
    let secs = 1_700_000_000 - (n as u64 % 37) * 1000 + (n as u64 / 37);
    let usecs = (n * 7919) % 1_000_000;
    let mut base = format!("{secs}.M{usecs}P{}Q{n}.testhost", 4000 + n % 5);
    match n % 4 {
        1 => base.push_str(&format!(",S={}", bytes.len())),
        2 => base.push_str(&format!(",S={},W={}", bytes.len(), wire_size(bytes))),
        _ => {}
    }
    let tmp = maildir.join("tmp").join(&base);
    fs::write(&tmp, bytes).unwrap();
    if let Some(d) = dovecot {
        d.give_to_mail_user(&tmp);
    }
    let dest = match n % 3 {
        0 => maildir.join("new").join(&base),
        1 => maildir.join("cur").join(format!("{base}:2,S")),
        _ => maildir.join("cur").join(format!("{base}:2,RS")),
    };
    fs::rename(&tmp, dest).unwrap();
}

/// A maildir with the whole corpus and the edge cases in it; returns the message count.
fn build_maildir(root: &Path) -> usize {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    let messages: Vec<_> = corpus().into_iter().chain(edge_cases()).collect();
    for (n, (_, bytes)) in messages.iter().enumerate() {
        deliver(root, n, bytes, None);
    }
    messages.len()
}

/// A minimal POP3 client for reading Dovecot's answers.
struct Pop3 {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Pop3 {
    /// Connects and logs in; `Err` carries the server's `-ERR` line.
    fn login(port: u16) -> Result<Pop3, String> {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut pop = Pop3 {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        let greeting = pop.line();
        assert!(greeting.starts_with("+OK"), "greeting: {greeting}");
        pop.command(&format!("USER {USER}"))?;
        pop.command(&format!("PASS {PASSWORD}"))?;
        Ok(pop)
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        assert!(line.ends_with("\r\n"), "unterminated line {line:?}");
        line.truncate(line.len() - 2);
        line
    }

    fn command(&mut self, cmd: &str) -> Result<String, String> {
        self.writer
            .write_all(format!("{cmd}\r\n").as_bytes())
            .unwrap();
        let status = self.line();
        if status.starts_with("+OK") {
            Ok(status)
        } else {
            Err(status)
        }
    }

    fn multiline(&mut self, cmd: &str) -> Vec<String> {
        self.command(cmd).unwrap_or_else(|e| panic!("{cmd}: {e}"));
        let mut lines = Vec::new();
        loop {
            let line = self.line();
            if line == "." {
                return lines;
            }
            lines.push(line.strip_prefix('.').map_or(line.clone(), str::to_owned));
        }
    }

    /// UIDL and LIST, paired by message number.
    fn listing(&mut self) -> Listing {
        let uidls = self.multiline("UIDL");
        let sizes = self.multiline("LIST");
        assert_eq!(uidls.len(), sizes.len());
        uidls
            .iter()
            .zip(&sizes)
            .enumerate()
            .map(|(i, (u, s))| {
                let (un, uidl) = u.split_once(' ').unwrap();
                let (sn, size) = s.split_once(' ').unwrap();
                assert_eq!(un, (i + 1).to_string());
                assert_eq!(sn, (i + 1).to_string());
                (uidl.to_owned(), size.parse().unwrap())
            })
            .collect()
    }

    fn quit(mut self) {
        self.command("QUIT").unwrap();
    }
}

/// What Dovecot's POP3 server lists right now.
fn dovecot_listing(dovecot: &DovecotServer) -> Listing {
    let mut pop = Pop3::login(dovecot.port("pop3"))
        .unwrap_or_else(|e| panic!("dovecot login: {e}\n{}", dovecot.log()));
    let listing = pop.listing();
    pop.quit();
    listing
}

fn postern_listing(inbox: &Inbox) -> Listing {
    inbox
        .messages
        .iter()
        .map(|m| (uidl(inbox.uid_validity, m.uid), m.size))
        .collect()
}

fn open(root: &Path) -> Maildir {
    Maildir::open(root, StoreOptions::default()).unwrap()
}

/// Dovecot found nothing wrong with the maildir Postern shares with it: no errors, and no
/// complaints about the uidlist, our locks or duplicate files.
fn assert_clean_log(dovecot: &DovecotServer) {
    let log = dovecot.log();
    for line in log.lines() {
        let bad = ["Error:", "Fatal:", "Panic:"]
            .iter()
            .any(|k| line.contains(k))
            || (line.contains("Warning:")
                && ["uidlist", "dotlock", "uplicate", "lock"]
                    .iter()
                    .any(|k| line.contains(k)));
        assert!(!bad, "dovecot complained: {line}\n{log}");
    }
}

fn assert_same(dovecot: &Listing, postern: &Listing, what: &str) {
    assert_eq!(
        dovecot.len(),
        postern.len(),
        "{what}: message counts differ"
    );
    for (i, (d, p)) in dovecot.iter().zip(postern).enumerate() {
        assert_eq!(
            d,
            p,
            "{what}: message {} differs (dovecot vs postern)",
            i + 1
        );
    }
}

#[test]
fn dovecot_first_then_postern_agrees() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("Maildir");
    let count = build_maildir(&root);
    let dovecot = DovecotServer::start(&root, USER, PASSWORD, &["pop3"]);

    let theirs = dovecot_listing(&dovecot);
    assert_eq!(theirs.len(), count);
    assert!(
        root.join("dovecot-uidlist").exists(),
        "dovecot wrote no uidlist"
    );
    let ours = postern_listing(&open(&root).sync().unwrap());
    assert_same(&theirs, &ours, "dovecot first");
    // And Dovecot is still happy with the uidlist after Postern has been there.
    assert_same(&dovecot_listing(&dovecot), &ours, "dovecot again");
    assert_clean_log(&dovecot);
}

#[test]
fn postern_first_then_dovecot_agrees() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("Maildir");
    let count = build_maildir(&root);
    // Dovecot does not look at the maildir before a login; Postern creates the uidlist.
    let dovecot = DovecotServer::start(&root, USER, PASSWORD, &["pop3"]);
    let inbox = open(&root).sync().unwrap();
    assert_eq!(inbox.messages.len(), count);
    // Files Postern creates belong to the maildir's owner, even when Postern runs as root.
    let owner = fs::metadata(&root).unwrap().uid();
    assert_eq!(
        fs::metadata(root.join("dovecot-uidlist")).unwrap().uid(),
        owner
    );
    let ours = postern_listing(&inbox);
    assert_same(&dovecot_listing(&dovecot), &ours, "postern first");
    // Postern still agrees with what Dovecot made of it.
    assert_same(
        &dovecot_listing(&dovecot),
        &postern_listing(&open(&root).sync().unwrap()),
        "postern again",
    );
    assert_clean_log(&dovecot);
}

#[test]
fn both_in_use_while_mail_arrives() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("Maildir");
    fs::create_dir_all(&root).unwrap();
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    let dovecot = DovecotServer::start(&root, USER, PASSWORD, &["pop3"]);
    let md = open(&root);
    let corpus = corpus();
    let mut next = 0;
    let mut deliver_some = |k: usize| {
        for _ in 0..k {
            let (_, bytes) = &corpus[next % corpus.len()];
            deliver(&root, next, bytes, Some(&dovecot));
            next += 1;
        }
    };

    let mut highest_uid_deleted = 0;
    for round in 0..8 {
        deliver_some(5);
        let (theirs, ours) = if round % 2 == 0 {
            let theirs = dovecot_listing(&dovecot);
            (theirs, postern_listing(&md.sync().unwrap()))
        } else {
            let ours = postern_listing(&md.sync().unwrap());
            (dovecot_listing(&dovecot), ours)
        };
        assert_same(&theirs, &ours, &format!("round {round}"));

        match round {
            2 => {
                // Postern expunges its newest message: that UID must never come back.
                let inbox = md.sync().unwrap();
                let newest = inbox.messages.last().unwrap();
                highest_uid_deleted = newest.uid;
                md.delete(&[newest]).unwrap();
            }
            5 => {
                // Dovecot expunges the first message.
                let mut pop = Pop3::login(dovecot.port("pop3")).unwrap();
                pop.command("DELE 1").unwrap();
                pop.quit();
            }
            _ => {}
        }
    }
    let inbox = md.sync().unwrap();
    assert!(inbox.messages.iter().all(|m| m.uid != highest_uid_deleted));
    assert!(inbox.messages.last().unwrap().uid > highest_uid_deleted);
    assert_eq!(inbox.messages.len(), 8 * 5 - 2);
    assert_same(
        &dovecot_listing(&dovecot),
        &postern_listing(&inbox),
        "final",
    );
    assert_clean_log(&dovecot);
}

#[test]
fn pop3_session_locks_exclude_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("Maildir");
    build_maildir(&root);
    let dovecot = DovecotServer::start(&root, USER, PASSWORD, &["pop3"]);
    let md = open(&root);

    // A Dovecot session holds the maildrop: Postern must refuse.
    let pop = Pop3::login(dovecot.port("pop3")).unwrap();
    assert!(matches!(md.lock_pop3_session(), Err(StoreError::Locked)));
    pop.quit();
    let lock = md.lock_pop3_session().unwrap();

    // A Postern session holds it: Dovecot waits (10 s) and then refuses.
    let started = Instant::now();
    let refused = Pop3::login(dovecot.port("pop3"))
        .err()
        .expect("dovecot ignored our lock");
    assert!(refused.contains("IN-USE"), "{refused}");
    assert!(started.elapsed() >= Duration::from_secs(5));
    lock.refresh().unwrap();
    drop(lock);
    Pop3::login(dovecot.port("pop3")).unwrap().quit();
}

#[test]
fn dovecot_and_postern_syncing_at_the_same_time() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    let dovecot = DovecotServer::start(&root, USER, PASSWORD, &["pop3"]);
    let md = open(&root);
    let corpus = corpus();
    let stop = std::sync::atomic::AtomicBool::new(false);

    let seen_by_dovecot = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                seen.extend(dovecot_listing(&dovecot));
            }
            seen
        });
        // Postern syncs while Dovecot syncs and mail arrives: a base name must keep the UID
        // it first got, whoever gave it.
        let mut uid_of = std::collections::HashMap::new();
        for n in 0..40 {
            deliver(&root, n, &corpus[n % corpus.len()].1, Some(&dovecot));
            for m in md.sync().unwrap().messages {
                let base = m.filename.split(':').next().unwrap().to_owned();
                let first = *uid_of.entry(base.clone()).or_insert(m.uid);
                assert_eq!(first, m.uid, "{base} changed its UID");
            }
            // Give Dovecot's sessions time to interleave with ours.
            std::thread::sleep(Duration::from_millis(30));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap()
    });

    let ours = postern_listing(&md.sync().unwrap());
    assert_eq!(ours.len(), 40);
    assert_same(&dovecot_listing(&dovecot), &ours, "after the race");
    // Everything Dovecot listed on the way is in the final listing, with the same size.
    let final_sizes: std::collections::HashMap<_, _> = ours.into_iter().collect();
    for (uidl, size) in seen_by_dovecot {
        assert_eq!(final_sizes.get(&uidl), Some(&size), "{uidl}");
    }
    assert_clean_log(&dovecot);
}

/// The same check end to end: Postern's POP3 server and Dovecot's, over one Maildir, answer
/// UIDL and LIST identically — in both orders of first contact.
#[test]
fn postern_server_and_dovecot_server_list_the_same() {
    for dovecot_first in [true, false] {
        let server = support::TestServer::start(support::Options {
            accounts: vec![(USER.into(), format!("{{PLAIN}}{PASSWORD}"), String::new())],
            ..support::Options::default()
        });
        let root = server.maildir(USER);
        let count = build_maildir(&root);
        let dovecot = DovecotServer::start(&root, USER, PASSWORD, &["pop3"]);
        let postern_port = server.pop3.port();
        let postern_listing = || {
            let mut pop = Pop3::login(postern_port).unwrap_or_else(|e| panic!("postern: {e}"));
            let listing = pop.listing();
            pop.quit();
            listing
        };
        let (theirs, ours) = if dovecot_first {
            let d = dovecot_listing(&dovecot);
            (d, postern_listing())
        } else {
            let p = postern_listing();
            (dovecot_listing(&dovecot), p)
        };
        assert_eq!(ours.len(), count);
        assert_same(&theirs, &ours, "servers");
        assert_clean_log(&dovecot);
    }
}
