//! The recorder under the load it is built for: many tasks on a multi-threaded runtime
//! recording at once must lose nothing, and snapshots taken meanwhile must stay consistent.

use postern_load::metrics::{Recorder, Step};
use std::time::Duration;

#[test]
fn ten_thousand_tasks_on_a_multi_threaded_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let rec = Recorder::new();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..10_000u64 {
            let rec = rec.clone();
            tasks.push(tokio::spawn(async move {
                rec.record(Step::Connect, Duration::from_micros(100 + i % 50));
                tokio::task::yield_now().await;
                rec.record(Step::Login, Duration::from_micros(1000 + i % 500));
                rec.bytes(1000);
                if i % 100 == 0 {
                    rec.error("timeout");
                } else {
                    rec.session_done();
                }
            }));
        }
        // A snapshot in the middle of the storm must not disturb it.
        let partial = rec.snapshot();
        assert!(partial.count(Step::Connect) <= 10_000);
        for task in tasks {
            task.await.unwrap();
        }
    });
    let snap = rec.snapshot();
    assert_eq!(snap.count(Step::Connect), 10_000);
    assert_eq!(snap.count(Step::Login), 10_000);
    assert_eq!(snap.operations(), 20_000);
    assert_eq!(snap.bytes, 10_000_000);
    assert_eq!(snap.sessions, 9_900);
    assert_eq!(snap.error_count("timeout"), 100);
    assert_eq!(snap.errors_total(), 100);
    let login = snap.histogram(Step::Login).unwrap();
    assert_eq!(login.min(), 1000);
    assert_eq!(login.max(), 1499);
    assert_eq!(
        snap.recorded_steps().collect::<Vec<_>>(),
        vec![Step::Connect, Step::Login]
    );
}

#[test]
fn step_names_are_the_documented_ones() {
    let names: Vec<&str> = Step::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        [
            "connect",
            "tls",
            "login",
            "select",
            "fetch",
            "retr",
            "noop",
            "idle-wakeup",
            "logout",
            "session"
        ]
    );
}

#[test]
fn recorder_is_send_sync_and_cheap_to_clone() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<Recorder>();
    let a = Recorder::new();
    let b = a.clone();
    b.record(Step::Noop, Duration::from_micros(5));
    assert_eq!(a.snapshot().count(Step::Noop), 1);
}
