//! The `postern` binary as an operator runs it: `check-config` on good and broken setups,
//! `serve` with graceful shutdown on SIGTERM and SIGINT, `demo --no-serve`, and the
//! administration commands (`who`, `kick`, `reload`, SIGHUP) with systemd's notifications.

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Raw, temp_dir};

const BIN: &str = env!("CARGO_BIN_EXE_postern");

/// Runs `postern ARGS` to completion (bounded by a watchdog) and returns its output.
fn run(args: &[&str]) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .env("POSTERN_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start postern");
    let pid = child.id();
    let (done_tx, done_rx) = channel::<()>();
    // A hung command would hang the test run: kill it after a minute.
    let watchdog = std::thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = done_rx.recv_timeout(Duration::from_secs(60)) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    });
    let out = child.wait_with_output().expect("waiting for postern");
    let _ = done_tx.send(());
    watchdog.join().unwrap();
    out
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `check-config FILE` must fail, and its error output must contain every one of `needles`.
fn check_fails(config: &Path, needles: &[&str]) {
    let out = run(&["check-config", config.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "check-config accepted a broken setup:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        !stdout.contains("OK"),
        "check-config printed OK for a broken setup: {stdout}"
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "the error does not name {needle:?}:\n{stderr}"
        );
    }
}

fn check_passes(config: &Path) {
    let out = run(&["check-config", config.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "check-config rejected a valid setup:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("OK"), "no OK in {stdout:?}");
}

/// A valid setup in `dir`: certificate, passwd-file with homes, and `postern.toml` made of
/// `server` (extra `[server]` lines), `tls` (the whole `[tls]` table, may be empty) and
/// pop3s/pop3 listeners on ephemeral loopback ports.
struct Setup {
    dir: PathBuf,
    config: PathBuf,
}

impl Setup {
    fn new(name: &str, server: &str, users: &[(&str, &str)]) -> Setup {
        let dir = temp_dir(name);
        let opts = support::Options {
            accounts: users
                .iter()
                .map(|(u, p)| (u.to_string(), format!("{{PLAIN}}{p}"), String::new()))
                .collect(),
            extra_server: server.to_owned(),
            ..support::Options::default()
        };
        let config = support::write_setup(&dir, &opts);
        Setup { dir, config }
    }

    fn config_text(&self) -> String {
        fs::read_to_string(&self.config).unwrap()
    }

    /// Writes a variant of the config next to the original and returns its path.
    fn variant(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        fs::write(&path, text).unwrap();
        path
    }

    /// Puts one message into `user`'s Maildir `new/`; returns the Maildir.
    fn deliver(&self, user: &str, message: &[u8]) -> PathBuf {
        let md = self.dir.join("home").join(user).join("Maildir");
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(md.join(sub)).unwrap();
        }
        fs::write(md.join("new").join("1700000000.M1P1.test"), message).unwrap();
        md
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Message files in a Maildir's `new/` and `cur/`.
fn message_files(maildir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        for e in fs::read_dir(maildir.join(sub)).unwrap() {
            out.push(e.unwrap().path());
        }
    }
    out
}

#[test]
fn check_config_accepts_a_valid_setup_and_names_every_problem() {
    let setup = Setup::new("cli-check", "", &[("alice", "secret"), ("bob", "hunter2")]);
    check_passes(&setup.config);
    let original = setup.config_text();

    // An unknown key.
    let text = original.replace("[pop3]\n", "[pop3]\nlogin_typ = \"secure\"\n");
    assert_ne!(text, original);
    check_fails(&setup.variant("unknown-key.toml", &text), &["login_typ"]);

    // A bad value.
    let text = original.replace("preauth_timeout = \"30s\"", "preauth_timeout = \"soon\"");
    assert_ne!(text, original);
    check_fails(
        &setup.variant("bad-value.toml", &text),
        &["server.preauth_timeout"],
    );

    // A certificate file that does not exist.
    let text = original.replace("cert = \"cert.pem\"", "cert = \"missing-cert.pem\"");
    assert_ne!(text, original);
    let missing = setup.dir.join("missing-cert.pem");
    check_fails(
        &setup.variant("missing-cert.toml", &text),
        &[missing.to_str().unwrap()],
    );

    // A certificate file that is not PEM at all.
    let garbage = setup.dir.join("garbage.pem");
    fs::write(&garbage, b"this is not a certificate\n\x00\x01\x02\xff\n").unwrap();
    let text = original.replace("cert = \"cert.pem\"", "cert = \"garbage.pem\"");
    check_fails(
        &setup.variant("garbage-cert.toml", &text),
        &[garbage.to_str().unwrap()],
    );

    // A certificate file with PEM armour around something that is not base64.
    let broken = setup.dir.join("broken.pem");
    fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\n!!!! not base64 !!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let text = original.replace("cert = \"cert.pem\"", "cert = \"broken.pem\"");
    check_fails(
        &setup.variant("broken-cert.toml", &text),
        &[broken.to_str().unwrap()],
    );

    // A passwd-file with an unknown scheme on its third line.
    let bad_users = setup.dir.join("bad-users");
    fs::write(
        &bad_users,
        "# accounts\nalice:{PLAIN}secret\ncarol:{FOO}x\n",
    )
    .unwrap();
    let text = original.replace("passwd_file = \"users\"", "passwd_file = \"bad-users\"");
    assert_ne!(text, original);
    let line = format!("{}:3", bad_users.display());
    check_fails(&setup.variant("bad-users.toml", &text), &[&line, "FOO"]);

    // And a config file that does not exist at all.
    check_fails(&setup.dir.join("nowhere.toml"), &["nowhere.toml"]);
}

/// A `postern serve` child process, killed when dropped so a failing test leaves nothing
/// behind.
struct Server {
    child: std::process::Child,
    stdout: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    pop3: SocketAddr,
}

impl Server {
    fn start(config: &Path) -> Server {
        Server::start_with(config, &[])
    }

    fn start_with(config: &Path, env: &[(&str, &Path)]) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--config", config.to_str().unwrap()])
            .envs(env.iter().copied())
            .env("POSTERN_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start postern serve");
        let (tx, stdout) = channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut server = Server {
            child,
            stdout,
            stderr,
            pop3: "0.0.0.0:0".parse().unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match server.stdout.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("postern: pop3 listening on ") {
                        server.pop3 = addr.trim().parse().unwrap();
                        break;
                    }
                }
                Err(_) => panic!(
                    "postern serve printed no pop3 address; stderr:\n{}",
                    server.stderr()
                ),
            }
        }
        assert!(server.pop3.ip().is_loopback(), "{}", server.pop3);
        assert_ne!(server.pop3.port(), 0);
        server
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([name, &self.child.id().to_string()])
            .status()
            .expect("kill(1) must be installed");
        assert!(status.success(), "kill {name} failed");
    }

    /// Waits for the process to exit, at most until `deadline`.
    fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn login(raw: &mut Raw, user: &str, pass: &str) {
    let greeting = raw.line();
    assert!(greeting.starts_with("+OK"), "{greeting:?}");
    let r = raw.cmd(&format!("USER {user}"));
    assert!(r.starts_with("+OK"), "{r:?}");
    let r = raw.cmd(&format!("PASS {pass}"));
    assert!(r.starts_with("+OK"), "{r:?}");
}

/// Does a new connection fail to get a POP3 greeting? (Refused, reset, or closed at once.)
/// `None` if it could not tell (connected but neither a greeting nor a close within 1 s).
fn turned_away(addr: SocketAddr) -> Option<bool> {
    let stream = match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
        Ok(s) => s,
        Err(_) => return Some(true),
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) => Some(true),
        Ok(_) if line.starts_with("+OK") => Some(false),
        Ok(_) => Some(true),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(_) => Some(true),
    }
}

const SHUTTING_DOWN: &str = "-ERR [SYS/TEMP] Server shutting down.\r\n";

/// An idle session must get the shutdown line after the grace period, then be closed.
fn expect_shutdown_line(raw: &mut Raw, signalled: Instant, grace: Duration) {
    raw.writer
        .set_read_timeout(Some(grace + Duration::from_secs(5)))
        .unwrap();
    let line = raw.line();
    let waited = signalled.elapsed();
    assert_eq!(line, SHUTTING_DOWN, "after {waited:?}");
    // The grace deadline starts when the server gets the signal, after it was sent.
    assert!(
        waited + Duration::from_millis(200) >= grace,
        "the idle session was closed after {waited:?}, before the {grace:?} grace period"
    );
    let rest = raw.rest();
    assert!(
        rest.is_empty(),
        "bytes after the shutdown line: {:?}",
        String::from_utf8_lossy(&rest)
    );
}

#[test]
fn sigterm_drains_sessions_then_closes_the_rest() {
    let grace = Duration::from_secs(3);
    let setup = Setup::new(
        "cli-sigterm",
        "",
        &[("alice", "secret"), ("bob", "hunter2")],
    );
    let text = setup
        .config_text()
        .replace("shutdown_grace = \"2s\"", "shutdown_grace = \"3s\"");
    assert!(text.contains("shutdown_grace = \"3s\""));
    fs::write(&setup.config, text).unwrap();
    setup.deliver("alice", b"Subject: a\n\nfor alice\n");
    let message = b"Subject: b\n\nfor bob\n";
    let bob_md = setup.deliver("bob", message);
    let mut server = Server::start(&setup.config);

    // A: logged in and idle. B: logged in and working.
    let mut a = Raw::connect(server.pop3);
    login(&mut a, "alice", "secret");
    let mut b = Raw::connect(server.pop3);
    login(&mut b, "bob", "hunter2");
    let stat = format!("+OK 1 {}\r\n", support::crlf(message).len());
    assert_eq!(b.cmd("STAT"), stat);

    let signalled = Instant::now();
    server.signal("-TERM");

    // New connections are turned away soon.
    let mut refused_after = None;
    while signalled.elapsed() < Duration::from_millis(1500) {
        if turned_away(server.pop3) == Some(true) {
            refused_after = Some(signalled.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let refused_after = refused_after.unwrap_or_else(|| {
        panic!(
            "new connections were still greeted 1.5 s after SIGTERM; stderr:\n{}",
            server.stderr()
        )
    });
    // And stay turned away.
    assert_eq!(turned_away(server.pop3), Some(true));

    // B finishes its work inside the grace period; its deletion is committed.
    assert_eq!(b.cmd("STAT"), stat);
    let r = b.cmd("RETR 1");
    assert!(r.starts_with("+OK"), "{r:?}");
    assert_eq!(b.multiline(), b"Subject: b\r\n\r\nfor bob\r\n");
    let r = b.cmd("DELE 1");
    assert!(r.starts_with("+OK"), "{r:?}");
    let quit_at = signalled.elapsed();
    assert!(
        quit_at < grace - Duration::from_millis(300),
        "too slow to QUIT inside the grace period ({quit_at:?}; refused after {refused_after:?})"
    );
    let r = b.cmd("QUIT");
    assert!(r.starts_with("+OK"), "{r:?}");
    assert!(b.rest().is_empty());
    assert!(
        message_files(&bob_md).is_empty(),
        "DELE + QUIT during the grace period did not remove the message: {:?}",
        message_files(&bob_md)
    );

    // A, idle, is told and closed once the grace period is over.
    expect_shutdown_line(&mut a, signalled, grace);

    let status = server
        .wait_until(signalled + grace + Duration::from_secs(5))
        .unwrap_or_else(|| {
            panic!(
                "postern still running {:?} after SIGTERM; stderr:\n{}",
                grace + Duration::from_secs(5),
                server.stderr()
            )
        });
    assert!(
        status.success(),
        "exit status {status:?}; stderr:\n{}",
        server.stderr()
    );
    // Alice's message is untouched: her session never QUIT.
    let alice_md = setup.dir.join("home/alice/Maildir");
    assert_eq!(message_files(&alice_md).len(), 1);
}

#[test]
fn sigint_shuts_down_gracefully_too() {
    let grace = Duration::from_secs(1);
    let setup = Setup::new("cli-sigint", "", &[("alice", "secret")]);
    let text = setup
        .config_text()
        .replace("shutdown_grace = \"2s\"", "shutdown_grace = \"1s\"");
    fs::write(&setup.config, text).unwrap();
    setup.deliver("alice", b"Subject: a\n\nfor alice\n");
    let mut server = Server::start(&setup.config);

    let mut a = Raw::connect(server.pop3);
    login(&mut a, "alice", "secret");
    // A session that has not logged in is told as well.
    let mut c = Raw::connect(server.pop3);
    assert!(c.line().starts_with("+OK"));

    let signalled = Instant::now();
    server.signal("-INT");
    expect_shutdown_line(&mut a, signalled, grace);
    expect_shutdown_line(&mut c, signalled, grace);
    let status = server
        .wait_until(signalled + grace + Duration::from_secs(5))
        .unwrap_or_else(|| {
            panic!(
                "postern still running after SIGINT; stderr:\n{}",
                server.stderr()
            )
        });
    assert!(
        status.success(),
        "exit status {status:?}; stderr:\n{}",
        server.stderr()
    );
    assert_eq!(turned_away(server.pop3), Some(true));
}

#[test]
fn sigterm_without_sessions_exits_at_once() {
    let setup = Setup::new("cli-sigterm-empty", "", &[("alice", "secret")]);
    let text = setup
        .config_text()
        .replace("shutdown_grace = \"2s\"", "shutdown_grace = \"30s\"");
    fs::write(&setup.config, text).unwrap();
    let mut server = Server::start(&setup.config);
    // A finished session does not hold the shutdown up.
    let mut a = Raw::connect(server.pop3);
    login(&mut a, "alice", "secret");
    assert!(a.cmd("QUIT").starts_with("+OK"));
    assert!(a.rest().is_empty());

    let signalled = Instant::now();
    server.signal("-TERM");
    let status = server
        .wait_until(signalled + Duration::from_secs(5))
        .unwrap_or_else(|| {
            panic!(
                "with no sessions open, postern waited for the 30 s grace period; stderr:\n{}",
                server.stderr()
            )
        });
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn demo_creates_a_valid_setup_and_reuses_it() {
    let root = temp_dir("cli-demo");
    let dir = root.join("demo");
    let out = run(&["demo", "--dir", dir.to_str().unwrap(), "--no-serve"]);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "demo failed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("Created"), "{stdout}");
    for file in ["postern.toml", "cert.pem", "key.pem", "users"] {
        let p = dir.join(file);
        assert!(p.is_file(), "{} missing", p.display());
        assert!(fs::metadata(&p).unwrap().len() > 0, "{} empty", p.display());
    }
    for user in ["alice", "bob"] {
        let md = dir.join("mail").join(user).join("Maildir");
        for sub in ["cur", "new", "tmp"] {
            assert!(md.join(sub).is_dir(), "{}/{sub} missing", md.display());
        }
        assert!(
            !message_files(&md).is_empty(),
            "{}: no messages",
            md.display()
        );
    }
    let users = fs::read_to_string(dir.join("users")).unwrap();
    assert!(
        users.contains("\nalice:") && users.contains("\nbob:"),
        "{users}"
    );
    check_passes(&dir.join("postern.toml"));

    // A second run keeps what is there.
    let config_before = fs::read(dir.join("postern.toml")).unwrap();
    let cert_before = fs::read(dir.join("cert.pem")).unwrap();
    let out = run(&["demo", "--dir", dir.to_str().unwrap(), "--no-serve"]);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "second demo run failed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("Reusing"), "{stdout}");
    assert_eq!(fs::read(dir.join("postern.toml")).unwrap(), config_before);
    assert_eq!(fs::read(dir.join("cert.pem")).unwrap(), cert_before);
    check_passes(&dir.join("postern.toml"));
    let _ = fs::remove_dir_all(&root);
}

// Sessions that are stuck in I/O when the grace period ends must be closed too: the
// server promises to exit after `shutdown_grace`, whatever a client is doing — stalling a
// TLS handshake (implicit or after STLS) or no longer reading a large RETR.

/// Starts `postern serve` with a 1 s grace period and the given pre-login timeout.
fn start_for_stall(name: &str, preauth: &str) -> (Setup, Server) {
    let setup = Setup::new(name, "", &[("alice", "secret")]);
    let text = setup
        .config_text()
        .replace("shutdown_grace = \"2s\"", "shutdown_grace = \"1s\"")
        .replace(
            "preauth_timeout = \"30s\"",
            &format!("preauth_timeout = \"{preauth}\""),
        );
    fs::write(&setup.config, text).unwrap();
    let server = Server::start(&setup.config);
    (setup, server)
}

/// The POP3S address: its line follows the POP3 one on stdout (configuration order).
fn pop3s_addr(server: &Server) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = server
            .stdout
            .recv_timeout(left)
            .expect("no pop3s address printed");
        if let Some(addr) = line.strip_prefix("postern: pop3s listening on ") {
            return addr.trim().parse().unwrap();
        }
    }
}

/// Sends SIGTERM and requires the process to exit with status 0 within grace + 5 s, while
/// `stuck` (the client connections) stay open; `why` explains a failure.
fn sigterm_must_exit<T>(server: &mut Server, grace: Duration, stuck: T, why: &str) {
    let signalled = Instant::now();
    server.signal("-TERM");
    let status = server.wait_until(signalled + grace + Duration::from_secs(5));
    drop(stuck);
    let status = status.unwrap_or_else(|| {
        panic!(
            "postern still running {:?} after SIGTERM with a {:?} grace period: {why}",
            grace + Duration::from_secs(5),
            grace
        )
    });
    assert!(status.success(), "exit status {status:?}");
}

/// A message far bigger than the socket buffers on both ends can hold.
fn deliver_big(setup: &Setup) {
    let mut big = b"Subject: big\n\n".to_vec();
    let line = [b'x'; 99];
    while big.len() < 48 << 20 {
        big.extend_from_slice(&line);
        big.push(b'\n');
    }
    setup.deliver("alice", &big);
}

#[test]
fn sigterm_closes_a_client_stuck_before_its_tls_handshake() {
    let (_setup, mut server) = start_for_stall("cli-stall-tls", "60s");
    let pop3s = pop3s_addr(&server);
    // Connected to POP3S, never says a word.
    let silent = TcpStream::connect(pop3s).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    sigterm_must_exit(
        &mut server,
        Duration::from_secs(1),
        silent,
        "a POP3S client that never starts its TLS handshake holds the shutdown up",
    );
}

#[test]
fn sigterm_closes_a_client_stuck_in_its_stls_handshake() {
    let (_setup, mut server) = start_for_stall("cli-stall-stls", "60s");
    let mut raw = Raw::connect(server.pop3);
    assert!(raw.line().starts_with("+OK"));
    let r = raw.cmd("STLS");
    assert!(r.starts_with("+OK"), "{r:?}");
    // ...and never sends a ClientHello.
    std::thread::sleep(Duration::from_millis(300));
    sigterm_must_exit(
        &mut server,
        Duration::from_secs(1),
        raw,
        "a client that sent STLS but no TLS handshake holds the shutdown up",
    );
}

#[test]
fn sigterm_closes_a_client_that_stopped_reading() {
    let (setup, mut server) = start_for_stall("cli-stall-read", "30s");
    deliver_big(&setup);
    let mut a = Raw::connect(server.pop3);
    login(&mut a, "alice", "secret");
    a.send(b"RETR 1\r\n");
    let mut some = [0u8; 4096];
    a.reader.read_exact(&mut some).unwrap();
    // ...and reads nothing more.
    std::thread::sleep(Duration::from_millis(500));
    sigterm_must_exit(
        &mut server,
        Duration::from_secs(1),
        a,
        "a session blocked writing to a client that stopped reading holds the shutdown up",
    );
}

#[test]
fn sigterm_closes_a_tls_client_that_stopped_reading() {
    let (setup, mut server) = start_for_stall("cli-stall-tls-read", "30s");
    deliver_big(&setup);
    let stream = TcpStream::connect(pop3s_addr(&server)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut tls = support::tls_wrap(stream, &setup.dir.join("cert.pem"), "localhost");
    assert!(support::read_line(&mut tls).starts_with("+OK"));
    assert!(support::tls_cmd(&mut tls, "USER alice").starts_with("+OK"));
    assert!(support::tls_cmd(&mut tls, "PASS secret").starts_with("+OK"));
    let r = support::tls_cmd(&mut tls, "RETR 1");
    assert!(r.starts_with("+OK"), "{r:?}");
    for _ in 0..50 {
        assert!(!support::read_line(&mut tls).is_empty());
    }
    // ...and reads nothing more.
    std::thread::sleep(Duration::from_millis(500));
    sigterm_must_exit(
        &mut server,
        Duration::from_secs(1),
        tls,
        "a TLS session blocked writing to a client that stopped reading holds the shutdown up",
    );
}

/// The next datagram systemd would have received.
fn notified(socket: &std::os::unix::net::UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = socket
        .recv(&mut buf)
        .expect("no notification within the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn admin_commands_reach_the_running_server_and_systemd_hears_of_it() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let setup = Setup::new("admin", "", &[("alice", "secret"), ("bob", "hunter2")]);
    let config = setup.config.to_str().unwrap().to_owned();
    let good = format!(
        "{}\n[admin]\nsocket = \"run/admin.sock\"\n",
        setup.config_text()
    );
    fs::write(&setup.config, &good).unwrap();
    let socket = setup.dir.join("run/admin.sock");
    // Without a server, the commands say what is wrong.
    let out = run(&["who", "--config", &config]);
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("is postern running"),
        "{:?}",
        text(&out)
    );

    let notify_path = setup.dir.join("notify");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let server = Server::start_with(&setup.config, &[("NOTIFY_SOCKET", &notify_path)]);
    assert_eq!(notified(&notify), "READY=1");
    let meta = fs::metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    let mut alice = Raw::connect(server.pop3);
    login(&mut alice, "alice", "secret");
    let mut anonymous = Raw::connect(server.pop3);
    assert!(anonymous.line().starts_with("+OK"));
    let out = run(&["who", "--config", &config]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "USER\tPROTOCOL\tCLIENT\tTLS\tSINCE\tFOR\tWORKER");
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("alice\tpop3\t127.0.0.1:") && l.contains("\tno\t")),
        "{stdout}"
    );
    assert!(lines.iter().any(|l| l.starts_with("-\tpop3\t")), "{stdout}");

    // `postern reload`: a new account, applied at once, with systemd told before and after.
    let users = setup.dir.join("users");
    let home = setup.dir.join("home/carol");
    fs::create_dir_all(&home).unwrap();
    let mut text_users = fs::read_to_string(&users).unwrap();
    text_users.push_str(&format!(
        "carol:{{PLAIN}}carolpw:::carol:{}::\n",
        home.display()
    ));
    fs::write(&users, text_users).unwrap();
    let out = run(&["reload", "--config", &config]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("reloaded (generation 1): 3 accounts"),
        "{stdout}"
    );
    assert!(notified(&notify).starts_with("RELOADING=1\nMONOTONIC_USEC="));
    assert!(notified(&notify).starts_with("READY=1\nSTATUS=reloaded (generation 1)"));
    let mut carol = Raw::connect(server.pop3);
    login(&mut carol, "carol", "carolpw");

    // A broken file is refused, loudly, and the server carries on with the old one.
    fs::write(&setup.config, good.replace("[pop3]", "[pop3")).unwrap();
    let out = run(&["reload", "--socket", socket.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("reload refused, the previous configuration stays in force")
            && stderr.contains("postern.toml"),
        "{stderr}"
    );
    notified(&notify);
    assert!(notified(&notify).contains("STATUS=reload refused"));
    assert!(alice.cmd("STAT").starts_with("+OK"));

    // SIGHUP does the same as `postern reload`.
    fs::write(&setup.config, &good).unwrap();
    server.signal("-HUP");
    assert!(notified(&notify).starts_with("RELOADING=1"));
    assert!(notified(&notify).starts_with("READY=1\nSTATUS=reloaded (generation 2)"));
    assert!(server.stderr().contains("reload refused"));

    // Only root and the server's own user are answered, whatever the socket's mode.
    if nix_is_root() && Path::new("/usr/bin/setpriv").exists() {
        fs::set_permissions(&socket, fs::Permissions::from_mode(0o666)).unwrap();
        let out = Command::new("/usr/bin/setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
            .args(["who", "--socket", socket.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains("permission denied"), "{stderr}");
    }

    // `kick` by user, then by address.
    let out = run(&["kick", "alice", "--config", &config]);
    assert_eq!(text(&out).0, "ended 1 session\n", "{:?}", text(&out));
    let rest = String::from_utf8_lossy(&alice.rest()).into_owned();
    assert!(rest.starts_with("-ERR"), "{rest:?}");
    assert!(carol.cmd("NOOP").starts_with("+OK"));
    let out = run(&["kick", "127.0.0.1", "--config", &config]);
    assert_eq!(text(&out).0, "ended 2 sessions\n", "{:?}", text(&out));
    assert!(String::from_utf8_lossy(&carol.rest()).starts_with("-ERR"));
}

fn nix_is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn the_systemd_unit_is_type_notify_and_reloads_through_postern_reload() {
    let unit = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/systemd/postern.service"),
    )
    .unwrap();
    for line in [
        "Type=notify",
        "ExecStart=/usr/local/bin/postern serve --config /etc/postern/postern.toml",
        "ExecReload=/usr/local/bin/postern reload --config /etc/postern/postern.toml",
    ] {
        assert!(unit.lines().any(|l| l == line), "missing {line:?}");
    }
    // systemd's own checker, where systemd is installed, on a copy that names this binary.
    if Path::new("/usr/bin/systemd-analyze").exists() {
        let dir = temp_dir("unit");
        let copy = dir.join("postern.service");
        fs::write(&copy, unit.replace("/usr/local/bin/postern", BIN)).unwrap();
        let out = Command::new("/usr/bin/systemd-analyze")
            .args(["verify", copy.to_str().unwrap()])
            .output()
            .unwrap();
        // It reports bad directives as warnings and still exits 0: both must be clean.
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && warnings.trim().is_empty(),
            "{warnings}"
        );
        let _ = fs::remove_dir_all(dir);
    }
}
