//! The POP3 maildrop lock (RFC 1939 section 8: a session has the maildrop to itself until
//! QUIT).
//!
//! Dovecot's `pop3_lock_session = yes` takes the dotlock `dovecot-pop3-session.lock` in the
//! mail root (its index root when that is separate), treats it as stale after 300 seconds
//! without a touch, and touches it every 300 seconds while a session lasts (Dovecot 2.3
//! `src/pop3/pop3-client.c`). Postern takes the very same file, so a Postern session and a
//! Dovecot session on one maildrop exclude each other.

use std::path::Path;
use std::time::Duration;

use super::StoreError;
use super::dotlock::{DotLock, LockPolicy};
use super::perms::CreateMode;

/// The lock file's name, Dovecot's `POP3_LOCK_FNAME`.
pub(super) const NAME: &str = "dovecot-pop3-session.lock";

/// Dovecot's `POP3_SESSION_DOTLOCK_STALE_TIMEOUT_SECS`.
const STALE_TIMEOUT: Duration = Duration::from_secs(300);

/// A held POP3 maildrop lock; released on drop.
#[derive(Debug)]
pub struct SessionLock {
    lock: DotLock,
}

impl SessionLock {
    /// Takes the lock without waiting: a held lock means another session is in progress.
    pub(super) fn acquire(dir: &Path, mode: CreateMode) -> Result<SessionLock, StoreError> {
        let policy = LockPolicy {
            stale_timeout: STALE_TIMEOUT,
        };
        match DotLock::try_acquire(&dir.join(NAME), policy, mode)? {
            Some(lock) => Ok(SessionLock { lock }),
            None => Err(StoreError::Locked),
        }
    }

    /// Marks the lock as still in use. Another server overrides a lock nobody touched for
    /// 300 seconds unless its PID is visibly alive, so a session should call this at least
    /// once a minute or so. Fails with [`StoreError::Locked`] if the lock was taken over.
    pub fn refresh(&self) -> Result<(), StoreError> {
        self.lock.touch()
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        self.lock.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::owner;
    use crate::store::testutil::TestMaildir;
    use std::fs;

    #[test]
    fn exclusive_and_released_on_drop() {
        let t = TestMaildir::new();
        let md = t.open();
        let lock = md.lock_pop3_session().unwrap();
        let path = t.root().join(NAME);
        assert_eq!(fs::read_to_string(&path).unwrap(), owner::this_process());
        assert!(matches!(md.lock_pop3_session(), Err(StoreError::Locked)));
        // A second Maildir on the same directory is excluded as well.
        assert!(matches!(
            t.open().lock_pop3_session(),
            Err(StoreError::Locked)
        ));
        lock.refresh().unwrap();
        drop(lock);
        assert!(!path.exists());
        drop(md.lock_pop3_session().unwrap());
    }

    #[test]
    fn live_dovecot_session_excludes_us() {
        let t = TestMaildir::new();
        // What a running Dovecot pop3 process leaves: its PID (here PID 1, always alive).
        fs::write(t.root().join(NAME), format!("1:{}", owner::hostname())).unwrap();
        assert!(matches!(
            t.open().lock_pop3_session(),
            Err(StoreError::Locked)
        ));
    }

    #[test]
    fn crashed_session_lock_is_taken_over() {
        let t = TestMaildir::new();
        let path = t.root().join(NAME);
        fs::write(&path, format!("{}:{}", 4_194_304 + 99, owner::hostname())).unwrap();
        // Dovecot only trusts a PID in a lock at least two seconds old.
        let old = std::time::SystemTime::now() - Duration::from_secs(10);
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let lock = t.open().lock_pop3_session().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), owner::this_process());
        drop(lock);
    }
}
