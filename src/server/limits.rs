//! Connection limits: in total and per client IP address, and logged-in sessions per user.
//!
//! One table of each is shared by every worker thread. A [`ConnectionGuard`] is handed to
//! each admitted connection, and a [`UserSlot`] to each login, and either gives its place
//! back when dropped, however the session ends, so a panicking or cancelled session cannot
//! leak one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::Protocol;

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    TooManyTotal,
    TooManyFromIp,
}

/// Counts of open connections.
#[derive(Debug)]
pub struct ConnectionLimits {
    // Atomics so that a reload can change the limits under running sessions.
    max_total: AtomicUsize,
    max_per_ip: AtomicUsize,
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl ConnectionLimits {
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(ConnectionLimits {
            max_total: AtomicUsize::new(max_total),
            max_per_ip: AtomicUsize::new(max_per_ip),
            total: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
        })
    }

    /// Admits a connection from `ip` or says which limit it would break.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionGuard, Refusal> {
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.max_total.load(Ordering::Relaxed) {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::TooManyTotal);
        }
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let n = per_ip.entry(ip).or_insert(0);
        if *n >= self.max_per_ip.load(Ordering::Relaxed) {
            drop(per_ip);
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::TooManyFromIp);
        }
        *n += 1;
        Ok(ConnectionGuard {
            limits: self.clone(),
            ip,
        })
    }

    /// New limits (a reload); connections already open over them stay open.
    pub fn set(&self, max_total: usize, max_per_ip: usize) {
        self.max_total.store(max_total, Ordering::Relaxed);
        self.max_per_ip.store(max_per_ip, Ordering::Relaxed);
    }

    /// Open connections right now.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

/// An admitted connection's slot.
#[derive(Debug)]
pub struct ConnectionGuard {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut per_ip = self.limits.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
        drop(per_ip);
        self.limits.total.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Logged-in sessions per user and protocol, across all listeners and workers.
///
/// Counted at login, not at connect: before login nobody knows whose connection it is.
/// A login takes the lock once and a logout once; logins come at most thousands a second,
/// so one lock for the whole server is not where the time goes.
#[derive(Debug, Default)]
pub struct UserSessions {
    counts: Mutex<HashMap<(Protocol, String), usize>>,
}

impl UserSessions {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// A place for one more `protocol` session of `user`, or `None` if `max` are open
    /// already. A `max` of 0 means no limit (the session is still counted, so that a
    /// reload that sets one sees the sessions already open).
    pub fn claim(self: &Arc<Self>, protocol: Protocol, user: &str, max: usize) -> Option<UserSlot> {
        let key = (protocol, user.to_owned());
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let n = counts.entry(key.clone()).or_insert(0);
        if max != 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(UserSlot {
            table: self.clone(),
            key,
        })
    }

    #[cfg(test)]
    fn count(&self, protocol: Protocol, user: &str) -> usize {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts
            .get(&(protocol, user.to_owned()))
            .copied()
            .unwrap_or(0)
    }
}

/// A logged-in session's place in [`UserSessions`].
#[derive(Debug)]
pub struct UserSlot {
    table: Arc<UserSessions>,
    key: (Protocol, String),
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut counts = self
            .table
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_per_user_and_protocol() {
        let users = UserSessions::new();
        let a1 = users.claim(Protocol::Imap, "alice", 2).unwrap();
        let _a2 = users.claim(Protocol::Imap, "alice", 2).unwrap();
        assert!(users.claim(Protocol::Imap, "alice", 2).is_none());
        // Other users and the other protocol have their own counts.
        let _b = users.claim(Protocol::Imap, "bob", 2).unwrap();
        let _p = users.claim(Protocol::Pop3, "alice", 2).unwrap();
        assert_eq!(users.count(Protocol::Imap, "alice"), 2);
        drop(a1);
        assert_eq!(users.count(Protocol::Imap, "alice"), 1);
        let _a3 = users.claim(Protocol::Imap, "alice", 2).unwrap();
        // No limit: still counted.
        let _a4 = users.claim(Protocol::Imap, "alice", 0).unwrap();
        assert_eq!(users.count(Protocol::Imap, "alice"), 3);
        // A limit lowered under open sessions refuses new ones only.
        assert!(users.claim(Protocol::Imap, "alice", 1).is_none());
        assert!(users.claim(Protocol::Imap, "carol", 0).is_some());
        assert_eq!(users.count(Protocol::Imap, "carol"), 0);
        assert!(
            !users
                .counts
                .lock()
                .unwrap()
                .contains_key(&(Protocol::Imap, "carol".into()))
        );
    }

    #[test]
    fn limits_and_release() {
        let l = ConnectionLimits::new(3, 2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let g1 = l.admit(a).unwrap();
        let _g2 = l.admit(a).unwrap();
        assert_eq!(l.admit(a).unwrap_err(), Refusal::TooManyFromIp);
        let _g3 = l.admit(b).unwrap();
        assert_eq!(l.admit(b).unwrap_err(), Refusal::TooManyTotal);
        assert_eq!(l.total(), 3);
        drop(g1);
        assert_eq!(l.total(), 2);
        let _g4 = l.admit(a).unwrap();
        assert_eq!(l.per_ip.lock().unwrap().get(&a), Some(&2));
    }
}
