//! `mailboxes.lock`: Dovecot 2.3's lock on the folder list of an account, held while a folder
//! is created, deleted or renamed, so that two servers never interleave such changes (one
//! renaming `a` while the other creates `a.b`, say).
//!
//! Unlike the uidlist's dotlock this is Dovecot's `file_create_locked`: the lock is a file in
//! the mail root that is both present *and* `fcntl`-locked. A taker opens an existing file
//! and locks it, then checks that the path still names the file it locked (a releaser
//! unlinks it before unlocking); or, when there is none, prepares a locked file under a
//! temporary name and hard-links it into place. A file left by a crashed holder is
//! therefore free to take at once: its lock died with the process.
//!
//! We use open-file-description locks (`F_OFD_SETLK`), which conflict with Dovecot's
//! classic `fcntl` locks and, unlike them, also between threads of one process.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, fcntl};

use super::StoreError;
use super::fsutil::{io_err, is_not_found};
use super::perms::CreateMode;

/// The lock file's name in the mail root (Dovecot's `MAILBOX_LIST_LOCK_FNAME`).
pub(super) const NAME: &str = "mailboxes.lock";

/// Dovecot's `MAILBOX_LIST_LOCK_SECS`.
pub(super) const TIMEOUT: Duration = Duration::from_secs(60);

/// The held folder-list lock; released on drop.
#[derive(Debug)]
pub(super) struct ListLock {
    path: PathBuf,
    file: File,
}

impl ListLock {
    /// Takes the lock, waiting up to `wait`.
    pub(super) fn acquire(
        root: &Path,
        mode: CreateMode,
        wait: Duration,
    ) -> Result<ListLock, StoreError> {
        let path = root.join(NAME);
        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_millis(5);
        loop {
            if let Some(lock) = try_existing(&path)? {
                return Ok(lock);
            }
            if let Some(lock) = try_create(&path, mode)? {
                return Ok(lock);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StoreError::LockTimeout { path });
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 3 / 2).min(Duration::from_millis(200));
        }
    }
}

impl Drop for ListLock {
    fn drop(&mut self) {
        // Unlink before unlocking (the lock goes with the file handle), so that whoever
        // gets the lock next finds the path gone and starts over.
        let ours = match (fs::symlink_metadata(&self.path), self.file.metadata()) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        };
        if ours
            && let Err(e) = fs::remove_file(&self.path)
            && !is_not_found(&e)
        {
            tracing::warn!(path = %self.path.display(), "cannot remove lock: {e}");
        }
    }
}

/// A write lock on the whole file, without waiting: `Ok(false)` if someone holds one.
fn lock_file(file: &File, path: &Path) -> Result<bool, StoreError> {
    let whole = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    match fcntl(file, FcntlArg::F_OFD_SETLK(&whole)) {
        Ok(_) => Ok(true),
        Err(Errno::EAGAIN | Errno::EACCES) => Ok(false),
        Err(e) => Err(io_err(path, io::Error::from(e))),
    }
}

/// Locks an existing lock file if it is free and still in place.
fn try_existing(path: &Path) -> Result<Option<ListLock>, StoreError> {
    let file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(io_err(path, e)),
    };
    if !lock_file(&file, path)? {
        return Ok(None);
    }
    let still_there = match (fs::symlink_metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    };
    Ok(still_there.then(|| ListLock {
        path: path.to_owned(),
        file,
    }))
}

/// Creates a locked lock file under a temporary name and links it into place.
fn try_create(path: &Path, mode: CreateMode) -> Result<Option<ListLock>, StoreError> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!("{:016x}", rand::random::<u64>()));
    let temp = PathBuf::from(temp);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|e| io_err(&temp, e))?;
    let result = (|| {
        mode.apply_to_file(&file, &temp)?;
        if !lock_file(&file, &temp)? {
            return Ok(false);
        }
        match fs::hard_link(&temp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(io_err(path, e)),
        }
    })();
    let _ = fs::remove_file(&temp);
    Ok(result?.then(|| ListLock {
        path: path.to_owned(),
        file,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_and_releases() {
        let dir = tempfile::tempdir().unwrap();
        let mode = CreateMode::of_dir(dir.path()).unwrap();
        let lock = ListLock::acquire(dir.path(), mode, Duration::from_secs(1)).unwrap();
        assert!(dir.path().join(NAME).exists());
        let err = ListLock::acquire(dir.path(), mode, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(err, StoreError::LockTimeout { .. }));
        drop(lock);
        assert!(!dir.path().join(NAME).exists());
        // Only the lock file itself remains while held, no temporary files.
        let again = ListLock::acquire(dir.path(), mode, Duration::from_secs(1)).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        drop(again);
    }

    #[test]
    fn crashed_holders_file_is_taken_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let mode = CreateMode::of_dir(dir.path()).unwrap();
        // Left behind by a process that died: present but not locked.
        fs::write(dir.path().join(NAME), "").unwrap();
        let lock = ListLock::acquire(dir.path(), mode, Duration::from_millis(50)).unwrap();
        drop(lock);
        assert!(!dir.path().join(NAME).exists());
    }

    #[test]
    fn waiter_gets_it_when_released() {
        let dir = tempfile::tempdir().unwrap();
        let mode = CreateMode::of_dir(dir.path()).unwrap();
        let lock = ListLock::acquire(dir.path(), mode, Duration::from_secs(1)).unwrap();
        let root = dir.path().to_owned();
        let waiter = std::thread::spawn(move || {
            ListLock::acquire(&root, mode, Duration::from_secs(10)).map(|_| ())
        });
        std::thread::sleep(Duration::from_millis(100));
        drop(lock);
        waiter.join().unwrap().unwrap();
    }
}
