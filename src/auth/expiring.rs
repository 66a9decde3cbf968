//! A map with a size bound and a time-to-live, evicting the least recently written entry.
//!
//! Both the success cache and the failure penalty are keyed by values a client chooses (user
//! names and passwords, source addresses), so both must keep memory bounded however many keys
//! an attacker invents, and both forget entries after a while. Eviction is amortised O(1): an
//! insertion queue is kept alongside the map, and queue entries left behind by rewrites are
//! skipped when they reach the front (or compacted away when they pile up).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

pub(crate) struct ExpiringMap<K, V> {
    entries: HashMap<K, Slot<V>>,
    /// Keys in write order with the write's sequence number; stale when the key was rewritten.
    order: VecDeque<(K, u64)>,
    next_seq: u64,
    capacity: usize,
    ttl: Duration,
}

struct Slot<V> {
    value: V,
    written: Instant,
    seq: u64,
}

impl<K: Hash + Eq + Clone, V> ExpiringMap<K, V> {
    /// At most `capacity` entries (0 keeps nothing), each forgotten `ttl` after its last write.
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Self {
        ExpiringMap {
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
            capacity,
            ttl,
        }
    }

    /// The live value for `key` and when it was written.
    pub(crate) fn get(&self, key: &K, now: Instant) -> Option<(&V, Instant)> {
        self.entries
            .get(key)
            .filter(|slot| !self.expired(slot.written, now))
            .map(|slot| (&slot.value, slot.written))
    }

    /// Writes `value` for `key` as of `now`, making it the newest entry.
    pub(crate) fn insert(&mut self, key: K, value: V, now: Instant) {
        if self.capacity == 0 {
            return;
        }
        self.purge_expired(now);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((key.clone(), seq));
        self.entries.insert(
            key,
            Slot {
                value,
                written: now,
                seq,
            },
        );
        while self.entries.len() > self.capacity {
            self.pop_oldest();
        }
        if self.order.len() > 2 * self.entries.len() + 32 {
            let entries = &self.entries;
            self.order
                .retain(|(key, seq)| entries.get(key).is_some_and(|slot| slot.seq == *seq));
        }
    }

    pub(crate) fn remove(&mut self, key: &K) {
        // Its queue entry becomes stale and is skipped later.
        self.entries.remove(key);
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn expired(&self, written: Instant, now: Instant) -> bool {
        now.saturating_duration_since(written) >= self.ttl
    }

    /// Drops expired entries from the old end; writes are queued in time order, so the first
    /// live, unexpired entry ends the sweep.
    fn purge_expired(&mut self, now: Instant) {
        while let Some((key, seq)) = self.order.front() {
            match self.entries.get(key) {
                Some(slot) if slot.seq == *seq && !self.expired(slot.written, now) => break,
                Some(slot) if slot.seq == *seq => {
                    let key = key.clone();
                    self.entries.remove(&key);
                }
                _ => {}
            }
            self.order.pop_front();
        }
    }

    fn pop_oldest(&mut self) {
        while let Some((key, seq)) = self.order.pop_front() {
            if self.entries.get(&key).is_some_and(|slot| slot.seq == seq) {
                self.entries.remove(&key);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn get_respects_ttl() {
        let t0 = Instant::now();
        let mut map = ExpiringMap::new(10, HOUR);
        map.insert("a", 1, t0);
        assert_eq!(
            map.get(&"a", t0 + HOUR - Duration::from_secs(1))
                .map(|(v, _)| *v),
            Some(1)
        );
        assert!(map.get(&"a", t0 + HOUR).is_none());
        assert!(map.get(&"b", t0).is_none());
    }

    #[test]
    fn evicts_the_least_recently_written() {
        let t0 = Instant::now();
        let mut map = ExpiringMap::new(3, HOUR);
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            map.insert(key, i, t0 + Duration::from_secs(i as u64));
        }
        // Rewriting "a" makes "b" the oldest.
        map.insert("a", 10, t0 + Duration::from_secs(5));
        map.insert("d", 3, t0 + Duration::from_secs(6));
        assert_eq!(map.len(), 3);
        assert!(map.get(&"b", t0).is_none());
        assert_eq!(map.get(&"a", t0).map(|(v, _)| *v), Some(10));
        assert!(map.get(&"c", t0).is_some() && map.get(&"d", t0).is_some());
    }

    #[test]
    fn expired_entries_are_swept_on_insert() {
        let t0 = Instant::now();
        let mut map = ExpiringMap::new(100, HOUR);
        for i in 0..50 {
            map.insert(i, (), t0);
        }
        map.insert(1000, (), t0 + HOUR);
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn rewrites_do_not_grow_the_queue_without_bound() {
        let t0 = Instant::now();
        let mut map = ExpiringMap::new(4, HOUR);
        for i in 0..10_000u64 {
            map.insert(i % 2, i, t0 + Duration::from_millis(i));
        }
        assert_eq!(map.len(), 2);
        assert!(
            map.order.len() <= 2 * map.len() + 33,
            "queue {}",
            map.order.len()
        );
    }

    #[test]
    fn zero_capacity_keeps_nothing_and_remove_clear_work() {
        let t0 = Instant::now();
        let mut map = ExpiringMap::new(0, HOUR);
        map.insert("a", (), t0);
        assert_eq!(map.len(), 0);

        let mut map = ExpiringMap::new(5, HOUR);
        map.insert("a", (), t0);
        map.insert("b", (), t0);
        map.remove(&"a");
        assert!(map.get(&"a", t0).is_none());
        // A removed key written again is live again, whatever stale queue entries say.
        map.insert("a", (), t0);
        assert!(map.get(&"a", t0).is_some());
        map.clear();
        assert_eq!(map.len(), 0);
    }
}
