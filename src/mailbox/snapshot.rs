//! What a session sees of a folder at one moment: an immutable [`Snapshot`].
//!
//! The shared state of an open folder publishes a new snapshot whenever the folder changes
//! (new mail, flag changes, expunges, by any session on any thread or by another server).
//! Sessions hold the snapshot their client was last told about, and the newest one, and
//! compare the two to find the EXISTS/EXPUNGE/FETCH updates to send, at the moments RFC 3501
//! allows. A snapshot is a few dozen bytes per message plus shared handles: the cached
//! ENVELOPE, BODYSTRUCTURE and header fields stay in the mapped index.

use std::sync::Arc;

use super::index::{Entry, IndexFile};
pub use crate::store::Flags;

/// A [`Message::slot`] with this bit set is a position in the snapshot's
/// [`derived`](Snapshot::derived) index (a converted form), not in its folder index.
pub const DERIVED_SLOT: u32 = 1 << 31;

/// One message in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    pub uid: u32,
    pub flags: Flags,
    /// RFC822.SIZE.
    pub wire_size: u64,
    /// INTERNALDATE, seconds since the epoch.
    pub internal_date: i64,
    /// Position of the message's record in the snapshot's index, if it has one; with
    /// [`DERIVED_SLOT`] set, in its derived index.
    pub slot: Option<u32>,
}

/// A folder as of one moment.
#[derive(Debug)]
pub struct Snapshot {
    pub uid_validity: u32,
    /// The UID the next message will get.
    pub uid_next: u32,
    /// Bumped for every published change; a newer snapshot has a larger one.
    pub generation: u64,
    /// The folder's keywords, by index.
    pub keywords: Arc<Vec<String>>,
    /// Whether a new keyword can still be created (Maildir has 26 letters for them).
    pub keywords_open: bool,
    /// Ascending by UID.
    pub messages: Vec<Message>,
    pub index: Arc<IndexFile>,
    /// For a session of a retrieval format other than `original`: the converted forms its
    /// converted messages' slots point into ([`super::derived`]).
    pub derived: Option<Arc<IndexFile>>,
}

impl Snapshot {
    /// An empty folder (used when a folder is selected before anything is known, and in tests).
    pub fn empty(uid_validity: u32) -> Snapshot {
        Snapshot {
            uid_validity,
            uid_next: 1,
            generation: 0,
            keywords: Arc::new(Vec::new()),
            keywords_open: true,
            messages: Vec::new(),
            index: Arc::new(IndexFile::empty()),
            derived: None,
        }
    }

    /// The position of a UID, if the message is here.
    pub fn position(&self, uid: u32) -> Option<usize> {
        self.messages.binary_search_by_key(&uid, |m| m.uid).ok()
    }

    /// The cached facts of the message at `pos`, if the index has them.
    pub fn cached(&self, pos: usize) -> Option<Entry<'_>> {
        let slot = self.messages.get(pos)?.slot?;
        if slot & DERIVED_SLOT != 0 {
            return self.derived.as_ref()?.at((slot & !DERIVED_SLOT) as usize);
        }
        self.index.at(slot as usize)
    }

    /// The number of a keyword by name (keywords are case-sensitive in Dovecot's file, but
    /// IMAP flag names are case-insensitive).
    pub fn keyword_index(&self, name: &str) -> Option<usize> {
        self.keywords
            .iter()
            .position(|k| k.eq_ignore_ascii_case(name))
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}
