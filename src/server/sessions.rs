//! The table of live sessions: what `postern who` lists and what `postern kick` (or a reload
//! that switched an account's protocol off) ends.
//!
//! Each connection registers when it is admitted and is removed when it ends, however it ends
//! (the registration is dropped with the connection's task). The table is sharded by worker,
//! so the only lock a connection takes is its own worker's, for an insert and a remove; the
//! administration side takes them one at a time to read or to mark sessions.
//!
//! Ending a session is cooperative: the entry is marked and its event notified, and the
//! session, which waits on that event alongside its socket, says goodbye in its own protocol
//! (`-ERR`/`* BYE`) and closes. Marking goes through the session's worker, as the shutdown and
//! notify modules explain, so ending ten thousand sessions costs one cross-thread wake-up per
//! worker rather than per session.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::SystemTime;

use event_listener::Event;
use futures_util::future::select;

use super::shutdown::{Phase, Shutdown};
use crate::config::{ListenerKind, Protocol};

/// One live session.
#[derive(Debug)]
pub(crate) struct Entry {
    pub id: u64,
    pub worker: usize,
    pub kind: ListenerKind,
    pub peer: SocketAddr,
    pub since: SystemTime,
    tls: AtomicBool,
    user: OnceLock<String>,
    ended: AtomicBool,
    wake: Event,
}

impl Entry {
    /// The session's connection is now encrypted (implicit TLS, STLS or STARTTLS).
    pub fn set_tls(&self) {
        self.tls.store(true, Ordering::Relaxed);
    }

    /// The session logged in as `user`.
    pub fn set_user(&self, user: &str) {
        let _ = self.user.set(user.to_owned());
    }

    pub fn user(&self) -> Option<&str> {
        self.user.get().map(String::as_str)
    }

    pub fn tls(&self) -> bool {
        self.tls.load(Ordering::Relaxed)
    }

    /// Was the session told to end by an administrator (or a reload)?
    pub fn was_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Marks the session ended. Call [`Entry::wake`] from the session's own worker.
    fn mark(&self) -> bool {
        !self.ended.swap(true, Ordering::AcqRel)
    }

    /// Wakes the session if it is waiting.
    pub(crate) fn wake(&self) {
        self.wake.notify(usize::MAX);
    }

    async fn ended(&self) {
        loop {
            if self.was_ended() {
                return;
            }
            let listener = self.wake.listen();
            // Re-check: the mark may have come between the check and `listen`.
            if self.was_ended() {
                return;
            }
            listener.await;
        }
    }

    /// Runs `work` unless the server starts closing or this session is ended first; then
    /// `work` is dropped (cancelling its pending I/O) and `None` is returned. The caller tells
    /// the two apart with [`Entry::was_ended`].
    pub fn unless_ended<'a, F: Future + 'a>(
        &'a self,
        shutdown: &'a Shutdown,
        work: F,
    ) -> impl Future<Output = Option<F::Output>> + 'a {
        let stop = async move {
            let closing = pin!(shutdown.reached(Phase::Closing));
            let ended = pin!(self.ended());
            select(closing, ended).await;
        };
        super::race::Unless::new(work, stop)
    }
}

/// What `who` shows of a session, detached from the live entry.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: u64,
    pub worker: usize,
    pub kind: ListenerKind,
    pub peer: SocketAddr,
    pub tls: bool,
    pub user: Option<String>,
    pub since: SystemTime,
}

/// Which sessions to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    User(String),
    Ip(IpAddr),
    /// A user's sessions of one protocol (a reload that switched the protocol off).
    UserProtocol(String, Protocol),
}

impl Target {
    fn matches(&self, entry: &Entry) -> bool {
        match self {
            Target::User(user) => entry.user() == Some(user.as_str()),
            Target::Ip(ip) => entry.peer.ip() == *ip,
            Target::UserProtocol(user, protocol) => {
                entry.user() == Some(user.as_str()) && entry.kind.protocol() == *protocol
            }
        }
    }
}

/// The table, one shard per worker.
pub(crate) struct Sessions {
    shards: Vec<Mutex<HashMap<u64, Arc<Entry>>>>,
    next_id: AtomicU64,
}

/// A session's place in the table; removes it when dropped.
pub(crate) struct Registration {
    sessions: Arc<Sessions>,
    entry: Arc<Entry>,
}

impl Registration {
    pub fn entry(&self) -> &Arc<Entry> {
        &self.entry
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.sessions
            .shard(self.entry.worker)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.entry.id);
    }
}

impl Sessions {
    pub fn new(workers: usize) -> Arc<Sessions> {
        Arc::new(Sessions {
            shards: (0..workers.max(1))
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            next_id: AtomicU64::new(1),
        })
    }

    fn shard(&self, worker: usize) -> &Mutex<HashMap<u64, Arc<Entry>>> {
        &self.shards[worker % self.shards.len()]
    }

    /// Registers a session accepted by `worker`.
    pub fn register(
        self: &Arc<Self>,
        worker: usize,
        kind: ListenerKind,
        peer: SocketAddr,
    ) -> Registration {
        let entry = Arc::new(Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            worker,
            kind,
            peer,
            since: SystemTime::now(),
            tls: AtomicBool::new(false),
            user: OnceLock::new(),
            ended: AtomicBool::new(false),
            wake: Event::new(),
        });
        self.shard(worker)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(entry.id, entry.clone());
        Registration {
            sessions: self.clone(),
            entry,
        }
    }

    /// Every live session, oldest first.
    pub fn list(&self) -> Vec<SessionInfo> {
        let mut all: Vec<SessionInfo> = self
            .shards
            .iter()
            .flat_map(|shard| {
                let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
                shard
                    .values()
                    .map(|e| SessionInfo {
                        id: e.id,
                        worker: e.worker,
                        kind: e.kind,
                        peer: e.peer,
                        tls: e.tls(),
                        user: e.user().map(str::to_owned),
                        since: e.since,
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        all.sort_by_key(|s| s.id);
        all
    }

    /// Marks every session matching one of `targets` as ended; returns, per worker, the
    /// entries that the worker must wake.
    pub fn mark(&self, targets: &[Target]) -> Vec<Vec<Arc<Entry>>> {
        self.shards
            .iter()
            .map(|shard| {
                let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
                shard
                    .values()
                    .filter(|e| targets.iter().any(|t| t.matches(e)) && e.mark())
                    .cloned()
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(ip: &str) -> SocketAddr {
        format!("{ip}:4000").parse().unwrap()
    }

    #[test]
    fn registration_lives_as_long_as_the_session() {
        let sessions = Sessions::new(2);
        let a = sessions.register(0, ListenerKind::Imap, peer("127.0.0.1"));
        let b = sessions.register(1, ListenerKind::Pop3s, peer("127.0.0.2"));
        a.entry().set_user("alice");
        b.entry().set_tls();
        let listed = sessions.list();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].user.as_deref(), Some("alice"));
        assert!(!listed[0].tls && listed[1].tls);
        drop(a);
        assert_eq!(sessions.list().len(), 1);
        drop(b);
        assert!(sessions.list().is_empty());
    }

    #[test]
    fn marking_selects_by_user_ip_and_protocol_once() {
        let sessions = Sessions::new(2);
        let imap = sessions.register(0, ListenerKind::Imap, peer("10.0.0.1"));
        let pop = sessions.register(1, ListenerKind::Pop3, peer("10.0.0.2"));
        let other = sessions.register(1, ListenerKind::Imap, peer("10.0.0.2"));
        imap.entry().set_user("bob");
        pop.entry().set_user("bob");
        other.entry().set_user("carol");
        let marked = sessions.mark(&[Target::UserProtocol("bob".into(), Protocol::Pop3)]);
        assert_eq!(marked[0].len() + marked[1].len(), 1);
        assert!(pop.entry().was_ended() && !imap.entry().was_ended());
        // Marked already: not handed out again.
        let again = sessions.mark(&[Target::User("bob".into())]);
        assert_eq!(again.concat().len(), 1);
        assert!(imap.entry().was_ended());
        let by_ip = sessions.mark(&[Target::Ip("10.0.0.2".parse().unwrap())]);
        assert_eq!(by_ip.concat().len(), 1);
        assert!(other.entry().was_ended());
    }
}
