//! Dovecot-compatible dotlocks.
//!
//! Dovecot serialises writers of `dovecot-uidlist` (and, with `pop3_lock_session`, whole POP3
//! sessions) with lock files: whoever creates the file exclusively holds the lock (Dovecot
//! uses `O_CREAT|O_EXCL` or `link()` of a prepared file; both exclude each other), writes
//! `<pid>:<hostname>` into it, and unlinks it when done. Holders touch the file to show
//! they are alive. A waiter overrides a lock whose process on this host is dead, or which
//! nobody has touched for the lock's stale timeout (the holder crashed elsewhere). Speaking
//! this exact protocol is what lets Dovecot and Postern share a maildir safely.
//!
//! Within one process every holder has the same PID, so the PID cannot tell our own live
//! locks from leftovers of a dead process that had our PID; a process-wide registry of the
//! locks we hold does.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use super::StoreError;
use super::fsutil::{IoContext, is_not_found};
use super::owner;
use super::perms::CreateMode;

/// Lock files this process holds. Creation and registration happen under the mutex, and so
/// does every decision to override a lock naming our own PID.
static HELD: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

fn held() -> MutexGuard<'static, Option<HashSet<PathBuf>>> {
    // A panic elsewhere cannot leave the set inconsistent: every update is one insert/remove.
    HELD.lock().unwrap_or_else(|p| p.into_inner())
}

/// How long Dovecot waits before a lock whose PID it cannot check counts as stale; a lock
/// naming a live local PID we respect for twice that, in case the PID was reused.
#[derive(Debug, Clone, Copy)]
pub(super) struct LockPolicy {
    pub stale_timeout: Duration,
}

/// Dovecot reads a lock's PID only once the file is this old: a younger one may still be
/// empty because its creator has not written the PID yet.
const PID_CHECK_AGE: Duration = Duration::from_secs(2);

/// A held dotlock; dropping it removes the lock file if it is still ours.
#[derive(Debug)]
pub(super) struct DotLock {
    path: PathBuf,
    dev: u64,
    ino: u64,
    /// For a replace lock: the open lock file, which receives the new contents.
    file: Option<File>,
    /// Set once the lock file has been renamed over its target.
    replaced: bool,
}

/// What the lock file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `<pid>:<host>`: the lock only excludes.
    Pid,
    /// Created empty; the holder writes the file's new contents into it and renames it over
    /// the file (Dovecot's `file_dotlock_open` + `file_dotlock_replace`, used for
    /// `subscriptions` and `dovecot-keywords`).
    Replace,
}

/// The outcome of one attempt to take a lock.
enum Attempt {
    Acquired(DotLock),
    Busy,
}

impl DotLock {
    /// Takes the lock, waiting up to `wait` while a live holder keeps it.
    pub(super) fn acquire(
        path: &Path,
        policy: LockPolicy,
        mode: CreateMode,
        wait: Duration,
    ) -> Result<DotLock, StoreError> {
        acquire_kind(path, policy, mode, wait, Kind::Pid)
    }

    /// Takes a replace lock on `target` (the lock is `<target>.lock`), waiting up to `wait`.
    /// The new contents go to [`file`](Self::file); [`replace`](Self::replace) installs them.
    pub(super) fn acquire_replace(
        target: &Path,
        policy: LockPolicy,
        mode: CreateMode,
        wait: Duration,
    ) -> Result<DotLock, StoreError> {
        acquire_kind(&lock_path_of(target), policy, mode, wait, Kind::Replace)
    }

    /// Takes a replace lock without waiting; `Ok(None)` while someone holds it.
    pub(super) fn try_acquire_replace(
        target: &Path,
        policy: LockPolicy,
        mode: CreateMode,
    ) -> Result<Option<DotLock>, StoreError> {
        Ok(
            match try_once(&lock_path_of(target), policy, mode, Kind::Replace)? {
                Attempt::Acquired(lock) => Some(lock),
                Attempt::Busy => None,
            },
        )
    }

    /// The open lock file of a replace lock.
    pub(super) fn file(&mut self) -> &mut File {
        self.file
            .as_mut()
            .expect("only replace locks have a file; acquire_replace made this one")
    }

    /// Renames a replace lock's file over its target: the new contents become visible
    /// atomically, and the lock is released. Fails, leaving the target alone, if the lock
    /// was overridden meanwhile.
    pub(super) fn replace(mut self, durable: bool) -> Result<(), StoreError> {
        if durable {
            self.file().sync_all().at(&self.path)?;
        }
        if !self.is_ours() {
            // Someone judged us stale and took over: their write wins, ours must not.
            return Err(super::fsutil::io_err(
                &self.path,
                io::Error::other("lock was overridden by another process"),
            ));
        }
        let target = self.path.with_extension("");
        fs::rename(&self.path, &target).at(&target)?;
        self.replaced = true;
        if durable {
            super::fsutil::fsync_dir(target.parent().unwrap_or(Path::new(".")))?;
        }
        Ok(())
    }

    /// Takes the lock if it is free or stale; `Ok(None)` while someone holds it.
    pub(super) fn try_acquire(
        path: &Path,
        policy: LockPolicy,
        mode: CreateMode,
    ) -> Result<Option<DotLock>, StoreError> {
        Ok(match try_once(path, policy, mode, Kind::Pid)? {
            Attempt::Acquired(lock) => Some(lock),
            Attempt::Busy => None,
        })
    }

    /// The lock file's path.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the lock file on disk is still the one we created (not overridden).
    pub(super) fn is_ours(&self) -> bool {
        fs::symlink_metadata(&self.path)
            .map(|m| m.dev() == self.dev && m.ino() == self.ino)
            .unwrap_or(false)
    }

    /// Sets the lock's mtime to now so that nobody takes it for stale.
    pub(super) fn touch(&self) -> Result<(), StoreError> {
        if !self.is_ours() {
            return Err(StoreError::Locked);
        }
        let file = OpenOptions::new()
            .write(true)
            .open(&self.path)
            .at(&self.path)?;
        file.set_modified(SystemTime::now()).at(&self.path)
    }
}

/// `<target>.lock`.
fn lock_path_of(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn acquire_kind(
    path: &Path,
    policy: LockPolicy,
    mode: CreateMode,
    wait: Duration,
    kind: Kind,
) -> Result<DotLock, StoreError> {
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Attempt::Acquired(lock) = try_once(path, policy, mode, kind)? {
            return Ok(lock);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(StoreError::LockTimeout {
                path: path.to_owned(),
            });
        }
        std::thread::sleep(jitter(pause).min(deadline - now));
        pause = (pause * 3 / 2).min(Duration::from_millis(500));
    }
}

impl Drop for DotLock {
    fn drop(&mut self) {
        let mut set = held();
        if self.replaced {
            // Renamed over its target: nothing left to remove.
        } else if self.is_ours() {
            if let Err(e) = fs::remove_file(&self.path)
                && !is_not_found(&e)
            {
                tracing::warn!(path = %self.path.display(), "cannot remove lock: {e}");
            }
        } else {
            tracing::warn!(path = %self.path.display(), "our lock was overridden by another process");
        }
        if let Some(set) = set.as_mut() {
            set.remove(&self.path);
        }
    }
}

fn try_once(
    path: &Path,
    policy: LockPolicy,
    mode: CreateMode,
    kind: Kind,
) -> Result<Attempt, StoreError> {
    try_once_at(path, policy, mode, SystemTime::now(), kind)
}

/// One attempt, judging staleness as of `now`.
fn try_once_at(
    path: &Path,
    policy: LockPolicy,
    mode: CreateMode,
    now: SystemTime,
    kind: Kind,
) -> Result<Attempt, StoreError> {
    {
        let mut guard = held();
        let set = guard.get_or_insert_with(HashSet::new);
        if set.contains(path) {
            return Ok(Attempt::Busy);
        }
        let mut verdict = Verdict::Gone;
        for _ in 0..2 {
            if let Some(lock) = create(path, mode, kind)? {
                set.insert(path.to_owned());
                return Ok(Attempt::Acquired(lock));
            }
            verdict = judge(path, policy, now)?;
            if !matches!(verdict, Verdict::Gone) {
                break;
            }
        }
        match verdict {
            Verdict::Held | Verdict::Gone => return Ok(Attempt::Busy),
            Verdict::Stale(dev, ino) => {
                override_stale(path, dev, ino)?;
                tracing::warn!(path = %path.display(), "overrode a stale lock");
            }
        }
    }
    // Like Dovecot, pause after an override so that a second process that judged the same
    // lock stale unlinks it before we create ours, not after.
    std::thread::sleep(jitter(Duration::from_millis(100)));
    let mut guard = held();
    let set = guard.get_or_insert_with(HashSet::new);
    if set.contains(path) {
        return Ok(Attempt::Busy);
    }
    Ok(match create(path, mode, kind)? {
        Some(lock) => {
            set.insert(path.to_owned());
            Attempt::Acquired(lock)
        }
        None => Attempt::Busy,
    })
}

/// Creates the lock file exclusively, already holding our `pid:host` and with its final
/// mode and owner.
///
/// The file is prepared under a temporary name and then hard-linked to the lock name (the
/// link fails if the lock exists), which is Dovecot's other dotlock method. Creating the
/// lock itself with `O_EXCL` would show other processes, for a moment, an empty file that
/// still belongs to us: when we run as root, a Dovecot waiting for the lock as the mailbox
/// owner then cannot watch it and logs an error.
fn create(path: &Path, mode: CreateMode, kind: Kind) -> Result<Option<DotLock>, StoreError> {
    if kind == Kind::Replace {
        return create_replace(path, mode);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = dir.join(format!(
        ".temp.{}.{}.{:08x}",
        owner::hostname(),
        std::process::id(),
        rand::random::<u32>()
    ));
    let prepared = prepare(&temp, mode);
    let linked = prepared.and_then(|meta| match fs::hard_link(&temp, path) {
        Ok(()) => Ok(Some(meta)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
        // A file system without hard links: fall back to O_EXCL.
        Err(_) => create_excl(path, mode),
    });
    let _ = fs::remove_file(&temp);
    Ok(linked?.map(|meta| DotLock {
        path: path.to_owned(),
        dev: meta.dev(),
        ino: meta.ino(),
        file: None,
        replaced: false,
    }))
}

/// Creates an empty replace lock with `O_EXCL`, as Dovecot does: its contents are the new
/// file, so it cannot be prepared elsewhere and linked.
fn create_replace(path: &Path, mode: CreateMode) -> Result<Option<DotLock>, StoreError> {
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(super::fsutil::io_err(path, e)),
    };
    let meta = mode
        .apply_to_file(&file, path)
        .and_then(|()| file.metadata().at(path));
    match meta {
        Ok(meta) => Ok(Some(DotLock {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
            file: Some(file),
            replaced: false,
        })),
        Err(e) => {
            let _ = fs::remove_file(path);
            Err(e)
        }
    }
}

/// Writes a complete lock file (contents, mode, owner) at `path`, which must not exist.
/// On failure nothing is left behind, and a file someone else created is never removed.
fn prepare(path: &Path, mode: CreateMode) -> Result<fs::Metadata, StoreError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .at(path)?;
    let filled = file
        .write_all(owner::this_process().as_bytes())
        .at(path)
        .and_then(|()| mode.apply_to_file(&file, path))
        .and_then(|()| file.metadata().at(path));
    if filled.is_err() {
        let _ = fs::remove_file(path);
    }
    filled
}

fn create_excl(path: &Path, mode: CreateMode) -> Result<Option<fs::Metadata>, StoreError> {
    match prepare(path, mode) {
        Ok(meta) => Ok(Some(meta)),
        Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

enum Verdict {
    Held,
    Gone,
    Stale(u64, u64),
}

/// Dovecot's `check_lock`: is the existing lock file abandoned, as of `now`?
fn judge(path: &Path, policy: LockPolicy, now: SystemTime) -> Result<Verdict, StoreError> {
    let (meta, contents) = match read_lock(path) {
        Ok(v) => v,
        Err(e) if is_not_found(&e) => return Ok(Verdict::Gone),
        Err(e) => return Err(super::fsutil::io_err(path, e)),
    };
    let since = |t: SystemTime| now.duration_since(t).unwrap_or(Duration::ZERO);
    let age = since(last_change(&meta, now));
    let stale = Verdict::Stale(meta.dev(), meta.ino());

    let mtime = meta.modified().unwrap_or(now);
    let pid = if since(mtime) >= PID_CHECK_AGE {
        owner::local_pid(&contents)
    } else {
        None
    };
    if let Some(pid) = pid {
        if pid == std::process::id() {
            // Our own live locks are in the registry (checked by the caller under the same
            // mutex); this one is left over from a dead process that had our PID.
            return Ok(stale);
        }
        if !owner::is_alive(pid) {
            return Ok(stale);
        }
        return Ok(if age > policy.stale_timeout * 2 {
            stale
        } else {
            Verdict::Held
        });
    }
    Ok(if age > policy.stale_timeout {
        stale
    } else {
        Verdict::Held
    })
}

fn read_lock(path: &Path) -> io::Result<(fs::Metadata, Vec<u8>)> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    let mut contents = Vec::with_capacity(64);
    Read::by_ref(&mut file)
        .take(512)
        .read_to_end(&mut contents)?;
    Ok((meta, contents))
}

/// When the lock last showed life, as Dovecot reckons it: the later of its mtime and ctime
/// (a touch moves both), except that an mtime in the future is not believed.
fn last_change(meta: &fs::Metadata, now: SystemTime) -> SystemTime {
    let mtime = meta.modified().unwrap_or(now);
    let ctime = SystemTime::UNIX_EPOCH + Duration::new(meta.ctime().max(0) as u64, 0);
    if mtime <= now && mtime > ctime {
        mtime
    } else {
        ctime
    }
}

/// Unlinks a stale lock, unless it was replaced since we judged it.
fn override_stale(path: &Path, dev: u64, ino: u64) -> Result<(), StoreError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.dev() == dev && m.ino() == ino => match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(super::fsutil::io_err(path, e)),
        },
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(super::fsutil::io_err(path, e)),
    }
}

/// A pause of between one and two times `base`, so that waiters do not move in lockstep.
fn jitter(base: Duration) -> Duration {
    base + base.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const POLICY: LockPolicy = LockPolicy {
        stale_timeout: Duration::from_secs(120),
    };

    fn setup() -> (tempfile::TempDir, PathBuf, CreateMode) {
        let dir = tempfile::tempdir().unwrap();
        let mode = CreateMode::of_dir(dir.path()).unwrap();
        let path = dir.path().join("x.lock");
        (dir, path, mode)
    }

    /// One attempt as if `secs` seconds had passed since the lock file was last changed.
    fn attempt_after(path: &Path, mode: CreateMode, secs: u64) -> Option<DotLock> {
        let later = SystemTime::now() + Duration::from_secs(secs);
        match try_once_at(path, POLICY, mode, later, Kind::Pid).unwrap() {
            Attempt::Acquired(lock) => Some(lock),
            Attempt::Busy => None,
        }
    }

    #[test]
    fn lock_file_names_us_and_goes_away() {
        let (_dir, path, mode) = setup();
        let lock = DotLock::try_acquire(&path, POLICY, mode).unwrap().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), owner::this_process());
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            mode.file_mode
        );
        drop(lock);
        assert!(!path.exists());
    }

    #[test]
    fn held_in_process_is_busy_even_when_old() {
        let (_dir, path, mode) = setup();
        let _lock = DotLock::try_acquire(&path, POLICY, mode).unwrap().unwrap();
        assert!(DotLock::try_acquire(&path, POLICY, mode).unwrap().is_none());
        assert!(attempt_after(&path, mode, 1000).is_none());
        let err = DotLock::acquire(&path, POLICY, mode, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(err, StoreError::LockTimeout { .. }));
    }

    #[test]
    fn live_foreign_pid_is_respected_past_stale_timeout() {
        let (_dir, path, mode) = setup();
        // PID 1 always runs.
        fs::write(&path, format!("1:{}", owner::hostname())).unwrap();
        assert!(attempt_after(&path, mode, 200).is_none());
        assert!(path.exists());
        // ...but not forever: after twice the timeout the PID was probably reused.
        assert!(attempt_after(&path, mode, 241).is_some());
    }

    #[test]
    fn dead_pid_is_overridden() {
        let (_dir, path, mode) = setup();
        fs::write(&path, format!("{}:{}", 4_194_304 + 17, owner::hostname())).unwrap();
        // Too young to trust the PID: could be a lock being created.
        assert!(attempt_after(&path, mode, 1).is_none());
        let lock = attempt_after(&path, mode, 3).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), owner::this_process());
        drop(lock);
    }

    #[test]
    fn our_pid_not_registered_is_a_leftover() {
        let (_dir, path, mode) = setup();
        fs::write(&path, owner::this_process()).unwrap();
        assert!(attempt_after(&path, mode, 3).is_some());
    }

    #[test]
    fn unknown_owner_waits_for_stale_timeout() {
        let (_dir, path, mode) = setup();
        fs::write(&path, "77:another-host.invalid").unwrap();
        assert!(attempt_after(&path, mode, 100).is_none());
        assert!(attempt_after(&path, mode, 121).is_some());
    }

    #[test]
    fn empty_young_lock_is_held() {
        let (_dir, path, mode) = setup();
        fs::write(&path, "").unwrap();
        assert!(DotLock::try_acquire(&path, POLICY, mode).unwrap().is_none());
    }

    #[test]
    fn waiting_ends_when_holder_releases() {
        let (_dir, path, mode) = setup();
        let lock = DotLock::try_acquire(&path, POLICY, mode).unwrap().unwrap();
        let p2 = path.clone();
        let waiter = std::thread::spawn(move || {
            DotLock::acquire(&p2, POLICY, mode, Duration::from_secs(10)).map(|_| ())
        });
        std::thread::sleep(Duration::from_millis(100));
        drop(lock);
        waiter.join().unwrap().unwrap();
    }

    #[test]
    fn touch_and_override_detection() {
        let (_dir, path, mode) = setup();
        let lock = DotLock::try_acquire(&path, POLICY, mode).unwrap().unwrap();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(50))
            .unwrap();
        lock.touch().unwrap();
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        assert!(SystemTime::now().duration_since(mtime).unwrap() < Duration::from_secs(5));
        // Someone else overrides it: touching must report the loss, and dropping must not
        // remove their lock.
        fs::remove_file(&path).unwrap();
        fs::write(&path, "1:elsewhere").unwrap();
        assert!(matches!(lock.touch(), Err(StoreError::Locked)));
        drop(lock);
        assert!(path.exists());
    }

    #[test]
    fn replace_lock_installs_new_contents_or_leaves_target_alone() {
        let (dir, _, mode) = setup();
        let target = dir.path().join("subscriptions");
        fs::write(&target, "old").unwrap();
        let mut lock =
            DotLock::acquire_replace(&target, POLICY, mode, Duration::from_secs(1)).unwrap();
        assert!(dir.path().join("subscriptions.lock").exists());
        // Held: a second taker waits, then gives up.
        assert!(
            DotLock::try_acquire_replace(&target, POLICY, mode)
                .unwrap()
                .is_none()
        );
        lock.file().write_all(b"new").unwrap();
        lock.replace(true).unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
        assert!(!dir.path().join("subscriptions.lock").exists());

        // Dropped without replacing: the target is untouched and the lock gone.
        let mut lock = DotLock::try_acquire_replace(&target, POLICY, mode)
            .unwrap()
            .unwrap();
        lock.file().write_all(b"half").unwrap();
        drop(lock);
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
        assert!(!dir.path().join("subscriptions.lock").exists());

        // Overridden meanwhile: our contents must not replace the file.
        let mut lock = DotLock::try_acquire_replace(&target, POLICY, mode)
            .unwrap()
            .unwrap();
        lock.file().write_all(b"ours").unwrap();
        fs::remove_file(dir.path().join("subscriptions.lock")).unwrap();
        fs::write(dir.path().join("subscriptions.lock"), "theirs").unwrap();
        assert!(lock.replace(false).is_err());
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
    }
}
