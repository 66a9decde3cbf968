//! The scenarios against a real Dovecot 2.3 (started unprivileged on ephemeral ports over a
//! Maildir this test writes): `imap-sync` with every downloaded body compared to its file,
//! over plaintext, STARTTLS and implicit TLS; `pop3-download` (Dovecot's UIDLs locate the
//! files); `imap-idle` in IDLE and NOOP modes, where the run delivers mail itself and every
//! session must be told; and a `mixed` population. A correct server must give zero errors.
//! Every run has a session cap and a time cap, so a misbehaving server fails the test in
//! bounded time instead of hanging it.

mod scenario_support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use postern_load::metrics::{Recorder, Snapshot, Step};
use postern_load::scenario::{self, Kind, Protocol, RunConfig, Transport};
use scenario_support::{Dovecot, corpus, describe, edge_messages, fill_maildir, run_config};

const USER: (&str, &str) = ("carol", "s3cret");

fn mail() -> Vec<Vec<u8>> {
    let mut m = edge_messages();
    m.extend(corpus(30));
    m
}

async fn run(cfg: RunConfig) -> Snapshot {
    let rec = Recorder::new();
    scenario::run(Arc::new(cfg), rec.clone()).await.unwrap();
    rec.snapshot()
}

fn with_maildir(mut cfg: RunConfig, maildir: &Path) -> RunConfig {
    cfg.maildir_template = Some(maildir.display().to_string());
    cfg.verify_sample = 1.0;
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_sync_over_every_transport() {
    let tmp = tempfile::tempdir().unwrap();
    let maildir = tmp.path().join("Maildir");
    let mail = mail();
    fill_maildir(&maildir, &mail);
    let dovecot = Dovecot::start_with(&maildir, &[USER], &["imap"], true);
    for (transport, port) in [
        (Transport::Plain, dovecot.port("imap")),
        (Transport::StartTls, dovecot.port("imap")),
        (Transport::Tls, dovecot.port("imaps")),
    ] {
        let mut cfg = with_maildir(
            run_config(Kind::ImapSync { newest: 12 }, port, &[USER]),
            &maildir,
        );
        cfg.transport = transport;
        cfg.cafile = Some(dovecot.cert());
        cfg.sni = "localhost".into();
        let snap = run(cfg).await;
        let what = format!("{transport:?}: {}\n{}", describe(&snap), dovecot.log());
        assert_eq!(snap.errors_total(), 0, "{what}");
        assert_eq!(snap.sessions, 4, "{what}");
        // One listing and twelve bodies per session.
        assert_eq!(snap.count(Step::Fetch), 4 * 13, "{what}");
        assert_eq!(snap.count(Step::Select), 4, "{what}");
        let tls = if transport == Transport::Plain { 0 } else { 4 };
        assert_eq!(snap.count(Step::TlsHandshake), tls, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_download_from_dovecot() {
    let tmp = tempfile::tempdir().unwrap();
    let maildir = tmp.path().join("Maildir");
    let mail = mail();
    fill_maildir(&maildir, &mail);
    let dovecot = Dovecot::start(&maildir, &[USER], &["pop3"]);
    let cfg = with_maildir(
        run_config(
            Kind::Pop3Download { delete: false },
            dovecot.port("pop3"),
            &[USER],
        ),
        &maildir,
    );
    let snap = run(cfg).await;
    let what = format!("{}\n{}", describe(&snap), dovecot.log());
    assert_eq!(snap.errors_total(), 0, "{what}");
    assert_eq!(snap.sessions, 4, "{what}");
    assert_eq!(snap.count(Step::Retr), 4 * mail.len() as u64, "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_idle_sessions_are_woken_by_deliveries() {
    let tmp = tempfile::tempdir().unwrap();
    let maildir = tmp.path().join("Maildir");
    fill_maildir(&maildir, &edge_messages()[..2]);
    let dovecot = Dovecot::start(&maildir, &[USER], &["imap"]);
    for (noop_every, sessions) in [(None, 6u64), (Some(Duration::from_millis(200)), 3)] {
        let kind = Kind::ImapIdle {
            noop_every,
            deliveries: 2,
        };
        let mut cfg = with_maildir(run_config(kind, dovecot.port("imap"), &[USER]), &maildir);
        cfg.connections = sessions as usize;
        cfg.sessions = None;
        let snap = run(cfg).await;
        let what = format!("{noop_every:?}: {}\n{}", describe(&snap), dovecot.log());
        assert_eq!(snap.errors_total(), 0, "{what}");
        assert_eq!(snap.sessions, sessions, "{what}");
        assert_eq!(snap.count(Step::IdleWakeup), 2 * sessions, "{what}");
        if noop_every.is_some() {
            assert!(snap.count(Step::Noop) >= 2 * sessions, "{what}");
        }
        let wakeup = snap.histogram(Step::IdleWakeup).unwrap();
        assert!(wakeup.max() < 10_000_000, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_login_storm_and_a_mixed_population() {
    let tmp = tempfile::tempdir().unwrap();
    let maildir = tmp.path().join("Maildir");
    fill_maildir(&maildir, &mail());
    let dovecot = Dovecot::start(&maildir, &[USER], &["pop3", "imap"]);

    let mut storm = run_config(Kind::LoginStorm, dovecot.port("imap"), &[USER]);
    storm.login_protocol = Protocol::Imap;
    storm.connections = 4;
    storm.sessions = Some(40);
    let snap = run(storm).await;
    assert_eq!(
        snap.errors_total(),
        0,
        "{}\n{}",
        describe(&snap),
        dovecot.log()
    );
    assert_eq!(snap.sessions, 40);

    let mix = Kind::Mixed(vec![
        (Kind::Pop3Download { delete: false }, 2),
        (Kind::ImapSync { newest: 3 }, 2),
        (
            Kind::ImapIdle {
                noop_every: None,
                deliveries: 1,
            },
            1,
        ),
        (Kind::LoginStorm, 1),
    ]);
    let mut cfg = with_maildir(run_config(mix, 0, &[USER]), &maildir);
    cfg.pop3_port = dovecot.port("pop3");
    cfg.imap_port = dovecot.port("imap");
    cfg.login_protocol = Protocol::Imap;
    cfg.connections = 4;
    cfg.sessions = Some(24);
    let snap = run(cfg).await;
    let what = format!("{}\n{}", describe(&snap), dovecot.log());
    assert_eq!(snap.errors_total(), 0, "{what}");
    assert_eq!(snap.sessions, 24, "{what}");
}
