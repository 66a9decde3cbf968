//! The store's public face: one Maildir (the INBOX at the mail root, or a Maildir++ folder
//! beside it), its messages as POP3 and IMAP need them, and the operations on them.
//!
//! A `Maildir` holds no open files and no cached listing: every `sync` looks at the disk
//! again, because Dovecot, MDAs and other Postern sessions change the maildir at any time.
//! What it does keep is the highest next-UID it has seen per UIDVALIDITY, so that even a
//! uidlist rolled back behind our back cannot make it hand out a UID twice.

use std::collections::HashMap;
use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use super::append::{self, Appended};
use super::copy::{self, Copied};
use super::flags::Flags;
use super::fsutil::{IoContext, io_err};
use super::keywords::Keywords;
use super::perms::CreateMode;
use super::session::SessionLock;
use super::setflags::{self, FlagChange, FlagUpdate, NewFlags};
use super::uidlist::Uidlist;
use super::{StoreError, dates, delete, read, sync};
use crate::body::MessageBody;
use std::time::SystemTime;

/// How the store behaves.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// fsync files and directories after changes, so that a crash loses no delivered mail
    /// and brings back no deleted one.
    pub fsync: bool,
    /// How long to wait for another process's `dovecot-uidlist.lock`.
    pub lock_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            fsync: true,
            lock_timeout: Duration::from_secs(30),
        }
    }
}

/// One message as a POP3 session lists it.
#[derive(Debug, Clone)]
pub struct MessageMeta {
    pub uid: u32,
    /// Size in octets as sent on the wire (CRLF line ends).
    pub size: u64,
    /// The file's current name in `cur/` (flags included).
    pub filename: String,
}

impl MessageMeta {
    /// The message's flags, read off its file name (no file system access).
    pub fn flags(&self) -> Flags {
        Flags::from_filename(self.filename.as_bytes())
    }

    /// The base name: the file name without its `:2,<flags>` part, stable for the
    /// message's life.
    pub fn base(&self) -> &str {
        self.filename
            .split_once(super::filename::INFO_SEP as char)
            .map_or(self.filename.as_str(), |(b, _)| b)
    }
}

/// The mailbox as of one sync.
#[derive(Debug, Clone)]
pub struct Inbox {
    pub uid_validity: u32,
    /// The UID the next new message will get (IMAP UIDNEXT): above every UID ever handed
    /// out in this UIDVALIDITY, listed or not.
    pub next_uid: u32,
    /// In ascending UID order.
    pub messages: Vec<MessageMeta>,
}

impl Inbox {
    /// The sum of the messages' wire sizes (POP3 STAT).
    pub fn total_size(&self) -> u64 {
        self.messages.iter().map(|m| m.size).sum()
    }
}

/// A Maildir++ INBOX.
#[derive(Debug)]
pub struct Maildir {
    root: PathBuf,
    /// `root` resolved, so that lock paths are the same however the maildir was named.
    dir: PathBuf,
    /// Where `dovecot-uidvalidity` lives: the mail root, shared by INBOX and every folder.
    uidvalidity_dir: PathBuf,
    opts: StoreOptions,
    mode: CreateMode,
    /// Highest next-UID seen, by UIDVALIDITY.
    next_uid_seen: Mutex<HashMap<u32, u32>>,
}

impl Maildir {
    /// Opens a maildir, creating it and its `cur/`, `new/` and `tmp/` as needed. This is
    /// for INBOX (the mail root); folders beside it are opened with
    /// [`Folders::open_folder`](super::Folders::open_folder), which knows where their
    /// UIDVALIDITY counter is.
    pub fn open(root: &Path, opts: StoreOptions) -> Result<Maildir, StoreError> {
        let mut md = Maildir::open_dir(root, opts)?;
        md.uidvalidity_dir = md.dir.clone();
        Ok(md)
    }

    /// Opens a folder's maildir, whose UIDVALIDITY counter is in the mail root.
    pub(super) fn open_folder(
        path: &Path,
        mail_root: &Path,
        opts: StoreOptions,
    ) -> Result<Maildir, StoreError> {
        let mut md = Maildir::open_dir(path, opts)?;
        md.uidvalidity_dir = mail_root.to_owned();
        Ok(md)
    }

    fn open_dir(root: &Path, opts: StoreOptions) -> Result<Maildir, StoreError> {
        if !root.is_dir() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(root)
                .at(root)?;
        }
        let mode = CreateMode::of_dir(root)?;
        for sub in ["cur", "new", "tmp"] {
            let path = root.join(sub);
            match DirBuilder::new().mode(mode.dir_mode).create(&path) {
                Ok(()) => mode.apply_to_dir(&path)?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err(path, e)),
            }
        }
        let dir = fs::canonicalize(root).at(root)?;
        Ok(Maildir {
            root: root.to_owned(),
            uidvalidity_dir: dir.clone(),
            dir,
            opts,
            mode,
            next_uid_seen: Mutex::new(HashMap::new()),
        })
    }

    /// The maildir's root, as given to [`open`](Self::open).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Brings the uidlist up to date with the files (new mail gets UIDs, new mail moves to
    /// `cur/`, sizes are computed once and cached) and lists the messages.
    pub fn sync(&self) -> Result<Inbox, StoreError> {
        sync::sync(self)
    }

    /// The bytes of a message from the last sync.
    pub fn read(&self, msg: &MessageMeta) -> Result<MessageBody, StoreError> {
        read::read(self, msg)
    }

    /// Expunges messages (POP3 UPDATE state). Files already gone are not an error.
    pub fn delete(&self, msgs: &[&MessageMeta]) -> Result<(), StoreError> {
        delete::delete(self, msgs)
    }

    /// Changes one message's flags (IMAP STORE), following a rename by another client and
    /// applying the change to the flags the file has now. A vanished file is
    /// [`StoreError::Gone`].
    pub fn set_flags(
        &self,
        msg: &MessageMeta,
        change: &FlagChange,
    ) -> Result<FlagUpdate, StoreError> {
        let mut results = setflags::set_flags_many(self, &[msg], change)?;
        results
            .pop()
            .unwrap_or(Err(StoreError::Gone { uid: msg.uid }))
    }

    /// Changes many messages' flags at once (`STORE 1:10000 +FLAGS (\Seen)`): the
    /// keywords are resolved once and the directory is listed again at most once for files
    /// renamed meanwhile. The outer error means nothing changed; each message has its own
    /// outcome, in the order given.
    pub fn set_flags_many(
        &self,
        msgs: &[&MessageMeta],
        change: &FlagChange,
    ) -> Result<Vec<Result<FlagUpdate, StoreError>>, StoreError> {
        setflags::set_flags_many(self, msgs, change)
    }

    /// The folder's keyword names (`dovecot-keywords`), for FLAGS and PERMANENTFLAGS and
    /// for turning a message's [`Flags::keywords`] into names.
    pub fn keywords(&self) -> Result<Keywords, StoreError> {
        Keywords::load(&self.dir)
    }

    /// Saves a new message (IMAP APPEND) and gives it its UID at once, for `APPENDUID`.
    /// The bytes are stored exactly as given. `internal_date` becomes the file's mtime
    /// (IMAP INTERNALDATE); `None` is now.
    pub fn append(
        &self,
        message: &[u8],
        flags: &NewFlags,
        internal_date: Option<SystemTime>,
    ) -> Result<Appended, StoreError> {
        append::append(self, message, flags, internal_date)
    }

    /// Copies messages, with their flags and internal dates, into `dest` (IMAP COPY, and
    /// MOVE before [`delete`](Self::delete)). Files are hard-linked where possible. The
    /// destination UIDs are given in the order of `msgs`, for `COPYUID`.
    pub fn copy_to(&self, msgs: &[&MessageMeta], dest: &Maildir) -> Result<Copied, StoreError> {
        copy::copy(self, msgs, dest)
    }

    /// The internal date (the file's mtime) of each message, in order: one `stat` per
    /// message, and at most one directory listing for files renamed meanwhile. A message
    /// whose file is gone is [`StoreError::Gone`].
    pub fn internal_dates(&self, msgs: &[&MessageMeta]) -> Vec<Result<SystemTime, StoreError>> {
        dates::internal_dates(self, msgs)
    }

    /// Takes the POP3 maildrop lock (RFC 1939), shared with Dovecot's `pop3_lock_session`.
    pub fn lock_pop3_session(&self) -> Result<SessionLock, StoreError> {
        SessionLock::acquire(&self.dir, self.mode)
    }

    /// The resolved maildir path all files are accessed under.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory holding `dovecot-uidvalidity` (the mail root).
    pub(super) fn uidvalidity_dir(&self) -> &Path {
        &self.uidvalidity_dir
    }

    pub(super) fn options(&self) -> &StoreOptions {
        &self.opts
    }

    pub(super) fn create_mode(&self) -> CreateMode {
        self.mode
    }

    /// Raises a list's next UID to the highest this process has seen for its UIDVALIDITY,
    /// and remembers the list's own.
    pub(super) fn guard_next_uid(&self, list: &mut Uidlist) {
        let mut seen = self.next_uid_seen.lock().unwrap_or_else(|p| p.into_inner());
        let entry = seen.entry(list.uid_validity).or_insert(list.next_uid);
        if *entry > list.next_uid {
            tracing::warn!(
                maildir = %self.dir.display(),
                "uidlist next UID went back from {} to {}; keeping {}",
                *entry,
                list.next_uid,
                *entry
            );
            list.next_uid = *entry;
        }
        *entry = list.next_uid;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn creates_missing_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("a/b/Maildir");
        let md = Maildir::open(&root, StoreOptions::default()).unwrap();
        assert_eq!(md.root(), root);
        for sub in ["", "cur", "new", "tmp"] {
            let meta = fs::metadata(root.join(sub)).unwrap();
            assert!(meta.is_dir());
            assert_eq!(meta.permissions().mode() & 0o777, 0o700, "{sub}");
        }
        let inbox = md.sync().unwrap();
        assert!(inbox.messages.is_empty());
        assert_eq!(inbox.total_size(), 0);
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Maildir>();
        check::<SessionLock>();
        check::<Inbox>();
    }
}
