//! Saving a new message (IMAP APPEND) the way Dovecot's maildir save does.
//!
//! The bytes are written to `tmp/<unique>` and flushed, the file's mtime is set to the
//! internal date, and only then, under the uidlist lock, is the file renamed into `new/` (no
//! flags) or `cur/` (with flags) and its UID recorded. A crash before the rename leaves a
//! file in `tmp/` that no server lists (and Dovecot deletes after 36 hours); a crash after it
//! leaves a complete message that the next sync numbers. Renaming under the lock means no
//! other server can number the message before we do, so the UID we return is its UID.
//!
//! The stored name is `<base>,S=<stored size>,W=<wire size>[:2,<flags>]`, so neither size is
//! ever computed from the file again.

use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::flags::{Flags, render};
use super::fsutil::{IoContext, fsync_dir};
use super::maildir::Maildir;
use super::perms::CreateMode;
use super::setflags::{NewFlags, add_keywords_locked};
use super::uidlist::{self, Record};
use super::{StoreError, size, unique, writer};

/// A saved message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The folder's UIDVALIDITY, for `APPENDUID`.
    pub uid_validity: u32,
    pub uid: u32,
    /// The message's file name (in `cur/` when it has flags, else in `new/` until the next
    /// sync moves it).
    pub filename: String,
    pub flags: Flags,
}

pub(super) fn append(
    md: &Maildir,
    message: &[u8],
    flags: &NewFlags,
    internal_date: Option<SystemTime>,
) -> Result<Appended, StoreError> {
    let root = md.dir();
    let base = format!(
        "{},S={},W={}",
        unique::base_name(),
        message.len(),
        size::wire_size(message)
    );
    let tmp = write_tmp(
        root,
        &base,
        message,
        internal_date,
        md.create_mode(),
        md.options().fsync,
    )?;
    let saved = finish(md, &tmp, &base, flags);
    if saved.is_err() {
        // Not renamed: the message was never visible, so removing it loses nothing.
        let _ = fs::remove_file(&tmp);
    }
    saved
}

/// Under the uidlist lock: keywords recorded, file renamed into place, UID assigned.
fn finish(
    md: &Maildir,
    tmp: &Path,
    base: &str,
    new_flags: &NewFlags,
) -> Result<Appended, StoreError> {
    let root = md.dir();
    let mut locked = writer::lock(md)?;
    let (keywords, _) = add_keywords_locked(md, &new_flags.keywords)?;
    let flags = Flags {
        system: new_flags.system,
        keywords,
    };
    let uid = locked.list.next_uid;
    if uid == u32::MAX {
        return Err(StoreError::Corrupt {
            path: root.join(uidlist::NAME),
            reason: "UID space exhausted; the mailbox needs a new UIDVALIDITY".into(),
        });
    }
    let (sub, name) = placed_name(base.as_bytes(), flags);
    fs::rename(tmp, root.join(sub).join(OsStr::from_bytes(&name))).at(&root.join(sub))?;
    if md.options().fsync {
        fsync_dir(&root.join(sub))?;
    }
    locked.list.records.push(Record {
        uid,
        ext: Vec::new(),
        base: base.as_bytes().to_vec(),
    });
    locked.list.next_uid = uid + 1;
    locked.commit(md)?;
    Ok(Appended {
        uid_validity: locked.list.uid_validity,
        uid,
        filename: String::from_utf8_lossy(&name).into_owned(),
        flags,
    })
}

/// Where a new message with these flags goes: `new/<base>` without flags (as Dovecot saves
/// it), `cur/<base>:2,<flags>` with.
pub(super) fn placed_name(base: &[u8], flags: Flags) -> (&'static str, Vec<u8>) {
    if flags.is_empty() {
        ("new", base.to_vec())
    } else {
        ("cur", render(base, flags))
    }
}

/// Writes a complete file into `tmp/` and returns its path: created exclusively, given the
/// maildir's mode and owner, mtime set, flushed when `durable`.
pub(super) fn write_tmp(
    root: &Path,
    name: &str,
    bytes: &[u8],
    mtime: Option<SystemTime>,
    mode: CreateMode,
    durable: bool,
) -> Result<PathBuf, StoreError> {
    let path = root.join("tmp").join(name);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .at(&path)?;
    let written = (|| {
        mode.apply_to_file(&file, &path)?;
        file.write_all(bytes).at(&path)?;
        if let Some(t) = mtime {
            file.set_modified(t).at(&path)?;
        }
        if durable {
            file.sync_all().at(&path)?;
        }
        Ok(())
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::flags::SystemFlags;
    use crate::store::testutil::TestMaildir;
    use std::sync::Arc;
    use std::time::Duration;

    fn names(keywords: &[&str], system: SystemFlags) -> NewFlags {
        NewFlags {
            system,
            keywords: keywords.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn append_with_flags_goes_to_cur_with_sizes_and_date() {
        let t = TestMaildir::new();
        let md = t.open();
        let date = SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_869_200);
        let msg = b"Subject: hi\r\n\r\nbody\n";
        let a = md
            .append(msg, &names(&["foo"], SystemFlags::SEEN), Some(date))
            .unwrap();
        assert_eq!(a.uid, 1);
        assert!(a.filename.ends_with(&format!(",S={},W=21:2,Sa", msg.len())));
        let path = t.root().join("cur").join(&a.filename);
        assert_eq!(fs::read(&path).unwrap(), msg);
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), date);
        assert_eq!(fs::read_dir(t.root().join("tmp")).unwrap().count(), 0);
        // The uidlist has it, and a sync agrees.
        let inbox = md.sync().unwrap();
        assert_eq!(inbox.uid_validity, a.uid_validity);
        assert_eq!(inbox.messages[0].uid, 1);
        assert_eq!(inbox.messages[0].size, 21);
        assert_eq!(inbox.next_uid, 2);
        assert_eq!(md.keywords().unwrap().index_of("foo"), Some(0));
    }

    #[test]
    fn append_without_flags_goes_to_new_and_keeps_uid_on_sync() {
        let t = TestMaildir::new();
        t.put("new", "1.M1.old", b"old\n");
        let md = t.open();
        let a = md.append(b"x", &NewFlags::default(), None).unwrap();
        assert!(t.root().join("new").join(&a.filename).exists());
        assert!(!a.filename.contains(':'));
        let inbox = md.sync().unwrap();
        let ours = inbox
            .messages
            .iter()
            .find(|m| m.filename.starts_with(&a.filename))
            .unwrap();
        assert_eq!(ours.uid, a.uid);
        // The message that was waiting in new/ got the next UID, not ours.
        assert_eq!(inbox.messages.len(), 2);
        assert!(
            inbox
                .messages
                .iter()
                .all(|m| m.uid == a.uid || m.uid == a.uid + 1)
        );
    }

    #[test]
    fn parallel_appends_never_share_a_uid() {
        let t = TestMaildir::new();
        let shared = Arc::new(t.open());
        let root = t.root().to_owned();
        let threads: Vec<_> = (0..6)
            .map(|i| {
                let shared = Arc::clone(&shared);
                let root = root.clone();
                std::thread::spawn(move || {
                    let own = Maildir::open(&root, crate::store::StoreOptions::default()).unwrap();
                    let md = if i % 2 == 0 { &*shared } else { &own };
                    (0..10)
                        .map(|n| {
                            md.append(format!("m{i}.{n}\n").as_bytes(), &NewFlags::default(), None)
                                .unwrap()
                                .uid
                        })
                        .collect::<Vec<u32>>()
                })
            })
            .collect();
        let mut all: Vec<u32> = threads
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(all, (1..=60).collect::<Vec<u32>>());
        let inbox = shared.sync().unwrap();
        assert_eq!(inbox.messages.len(), 60);
    }

    #[test]
    fn failed_lock_leaves_nothing_behind() {
        let t = TestMaildir::new();
        let opts = crate::store::StoreOptions {
            lock_timeout: Duration::from_millis(100),
            ..Default::default()
        };
        let md = Maildir::open(t.root(), opts).unwrap();
        fs::write(
            t.root().join("dovecot-uidlist.lock"),
            format!("1:{}", crate::store::owner::hostname()),
        )
        .unwrap();
        let err = md.append(b"x", &NewFlags::default(), None).unwrap_err();
        assert!(matches!(err, StoreError::LockTimeout { .. }));
        for sub in ["tmp", "new", "cur"] {
            assert_eq!(
                fs::read_dir(t.root().join(sub)).unwrap().count(),
                0,
                "{sub}"
            );
        }
    }
}
