//! A bounded cache of recent successful password verifications.
//!
//! Mail clients log in again every few minutes, and a good password hash costs tens of
//! milliseconds of CPU on purpose. Remembering "this user, this password, this stored secret
//! verified" lets a repeat login be answered on the event loop with one SHA-256.
//!
//! Entries are only a 32-byte digest of (user, presented password, stored-secret
//! fingerprint) under a random per-process key, so the cache holds neither passwords nor
//! anything that can be checked offline without that key, and a password changed in the file
//! changes the fingerprint and so can never hit an old entry.

use super::expiring::ExpiringMap;
use sha2::{Digest, Sha256};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub(crate) type CacheKey = [u8; 32];

pub(crate) struct SuccessCache {
    /// Per-process secret mixed into every key.
    salt: [u8; 32],
    entries: Mutex<ExpiringMap<CacheKey, ()>>,
}

impl SuccessCache {
    /// `capacity` 0 disables the cache; entries live for `ttl` after the verification.
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Self {
        SuccessCache {
            salt: rand::random(),
            entries: Mutex::new(ExpiringMap::new(capacity, ttl)),
        }
    }

    /// The key for a verification; the one hash the fast path computes.
    pub(crate) fn key(
        &self,
        user: &str,
        password: &str,
        secret_fingerprint: &[u8; 32],
    ) -> CacheKey {
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        let mut hasher = Sha256::new();
        hasher.update(self.salt);
        for part in [user.as_bytes(), password.as_bytes()] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        hasher.update(secret_fingerprint);
        hasher.finalize().into()
    }

    pub(crate) fn contains(&self, key: &CacheKey, now: Instant) -> bool {
        self.lock().get(key, now).is_some()
    }

    pub(crate) fn insert(&self, key: CacheKey, now: Instant) {
        self.lock().insert(key, (), now);
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, ExpiringMap<CacheKey, ()>> {
        // Losing or keeping a cache entry is harmless, so a poisoned lock is still usable.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_every_input() {
        let cache = SuccessCache::new(10, Duration::from_secs(60));
        let fp = [1u8; 32];
        let base = cache.key("alice", "pw", &fp);
        assert_eq!(base, cache.key("alice", "pw", &fp));
        assert_ne!(base, cache.key("alice", "pw2", &fp));
        assert_ne!(base, cache.key("alicE", "pw", &fp));
        assert_ne!(base, cache.key("alice", "pw", &[2u8; 32]));
        assert_ne!(cache.key("ab", "c", &fp), cache.key("a", "bc", &fp));
        // Another process (another salt) derives different keys.
        assert_ne!(
            base,
            SuccessCache::new(10, Duration::from_secs(60)).key("alice", "pw", &fp)
        );
    }

    #[test]
    fn insert_contains_expire_clear() {
        let cache = SuccessCache::new(10, Duration::from_secs(60));
        let t0 = Instant::now();
        let key = cache.key("alice", "pw", &[0; 32]);
        assert!(!cache.contains(&key, t0));
        cache.insert(key, t0);
        assert!(cache.contains(&key, t0 + Duration::from_secs(59)));
        assert!(!cache.contains(&key, t0 + Duration::from_secs(60)));
        cache.insert(key, t0);
        cache.clear();
        assert!(!cache.contains(&key, t0));
    }

    #[test]
    fn bounded() {
        let cache = SuccessCache::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..10 {
            cache.insert(cache.key(&format!("user{i}"), "pw", &[0; 32]), t0);
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.contains(&cache.key("user9", "pw", &[0; 32]), t0));
        assert!(!cache.contains(&cache.key("user0", "pw", &[0; 32]), t0));
    }
}
