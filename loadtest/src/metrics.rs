//! Latency and counter recording shared by every client task of a run.
//!
//! A run has tens of thousands of tasks on a multi-threaded runtime, all reporting every
//! protocol step they time. Recording must therefore neither allocate nor serialise all
//! threads on one lock: the [`Recorder`] keeps one set of histograms per *shard*, and each OS
//! thread always uses the same shard (picked round-robin the first time it records). With at
//! least as many shards as runtime threads, a lock is practically never contended; the
//! [`Snapshot`] merges the shards when the progress line or the final report asks.
//!
//! Latencies are kept in microseconds in HdrHistograms (1 µs .. 1 h, 3 significant digits),
//! so percentiles are exact to 0.1 % whatever the distribution.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Lowest latency a histogram distinguishes, in microseconds.
const LOWEST_US: u64 = 1;
/// Highest latency a histogram can hold (one hour), in microseconds; longer ones are clamped.
const HIGHEST_US: u64 = 3_600_000_000;
/// Significant decimal digits kept: values are exact to 0.1 %.
const SIGFIG: u8 = 3;
/// Upper bound on shards: beyond this, memory (about 190 KB per histogram in use) grows
/// faster than contention shrinks.
const MAX_SHARDS: usize = 64;

/// One timed kind of operation of a client session.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// TCP connect, SYN to established.
    Connect,
    /// TLS handshake (implicit TLS or after STARTTLS/STLS), until the client may send data.
    #[serde(rename = "tls")]
    TlsHandshake,
    /// Authentication command until its positive answer.
    Login,
    /// IMAP SELECT / POP3 STAT: opening the mailbox.
    Select,
    /// IMAP FETCH of message bodies.
    Fetch,
    /// POP3 RETR of one message.
    Retr,
    /// NOOP round trip.
    Noop,
    /// From a delivery into the mailbox to the IDLE client being told about it.
    IdleWakeup,
    /// LOGOUT / QUIT until the server's answer.
    Logout,
    /// A whole session, connect to close.
    Session,
}

impl Step {
    /// Every step, in the order reports list them.
    pub const ALL: [Step; 10] = [
        Step::Connect,
        Step::TlsHandshake,
        Step::Login,
        Step::Select,
        Step::Fetch,
        Step::Retr,
        Step::Noop,
        Step::IdleWakeup,
        Step::Logout,
        Step::Session,
    ];

    /// The short name used in tables, JSON and plots.
    pub fn name(self) -> &'static str {
        match self {
            Step::Connect => "connect",
            Step::TlsHandshake => "tls",
            Step::Login => "login",
            Step::Select => "select",
            Step::Fetch => "fetch",
            Step::Retr => "retr",
            Step::Noop => "noop",
            Step::IdleWakeup => "idle-wakeup",
            Step::Logout => "logout",
            Step::Session => "session",
        }
    }

    /// Position in [`Step::ALL`], used to index per-step arrays.
    fn index(self) -> usize {
        self as usize
    }

    /// Whether this step counts as an operation in throughput and CPU-per-operation figures.
    /// A session is made of the other steps, so counting it too would count work twice.
    pub fn is_operation(self) -> bool {
        self != Step::Session
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A new, empty latency histogram with the bounds every [`Recorder`] uses.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG)
        .expect("constant histogram bounds are valid")
}

/// One shard: a histogram per step, each allocated on first use (most runs touch only a few
/// steps, and a histogram is about 190 KB).
///
/// Aligned to keep shards on different cache lines, so that threads recording into
/// neighbouring shards do not slow each other down.
#[repr(align(128))]
struct Shard {
    steps: [Mutex<Option<Histogram<u64>>>; Step::ALL.len()],
}

impl Shard {
    fn new() -> Self {
        Shard {
            steps: std::array::from_fn(|_| Mutex::new(None)),
        }
    }
}

/// A lock whose holder panicked still guards consistent data here (a histogram or a map is
/// never left half-updated by the code below), so poisoning is ignored rather than spreading
/// a panic from one task to the whole run.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Inner {
    shards: Box<[Shard]>,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    bytes: AtomicU64,
    sessions: AtomicU64,
}

/// Collects latencies, errors and counters of a run. Cheap to clone (an `Arc`); every clone
/// records into the same data.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("shards", &self.inner.shards.len())
            .finish_non_exhaustive()
    }
}

/// Hands each OS thread a fixed shard number on its first recording.
static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_SLOT: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

impl Recorder {
    /// An empty recorder with one shard per available core, times two so that the runtime's
    /// blocking threads and helper threads also rarely meet on a lock.
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
        Self::with_shards((cores * 2).clamp(1, MAX_SHARDS))
    }

    /// An empty recorder with exactly `shards` shards (at least one).
    pub fn with_shards(shards: usize) -> Self {
        let shards = shards.clamp(1, MAX_SHARDS);
        Recorder {
            inner: Arc::new(Inner {
                shards: (0..shards).map(|_| Shard::new()).collect(),
                errors: Mutex::new(BTreeMap::new()),
                bytes: AtomicU64::new(0),
                sessions: AtomicU64::new(0),
            }),
        }
    }

    fn shard(&self) -> &Shard {
        let slot = THREAD_SLOT.with(|slot| *slot);
        &self.inner.shards[slot % self.inner.shards.len()]
    }

    /// Records one operation of `step` that took `elapsed`. Durations beyond one hour are
    /// recorded as one hour.
    pub fn record(&self, step: Step, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let micros = micros.clamp(LOWEST_US, HIGHEST_US);
        let mut slot = lock(&self.shard().steps[step.index()]);
        slot.get_or_insert_with(new_histogram)
            .saturating_record(micros);
    }

    /// Counts one error of the given kind (a short fixed label such as `"connect"` or
    /// `"verify-mismatch"`).
    pub fn error(&self, kind: &'static str) {
        *lock(&self.inner.errors).entry(kind).or_insert(0) += 1;
    }

    /// Adds `n` bytes of message payload received.
    pub fn bytes(&self, n: u64) {
        self.inner.bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one session that completed without error.
    pub fn session_done(&self) {
        self.inner.sessions.fetch_add(1, Ordering::Relaxed);
    }

    /// Everything recorded so far, merged over all shards.
    pub fn snapshot(&self) -> Snapshot {
        let mut histograms = BTreeMap::new();
        for step in Step::ALL {
            let mut merged: Option<Histogram<u64>> = None;
            for shard in self.inner.shards.iter() {
                let slot = lock(&shard.steps[step.index()]);
                if let Some(histogram) = slot.as_ref() {
                    merged
                        .get_or_insert_with(new_histogram)
                        .add(histogram)
                        .expect("histograms with identical bounds always add");
                }
            }
            if let Some(histogram) = merged.filter(|h| !h.is_empty()) {
                histograms.insert(step, histogram);
            }
        }
        Snapshot {
            histograms,
            errors: lock(&self.inner.errors).clone(),
            bytes: self.inner.bytes.load(Ordering::Relaxed),
            sessions: self.inner.sessions.load(Ordering::Relaxed),
        }
    }
}

/// Cumulative state of a [`Recorder`] at one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Latency histograms in microseconds, only for steps with at least one record.
    pub histograms: BTreeMap<Step, Histogram<u64>>,
    /// Errors by kind.
    pub errors: BTreeMap<&'static str, u64>,
    /// Message payload bytes received.
    pub bytes: u64,
    /// Sessions completed without error.
    pub sessions: u64,
}

impl Snapshot {
    /// The latency histogram of `step` (microseconds), if anything was recorded.
    pub fn histogram(&self, step: Step) -> Option<&Histogram<u64>> {
        self.histograms.get(&step)
    }

    /// How many operations of `step` were recorded.
    pub fn count(&self, step: Step) -> u64 {
        self.histogram(step).map_or(0, Histogram::len)
    }

    /// Operations of all steps except whole sessions (see [`Step::is_operation`]).
    pub fn operations(&self) -> u64 {
        self.histograms
            .iter()
            .filter(|(step, _)| step.is_operation())
            .map(|(_, h)| h.len())
            .sum()
    }

    /// Errors of one kind.
    pub fn error_count(&self, kind: &str) -> u64 {
        self.errors.get(kind).copied().unwrap_or(0)
    }

    /// Errors of all kinds.
    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Steps with at least one record, in report order.
    pub fn recorded_steps(&self) -> impl Iterator<Item = Step> + '_ {
        self.histograms.keys().copied()
    }

    /// What happened between `earlier` and this snapshot (both from the same recorder): the
    /// progress line's per-second rates and live percentiles come from this.
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        let mut histograms = BTreeMap::new();
        for (step, now) in &self.histograms {
            let mut delta = now.clone();
            if let Some(before) = earlier.histograms.get(step) {
                // Cumulative histograms only grow, so this cannot fail for snapshots taken in
                // order; if they were swapped, the whole histogram is the safer answer.
                if delta.subtract(before).is_err() {
                    delta = now.clone();
                }
            }
            if !delta.is_empty() {
                histograms.insert(*step, delta);
            }
        }
        let errors = self
            .errors
            .iter()
            .filter_map(|(kind, &n)| {
                let delta = n.saturating_sub(earlier.error_count(kind));
                (delta > 0).then_some((*kind, delta))
            })
            .collect();
        Snapshot {
            histograms,
            errors,
            bytes: self.bytes.saturating_sub(earlier.bytes),
            sessions: self.sessions.saturating_sub(earlier.sessions),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_all_order_and_are_unique() {
        let names: Vec<_> = Step::ALL.iter().map(|s| s.name()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        for (i, step) in Step::ALL.iter().enumerate() {
            assert_eq!(step.index(), i);
        }
    }

    #[test]
    fn serde_name_matches_name() {
        for step in Step::ALL {
            let json = serde_json::to_string(&step).unwrap();
            assert_eq!(json, format!("\"{}\"", step.name()));
            let back: Step = serde_json::from_str(&json).unwrap();
            assert_eq!(back, step);
        }
    }

    #[test]
    fn records_from_many_threads_merge() {
        let rec = Recorder::with_shards(3);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                let rec = rec.clone();
                scope.spawn(move || {
                    for i in 0..1000u64 {
                        rec.record(Step::Login, Duration::from_micros(i + 1));
                        rec.bytes(10);
                    }
                    rec.error("timeout");
                    rec.session_done();
                });
            }
        });
        let snap = rec.snapshot();
        assert_eq!(snap.count(Step::Login), 8000);
        assert_eq!(snap.count(Step::Retr), 0);
        assert_eq!(snap.bytes, 80_000);
        assert_eq!(snap.sessions, 8);
        assert_eq!(snap.error_count("timeout"), 8);
        assert_eq!(snap.histogram(Step::Login).unwrap().max(), 1000);
    }

    #[test]
    fn since_gives_the_interval() {
        let rec = Recorder::with_shards(2);
        rec.record(Step::Noop, Duration::from_millis(1));
        rec.error("a");
        let first = rec.snapshot();
        rec.record(Step::Noop, Duration::from_millis(5));
        rec.record(Step::Retr, Duration::from_millis(2));
        rec.bytes(7);
        let delta = rec.snapshot().since(&first);
        assert_eq!(delta.count(Step::Noop), 1);
        assert_eq!(delta.count(Step::Retr), 1);
        assert_eq!(delta.histogram(Step::Noop).unwrap().min(), 5000);
        assert_eq!(delta.errors_total(), 0);
        assert_eq!(delta.bytes, 7);
        assert_eq!(delta.operations(), 2);
    }

    #[test]
    fn extreme_durations_are_clamped() {
        let rec = Recorder::new();
        rec.record(Step::Session, Duration::from_secs(10_000));
        rec.record(Step::Session, Duration::ZERO);
        let snap = rec.snapshot();
        let h = snap.histogram(Step::Session).unwrap();
        assert_eq!(h.len(), 2);
        assert!(h.max() >= HIGHEST_US);
        assert_eq!(h.min(), LOWEST_US);
        assert_eq!(snap.operations(), 0);
    }
}
