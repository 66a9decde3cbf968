//! The result of a run: built once from the final [`Snapshot`] and the resource samples, then
//! written as an aligned table for people (stdout) and as JSON for machines (`--json`).
//!
//! The JSON holds everything the table shows and more (every percentile, the percentile curve
//! the plot draws, the per-second samples), so a plot or a comparison can be made later from
//! the file alone; [`Report`] therefore also deserialises.

use crate::ceiling::CeilingReport;
use crate::metrics::{Snapshot, Step};
use crate::procstat::{TreeMonitor, TreeSample};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Bytes in the MB of "MB/s" (decimal, as network throughput is usually stated).
pub const MB: f64 = 1_000_000.0;

/// Above this average fraction of its cores the generator is called saturated: its own
/// scheduling delays then show up as server latency.
pub const SATURATION: f64 = 0.90;

/// Points per decade ("nine") of the percentile curve, from 0 to 99.99 %.
const CURVE_POINTS_PER_NINE: u32 = 10;
/// The curve ends at 99.99 % (four nines).
const CURVE_NINES: u32 = 4;

/// Why a report could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Everything a run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub tool: String,
    pub version: String,
    /// Scenario name as given on the command line (`pop3-download`, ...).
    pub scenario: String,
    /// What was loaded, e.g. `127.0.0.1:110 (pop3, plain)`.
    pub target: String,
    /// Concurrent connections the run was configured with.
    pub connections: usize,
    /// Wall time of the run itself, in seconds.
    pub elapsed_secs: f64,
    /// One entry per step with at least one record, in [`Step::ALL`] order.
    pub steps: Vec<StepReport>,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
    pub errors_total: u64,
    pub throughput: Throughput,
    pub generator: Option<GeneratorUsage>,
    pub server: Option<ServerUsage>,
    /// One per second of the run.
    pub samples: Vec<Sample>,
    /// Things the reader must know to trust the numbers (saturated generator, ...).
    pub warnings: Vec<String>,
    /// The run as a fraction of this machine's ceiling (`run --ceiling FILE`).
    #[serde(default)]
    pub ceiling: Option<CeilingComparison>,
}

/// Throughput and handshake rate against what `postern-load ceiling` measured, so that a
/// result reads as "n % of what this machine can do at all".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CeilingComparison {
    /// `"tcp"` or `"tls"`: which of the ceiling's throughputs applies.
    pub transport: String,
    pub ceiling_mb_per_sec: f64,
    pub fraction_of_throughput: f64,
    /// TLS runs only: handshakes per second achieved, the ceiling's, and their ratio.
    pub handshakes_per_sec: Option<f64>,
    pub ceiling_handshakes_per_sec: Option<f64>,
    pub fraction_of_handshakes: Option<f64>,
}

/// Latency statistics of one step, in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    pub step: Step,
    pub count: u64,
    pub ops_per_sec: f64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p75_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub p9999_ms: f64,
    pub max_ms: f64,
    /// The percentile curve, on the "nines" scale the plot uses.
    pub curve: Vec<CurvePoint>,
}

/// One point of a percentile curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// `-log10(1 - percentile/100)`: 0 at 0 %, 1 at 90 %, 2 at 99 %, 3 at 99.9 %.
    pub nines: f64,
    pub percentile: f64,
    pub ms: f64,
}

/// Totals and rates over the whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Operations of every step except whole sessions.
    pub operations: u64,
    pub ops_per_sec: f64,
    /// Message payload bytes received.
    pub bytes: u64,
    pub mb_per_sec: f64,
    /// Sessions completed without error.
    pub sessions: u64,
    pub sessions_per_sec: f64,
}

/// The load generator's own CPU use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratorUsage {
    pub cpu_seconds: f64,
    pub cores: usize,
    /// Average over the run, as a fraction of all `cores` (1.0 = every core busy).
    pub fraction_of_cores: f64,
    /// Highest one-second fraction seen.
    pub peak_fraction: f64,
    /// `fraction_of_cores` above [`SATURATION`].
    pub saturated: bool,
}

impl GeneratorUsage {
    pub fn new(cpu_seconds: f64, wall: Duration, cores: usize, peak_fraction: f64) -> Self {
        let capacity = wall.as_secs_f64() * cores as f64;
        let fraction_of_cores = if capacity > 0.0 {
            cpu_seconds / capacity
        } else {
            0.0
        };
        GeneratorUsage {
            cpu_seconds: round(cpu_seconds, 3),
            cores,
            fraction_of_cores: round(fraction_of_cores, 4),
            peak_fraction: round(peak_fraction.max(fraction_of_cores), 4),
            saturated: fraction_of_cores > SATURATION,
        }
    }
}

/// The server's process tree, before, during (maxima) and after the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerUsage {
    pub pid: u32,
    pub processes_before: usize,
    pub processes_max: usize,
    pub processes_after: usize,
    pub rss_before_bytes: u64,
    pub rss_max_bytes: u64,
    pub rss_after_bytes: u64,
    pub pss_before_bytes: Option<u64>,
    pub pss_max_bytes: Option<u64>,
    pub pss_after_bytes: Option<u64>,
    /// (max during − before) / connections, using PSS where every process's PSS was readable,
    /// RSS otherwise (see `memory_basis`).
    pub memory_per_connection_bytes: f64,
    /// `"pss"` or `"rss"`.
    pub memory_basis: String,
    /// CPU seconds the tree used between the before and after samples.
    pub cpu_seconds: f64,
    /// `cpu_seconds` per operation, in microseconds (`None` without operations).
    pub cpu_per_op_us: Option<f64>,
    /// `cpu_seconds` over the run as a fraction of all cores of this machine.
    pub fraction_of_cores: f64,
}

impl ServerUsage {
    /// Summarises a monitor whose `latest` sample is the one taken after the run.
    pub fn from_monitor(monitor: &TreeMonitor, connections: usize, operations: u64) -> Self {
        let before = &monitor.before;
        let after: &TreeSample = &monitor.latest;
        let (basis, grown) = match (monitor.max_pss_bytes, before.pss_bytes) {
            (Some(max), Some(before)) => ("pss", max.saturating_sub(before)),
            _ => (
                "rss",
                monitor.max_rss_bytes.saturating_sub(before.rss_bytes),
            ),
        };
        let cpu_seconds = (after.cpu_seconds - before.cpu_seconds).max(0.0);
        let wall = after.at.saturating_duration_since(before.at);
        ServerUsage {
            pid: monitor.pid,
            processes_before: before.processes,
            processes_max: monitor.max_processes,
            processes_after: after.processes,
            rss_before_bytes: before.rss_bytes,
            rss_max_bytes: monitor.max_rss_bytes,
            rss_after_bytes: after.rss_bytes,
            pss_before_bytes: before.pss_bytes,
            pss_max_bytes: monitor.max_pss_bytes,
            pss_after_bytes: after.pss_bytes,
            memory_per_connection_bytes: round(grown as f64 / connections.max(1) as f64, 1),
            memory_basis: basis.to_owned(),
            cpu_seconds: round(cpu_seconds, 3),
            cpu_per_op_us: (operations > 0)
                .then(|| round(cpu_seconds * 1e6 / operations as f64, 3)),
            fraction_of_cores: round(crate::procstat::cpu_fraction(cpu_seconds, wall), 4),
        }
    }
}

/// The state of the run at one second.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the run started.
    pub t_secs: f64,
    /// Cumulative counts.
    pub sessions: u64,
    pub operations: u64,
    pub errors: u64,
    pub bytes: u64,
    /// Generator CPU over the last interval, as a fraction of all cores.
    pub generator_cpu_fraction: Option<f64>,
    pub server_rss_bytes: Option<u64>,
    pub server_pss_bytes: Option<u64>,
    /// Cumulative CPU seconds of the server tree (as read, not since the start).
    pub server_cpu_seconds: Option<f64>,
    pub server_processes: Option<usize>,
}

/// What the run was, for the report's header.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub scenario: String,
    pub target: String,
    pub connections: usize,
    pub elapsed: Duration,
}

fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// `x` rounded to `decimals` places. Measured values carry no more precision than that, and
/// short decimals print readably and read back from JSON as exactly the same number.
pub fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    let rounded = (x * scale).round() / scale;
    if rounded.is_finite() { rounded } else { x }
}

/// The percentile curve of a histogram, from 0 % to 99.99 % evenly on the nines scale.
fn curve(histogram: &Histogram<u64>) -> Vec<CurvePoint> {
    (0..=CURVE_POINTS_PER_NINE * CURVE_NINES)
        .map(|i| {
            let nines = f64::from(i) / f64::from(CURVE_POINTS_PER_NINE);
            let quantile = 1.0 - 10f64.powf(-nines);
            CurvePoint {
                nines,
                percentile: round(quantile * 100.0, 6),
                ms: us_to_ms(histogram.value_at_quantile(quantile)),
            }
        })
        .collect()
}

impl StepReport {
    pub fn from_histogram(step: Step, histogram: &Histogram<u64>, elapsed: Duration) -> Self {
        let at = |percentile: f64| us_to_ms(histogram.value_at_percentile(percentile));
        StepReport {
            step,
            count: histogram.len(),
            ops_per_sec: round(rate(histogram.len(), elapsed), 3),
            min_ms: us_to_ms(histogram.min()),
            mean_ms: round(histogram.mean() / 1000.0, 6),
            p50_ms: at(50.0),
            p75_ms: at(75.0),
            p90_ms: at(90.0),
            p95_ms: at(95.0),
            p99_ms: at(99.0),
            p999_ms: at(99.9),
            p9999_ms: at(99.99),
            max_ms: us_to_ms(histogram.max()),
            curve: curve(histogram),
        }
    }
}

/// `count` per second of `elapsed` (0 for an empty interval rather than infinity).
pub fn rate(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

impl Report {
    /// Builds the report; `generator`, `server` and `samples` are whatever was measured.
    pub fn build(
        info: &RunInfo,
        snapshot: &Snapshot,
        generator: Option<GeneratorUsage>,
        server: Option<ServerUsage>,
        samples: Vec<Sample>,
    ) -> Self {
        let elapsed = info.elapsed;
        let steps = Step::ALL
            .iter()
            .filter_map(|&step| {
                snapshot
                    .histogram(step)
                    .map(|h| StepReport::from_histogram(step, h, elapsed))
            })
            .collect();
        let operations = snapshot.operations();
        let mut warnings = Vec::new();
        if let Some(g) = generator.as_ref().filter(|g| g.saturated) {
            warnings.push(format!(
                "the load generator used {:.0} % of its {} cores on average: it was \
                 saturated, so the latencies include its own queueing; use fewer \
                 connections or run it on a bigger machine",
                g.fraction_of_cores * 100.0,
                g.cores
            ));
        }
        Report {
            tool: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            scenario: info.scenario.clone(),
            target: info.target.clone(),
            connections: info.connections,
            elapsed_secs: round(elapsed.as_secs_f64(), 6),
            steps,
            errors: snapshot
                .errors
                .iter()
                .map(|(k, &v)| ((*k).to_owned(), v))
                .collect(),
            errors_total: snapshot.errors_total(),
            throughput: Throughput {
                operations,
                ops_per_sec: round(rate(operations, elapsed), 3),
                bytes: snapshot.bytes,
                mb_per_sec: round(rate(snapshot.bytes, elapsed) / MB, 6),
                sessions: snapshot.sessions,
                sessions_per_sec: round(rate(snapshot.sessions, elapsed), 3),
            },
            generator,
            server,
            samples,
            warnings,
            ceiling: None,
        }
    }

    /// Adds the comparison with a ceiling measurement; `tls` says whether the run used TLS.
    pub fn compare_with_ceiling(&mut self, ceiling: &CeilingReport, tls: bool) {
        let ratio = |value: f64, limit: f64| {
            if limit > 0.0 {
                round(value / limit, 4)
            } else {
                0.0
            }
        };
        let ceiling_mb = if tls {
            ceiling.tls_mb_per_sec
        } else {
            ceiling.tcp_mb_per_sec
        };
        let handshakes = tls.then(|| {
            self.steps
                .iter()
                .find(|s| s.step == Step::TlsHandshake)
                .map_or(0.0, |s| s.ops_per_sec)
        });
        self.ceiling = Some(CeilingComparison {
            transport: if tls { "tls" } else { "tcp" }.to_owned(),
            ceiling_mb_per_sec: ceiling_mb,
            fraction_of_throughput: ratio(self.throughput.mb_per_sec, ceiling_mb),
            handshakes_per_sec: handshakes,
            ceiling_handshakes_per_sec: tls.then_some(ceiling.tls_handshakes_per_sec),
            fraction_of_handshakes: handshakes.map(|h| ratio(h, ceiling.tls_handshakes_per_sec)),
        });
    }

    /// The report for people: the per-step table, then errors, throughput and resources.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: {} against {}, {} connections, {:.2} s",
            self.tool, self.scenario, self.target, self.connections, self.elapsed_secs
        );
        out.push('\n');
        let header = [
            "step", "count", "ops/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
        ];
        let rows: Vec<[String; 8]> = self
            .steps
            .iter()
            .map(|s| {
                [
                    s.step.name().to_owned(),
                    s.count.to_string(),
                    format!("{:.1}", s.ops_per_sec),
                    format!("{:.2}", s.p50_ms),
                    format!("{:.2}", s.p90_ms),
                    format!("{:.2}", s.p99_ms),
                    format!("{:.2}", s.p999_ms),
                    format!("{:.2}", s.max_ms),
                ]
            })
            .collect();
        if rows.is_empty() {
            out.push_str("no operation was recorded\n");
        } else {
            let mut widths = header.map(str::len);
            for row in &rows {
                for (width, cell) in widths.iter_mut().zip(row) {
                    *width = (*width).max(cell.len());
                }
            }
            let line = |cells: &[&str]| {
                let mut text = String::new();
                for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
                    if i == 0 {
                        let _ = write!(text, "{cell:<width$}");
                    } else {
                        let _ = write!(text, "  {cell:>width$}");
                    }
                }
                text.push('\n');
                text
            };
            out.push_str(&line(&header));
            for row in &rows {
                let cells: Vec<&str> = row.iter().map(String::as_str).collect();
                out.push_str(&line(&cells));
            }
        }
        out.push('\n');

        if self.errors.is_empty() {
            out.push_str("errors:      none\n");
        } else {
            let _ = writeln!(out, "errors:      {} in total", self.errors_total);
            let width = self.errors.keys().map(String::len).max().unwrap_or(0);
            for (kind, count) in &self.errors {
                let _ = writeln!(out, "  {kind:<width$}  {count}");
            }
        }
        let t = &self.throughput;
        let _ = writeln!(
            out,
            "throughput:  {} ops, {:.1} ops/s; {:.2} MB received, {:.2} MB/s",
            t.operations,
            t.ops_per_sec,
            t.bytes as f64 / MB,
            t.mb_per_sec
        );
        let _ = writeln!(
            out,
            "sessions:    {} completed, {:.1}/s",
            t.sessions, t.sessions_per_sec
        );
        if let Some(g) = &self.generator {
            let _ = writeln!(
                out,
                "generator:   {:.2} CPU s = {:.1} % of {} cores on average, peak {:.1} %{}",
                g.cpu_seconds,
                g.fraction_of_cores * 100.0,
                g.cores,
                g.peak_fraction * 100.0,
                if g.saturated { " (SATURATED)" } else { "" }
            );
        }
        if let Some(s) = &self.server {
            let _ = writeln!(
                out,
                "server:      pid {} tree, {} → max {} → {} processes",
                s.pid, s.processes_before, s.processes_max, s.processes_after
            );
            let (before, max, after) = if s.memory_basis == "pss" {
                (s.pss_before_bytes, s.pss_max_bytes, s.pss_after_bytes)
            } else {
                (
                    Some(s.rss_before_bytes),
                    Some(s.rss_max_bytes),
                    Some(s.rss_after_bytes),
                )
            };
            let mib = |v: Option<u64>| {
                v.map_or("?".to_owned(), |v| format!("{:.1}", v as f64 / 1048576.0))
            };
            let _ = writeln!(
                out,
                "  memory     {} MiB before, {} MiB max, {} MiB after ({}); {:.1} KiB per connection",
                mib(before),
                mib(max),
                mib(after),
                s.memory_basis.to_uppercase(),
                s.memory_per_connection_bytes / 1024.0
            );
            let per_op = s.cpu_per_op_us.map_or("no operations".to_owned(), |us| {
                format!("{us:.1} µs per operation")
            });
            let _ = writeln!(
                out,
                "  CPU        {:.2} s = {:.1} % of this machine's cores; {}",
                s.cpu_seconds,
                s.fraction_of_cores * 100.0,
                per_op
            );
        }
        if let Some(c) = &self.ceiling {
            let _ = writeln!(
                out,
                "ceiling:     {:.2} MB/s = {:.1} % of this machine's {} ceiling ({:.1} MB/s)",
                self.throughput.mb_per_sec,
                c.fraction_of_throughput * 100.0,
                c.transport.to_uppercase(),
                c.ceiling_mb_per_sec
            );
            if let (Some(rate), Some(limit), Some(fraction)) = (
                c.handshakes_per_sec,
                c.ceiling_handshakes_per_sec,
                c.fraction_of_handshakes,
            ) {
                let _ = writeln!(
                    out,
                    "             {rate:.1} TLS handshakes/s = {:.1} % of its {limit:.1}/s",
                    fraction * 100.0
                );
            }
        }
        for warning in &self.warnings {
            let _ = writeln!(out, "WARNING: {warning}");
        }
        out
    }

    /// Pretty-printed JSON.
    pub fn to_json(&self) -> Result<String, ReportError> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    pub fn from_json(text: &str) -> Result<Self, ReportError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Writes [`Report::to_json`] to `path`.
    pub fn write_json(&self, path: &std::path::Path) -> Result<(), ReportError> {
        let mut text = self.to_json()?;
        text.push('\n');
        std::fs::write(path, text).map_err(|source| ReportError::Write {
            path: path.display().to_string(),
            source,
        })
    }
}
