//! Noticing changes to watched folders as they happen, with inotify.
//!
//! An MDA delivers by renaming a file into `new/`; Dovecot changes flags by renaming files in
//! `cur/` and expunges by unlinking them. Each of these is one inotify event on the folder's
//! directory, so a folder that IDLE sessions watch learns of new mail within milliseconds
//! without anyone polling it. Only folders some session has selected are watched (two
//! watches each, released when the last session leaves), which keeps a server with a
//! hundred thousand idle clients at two hundred thousand watches: see `tuning/` for the
//! `fs.inotify.max_user_watches` that needs.
//!
//! One thread reads the events and asks for a refresh of each folder they concern; a burst of
//! events for one folder makes one refresh (see [`SharedMailbox::queue_refresh`]). When the
//! kernel refuses a watch (the limit is reached), the folder is simply not watched: its
//! sessions still see changes at NOOP, CHECK and every command, and IDLE falls back to a
//! slow periodic look (the runtime's job).

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};

use super::shared::SharedMailbox;

/// What to do with a folder that changed: queue its refresh somewhere it may block.
pub type OnChange = Arc<dyn Fn(Arc<SharedMailbox>) + Send + Sync>;

/// The process's inotify watcher.
pub struct Watcher {
    watches: Mutex<Watches>,
    targets: Mutex<Targets>,
}

#[derive(Default)]
struct Targets {
    by_wd: HashMap<WatchDescriptor, Weak<SharedMailbox>>,
    by_mailbox: HashMap<u64, Vec<WatchDescriptor>>,
}

const MASK: WatchMask = WatchMask::CREATE
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::DELETE)
    .union(WatchMask::DELETE_SELF);

impl Watcher {
    /// Starts the watcher thread.
    pub fn start(on_change: OnChange) -> io::Result<Arc<Watcher>> {
        let mut inotify = Inotify::init()?;
        let watcher = Arc::new(Watcher {
            watches: Mutex::new(inotify.watches()),
            targets: Mutex::new(Targets::default()),
        });
        let weak = Arc::downgrade(&watcher);
        std::thread::Builder::new()
            .name("postern-watch".into())
            .spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let events = match inotify.read_events_blocking(&mut buf) {
                        Ok(events) => events,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            tracing::error!("inotify read failed, folders no longer watched: {e}");
                            return;
                        }
                    };
                    let Some(watcher) = weak.upgrade() else {
                        return;
                    };
                    let mut changed: Vec<Arc<SharedMailbox>> = Vec::new();
                    {
                        let mut targets = watcher.lock_targets();
                        for event in events {
                            if event.mask.contains(EventMask::IGNORED) {
                                targets.by_wd.remove(&event.wd);
                                continue;
                            }
                            if let Some(mailbox) =
                                targets.by_wd.get(&event.wd).and_then(Weak::upgrade)
                                && !changed.iter().any(|m| m.id() == mailbox.id())
                            {
                                changed.push(mailbox);
                            }
                        }
                    }
                    for mailbox in changed {
                        if mailbox.queue_refresh() {
                            on_change(mailbox);
                        }
                    }
                }
            })?;
        Ok(watcher)
    }

    fn lock_targets(&self) -> std::sync::MutexGuard<'_, Targets> {
        self.targets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts watching a folder's `new/` and `cur/`. Returns false when the kernel refused.
    pub fn watch(&self, mailbox: &Arc<SharedMailbox>) -> bool {
        let dir = mailbox.dir().to_owned();
        let mut wds = Vec::new();
        for sub in ["new", "cur"] {
            let added = self
                .watches
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .add(dir.join(sub), MASK);
            match added {
                Ok(wd) => wds.push(wd),
                Err(e) => {
                    log_refusal(&dir, &e);
                    self.forget(wds);
                    return false;
                }
            }
        }
        let mut targets = self.lock_targets();
        for wd in &wds {
            targets.by_wd.insert(wd.clone(), Arc::downgrade(mailbox));
        }
        targets.by_mailbox.insert(mailbox.id(), wds);
        true
    }

    /// Stops watching a folder.
    pub fn unwatch(&self, mailbox: &SharedMailbox) {
        let wds = {
            let mut targets = self.lock_targets();
            let wds = targets.by_mailbox.remove(&mailbox.id()).unwrap_or_default();
            for wd in &wds {
                targets.by_wd.remove(wd);
            }
            wds
        };
        self.forget(wds);
    }

    fn forget(&self, wds: Vec<WatchDescriptor>) {
        let mut watches = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        for wd in wds {
            // Fails only if the directory is already gone, which removed the watch anyway.
            let _ = watches.remove(wd);
        }
    }
}

fn log_refusal(dir: &Path, e: &io::Error) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static LOGGED: AtomicBool = AtomicBool::new(false);
    if e.raw_os_error() == Some(libc::ENOSPC) {
        if !LOGGED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "inotify watch limit reached: folders selected from now on are not watched \
                 (raise fs.inotify.max_user_watches, see tuning/)"
            );
        }
    } else {
        tracing::warn!(dir = %dir.display(), "cannot watch folder: {e}");
    }
}
