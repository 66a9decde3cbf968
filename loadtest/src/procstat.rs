//! CPU and memory of processes, read from Linux's `/proc`.
//!
//! Two uses: the server under test (`--server-pid`), whose whole process tree is summed
//! because servers such as Dovecot run one process per login or per session; and the load
//! generator itself, whose CPU use tells whether the numbers measure the server or the
//! generator's own limits.
//!
//! Memory is the sum of RSS and of PSS (proportional set size, from `smaps_rollup`): RSS counts
//! shared pages once per process and so overstates a forking server, PSS splits them between
//! the sharers. CPU time is utime + stime + cutime + cstime of every process in the tree: the
//! `c` fields hold children that already exited and were reaped, so short-lived helpers are
//! not lost between two samples.

use std::path::{Path, PathBuf};
use std::time::Instant;

/// Why a process could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("process {pid} does not exist (or is not visible in /proc)")]
    NoSuchProcess { pid: u32 },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse {}: {reason}", path.display())]
    Parse { path: PathBuf, reason: String },
}

/// Clock ticks per second of the CPU times in `/proc/*/stat`, from the auxiliary vector the
/// kernel gave this process (`AT_CLKTCK`). Read rather than assumed: it is 100 on common
/// architectures but not on all.
pub fn clock_ticks_per_second() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| read_clock_ticks().unwrap_or(100))
}

fn read_clock_ticks() -> Option<u64> {
    const AT_CLKTCK: u64 = 17;
    let auxv = std::fs::read("/proc/self/auxv").ok()?;
    let word = std::mem::size_of::<usize>();
    let read_word = |chunk: &[u8]| -> u64 {
        let mut bytes = [0u8; 8];
        bytes[..word].copy_from_slice(chunk);
        // Native endianness: the vector is the kernel's in-memory layout. Widening a usize
        // never loses bits.
        if cfg!(target_endian = "little") {
            u64::from_le_bytes(bytes)
        } else {
            u64::from_be_bytes(bytes) >> (64 - 8 * word)
        }
    };
    auxv.chunks_exact(2 * word).find_map(|pair| {
        let (key, value) = pair.split_at(word);
        (read_word(key) == AT_CLKTCK)
            .then(|| read_word(value))
            .filter(|&ticks| ticks > 0)
    })
}

fn read_to_string(path: &Path, pid: u32) -> Result<String, ProcError> {
    std::fs::read_to_string(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ProcError::NoSuchProcess { pid }
        } else {
            ProcError::Read {
                path: path.to_owned(),
                source,
            }
        }
    })
}

/// Fields of `/proc/PID/stat` this module uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stat {
    ppid: u32,
    /// utime + stime + cutime + cstime, in clock ticks.
    cpu_ticks: u64,
}

/// Parses `/proc/PID/stat`. The command name (field 2) may hold spaces and parentheses, so
/// fields are counted from its last `)`.
fn parse_stat(text: &str) -> Result<Stat, String> {
    let close = text.rfind(')').ok_or("no ')' after the command name")?;
    // Fields from 3 (state) on.
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let field = |n: usize| -> Result<u64, String> {
        fields
            .get(n - 3)
            .ok_or_else(|| format!("field {n} missing"))?
            .parse::<i64>()
            .map(|v| u64::try_from(v).unwrap_or(0))
            .map_err(|e| format!("field {n}: {e}"))
    };
    let ppid = u32::try_from(field(4)?).map_err(|e| format!("ppid: {e}"))?;
    let cpu_ticks = field(14)? + field(15)? + field(16)? + field(17)?;
    Ok(Stat { ppid, cpu_ticks })
}

fn read_stat(pid: u32) -> Result<Stat, ProcError> {
    let path = PathBuf::from(format!("/proc/{pid}/stat"));
    let text = read_to_string(&path, pid)?;
    parse_stat(&text).map_err(|reason| ProcError::Parse { path, reason })
}

/// Resident and proportional set size of one process, in bytes. PSS is `None` where
/// `smaps_rollup` cannot be read (old kernel, or another user's process without privilege).
fn read_memory(pid: u32) -> Result<(u64, Option<u64>), ProcError> {
    let rollup = PathBuf::from(format!("/proc/{pid}/smaps_rollup"));
    if let Ok(text) = std::fs::read_to_string(&rollup) {
        // A zombie (exited, not yet reaped: common in a forking server's tree) or a kernel
        // thread has a readable but empty rollup: it holds no memory, which is a PSS of 0,
        // not an unknown PSS.
        let rss = kb_field(&text, "Rss:").unwrap_or(0);
        let pss = kb_field(&text, "Pss:").unwrap_or(0);
        return Ok((rss, Some(pss)));
    }
    let status = PathBuf::from(format!("/proc/{pid}/status"));
    let text = read_to_string(&status, pid)?;
    match kb_field(&text, "VmRSS:") {
        // No VmRSS: a zombie (its rollup cannot be read once it has exited) or a kernel
        // thread. Either holds no user memory, so its PSS is known: zero.
        None => Ok((0, Some(0))),
        // A live process whose rollup we may not read: its share is unknown.
        Some(rss) => Ok((rss, None)),
    }
}

/// The value of a `Name:   1234 kB` line, in bytes.
fn kb_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// CPU and memory of one process.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcessSample {
    pub rss_bytes: u64,
    pub pss_bytes: Option<u64>,
    /// CPU time of the process and its reaped children, in seconds.
    pub cpu_seconds: f64,
}

/// Reads one process.
pub fn sample_process(pid: u32) -> Result<ProcessSample, ProcError> {
    let stat = read_stat(pid)?;
    let (rss_bytes, pss_bytes) = read_memory(pid)?;
    Ok(ProcessSample {
        rss_bytes,
        pss_bytes,
        cpu_seconds: stat.cpu_ticks as f64 / clock_ticks_per_second() as f64,
    })
}

/// `pid` and all its descendants, `pid` first.
///
/// Children come from `/proc/PID/task/TID/children` (each thread's own children); where the
/// kernel lacks that file, every process's parent is looked up instead.
pub fn process_tree(pid: u32) -> Result<Vec<u32>, ProcError> {
    if !Path::new(&format!("/proc/{pid}")).exists() {
        return Err(ProcError::NoSuchProcess { pid });
    }
    let mut tree = vec![pid];
    let mut next = 0;
    let mut parents: Option<Vec<(u32, u32)>> = None;
    while next < tree.len() {
        let parent = tree[next];
        next += 1;
        let children = match children_from_tasks(parent) {
            Some(children) => children,
            None => {
                let table = parents.get_or_insert_with(all_parents);
                table
                    .iter()
                    .filter(|&&(_, ppid)| ppid == parent)
                    .map(|&(child, _)| child)
                    .collect()
            }
        };
        for child in children {
            // A pid seen twice would mean a cycle only in a racing, reused-pid corner; skip it.
            if !tree.contains(&child) {
                tree.push(child);
            }
        }
    }
    Ok(tree)
}

/// Children of all threads of `pid`, or `None` if the kernel does not provide the files.
fn children_from_tasks(pid: u32) -> Option<Vec<u32>> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut children = Vec::new();
    let mut any_file = false;
    for task in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("children")) else {
            continue;
        };
        any_file = true;
        children.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    // A process that exited between listing and reading has no readable task; that is an
    // empty tree below it, not a missing kernel feature, as long as /proc/PID is gone.
    if any_file || !Path::new(&format!("/proc/{pid}")).exists() {
        Some(children)
    } else {
        None
    }
}

/// (pid, parent pid) of every visible process.
fn all_parents() -> Vec<(u32, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, read_stat(pid).ok()?.ppid)))
        .collect()
}

/// Sums over a process tree.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TreeSample {
    pub at: Instant,
    pub processes: usize,
    pub rss_bytes: u64,
    /// Sum of PSS, or `None` if any process's PSS could not be read (a partial sum would
    /// mislead more than none).
    pub pss_bytes: Option<u64>,
    pub cpu_seconds: f64,
}

/// Samples the tree rooted at `pid`. Processes that exit while being read are left out; the
/// root itself must exist.
pub fn sample_tree(pid: u32) -> Result<TreeSample, ProcError> {
    let at = Instant::now();
    let tree = process_tree(pid)?;
    let mut total = TreeSample {
        at,
        processes: 0,
        rss_bytes: 0,
        pss_bytes: Some(0),
        cpu_seconds: 0.0,
    };
    for member in tree {
        let sample = match sample_process(member) {
            Ok(sample) => sample,
            Err(ProcError::NoSuchProcess { .. }) if member != pid => continue,
            Err(e) => return Err(e),
        };
        total.processes += 1;
        total.rss_bytes += sample.rss_bytes;
        total.pss_bytes = total.pss_bytes.zip(sample.pss_bytes).map(|(a, b)| a + b);
        total.cpu_seconds += sample.cpu_seconds;
    }
    Ok(total)
}

/// CPU seconds this process has used so far, all threads together.
pub fn self_cpu_seconds() -> Result<f64, ProcError> {
    let path = PathBuf::from("/proc/self/stat");
    let text = read_to_string(&path, std::process::id())?;
    let stat = parse_stat(&text).map_err(|reason| ProcError::Parse { path, reason })?;
    Ok(stat.cpu_ticks as f64 / clock_ticks_per_second() as f64)
}

/// Cores this process may run on (affinity and cgroup quota respected).
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Follows a server's process tree through a run: the sample before, the largest memory seen
/// during, and the latest sample (which becomes "after" when the run ends).
#[derive(Clone, Debug)]
pub struct TreeMonitor {
    pub pid: u32,
    pub before: TreeSample,
    pub max_rss_bytes: u64,
    pub max_pss_bytes: Option<u64>,
    pub max_processes: usize,
    pub latest: TreeSample,
}

impl TreeMonitor {
    /// Takes the "before" sample.
    pub fn start(pid: u32) -> Result<Self, ProcError> {
        let before = sample_tree(pid)?;
        Ok(TreeMonitor {
            pid,
            before,
            max_rss_bytes: before.rss_bytes,
            max_pss_bytes: before.pss_bytes,
            max_processes: before.processes,
            latest: before,
        })
    }

    /// Takes a sample and folds it into the maxima; returns it.
    pub fn sample(&mut self) -> Result<TreeSample, ProcError> {
        let sample = sample_tree(self.pid)?;
        self.max_rss_bytes = self.max_rss_bytes.max(sample.rss_bytes);
        self.max_pss_bytes = match (self.max_pss_bytes, sample.pss_bytes) {
            (Some(a), Some(b)) => Some(a.max(b)),
            // Once PSS went unreadable the maximum is no longer known.
            _ => None,
        };
        self.max_processes = self.max_processes.max(sample.processes);
        self.latest = sample;
        Ok(sample)
    }
}

/// Follows this process's own CPU use.
#[derive(Clone, Copy, Debug)]
pub struct SelfCpu {
    start_cpu: f64,
    start: Instant,
    last_cpu: f64,
    last: Instant,
}

impl SelfCpu {
    pub fn start() -> Result<Self, ProcError> {
        let cpu = self_cpu_seconds()?;
        let now = Instant::now();
        Ok(SelfCpu {
            start_cpu: cpu,
            start: now,
            last_cpu: cpu,
            last: now,
        })
    }

    /// Fraction of all available cores used since the previous call (or the start).
    pub fn interval_fraction(&mut self) -> Result<f64, ProcError> {
        let cpu = self_cpu_seconds()?;
        let now = Instant::now();
        let fraction = cpu_fraction(cpu - self.last_cpu, now - self.last);
        self.last_cpu = cpu;
        self.last = now;
        Ok(fraction)
    }

    /// CPU seconds since the start, and the wall time they were used in.
    pub fn total(&self) -> Result<(f64, std::time::Duration), ProcError> {
        Ok((self_cpu_seconds()? - self.start_cpu, self.start.elapsed()))
    }
}

/// `cpu_seconds` used in `wall` time as a fraction of all available cores.
pub fn cpu_fraction(cpu_seconds: f64, wall: std::time::Duration) -> f64 {
    let capacity = wall.as_secs_f64() * available_cores() as f64;
    if capacity > 0.0 {
        cpu_seconds / capacity
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_awkward_command_name() {
        let text = "1234 (a) b (c)) S 77 1234 1234 0 -1 4194560 100 0 0 0 \
                    250 50 7 3 20 0 1 0 100 1000 50 18446744073709551615";
        let stat = parse_stat(text).unwrap();
        assert_eq!(stat.ppid, 77);
        assert_eq!(stat.cpu_ticks, 310);
    }

    #[test]
    fn kb_fields() {
        let text = "Rss:                1024 kB\nPss:                 512 kB\n";
        assert_eq!(kb_field(text, "Rss:"), Some(1024 * 1024));
        assert_eq!(kb_field(text, "Pss:"), Some(512 * 1024));
        assert_eq!(kb_field(text, "Swap:"), None);
    }

    #[test]
    fn clock_ticks_are_sane() {
        let ticks = clock_ticks_per_second();
        assert!((1..=10_000).contains(&ticks), "{ticks}");
    }
}
