//! Per-client-address failure penalty, after Dovecot's anvil auth penalty.
//!
//! Each failed login from an address doubles the delay before the next answer (2 s, 4 s, 8 s,
//! capped at 15 s by default), which makes online password guessing slow without locking out
//! the account owner. As in Dovecot, IPv6 addresses are grouped by their /48 prefix, since one
//! attacker usually has a whole prefix to rotate through, and IPv4-mapped IPv6 addresses count
//! as the IPv4 address. The table is bounded and forgets an address an hour after its last
//! failure.

use super::expiring::ExpiringMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long an address is remembered after its last failure.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// How many addresses are tracked at most; beyond it, the longest-quiet one is forgotten.
const MAX_TRACKED: usize = 100_000;

/// Prefix length IPv6 addresses are grouped by (Dovecot's `PENALTY_IPV6_MASK_BITS`).
const IPV6_PREFIX_BITS: u32 = 48;

/// The failure penalty table. Thread-safe.
pub struct Penalty {
    base: Duration,
    max: Duration,
    /// Failure count per (grouped) address; the entry's write time is the last failure.
    table: Mutex<ExpiringMap<IpAddr, u32>>,
}

impl Penalty {
    /// `base` is the delay after a first failure, `max` the cap.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self::with_limits(base, max, MAX_TRACKED, FORGET_AFTER)
    }

    pub(crate) fn with_limits(
        base: Duration,
        max: Duration,
        capacity: usize,
        ttl: Duration,
    ) -> Self {
        Penalty {
            base,
            max,
            table: Mutex::new(ExpiringMap::new(capacity, ttl)),
        }
    }

    /// Counts a failed attempt from `ip` and returns the delay to apply before answering it:
    /// `base * 2^(failures - 1)`, capped at `max`. Call once per failure.
    pub fn record_failure(&self, ip: IpAddr) -> Duration {
        self.record_failure_at(ip, Instant::now())
    }

    /// The delay to apply before even checking a new attempt from `ip`: what is left of the
    /// delay earned by its last failure, so a client that already waited it out (or a
    /// parallel connection opened later) is not held twice. `Duration::ZERO` without recent
    /// failures. Does not count as a failure.
    pub fn current(&self, ip: IpAddr) -> Duration {
        self.current_at(ip, Instant::now())
    }

    /// Forgets `ip` after a successful login.
    pub fn record_success(&self, ip: IpAddr) {
        self.lock().remove(&group(ip));
    }

    pub(crate) fn record_failure_at(&self, ip: IpAddr, now: Instant) -> Duration {
        let key = group(ip);
        let mut table = self.lock();
        let failures = table
            .get(&key, now)
            .map_or(0, |(count, _)| *count)
            .saturating_add(1);
        table.insert(key, failures, now);
        self.delay(failures)
    }

    pub(crate) fn current_at(&self, ip: IpAddr, now: Instant) -> Duration {
        let table = self.lock();
        match table.get(&group(ip), now) {
            Some((&failures, last)) => self
                .delay(failures)
                .saturating_sub(now.saturating_duration_since(last)),
            None => Duration::ZERO,
        }
    }

    pub(crate) fn tracked(&self) -> usize {
        self.lock().len()
    }

    fn delay(&self, failures: u32) -> Duration {
        // Past 2^31 the shift itself fails; either way the answer is the cap.
        1u32.checked_shl(failures.saturating_sub(1))
            .and_then(|factor| self.base.checked_mul(factor))
            .map_or(self.max, |d| d.min(self.max))
    }

    fn lock(&self) -> MutexGuard<'_, ExpiringMap<IpAddr, u32>> {
        // The table holds no invariant a panicking holder could break half-way.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Penalty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Penalty")
            .field("base", &self.base)
            .field("max", &self.max)
            .field("tracked", &self.tracked())
            .finish()
    }
}

/// The key an address is tracked under.
fn group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mask = u128::MAX << (128 - IPV6_PREFIX_BITS);
                IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & mask))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn dovecot_like() -> Penalty {
        Penalty::new(S(2), S(15))
    }

    #[test]
    fn doubles_then_caps() {
        let p = dovecot_like();
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        let delays: Vec<Duration> = (0..6).map(|_| p.record_failure_at(a, t0)).collect();
        assert_eq!(delays, [S(2), S(4), S(8), S(15), S(15), S(15)]);
        // Another address is unaffected.
        assert_eq!(p.record_failure_at(ip("192.0.2.2"), t0), S(2));
    }

    #[test]
    fn never_overflows() {
        let p = Penalty::new(Duration::from_millis(1), Duration::MAX);
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        let mut last = Duration::ZERO;
        for _ in 0..100 {
            last = p.record_failure_at(a, t0);
        }
        assert_eq!(last, Duration::MAX);
    }

    #[test]
    fn current_is_what_remains_of_the_last_delay() {
        let p = dovecot_like();
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        assert_eq!(p.current_at(a, t0), Duration::ZERO);
        p.record_failure_at(a, t0);
        p.record_failure_at(a, t0);
        assert_eq!(p.current_at(a, t0), S(4));
        assert_eq!(p.current_at(a, t0 + S(1)), S(3));
        assert_eq!(p.current_at(a, t0 + S(10)), Duration::ZERO);
        // Asking does not count: the next failure is the third.
        assert_eq!(p.record_failure_at(a, t0 + S(10)), S(8));
    }

    #[test]
    fn forgets_after_an_hour_and_on_success() {
        let p = dovecot_like();
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        p.record_failure_at(a, t0);
        p.record_failure_at(a, t0 + S(1800));
        // An hour after the *last* failure, not the first.
        assert_eq!(p.record_failure_at(a, t0 + S(3599)), S(8));
        assert_eq!(p.record_failure_at(a, t0 + S(3599 + 3600)), S(2));

        p.record_failure_at(a, t0);
        p.record_success(a);
        assert_eq!(p.current_at(a, t0), Duration::ZERO);
        assert_eq!(p.record_failure_at(a, t0), S(2));
    }

    #[test]
    fn table_is_bounded_and_evicts_the_quietest() {
        let p = Penalty::with_limits(S(2), S(15), 100, FORGET_AFTER);
        let t0 = Instant::now();
        let victim = ip("198.51.100.7");
        p.record_failure_at(victim, t0);
        for i in 0..1000u32 {
            let flood = IpAddr::V4((0x0a00_0000 + i).into());
            p.record_failure_at(flood, t0 + S(1));
        }
        assert_eq!(p.tracked(), 100);
        assert_eq!(
            p.current_at(victim, t0 + S(1)),
            Duration::ZERO,
            "oldest entry evicted"
        );
        assert_eq!(Penalty::new(S(2), S(15)).table.lock().unwrap().len(), 0);
    }

    #[test]
    fn ipv6_is_grouped_by_48_bit_prefix() {
        let p = dovecot_like();
        let t0 = Instant::now();
        assert_eq!(p.record_failure_at(ip("2001:db8:1:2::1"), t0), S(2));
        assert_eq!(p.record_failure_at(ip("2001:db8:1:ffff::9"), t0), S(4));
        assert_eq!(p.record_failure_at(ip("2001:db8:2::1"), t0), S(2));
        // IPv4-mapped addresses are the IPv4 address.
        assert_eq!(p.record_failure_at(ip("203.0.113.5"), t0), S(2));
        assert_eq!(p.record_failure_at(ip("::ffff:203.0.113.5"), t0), S(4));
        p.record_success(ip("2001:db8:1::77"));
        assert_eq!(p.current_at(ip("2001:db8:1:2::1"), t0), Duration::ZERO);
    }
}
