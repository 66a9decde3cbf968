//! Postern's store writing for IMAP against a real Dovecot 2.3 on the same mail root, in
//! both directions: what one server appends, flags, copies, creates, renames, deletes or
//! subscribes, the other must see exactly (same UIDs, UIDVALIDITY, flags, keyword names,
//! INTERNALDATE, bytes, folder list and subscriptions), and Dovecot must find nothing
//! wrong with what Postern wrote.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::dovecot::DovecotServer;
use postern::store::{
    FlagChange, FlagOp, Folders, Maildir, MessageMeta, NewFlags, StoreOptions, SystemFlags,
};

const USER: &str = "dave";
const PASSWORD: &str = "imap-pw";

/// A minimal IMAP client: tagged commands, untagged responses with literals inlined.
struct Imap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: u32,
}

impl Imap {
    fn login(dovecot: &DovecotServer) -> Imap {
        let stream = TcpStream::connect(("127.0.0.1", dovecot.port("imap"))).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut imap = Imap {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            tag: 0,
        };
        let greeting = imap.response_line();
        assert!(greeting.starts_with(b"* OK"), "greeting");
        imap.ok(&format!("LOGIN {USER} {PASSWORD}"));
        imap
    }

    /// One response line, with any literals it announces read into it.
    fn response_line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        loop {
            let start = line.len();
            self.reader.read_until(b'\n', &mut line).unwrap();
            assert!(line.len() > start, "connection closed");
            let piece = &line[start..];
            let literal = piece
                .strip_suffix(b"}\r\n")
                .and_then(|p| p.iter().rposition(|&b| b == b'{').map(|i| &p[i + 1..]))
                .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok());
            match literal {
                Some(n) => {
                    let mut buf = vec![0; n];
                    self.reader.read_exact(&mut buf).unwrap();
                    line.extend_from_slice(&buf);
                }
                None => return line,
            }
        }
    }

    /// Sends a command (with an optional LITERAL+ argument appended) and returns the
    /// untagged responses and the tagged status line.
    fn run(&mut self, cmd: &str, literal: Option<&[u8]>) -> (Vec<Vec<u8>>, String) {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        let mut out = format!("{tag} {cmd}").into_bytes();
        if let Some(lit) = literal {
            out.extend_from_slice(format!(" {{{}+}}\r\n", lit.len()).as_bytes());
            out.extend_from_slice(lit);
        }
        out.extend_from_slice(b"\r\n");
        self.writer.write_all(&out).unwrap();
        let mut untagged = Vec::new();
        loop {
            let line = self.response_line();
            if line.starts_with(format!("{tag} ").as_bytes()) {
                let status = String::from_utf8_lossy(&line[tag.len() + 1..])
                    .trim_end()
                    .to_owned();
                return (untagged, status);
            }
            untagged.push(line);
        }
    }

    fn ok(&mut self, cmd: &str) -> Vec<Vec<u8>> {
        let (untagged, status) = self.run(cmd, None);
        assert!(status.starts_with("OK"), "{cmd}: {status}");
        untagged
    }

    /// The `[CODE a b c]` of an OK status, as words.
    fn ok_code(&mut self, cmd: &str, literal: Option<&[u8]>) -> Vec<String> {
        let (_, status) = self.run(cmd, literal);
        assert!(status.starts_with("OK ["), "{cmd}: {status}");
        let code = &status[4..status.find(']').unwrap()];
        code.split(' ').map(str::to_owned).collect()
    }

    /// SELECT: the UIDVALIDITY.
    fn select(&mut self, folder: &str) -> u32 {
        let lines = self.ok(&format!("SELECT \"{folder}\""));
        lines
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .find_map(|l| {
                let rest = l.split("[UIDVALIDITY ").nth(1)?;
                rest.split(']').next()?.parse().ok()
            })
            .expect("no UIDVALIDITY")
    }

    /// STATUS: (MESSAGES, UIDNEXT, UIDVALIDITY).
    fn status(&mut self, folder: &str) -> (u32, u32, u32) {
        let lines = self.ok(&format!(
            "STATUS \"{folder}\" (MESSAGES UIDNEXT UIDVALIDITY)"
        ));
        let text = String::from_utf8_lossy(&lines[0]).into_owned();
        let get = |key: &str| -> u32 {
            let rest = text.split(&format!("{key} ")).nth(1).unwrap();
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        (get("MESSAGES"), get("UIDNEXT"), get("UIDVALIDITY"))
    }

    /// UID FETCH of everything: per UID, the FETCH response's text.
    fn fetch_all(&mut self, items: &str) -> BTreeMap<u32, Vec<u8>> {
        let mut out = BTreeMap::new();
        for line in self.ok(&format!("UID FETCH 1:* ({items})")) {
            let text = String::from_utf8_lossy(&line);
            let Some(rest) = text.split("UID ").nth(1) else {
                continue;
            };
            let uid: u32 = rest
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap();
            out.insert(uid, line);
        }
        out
    }

    /// LIST "" *: name → attributes (lower-cased).
    fn list(&mut self) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        for line in self.ok("LIST \"\" *") {
            let text = String::from_utf8_lossy(&line).trim_end().to_owned();
            let rest = text.strip_prefix("* LIST (").unwrap();
            let (attrs, rest) = rest.split_once(')').unwrap();
            let name = rest.trim_start().strip_prefix("\".\" ").unwrap();
            let name = name.trim_matches('"').to_owned();
            let attrs = attrs
                .split_whitespace()
                .map(|a| a.to_ascii_lowercase())
                .collect();
            out.insert(name, attrs);
        }
        out
    }

    fn lsub(&mut self) -> Vec<String> {
        let mut out: Vec<String> = self
            .ok("LSUB \"\" *")
            .iter()
            .map(|l| {
                let text = String::from_utf8_lossy(l).trim_end().to_owned();
                text.rsplit(' ')
                    .next()
                    .unwrap()
                    .trim_matches('"')
                    .to_owned()
            })
            .collect();
        out.sort();
        out
    }
}

/// The text of one `NAME value` item in a FETCH line (a parenthesised list, a quoted string
/// or an atom).
fn item(line: &[u8], name: &str) -> String {
    let text = String::from_utf8_lossy(line);
    let at = text
        .find(&format!("{name} "))
        .unwrap_or_else(|| panic!("no {name} in {text}"));
    let rest = &text[at + name.len() + 1..];
    let end = match rest.as_bytes()[0] {
        b'(' => rest.find(')').unwrap() + 1,
        b'"' => rest[1..].find('"').unwrap() + 2,
        _ => rest.find([' ', ')']).unwrap(),
    };
    rest[..end].to_owned()
}

/// The bytes of a `BODY[] {n}` literal in a FETCH line.
fn body(line: &[u8]) -> Vec<u8> {
    let at = line
        .windows(8)
        .position(|w| w == b"BODY[] {")
        .expect("no BODY[]");
    let after = &line[at + 8..];
    let close = after.iter().position(|&b| b == b'}').unwrap();
    let n: usize = std::str::from_utf8(&after[..close])
        .unwrap()
        .parse()
        .unwrap();
    after[close + 3..close + 3 + n].to_vec()
}

/// Bytes as IMAP sends them: every bare LF as CRLF (Dovecot serves LF-stored mail so).
fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 16);
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// A FLAGS list as a sorted set of names, `\Recent` left out (a session property).
fn flag_set(list: &str) -> Vec<String> {
    let mut v: Vec<String> = list
        .trim_matches(|c| c == '(' || c == ')')
        .split_whitespace()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

/// What Postern says a message's flags are, in the same form.
fn postern_flags(md: &Maildir, msg: &MessageMeta) -> Vec<String> {
    let flags = msg.flags();
    let keywords = md.keywords().unwrap();
    let mut v: Vec<String> = flags.system.imap_names().map(str::to_owned).collect();
    v.extend(
        keywords
            .names_of(flags.keywords)
            .into_iter()
            .map(|c| c.into_owned()),
    );
    v.sort();
    v
}

/// An IMAP date-time (`"01-Jan-2020 10:00:00 +0100"`) as seconds since the epoch.
fn parse_internaldate(quoted: &str) -> u64 {
    let s = quoted.trim_matches('"').trim_start();
    let (date, rest) = s.split_once(' ').unwrap();
    let (time, zone) = rest.split_once(' ').unwrap();
    let mut d = date.split('-');
    let day: i64 = d.next().unwrap().parse().unwrap();
    let mon = d.next().unwrap();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == mon)
    .unwrap() as i64
        + 1;
    let year: i64 = d.next().unwrap().parse().unwrap();
    let t: Vec<i64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let zh: i64 = zone[1..3].parse().unwrap();
    let zm: i64 = zone[3..5].parse().unwrap();
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2] - sign * (zh * 3600 + zm * 60);
    secs as u64
}

fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn opts() -> StoreOptions {
    StoreOptions::default()
}

/// A mail root with INBOX's directories, served by Dovecot.
fn setup() -> (tempfile::TempDir, std::path::PathBuf, DovecotServer) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    let dovecot = DovecotServer::start(&root, USER, PASSWORD, &["imap"]);
    (tmp, root, dovecot)
}

/// Dovecot found nothing wrong with what Postern wrote.
fn assert_clean_log(dovecot: &DovecotServer) {
    let log = dovecot.log();
    for line in log.lines() {
        let bad = ["Error:", "Fatal:", "Panic:"]
            .iter()
            .any(|k| line.contains(k))
            || (line.contains("Warning:")
                && [
                    "uidlist", "dotlock", "uplicate", "lock", "keywords", "subscri",
                ]
                .iter()
                .any(|k| line.contains(k)));
        assert!(!bad, "dovecot complained: {line}\n{log}");
    }
}

/// Everything under the mail root belongs to its owner, whoever created it: Postern running
/// as root hands what it creates to the mailbox owner Dovecot reads mail as.
fn assert_owned_by_mail_user(root: &std::path::Path) {
    use std::os::unix::fs::MetadataExt;
    let owner = fs::metadata(root).unwrap().uid();
    fn walk(dir: &std::path::Path, owner: u32) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            assert_eq!(meta.uid(), owner, "{} has the wrong owner", path.display());
            if meta.is_dir() {
                walk(&path, owner);
            }
        }
    }
    walk(root, owner);
}

fn names(system: SystemFlags, keywords: &[&str]) -> NewFlags {
    NewFlags {
        system,
        keywords: keywords.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn postern_appends_dovecot_fetches_the_same() {
    let (_tmp, root, dovecot) = setup();
    let folders = Folders::open(&root, opts()).unwrap();
    let uid_validity = folders.create("Sent").unwrap();
    let sent = folders.open_folder("Sent").unwrap();
    let date = UNIX_EPOCH + Duration::from_secs(1_577_869_200); // 2020-01-01 09:00 UTC
    let messages: Vec<(Vec<u8>, NewFlags, Option<SystemTime>)> = vec![
        (
            b"From: a@example.org\r\nSubject: crlf\r\n\r\nbody\r\n".to_vec(),
            names(SystemFlags::SEEN, &["foo", "$Forwarded"]),
            Some(date),
        ),
        (
            b"Subject: lf only\n\nline\n".to_vec(),
            NewFlags::default(),
            None,
        ),
        (
            b"Subject: mixed\r\n\nx\r\ny\n".to_vec(),
            names(
                SystemFlags::ANSWERED.union(SystemFlags::FLAGGED),
                &["foo", "NonJunk"],
            ),
            Some(date + Duration::from_secs(3600)),
        ),
    ];
    let mut appended = Vec::new();
    for (bytes, flags, when) in &messages {
        let a = sent.append(bytes, flags, *when).unwrap();
        assert_eq!(a.uid_validity, uid_validity);
        appended.push(a);
    }
    assert_eq!(
        appended.iter().map(|a| a.uid).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );

    let mut imap = Imap::login(&dovecot);
    assert_eq!(imap.select("Sent"), uid_validity);
    let fetched = imap.fetch_all("UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[]");
    assert_eq!(fetched.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3]);
    let expected_flags = [
        vec!["$Forwarded", "\\Seen", "foo"],
        vec![],
        vec!["NonJunk", "\\Answered", "\\Flagged", "foo"],
    ];
    for (i, ((bytes, _, when), a)) in messages.iter().zip(&appended).enumerate() {
        let line = &fetched[&a.uid];
        assert_eq!(body(line), crlf(bytes), "message {}", a.uid);
        // ...and the file holds exactly the bytes given.
        let stored = sent.sync().unwrap();
        let meta = stored.messages.iter().find(|m| m.uid == a.uid).unwrap();
        assert_eq!(sent.read(meta).unwrap().as_bytes(), &bytes[..]);
        assert_eq!(
            flag_set(&item(line, "FLAGS")),
            expected_flags[i],
            "uid {}",
            a.uid
        );
        let size: u64 = item(line, "RFC822.SIZE").parse().unwrap();
        let wire = bytes.len() as u64
            + bytes
                .iter()
                .enumerate()
                .filter(|&(j, &b)| b == b'\n' && (j == 0 || bytes[j - 1] != b'\r'))
                .count() as u64;
        assert_eq!(size, wire, "uid {}", a.uid);
        let internal = parse_internaldate(&item(line, "INTERNALDATE"));
        match when {
            Some(t) => assert_eq!(internal, epoch_secs(*t)),
            None => assert!(internal.abs_diff(epoch_secs(SystemTime::now())) < 600),
        }
    }
    // And APPEND into INBOX: UIDNEXT moves past it.
    let inbox = Maildir::open(&root, opts()).unwrap();
    let a = inbox
        .append(b"Subject: in\r\n\r\n", &NewFlags::default(), None)
        .unwrap();
    assert_eq!(imap.select("INBOX"), a.uid_validity);
    assert_eq!(
        imap.fetch_all("UID").keys().copied().collect::<Vec<_>>(),
        vec![a.uid]
    );
    // Dovecot's own append goes on after ours.
    let code = imap.ok_code("APPEND Sent", Some(b"Subject: d\r\n\r\n"));
    assert_eq!(code, ["APPENDUID", &uid_validity.to_string(), "4"]);
    assert_clean_log(&dovecot);
    assert_owned_by_mail_user(&root);
}

#[test]
fn flags_and_keywords_agree_both_ways() {
    let (_tmp, root, dovecot) = setup();
    let mut imap = Imap::login(&dovecot);
    for n in 0..4 {
        imap.ok_code(
            "APPEND INBOX",
            Some(format!("Subject: {n}\r\n\r\nx\r\n").as_bytes()),
        );
    }
    imap.select("INBOX");
    imap.ok("STORE 1 +FLAGS ($Forwarded NonJunk \\Flagged)");
    imap.ok("STORE 2 +FLAGS (\\Seen \\Answered Work)");
    imap.ok("STORE 3 +FLAGS (\\Deleted \\Draft)");

    // Postern reads what Dovecot wrote.
    let md = Maildir::open(&root, opts()).unwrap();
    let inbox = md.sync().unwrap();
    let theirs = imap.fetch_all("UID FLAGS");
    assert_eq!(inbox.messages.len(), 4);
    for m in &inbox.messages {
        assert_eq!(
            postern_flags(&md, m),
            flag_set(&item(&theirs[&m.uid], "FLAGS")),
            "uid {}",
            m.uid
        );
    }

    // Postern changes flags; Dovecot sees them.
    let all: Vec<&MessageMeta> = inbox.messages.iter().collect();
    let add = FlagChange {
        op: FlagOp::Add,
        flags: names(SystemFlags::SEEN, &["nonjunk", "Postern-Tag"]),
    };
    let results = md.set_flags_many(&all, &add).unwrap();
    assert!(results.iter().all(Result::is_ok));
    let remove = FlagChange {
        op: FlagOp::Remove,
        flags: names(SystemFlags::FLAGGED, &["$Forwarded"]),
    };
    md.set_flags(&inbox.messages[0], &remove).unwrap();
    let replace = FlagChange {
        op: FlagOp::Replace,
        flags: names(SystemFlags::DRAFT, &[]),
    };
    md.set_flags(&inbox.messages[3], &replace).unwrap();
    // Dovecot notices the renames at its next sync, even within the same second.
    imap.ok("NOOP");
    let theirs = imap.fetch_all("UID FLAGS");
    let expected = [
        vec!["NonJunk", "Postern-Tag", "\\Seen"],
        vec!["NonJunk", "Postern-Tag", "Work", "\\Answered", "\\Seen"],
        vec!["NonJunk", "Postern-Tag", "\\Deleted", "\\Draft", "\\Seen"],
        vec!["\\Draft"],
    ];
    let synced = md.sync().unwrap();
    for (m, want) in synced.messages.iter().zip(expected) {
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(
            flag_set(&item(&theirs[&m.uid], "FLAGS")),
            want,
            "uid {}",
            m.uid
        );
        assert_eq!(postern_flags(&md, m), want, "postern, uid {}", m.uid);
    }
    assert_eq!(md.keywords().unwrap().index_of("Postern-Tag"), Some(3));

    // Dovecot changes them again while Postern holds an old listing: Postern applies its
    // change to the flags the file has now.
    imap.ok("STORE 1 +FLAGS (\\Answered)");
    let up = md
        .set_flags(
            &synced.messages[0],
            &FlagChange {
                op: FlagOp::Add,
                flags: names(SystemFlags::FLAGGED, &[]),
            },
        )
        .unwrap();
    assert!(
        up.flags
            .system
            .contains(SystemFlags::ANSWERED.union(SystemFlags::FLAGGED)),
        "{up:?}"
    );
    imap.ok("NOOP");
    let theirs = imap.fetch_all("UID FLAGS");
    assert_eq!(
        flag_set(&item(&theirs[&1], "FLAGS")),
        [
            "NonJunk",
            "Postern-Tag",
            "\\Answered",
            "\\Flagged",
            "\\Seen"
        ]
    );
    assert_clean_log(&dovecot);
    assert_owned_by_mail_user(&root);
}

#[test]
fn copies_agree_both_ways() {
    let (_tmp, root, dovecot) = setup();
    let mut imap = Imap::login(&dovecot);
    imap.ok("CREATE Archive");
    for n in 0..3 {
        imap.ok_code(
            "APPEND INBOX (\\Seen Work)",
            Some(format!("Subject: {n}\r\n\r\nbody {n}\r\n").as_bytes()),
        );
    }
    let folders = Folders::open(&root, opts()).unwrap();
    let inbox = folders.open_folder("INBOX").unwrap();
    let archive = folders.open_folder("Archive").unwrap();
    let listing = inbox.sync().unwrap();
    // Postern copies messages 3 and 1, in that order.
    let msgs = vec![&listing.messages[2], &listing.messages[0]];
    let copied = inbox.copy_to(&msgs, &archive).unwrap();
    assert_eq!(copied.uids, vec![(3, 1), (1, 2)]);
    assert_eq!(imap.select("Archive"), copied.uid_validity);
    let fetched = imap.fetch_all("UID FLAGS BODY.PEEK[]");
    assert_eq!(fetched.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(body(&fetched[&1]), b"Subject: 2\r\n\r\nbody 2\r\n");
    assert_eq!(body(&fetched[&2]), b"Subject: 0\r\n\r\nbody 0\r\n");
    assert_eq!(flag_set(&item(&fetched[&1], "FLAGS")), ["Work", "\\Seen"]);

    // Dovecot copies the same message again: Postern reads its copy (a new name, with the
    // GUID in the uidlist) with the UID Dovecot announced.
    imap.select("INBOX");
    let code = imap.ok_code("UID COPY 3 Archive", None);
    assert_eq!(code[0], "COPYUID");
    let dest_uid: u32 = code[3].parse().unwrap();
    let listed = archive.sync().unwrap();
    assert_eq!(listed.uid_validity, copied.uid_validity);
    let theirs = listed.messages.iter().find(|m| m.uid == dest_uid).unwrap();
    // Dovecot stored its APPEND with LF line ends; on the wire it is the same message.
    assert_eq!(
        crlf(archive.read(theirs).unwrap().as_bytes()),
        b"Subject: 2\r\n\r\nbody 2\r\n"
    );
    // And Postern copying after Dovecot continues its UIDs.
    let again = inbox.copy_to(&[&listing.messages[1]], &archive).unwrap();
    assert_eq!(again.uids, vec![(2, dest_uid + 1)]);
    assert_clean_log(&dovecot);
    assert_owned_by_mail_user(&root);
}

/// Postern's folder list in LIST's terms: name → (\Noselect, \HasChildren).
fn postern_list(folders: &Folders) -> BTreeMap<String, (bool, bool)> {
    folders
        .list()
        .unwrap()
        .into_iter()
        .map(|f| (f.name, (!f.selectable, f.has_children)))
        .collect()
}

fn dovecot_list(imap: &mut Imap) -> BTreeMap<String, (bool, bool)> {
    imap.list()
        .into_iter()
        .map(|(name, attrs)| {
            let noselect = attrs.iter().any(|a| a == "\\noselect");
            let children = attrs.iter().any(|a| a == "\\haschildren");
            (name, (noselect, children))
        })
        .collect()
}

/// Both servers list the same folders. One known difference is Dovecot's, not ours:
/// Dovecot 2.3.19's list index keeps showing a deleted folder that has children without
/// `\Noselect` (observed: `CREATE k`, `CREATE k.l`, `DELETE k` and `LIST` still shows `k`
/// as `\HasChildren` only, while `SELECT k` answers "Mailbox doesn't exist"). For such a
/// name we check what both servers agree on: it cannot be selected.
fn assert_same_folders(imap: &mut Imap, folders: &Folders, what: &str) {
    let ours = postern_list(folders);
    let mut theirs = dovecot_list(imap);
    for (name, (noselect, children)) in &ours {
        if *noselect && *children && theirs.get(name) == Some(&(false, true)) {
            let (_, status) = imap.run(&format!("SELECT \"{name}\""), None);
            assert!(
                status.starts_with("NO") && status.contains("doesn't exist"),
                "{what}: dovecot can select {name}: {status}"
            );
            theirs.insert(name.clone(), (true, true));
        }
    }
    assert_eq!(ours, theirs, "{what}");
}

#[test]
fn folders_agree_both_ways() {
    let (_tmp, root, dovecot) = setup();
    let folders = Folders::open(&root, opts()).unwrap();
    let mut imap = Imap::login(&dovecot);

    // Dovecot creates, Postern lists.
    for name in [
        "Sent",
        "a.b",
        "&ZeVnLIqe-",
        "x",
        "x.y",
        "x.y.z",
        "INBOX.kid",
    ] {
        imap.ok(&format!("CREATE \"{name}\""));
    }
    imap.ok("DELETE x");
    imap.ok("RENAME a r");
    assert_same_folders(&mut imap, &folders, "after Dovecot");
    assert!(
        postern_list(&folders)["x"].0,
        "deleted parent is \\Noselect"
    );

    // Postern creates, renames, deletes; Dovecot lists.
    folders.create("Drafts").unwrap();
    folders.create("p.q.r").unwrap();
    folders.create("Lists").unwrap();
    folders.create("Lists.rust").unwrap();
    folders.rename("Lists", "Mailing").unwrap();
    folders.delete("Sent").unwrap();
    folders.delete("x.y").unwrap();
    assert_same_folders(&mut imap, &folders, "after Postern");
    let ours = postern_list(&folders);
    assert!(ours.contains_key("Mailing.rust") && !ours.contains_key("Lists"));
    assert!(!ours.contains_key("Sent"));

    // Each side can select what the other created, with the same UIDVALIDITY.
    let v = imap.select("p.q.r");
    let md = folders.open_folder("p.q.r").unwrap();
    assert_eq!(md.sync().unwrap().uid_validity, v);
    imap.ok("CLOSE");
    let v = folders
        .open_folder("&ZeVnLIqe-")
        .unwrap()
        .sync()
        .unwrap()
        .uid_validity;
    assert_eq!(imap.select("&ZeVnLIqe-"), v);
    imap.ok("CLOSE");
    assert_clean_log(&dovecot);
    assert_owned_by_mail_user(&root);
}

#[test]
fn subscriptions_agree_both_ways() {
    let (_tmp, root, dovecot) = setup();
    let folders = Folders::open(&root, opts()).unwrap();
    let mut imap = Imap::login(&dovecot);
    for name in ["Sent", "a.b", "&ZeVnLIqe-"] {
        imap.ok(&format!("CREATE \"{name}\""));
        imap.ok(&format!("SUBSCRIBE \"{name}\""));
    }
    imap.ok("SUBSCRIBE INBOX");
    let mut ours = folders.subscriptions().unwrap();
    ours.sort();
    assert_eq!(ours, imap.lsub());

    folders.create("Drafts").unwrap();
    assert!(folders.subscribe("Drafts").unwrap());
    assert!(folders.unsubscribe("Sent").unwrap());
    assert!(!folders.unsubscribe("Sent").unwrap());
    let mut ours = folders.subscriptions().unwrap();
    ours.sort();
    assert_eq!(imap.lsub(), ours);
    assert_eq!(ours, ["&ZeVnLIqe-", "Drafts", "INBOX", "a.b"]);
    // Dovecot keeps writing the file Postern wrote.
    imap.ok("UNSUBSCRIBE a.b");
    assert_eq!(
        fs::read(root.join("subscriptions")).unwrap(),
        b"V\t2\n\n&ZeVnLIqe-\nINBOX\nDrafts\n"
    );
    assert_clean_log(&dovecot);
    assert_owned_by_mail_user(&root);
}

/// RENAME INBOX, which Dovecot refuses for Maildir++ (`NO [CANNOT] Renaming INBOX isn't
/// supported`) and Postern does as RFC 3501 says: Dovecot then finds the messages, flags
/// and keywords in the new folder under the UIDs Postern gave them, and INBOX empty.
#[test]
fn renamed_inbox_is_seen_by_dovecot() {
    let (_tmp, root, dovecot) = setup();
    let mut imap = Imap::login(&dovecot);
    imap.ok_code(
        "APPEND INBOX (\\Seen Work)",
        Some(b"Subject: 1\r\n\r\none\r\n"),
    );
    imap.ok_code("APPEND INBOX", Some(b"Subject: 2\r\n\r\ntwo\r\n"));
    imap.ok("CREATE INBOX.kid");
    imap.select("INBOX");
    let (_, refused) = imap.run("RENAME INBOX Dovecot-Old", None);
    assert!(refused.starts_with("NO"), "{refused}");
    imap.ok("CLOSE");

    let folders = Folders::open(&root, opts()).unwrap();
    folders.rename("INBOX", "Old").unwrap();
    let old = folders.open_folder("Old").unwrap();
    let moved = old.sync().unwrap();
    assert_eq!(imap.select("Old"), moved.uid_validity);
    let fetched = imap.fetch_all("UID FLAGS BODY.PEEK[]");
    assert_eq!(
        fetched.keys().copied().collect::<Vec<_>>(),
        moved.messages.iter().map(|m| m.uid).collect::<Vec<_>>()
    );
    assert_eq!(flag_set(&item(&fetched[&1], "FLAGS")), ["Work", "\\Seen"]);
    assert_eq!(body(&fetched[&2]), b"Subject: 2\r\n\r\ntwo\r\n");
    imap.select("INBOX");
    assert!(imap.fetch_all("UID").is_empty());
    assert!(dovecot_list(&mut imap).contains_key("INBOX.kid"));
    assert_clean_log(&dovecot);
    assert_owned_by_mail_user(&root);
}

/// Dovecot and Postern appending to one folder at the same time never hand out a UID
/// twice, and afterwards both list every message under the UID its appender reported.
#[test]
fn concurrent_appends_never_share_a_uid() {
    let (_tmp, root, dovecot) = setup();
    let folders = Folders::open(&root, opts()).unwrap();
    folders.create("Shared").unwrap();
    let shared = folders.open_folder("Shared").unwrap();
    let (ours, theirs) = std::thread::scope(|s| {
        let dovecot_side = s.spawn(|| {
            let mut imap = Imap::login(&dovecot);
            (0..25)
                .map(|n| {
                    let msg = format!("Subject: dovecot {n}\r\n\r\nd\r\n");
                    let code = imap.ok_code("APPEND Shared", Some(msg.as_bytes()));
                    assert_eq!(code[0], "APPENDUID");
                    (code[2].parse::<u32>().unwrap(), msg.into_bytes())
                })
                .collect::<Vec<_>>()
        });
        let ours: Vec<(u32, Vec<u8>)> = (0..25)
            .map(|n| {
                let msg = format!("Subject: postern {n}\r\n\r\np\r\n").into_bytes();
                let a = shared.append(&msg, &NewFlags::default(), None).unwrap();
                (a.uid, msg)
            })
            .collect();
        (ours, dovecot_side.join().unwrap())
    });
    let mut expected: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    for (uid, msg) in ours.into_iter().chain(theirs) {
        assert!(expected.insert(uid, msg).is_none(), "UID {uid} given twice");
    }
    let mut imap = Imap::login(&dovecot);
    imap.select("Shared");
    let fetched = imap.fetch_all("UID BODY.PEEK[]");
    assert_eq!(fetched.len(), 50);
    for (uid, msg) in &expected {
        assert_eq!(&body(&fetched[uid]), msg, "uid {uid}");
    }
    let listed = shared.sync().unwrap();
    for m in &listed.messages {
        assert_eq!(
            crlf(shared.read(m).unwrap().as_bytes()),
            expected[&m.uid],
            "uid {}",
            m.uid
        );
    }
    assert_eq!(listed.messages.len(), 50);
    assert_eq!(
        imap.status("Shared"),
        (50, listed.next_uid, listed.uid_validity)
    );
    assert_eq!(listed.next_uid, 51);
    assert_clean_log(&dovecot);
    assert_owned_by_mail_user(&root);
}
