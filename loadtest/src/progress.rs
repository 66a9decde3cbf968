//! The one-line-per-second progress report printed to stderr during a run.
//!
//! Rates and the live p99 are over the last interval, not the whole run, so a server that
//! slows down under sustained load shows it while it happens; totals are cumulative. The p99
//! shown is the busiest step's (most operations in the interval), the one that dominates what
//! the server is doing.

use crate::metrics::{Snapshot, Step};
use crate::report::{MB, rate};
use std::time::{Duration, Instant};

/// Turns successive cumulative snapshots into progress lines.
#[derive(Debug)]
pub struct Progress {
    start: Instant,
    last: Snapshot,
    last_at: Instant,
}

impl Progress {
    pub fn new(start: Instant) -> Self {
        Progress {
            start,
            last: Snapshot::default(),
            last_at: start,
        }
    }

    /// The line for `snapshot` taken at `now`, relative to the previous call.
    pub fn line(&mut self, snapshot: Snapshot, now: Instant) -> String {
        let interval = snapshot.since(&self.last);
        let text = format_line(
            now.saturating_duration_since(self.start),
            &snapshot,
            &interval,
            now.saturating_duration_since(self.last_at),
        );
        self.last = snapshot;
        self.last_at = now;
        text
    }
}

/// The step with the most operations in `interval` (whole sessions excluded: they are made
/// of the other steps).
pub fn busiest_step(interval: &Snapshot) -> Option<Step> {
    interval
        .recorded_steps()
        .filter(|s| s.is_operation())
        .max_by_key(|&s| interval.count(s))
}

/// One progress line: elapsed, sessions done, ops/s, MB/s, errors, live p99 of the busiest
/// step.
pub fn format_line(
    elapsed: Duration,
    total: &Snapshot,
    interval: &Snapshot,
    interval_len: Duration,
) -> String {
    let p99 = match busiest_step(interval) {
        Some(step) => {
            let us = interval
                .histogram(step)
                .map_or(0, |h| h.value_at_percentile(99.0));
            format!("p99 {} {:.2} ms", step.name(), us as f64 / 1000.0)
        }
        None => "p99 -".to_owned(),
    };
    format!(
        "[{:>6.1}s] sessions {:>8}  ops/s {:>9.1}  MB/s {:>8.2}  errors {:>6}  {p99}",
        elapsed.as_secs_f64(),
        total.sessions,
        rate(interval.operations(), interval_len),
        rate(interval.bytes, interval_len) / MB,
        total.errors_total(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Recorder;

    #[test]
    fn line_shows_interval_rates_and_busiest_p99() {
        let rec = Recorder::with_shards(1);
        let start = Instant::now();
        let mut progress = Progress::new(start);
        for _ in 0..10 {
            rec.record(Step::Retr, Duration::from_millis(3));
        }
        rec.record(Step::Login, Duration::from_millis(50));
        rec.record(Step::Session, Duration::from_secs(1));
        rec.bytes(2_000_000);
        rec.session_done();
        rec.error("timeout");
        let line = progress.line(rec.snapshot(), start + Duration::from_secs(1));
        assert!(line.contains("sessions        1"), "{line}");
        assert!(line.contains("ops/s      11.0"), "{line}");
        assert!(line.contains("MB/s     2.00"), "{line}");
        assert!(line.contains("errors      1"), "{line}");
        assert!(line.contains("p99 retr 3.00 ms"), "{line}");

        // Nothing new in the next second: rates drop to zero, totals stay.
        let line = progress.line(rec.snapshot(), start + Duration::from_secs(2));
        assert!(line.contains("ops/s       0.0"), "{line}");
        assert!(line.contains("p99 -"), "{line}");
        assert!(line.contains("errors      1"), "{line}");
    }
}
