//! The one shared state per open folder per process: [`SharedMailbox`].
//!
//! Every session that selects a folder, on whichever worker thread, shares one of these. It
//! owns the folder's Maildir handle and index, publishes a new [`Snapshot`] whenever the
//! folder changes — by a session of ours (STORE, EXPUNGE, APPEND, COPY) or behind our back
//! (an MDA delivering into `new/`, Dovecot changing flags), which [`refresh`] finds — and
//! tells the workers whose sessions watch it ([`Notify`]). It also decides who gets
//! `\Recent`: each new message goes to exactly one session, the first that is told of it.
//!
//! Changes and refreshes are blocking file-system work and run on the store's thread pool,
//! never on an event loop; what the event loops call is a moment's work: taking a snapshot,
//! claiming `\Recent` (one four-byte write into the index header), opening and mapping a
//! message to read. Two locks: `ops` serialises everything that changes the folder or rereads
//! it (a refresh that listed the directory before a STORE renamed files must not install its
//! older listing after it), and is held across the disk work; `state` guards the published
//! snapshot and the file names, and is only ever held for a moment, so the event loops never
//! wait for the disk behind it.
//!
//! [`refresh`]: SharedMailbox::refresh

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use super::derived::{self, Derived};
use super::index::{self, IndexFile, Record};
use super::snapshot::{Message, Snapshot};
use crate::body::MessageBody;
use crate::policy::RetrievalFormat;
use crate::store::{
    Copied, FlagChange, FlagOp, Keywords, Maildir, MessageMeta, NewFlags, StoreError, SystemFlags,
};

/// Batches of messages to index from which the work is spread over the cores.
const PARALLEL_INDEXING: usize = 256;

/// How a folder's changes reach the workers whose sessions watch it.
pub trait Notify: Send + Sync {
    /// Folder `mailbox` changed; `worker` has sessions watching it.
    fn changed(&self, worker: usize, mailbox: u64);
}

/// What the index of every folder keeps.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// Header fields whose lines are cached (see [`crate::config::ImapConfig::cached_headers`]).
    pub cached_headers: Vec<String>,
}

impl IndexOptions {
    pub fn fingerprint(&self) -> u64 {
        index::header_fingerprint(&self.cached_headers)
    }
}

/// An open folder, shared by all its sessions. See the module docs.
pub struct SharedMailbox {
    id: u64,
    maildir: Maildir,
    options: Arc<IndexOptions>,
    notify: Arc<dyn Notify>,
    /// Held for the whole of every change and refresh (see the module docs).
    ops: Mutex<()>,
    state: Mutex<State>,
    /// Sessions watching, by worker.
    watchers: Mutex<Vec<u32>>,
    /// A refresh has been asked for and has not started yet.
    refresh_queued: AtomicBool,
    /// The directories are watched with inotify (set by the registry for the first watcher).
    watched: AtomicBool,
}

struct State {
    snapshot: Arc<Snapshot>,
    /// The store's view of each message, in the snapshot's order.
    metas: Vec<MessageMeta>,
    /// Messages from this UID on have not been told to any session: each is `\Recent` for
    /// the first that is (kept in the index header, so it survives a restart).
    first_recent: u32,
    /// Messages some open session holds `\Recent` for (STATUS counts them).
    claimed_recent: usize,
    generation: u64,
    /// The converted forms of every retrieval format a session of this folder has used,
    /// kept up to date with the folder from then on.
    derived: Vec<Derived>,
    /// The newest snapshot as each of those formats shows it, in the same order.
    views: Vec<Arc<Snapshot>>,
}

impl std::fmt::Debug for SharedMailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedMailbox")
            .field("id", &self.id)
            .field("dir", &self.maildir.root())
            .finish_non_exhaustive()
    }
}

/// What STATUS reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub messages: u32,
    pub recent: u32,
    pub uid_next: u32,
    pub uid_validity: u32,
    pub unseen: u32,
}

impl SharedMailbox {
    /// Opens the folder whose Maildir is `dir` and reads it once (indexing what is not
    /// indexed yet). Blocking.
    pub(crate) fn open(
        id: u64,
        maildir: Maildir,
        options: Arc<IndexOptions>,
        notify: Arc<dyn Notify>,
        workers: usize,
    ) -> Result<Arc<SharedMailbox>, StoreError> {
        let shared = Arc::new(SharedMailbox {
            id,
            maildir,
            options,
            notify,
            ops: Mutex::new(()),
            state: Mutex::new(State {
                snapshot: Arc::new(Snapshot::empty(0)),
                metas: Vec::new(),
                first_recent: 0,
                claimed_recent: 0,
                generation: 0,
                derived: Vec::new(),
                views: Vec::new(),
            }),
            watchers: Mutex::new(vec![0; workers.max(1)]),
            refresh_queued: AtomicBool::new(false),
            watched: AtomicBool::new(false),
        });
        let ops = shared.ops();
        shared.refresh_locked(&ops, true)?;
        drop(ops);
        Ok(shared)
    }

    /// This folder's id, unique in the process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The folder's Maildir directory.
    pub fn dir(&self) -> &Path {
        self.maildir.root()
    }

    pub(crate) fn maildir(&self) -> &Maildir {
        &self.maildir
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ops(&self) -> MutexGuard<'_, ()> {
        self.ops.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The newest snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.lock().snapshot.clone()
    }

    /// The newest snapshot if it is newer than `generation`.
    pub fn newer_than(&self, generation: u64) -> Option<Arc<Snapshot>> {
        let state = self.lock();
        (state.snapshot.generation > generation).then(|| state.snapshot.clone())
    }

    /// The newest snapshot as a session of `format` sees it (sizes and cached facts of the
    /// converted form). The format must have been prepared with [`use_format`]; until it
    /// has, this is the stored form.
    ///
    /// [`use_format`]: Self::use_format
    pub fn snapshot_as(&self, format: RetrievalFormat) -> Arc<Snapshot> {
        let state = self.lock();
        view_of(&state, format).unwrap_or_else(|| state.snapshot.clone())
    }

    /// [`snapshot_as`](Self::snapshot_as) if it is newer than `generation`.
    pub fn newer_than_as(&self, format: RetrievalFormat, generation: u64) -> Option<Arc<Snapshot>> {
        let state = self.lock();
        (state.snapshot.generation > generation)
            .then(|| view_of(&state, format).unwrap_or_else(|| state.snapshot.clone()))
    }

    /// Prepares the folder for sessions of `format`: derives the forms of the messages that
    /// have none yet (persisted, so only the first session ever pays) and from then on keeps
    /// them up to date as mail arrives. Blocking.
    pub fn use_format(&self, format: RetrievalFormat) {
        if format == RetrievalFormat::Original {
            return;
        }
        let _ops = self.ops();
        let (snapshot, metas) = {
            let state = self.lock();
            if state.derived.iter().any(|d| d.format() == format) {
                return;
            }
            (state.snapshot.clone(), state.metas.clone())
        };
        let names = self.header_names();
        let fp = self.options.fingerprint();
        let derived = Derived::load(self.dir(), format, snapshot.uid_validity, fp).update(
            self.dir(),
            snapshot.uid_validity,
            fp,
            &metas,
            &self.maildir,
            &names,
        );
        let mut state = self.lock();
        state.derived.push(derived);
        rebuild_views(&mut state);
    }

    /// The bytes of a message as a session of `format` is sent them (FETCH, SEARCH).
    pub fn read_as(&self, uid: u32, format: RetrievalFormat) -> Result<MessageBody, StoreError> {
        if format == RetrievalFormat::Original {
            return self.read(uid);
        }
        let (meta, derived) = {
            let state = self.lock();
            let meta = find(&state.metas, uid).cloned();
            let derived = state.derived.iter().find(|d| d.format() == format).cloned();
            (meta, derived)
        };
        match (meta, derived) {
            (None, _) => Err(StoreError::Gone { uid }),
            (Some(meta), Some(derived)) => derived.read(&self.maildir, &meta),
            (Some(meta), None) => self.maildir.read(&meta),
        }
    }

    fn header_names(&self) -> Vec<&str> {
        self.options
            .cached_headers
            .iter()
            .map(String::as_str)
            .collect()
    }

    /// Brings every format's converted forms up to date with the folder's messages; with
    /// `reload`, first rereads them from disk (a new UIDVALIDITY). The caller holds `ops`.
    fn derived_missing(
        &self,
        metas: &[MessageMeta],
        uid_validity: u32,
        reload: bool,
    ) -> Vec<Derived> {
        let current = self.lock().derived.clone();
        if current.is_empty() {
            return current;
        }
        let names = self.header_names();
        let fp = self.options.fingerprint();
        current
            .into_iter()
            .map(|d| {
                let d = if reload {
                    Derived::load(self.dir(), d.format(), uid_validity, fp)
                } else {
                    d
                };
                d.update(self.dir(), uid_validity, fp, metas, &self.maildir, &names)
            })
            .collect()
    }

    /// Takes `\Recent` for every new message in `snapshot` that no session has yet: the
    /// caller's session is the first to be told of them (RFC 3501 section 2.3.2).
    pub fn claim_recent(&self, snapshot: &Snapshot) -> Vec<u32> {
        let mut state = self.lock();
        let from = snapshot
            .messages
            .partition_point(|m| m.uid < state.first_recent);
        let mine: Vec<u32> = snapshot.messages[from..].iter().map(|m| m.uid).collect();
        if let Some(&last) = mine.last() {
            state.first_recent = last + 1;
            state.claimed_recent += mine.len();
            index::set_first_recent(
                self.dir(),
                snapshot.uid_validity,
                self.options.fingerprint(),
                last + 1,
                false,
            );
        }
        mine
    }

    /// The messages of `snapshot` no session has been told of, without taking them: what a
    /// read-only session (EXAMINE) shows as `\Recent` while leaving them recent for the
    /// next session that selects the folder.
    pub fn peek_recent(&self, snapshot: &Snapshot) -> Vec<u32> {
        let state = self.lock();
        let from = snapshot
            .messages
            .partition_point(|m| m.uid < state.first_recent);
        snapshot.messages[from..].iter().map(|m| m.uid).collect()
    }

    /// A session that held `\Recent` for `count` messages let go of the folder.
    pub fn release_recent(&self, count: usize) {
        let mut state = self.lock();
        state.claimed_recent = state.claimed_recent.saturating_sub(count);
    }

    /// STATUS figures from the newest snapshot.
    pub fn counts(&self) -> Counts {
        let state = self.lock();
        let s = &state.snapshot;
        Counts {
            messages: s.len() as u32,
            recent: (s.messages.len() - s.messages.partition_point(|m| m.uid < state.first_recent)
                + state.claimed_recent) as u32,
            uid_next: s.uid_next,
            uid_validity: s.uid_validity,
            unseen: s
                .messages
                .iter()
                .filter(|m| !m.flags.system.contains(SystemFlags::SEEN))
                .count() as u32,
        }
    }

    /// A session on `worker` starts watching; returns whether it is the folder's first
    /// watcher (the caller then starts watching the directories).
    pub fn watch(&self, worker: usize) -> bool {
        let mut w = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        let first = w.iter().all(|&n| n == 0);
        if let Some(n) = w.get_mut(worker) {
            *n += 1;
        }
        first
    }

    /// A session on `worker` stops watching; returns whether nobody watches any more.
    pub fn unwatch(&self, worker: usize) -> bool {
        let mut w = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = w.get_mut(worker) {
            *n = n.saturating_sub(1);
        }
        w.iter().all(|&n| n == 0)
    }

    /// Whether changes behind our back are noticed as they happen (inotify), rather than only
    /// when a session looks.
    pub fn is_watched(&self) -> bool {
        self.watched.load(Ordering::Acquire)
    }

    pub(crate) fn set_watched(&self, watched: bool) {
        self.watched.store(watched, Ordering::Release);
    }

    /// Marks a refresh as wanted; returns false if one is already queued, so that a burst of
    /// directory events makes one refresh, not one each.
    pub fn queue_refresh(&self) -> bool {
        !self.refresh_queued.swap(true, Ordering::AcqRel)
    }

    /// Looks at the folder on disk and publishes what changed. Blocking.
    pub fn refresh(&self) -> Result<(), StoreError> {
        let ops = self.ops();
        self.refresh_queued.store(false, Ordering::Release);
        self.refresh_locked(&ops, false)
    }

    /// The refresh itself; the caller holds `ops`.
    fn refresh_locked(&self, _ops: &MutexGuard<'_, ()>, first: bool) -> Result<(), StoreError> {
        // Mail still in new/ is mail nobody has seen: \Recent at the first look, whoever
        // moves it to cur/ (this sync will).
        let in_new = if first {
            names_in_new(self.dir())
        } else {
            HashSet::new()
        };
        let inbox = self.maildir.sync()?;
        let keywords = self.maildir.keywords()?;
        let old = self.snapshot();
        let index = if old.uid_validity == inbox.uid_validity && !first {
            old.index.clone()
        } else {
            Arc::new(
                IndexFile::load(self.dir(), inbox.uid_validity, self.options.fingerprint())
                    .unwrap_or_else(|e| {
                        tracing::warn!("index unreadable, rebuilding it: {e}");
                        IndexFile::empty()
                    }),
            )
        };
        let index = self.index_missing(index, &inbox.messages, inbox.uid_validity);
        let derived = self.derived_missing(
            &inbox.messages,
            inbox.uid_validity,
            first || old.uid_validity != inbox.uid_validity,
        );
        let messages: Vec<Message> = inbox
            .messages
            .iter()
            .map(|meta| message_from(meta, &index))
            .collect();
        let keyword_names: Vec<String> = keywords.iter().map(|(_, n)| n.to_owned()).collect();
        let same = old.uid_validity == inbox.uid_validity
            && old.uid_next == inbox.next_uid
            && *old.keywords == keyword_names
            && old.messages.len() == messages.len()
            && old
                .messages
                .iter()
                .zip(&messages)
                .all(|(a, b)| a.uid == b.uid && a.flags == b.flags);
        let mut state = self.lock();
        if same && !first {
            state.metas = inbox.messages;
            // The published views keep the files they point into; later ones use these.
            state.derived = derived;
            return Ok(());
        }
        if first {
            // What the index says nobody has been told of; without one, what was still in
            // new/ (Dovecot's rule for mail nobody has looked at).
            state.first_recent = index.first_recent().unwrap_or_else(|| {
                first_in_new(&inbox.messages, &in_new).unwrap_or(inbox.next_uid)
            });
        }
        if index.first_recent() != Some(state.first_recent) {
            // A rewritten or new index file does not know it yet.
            index::set_first_recent(
                self.dir(),
                inbox.uid_validity,
                self.options.fingerprint(),
                state.first_recent,
                false,
            );
        }
        state.generation += 1;
        state.snapshot = Arc::new(Snapshot {
            uid_validity: inbox.uid_validity,
            uid_next: inbox.next_uid,
            generation: state.generation,
            keywords_open: !keywords.is_full(),
            keywords: Arc::new(keyword_names),
            messages,
            index,
            derived: None,
        });
        state.metas = inbox.messages;
        state.derived = derived;
        rebuild_views(&mut state);
        drop(state);
        if !first {
            self.tell_watchers();
        }
        Ok(())
    }

    /// Adds index records for the messages that have none (or a stale one), and returns the
    /// index to use. Failing to write the index is not fatal: the messages are then served
    /// from their files.
    fn index_missing(
        &self,
        index: Arc<IndexFile>,
        metas: &[MessageMeta],
        uid_validity: u32,
    ) -> Arc<IndexFile> {
        let missing: Vec<&MessageMeta> = metas
            .iter()
            .filter(|m| {
                index
                    .get(m.uid)
                    .is_none_or(|e| e.base != m.base().as_bytes())
            })
            .collect();
        let live = metas.len();
        if missing.is_empty() && !index.wants_rewrite(live) {
            return index;
        }
        let dates = self.maildir.internal_dates(&missing);
        let names: Vec<&str> = self
            .options
            .cached_headers
            .iter()
            .map(String::as_str)
            .collect();
        let work: Vec<(&MessageMeta, SystemTime)> = missing
            .iter()
            .zip(dates)
            .filter_map(|(meta, date)| date.ok().map(|d| (*meta, d)))
            .collect();
        let records = self.index_records(&work, &names);
        let live_uids: HashSet<u32> = metas.iter().map(|m| m.uid).collect();
        let rewrite = index.wants_rewrite(live);
        let written = index::write(
            self.dir(),
            uid_validity,
            self.options.fingerprint(),
            &index,
            &|uid| live_uids.contains(&uid),
            &records,
            rewrite,
        );
        if let Err(e) = written {
            tracing::warn!("cannot write the index: {e}");
            return index;
        }
        match IndexFile::load(self.dir(), uid_validity, self.options.fingerprint()) {
            Ok(fresh) => Arc::new(fresh),
            Err(e) => {
                tracing::warn!("cannot reload the index: {e}");
                index
            }
        }
    }

    /// Reads and analyses messages for the index. A big batch (the first look at a folder
    /// that has no index) is split across the machine's cores: it is a one-time cost, and the
    /// client is waiting for its SELECT.
    fn index_records(&self, work: &[(&MessageMeta, SystemTime)], names: &[&str]) -> Vec<Record> {
        let one = |&(meta, date): &(&MessageMeta, SystemTime)| match self.maildir.read(meta) {
            Ok(body) => Some(record_for(meta, body.as_bytes(), date, names)),
            Err(e) => {
                tracing::warn!(uid = meta.uid, "cannot index message: {e}");
                None
            }
        };
        super::parallel::filter_map(work, PARALLEL_INDEXING, one)
    }

    fn tell_watchers(&self) {
        let w = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        for (worker, &n) in w.iter().enumerate() {
            if n > 0 {
                self.notify.changed(worker, self.id);
            }
        }
    }

    /// Publishes the state after a change of ours (the caller holds `ops` and has updated
    /// the metas): a new snapshot with the index as it is.
    fn publish(&self, state: &mut State, keywords: &Keywords) {
        let old = state.snapshot.clone();
        let messages: Vec<Message> = state
            .metas
            .iter()
            .map(|meta| {
                let mut m = message_from(meta, &old.index);
                // Facts the index may not have yet come from the old snapshot.
                if let Some(p) = old.position(meta.uid) {
                    m.internal_date = old.messages[p].internal_date;
                }
                m
            })
            .collect();
        state.generation += 1;
        state.snapshot = Arc::new(Snapshot {
            uid_validity: old.uid_validity,
            uid_next: old.uid_next,
            generation: state.generation,
            keywords_open: !keywords.is_full(),
            keywords: Arc::new(keywords.iter().map(|(_, n)| n.to_owned()).collect()),
            messages,
            index: old.index.clone(),
            derived: None,
        });
        rebuild_views(state);
    }

    /// STORE: changes the flags of these messages. Messages expunged meanwhile are skipped.
    pub fn store_flags(&self, uids: &[u32], op: FlagOp, flags: NewFlags) -> Result<(), StoreError> {
        let _ops = self.ops();
        let targets = self.metas_of(uids);
        if targets.is_empty() {
            return Ok(());
        }
        let refs: Vec<&MessageMeta> = targets.iter().collect();
        let change = FlagChange { op, flags };
        let results = self.maildir.set_flags_many(&refs, &change)?;
        let keywords = self.maildir.keywords()?;
        let mut state = self.lock();
        let mut changed = false;
        for result in results {
            match result {
                Ok(update) => {
                    if let Some(meta) = find_mut(&mut state.metas, update.uid)
                        && meta.filename != update.filename
                    {
                        meta.filename = update.filename;
                        changed = true;
                    }
                }
                Err(StoreError::Gone { uid }) => {
                    tracing::debug!(uid, "message expunged before STORE");
                }
                Err(e) => return Err(e),
            }
        }
        if changed {
            self.publish(&mut state, &keywords);
            drop(state);
            self.tell_watchers();
        }
        Ok(())
    }

    /// The store's view of these messages, those still here.
    fn metas_of(&self, uids: &[u32]) -> Vec<MessageMeta> {
        let state = self.lock();
        uids.iter()
            .filter_map(|uid| find(&state.metas, *uid).cloned())
            .collect()
    }

    /// EXPUNGE: removes the `\Deleted` messages (only those in `uids` when given). Returns
    /// the UIDs removed.
    pub fn expunge(&self, uids: Option<&[u32]>) -> Result<Vec<u32>, StoreError> {
        let _ops = self.ops();
        let doomed: Vec<MessageMeta> = self
            .lock()
            .metas
            .iter()
            .filter(|m| m.flags().system.contains(SystemFlags::DELETED))
            .filter(|m| uids.is_none_or(|set| set.contains(&m.uid)))
            .cloned()
            .collect();
        self.remove(&doomed)
    }

    /// Removes exactly these messages (MOVE's second half). Returns the UIDs removed.
    pub fn remove_uids(&self, uids: &[u32]) -> Result<Vec<u32>, StoreError> {
        let _ops = self.ops();
        let doomed = self.metas_of(uids);
        self.remove(&doomed)
    }

    /// Deletes the files, drops the messages and publishes; the caller holds `ops`.
    fn remove(&self, doomed: &[MessageMeta]) -> Result<Vec<u32>, StoreError> {
        if doomed.is_empty() {
            return Ok(Vec::new());
        }
        let refs: Vec<&MessageMeta> = doomed.iter().collect();
        self.maildir.delete(&refs)?;
        let keywords = self.maildir.keywords()?;
        let gone: HashSet<u32> = doomed.iter().map(|m| m.uid).collect();
        let mut state = self.lock();
        state.metas.retain(|m| !gone.contains(&m.uid));
        self.publish(&mut state, &keywords);
        let (metas, uid_validity) = (state.metas.clone(), state.snapshot.uid_validity);
        drop(state);
        self.tell_watchers();
        // The converted forms of what was expunged take space until the derived files are
        // next written: let that happen now if they are worth a rewrite.
        let derived = self.derived_missing(&metas, uid_validity, false);
        self.lock().derived = derived;
        let mut removed: Vec<u32> = gone.into_iter().collect();
        removed.sort_unstable();
        Ok(removed)
    }

    /// APPEND into this folder. Returns (UIDVALIDITY, UID).
    pub fn append(
        &self,
        message: &[u8],
        flags: &NewFlags,
        date: Option<SystemTime>,
    ) -> Result<(u32, u32), StoreError> {
        let ops = self.ops();
        let appended = self.maildir.append(message, flags, date)?;
        self.refresh_locked(&ops, false)?;
        Ok((appended.uid_validity, appended.uid))
    }

    /// COPY these messages into `dest`. Returns (destination UIDVALIDITY, source UIDs,
    /// destination UIDs) for the messages copied.
    pub fn copy_to(
        &self,
        uids: &[u32],
        dest: &Maildir,
    ) -> Result<(u32, Vec<u32>, Vec<u32>), StoreError> {
        let targets = self.metas_of(uids);
        let refs: Vec<&MessageMeta> = targets.iter().collect();
        let Copied {
            uid_validity,
            uids: pairs,
            ..
        } = self.maildir.copy_to(&refs, dest)?;
        let (src, dst) = pairs.into_iter().unzip();
        Ok((uid_validity, src, dst))
    }

    /// The bytes of a message (FETCH). Cheap: an open and a map.
    pub fn read(&self, uid: u32) -> Result<MessageBody, StoreError> {
        match self.metas_of(&[uid]).pop() {
            Some(meta) => self.maildir.read(&meta),
            None => Err(StoreError::Gone { uid }),
        }
    }
}

fn find(metas: &[MessageMeta], uid: u32) -> Option<&MessageMeta> {
    metas
        .binary_search_by_key(&uid, |m| m.uid)
        .ok()
        .map(|i| &metas[i])
}

fn find_mut(metas: &mut [MessageMeta], uid: u32) -> Option<&mut MessageMeta> {
    metas
        .binary_search_by_key(&uid, |m| m.uid)
        .ok()
        .map(|i| &mut metas[i])
}

/// The newest snapshot as `format` shows it, if that format is in use.
fn view_of(state: &State, format: RetrievalFormat) -> Option<Arc<Snapshot>> {
    if format == RetrievalFormat::Original {
        return Some(state.snapshot.clone());
    }
    let i = state.derived.iter().position(|d| d.format() == format)?;
    state.views.get(i).cloned()
}

/// Makes every format's view of the newest snapshot (a moment's work: no conversion, the
/// forms are derived before a snapshot that needs them is published).
fn rebuild_views(state: &mut State) {
    state.views = state
        .derived
        .iter()
        .map(|d| Arc::new(derived::view(&state.snapshot, &state.metas, d)))
        .collect();
}

/// A snapshot message from the store's listing and the index.
fn message_from(meta: &MessageMeta, index: &IndexFile) -> Message {
    let slot = index.position(meta.uid).filter(|&p| {
        index
            .at(p)
            .is_some_and(|e| e.base == meta.base().as_bytes())
    });
    let internal_date = slot
        .and_then(|p| index.at(p))
        .map_or(0, |e| e.internal_date);
    Message {
        uid: meta.uid,
        flags: meta.flags(),
        wire_size: meta.size,
        internal_date,
        slot: slot.map(|p| p as u32),
    }
}

/// The index record of a message.
pub(crate) fn record_for(
    meta: &MessageMeta,
    bytes: &[u8],
    date: SystemTime,
    cached: &[&str],
) -> Record {
    let analysis = crate::mime::analyze(bytes);
    let mut parts = Vec::new();
    analysis.parts.encode(&mut parts);
    Record {
        uid: meta.uid,
        base: meta.base().as_bytes().to_vec(),
        internal_date: unix_seconds(date),
        stored_size: bytes.len() as u64,
        wire_size: meta.size,
        envelope: analysis.envelope,
        body: analysis.body,
        bodystructure: analysis.bodystructure,
        headers: crate::mime::select_header_lines(bytes, cached),
        parts,
    }
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64) - i64::from(e.duration().subsec_nanos() > 0),
    }
}

/// The lowest UID of the messages that were in `new/`.
pub(crate) fn first_in_new(metas: &[MessageMeta], in_new: &HashSet<String>) -> Option<u32> {
    metas
        .iter()
        .filter(|m| in_new.contains(m.base()))
        .map(|m| m.uid)
        .min()
}

/// Base names of the files in `new/`.
pub(crate) fn names_in_new(dir: &Path) -> HashSet<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("new")) else {
        return HashSet::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .map(|n| n.split(':').next().unwrap_or_default().to_owned())
        .collect()
}
