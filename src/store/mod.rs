//! The Maildir mailstore.
//!
//! Postern serves mailboxes in place, side by side with Dovecot 2.3 and any MDA, so every
//! on-disk format and protocol here is Dovecot's: the `dovecot-uidlist` file that maps file
//! names to UIDs, its `dovecot-uidlist.lock` dotlock, the `dovecot-uidvalidity` counter and the
//! `dovecot-pop3-session.lock` POP3 maildrop lock. A POP3 client moving from Dovecot to Postern
//! (or back) sees the same UIDLs and sizes and downloads nothing twice.
//!
//! Everything is synchronous: the server calls it from a blocking thread pool.

mod delete;
mod dotlock;
mod filename;
mod fsutil;
mod maildir;
mod owner;
mod perms;
mod read;
mod scan;
mod session;
mod size;
mod sync;
mod uidlist;
mod uidvalidity;
mod writer;

#[cfg(test)]
mod sync_tests;
#[cfg(test)]
mod testutil;

use std::path::PathBuf;

pub use maildir::{Inbox, Maildir, MessageMeta, StoreOptions};
pub use read::message_opens;
pub use session::SessionLock;
pub use uidlist::uidl;

/// Why a store operation failed.
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
    /// A dotlock stayed held by a live process for longer than we wait.
    #[error("timed out waiting for {path}")]
    LockTimeout { path: PathBuf },
}
