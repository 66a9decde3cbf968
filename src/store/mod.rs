//! The Maildir mailstore.
//!
//! Postern serves mailboxes in place, side by side with Dovecot 2.3 and any MDA, so every
//! on-disk format and protocol here is Dovecot's: the `dovecot-uidlist` file that maps file
//! names to UIDs, its `dovecot-uidlist.lock` dotlock, the `dovecot-uidvalidity` counter and the
//! `dovecot-pop3-session.lock` POP3 maildrop lock. A POP3 client moving from Dovecot to Postern
//! (or back) sees the same UIDLs and sizes and downloads nothing twice.
//!
//! For IMAP it also writes: flag changes are file renames (`flags`, `keywords`,
//! `setflags`), new messages arrive through `tmp/` with their UID given at once (`append`),
//! copies are hard links (`copy`), and the account's Maildir++ folders and subscriptions are
//! kept exactly as Dovecot keeps them (`folders`, `subscriptions`, `listlock`).
//!
//! Everything is synchronous: the server calls it from a blocking thread pool.

mod append;
mod copy;
mod dates;
mod delete;
mod dotlock;
mod filename;
mod flags;
mod folders;
mod fsutil;
mod keywords;
mod listlock;
mod maildir;
mod owner;
mod perms;
mod read;
mod scan;
mod session;
mod setflags;
mod size;
mod subscriptions;
mod sync;
mod uidlist;
mod uidvalidity;
mod unique;
mod writer;

#[cfg(test)]
mod sync_tests;
#[cfg(test)]
mod testutil;

use std::path::PathBuf;

pub use append::Appended;
pub use copy::Copied;
pub use flags::{Flags, KeywordSet, MAX_KEYWORDS, SystemFlags};
pub use folders::{FolderInfo, Folders, SEPARATOR, check_name};
pub use keywords::Keywords;
pub use maildir::{Inbox, Maildir, MessageMeta, StoreOptions};
pub use read::message_opens;
pub use session::SessionLock;
pub use setflags::{FlagChange, FlagOp, FlagUpdate, NewFlags};
pub use uidlist::uidl;

/// Why a store operation failed.
///
/// How the IMAP layer answers each (RFC 5530 codes): `Locked` and `LockTimeout` are
/// `NO [INUSE]` (try again); `Io` is `NO [SERVERBUG]` (or `[UNAVAILABLE]`); `Corrupt` is
/// `NO [CORRUPTION]`; `Gone` is an expunged message (skip it, or `NO` for a lone FETCH/STORE);
/// `TooManyKeywords` is `NO [LIMIT]`; `InvalidKeyword` is `BAD`; `InvalidName` and `Cannot`
/// are `NO [CANNOT]`; `AlreadyExists` is `NO [ALREADYEXISTS]`; `NonExistent` is
/// `NO [NONEXISTENT]` (`NO [TRYCREATE]` for the target of APPEND, COPY and MOVE).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another POP3 session (Postern's or Dovecot's) holds the maildrop.
    #[error("mailbox is locked by another session")]
    Locked,
    /// A file system call failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A store file cannot be used as it is.
    #[error("{path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// The message's file is no longer in the Maildir (expunged by another session).
    #[error("message {uid} has disappeared")]
    Gone { uid: u32 },
    /// A dotlock stayed held by a live process for longer than we wait (IMAP:
    /// `NO [INUSE]`, try again later).
    #[error("timed out waiting for {path}")]
    LockTimeout { path: PathBuf },
    /// All 26 keyword letters of the folder are taken (IMAP: `NO [LIMIT]`; PERMANENTFLAGS
    /// no longer offers `\*`).
    #[error("no room for another keyword: a Maildir folder has 26")]
    TooManyKeywords,
    /// A keyword name that cannot be stored (empty, spaces, control characters).
    #[error("invalid keyword {name:?}")]
    InvalidKeyword { name: String },
    /// A folder name that is not allowed (IMAP: `NO [CANNOT]`).
    #[error("invalid mailbox name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    /// The folder already exists (IMAP: `NO [ALREADYEXISTS]`).
    #[error("mailbox {name:?} already exists")]
    AlreadyExists { name: String },
    /// No such folder (IMAP: `NO [NONEXISTENT]`).
    #[error("mailbox {name:?} does not exist")]
    NonExistent { name: String },
    /// The operation is not possible on this folder, e.g. deleting INBOX or renaming a
    /// folder under itself (IMAP: `NO [CANNOT]`).
    #[error("{reason}")]
    Cannot { reason: &'static str },
}
