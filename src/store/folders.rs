//! An account's folders, laid out as Maildir++ the way Dovecot 2.3 lays them out.
//!
//! The mail root is INBOX; every other folder `a.b` is the sibling directory `.a.b` with
//! its own `cur/ new/ tmp/`, a `maildirfolder` marker and its own `dovecot-uidlist`. Names
//! are the IMAP wire form (modified UTF-7) on disk too, and `.` is the hierarchy separator,
//! so a parent need not exist: `a` of `a.b` is listed as a non-selectable name with children
//! until someone creates it. `INBOX` is case-insensitive (also as the first level of a name).
//!
//! Creating, deleting and renaming happen under Dovecot's `mailboxes.lock` (see `listlock`),
//! and each is what Dovecot does: CREATE makes the directories and the uidlist (so the
//! folder has its UIDVALIDITY at once) but no parents; DELETE renames the folder to
//! `..DOVECOT-TRASHED` in one step and then removes it, leaving children alone; RENAME moves
//! the folder and every `from.*` child, one atomic directory rename each. Renaming INBOX,
//! which Dovecot refuses for Maildir++, follows RFC 3501: the messages move into the new
//! folder one file at a time (each is always in exactly one of them) and INBOX stays.

use std::ffi::OsStr;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::filename::base;
use super::fsutil::{IoContext, fsync_dir, io_err, is_not_found};
use super::keywords::Keywords;
use super::listlock::{self, ListLock};
use super::maildir::{Maildir, StoreOptions};
use super::perms::CreateMode;
use super::uidlist::Record;
use super::{StoreError, scan, subscriptions, writer};

/// The hierarchy separator.
pub const SEPARATOR: char = '.';

/// Where Dovecot moves a folder it is deleting (a name no listing shows).
const TRASH: &str = "..DOVECOT-TRASHED";

/// A directory name is `.` plus the folder name, and may be 255 bytes long.
const MAX_NAME_LEN: usize = 254;

/// One name as LIST shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderInfo {
    /// The wire-form name; `INBOX` for the mail root.
    pub name: String,
    /// The folder exists (can be selected); otherwise it is only implied by its children
    /// (`\Noselect`).
    pub selectable: bool,
    /// Some folder below it exists (`\HasChildren`, else `\HasNoChildren`).
    pub has_children: bool,
}

/// The folders of one account.
#[derive(Debug)]
pub struct Folders {
    root: PathBuf,
    /// `root` resolved, like `Maildir`'s.
    dir: PathBuf,
    opts: StoreOptions,
    mode: CreateMode,
}

impl Folders {
    /// The folders under a mail root (which is INBOX, created if missing).
    pub fn open(root: &Path, opts: StoreOptions) -> Result<Folders, StoreError> {
        let inbox = Maildir::open(root, opts.clone())?;
        Ok(Folders {
            root: root.to_owned(),
            dir: inbox.dir().to_owned(),
            mode: inbox.create_mode(),
            opts,
        })
    }

    /// The mail root, as given to [`open`](Self::open).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every folder and every implied parent, INBOX first, then by name.
    pub fn list(&self) -> Result<Vec<FolderInfo>, StoreError> {
        let existing = self.existing()?;
        let mut names: Vec<(String, bool)> = existing.iter().map(|n| (n.clone(), true)).collect();
        for name in &existing {
            let mut end = 0;
            while let Some(i) = name[end..].find(SEPARATOR) {
                end += i;
                let parent = &name[..end];
                if parent != "INBOX" && !names.iter().any(|(n, _)| n == parent) {
                    names.push((parent.to_owned(), false));
                }
                end += 1;
            }
        }
        names.sort();
        let mut out = vec![FolderInfo {
            name: "INBOX".into(),
            selectable: true,
            has_children: existing.iter().any(|n| n.starts_with("INBOX.")),
        }];
        out.extend(names.into_iter().map(|(name, selectable)| {
            let prefix = format!("{name}{SEPARATOR}");
            FolderInfo {
                has_children: existing.iter().any(|n| n.starts_with(&prefix)),
                name,
                selectable,
            }
        }));
        Ok(out)
    }

    /// The names of the folders that exist as directories (INBOX not included).
    fn existing(&self) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir).at(&self.dir)? {
            let entry = entry.at(&self.dir)?;
            let file_name = entry.file_name();
            let Some(name) = file_name.as_bytes().strip_prefix(b".") else {
                continue;
            };
            let Ok(name) = std::str::from_utf8(name) else {
                tracing::warn!(dir = ?file_name, "folder name is not UTF-8; not listed");
                continue;
            };
            if name.is_empty()
                || name.starts_with(SEPARATOR)
                || name.ends_with(SEPARATOR)
                || name.contains("..")
                || name.eq_ignore_ascii_case("INBOX")
            {
                continue;
            }
            // Folders may be symlinks to directories.
            if !fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            names.push(normalize_inbox(name));
        }
        Ok(names)
    }

    /// The directory of a folder (the mail root for INBOX), whether or not it exists.
    pub fn path_of(&self, name: &str) -> Result<PathBuf, StoreError> {
        let name = check_name(name)?;
        Ok(self.dir_of(&name))
    }

    fn dir_of(&self, checked: &str) -> PathBuf {
        if checked == "INBOX" {
            self.dir.clone()
        } else {
            self.dir.join(format!(".{checked}"))
        }
    }

    /// Whether a folder exists (INBOX always does).
    pub fn exists(&self, name: &str) -> Result<bool, StoreError> {
        let name = check_name(name)?;
        Ok(name == "INBOX" || self.dir_of(&name).is_dir())
    }

    /// Opens an existing folder; [`StoreError::NonExistent`] if there is none.
    pub fn open_folder(&self, name: &str) -> Result<Maildir, StoreError> {
        let name = check_name(name)?;
        if name == "INBOX" {
            return Maildir::open(&self.dir, self.opts.clone());
        }
        let path = self.dir_of(&name);
        if !path.is_dir() {
            return Err(StoreError::NonExistent { name });
        }
        Maildir::open_folder(&path, &self.dir, self.opts.clone())
    }

    fn lock(&self) -> Result<ListLock, StoreError> {
        ListLock::acquire(
            &self.dir,
            self.mode,
            self.opts.lock_timeout.min(listlock::TIMEOUT),
        )
    }

    /// Creates a folder (IMAP CREATE). One trailing separator is dropped, as RFC 3501 asks;
    /// parents are not created. Returns the folder's UIDVALIDITY.
    pub fn create(&self, name: &str) -> Result<u32, StoreError> {
        let trimmed = name.strip_suffix(SEPARATOR).unwrap_or(name);
        let name = check_name(trimmed)?;
        if name == "INBOX" {
            return Err(StoreError::AlreadyExists { name });
        }
        let _lock = self.lock()?;
        self.create_locked(&name)
    }

    fn create_locked(&self, name: &str) -> Result<u32, StoreError> {
        let path = self.dir_of(name);
        match DirBuilder::new().mode(self.mode.dir_mode).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(StoreError::AlreadyExists {
                    name: name.to_owned(),
                });
            }
            Err(e) => return Err(io_err(path, e)),
        }
        self.mode.apply_to_dir(&path)?;
        for sub in ["cur", "new", "tmp"] {
            let p = path.join(sub);
            DirBuilder::new()
                .mode(self.mode.dir_mode)
                .create(&p)
                .at(&p)?;
            self.mode.apply_to_dir(&p)?;
        }
        let marker = path.join("maildirfolder");
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&marker)
            .at(&marker)?;
        self.mode.apply_to_file(&file, &marker)?;
        // The uidlist now, so that the folder's UIDVALIDITY is fixed before anyone looks.
        let md = Maildir::open_folder(&path, &self.dir, self.opts.clone())?;
        let mut locked = writer::lock(&md)?;
        locked.commit(&md)?;
        if self.opts.fsync {
            fsync_dir(&path)?;
            fsync_dir(&self.dir)?;
        }
        Ok(locked.list.uid_validity)
    }

    /// Deletes a folder and its messages (IMAP DELETE). Its children stay, so a folder with
    /// children becomes an implied, non-selectable name. INBOX cannot be deleted; a name that
    /// is only implied does not exist.
    pub fn delete(&self, name: &str) -> Result<(), StoreError> {
        let name = check_name(name)?;
        if name == "INBOX" {
            return Err(StoreError::Cannot {
                reason: "INBOX can't be deleted",
            });
        }
        let _lock = self.lock()?;
        let path = self.dir_of(&name);
        if !path.is_dir() {
            return Err(StoreError::NonExistent { name });
        }
        let trash = self.dir.join(TRASH);
        // A crashed delete left its trash behind: finish that one first.
        remove_tree(&trash)?;
        match fs::rename(&path, &trash) {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => return Err(StoreError::NonExistent { name }),
            Err(e) => return Err(io_err(path, e)),
        }
        if self.opts.fsync {
            fsync_dir(&self.dir)?;
        }
        // The folder is gone for every server from here on; what remains is cleanup.
        if let Err(e) = remove_tree(&trash) {
            tracing::warn!(folder = %name, "deleted folder not fully removed: {e}");
        }
        Ok(())
    }

    /// Renames a folder and all its children (IMAP RENAME). Renaming a name that exists
    /// only through its children renames the children; the new name must not exist (an
    /// implied name may). Renaming INBOX moves its messages into a new folder.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let from = check_name(from)?;
        let to = check_name(to)?;
        if to == "INBOX" || to == from {
            return Err(StoreError::AlreadyExists { name: to });
        }
        if from == "INBOX" {
            return self.rename_inbox(&to);
        }
        if to.starts_with(&format!("{from}{SEPARATOR}")) {
            return Err(StoreError::Cannot {
                reason: "Can't rename mailbox under its own child",
            });
        }
        let _lock = self.lock()?;
        let prefix = format!("{from}{SEPARATOR}");
        let mut moves: Vec<(String, String)> = self
            .existing()?
            .into_iter()
            .filter(|n| *n == from || n.starts_with(&prefix))
            .map(|n| {
                let renamed = format!("{to}{}", &n[from.len()..]);
                (n, renamed)
            })
            .collect();
        if moves.is_empty() {
            return Err(StoreError::NonExistent { name: from });
        }
        for (_, target) in &moves {
            check_name(target)?;
            if self.dir_of(target).exists() {
                return Err(StoreError::AlreadyExists {
                    name: target.clone(),
                });
            }
        }
        // The parent first, so that a crash midway leaves whole subtrees under one name.
        moves.sort_by_key(|(n, _)| n.len());
        for (old, new) in &moves {
            let (a, b) = (self.dir_of(old), self.dir_of(new));
            fs::rename(&a, &b).at(&a)?;
        }
        if self.opts.fsync {
            fsync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// RFC 3501's RENAME INBOX: a new folder receives every message INBOX has (with new
    /// UIDs, in INBOX's UID order, flags and keywords kept); INBOX stays, empty.
    fn rename_inbox(&self, to: &str) -> Result<(), StoreError> {
        let _lock = self.lock()?;
        if self.dir_of(to).exists() {
            return Err(StoreError::AlreadyExists {
                name: to.to_owned(),
            });
        }
        self.create_locked(to)?;
        let inbox = Maildir::open(&self.dir, self.opts.clone())?;
        let dest = Maildir::open_folder(&self.dir_of(to), &self.dir, self.opts.clone())?;
        let listed = inbox.sync()?;
        let mut src_list = writer::lock(&inbox)?;
        let mut dst_list = writer::lock(&dest)?;
        // The new folder is empty: giving it INBOX's keyword list keeps every letter's
        // meaning.
        let keywords = Keywords::load(inbox.dir())?;
        if !keywords.is_empty() {
            let mut copy = Keywords::default();
            for (i, name) in keywords.iter() {
                copy.set(i, name);
            }
            copy.store(dest.dir(), dest.create_mode(), self.opts.fsync)?;
        }
        let mut moved: Vec<Vec<u8>> = Vec::new();
        for msg in &listed.messages {
            let key = base(msg.filename.as_bytes()).to_vec();
            let mut from = inbox.dir().join("cur").join(&msg.filename);
            if !from.exists() {
                match scan::find_by_base(inbox.dir(), &key)? {
                    Some(p) => from = p,
                    None => continue,
                }
            }
            let Some(file_name) = from.file_name().map(|n| n.as_bytes().to_vec()) else {
                continue;
            };
            let to_path = dest.dir().join("cur").join(OsStr::from_bytes(&file_name));
            match fs::rename(&from, &to_path) {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => continue,
                Err(e) => return Err(io_err(from, e)),
            }
            let ext = src_list
                .list
                .records
                .iter()
                .find(|r| r.base == key)
                .map(|r| r.ext.clone())
                .unwrap_or_default();
            let uid = dst_list.list.next_uid;
            dst_list.list.next_uid += 1;
            dst_list.list.records.push(Record {
                uid,
                ext,
                base: key.clone(),
            });
            moved.push(key);
        }
        if self.opts.fsync {
            fsync_dir(&dest.dir().join("cur"))?;
            fsync_dir(&inbox.dir().join("cur"))?;
        }
        dst_list.commit(&dest)?;
        src_list.list.records.retain(|r| !moved.contains(&r.base));
        src_list.commit(&inbox)?;
        Ok(())
    }

    /// The subscribed names (LSUB), in file order. Names of folders that do not exist are
    /// kept: subscriptions are independent of folders, as in Dovecot.
    pub fn subscriptions(&self) -> Result<Vec<String>, StoreError> {
        subscriptions::read(&self.dir)
    }

    /// Subscribes to a name (which need not exist). Returns whether the file changed.
    pub fn subscribe(&self, name: &str) -> Result<bool, StoreError> {
        let name = check_name(name)?;
        subscriptions::set(
            &self.dir,
            &name,
            true,
            self.mode,
            self.opts.lock_timeout,
            self.opts.fsync,
        )
    }

    /// Unsubscribes from a name. Returns whether the file changed.
    pub fn unsubscribe(&self, name: &str) -> Result<bool, StoreError> {
        let name = check_name(name)?;
        subscriptions::set(
            &self.dir,
            &name,
            false,
            self.mode,
            self.opts.lock_timeout,
            self.opts.fsync,
        )
    }
}

/// Removes a directory tree; a missing one is fine.
fn remove_tree(path: &Path) -> Result<(), StoreError> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(io_err(path, e)),
    }
}

/// `INBOX` as a first level in any case is written `INBOX`.
fn normalize_inbox(name: &str) -> String {
    let first = name.split(SEPARATOR).next().unwrap_or(name);
    if first.eq_ignore_ascii_case("INBOX") {
        format!("INBOX{}", &name[first.len()..])
    } else {
        name.to_owned()
    }
}

/// Checks a wire-form folder name as Dovecot does for Maildir++ and returns it with INBOX
/// spelt `INBOX`. Refused: an empty name, `/` (it would leave the mail root), a leading or
/// trailing separator or two in a row (an empty level, which is also what `.` and `..`
/// levels would need), a leading `~` (home-directory expansion), control characters, a
/// name that is not valid modified UTF-7, and a name too long for one directory entry.
pub fn check_name(name: &str) -> Result<String, StoreError> {
    let refuse = |reason| StoreError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(refuse("Name is empty"));
    }
    if name.contains('/') {
        return Err(refuse("Name must not have '/' characters"));
    }
    if name.starts_with(SEPARATOR) {
        return Err(refuse("Begins with hierarchy separator"));
    }
    if name.ends_with(SEPARATOR) {
        return Err(refuse("Ends with hierarchy separator"));
    }
    if name.contains("..") {
        return Err(refuse("Has adjacent hierarchy separators"));
    }
    if name.starts_with('~') {
        return Err(refuse("Begins with '~'"));
    }
    if name.chars().any(char::is_control) {
        return Err(refuse("Contains control characters"));
    }
    if crate::imap::mutf7::decode(name).is_err() {
        return Err(refuse("Mailbox name is not valid mUTF-7"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(refuse("Name is too long"));
    }
    Ok(normalize_inbox(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testutil::TestMaildir;

    fn folders(t: &TestMaildir) -> Folders {
        Folders::open(t.root(), StoreOptions::default()).unwrap()
    }

    fn listed(f: &Folders) -> Vec<(String, bool, bool)> {
        f.list()
            .unwrap()
            .into_iter()
            .map(|i| (i.name, i.selectable, i.has_children))
            .collect()
    }

    fn s(name: &str, sel: bool, kids: bool) -> (String, bool, bool) {
        (name.to_owned(), sel, kids)
    }

    #[test]
    fn create_makes_what_dovecot_makes() {
        let t = TestMaildir::new();
        let f = folders(&t);
        let v = f.create("Sent").unwrap();
        let dir = t.root().join(".Sent");
        for sub in ["cur", "new", "tmp"] {
            assert!(dir.join(sub).is_dir());
        }
        assert!(dir.join("maildirfolder").is_file());
        assert!(dir.join("dovecot-uidlist").is_file());
        assert_eq!(
            f.open_folder("Sent").unwrap().sync().unwrap().uid_validity,
            v
        );
        // The counter is the root's, shared with INBOX.
        assert!(t.root().join("dovecot-uidvalidity").exists());
        assert!(!dir.join("dovecot-uidvalidity").exists());
        assert!(matches!(
            f.create("Sent"),
            Err(StoreError::AlreadyExists { .. })
        ));
        assert!(matches!(
            f.create("inbox"),
            Err(StoreError::AlreadyExists { .. })
        ));
        f.create("a.b").unwrap();
        f.create("inbox.x.").unwrap();
        assert!(t.root().join(".INBOX.x").is_dir());
        assert!(!t.root().join(".a").exists());
        assert_eq!(
            listed(&f),
            vec![
                s("INBOX", true, true),
                s("INBOX.x", true, false),
                s("Sent", true, false),
                s("a", false, true),
                s("a.b", true, false),
            ]
        );
        assert!(!t.root().join(listlock::NAME).exists());
    }

    #[test]
    fn invalid_names_are_refused() {
        let t = TestMaildir::new();
        let f = folders(&t);
        let long = "x".repeat(255);
        for bad in [
            "",
            "a/b",
            "../x",
            ".a",
            "a..b",
            "..",
            "~a",
            "a\tb",
            "&Jjo",
            long.as_str(),
        ] {
            assert!(
                matches!(f.create(bad), Err(StoreError::InvalidName { .. })),
                "{bad:?}"
            );
            assert!(matches!(
                f.path_of(bad),
                Err(StoreError::InvalidName { .. })
            ));
        }
        assert!(matches!(
            f.path_of("a."),
            Err(StoreError::InvalidName { .. })
        ));
        // One trailing separator is dropped by CREATE; two are not.
        f.create("a.").unwrap();
        assert!(matches!(
            f.create("b.."),
            Err(StoreError::InvalidName { .. })
        ));
        f.create(&"y".repeat(254)).unwrap();
        f.create("&ZeVnLIqe-").unwrap();
        f.create("cur").unwrap();
        assert!(t.root().join(".cur/cur").is_dir());
        assert!(matches!(
            f.open_folder("nope"),
            Err(StoreError::NonExistent { .. })
        ));
    }

    #[test]
    fn delete_keeps_children_and_trash_goes() {
        let t = TestMaildir::new();
        let f = folders(&t);
        f.create("x").unwrap();
        f.create("x.y").unwrap();
        let md = f.open_folder("x").unwrap();
        md.append(b"m\n", &Default::default(), None).unwrap();
        f.delete("x").unwrap();
        assert!(!t.root().join(".x").exists());
        assert!(!t.root().join(TRASH).exists());
        assert_eq!(
            listed(&f),
            vec![
                s("INBOX", true, false),
                s("x", false, true),
                s("x.y", true, false)
            ]
        );
        assert!(matches!(f.delete("x"), Err(StoreError::NonExistent { .. })));
        assert!(matches!(f.delete("INBOX"), Err(StoreError::Cannot { .. })));
        // A trash left by a crashed delete is cleaned up by the next one.
        fs::create_dir_all(t.root().join(TRASH).join("cur")).unwrap();
        f.delete("x.y").unwrap();
        assert!(!t.root().join(TRASH).exists());
        assert_eq!(listed(&f), vec![s("INBOX", true, false)]);
    }

    #[test]
    fn rename_moves_children_and_checks_targets() {
        let t = TestMaildir::new();
        let f = folders(&t);
        f.create("a").unwrap();
        f.create("a.b").unwrap();
        f.create("a.b.c").unwrap();
        f.create("q.r").unwrap();
        let v = f.open_folder("a.b").unwrap().sync().unwrap().uid_validity;
        assert!(matches!(
            f.rename("a", "a.z"),
            Err(StoreError::Cannot { .. })
        ));
        assert!(matches!(
            f.rename("a", "q.r"),
            Err(StoreError::AlreadyExists { .. })
        ));
        assert!(matches!(
            f.rename("nope", "z"),
            Err(StoreError::NonExistent { .. })
        ));
        assert!(matches!(
            f.rename("a", "inbox"),
            Err(StoreError::AlreadyExists { .. })
        ));
        f.rename("a", "n").unwrap();
        assert_eq!(
            listed(&f),
            vec![
                s("INBOX", true, false),
                s("n", true, true),
                s("n.b", true, true),
                s("n.b.c", true, false),
                s("q", false, true),
                s("q.r", true, false),
            ]
        );
        // UIDVALIDITY travels with the folder.
        assert_eq!(
            f.open_folder("n.b").unwrap().sync().unwrap().uid_validity,
            v
        );
        // An implied name can be renamed (its children move), and be a target.
        f.rename("q", "n.b.q").unwrap();
        assert!(t.root().join(".n.b.q.r").is_dir());
        f.rename("n.b.c", "q").unwrap();
        assert!(t.root().join(".q").is_dir());
    }

    #[test]
    fn rename_inbox_moves_messages_and_keeps_inbox() {
        let t = TestMaildir::new();
        t.put("cur", "1.M1.a:2,Sa", b"one\n");
        t.put("new", "2.M1.b", b"two\n");
        fs::write(t.root().join("dovecot-keywords"), "0 Work\n").unwrap();
        let f = folders(&t);
        f.create("INBOX.kid").unwrap();
        f.rename("INBOX", "Old").unwrap();
        let inbox = f.open_folder("INBOX").unwrap().sync().unwrap();
        assert!(inbox.messages.is_empty());
        let old = f.open_folder("Old").unwrap();
        let moved = old.sync().unwrap();
        assert_eq!(moved.messages.len(), 2);
        assert_eq!(moved.messages[0].uid, 1);
        assert_eq!(moved.messages[0].filename, "1.M1.a:2,Sa");
        assert_eq!(old.keywords().unwrap().name(0), Some("Work"));
        assert!(f.exists("INBOX.kid").unwrap());
        // A new message in INBOX gets a UID above the old ones: none is reused.
        t.put("new", "3.M1.c", b"three\n");
        assert_eq!(
            f.open_folder("INBOX").unwrap().sync().unwrap().messages[0].uid,
            3
        );
    }

    #[test]
    fn subscriptions_round_trip() {
        let t = TestMaildir::new();
        let f = folders(&t);
        assert!(f.subscriptions().unwrap().is_empty());
        assert!(f.subscribe("inbox").unwrap());
        assert!(f.subscribe("a.b").unwrap());
        assert!(matches!(
            f.subscribe("a/b"),
            Err(StoreError::InvalidName { .. })
        ));
        assert_eq!(f.subscriptions().unwrap(), vec!["INBOX", "a.b"]);
        assert!(f.unsubscribe("INBOX").unwrap());
        assert_eq!(f.subscriptions().unwrap(), vec!["a.b"]);
    }
}
