//! Changing a message's flags: renaming `cur/<base>:2,<old>` to `cur/<base>:2,<new>`.
//!
//! A rename from a given name succeeds at most once, so two servers changing the same
//! message's flags cannot lose each other's change: whoever loses the race finds the file
//! gone under the name it knew, looks it up again by base name and applies its change to the
//! flags the file has *now*. A message nowhere to be found was expunged.
//!
//! Keyword names are letters of the folder's `dovecot-keywords`; a name it does not list yet
//! is added first, under the folder's uidlist lock as Dovecot requires, and only then can a
//! file name carry its letter.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::filename::base;
use super::flags::{Flags, KeywordSet, SystemFlags, render};
use super::fsutil::{fsync_dir, io_err, is_not_found};
use super::keywords::Keywords;
use super::maildir::{Maildir, MessageMeta};
use super::scan::{self, Listing};
use super::{StoreError, writer};

/// How a STORE combines the given flags with the message's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    /// `FLAGS`: the message has exactly these flags afterwards.
    Replace,
    /// `+FLAGS`.
    Add,
    /// `-FLAGS`.
    Remove,
}

/// Flags by IMAP name: system flags and keyword names (as the client spelled them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewFlags {
    pub system: SystemFlags,
    pub keywords: Vec<String>,
}

/// One STORE's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagChange {
    pub op: FlagOp,
    pub flags: NewFlags,
}

/// A message's flags after a change, and the file name that now carries them (the caller
/// replaces its `MessageMeta::filename` with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagUpdate {
    pub uid: u32,
    pub flags: Flags,
    pub filename: String,
}

/// How often a file that keeps being renamed under us is looked up again before giving up.
const ATTEMPTS: usize = 5;

/// Applies one change to many messages. The outer error means nothing was changed (the
/// keywords could not be recorded); each message then has its own outcome, `Gone` for one
/// that was expunged meanwhile.
pub(super) fn set_flags_many(
    md: &Maildir,
    msgs: &[&MessageMeta],
    change: &FlagChange,
) -> Result<Vec<Result<FlagUpdate, StoreError>>, StoreError> {
    let keywords = keyword_set(md, &change.flags.keywords, change.op != FlagOp::Remove)?;
    let root = md.dir();
    let mut relisting: Option<Listing> = None;
    let mut touched_new = false;
    let mut renamed = false;
    let results: Vec<_> = msgs
        .iter()
        .map(|msg| {
            let r = change_one(root, msg, change, keywords, &mut relisting);
            if let Ok((_, from_new, did)) = &r {
                touched_new |= *from_new;
                renamed |= *did;
            }
            r.map(|(update, _, _)| update)
        })
        .collect();
    if renamed && md.options().fsync {
        fsync_dir(&root.join("cur"))?;
        if touched_new {
            fsync_dir(&root.join("new"))?;
        }
    }
    Ok(results)
}

/// The keyword set named by `names`, adding unknown names to the folder's list when `create`.
/// Unknown names are simply absent from the set when not creating (removing a keyword no
/// message has is a no-op).
pub(super) fn keyword_set(
    md: &Maildir,
    names: &[String],
    create: bool,
) -> Result<KeywordSet, StoreError> {
    let keywords = Keywords::load(md.dir())?;
    let (set, missing) = keywords.resolve(names);
    if missing.is_empty() || !create {
        return Ok(set);
    }
    Ok(add_keywords(md, names)?.0)
}

/// Under the folder's uidlist lock: re-reads the keywords, adds the missing names, writes
/// the file. Returns the set for `names` and the list as written.
pub(super) fn add_keywords(
    md: &Maildir,
    names: &[String],
) -> Result<(KeywordSet, Keywords), StoreError> {
    let _locked = writer::lock(md)?;
    add_keywords_locked(md, names)
}

/// The same, for a caller that already holds the uidlist lock.
pub(super) fn add_keywords_locked(
    md: &Maildir,
    names: &[String],
) -> Result<(KeywordSet, Keywords), StoreError> {
    let mut keywords = Keywords::load(md.dir())?;
    let (_, missing) = keywords.resolve(names);
    if !missing.is_empty() {
        for name in missing {
            keywords.add(name)?;
        }
        keywords.store(md.dir(), md.create_mode(), md.options().fsync)?;
    }
    let (set, _) = keywords.resolve(names);
    Ok((set, keywords))
}

fn apply(old: Flags, change: &FlagChange, keywords: KeywordSet) -> Flags {
    match change.op {
        FlagOp::Replace => Flags {
            system: change.flags.system,
            keywords,
        },
        FlagOp::Add => Flags {
            system: old.system.union(change.flags.system),
            keywords: old.keywords.union(keywords),
        },
        FlagOp::Remove => Flags {
            system: old.system.difference(change.flags.system),
            keywords: old.keywords.difference(keywords),
        },
    }
}

/// Changes one message; returns the update, whether the file was found in `new/` and
/// whether anything was renamed.
fn change_one(
    root: &Path,
    msg: &MessageMeta,
    change: &FlagChange,
    keywords: KeywordSet,
    relisting: &mut Option<Listing>,
) -> Result<(FlagUpdate, bool, bool), StoreError> {
    let key = base(msg.filename.as_bytes()).to_vec();
    let mut current = (msg.filename.as_bytes().to_vec(), false);
    for attempt in 0..ATTEMPTS {
        let (name, in_new) = &current;
        let flags = apply(Flags::from_filename(name), change, keywords);
        let new_name = render(name, flags);
        let from = located_path(root, name, *in_new);
        let done = |renamed| {
            let filename =
                String::from_utf8(new_name.clone()).map_err(|_| StoreError::Corrupt {
                    path: from.clone(),
                    reason: "message file name is not UTF-8".into(),
                })?;
            Ok((
                FlagUpdate {
                    uid: msg.uid,
                    flags,
                    filename,
                },
                *in_new,
                renamed,
            ))
        };
        if new_name == *name && !*in_new {
            // Nothing to rename, but the file must still exist for the answer to be true.
            match fs::symlink_metadata(&from) {
                Ok(_) => return done(false),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(io_err(from, e)),
            }
        } else {
            let to = root.join("cur").join(OsStr::from_bytes(&new_name));
            match fs::rename(&from, &to) {
                Ok(()) => return done(true),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(io_err(from, e)),
            }
        }
        // Renamed or moved by someone else: find the file as it is now. One listing serves
        // a whole batch; a later attempt lists again.
        let fresh = attempt > 0 || relisting.is_none();
        if fresh {
            *relisting = Some(scan::list(root)?);
        }
        let lookup = |l: &Option<Listing>| {
            l.as_ref()
                .and_then(|l| l.get(&key))
                .map(|f| (f.name.clone(), f.in_new))
        };
        let mut found = lookup(relisting);
        if !fresh && found.as_ref() == Some(&current) {
            // The batch's shared listing predates this rename: look again. (A file absent
            // from it was already gone before we tried: files never come back.)
            *relisting = Some(scan::list(root)?);
            found = lookup(relisting);
        }
        match found {
            Some(f) => current = f,
            None => return Err(StoreError::Gone { uid: msg.uid }),
        }
    }
    Err(StoreError::Gone { uid: msg.uid })
}

fn located_path(root: &Path, name: &[u8], in_new: bool) -> PathBuf {
    root.join(if in_new { "new" } else { "cur" })
        .join(OsStr::from_bytes(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testutil::TestMaildir;

    fn change(op: FlagOp, system: SystemFlags, keywords: &[&str]) -> FlagChange {
        FlagChange {
            op,
            flags: NewFlags {
                system,
                keywords: keywords.iter().map(|s| s.to_string()).collect(),
            },
        }
    }

    #[test]
    fn adds_removes_and_replaces() {
        let t = TestMaildir::new();
        t.put("cur", "1.M1.a:2,S", b"x\n");
        let md = t.open();
        let inbox = md.sync().unwrap();
        let msg = &inbox.messages[0];
        let add = change(
            FlagOp::Add,
            SystemFlags::FLAGGED,
            &["$Forwarded", "NonJunk"],
        );
        let up = md.set_flags(msg, &add).unwrap();
        assert_eq!(up.filename, "1.M1.a:2,FSab");
        assert!(t.root().join("cur/1.M1.a:2,FSab").exists());
        assert_eq!(
            std::fs::read_to_string(t.root().join("dovecot-keywords")).unwrap(),
            "0 $Forwarded\n1 NonJunk\n"
        );
        let msg = MessageMeta {
            filename: up.filename,
            ..msg.clone()
        };
        let up = md
            .set_flags(
                &msg,
                &change(FlagOp::Remove, SystemFlags::SEEN, &["nonjunk", "never"]),
            )
            .unwrap();
        assert_eq!(up.filename, "1.M1.a:2,Fa");
        let msg = MessageMeta {
            filename: up.filename,
            ..msg
        };
        let up = md
            .set_flags(&msg, &change(FlagOp::Replace, SystemFlags::DRAFT, &[]))
            .unwrap();
        assert_eq!(up.filename, "1.M1.a:2,D");
        assert_eq!(up.flags.system, SystemFlags::DRAFT);
        // Removing an unknown keyword created nothing.
        assert_eq!(md.keywords().unwrap().len(), 2);
    }

    #[test]
    fn renamed_meanwhile_applies_to_current_flags() {
        let t = TestMaildir::new();
        t.put("cur", "1.M1.a:2,S", b"x\n");
        let md = t.open();
        let inbox = md.sync().unwrap();
        // Another server adds \Answered after our listing.
        std::fs::rename(
            t.root().join("cur/1.M1.a:2,S"),
            t.root().join("cur/1.M1.a:2,PRS"),
        )
        .unwrap();
        let up = md
            .set_flags(
                &inbox.messages[0],
                &change(FlagOp::Add, SystemFlags::FLAGGED, &[]),
            )
            .unwrap();
        assert_eq!(up.filename, "1.M1.a:2,FPRS");
        assert!(t.root().join("cur/1.M1.a:2,FPRS").exists());
        assert_eq!(std::fs::read_dir(t.root().join("cur")).unwrap().count(), 1);
    }

    #[test]
    fn vanished_is_gone_and_batch_reports_each() {
        let t = TestMaildir::new();
        for n in 1..=4 {
            t.put("cur", &format!("{n}.M1.a:2,"), b"x\n");
        }
        let md = t.open();
        let inbox = md.sync().unwrap();
        std::fs::remove_file(t.root().join("cur/2.M1.a:2,")).unwrap();
        std::fs::rename(
            t.root().join("cur/3.M1.a:2,"),
            t.root().join("cur/3.M1.a:2,T"),
        )
        .unwrap();
        let all: Vec<&MessageMeta> = inbox.messages.iter().collect();
        let results = md
            .set_flags_many(&all, &change(FlagOp::Add, SystemFlags::SEEN, &[]))
            .unwrap();
        assert_eq!(results[0].as_ref().unwrap().filename, "1.M1.a:2,S");
        assert!(matches!(results[1], Err(StoreError::Gone { uid: 2 })));
        assert_eq!(results[2].as_ref().unwrap().filename, "3.M1.a:2,ST");
        assert_eq!(results[3].as_ref().unwrap().filename, "4.M1.a:2,S");
    }

    #[test]
    fn a_batch_lists_the_directory_once_however_many_were_renamed() {
        let t = TestMaildir::new();
        for n in 0..200 {
            t.put("cur", &format!("{n}.M1.a:2,"), b"x\n");
        }
        let md = t.open();
        let inbox = md.sync().unwrap();
        // Another server flagged every message after our listing.
        for m in &inbox.messages {
            let from = t.root().join("cur").join(&m.filename);
            std::fs::rename(&from, format!("{}F", from.display())).unwrap();
        }
        let all: Vec<&MessageMeta> = inbox.messages.iter().collect();
        let before = scan::LISTINGS.with(|n| n.get());
        let results = md
            .set_flags_many(&all, &change(FlagOp::Add, SystemFlags::SEEN, &[]))
            .unwrap();
        assert_eq!(scan::LISTINGS.with(|n| n.get()) - before, 1);
        assert!(
            results
                .iter()
                .all(|r| r.as_ref().unwrap().filename.ends_with(":2,FS"))
        );
    }

    #[test]
    fn unchanged_flags_rename_nothing_but_check_existence() {
        let t = TestMaildir::new();
        t.put("cur", "1.M1.a:2,S", b"x\n");
        let md = t.open();
        let inbox = md.sync().unwrap();
        let up = md
            .set_flags(
                &inbox.messages[0],
                &change(FlagOp::Add, SystemFlags::SEEN, &[]),
            )
            .unwrap();
        assert_eq!(up.filename, "1.M1.a:2,S");
        std::fs::remove_file(t.root().join("cur/1.M1.a:2,S")).unwrap();
        let err = md
            .set_flags(
                &inbox.messages[0],
                &change(FlagOp::Add, SystemFlags::SEEN, &[]),
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::Gone { uid: 1 }));
    }

    #[test]
    fn file_still_in_new_is_moved_to_cur() {
        let t = TestMaildir::new();
        t.put("cur", "1.M1.a:2,", b"x\n");
        let md = t.open();
        let inbox = md.sync().unwrap();
        // Someone moved it back to new/ (a restore from backup, say).
        std::fs::rename(t.root().join("cur/1.M1.a:2,"), t.root().join("new/1.M1.a")).unwrap();
        let up = md
            .set_flags(
                &inbox.messages[0],
                &change(FlagOp::Add, SystemFlags::SEEN, &[]),
            )
            .unwrap();
        assert_eq!(up.filename, "1.M1.a:2,S");
        assert!(t.root().join("cur/1.M1.a:2,S").exists());
    }

    #[test]
    fn keyword_limit_is_reported_before_any_rename() {
        let t = TestMaildir::new();
        t.put("cur", "1.M1.a:2,", b"x\n");
        let text: String = (0..26).map(|i| format!("{i} k{i}\n")).collect();
        std::fs::write(t.root().join("dovecot-keywords"), text).unwrap();
        let md = t.open();
        let inbox = md.sync().unwrap();
        assert!(md.keywords().unwrap().is_full());
        let err = md
            .set_flags(
                &inbox.messages[0],
                &change(FlagOp::Add, SystemFlags::SEEN, &["k27"]),
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::TooManyKeywords));
        assert!(t.root().join("cur/1.M1.a:2,").exists());
        let up = md
            .set_flags(
                &inbox.messages[0],
                &change(FlagOp::Add, SystemFlags::empty(), &["K25"]),
            )
            .unwrap();
        assert_eq!(up.filename, "1.M1.a:2,z");
    }
}
