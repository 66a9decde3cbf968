//! Live reload under load: postern-load holds 1,000 IMAP sessions (polling for new mail that
//! the run delivers) and logs in continuously over POP3S, while the configuration, the
//! accounts and the certificate are changed and reloaded ten times. Every held session must
//! survive to see every delivery and log out cleanly, no login may fail, and after each
//! reload the new settings must be in force: the new account logs in, new connections show
//! the new configuration, and new TLS handshakes present the new certificate.

mod scenario_support;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postern::config::ListenerKind;
use postern_load::metrics::{Recorder, Snapshot, Step};
use postern_load::scenario::{self, Kind, Protocol, Transport};
use scenario_support::{describe, fill_maildir, run_config};

const HELD: usize = 1000;
const HOLD_USERS: usize = 100;
const STORM_USERS: usize = 10;
const RELOADS: usize = 10;
/// Delivery rounds of the held sessions; with a NOOP a second each round takes over a
/// second, so the sessions are held well past the reloads.
const ROUNDS: u32 = 15;

fn config(generation: usize) -> String {
    format!(
        r#"
[server]
workers = 2
max_connections = 5000
max_connections_per_ip = 5000
preauth_timeout = "60s"
shutdown_grace = "2s"
[tls]
cert = "cert.pem"
key = "key.pem"
[auth]
passwd_file = "users"
failure_delay = "100ms"
max_failure_delay = "1s"
[mail]
location = "~/Maildir"
fsync = false
[pop3]
login_type = "plaintext"
lock_session = false
implementation = "generation-{generation}"
[imap]
login_type = "plaintext"
[[listener]]
kind = "pop3"
address = "127.0.0.1:0"
[[listener]]
kind = "pop3s"
address = "127.0.0.1:0"
[[listener]]
kind = "imap"
address = "127.0.0.1:0"
"#
    )
}

fn account(dir: &Path, user: &str, pass: &str) -> String {
    let home = dir.join("home").join(user);
    fill_maildir(
        &home.join("Maildir"),
        &[format!("From: a@example.org\nSubject: hello {user}\n\nbody\n").into_bytes()],
    );
    format!("{user}:{{PLAIN}}{pass}:::{user}:{}::\n", home.display())
}

/// A new self-signed certificate; returns its DER.
fn new_certificate(dir: &Path) -> Vec<u8> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    cert.cert.der().to_vec()
}

/// The certificate a fresh TLS handshake with `addr` presents.
fn presented_certificate(addr: SocketAddr, expected: &[u8]) -> Vec<u8> {
    // Trusting only the expected certificate: the handshake fails if another is served.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from(expected.to_vec()))
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    let mut greeting = String::new();
    BufReader::new(&mut tls).read_line(&mut greeting).unwrap();
    assert!(greeting.starts_with("+OK"), "{greeting}");
    conn.peer_certificates().unwrap()[0].to_vec()
}

/// A POP3 login over plain TCP; returns the CAPA listing and the PASS reply.
fn pop3_capa_and_login(addr: SocketAddr, user: &str, pass: &str) -> (String, String) {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    w.write_all(b"CAPA\r\n").unwrap();
    let mut capa = String::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line == ".\r\n" || line.is_empty() {
            break;
        }
        capa.push_str(&line);
    }
    w.write_all(format!("USER {user}\r\nPASS {pass}\r\n").as_bytes())
        .unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    let mut pass_reply = String::new();
    r.read_line(&mut pass_reply).unwrap();
    w.write_all(b"QUIT\r\n").unwrap();
    (capa, pass_reply)
}

async fn run(cfg: scenario::RunConfig) -> Snapshot {
    let rec = Recorder::new();
    scenario::run(Arc::new(cfg), rec.clone()).await.unwrap();
    rec.snapshot()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_reloads_under_load_drop_nothing_and_apply_everything() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    new_certificate(&d);
    let hold: Vec<(String, String)> = (0..HOLD_USERS)
        .map(|i| (format!("held{i:03}"), format!("pw{i}")))
        .collect();
    let storm: Vec<(String, String)> = (0..STORM_USERS)
        .map(|i| (format!("storm{i}"), format!("spw{i}")))
        .collect();
    let mut users = String::from("# reload-under-load accounts\n");
    for (u, p) in hold.iter().chain(&storm) {
        users.push_str(&account(&d, u, p));
    }
    fs::write(d.join("users"), &users).unwrap();
    let config_path = d.join("postern.toml");
    fs::write(&config_path, config(0)).unwrap();
    let handle =
        postern::server::start(postern::config::Config::load(&config_path).unwrap()).unwrap();
    handle.set_config_path(&config_path);
    let pop3 = handle.addr(ListenerKind::Pop3).unwrap();
    let pop3s = handle.addr(ListenerKind::Pop3s).unwrap();
    let imap = handle.addr(ListenerKind::Imap).unwrap();

    let as_refs = |v: &[(String, String)]| -> Vec<(String, String)> { v.to_vec() };
    let mut held = run_config(
        Kind::ImapIdle {
            noop_every: Some(Duration::from_secs(1)),
            deliveries: ROUNDS,
        },
        imap.port(),
        &[],
    );
    held.users = as_refs(&hold);
    held.connections = HELD;
    held.sessions = Some(HELD as u64);
    held.duration = Duration::from_secs(240);
    held.timeout = Duration::from_secs(60);
    held.maildir_template = Some(format!("{}/home/%u/Maildir", d.display()));
    let held_run = tokio::spawn(run(held));

    // Wait until every held session is logged in.
    let handle = Arc::new(handle);
    let logged_in = |h: &postern::server::ServerHandle| {
        h.sessions()
            .iter()
            .filter(|s| s.user.as_deref().is_some_and(|u| u.starts_with("held")))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while logged_in(&handle) < HELD {
        assert!(
            Instant::now() < deadline,
            "only {} sessions logged in",
            logged_in(&handle)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut storm_cfg = run_config(Kind::LoginStorm, pop3s.port(), &[]);
    storm_cfg.users = as_refs(&storm);
    storm_cfg.login_protocol = Protocol::Pop3;
    storm_cfg.transport = Transport::Tls;
    storm_cfg.insecure = true;
    storm_cfg.sni = "localhost".into();
    storm_cfg.connections = 4;
    storm_cfg.sessions = None;
    storm_cfg.duration = Duration::from_secs(8);
    let storm_run = tokio::spawn(run(storm_cfg));

    let reloads = {
        let handle = handle.clone();
        let d = d.clone();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            for generation in 1..=RELOADS {
                std::thread::sleep(Duration::from_millis(400));
                let user = format!("added{generation}");
                let mut text = fs::read_to_string(d.join("users")).unwrap();
                text.push_str(&account(&d, &user, "addedpw"));
                fs::write(d.join("users"), text).unwrap();
                fs::write(d.join("postern.toml"), config(generation)).unwrap();
                let der = new_certificate(&d);
                let report = handle.reload().unwrap();
                assert_eq!(report.generation, generation as u64);
                assert_eq!(report.accounts, HOLD_USERS + STORM_USERS + generation);
                // In force at once for new connections and logins.
                let (capa, reply) = pop3_capa_and_login(pop3, &user, "addedpw");
                assert!(
                    capa.contains(&format!("IMPLEMENTATION generation-{generation}")),
                    "{capa}"
                );
                assert!(reply.starts_with("+OK"), "{user}: {reply}");
                assert_eq!(presented_certificate(pop3s, &der), der);
                assert_eq!(
                    logged_in(&handle),
                    HELD,
                    "a held session was dropped by reload {generation}"
                );
            }
            started.elapsed()
        })
    };
    let reload_time = reloads.await.unwrap();
    let storm = storm_run.await.unwrap();
    let held = held_run.await.unwrap();

    let what = format!("held: {}\nstorm: {}", describe(&held), describe(&storm));
    assert!(
        reload_time < Duration::from_secs(8),
        "the reloads outlasted the login storm: {reload_time:?}"
    );
    assert_eq!(held.errors_total(), 0, "{what}");
    assert_eq!(held.sessions, HELD as u64, "{what}");
    assert_eq!(held.count(Step::Login), HELD as u64, "{what}");
    assert_eq!(
        held.count(Step::IdleWakeup),
        HELD as u64 * ROUNDS as u64,
        "{what}"
    );
    assert_eq!(storm.errors_total(), 0, "{what}");
    assert!(storm.sessions > 100, "{what}");
    // Every handshake led to a login, except the few still in flight when the run ended.
    assert!(
        storm.count(Step::Login) + 4 >= storm.count(Step::TlsHandshake),
        "{what}"
    );

    let handle = Arc::try_unwrap(handle).ok().unwrap();
    std::thread::spawn(move || handle.shutdown_with_grace(Duration::from_secs(2)))
        .join()
        .unwrap();
}
