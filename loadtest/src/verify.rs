//! Checking that what a server answered is right, not just fast.
//!
//! A server (or a proxy in front of it) that answers quickly with truncated, duplicated or
//! mixed-up messages would win any benchmark that only measures time. So every session checks
//! what it can for free — that the counts, sizes and unique ids the server gives agree with
//! each other and with the bytes it sends — and, when it knows where the mail is stored, a
//! sample of messages byte for byte against their files.
//!
//! Finding a message's file: POP3 and IMAP both list messages in UID order, and the UIDs are
//! those in the Maildir's `dovecot-uidlist` (written by Dovecot and by Postern), which maps
//! each UID to the file's base name (the part before `:2,flags`). The file is then
//! `cur/<base>:2,...` or `new/<base>`. On the wire the message is the file with every bare LF
//! turned into CRLF.
//!
//! Errors have report kinds `verify-count`, `verify-size`, `verify-uid`, `verify-bytes`, and
//! `verify-setup` when byte checks were asked for but cannot be done (no uidlist, say).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::proto::imap::Fetch;

/// A wrong (or uncheckable) answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("message counts disagree: {0}")]
    Count(String),
    #[error("message size wrong: {0}")]
    Size(String),
    #[error("UIDs wrong: {0}")]
    Uid(String),
    #[error("message bytes differ from the stored file: {0}")]
    Bytes(String),
    #[error("cannot verify message bytes: {0}")]
    Setup(String),
}

impl VerifyError {
    /// The error class for the report.
    pub fn kind(&self) -> &'static str {
        match self {
            VerifyError::Count(_) => "verify-count",
            VerifyError::Size(_) => "verify-size",
            VerifyError::Uid(_) => "verify-uid",
            VerifyError::Bytes(_) => "verify-bytes",
            VerifyError::Setup(_) => "verify-setup",
        }
    }
}

/// The wire form of stored bytes: every LF not preceded by CR becomes CRLF.
pub fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32 + 2);
    let mut prev = 0u8;
    for &b in bytes {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// POP3: STAT, LIST and UIDL must describe the same messages — same count, sizes adding up
/// to STAT's total, message numbers 1..n in order, unique ids unique.
pub fn pop3_listing(
    stat: (u32, u64),
    list: &[(u32, u64)],
    uidl: &[(u32, String)],
) -> Vec<VerifyError> {
    let mut errors = Vec::new();
    let (count, total) = stat;
    if list.len() as u64 != u64::from(count) || uidl.len() as u64 != u64::from(count) {
        errors.push(VerifyError::Count(format!(
            "STAT says {count}, LIST lists {}, UIDL lists {}",
            list.len(),
            uidl.len()
        )));
    }
    let sum: u64 = list.iter().map(|&(_, s)| s).sum();
    if sum != total {
        errors.push(VerifyError::Size(format!(
            "STAT total {total} but LIST sizes add up to {sum}"
        )));
    }
    if let Some((i, &(n, _))) = list
        .iter()
        .enumerate()
        .find(|&(i, &(n, _))| u64::from(n) != i as u64 + 1)
    {
        errors.push(VerifyError::Count(format!(
            "LIST entry {} is message {n}",
            i + 1
        )));
    }
    if let Some((i, (n, _))) = uidl
        .iter()
        .enumerate()
        .find(|&(i, (n, _))| u64::from(*n) != i as u64 + 1)
    {
        errors.push(VerifyError::Uid(format!(
            "UIDL entry {} is message {n}",
            i + 1
        )));
    }
    let mut seen = HashSet::with_capacity(uidl.len());
    if let Some((n, id)) = uidl.iter().find(|(_, id)| !seen.insert(id.as_str())) {
        errors.push(VerifyError::Uid(format!(
            "UIDL {id:?} of message {n} is not unique"
        )));
    }
    errors
}

/// POP3: a retrieved message's length after un-dot-stuffing against its LIST size. A message
/// stored without a final line end gets a CRLF on the wire that the size may not count.
pub fn pop3_size(msg: u32, listed: u64, received: u64) -> Result<(), VerifyError> {
    if received == listed || received == listed + 2 {
        Ok(())
    } else {
        Err(VerifyError::Size(format!(
            "message {msg}: LIST says {listed} bytes, RETR sent {received}"
        )))
    }
}

/// IMAP: the FETCH responses to `UID FETCH 1:*` must be one per message (as many as an EXISTS
/// count announced), with sequence numbers 1..n, every message's UID and size, and UIDs
/// strictly ascending in sequence order.
pub fn imap_listing(exists: &[u32], fetches: &[Fetch]) -> Vec<VerifyError> {
    let mut errors = Vec::new();
    let n = fetches.len() as u64;
    if !exists.iter().any(|&e| u64::from(e) == n) {
        errors.push(VerifyError::Count(format!(
            "EXISTS said {exists:?} but UID FETCH 1:* returned {n} messages"
        )));
    }
    let mut by_seq: Vec<&Fetch> = fetches.iter().collect();
    by_seq.sort_by_key(|f| f.seq);
    for (i, f) in by_seq.iter().enumerate() {
        if u64::from(f.seq) != i as u64 + 1 {
            errors.push(VerifyError::Count(format!(
                "FETCH responses: sequence number {} where {} was due (missing or duplicate)",
                f.seq,
                i + 1
            )));
            break;
        }
    }
    let mut prev: Option<u32> = None;
    for f in &by_seq {
        let Some(uid) = f.uid else {
            errors.push(VerifyError::Uid(format!("message {} has no UID", f.seq)));
            break;
        };
        if prev.is_some_and(|p| uid <= p) {
            errors.push(VerifyError::Uid(format!(
                "UID {uid} of message {} not above the previous UID {}",
                f.seq,
                prev.unwrap_or(0)
            )));
            break;
        }
        prev = Some(uid);
    }
    if let Some(f) = by_seq.iter().find(|f| f.size.is_none()) {
        errors.push(VerifyError::Size(format!(
            "message {} has no RFC822.SIZE",
            f.seq
        )));
    }
    errors
}

/// IMAP: a BODY[] literal's length against RFC822.SIZE.
pub fn imap_size(uid: u32, size: u64, literal: u64) -> Result<(), VerifyError> {
    if size == literal {
        Ok(())
    } else {
        Err(VerifyError::Size(format!(
            "UID {uid}: RFC822.SIZE {size} but BODY[] has {literal} bytes"
        )))
    }
}

/// Compares received bytes with a stored file's wire form. `extra_crlf_ok` admits the CRLF a
/// POP3 server adds to a message without a final line end.
pub fn compare(
    what: &str,
    received: &[u8],
    file: &[u8],
    extra_crlf_ok: bool,
) -> Result<(), VerifyError> {
    let expected = crlf(file);
    if received == expected.as_slice() {
        return Ok(());
    }
    if extra_crlf_ok
        && !expected.ends_with(b"\n")
        && received.len() == expected.len() + 2
        && received.starts_with(&expected)
        && received.ends_with(b"\r\n")
    {
        return Ok(());
    }
    let at = received
        .iter()
        .zip(expected.iter())
        .position(|(a, b)| a != b)
        .unwrap_or(received.len().min(expected.len()));
    Err(VerifyError::Bytes(format!(
        "{what}: first difference at byte {at} (received {} bytes, file has {} in wire form)",
        received.len(),
        expected.len()
    )))
}

/// The Maildir path for `user` from a template: `%u` the user name, `%n` its local part,
/// `%d` its domain, `%%` a percent sign.
pub fn expand_template(template: &str, user: &str) -> PathBuf {
    let (local, domain) = user.split_once('@').unwrap_or((user, ""));
    let mut out = String::with_capacity(template.len() + user.len());
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('u') => out.push_str(user),
            Some('n') => out.push_str(local),
            Some('d') => out.push_str(domain),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    PathBuf::from(out)
}

/// A Maildir as the store sees it: `dovecot-uidlist` records and the message files present.
#[derive(Debug, Clone)]
pub struct MaildirView {
    pub dir: PathBuf,
    pub uid_validity: u32,
    /// (UID, base name), ascending UID.
    pub records: Vec<(u32, String)>,
    /// Base name → file path, for files in `cur/` and `new/`.
    pub files: HashMap<String, PathBuf>,
}

/// The uidlist's UIDVALIDITY and (UID, base name) records. Accepts versions 1 and 3.
pub fn parse_uidlist(data: &[u8]) -> Result<(u32, Vec<(u32, String)>), String> {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let header = lines.next().ok_or("empty uidlist")?;
    let mut fields = header.split(' ');
    let version = fields.next().unwrap_or("");
    let uid_validity = match version {
        "3" => fields
            .find_map(|f| f.strip_prefix('V'))
            .and_then(|v| v.parse().ok()),
        "1" => fields.next().and_then(|v| v.parse().ok()),
        _ => None,
    }
    .ok_or_else(|| format!("unreadable uidlist header {header:?}"))?;
    let mut records = Vec::new();
    // The last piece is either empty or a record still being appended: skip it.
    let body: Vec<&str> = lines.collect();
    let complete = &body[..body.len().saturating_sub(1)];
    for line in complete {
        let (uid, rest) = line
            .split_once(' ')
            .ok_or_else(|| format!("bad uidlist line {line:?}"))?;
        let uid: u32 = uid
            .parse()
            .map_err(|_| format!("bad uidlist line {line:?}"))?;
        let name = if version == "3" {
            // Extension fields (`W120`, `S118`, ...) come first; the name follows the first
            // field that starts with ':'.
            let mut fields = rest.trim_start_matches(' ');
            loop {
                if let Some(name) = fields.strip_prefix(':') {
                    break name;
                }
                match fields.find(' ') {
                    Some(i) => fields = fields[i..].trim_start_matches(' '),
                    None => return Err(format!("bad uidlist line {line:?}")),
                }
            }
        } else {
            rest.trim_start_matches(' ')
        };
        let base = name.split(':').next().unwrap_or("").to_owned();
        if base.is_empty() {
            return Err(format!("bad uidlist line {line:?}"));
        }
        // A base name appended again later wins (Dovecot's rule), keeping UIDs ascending.
        records.retain(|(_, b): &(u32, String)| *b != base);
        records.push((uid, base));
    }
    Ok((uid_validity, records))
}

impl MaildirView {
    /// Reads the uidlist and lists `cur/` and `new/` (blocking; run off the event loop).
    pub fn load(dir: &Path) -> Result<MaildirView, VerifyError> {
        let uidlist = dir.join("dovecot-uidlist");
        let data = std::fs::read(&uidlist)
            .map_err(|e| VerifyError::Setup(format!("cannot read {}: {e}", uidlist.display())))?;
        let (uid_validity, records) = parse_uidlist(&data)
            .map_err(|e| VerifyError::Setup(format!("{}: {e}", uidlist.display())))?;
        let mut files = HashMap::new();
        for sub in ["new", "cur"] {
            let entries = std::fs::read_dir(dir.join(sub)).map_err(|e| {
                VerifyError::Setup(format!("cannot list {}/{sub}: {e}", dir.display()))
            })?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let base = name.split(':').next().unwrap_or("").to_owned();
                // cur/ is listed last and wins: a file is in new/ only until first seen.
                files.insert(base, entry.path());
            }
        }
        Ok(MaildirView {
            dir: dir.to_path_buf(),
            uid_validity,
            records,
            files,
        })
    }

    /// [`load`](Self::load) on the blocking thread pool.
    pub async fn load_async(dir: PathBuf) -> Result<MaildirView, VerifyError> {
        tokio::task::spawn_blocking(move || MaildirView::load(&dir))
            .await
            .map_err(|e| VerifyError::Setup(format!("maildir scan failed: {e}")))?
    }

    /// The file holding the message with this UID.
    pub fn file_for_uid(&self, uid: u32) -> Option<&Path> {
        let i = self.records.binary_search_by_key(&uid, |&(u, _)| u).ok()?;
        self.files.get(&self.records[i].1).map(PathBuf::as_path)
    }

    /// The file of the `pos`-th (0-based) message a session sees: the records whose files
    /// exist, in UID order — how POP3 numbers messages.
    pub fn file_at(&self, pos: usize) -> Option<&Path> {
        self.records
            .iter()
            .filter_map(|(_, base)| self.files.get(base))
            .nth(pos)
            .map(PathBuf::as_path)
    }

    /// The UID inside a POP3 unique id in Dovecot's default format (`%08Xu%08Xv`: UID, then
    /// UIDVALIDITY, eight hex digits each), if it is one and its UIDVALIDITY is this
    /// Maildir's.
    pub fn uid_from_uidl(&self, uidl: &str) -> Option<u32> {
        if uidl.len() != 16 || !uidl.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let uid = u32::from_str_radix(&uidl[..8], 16).ok()?;
        let validity = u32::from_str_radix(&uidl[8..], 16).ok()?;
        (validity == self.uid_validity).then_some(uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_normalisation() {
        assert_eq!(crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert_eq!(crlf(b"\n"), b"\r\n");
        assert_eq!(crlf(b"a\rb"), b"a\rb");
    }

    #[test]
    fn pop3_listing_checks() {
        let list = vec![(1, 10), (2, 20)];
        let uidl = vec![(1, "a".to_owned()), (2, "b".to_owned())];
        assert!(pop3_listing((2, 30), &list, &uidl).is_empty());
        let kinds = |e: Vec<VerifyError>| e.iter().map(|e| e.kind()).collect::<Vec<_>>();
        assert_eq!(kinds(pop3_listing((3, 30), &list, &uidl)), ["verify-count"]);
        assert_eq!(kinds(pop3_listing((2, 31), &list, &uidl)), ["verify-size"]);
        let dup = vec![(1, "a".to_owned()), (2, "a".to_owned())];
        assert_eq!(kinds(pop3_listing((2, 30), &list, &dup)), ["verify-uid"]);
        assert!(pop3_size(1, 10, 10).is_ok());
        assert!(pop3_size(1, 10, 12).is_ok());
        assert_eq!(pop3_size(1, 10, 11).unwrap_err().kind(), "verify-size");
    }

    #[test]
    fn imap_listing_checks() {
        let f = |seq, uid| Fetch {
            seq,
            uid: Some(uid),
            size: Some(5),
            ..Fetch::default()
        };
        assert!(imap_listing(&[2], &[f(1, 3), f(2, 9)]).is_empty());
        assert_eq!(
            imap_listing(&[3], &[f(1, 3), f(2, 9)])[0].kind(),
            "verify-count"
        );
        assert_eq!(
            imap_listing(&[2], &[f(1, 9), f(2, 3)])[0].kind(),
            "verify-uid"
        );
        assert_eq!(
            imap_listing(&[2], &[f(1, 3), f(1, 3)])[0].kind(),
            "verify-count"
        );
        assert_eq!(imap_size(1, 5, 6).unwrap_err().kind(), "verify-size");
    }

    #[test]
    fn compare_bytes() {
        assert!(compare("m", b"a\r\nb\r\n", b"a\nb\n", false).is_ok());
        assert_eq!(
            compare("m", b"a\r\nc\r\n", b"a\nb\n", false)
                .unwrap_err()
                .kind(),
            "verify-bytes"
        );
        assert!(compare("m", b"a\r\nb\r\n", b"a\nb", true).is_ok());
        assert!(compare("m", b"a\r\nb\r\n", b"a\nb", false).is_err());
    }

    #[test]
    fn uidlist_formats() {
        let v3 = b"3 V1700000000 N4 G0123456789abcdef0123456789abcdef\n\
                   1 :1.M1P1.host\n2 W120 S118 :2.M2P2.host,S=118:2,S\n3 :3.M3P3.host\n4 :partial";
        let (v, recs) = parse_uidlist(v3).unwrap();
        assert_eq!(v, 1_700_000_000);
        assert_eq!(
            recs,
            vec![
                (1, "1.M1P1.host".to_owned()),
                (2, "2.M2P2.host,S=118".to_owned()),
                (3, "3.M3P3.host".to_owned())
            ]
        );
        let (v, recs) = parse_uidlist(b"1 42 3\n1 a.host\n2 b.host:2,\n").unwrap();
        assert_eq!((v, recs.len()), (42, 2));
        assert_eq!(recs[1].1, "b.host");
        assert!(parse_uidlist(b"").is_err());
        assert!(parse_uidlist(b"3 N4\n").is_err());
        assert!(parse_uidlist(b"3 V1 N2\nx :y\n").is_err());
    }

    #[test]
    fn templates() {
        assert_eq!(
            expand_template("/m/%d/%n/Maildir", "bob@example.org"),
            PathBuf::from("/m/example.org/bob/Maildir")
        );
        assert_eq!(
            expand_template("/h/%u/%%/%x", "al"),
            PathBuf::from("/h/al/%/%x")
        );
    }

    #[test]
    fn dovecot_uidl() {
        let view = MaildirView {
            dir: PathBuf::new(),
            uid_validity: 0x6b09d1c3,
            records: vec![],
            files: HashMap::new(),
        };
        assert_eq!(view.uid_from_uidl("000000036b09d1c3"), Some(3));
        assert_eq!(view.uid_from_uidl("000000036b09d1c4"), None);
        assert_eq!(view.uid_from_uidl("xyz"), None);
    }
}
