//! Connection limits: in total and per client IP address.
//!
//! One table is shared by every worker thread. A [`ConnectionGuard`] is handed to each
//! admitted connection and gives its slot back when the connection ends, however it ends,
//! so a panicking or cancelled session cannot leak a slot.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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

#[cfg(test)]
mod tests {
    use super::*;

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
