//! Copying messages between folders (IMAP COPY, and the first half of MOVE), as Dovecot's
//! maildir copy does it.
//!
//! Each source file is hard-linked (or, where linking is impossible, copied with its mtime)
//! to the destination's `tmp/`; then, under the destination's uidlist lock, keyword names
//! are translated to the destination's letters, each file is renamed into `cur/` or `new/`
//! and given the next UID, in the order the caller listed the messages. The copy keeps the
//! source's base name (Dovecot's maildir GUID), unless the destination already has a message
//! with that name; then it gets a new name and a `G<guid>` uidlist field, as in Dovecot.
//!
//! Nothing reaches the destination before it is complete, and the source is never touched:
//! a MOVE that deletes the source only after this returned can leave a message in both
//! folders after a crash, never in neither. A copy that fails halfway takes back what it had
//! placed, so the destination is as it was (RFC 3501 COPY).

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::append::{placed_name, write_tmp};
use super::filename::{base, wire_size_hint};
use super::flags::{Flags, KeywordSet};
use super::fsutil::{IoContext, fsync_dir, io_err, is_not_found};
use super::keywords::Keywords;
use super::maildir::{Maildir, MessageMeta};
use super::setflags::add_keywords_locked;
use super::uidlist::{self, EXT_WIRE_SIZE, Record};
use super::{StoreError, read, scan, unique, writer};

/// The outcome of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The destination's UIDVALIDITY, for `COPYUID`.
    pub uid_validity: u32,
    /// `(source UID, destination UID)` in the order the messages were given.
    pub uids: Vec<(u32, u32)>,
    /// Source messages that were expunged before they could be copied.
    pub missing: Vec<u32>,
}

/// Uidlist extension key of the message GUID (Dovecot's `MAILDIR_UIDLIST_REC_EXT_GUID`).
const EXT_GUID: u8 = b'G';

/// A source message linked or copied into the destination's `tmp/`.
struct Staged {
    uid: u32,
    tmp: PathBuf,
    /// The source's GUID: its `G` field, or else its base name.
    guid: Vec<u8>,
    flags: Flags,
    keyword_names: Vec<String>,
    wire_size: u64,
}

pub(super) fn copy(
    src: &Maildir,
    msgs: &[&MessageMeta],
    dest: &Maildir,
) -> Result<Copied, StoreError> {
    let src_keywords = Keywords::load(src.dir())?;
    let guids = source_guids(src);
    let mut staged = Vec::with_capacity(msgs.len());
    let mut missing = Vec::new();
    for msg in msgs {
        match stage(src, msg, dest, &src_keywords, &guids) {
            Ok(Some(s)) => staged.push(s),
            Ok(None) => missing.push(msg.uid),
            Err(e) => {
                discard(&staged);
                return Err(e);
            }
        }
    }
    let result = place(dest, &staged);
    if result.is_err() {
        discard(&staged);
    }
    result.map(|(uid_validity, uids)| Copied {
        uid_validity,
        uids,
        missing,
    })
}

/// GUIDs recorded in the source's uidlist (`G` fields of earlier copies).
fn source_guids(src: &Maildir) -> HashMap<Vec<u8>, Vec<u8>> {
    match uidlist::load(src.dir()) {
        Ok(Some(list)) => list
            .records
            .iter()
            .filter_map(|r| Some((r.base.clone(), r.ext(EXT_GUID)?.to_vec())))
            .collect(),
        _ => HashMap::new(),
    }
}

/// Links (or copies) one message into the destination's `tmp/`; `None` if it is gone.
fn stage(
    src: &Maildir,
    msg: &MessageMeta,
    dest: &Maildir,
    src_keywords: &Keywords,
    guids: &HashMap<Vec<u8>, Vec<u8>>,
) -> Result<Option<Staged>, StoreError> {
    let key = base(msg.filename.as_bytes());
    let tmp = dest.dir().join("tmp").join(unique::base_name());
    let mut path = src.dir().join("cur").join(&msg.filename);
    for attempt in 0..3 {
        match fs::hard_link(&path, &tmp) {
            Ok(()) => break,
            Err(e) if is_not_found(&e) => {
                // Renamed by a flag change since the listing, or expunged.
                match scan::find_by_base(src.dir(), key)? {
                    Some(p) if attempt < 2 => path = p,
                    _ => return Ok(None),
                }
            }
            Err(e) if cannot_link(&e) => {
                if !copy_bytes(&path, &tmp, dest)? {
                    match scan::find_by_base(src.dir(), key)? {
                        Some(p) if attempt < 2 => path = p,
                        _ => return Ok(None),
                    }
                    continue;
                }
                break;
            }
            Err(e) => return Err(io_err(tmp, e)),
        }
    }
    if !tmp.exists() {
        return Ok(None);
    }
    let name = path
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_default();
    let flags = Flags::from_filename(&name);
    let keyword_names = flags
        .keywords
        .iter()
        .map(|i| src_keywords.display_name(i).into_owned())
        .collect();
    Ok(Some(Staged {
        uid: msg.uid,
        tmp,
        guid: guids.get(key).cloned().unwrap_or_else(|| key.to_vec()),
        flags,
        keyword_names,
        wire_size: msg.size,
    }))
}

/// Errors after which Dovecot falls back from `link()` to copying the bytes.
fn cannot_link(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EXDEV | libc::EPERM | libc::EMLINK | libc::EACCES | libc::EEXIST)
    ) || e.kind() == io::ErrorKind::Unsupported
}

/// Copies a file's bytes and mtime into `tmp`; `false` if the source is gone.
fn copy_bytes(from: &Path, tmp: &Path, dest: &Maildir) -> Result<bool, StoreError> {
    let body = match read::map_path(from) {
        Ok(b) => b,
        Err(StoreError::Io { source, .. }) if is_not_found(&source) => return Ok(false),
        Err(e) => return Err(e),
    };
    let mtime = fs::metadata(from).and_then(|m| m.modified()).ok();
    let name = tmp
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    write_tmp(
        dest.dir(),
        &name,
        body.as_bytes(),
        mtime,
        dest.create_mode(),
        dest.options().fsync,
    )?;
    Ok(true)
}

/// Under the destination's uidlist lock: keyword letters, final names, UIDs.
fn place(dest: &Maildir, staged: &[Staged]) -> Result<(u32, Vec<(u32, u32)>), StoreError> {
    let root = dest.dir();
    let mut locked = writer::lock(dest)?;
    if staged.is_empty() {
        // Every source message was gone: nothing to write, but COPYUID needs the validity.
        return Ok((locked.list.uid_validity, Vec::new()));
    }
    let names: Vec<String> = {
        let mut all: Vec<String> = Vec::new();
        for s in staged {
            for n in &s.keyword_names {
                if !all.iter().any(|a| a.eq_ignore_ascii_case(n)) {
                    all.push(n.clone());
                }
            }
        }
        all
    };
    let keywords = match add_keywords_locked(dest, &names) {
        Ok((_, k)) => k,
        Err(StoreError::TooManyKeywords) => {
            // The message matters more than a keyword the folder has no letter for.
            tracing::warn!(folder = %root.display(), "destination has no room for more keywords; copying without them");
            let mut k = Keywords::load(root)?;
            for n in &names {
                if k.add(n).is_err() {
                    break;
                }
            }
            k.store(root, dest.create_mode(), dest.options().fsync)?;
            k
        }
        Err(e) => return Err(e),
    };
    let mut taken: HashSet<Vec<u8>> = locked.list.records.iter().map(|r| r.base.clone()).collect();
    taken.extend(scan::list(root)?.into_keys());

    let mut placed: Vec<PathBuf> = Vec::new();
    let mut uids = Vec::with_capacity(staged.len());
    let mut used_new = false;
    let outcome = (|| {
        for s in staged {
            let mut set = KeywordSet::empty();
            for n in &s.keyword_names {
                if let Some(i) = keywords.index_of(n) {
                    set.insert(i);
                }
            }
            let flags = Flags {
                system: s.flags.system,
                keywords: set,
            };
            let mut ext = Vec::new();
            let dest_base = if taken.contains(&s.guid) || s.guid.contains(&b'/') {
                let mut field = vec![EXT_GUID];
                field.extend_from_slice(&s.guid);
                ext.push(field);
                let len = fs::metadata(&s.tmp).at(&s.tmp)?.len();
                format!("{},S={len},W={}", unique::base_name(), s.wire_size).into_bytes()
            } else {
                s.guid.clone()
            };
            if wire_size_hint(&dest_base).is_none() {
                let mut field = vec![EXT_WIRE_SIZE];
                field.extend_from_slice(s.wire_size.to_string().as_bytes());
                ext.push(field);
            }
            let (sub, name) = placed_name(&dest_base, flags);
            used_new |= sub == "new";
            let to = root.join(sub).join(OsStr::from_bytes(&name));
            // rename() would replace a file of the same name; link() refuses to.
            match fs::hard_link(&s.tmp, &to) {
                Ok(()) => {
                    let _ = fs::remove_file(&s.tmp);
                }
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists && cannot_link(&e) => {
                    fs::rename(&s.tmp, &to).at(&to)?;
                }
                Err(e) => return Err(io_err(to, e)),
            }
            placed.push(to);
            if locked.list.next_uid == u32::MAX {
                return Err(StoreError::Corrupt {
                    path: root.join(uidlist::NAME),
                    reason: "UID space exhausted; the mailbox needs a new UIDVALIDITY".into(),
                });
            }
            let uid = locked.list.next_uid;
            locked.list.next_uid += 1;
            locked.list.records.push(Record {
                uid,
                ext,
                base: dest_base.clone(),
            });
            taken.insert(dest_base);
            uids.push((s.uid, uid));
        }
        if dest.options().fsync {
            fsync_dir(&root.join("cur"))?;
            if used_new {
                fsync_dir(&root.join("new"))?;
            }
        }
        locked.commit(dest)
    })();
    if let Err(e) = outcome {
        // Take back what was placed: the source still has every message.
        for p in &placed {
            let _ = fs::remove_file(p);
        }
        return Err(e);
    }
    Ok((locked.list.uid_validity, uids))
}

/// Removes staged files that will not be placed.
fn discard(staged: &[Staged]) {
    for s in staged {
        let _ = fs::remove_file(&s.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::flags::SystemFlags;
    use crate::store::testutil::TestMaildir;
    use crate::store::{StoreOptions, owner};
    use std::os::unix::fs::MetadataExt;
    use std::time::Duration;

    #[test]
    fn copies_with_flags_keywords_and_links() {
        let src_t = TestMaildir::new();
        let dst_t = TestMaildir::new();
        src_t.put("cur", "1.M1.a,S=2:2,FSb", b"a\n");
        src_t.put("cur", "2.M1.b:2,", b"b\n");
        fs::write(
            src_t.root().join("dovecot-keywords"),
            "0 $Forwarded\n1 NonJunk\n",
        )
        .unwrap();
        let src = src_t.open();
        let dst = dst_t.open();
        let inbox = src.sync().unwrap();
        let msgs: Vec<&MessageMeta> = inbox.messages.iter().rev().collect();
        let c = src.copy_to(&msgs, &dst).unwrap();
        assert_eq!(c.uids, vec![(2, 1), (1, 2)]);
        assert!(c.missing.is_empty());
        // NonJunk is the destination's first keyword: letter a.
        let copied = dst_t.root().join("cur/1.M1.a,S=2:2,FSa");
        assert!(copied.exists());
        assert!(dst_t.root().join("new/2.M1.b").exists());
        assert_eq!(
            fs::metadata(&copied).unwrap().ino(),
            fs::metadata(src_t.root().join("cur/1.M1.a,S=2:2,FSb"))
                .unwrap()
                .ino()
        );
        assert_eq!(dst.keywords().unwrap().name(0), Some("NonJunk"));
        let list = dst.sync().unwrap();
        assert_eq!(list.uid_validity, c.uid_validity);
        let flags = list.messages[1].flags();
        assert_eq!(flags.system, SystemFlags::FLAGGED.union(SystemFlags::SEEN));
        assert_eq!(fs::read_dir(dst_t.root().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn second_copy_gets_new_name_and_guid_field() {
        let src_t = TestMaildir::new();
        src_t.put("cur", "1.M1.a:2,S", b"a\n");
        let src = src_t.open();
        let inbox = src.sync().unwrap();
        let msgs: Vec<&MessageMeta> = inbox.messages.iter().collect();
        // Copy into the same folder: the base name is taken.
        let c = src.copy_to(&msgs, &src).unwrap();
        assert_eq!(c.uids, vec![(1, 2)]);
        let text = src_t.uidlist();
        let line = text.lines().find(|l| l.starts_with("2 ")).unwrap();
        // The new name carries both sizes, so no W field is needed.
        assert!(line.starts_with("2 G1.M1.a :"), "{line}");
        assert!(line.ends_with(",S=2,W=3"), "{line}");
        let inbox = src.sync().unwrap();
        assert_eq!(inbox.messages.len(), 2);
        assert_eq!(inbox.messages[1].size, 3);
    }

    #[test]
    fn expunged_and_renamed_sources() {
        let src_t = TestMaildir::new();
        let dst_t = TestMaildir::new();
        src_t.put("cur", "1.M1.a:2,", b"a\n");
        src_t.put("cur", "2.M1.b:2,", b"b\n");
        let src = src_t.open();
        let dst = dst_t.open();
        let inbox = src.sync().unwrap();
        fs::remove_file(src_t.root().join("cur/1.M1.a:2,")).unwrap();
        fs::rename(
            src_t.root().join("cur/2.M1.b:2,"),
            src_t.root().join("cur/2.M1.b:2,T"),
        )
        .unwrap();
        let msgs: Vec<&MessageMeta> = inbox.messages.iter().collect();
        let c = src.copy_to(&msgs, &dst).unwrap();
        assert_eq!(c.missing, vec![1]);
        assert_eq!(c.uids, vec![(2, 1)]);
        assert!(dst_t.root().join("cur/2.M1.b:2,T").exists());
    }

    #[test]
    fn waits_for_a_destination_locked_by_another_process() {
        let src_t = TestMaildir::new();
        let dst_t = TestMaildir::new();
        src_t.put("cur", "1.M1.a:2,", b"a\n");
        let src = src_t.open();
        let dst = Maildir::open(
            dst_t.root(),
            StoreOptions {
                lock_timeout: Duration::from_secs(10),
                ..StoreOptions::default()
            },
        )
        .unwrap();
        dst.sync().unwrap();
        let inbox = src.sync().unwrap();
        // A live process (PID 1) holds the destination's uidlist lock for a while.
        let lock = dst_t.root().join("dovecot-uidlist.lock");
        fs::write(&lock, format!("1:{}", owner::hostname())).unwrap();
        let releaser = {
            let lock = lock.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(600));
                fs::remove_file(lock).unwrap();
            })
        };
        let started = std::time::Instant::now();
        let msgs: Vec<&MessageMeta> = inbox.messages.iter().collect();
        let c = src.copy_to(&msgs, &dst).unwrap();
        releaser.join().unwrap();
        assert!(started.elapsed() >= Duration::from_millis(500));
        assert_eq!(c.uids, vec![(1, 1)]);

        // With a short timeout the copy fails and leaves the destination as it was.
        let impatient = Maildir::open(
            dst_t.root(),
            StoreOptions {
                lock_timeout: Duration::from_millis(100),
                ..StoreOptions::default()
            },
        )
        .unwrap();
        fs::write(&lock, format!("1:{}", owner::hostname())).unwrap();
        let err = src.copy_to(&msgs, &impatient).unwrap_err();
        assert!(matches!(err, StoreError::LockTimeout { .. }));
        fs::remove_file(&lock).unwrap();
        assert_eq!(fs::read_dir(dst_t.root().join("tmp")).unwrap().count(), 0);
        assert_eq!(impatient.sync().unwrap().messages.len(), 1);
    }

    #[test]
    fn move_is_copy_then_delete_and_keeps_internal_date() {
        let src_t = TestMaildir::new();
        let dst_t = TestMaildir::new();
        src_t.put("cur", "1.M1.a:2,S", b"a\n");
        let date = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
        fs::File::options()
            .write(true)
            .open(src_t.root().join("cur/1.M1.a:2,S"))
            .unwrap()
            .set_modified(date)
            .unwrap();
        let src = src_t.open();
        let dst = dst_t.open();
        let inbox = src.sync().unwrap();
        let msgs: Vec<&MessageMeta> = inbox.messages.iter().collect();
        src.copy_to(&msgs, &dst).unwrap();
        // Until the delete, the message is in both folders.
        assert_eq!(src.sync().unwrap().messages.len(), 1);
        src.delete(&msgs).unwrap();
        assert!(src.sync().unwrap().messages.is_empty());
        let moved = dst.sync().unwrap();
        let m: Vec<&MessageMeta> = moved.messages.iter().collect();
        assert_eq!(dst.internal_dates(&m)[0].as_ref().unwrap(), &date);
    }
}
