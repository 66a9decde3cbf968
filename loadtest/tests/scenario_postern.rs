//! End to end against the real Postern server, started in-process on ephemeral ports over a
//! Maildir this test writes: `pop3-download` over plaintext, STLS and implicit TLS (checking
//! the certificate against its CA file) with every message compared byte for byte, over a
//! shaped link, with deletion, and a POP3 `login-storm`. A correct server must give zero
//! errors, and the counts must add up.

mod scenario_support;

use std::sync::Arc;
use std::time::Duration;

use postern_load::metrics::{Recorder, Snapshot, Step};
use postern_load::scenario::{self, Kind, LinkProfile, RunConfig, Transport};
use scenario_support::{Postern, corpus, describe, edge_messages, fill_maildir, run_config};

const USERS: [(&str, &str); 2] = [("alice", "secret"), ("bob@example.org", "hunter2")];

fn mail() -> Vec<Vec<u8>> {
    let mut m = edge_messages();
    m.extend(corpus(40));
    m
}

async fn run(cfg: RunConfig) -> Snapshot {
    let rec = Recorder::new();
    scenario::run(Arc::new(cfg), rec.clone()).await.unwrap();
    rec.snapshot()
}

fn download(server: &Postern, transport: Transport) -> RunConfig {
    let port = match transport {
        Transport::Tls => server.pop3s.port(),
        _ => server.pop3.port(),
    };
    let mut cfg = run_config(Kind::Pop3Download { delete: false }, port, &USERS);
    cfg.transport = transport;
    cfg.sni = "localhost".into();
    cfg.cafile = Some(server.cert.clone());
    cfg.maildir_template = Some(server.template());
    cfg.verify_sample = 1.0;
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_download_over_every_transport() {
    let server = Postern::start(&USERS);
    let mail = mail();
    for (user, _) in USERS {
        fill_maildir(&server.maildir(user), &mail);
    }
    for transport in [Transport::Plain, Transport::StartTls, Transport::Tls] {
        let snap = run(download(&server, transport)).await;
        let what = format!("{transport:?}: {}", describe(&snap));
        assert_eq!(snap.errors_total(), 0, "{what}");
        assert_eq!(snap.sessions, 4, "{what}");
        assert_eq!(snap.count(Step::Retr), 4 * mail.len() as u64, "{what}");
        assert_eq!(snap.count(Step::Login), 4, "{what}");
        let tls = if transport == Transport::Plain { 0 } else { 4 };
        assert_eq!(snap.count(Step::TlsHandshake), tls, "{what}");
        let expected: u64 = mail
            .iter()
            .map(|m| postern_load::verify::crlf(m).len() as u64)
            .sum();
        // Messages without a final line end get one on the wire.
        let slack = 2 * mail.len() as u64;
        assert!(
            snap.bytes >= 4 * expected && snap.bytes <= 4 * (expected + slack),
            "{what}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_download_over_a_shaped_tls_link() {
    let server = Postern::start(&USERS);
    fill_maildir(&server.maildir("alice"), &edge_messages());
    let mut cfg = download(&server, Transport::Tls);
    cfg.users.truncate(1);
    cfg.link = LinkProfile::parse("20mbit,40ms").unwrap();
    cfg.connections = 2;
    cfg.sessions = Some(2);
    let snap = run(cfg).await;
    assert_eq!(snap.errors_total(), 0, "{}", describe(&snap));
    assert_eq!(snap.sessions, 2, "{}", describe(&snap));
    // Every command waits at least one round trip of 40 ms.
    let retr = snap.histogram(Step::Retr).unwrap();
    assert!(
        retr.min() >= 35_000,
        "RETR faster than the link allows: {} µs",
        retr.min()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_download_with_delete_empties_the_maildrop() {
    let server = Postern::start(&USERS);
    let mail = edge_messages();
    fill_maildir(&server.maildir("alice"), &mail);
    let mut cfg = download(&server, Transport::Plain);
    cfg.kind = Kind::Pop3Download { delete: true };
    cfg.users.truncate(1);
    cfg.connections = 1;
    cfg.sessions = Some(2);
    let snap = run(cfg).await;
    assert_eq!(snap.errors_total(), 0, "{}", describe(&snap));
    assert_eq!(snap.sessions, 2);
    // The first session took everything; the second found nothing.
    assert_eq!(
        snap.count(Step::Retr),
        mail.len() as u64,
        "{}",
        describe(&snap)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_login_storm_until_the_session_cap() {
    let server = Postern::start(&USERS);
    let mut cfg = run_config(Kind::LoginStorm, server.pop3s.port(), &USERS);
    cfg.transport = Transport::Tls;
    cfg.insecure = true;
    cfg.connections = 8;
    cfg.sessions = Some(60);
    let snap = run(cfg).await;
    assert_eq!(snap.errors_total(), 0, "{}", describe(&snap));
    assert_eq!(snap.sessions, 60);
    assert_eq!(snap.count(Step::Login), 60);
    assert_eq!(snap.count(Step::Logout), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_login_errors_and_runs_end_on_time() {
    let server = Postern::start(&USERS);
    let mut cfg = run_config(Kind::LoginStorm, server.pop3.port(), &[("alice", "wrong")]);
    cfg.sessions = None;
    cfg.duration = Duration::from_secs(2);
    let started = std::time::Instant::now();
    let snap = run(cfg).await;
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "run overran its duration"
    );
    assert!(snap.error_count("login") >= 1, "{}", describe(&snap));
    assert_eq!(snap.sessions, 0);
    assert_eq!(
        snap.errors_total(),
        snap.error_count("login"),
        "{}",
        describe(&snap)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_addresses_spread_over_loopback() {
    let server = Postern::start(&USERS);
    let mut cfg = run_config(Kind::LoginStorm, server.pop3.port(), &USERS);
    cfg.source_ips = postern_load::net::connect::loopback_sources(4);
    cfg.connections = 4;
    cfg.sessions = Some(12);
    let snap = run(cfg).await;
    assert_eq!(snap.errors_total(), 0, "{}", describe(&snap));
    assert_eq!(snap.sessions, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_a_connect_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = run_config(Kind::Pop3Download { delete: false }, port, &USERS);
    cfg.sessions = Some(3);
    cfg.connections = 1;
    let snap = run(cfg).await;
    assert_eq!(snap.error_count("connect"), 3, "{}", describe(&snap));
}

/// Postern admits 50 connections per client address by default. 160 concurrent sessions
/// from one address therefore fail in part, and spread over four loopback addresses they
/// all succeed: what `--source-ips` is for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_sessions_need_spread_source_addresses() {
    let server = Postern::start(&USERS);
    let storm = |k: u8| {
        let mut cfg = run_config(Kind::LoginStorm, server.pop3.port(), &USERS);
        // The delay keeps every session open long enough for all of them to overlap.
        cfg.link = LinkProfile::parse("unlimited,100ms").unwrap();
        cfg.source_ips = postern_load::net::connect::loopback_sources(k);
        cfg.connections = 160;
        cfg.sessions = Some(320);
        cfg
    };
    let snap = run(storm(4)).await;
    assert_eq!(snap.errors_total(), 0, "{}", describe(&snap));
    assert_eq!(snap.sessions, 320, "{}", describe(&snap));
    let snap = run(storm(1)).await;
    assert!(snap.errors_total() > 0, "{}", describe(&snap));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_name_is_a_tls_error() {
    let server = Postern::start(&USERS);
    let mut cfg = download(&server, Transport::Tls);
    cfg.sni = "mail.example.net".into();
    cfg.sessions = Some(2);
    let snap = run(cfg).await;
    assert_eq!(snap.error_count("tls"), 2, "{}", describe(&snap));
    assert_eq!(snap.sessions, 0);
}

/// The client's other commands (CAPA, STLS, AUTH PLAIN, DELE, NOOP) against the real server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_client_commands_against_postern() {
    use postern_load::net::tls;
    use postern_load::proto::Wire;
    use postern_load::proto::pop3::Pop3;

    let server = Postern::start(&USERS);
    fill_maildir(&server.maildir("alice"), &edge_messages()[..2]);
    let tcp = tokio::net::TcpStream::connect(server.pop3).await.unwrap();
    let wire = Wire::new(Box::new(tcp), Duration::from_secs(10));
    let mut pop = Pop3::greet(wire).await.unwrap();
    let caps = pop.capa().await.unwrap();
    assert!(caps.iter().any(|c| c == "STLS"), "{caps:?}");
    let connector = tls::connector(false, Some(&server.cert)).unwrap();
    pop.stls(&connector, tls::server_name("localhost").unwrap())
        .await
        .unwrap();
    let caps = pop.capa().await.unwrap();
    assert!(
        caps.iter()
            .any(|c| c.starts_with("SASL") && c.contains("PLAIN")),
        "{caps:?}"
    );
    pop.auth_plain("alice", "secret").await.unwrap();
    assert_eq!(pop.stat().await.unwrap().0, 2);
    pop.noop().await.unwrap();
    pop.dele(1).await.unwrap();
    assert_eq!(
        pop.stat().await.unwrap().0,
        1,
        "a deleted message is not listed"
    );
    pop.rset().await.unwrap();
    assert_eq!(pop.stat().await.unwrap().0, 2);
    pop.quit().await.unwrap();
}
