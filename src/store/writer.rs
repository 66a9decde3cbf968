//! The write side of the uidlist protocol: take `dovecot-uidlist.lock`, read the current
//! list under it, change it, replace it, let go.
//!
//! Every change to UIDs happens between those steps, so two writers (Postern threads,
//! Postern processes, Dovecot) can never assign the same UID or lose each other's records.
//! The lock is Dovecot's: stale after 120 seconds (`MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT`).

use std::fs;
use std::time::Duration;

use super::dotlock::{DotLock, LockPolicy};
use super::maildir::Maildir;
use super::uidlist::{self, LoadError, Uidlist};
use super::{StoreError, uidvalidity};

const LOCK_NAME: &str = "dovecot-uidlist.lock";
const BROKEN_NAME: &str = "dovecot-uidlist.broken";
const STALE_TIMEOUT: Duration = Duration::from_secs(120);

/// The uidlist, locked for writing.
pub(super) struct LockedList {
    pub list: Uidlist,
    _lock: DotLock,
}

/// Takes the lock (waiting up to the configured timeout) and loads the list under it. A
/// missing list is started afresh with a new UIDVALIDITY; a broken one is set aside and
/// rebuilt from what can be salvaged.
pub(super) fn lock(md: &Maildir) -> Result<LockedList, StoreError> {
    let policy = LockPolicy {
        stale_timeout: STALE_TIMEOUT,
    };
    let lock = DotLock::acquire(
        &md.dir().join(LOCK_NAME),
        policy,
        md.create_mode(),
        md.options().lock_timeout,
    )?;
    let mut list = match uidlist::load(md.dir()) {
        Ok(Some(list)) => list,
        Ok(None) => Uidlist::new(uidvalidity::next(md.uidvalidity_dir(), md.create_mode())),
        Err(LoadError::Io(e)) => return Err(e),
        Err(LoadError::Corrupt { reason, data }) => rebuild(md, &reason, &data),
    };
    md.guard_next_uid(&mut list);
    Ok(LockedList { list, _lock: lock })
}

impl LockedList {
    /// Replaces the uidlist with the changed list (still under the lock).
    pub(super) fn commit(&mut self, md: &Maildir) -> Result<(), StoreError> {
        md.guard_next_uid(&mut self.list);
        let guid = *self.list.guid.get_or_insert_with(rand::random);
        uidlist::store(
            md.dir(),
            &self.list,
            &guid,
            md.create_mode(),
            md.options().fsync,
        )?;
        self.list.version = 3;
        self.list.dirty = false;
        Ok(())
    }
}

/// Sets a broken uidlist aside (Dovecot deletes it; keeping it costs nothing and helps
/// whoever investigates) and starts over from what it still says.
fn rebuild(md: &Maildir, reason: &str, data: &[u8]) -> Uidlist {
    let path = md.dir().join(uidlist::NAME);
    tracing::error!(
        path = %path.display(),
        "broken uidlist ({reason}); rebuilding it, old copy kept as {BROKEN_NAME}"
    );
    if let Err(e) = fs::rename(&path, md.dir().join(BROKEN_NAME)) {
        tracing::warn!(path = %path.display(), "cannot set broken uidlist aside: {e}");
    }
    uidlist::salvage(data)
        .unwrap_or_else(|| Uidlist::new(uidvalidity::next(md.uidvalidity_dir(), md.create_mode())))
}
