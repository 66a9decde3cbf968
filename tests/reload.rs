//! Live reload against a real server: new settings, accounts and certificates for new
//! connections and logins, sessions already open untouched, broken configurations refused
//! with the old one kept, listeners opened and closed, sessions of a disabled protocol ended
//! on request, and an account's own login type.

mod support;

use std::fs;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use postern::config::ListenerKind;
use support::imap::Client;
use support::{Options, Raw, TestServer};

fn server(opts: Options) -> TestServer {
    let s = TestServer::start(opts);
    s.handle
        .as_ref()
        .unwrap()
        .set_config_path(&s.dir.join("postern.toml"));
    s
}

fn reload(s: &TestServer) -> Result<postern::server::ReloadReport, String> {
    s.handle
        .as_ref()
        .unwrap()
        .reload()
        .map_err(|e| e.to_string())
}

/// Replaces the first occurrence of `from` in one of the server's files.
fn edit(s: &TestServer, file: &str, from: &str, to: &str) {
    let path = s.dir.join(file);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no {from:?}:\n{text}");
    fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn append(s: &TestServer, file: &str, text: &str) {
    let path = s.dir.join(file);
    let mut old = fs::read_to_string(&path).unwrap();
    old.push_str(text);
    fs::write(&path, old).unwrap();
}

fn add_account(s: &TestServer, user: &str, secret: &str, extra: &str) {
    let home = s.dir.join("home").join(user);
    fs::create_dir_all(&home).unwrap();
    append(
        s,
        "users",
        &format!("{user}:{secret}:::{user}:{}::{extra}\n", home.display()),
    );
}

fn pop3_login(addr: SocketAddr, user: &str, pass: &str) -> (Raw, String) {
    let mut c = Raw::connect(addr);
    assert!(c.line().starts_with("+OK"));
    c.cmd(&format!("USER {user}"));
    let reply = c.cmd(&format!("PASS {pass}"));
    (c, reply)
}

fn imap_login(addr: SocketAddr, user: &str, pass: &str) -> (Client, String) {
    let (mut c, _) = Client::connect(addr);
    let (_, tagged) = c.command(&format!("LOGIN {user} {pass}"));
    (c, tagged)
}

fn new_certificate(dir: &Path) {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let cert = rcgen::generate_simple_self_signed(names).unwrap();
    fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
}

#[test]
fn reload_applies_config_accounts_and_certificate_without_dropping_sessions() {
    let s = server(Options::default());
    let old_cert = s.dir.join("old-cert.pem");
    fs::copy(&s.cert, &old_cert).unwrap();
    // Sessions open before the reload, one of them over TLS with the old certificate.
    let (mut imaps, _) = Client::connect_tls(s.imaps, &old_cert);
    imaps.login("alice", "secret");
    imaps.ok("SELECT INBOX");
    let (mut pop, reply) = pop3_login(s.pop3, "bob@example.org", "hunter2");
    assert!(reply.starts_with("+OK"), "{reply}");
    // A connection from before the reload that starts TLS only after it.
    let mut early = Raw::connect(s.pop3);
    assert!(early.line().starts_with("+OK"));

    add_account(&s, "carol", "{PLAIN}carolpw", "");
    edit(&s, "users", "{PLAIN}hunter2", "{PLAIN}newpass");
    edit(
        &s,
        "postern.toml",
        "[pop3]\n",
        "[pop3]\nimplementation = \"Reloaded\"\n",
    );
    new_certificate(&s.dir);
    let report = reload(&s).unwrap();
    assert_eq!(report.accounts, 3, "{report}");
    assert_eq!(report.generation, 1);

    // The old sessions carry on, with what they had.
    imaps.ok("NOOP");
    assert!(pop.cmd("STAT").starts_with("+OK"));
    // New connections see the new configuration and accounts.
    let mut capa = Raw::connect(s.pop3);
    capa.line();
    assert!(capa.cmd("CAPA").starts_with("+OK"));
    let caps = String::from_utf8(capa.multiline()).unwrap();
    assert!(caps.contains("IMPLEMENTATION Reloaded"), "{caps}");
    let (_, reply) = pop3_login(s.pop3, "carol", "carolpw");
    assert!(reply.starts_with("+OK"), "new account: {reply}");
    let (_, tagged) = imap_login(s.imap, "bob@example.org", "hunter2");
    assert!(
        tagged.contains("NO"),
        "old password still accepted: {tagged}"
    );
    let (_, tagged) = imap_login(s.imap, "bob@example.org", "newpass");
    assert!(tagged.contains("OK"), "new password refused: {tagged}");
    // A new handshake presents the new certificate: trusting only it must succeed.
    let (mut fresh, greeting) = Client::connect_tls(s.imaps, &s.cert);
    assert!(greeting.starts_with("* OK"), "{greeting}");
    fresh.login("carol", "carolpw");
    // STLS after the reload is a new handshake too: it gets the new certificate.
    assert!(early.cmd("STLS").starts_with("+OK"));
    let name = rustls_pki_types::ServerName::try_from("localhost".to_owned()).unwrap();
    let mut conn = rustls::ClientConnection::new(support::client_tls(&s.cert), name).unwrap();
    let mut sock = early.writer.try_clone().unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)
            .expect("STLS handshake with the new certificate");
    }
    // And the session from before still works over the old one.
    imaps.ok("NOOP");
    assert!(pop.cmd("QUIT").starts_with("+OK"));
}

#[test]
fn a_broken_reload_is_refused_and_the_old_configuration_stays() {
    let s = server(Options::default());
    let config = s.dir.join("postern.toml");
    let good = fs::read_to_string(&config).unwrap();

    fs::write(&config, format!("{good}\n[pop3\n")).unwrap();
    let e = reload(&s).unwrap_err();
    assert!(e.contains("postern.toml"), "{e}");
    fs::write(
        &config,
        good.replacen("login_type = \"plaintext\"", "login_type = \"open\"", 1),
    )
    .unwrap();
    let e = reload(&s).unwrap_err();
    assert!(e.contains("pop3.login_type: unknown variant `open`"), "{e}");
    fs::write(&config, &good).unwrap();

    append(&s, "users", "broken-line-without-a-password\n");
    let e = reload(&s).unwrap_err();
    assert!(e.contains("users:4"), "{e}");
    edit(&s, "users", "broken-line-without-a-password\n", "");
    fs::write(&config, good.replace("cert.pem", "missing.pem")).unwrap();
    let e = reload(&s).unwrap_err();
    assert!(e.contains("missing.pem"), "{e}");
    fs::write(&config, &good).unwrap();

    // Still the old settings, and logins work.
    let (_, reply) = pop3_login(s.pop3, "alice", "secret");
    assert!(reply.starts_with("+OK"), "{reply}");
    let report = reload(&s).unwrap();
    assert_eq!(report.generation, 1, "refused reloads count for nothing");
}

#[test]
fn listeners_are_opened_and_closed_by_reload() {
    let s = server(Options::default());
    let extra = "\n[[listener]]\nkind = \"imap\"\naddress = \"127.0.0.2:0\"\n";
    append(&s, "postern.toml", extra);
    let report = reload(&s).unwrap();
    assert_eq!(report.opened.len(), 1, "{report}");
    let added = report.opened[0].1;
    assert_eq!(added.ip().to_string(), "127.0.0.2");
    let handle = s.handle.as_ref().unwrap();
    assert!(handle.addrs().contains(&(ListenerKind::Imap, added)));
    let (mut held, greeting) = Client::connect(added);
    assert!(greeting.starts_with("* OK"), "{greeting}");
    held.login("alice", "secret");

    edit(&s, "postern.toml", extra, "");
    let report = reload(&s).unwrap();
    assert_eq!(report.closed.len(), 1, "{report}");
    assert!(!handle.addrs().contains(&(ListenerKind::Imap, added)));
    // Closing happens on each worker's own loop; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpStream::connect(added) {
            Err(_) => break,
            Ok(_) if Instant::now() > deadline => panic!("{added} still accepts"),
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    // The session it accepted is unaffected, and the other listeners too.
    held.ok("SELECT INBOX");
    let (_, greeting) = Client::connect(s.imap);
    assert!(greeting.starts_with("* OK"));

    // A port that cannot be bound refuses the whole reload.
    let blocker = std::net::TcpListener::bind("127.0.0.3:0").unwrap();
    let taken = blocker.local_addr().unwrap();
    append(
        &s,
        "postern.toml",
        &format!("\n[[listener]]\nkind = \"pop3\"\naddress = \"{taken}\"\n"),
    );
    add_account(&s, "dave", "{PLAIN}davepw", "");
    let e = reload(&s).unwrap_err();
    assert!(e.contains(&taken.to_string()), "{e}");
    let (_, reply) = pop3_login(s.pop3, "dave", "davepw");
    assert!(
        reply.starts_with("-ERR"),
        "a refused reload changed accounts: {reply}"
    );
}

/// Reads until the server closes; returns what came.
fn rest_of(c: &mut Client) -> String {
    let mut v = Vec::new();
    let _ = c.reader.read_to_end(&mut v);
    String::from_utf8_lossy(&v).into_owned()
}

#[test]
fn switching_a_protocol_off_ends_live_sessions_only_when_asked() {
    let s = server(Options::default());
    let (mut imap, _) = Client::connect(s.imap);
    imap.login("alice", "secret");
    imap.ok("SELECT INBOX");
    let (mut pop, reply) = pop3_login(s.pop3, "alice", "secret");
    assert!(reply.starts_with("+OK"));

    // Off, without the option: the next login is refused, the open session goes on.
    edit(&s, "users", "::\n", ":: imap=off\n");
    reload(&s).unwrap();
    let (_, tagged) = imap_login(s.imap, "alice", "secret");
    assert!(tagged.contains("AUTHORIZATIONFAILED"), "{tagged}");
    imap.ok("NOOP");

    // On again, then off with the option: the IMAP session is told and closed, POP3 is not.
    edit(&s, "users", ":: imap=off\n", "::\n");
    reload(&s).unwrap();
    append(
        &s,
        "postern.toml",
        "\n[admin]\nend_disabled_sessions = true\n",
    );
    edit(&s, "users", "::\n", ":: imap=off\n");
    let report = reload(&s).unwrap();
    assert_eq!(report.ended, 1, "{report}");
    let bye = rest_of(&mut imap);
    assert!(
        bye.contains("* BYE [UNAVAILABLE] Disconnected by the administrator."),
        "{bye}"
    );
    assert!(pop.cmd("STAT").starts_with("+OK"));
    assert!(pop.cmd("QUIT").starts_with("+OK"));
}

#[test]
fn sessions_are_listed_and_ended_by_user_or_address() {
    let s = server(Options::default());
    let handle = s.handle.as_ref().unwrap();
    let (mut a, _) = Client::connect(s.imap);
    a.login("alice", "secret");
    let (mut b, reply) = pop3_login(s.pop3, "bob@example.org", "hunter2");
    assert!(reply.starts_with("+OK"));
    let (_c, _) = Client::connect_tls(s.imaps, &s.cert);
    let listed = handle.sessions();
    assert_eq!(listed.len(), 3, "{listed:?}");
    let alice = listed
        .iter()
        .find(|i| i.user.as_deref() == Some("alice"))
        .unwrap();
    assert_eq!((alice.kind, alice.tls), (ListenerKind::Imap, false));
    assert!(
        listed
            .iter()
            .any(|i| i.kind == ListenerKind::Imaps && i.tls && i.user.is_none())
    );

    use postern::server::Target;
    assert_eq!(handle.end_sessions(&[Target::User("alice".into())]), 1);
    assert!(rest_of(&mut a).contains("* BYE"));
    assert!(b.cmd("NOOP").starts_with("+OK"));
    let n = handle.end_sessions(&[Target::Ip("127.0.0.1".parse().unwrap())]);
    assert_eq!(n, 2);
    let rest = String::from_utf8_lossy(&b.rest()).into_owned();
    assert!(rest.starts_with("-ERR"), "{rest}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !handle.sessions().is_empty() {
        assert!(Instant::now() < deadline, "{:?}", handle.sessions());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_reloaded_retrieval_format_applies_from_the_next_login() {
    let s = server(Options::default());
    let html = b"From: a@example.org\nSubject: html only\nMIME-Version: 1.0\n\
Content-Type: text/html; charset=utf-8\n\n<html><body><p>Hello <b>there</b></p></body></html>\n";
    s.deliver("alice", &[html.to_vec()]);
    let retr = |pop: &mut Raw| {
        assert!(pop.cmd("RETR 1").starts_with("+OK"));
        String::from_utf8(pop.multiline()).unwrap()
    };
    let (mut before, _) = pop3_login(s.pop3, "alice", "secret");
    assert!(retr(&mut before).contains("<b>there</b>"));

    edit(
        &s,
        "postern.toml",
        "[pop3]\n",
        "[pop3]\nretrieval_format = \"text-only\"\n",
    );
    reload(&s).unwrap();
    assert!(before.cmd("QUIT").starts_with("+OK"));
    let (mut after, _) = pop3_login(s.pop3, "alice", "secret");
    let text = retr(&mut after);
    assert!(
        text.contains("Hello there") && !text.contains("<b>"),
        "{text}"
    );
    assert!(text.contains("Content-Type: text/plain"), "{text}");
}

#[test]
fn an_account_login_type_tightens_its_protocol() {
    let mut opts = Options::default();
    opts.accounts.push((
        "dave".into(),
        "{PLAIN}davepw".into(),
        "pop3_login_type=secure imap_login_type=plaintext-login".into(),
    ));
    let s = server(opts);
    // Cleartext passwords without TLS: the protocols allow them, dave's settings do not.
    let (_, tagged) = imap_login(s.imap, "dave", "davepw");
    assert!(tagged.contains("NO [PRIVACYREQUIRED]"), "{tagged}");
    let (_, reply) = pop3_login(s.pop3, "dave", "davepw");
    assert!(reply.starts_with("-ERR [AUTH]"), "{reply}");
    // A wrong password still reads as a wrong password.
    let (_, tagged) = imap_login(s.imap, "dave", "wrong");
    assert!(tagged.contains("AUTHENTICATIONFAILED"), "{tagged}");
    // Over TLS both work, and other accounts are unaffected.
    let (mut c, _) = Client::connect_tls(s.imaps, &s.cert);
    c.login("dave", "davepw");
    let (_, tagged) = imap_login(s.imap, "alice", "secret");
    assert!(tagged.contains("OK"), "{tagged}");
}

/// Waits until `login` succeeds: a session's place in the per-user count is given back when
/// its connection task ends, a moment after the client has seen the close.
fn eventually_logs_in(mut login: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !login() {
        assert!(
            Instant::now() < deadline,
            "the freed session place never came back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sessions_per_user_are_limited_per_protocol_and_the_limit_follows_reload() {
    let s = server(Options {
        lock_session: false,
        extra_server: "max_sessions_per_user = 2".into(),
        ..Options::default()
    });
    let (mut i1, r) = imap_login(s.imap, "alice", "secret");
    assert!(r.contains("OK"), "{r}");
    let (mut i2, r) = imap_login(s.imap, "alice", "secret");
    assert!(r.contains("OK"), "{r}");
    let (_i3, r) = imap_login(s.imap, "alice", "secret");
    assert!(r.contains("NO [LIMIT]"), "{r}");
    // The refusal comes after a correct password only: a wrong one is just wrong.
    let (_i4, r) = imap_login(s.imap, "alice", "wrong");
    assert!(r.contains("NO [AUTHENTICATIONFAILED]"), "{r}");
    // Another user, and the same user's POP3, have counts of their own.
    let (_b, r) = imap_login(s.imap, "bob@example.org", "hunter2");
    assert!(r.contains("OK"), "{r}");
    let (_p1, r) = pop3_login(s.pop3, "alice", "secret");
    assert!(r.starts_with("+OK"), "{r}");
    let (_p2, r) = pop3_login(s.pop3, "alice", "secret");
    assert!(r.starts_with("+OK"), "{r}");
    let (mut p3, r) = pop3_login(s.pop3, "alice", "secret");
    assert!(r.starts_with("-ERR [IN-USE]"), "{r}");
    // The session goes on after the refusal.
    assert!(p3.cmd("NOOP").starts_with("-ERR"), "not logged in yet");
    // A logout frees a place.
    i1.ok("LOGOUT");
    eventually_logs_in(|| imap_login(s.imap, "alice", "secret").1.contains("OK"));

    // A reload raises the limit for the next login; lowering it ends nobody.
    edit(
        &s,
        "postern.toml",
        "max_sessions_per_user = 2",
        "max_sessions_per_user = 4",
    );
    reload(&s).unwrap();
    let (_i5, r) = imap_login(s.imap, "alice", "secret");
    assert!(r.contains("OK"), "{r}");
    edit(
        &s,
        "postern.toml",
        "max_sessions_per_user = 4",
        "max_sessions_per_user = 1",
    );
    reload(&s).unwrap();
    let (_i6, r) = imap_login(s.imap, "alice", "secret");
    assert!(r.contains("NO [LIMIT]"), "{r}");
    i2.ok("NOOP");
}
