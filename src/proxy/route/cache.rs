//! Recent `auth_http` successes, so that a client that logs in every minute does not cost an
//! HTTP request every time.
//!
//! - The key is a SHA-256 over the protocol, the client's TLS state, the user name and the
//!   password, so a different password (or the same one from a clear-text connection, which
//!   the auth service may treat differently through `Auth-SSL`) never reuses a success, and
//!   no password is kept in memory as the key.
//! - Only successes are kept. A refusal is not: the auth service may answer the next
//!   attempt differently (it sees `Auth-Login-Attempt`, and nginx's own protocol drops
//!   `Auth-Wait` after enough failures to close the connection), an account just repaired
//!   should work at once, and a retry with the same wrong password costs the service a
//!   request, not a password check at the backend. Nor is `Unavailable`.
//! - The client's address is not part of the key: a policy of the auth service that
//!   depends on it applies, for a user and password it has accepted, only once every
//!   `cache_ttl`.
//! - Bounded: at most `capacity` entries. A full cache first drops what has expired, then
//!   the entry closest to expiring. Eviction scans the map, which is fine because it only
//!   happens after a miss, which cost an HTTP round trip anyway.
//! - A reload builds a new route source, and so starts with an empty cache.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{LookupRequest, Route};
use crate::config::Protocol;

/// What a cached route is filed under.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CacheKey({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

#[derive(Debug)]
struct Entry {
    route: Route,
    expires: Instant,
}

/// A bounded, thread-safe cache of successful lookups.
#[derive(Debug)]
pub struct RouteCache {
    capacity: usize,
    ttl: Duration,
    entries: Mutex<HashMap<CacheKey, Entry>>,
}

impl RouteCache {
    /// Holds at most `capacity` routes (at least one), each for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> RouteCache {
        RouteCache {
            capacity: capacity.max(1),
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The key for a request: every field is length-prefixed, so that no two different
    /// (user, password) pairs hash the same bytes.
    pub fn key(request: &LookupRequest) -> CacheKey {
        let mut hash = Sha256::new();
        hash.update(b"postern route cache v1\0");
        hash.update([
            match request.protocol {
                Protocol::Imap => b'i',
                Protocol::Pop3 => b'p',
            },
            u8::from(request.secure),
        ]);
        for field in [request.user.as_bytes(), request.password.as_bytes()] {
            hash.update((field.len() as u64).to_be_bytes());
            hash.update(field);
        }
        CacheKey(hash.finalize().into())
    }

    /// The route remembered under `key`, if it has not expired.
    pub fn get(&self, key: &CacheKey) -> Option<Route> {
        self.get_at(key, Instant::now())
    }

    /// Remembers a successful lookup.
    pub fn insert(&self, key: CacheKey, route: Route) {
        self.insert_at(key, route, Instant::now())
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Entry>> {
        // A panic while holding the lock cannot leave the map half-updated in a way that
        // matters: every entry is whole.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get_at(&self, key: &CacheKey, now: Instant) -> Option<Route> {
        let mut entries = self.lock();
        match entries.get(key) {
            Some(entry) if entry.expires > now => Some(entry.route.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn insert_at(&self, key: CacheKey, route: Route, now: Instant) {
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, entry| entry.expires > now);
            while entries.len() >= self.capacity {
                let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, entry)| entry.expires)
                    .map(|(key, _)| *key)
                else {
                    break;
                };
                entries.remove(&oldest);
            }
        }
        entries.insert(
            key,
            Entry {
                route,
                expires: now + self.ttl,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::route::{Backend, BackendTls};
    use std::net::{IpAddr, Ipv4Addr};

    fn request(user: &str, password: &str) -> LookupRequest {
        LookupRequest {
            protocol: Protocol::Imap,
            user: user.to_owned(),
            password: password.to_owned(),
            client_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            client_port: 50000,
            secure: true,
            attempt: 1,
        }
    }

    fn route(host: &str) -> Route {
        Route {
            backend: Backend {
                host: host.to_owned(),
                port: 143,
                tls: BackendTls::Starttls,
            },
            user: "alice".to_owned(),
            password: None,
        }
    }

    #[test]
    fn key_separates_password_protocol_tls_and_field_boundaries() {
        let base = request("alice", "secret");
        let key = RouteCache::key(&base);
        assert_eq!(key, RouteCache::key(&base.clone()));
        assert_ne!(key, RouteCache::key(&request("alice", "Secret")));
        assert_ne!(key, RouteCache::key(&request("alicesecret", "")));
        assert_ne!(key, RouteCache::key(&request("alices", "ecret")));
        let pop3 = LookupRequest {
            protocol: Protocol::Pop3,
            ..base.clone()
        };
        assert_ne!(key, RouteCache::key(&pop3));
        let clear = LookupRequest {
            secure: false,
            ..base.clone()
        };
        assert_ne!(key, RouteCache::key(&clear));
        // The client's address and attempt number do not matter.
        let elsewhere = LookupRequest {
            client_ip: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9)),
            attempt: 3,
            ..base
        };
        assert_eq!(key, RouteCache::key(&elsewhere));
        assert!(!format!("{key:?}").contains("secret"));
    }

    #[test]
    fn hit_miss_and_expiry() {
        let cache = RouteCache::new(10, Duration::from_secs(60));
        let t0 = Instant::now();
        let key = RouteCache::key(&request("alice", "secret"));
        let other = RouteCache::key(&request("alice", "wrong"));
        assert!(cache.is_empty());
        assert_eq!(cache.get_at(&key, t0), None);
        cache.insert_at(key, route("a"), t0);
        assert_eq!(
            cache.get_at(&key, t0 + Duration::from_secs(59)),
            Some(route("a"))
        );
        assert_eq!(cache.get_at(&other, t0), None, "another password is a miss");
        assert_eq!(
            cache.get_at(&key, t0 + Duration::from_secs(60)),
            None,
            "expired"
        );
        assert!(cache.is_empty(), "an expired entry is dropped when found");
        // Inserting again refreshes.
        cache.insert_at(key, route("a"), t0);
        cache.insert_at(key, route("b"), t0 + Duration::from_secs(30));
        assert_eq!(cache.len(), 1);
        assert_eq!(
            cache.get_at(&key, t0 + Duration::from_secs(80)),
            Some(route("b"))
        );
        // The public clock works too.
        cache.insert(other, route("c"));
        assert_eq!(cache.get(&other), Some(route("c")));
    }

    #[test]
    fn size_is_bounded() {
        let cache = RouteCache::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let keys: Vec<CacheKey> = (0..5)
            .map(|i| RouteCache::key(&request(&format!("user{i}"), "pw")))
            .collect();
        for (i, key) in keys.iter().enumerate() {
            cache.insert_at(
                *key,
                route(&format!("h{i}")),
                t0 + Duration::from_secs(i as u64),
            );
            assert!(cache.len() <= 3);
        }
        assert_eq!(cache.len(), 3);
        // The two oldest went.
        let now = t0 + Duration::from_secs(5);
        assert_eq!(cache.get_at(&keys[0], now), None);
        assert_eq!(cache.get_at(&keys[1], now), None);
        assert_eq!(cache.get_at(&keys[4], now), Some(route("h4")));
        // Replacing a present key does not evict anyone.
        cache.insert_at(keys[4], route("new"), now);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get_at(&keys[2], now), Some(route("h2")));
        // Expired entries go first, before any live one.
        let later = t0 + Duration::from_secs(63);
        cache.insert_at(keys[0], route("again"), later);
        assert_eq!(cache.get_at(&keys[0], later), Some(route("again")));
        assert_eq!(cache.get_at(&keys[4], later), Some(route("new")));
        assert_eq!(cache.len(), 2, "h2 and h3 had expired");
        // A capacity of zero still holds one route rather than failing.
        let tiny = RouteCache::new(0, Duration::from_secs(60));
        tiny.insert_at(keys[0], route("x"), t0);
        tiny.insert_at(keys[1], route("y"), t0);
        assert_eq!(tiny.len(), 1);
    }

    #[test]
    fn shared_between_threads() {
        let cache = std::sync::Arc::new(RouteCache::new(100, Duration::from_secs(60)));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let key = RouteCache::key(&request(&format!("u{t}-{i}"), "pw"));
                        cache.insert(key, route("h"));
                        assert!(cache.len() <= 100);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(cache.len(), 100);
    }
}
