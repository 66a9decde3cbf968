//! Process sampling on real processes: this test process and a child it starts.

use postern_load::procstat::{
    SelfCpu, TreeMonitor, process_tree, sample_process, sample_tree, self_cpu_seconds,
};
use std::process::{Command, Stdio};

#[test]
fn this_process_has_memory_and_cpu() {
    let me = std::process::id();
    let sample = sample_process(me).unwrap();
    assert!(sample.rss_bytes > 0);
    if let Some(pss) = sample.pss_bytes {
        assert!(pss > 0 && pss <= sample.rss_bytes * 2);
    }
    // Burn a little CPU so the counter has something to show.
    let mut x = 0u64;
    for i in 0..20_000_000u64 {
        x = x.wrapping_mul(31).wrapping_add(i);
    }
    std::hint::black_box(x);
    assert!(self_cpu_seconds().unwrap() > 0.0);
    let tree = sample_tree(me).unwrap();
    assert!(tree.processes >= 1);
    assert!(tree.rss_bytes >= sample.rss_bytes / 2);
}

#[test]
fn tree_includes_children() {
    let mut child = Command::new("sleep")
        .arg("30")
        .stdin(Stdio::null())
        .spawn()
        .expect("sleep(1) is available");
    let me = std::process::id();
    // The kernel lists the child as soon as fork returned.
    let tree = process_tree(me).unwrap();
    let found = tree.contains(&child.id());
    let mut monitor = TreeMonitor::start(me).unwrap();
    let sampled = monitor.sample().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(tree[0], me);
    assert!(found, "child {} not in {tree:?}", child.id());
    assert!(sampled.processes >= 2);
    assert!(monitor.max_processes >= 2);
    assert!(monitor.max_rss_bytes >= monitor.before.rss_bytes.min(sampled.rss_bytes));
}

#[test]
fn missing_process_is_a_clear_error() {
    // Above the kernel's pid_max ceiling (4 194 304), so it can never exist.
    let err = sample_tree(4_999_999).unwrap_err().to_string();
    assert!(err.contains("4999999"), "{err}");
}

#[test]
fn self_cpu_fraction_is_bounded() {
    let mut cpu = SelfCpu::start().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let fraction = cpu.interval_fraction().unwrap();
    assert!((0.0..=1.5).contains(&fraction), "{fraction}");
    let (used, wall) = cpu.total().unwrap();
    assert!(used >= 0.0 && wall.as_millis() >= 50);
}
