//! The process-wide table of open folders, so that every session selecting a folder shares
//! one [`SharedMailbox`], whatever worker thread it runs on.
//!
//! Folders are keyed by their resolved Maildir path. The table holds weak references: a
//! folder stays open while some session (or STATUS, COPY, APPEND in progress) holds it, and
//! is dropped, with its watches, when the last one lets go.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::shared::{IndexOptions, Notify, SharedMailbox};
use super::watch::Watcher;
use crate::store::{Maildir, StoreError};

/// The open folders.
pub struct Registry {
    open: Mutex<HashMap<PathBuf, Weak<SharedMailbox>>>,
    next_id: AtomicU64,
    options: Arc<IndexOptions>,
    notify: Arc<dyn Notify>,
    workers: usize,
    watcher: Mutex<Option<Arc<Watcher>>>,
}

impl Registry {
    pub fn new(options: IndexOptions, notify: Arc<dyn Notify>, workers: usize) -> Arc<Registry> {
        Arc::new(Registry {
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            options: Arc::new(options),
            notify,
            workers,
            watcher: Mutex::new(None),
        })
    }

    /// Installs the directory watcher (the server starts it once it can run refreshes).
    pub fn set_watcher(&self, watcher: Arc<Watcher>) {
        *self.watcher.lock().unwrap_or_else(|p| p.into_inner()) = Some(watcher);
    }

    /// What every folder index keeps.
    pub fn options(&self) -> &IndexOptions {
        &self.options
    }

    /// The fingerprint every folder index is made for.
    pub fn fingerprint(&self) -> u64 {
        self.options.fingerprint()
    }

    fn watcher(&self) -> Option<Arc<Watcher>> {
        self.watcher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn key(dir: &Path) -> PathBuf {
        std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned())
    }

    /// The open folder at `dir`, if any.
    pub fn find(&self, dir: &Path) -> Option<Arc<SharedMailbox>> {
        let key = Self::key(dir);
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&key).and_then(Weak::upgrade)
    }

    /// The folder at `dir`, opened with `open` and read if nobody has it open. Blocking.
    pub fn open_with(
        &self,
        dir: &Path,
        open: impl FnOnce() -> Result<Maildir, StoreError>,
    ) -> Result<Arc<SharedMailbox>, StoreError> {
        if let Some(found) = self.find(dir) {
            return Ok(found);
        }
        // Opened without the table's lock: reading a big folder the first time takes a
        // while, and other folders must not wait for it.
        let maildir = open()?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mailbox = SharedMailbox::open(
            id,
            maildir,
            self.options.clone(),
            self.notify.clone(),
            self.workers,
        )?;
        let key = Self::key(dir);
        let mut table = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(raced) = table.get(&key).and_then(Weak::upgrade) {
            return Ok(raced);
        }
        table.retain(|_, weak| weak.strong_count() > 0);
        table.insert(key, Arc::downgrade(&mailbox));
        Ok(mailbox)
    }

    /// A session on `worker` watches `mailbox` for as long as the guard lives.
    pub fn watch(self: &Arc<Self>, mailbox: &Arc<SharedMailbox>, worker: usize) -> Watching {
        if mailbox.watch(worker) {
            let watched = self.watcher().is_some_and(|w| w.watch(mailbox));
            mailbox.set_watched(watched);
        }
        Watching {
            registry: self.clone(),
            mailbox: mailbox.clone(),
            worker,
        }
    }
}

/// A session's watch on a folder; released on drop.
pub struct Watching {
    registry: Arc<Registry>,
    mailbox: Arc<SharedMailbox>,
    worker: usize,
}

impl Watching {
    pub fn mailbox(&self) -> &Arc<SharedMailbox> {
        &self.mailbox
    }

    /// Whether the folder's directories are watched (else changes are seen only on a look).
    pub fn is_watched(&self) -> bool {
        self.mailbox.is_watched()
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        if self.mailbox.unwatch(self.worker) {
            if let Some(watcher) = self.registry.watcher() {
                watcher.unwatch(&self.mailbox);
            }
            self.mailbox.set_watched(false);
        }
    }
}
