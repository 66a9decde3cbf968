//! Verification catches wrong answers: a POP3 server that sends one wrong byte is caught as
//! `verify-bytes`, one whose LIST sizes lie as `verify-size`, duplicate UIDLs as
//! `verify-uid`, and none of those sessions counts as done. The server is a tiny fake on
//! 127.0.0.1 serving a Maildir the test writes, so the lie is exactly the one planted.

mod scenario_support;

use std::sync::Arc;

use postern_load::metrics::{Recorder, Snapshot, Step};
use postern_load::scenario::{self, Kind};
use postern_load::verify::crlf;
use scenario_support::{
    FakePop3, describe, edge_messages, fill_maildir, run_config, write_uidlist,
};

const UIDVALIDITY: u32 = 0x6b09_d1c3;

/// Runs two pop3-download sessions (verifying every message) against `fake`, serving the
/// Maildir that holds `stored`.
async fn run_against(fake: FakePop3, stored: &[Vec<u8>]) -> Snapshot {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("alice").join("Maildir");
    let files = fill_maildir(&maildir, stored);
    write_uidlist(&maildir, UIDVALIDITY, &files);
    let port = fake.spawn().await;
    let mut cfg = run_config(
        Kind::Pop3Download { delete: false },
        port,
        &[("alice", "pw")],
    );
    cfg.connections = 1;
    cfg.sessions = Some(2);
    cfg.maildir_template = Some(format!("{}/%u/Maildir", dir.path().display()));
    cfg.verify_sample = 1.0;
    let rec = Recorder::new();
    scenario::run(Arc::new(cfg), rec.clone()).await.unwrap();
    rec.snapshot()
}

fn fake(messages: Vec<Vec<u8>>) -> FakePop3 {
    FakePop3 {
        messages,
        uid_validity: UIDVALIDITY,
        ..FakePop3::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_server_passes() {
    let stored = edge_messages();
    let snap = run_against(fake(stored.iter().map(|m| crlf(m)).collect()), &stored).await;
    assert_eq!(snap.sessions, 2, "{}", describe(&snap));
    assert_eq!(snap.errors_total(), 0, "{}", describe(&snap));
    assert_eq!(
        snap.count(Step::Retr),
        2 * stored.len() as u64,
        "{}",
        describe(&snap)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_flipped_byte_is_caught() {
    let stored = edge_messages();
    let mut served: Vec<Vec<u8>> = stored.iter().map(|m| crlf(m)).collect();
    // One bit of one letter of one message: same size, same line structure.
    let big = served.len() - 1;
    let at = served[big].len() / 2;
    let at = at
        + served[big][at..]
            .iter()
            .position(u8::is_ascii_alphabetic)
            .unwrap();
    served[big][at] ^= 0x20;
    let snap = run_against(fake(served), &stored).await;
    assert_eq!(snap.error_count("verify-bytes"), 2, "{}", describe(&snap));
    assert_eq!(snap.errors_total(), 2, "{}", describe(&snap));
    assert_eq!(
        snap.sessions, 0,
        "a session with a wrong message is not done"
    );
    // The wrong message's RETR is not a latency data point; the others are.
    assert_eq!(snap.count(Step::Retr), 2 * (stored.len() as u64 - 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_size_is_caught() {
    let stored = edge_messages();
    let served: Vec<Vec<u8>> = stored.iter().map(|m| crlf(m)).collect();
    let mut listed: Vec<u64> = served.iter().map(|m| m.len() as u64).collect();
    listed[0] += 7;
    let snap = run_against(
        FakePop3 {
            listed: Some(listed),
            ..fake(served)
        },
        &stored,
    )
    .await;
    assert_eq!(snap.error_count("verify-size"), 2, "{}", describe(&snap));
    assert_eq!(snap.error_count("verify-bytes"), 0, "{}", describe(&snap));
    assert_eq!(snap.sessions, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_uidls_are_caught() {
    let stored = edge_messages();
    let served: Vec<Vec<u8>> = stored.iter().map(|m| crlf(m)).collect();
    let uidls = (0..served.len())
        .map(|i| format!("id{}", i.min(1)))
        .collect();
    let snap = run_against(
        FakePop3 {
            uidls: Some(uidls),
            ..fake(served)
        },
        &stored,
    )
    .await;
    assert_eq!(snap.error_count("verify-uid"), 2, "{}", describe(&snap));
    assert_eq!(snap.sessions, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_store_lacks_is_caught() {
    let stored = edge_messages();
    let mut served: Vec<Vec<u8>> = stored.iter().map(|m| crlf(m)).collect();
    // The server invents a message; its UIDL names a UID the Maildir never had.
    served.push(b"Subject: invented\r\n\r\nnot in the store\r\n".to_vec());
    let snap = run_against(fake(served), &stored).await;
    assert_eq!(snap.error_count("verify-bytes"), 2, "{}", describe(&snap));
}
