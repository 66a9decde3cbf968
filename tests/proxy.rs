//! Postern as a front proxy in front of real Dovecot backends: IMAP and POP3 clients log in
//! through it (plain, STARTTLS and implicit TLS on the client side; plain, STARTTLS and TLS
//! on the backend side), every corpus message comes through byte for byte, the backend
//! hears the client's real address, wrong passwords and dead backends get quick, clear
//! answers, and a backend that dies mid-session ends only the sessions it carried.

mod common;
mod support;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::dovecot::DovecotServer;
use postern::config::ListenerKind;
use support::imap::{Client, literal_after};
use support::{Options, Raw, TestServer, corpus, crlf, temp_dir};

const USER: &str = "alice";
const PASSWORD: &str = "backend-secret";

/// A backend Dovecot with the corpus in its INBOX, trusting loopback proxies with the
/// client's address, and TLS with `cert` when given.
struct Backend {
    dovecot: DovecotServer,
    /// Messages in UID order, as stored.
    messages: Vec<Vec<u8>>,
    _dir: PathBuf,
}

/// A fresh Maildir holding `messages` in `cur/`, in UID order; returns (its directory, the
/// Maildir).
fn maildir_with(messages: &[Vec<u8>]) -> (PathBuf, PathBuf) {
    let dir = temp_dir("proxy-backend");
    let maildir = dir.join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    for (i, m) in messages.iter().enumerate() {
        let name = format!("{}.M{i}P1.backend:2,", 1_700_000_000 + i);
        fs::write(maildir.join("cur").join(name), m).unwrap();
    }
    (dir, maildir)
}

fn backend(tls: Option<(&Path, &Path)>, messages: &[Vec<u8>]) -> Backend {
    let (dir, maildir) = maildir_with(messages);
    let dovecot = DovecotServer::start_with(
        &maildir,
        USER,
        PASSWORD,
        &["imap", "pop3"],
        tls,
        "login_trusted_networks = 127.0.0.0/8\nauth_verbose = yes\n",
    );
    Backend {
        dovecot,
        messages: messages.to_vec(),
        _dir: dir,
    }
}

/// A Postern proxy in front of `b` with `tls` to reach it.
fn proxy(b: &Backend, tls: &str, extra_proxy: &str) -> TestServer {
    let (imap_port, pop3_port) = match tls {
        "tls" => (b.dovecot.port("imaps"), b.dovecot.port("pop3s")),
        _ => (b.dovecot.port("imap"), b.dovecot.port("pop3")),
    };
    proxy_with(
        &format!(
            "route = \"static\"\nimap_backend = \"localhost:{imap_port}\"\n\
             pop3_backend = \"localhost:{pop3_port}\"\nbackend_tls = \"{tls}\"\n{extra_proxy}"
        ),
        &[],
    )
}

/// A Postern proxy with `[proxy]` settings `proxy` (timeouts and the CA added), and
/// `files` written beside its config first.
fn proxy_with(proxy: &str, files: &[(&str, String)]) -> TestServer {
    let opts = Options {
        extra_config: format!(
            r#"
[[listener]]
kind = "imap-proxy"
address = "127.0.0.1:0"
[[listener]]
kind = "imaps-proxy"
address = "127.0.0.1:0"
[[listener]]
kind = "pop3-proxy"
address = "127.0.0.1:0"
[[listener]]
kind = "pop3s-proxy"
address = "127.0.0.1:0"
[proxy]
backend_ca = "backend-cert.pem"
connect_timeout = "2s"
login_timeout = "15s"
{proxy}
"#
        ),
        ..Options::default()
    };
    let dir = temp_dir("proxy");
    // The backend's certificate is the proxy's trust anchor (written before the config loads).
    fs::copy(backend_cert_path(), dir.join("backend-cert.pem")).unwrap();
    for (name, text) in files {
        fs::write(dir.join(name), text).unwrap();
    }
    TestServer::start_in(dir, opts)
}

fn addr(s: &TestServer, kind: ListenerKind) -> SocketAddr {
    s.handle.as_ref().unwrap().addr(kind).unwrap()
}

/// One certificate for every backend in this test run, for `localhost`.
fn backend_cert_path() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let dir = temp_dir("backend-cert");
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
        fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
        dir.join("cert.pem")
    })
    .clone()
}

fn backend_tls_files() -> (PathBuf, PathBuf) {
    let cert = backend_cert_path();
    (cert.clone(), cert.with_file_name("key.pem"))
}

fn few_messages() -> Vec<Vec<u8>> {
    corpus().into_iter().take(5).map(|(_, m)| m).collect()
}

/// A stored message as Dovecot's IMAP sends it: the wire form, with each NUL byte (which
/// RFC 3501 forbids in a literal) as 0x80. The proxy must relay exactly that.
fn as_dovecot_imap_sends(m: &[u8]) -> Vec<u8> {
    crlf(m)
        .into_iter()
        .map(|b| if b == 0 { 0x80 } else { b })
        .collect()
}

/// Logs in through the proxy and fetches every message; checks them byte for byte.
fn imap_roundtrip(c: &mut Client, b: &Backend) {
    c.login(USER, PASSWORD);
    let caps = c.ok("CAPABILITY");
    // The backend's own capabilities, not Postern's.
    assert!(
        String::from_utf8_lossy(&caps[0]).contains("IMAP4rev1"),
        "{}",
        String::from_utf8_lossy(&caps[0])
    );
    c.ok("SELECT INBOX");
    for (i, m) in b.messages.iter().enumerate() {
        let r = c.ok(&format!("FETCH {} BODY.PEEK[]", i + 1));
        let body = literal_after(&r[0], "BODY[]").expect("BODY[] literal");
        assert_eq!(body, as_dovecot_imap_sends(m), "message {}", i + 1);
    }
    c.ok("LOGOUT");
}

#[test]
fn imap_through_the_proxy_over_every_client_and_backend_transport() {
    let (cert, key) = backend_tls_files();
    let messages = few_messages();
    for backend_tls in ["plain", "starttls", "tls"] {
        let b = backend(Some((&cert, &key)), &messages);
        let s = proxy(&b, backend_tls, "");
        // Client over plain, then STARTTLS, then implicit TLS.
        let (mut c, greeting) = Client::connect(addr(&s, ListenerKind::ImapProxy));
        assert!(greeting.starts_with("* OK"), "{greeting}");
        imap_roundtrip(&mut c, &b);
        let (copied_before, _) = s.handle.as_ref().unwrap().relayed_bytes();
        let (mut c, _) = Client::connect_tls(addr(&s, ListenerKind::ImapsProxy), &s.cert);
        imap_roundtrip(&mut c, &b);
        // TLS on the client side: decrypted and encrypted in user space.
        let (copied, _) = s.handle.as_ref().unwrap().relayed_bytes();
        assert!(copied > copied_before, "{backend_tls}");
        let log = b.dovecot.log();
        assert!(log.contains("Login: user=<alice>"), "{backend_tls}: {log}");
    }
}

#[test]
fn every_corpus_message_survives_fetch_and_retr_through_the_proxy() {
    let messages: Vec<Vec<u8>> = corpus().into_iter().map(|(_, m)| m).collect();
    let b = backend(None, &messages);
    let s = proxy(&b, "plain", "");
    let (_, spliced_before) = s.handle.as_ref().unwrap().relayed_bytes();
    let (mut c, _) = Client::connect(addr(&s, ListenerKind::ImapProxy));
    imap_roundtrip(&mut c, &b);
    // Plain on both sides: the messages went by splice, never through user space (other
    // tests running at the same time can only add to the count).
    let (_, spliced) = s.handle.as_ref().unwrap().relayed_bytes();
    let total: usize = b.messages.iter().map(Vec::len).sum();
    assert!(
        spliced - spliced_before >= total as u64,
        "{spliced_before} -> {spliced}"
    );
    let mut pop = Raw::connect(addr(&s, ListenerKind::Pop3Proxy));
    assert!(pop.line().starts_with("+OK"));
    pop.cmd(&format!("USER {USER}"));
    assert!(pop.cmd(&format!("PASS {PASSWORD}")).starts_with("+OK"));
    for (i, m) in b.messages.iter().enumerate() {
        let reply = pop.cmd(&format!("RETR {}", i + 1));
        assert!(reply.starts_with("+OK"), "{reply}");
        let mut expected = crlf(m);
        if !expected.ends_with(b"\r\n") {
            expected.extend_from_slice(b"\r\n");
        }
        assert_eq!(pop.multiline(), expected, "RETR {}", i + 1);
    }
    assert!(pop.cmd("QUIT").starts_with("+OK"));
}

#[test]
fn the_backend_hears_the_client_address_and_refusals_are_clear() {
    let b = backend(None, &few_messages());
    let s = proxy(&b, "plain", "");
    // From 127.0.0.5: the proxy itself connects from 127.0.0.1.
    let local: SocketAddr = "127.0.0.5:0".parse().unwrap();
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&local.into()).unwrap();
    sock.connect(&addr(&s, ListenerKind::ImapProxy).into())
        .unwrap();
    let stream: TcpStream = sock.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let mut w = stream;
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    w.write_all(format!("a LOGIN {USER} {PASSWORD}\r\n").as_bytes())
        .unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("a OK [CAPABILITY "), "{line}");
    w.write_all(b"b LOGOUT\r\n").unwrap();
    let mut rest = String::new();
    let _ = r.read_to_string(&mut rest);
    let log = b.dovecot.log();
    assert!(
        log.contains("imap-login: Info: Login: user=<alice>") && log.contains("rip=127.0.0.5"),
        "{log}"
    );
    // POP3: the same through XCLIENT.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&"127.0.0.6:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    sock.connect(&addr(&s, ListenerKind::Pop3Proxy).into())
        .unwrap();
    let stream: TcpStream = sock.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let mut w = stream;
    for command in ["", "USER alice", "PASS backend-secret", "QUIT"] {
        if !command.is_empty() {
            w.write_all(format!("{command}\r\n").as_bytes()).unwrap();
        }
        line.clear();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with("+OK"), "{command}: {line}");
    }
    let log = b.dovecot.log();
    assert!(
        log.lines()
            .any(|l| l.contains("pop3-login: Info: Login: user=<alice>")
                && l.contains("rip=127.0.0.6")),
        "{log}"
    );

    // A wrong password: the backend says no, the client hears it as a failed login.
    let (mut c, _) = Client::connect(addr(&s, ListenerKind::ImapProxy));
    let (_, tagged) = c.command(&format!("LOGIN {USER} wrong"));
    assert!(tagged.contains("NO [AUTHENTICATIONFAILED]"), "{tagged}");
    let mut pop = Raw::connect(addr(&s, ListenerKind::Pop3Proxy));
    pop.line();
    pop.cmd(&format!("USER {USER}"));
    let reply = pop.cmd("PASS wrong");
    assert!(
        reply.starts_with("-ERR [AUTH]"),
        "{reply}\n{}",
        b.dovecot.log()
    );

    // A refusal that is not about the password is passed on with the backend's own code:
    // this Dovecot locks a POP3 maildrop for the session that holds it.
    let mut holder = Raw::connect(addr(&s, ListenerKind::Pop3Proxy));
    holder.line();
    holder.cmd(&format!("USER {USER}"));
    assert!(holder.cmd(&format!("PASS {PASSWORD}")).starts_with("+OK"));
    let mut second = Raw::connect(addr(&s, ListenerKind::Pop3Proxy));
    second.line();
    second.cmd(&format!("USER {USER}"));
    let reply = second.cmd(&format!("PASS {PASSWORD}"));
    assert!(reply.starts_with("-ERR [IN-USE] "), "{reply}");
    assert!(holder.cmd("STAT").starts_with("+OK"));
}

#[test]
fn sessions_per_user_are_limited_before_the_relay() {
    let b = backend(None, &few_messages());
    // A second Dovecot without POP3 session locks for the POP3 part, so that the proxy's
    // limit is reached before the backend's lock.
    let unlocked = backend_with(
        USER,
        PASSWORD,
        &few_messages(),
        "login_trusted_networks = 127.0.0.0/8\npop3_lock_session = no\n",
    );
    let mut s = proxy_with(
        &format!(
            "route = \"static\"\nimap_backend = \"localhost:{}\"\n\
             pop3_backend = \"localhost:{}\"\nbackend_tls = \"plain\"\n",
            b.dovecot.port("imap"),
            unlocked.port("pop3")
        ),
        &[],
    );
    let config = s.dir.join("postern.toml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        text.replacen("[server]\n", "[server]\nmax_sessions_per_user = 2\n", 1),
    )
    .unwrap();
    s.restart();
    let imap = addr(&s, ListenerKind::ImapProxy);
    let login = |password: &str| {
        let (mut c, _) = Client::connect(imap);
        let (_, tagged) = c.command(&format!("LOGIN {USER} {password}"));
        (c, tagged)
    };
    let (mut first, r) = login(PASSWORD);
    assert!(r.contains("OK"), "{r}");
    let (mut second, r) = login(PASSWORD);
    assert!(r.contains("OK"), "{r}");
    let (_third, r) = login(PASSWORD);
    assert!(r.contains("NO [LIMIT]"), "{r}");
    // The backend judges the password here, so the limit is only told after it agreed:
    // a wrong password is just wrong, whoever is logged in.
    let (_guess, r) = login("wrong");
    assert!(r.contains("NO [AUTHENTICATIONFAILED]"), "{r}");
    // The sessions under the limit are relayed as ever.
    second.ok("SELECT INBOX");
    // POP3 counts apart.
    let pop3 = addr(&s, ListenerKind::Pop3Proxy);
    let pop3_login = || {
        let mut p = Raw::connect(pop3);
        p.line();
        p.cmd(&format!("USER {USER}"));
        let reply = p.cmd(&format!("PASS {PASSWORD}"));
        (p, reply)
    };
    let (_p1, r) = pop3_login();
    assert!(r.starts_with("+OK"), "{r}");
    let (_p2, r) = pop3_login();
    assert!(r.starts_with("+OK"), "{r}");
    let (mut p3, r) = pop3_login();
    assert!(r.starts_with("-ERR [IN-USE]"), "{r}");
    assert!(p3.cmd("QUIT").starts_with("+OK"));
    // A relayed session that ends gives its place back.
    first.ok("LOGOUT");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_c, r) = login(PASSWORD);
        if r.starts_with("a1 OK") {
            break;
        }
        assert!(Instant::now() < deadline, "no place came back: {r}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The backend saw the two sessions, the one over the limit (it judged the password, and
    // the proxy closed that session again) and the one after the place came back.
    let log = b.dovecot.log();
    let logins = log.matches("imap-login: Info: Login: user=<alice>").count();
    assert_eq!(logins, 4, "{log}");
}

#[test]
fn relayed_sessions_are_listed_kicked_and_ended_at_shutdown() {
    let b = backend(None, &few_messages());
    let mut s = proxy(&b, "plain", "");
    let (mut kicked, _) = Client::connect(addr(&s, ListenerKind::ImapProxy));
    kicked.login(USER, PASSWORD);
    kicked.ok("SELECT INBOX");
    let mut pop = Raw::connect(addr(&s, ListenerKind::Pop3Proxy));
    pop.line();
    pop.cmd(&format!("USER {USER}"));
    assert!(pop.cmd(&format!("PASS {PASSWORD}")).starts_with("+OK"));
    // The relays run as tasks of their own after login; they are still in the table.
    let handle = s.handle.as_ref().unwrap();
    let listed = handle.sessions();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed.iter().all(|i| i.user.as_deref() == Some(USER)),
        "{listed:?}"
    );
    use postern::server::Target;
    let imap_only = Target::UserProtocol(USER.into(), postern::config::Protocol::Imap);
    assert_eq!(handle.end_sessions(&[imap_only]), 1);
    let mut rest = Vec::new();
    let _ = kicked.reader.read_to_end(&mut rest);
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        rest.contains("* BYE [UNAVAILABLE] Disconnected by the administrator."),
        "{rest}"
    );
    // The POP3 relay goes on, and ends with the server's goodbye at shutdown.
    assert!(pop.cmd("STAT").starts_with("+OK"));
    s.stop();
    let rest = String::from_utf8_lossy(&pop.rest()).into_owned();
    assert!(rest.starts_with("-ERR [SYS/TEMP]"), "{rest}");
}

#[test]
fn pipelined_bytes_that_cannot_be_handed_on_are_refused_with_a_reason() {
    let b = backend(None, &few_messages());
    let s = proxy(&b, "plain", "");
    // An over-long line behind PASS: the session drops what it cannot keep of it, so the
    // rest must not reach the backend as if it were a command.
    let mut pop = Raw::connect(addr(&s, ListenerKind::Pop3Proxy));
    pop.line();
    let mut burst = format!("USER {USER}\r\nPASS {PASSWORD}\r\n").into_bytes();
    burst.extend(std::iter::repeat_n(b'x', 5000));
    burst.extend_from_slice(b"\r\n");
    pop.send(&burst);
    assert!(pop.line().starts_with("+OK"));
    // The login is answered, then the refusal, then the close (`rest` reads to the end).
    let rest = String::from_utf8_lossy(&pop.rest()).into_owned();
    assert!(rest.starts_with("+OK "), "{rest}");
    assert!(
        rest.ends_with(
            "\r\n-ERR [SYS/TEMP] Commands sent before the login completed cannot be passed on.\r\n"
        ),
        "{rest}"
    );
}

#[test]
fn a_dead_backend_is_a_quick_temporary_failure() {
    let b = backend(None, &few_messages());
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap().port();
    drop(closed);
    let mut s = proxy(&b, "plain", "");
    // Point IMAP at a port nobody listens on.
    let config = s.dir.join("postern.toml");
    let text = fs::read_to_string(&config).unwrap();
    let port = b.dovecot.port("imap");
    fs::write(
        &config,
        text.replace(&format!("localhost:{port}"), &format!("127.0.0.1:{dead}")),
    )
    .unwrap();
    s.restart();
    let start = Instant::now();
    let (mut c, _) = Client::connect(addr(&s, ListenerKind::ImapProxy));
    let (_, tagged) = c.command(&format!("LOGIN {USER} {PASSWORD}"));
    assert!(tagged.contains("NO [UNAVAILABLE]"), "{tagged}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    // POP3 still goes to the live backend.
    let mut pop = Raw::connect(addr(&s, ListenerKind::Pop3Proxy));
    pop.line();
    pop.cmd(&format!("USER {USER}"));
    assert!(pop.cmd(&format!("PASS {PASSWORD}")).starts_with("+OK"));
}

#[test]
fn a_backend_killed_mid_session_ends_that_session_cleanly() {
    let b = backend(None, &few_messages());
    let other = backend(None, &few_messages());
    let s = proxy(&b, "plain", "");
    let (mut c, _) = Client::connect(addr(&s, ListenerKind::ImapProxy));
    c.login(USER, PASSWORD);
    c.ok("SELECT INBOX");
    drop(b);
    // The relay sees the backend go and closes the client's connection.
    let mut rest = Vec::new();
    let _ = c.reader.read_to_end(&mut rest);
    let deadline = Instant::now() + Duration::from_secs(5);
    let handle = s.handle.as_ref().unwrap();
    while !handle.sessions().is_empty() {
        assert!(Instant::now() < deadline, "{:?}", handle.sessions());
        std::thread::sleep(Duration::from_millis(20));
    }
    // The proxy itself is fine: a session to a live backend works.
    let s2 = proxy(&other, "plain", "");
    let (mut c, _) = Client::connect(addr(&s2, ListenerKind::ImapProxy));
    imap_roundtrip(&mut c, &other);
}

#[test]
fn real_clients_and_a_100_mb_append_through_the_proxy() {
    let b = backend(None, &few_messages());
    let s = proxy(&b, "plain", "");
    let imap = addr(&s, ListenerKind::ImapProxy);
    let pop3 = addr(&s, ListenerKind::Pop3Proxy);
    let user = format!("{USER}:{PASSWORD}");

    // curl, over IMAP and POP3.
    let out = std::process::Command::new("curl")
        .args(["-s", "-u", &user])
        .arg(format!("imap://{imap}/INBOX;UID=1"))
        .output()
        .expect("curl must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, as_dovecot_imap_sends(&b.messages[0]));
    let out = std::process::Command::new("curl")
        .args(["-s", "-u", &user])
        .arg(format!("pop3://{pop3}/"))
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listing.lines().count(), b.messages.len(), "{listing}");

    // Python's imaplib and poplib, the client side upgraded with STARTTLS / STLS.
    let script = format!(
        r#"
import imaplib, poplib, ssl
ctx = ssl.create_default_context(cafile="{cafile}")
m = imaplib.IMAP4("127.0.0.1", {imap_port})
m.starttls(ssl_context=ctx)
m.login("{USER}", "{PASSWORD}")
typ, data = m.select("INBOX")
assert typ == "OK", data
typ, data = m.search(None, "ALL")
print("imap", len(data[0].split()))
m.logout()
p = poplib.POP3("127.0.0.1", {pop3_port})
p.stls(context=ctx)
p.user("{USER}")
p.pass_("{PASSWORD}")
print("pop3", p.stat()[0])
p.quit()
"#,
        imap_port = imap.port(),
        pop3_port = pop3.port(),
        cafile = s.cert.display(),
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    let n = b.messages.len();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("imap {n}\npop3 {n}\n"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 100 MB through the relay in one APPEND, and back.
    let mut big = b"From: big@example.org\r\nSubject: 100 MB\r\n\r\n".to_vec();
    let line =
        b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789\r\n";
    while big.len() < 100 * 1024 * 1024 {
        big.extend_from_slice(line);
    }
    let (mut c, _) = Client::connect(imap);
    c.login(USER, PASSWORD);
    let tagged = c.append("INBOX", "", &big);
    assert!(tagged.contains("OK"), "{tagged}");
    c.ok("SELECT INBOX");
    let r = c.ok(&format!("FETCH {} (RFC822.SIZE BODY.PEEK[])", n + 1));
    let text = String::from_utf8_lossy(&r[0][..200.min(r[0].len())]).into_owned();
    assert!(
        text.contains(&format!("RFC822.SIZE {}", big.len())),
        "{text}"
    );
    let body = literal_after(&r[0], "BODY[]").unwrap();
    assert!(body == big, "the 100 MB message came back different");
}

/// A backend for a user of its own.
fn backend_for(user: &str, password: &str, messages: &[Vec<u8>]) -> DovecotServer {
    backend_with(
        user,
        password,
        messages,
        "login_trusted_networks = 127.0.0.0/8\n",
    )
}

/// A backend for a user of its own, with `extra` Dovecot settings.
fn backend_with(user: &str, password: &str, messages: &[Vec<u8>], extra: &str) -> DovecotServer {
    let (_dir, maildir) = maildir_with(messages);
    DovecotServer::start_with(&maildir, user, password, &["imap", "pop3"], None, extra)
}

fn imap_count(s: &TestServer, user: &str, password: &str) -> Result<usize, String> {
    let (mut c, _) = Client::connect(addr(s, ListenerKind::ImapProxy));
    let (_, tagged) = c.command(&format!("LOGIN {user} {password}"));
    if !tagged.contains("OK") {
        return Err(tagged);
    }
    let r = c.ok("SELECT INBOX");
    let exists = r
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .find_map(|l| {
            l.strip_suffix(" EXISTS\r\n")
                .and_then(|n| n.strip_prefix("* ")?.parse().ok())
        })
        .unwrap();
    c.ok("LOGOUT");
    Ok(exists)
}

#[test]
fn a_route_file_sends_each_user_to_their_backend() {
    let messages = few_messages();
    let a = backend_for("alice", "alice-pw", &messages[..2]);
    let b = backend_for("bob@example.org", "bob-pw", &messages[..3]);
    let routes = format!(
        "# user or @domain, protocol, backend, mode\n\
         alice imap localhost:{} plain\n\
         alice pop3 localhost:{} plain\n\
         @example.org imap localhost:{} plain\n\
         * pop3 localhost:{}\n",
        a.port("imap"),
        a.port("pop3"),
        b.port("imap"),
        b.port("pop3"),
    );
    let s = proxy_with(
        "route = \"file\"\nroute_file = \"routes\"\nbackend_tls = \"plain\"\n",
        &[("routes", routes)],
    );
    assert_eq!(imap_count(&s, "alice", "alice-pw"), Ok(2));
    assert_eq!(imap_count(&s, "bob@example.org", "bob-pw"), Ok(3));
    // A user the file does not route for IMAP cannot log in there.
    assert!(imap_count(&s, "carol", "x").is_err());
    let mut pop = Raw::connect(addr(&s, ListenerKind::Pop3Proxy));
    pop.line();
    pop.cmd("USER bob@example.org");
    assert!(pop.cmd("PASS bob-pw").starts_with("+OK"));
    assert!(pop.cmd("STAT").starts_with("+OK 3 "));
}

/// A tiny nginx auth_http service: alice goes to `backend`, anybody else is refused with
/// a wait. Returns its URL; it answers until the test process ends.
fn auth_http_service(backend_port: u16) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/auth", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let request = String::from_utf8_lossy(&request).into_owned();
            log.lock().unwrap().push(request.clone());
            let good = request.contains("Auth-User: alice\r\n")
                && request.contains("Auth-Pass: alice-pw\r\n");
            let answer = if good {
                format!(
                    "HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: 127.0.0.1\r\n\
                     Auth-Port: {backend_port}\r\n\r\n"
                )
            } else if request.contains("Auth-User: mallory\r\n") {
                // No Auth-Wait: nginx shows the message and closes the connection.
                "HTTP/1.0 200 OK\r\nAuth-Status: Account suspended\r\n\r\n".to_owned()
            } else {
                "HTTP/1.0 200 OK\r\nAuth-Status: Invalid login or password\r\nAuth-Wait: 1\r\n\r\n"
                    .to_owned()
            };
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (url, seen)
}

#[test]
fn an_nginx_auth_http_service_routes_and_refuses() {
    let a = backend_for("alice", "alice-pw", &few_messages()[..2]);
    let (url, seen) = auth_http_service(a.port("imap"));
    let s = proxy_with(
        &format!("route = \"auth-http\"\nauth_http = \"{url}\"\nbackend_tls = \"plain\"\n"),
        &[],
    );
    assert_eq!(imap_count(&s, "alice", "alice-pw"), Ok(2));
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "{requests:?}");
    for header in [
        "Auth-Method: plain",
        "Auth-Protocol: imap",
        "Auth-Login-Attempt: 1",
        "Client-IP: 127.0.0.1",
    ] {
        assert!(requests[0].contains(header), "{header}: {}", requests[0]);
    }
    // Refused with the service's message, after its Auth-Wait; the client may try again on
    // the same connection, and the next request says it is the second attempt.
    let start = Instant::now();
    let (mut c, _) = Client::connect(addr(&s, ListenerKind::ImapProxy));
    for _ in 0..2 {
        let (_, tagged) = c.command("LOGIN alice wrong");
        assert!(
            tagged.contains("NO [AUTHENTICATIONFAILED] Invalid login or password"),
            "{tagged}"
        );
    }
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert!(
        requests[1].contains("Auth-Login-Attempt: 1"),
        "{}",
        requests[1]
    );
    assert!(
        requests[2].contains("Auth-Login-Attempt: 2"),
        "{}",
        requests[2]
    );
    // The right password on the same connection; alice's route comes from the cache, so
    // the service is not asked again.
    let (_, tagged) = c.command("LOGIN alice alice-pw");
    assert!(tagged.contains("OK"), "{tagged}");
    assert_eq!(imap_count(&s, "alice", "alice-pw"), Ok(2));
    assert_eq!(seen.lock().unwrap().len(), 3);
    // Without Auth-Wait: the message, then the connection ends, in both protocols.
    let (mut c, _) = Client::connect(addr(&s, ListenerKind::ImapProxy));
    let (_, tagged) = c.command("LOGIN mallory x");
    assert!(
        tagged.contains("NO [AUTHENTICATIONFAILED] Account suspended"),
        "{tagged}"
    );
    let mut rest = Vec::new();
    let _ = c.reader.read_to_end(&mut rest);
    assert!(
        String::from_utf8_lossy(&rest).starts_with("* BYE"),
        "{rest:?}"
    );
    let mut pop = Raw::connect(addr(&s, ListenerKind::Pop3Proxy));
    pop.line();
    pop.cmd("USER mallory");
    let reply = pop.cmd("PASS x");
    assert!(
        reply.starts_with("-ERR [AUTH] Account suspended"),
        "{reply}"
    );
    assert!(pop.rest().is_empty(), "the connection should have ended");
}

#[test]
fn a_proxy_protocol_header_reaches_the_backend_as_the_client_address() {
    let b = backend(None, &few_messages());
    let s = proxy(
        &b,
        "plain",
        "\n[[listener]]\nkind = \"imap-proxy\"\naddress = \"127.0.0.2:0\"\n\
         proxy_protocol = \"v1\"\nproxy_from = [\"127.0.0.1\"]\n\
         [[listener]]\nkind = \"pop3-proxy\"\naddress = \"127.0.0.3:0\"\n\
         proxy_protocol = \"v2\"\nproxy_from = [\"127.0.0.1\"]\n",
    );
    let behind_haproxy = s
        .handle
        .as_ref()
        .unwrap()
        .addrs()
        .into_iter()
        .find(|(_, a)| a.ip().to_string() == "127.0.0.2")
        .unwrap()
        .1;
    let mut c = Raw::connect(behind_haproxy);
    c.send(b"PROXY TCP4 192.0.2.7 127.0.0.2 40123 143\r\n");
    assert!(c.line().starts_with("* OK"));
    let reply = c.cmd(&format!("a LOGIN {USER} {PASSWORD}"));
    assert!(reply.starts_with("a OK"), "{reply}");
    let reply = c.cmd("b LOGOUT");
    assert!(reply.starts_with("* BYE"), "{reply}");
    let log = b.dovecot.log();
    assert!(log.contains("rip=192.0.2.7"), "{log}");

    // Version 2, binary, in front of POP3: the backend hears of the client by XCLIENT.
    let v2_listener = s
        .handle
        .as_ref()
        .unwrap()
        .addrs()
        .into_iter()
        .find(|(_, a)| a.ip().to_string() == "127.0.0.3")
        .unwrap()
        .1;
    let mut header = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    header.extend_from_slice(&[198, 51, 100, 9, 127, 0, 0, 3]);
    header.extend_from_slice(&40124u16.to_be_bytes());
    header.extend_from_slice(&110u16.to_be_bytes());
    let mut c = Raw::connect(v2_listener);
    c.send(&header);
    assert!(c.line().starts_with("+OK"));
    c.cmd(&format!("USER {USER}"));
    assert!(c.cmd(&format!("PASS {PASSWORD}")).starts_with("+OK"));
    assert!(c.cmd("QUIT").starts_with("+OK"));
    let log = b.dovecot.log();
    assert!(
        log.lines()
            .any(|l| l.contains("pop3-login: Info: Login: user=<alice>")
                && l.contains("rip=198.51.100.9")),
        "{log}"
    );
}

#[test]
fn mbsync_syncs_through_the_proxy() {
    let b = backend(None, &few_messages());
    let s = proxy(&b, "plain", "");
    let imap = addr(&s, ListenerKind::ImapProxy);
    let scratch = temp_dir("proxy-mbsync");
    let out = support::python(
        "mbsync_sync.py",
        &[
            "--host",
            "127.0.0.1",
            "--port",
            &imap.port().to_string(),
            "--mode",
            "starttls",
            "--cafile",
            s.cert.to_str().unwrap(),
            "--user",
            USER,
            "--password",
            PASSWORD,
            "--scratch",
            scratch.to_str().unwrap(),
            "--layout",
            "verbatim",
        ],
    );
    assert!(
        out.contains("ok second mbsync -a: nothing propagated"),
        "{out}"
    );
    assert!(out.contains("ok flag changes propagate both ways"), "{out}");
}

#[test]
fn a_reload_moves_users_to_a_new_backend_without_dropping_relayed_sessions() {
    let messages = few_messages();
    let old = backend_for("alice", "alice-pw", &messages[..1]);
    let new = backend_for("alice", "alice-pw", &messages[..4]);
    let route = |port: u16| format!("alice imap localhost:{port} plain\n");
    let s = proxy_with(
        "route = \"file\"\nroute_file = \"routes\"\nbackend_tls = \"plain\"\n",
        &[("routes", route(old.port("imap")))],
    );
    let handle = s.handle.as_ref().unwrap();
    handle.set_config_path(&s.dir.join("postern.toml"));
    // A session relayed to the old backend, open across the reload.
    let (mut held, _) = Client::connect(addr(&s, ListenerKind::ImapProxy));
    held.login("alice", "alice-pw");
    held.ok("SELECT INBOX");

    fs::write(s.dir.join("routes"), route(new.port("imap"))).unwrap();
    handle.reload().unwrap();
    // New logins go to the new backend; the held session still talks to the old one.
    assert_eq!(imap_count(&s, "alice", "alice-pw"), Ok(4));
    let r = held.ok("STATUS INBOX (MESSAGES)");
    assert!(
        String::from_utf8_lossy(&r[0]).contains("MESSAGES 1"),
        "{}",
        String::from_utf8_lossy(&r[0])
    );
    // A broken route file is refused and the routes stay.
    fs::write(s.dir.join("routes"), "alice imap nowhere\n").unwrap();
    let e = handle.reload().unwrap_err().to_string();
    assert!(e.contains("routes:1"), "{e}");
    assert_eq!(imap_count(&s, "alice", "alice-pw"), Ok(4));
    held.ok("LOGOUT");
}
