//! Server policy on the wire: the pre-login timeout (plain and before a TLS handshake),
//! certificate choice by SNI, the failed-login penalty and its timing, the command line
//! length limit, and the TLS protocol versions.

mod support;

use std::fs;
use std::io::{BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use support::{Options, Raw, TestServer, temp_dir};

/// The harness's server with only alice / secret.
fn alice_only() -> Options {
    Options {
        accounts: vec![("alice".into(), "{PLAIN}secret".into(), String::new())],
        ..Options::default()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Accepts whatever certificate the server presents (so a test can look at which one it
/// was), but still checks the handshake signatures, so the server must hold its key.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

type Tls = BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>;

/// Connects to a POP3S port with `config` and server name `name`, and reads the greeting
/// (which completes the handshake).
fn tls_connect(
    addr: std::net::SocketAddr,
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
) -> Tls {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut tls = BufReader::new(rustls::StreamOwned::new(conn, tcp));
    let greeting = support::read_line(&mut tls);
    assert!(greeting.starts_with("+OK"), "{greeting:?}");
    tls
}

fn tls_cmd(tls: &mut Tls, line: &str) -> String {
    support::tls_cmd(tls, line)
}

fn first_cert(path: &Path) -> CertificateDer<'static> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
}

fn write_cert(dir: &Path, stem: &str, names: &[&str]) -> CertificateDer<'static> {
    let names = names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    let cert = rcgen::generate_simple_self_signed(names).unwrap();
    fs::write(dir.join(format!("{stem}.pem")), cert.cert.pem()).unwrap();
    fs::write(
        dir.join(format!("{stem}.key")),
        cert.signing_key.serialize_pem(),
    )
    .unwrap();
    cert.cert.der().clone()
}

#[test]
fn preauth_timeout_closes_idle_unauthenticated_sessions() {
    let server = TestServer::start(Options {
        preauth_timeout: "1s",
        ..alice_only()
    });

    // Plain POP3: greeted, then silent.
    let start = Instant::now();
    let mut raw = Raw::connect(server.pop3);
    assert!(raw.line().starts_with("+OK"));
    let line = raw.line();
    let waited = start.elapsed();
    assert!(line.starts_with("-ERR"), "{line:?} after {waited:?}");
    assert!(
        waited >= Duration::from_millis(900) && waited <= Duration::from_secs(3),
        "closed after {waited:?}, expected about 1 s"
    );
    assert!(raw.rest().is_empty(), "the connection stays open");

    // Commands before login do not extend the deadline: it runs from the connection.
    let start = Instant::now();
    let mut raw = Raw::connect(server.pop3);
    assert!(raw.line().starts_with("+OK"));
    let mut closed_after = None;
    for _ in 0..30 {
        let r = raw.cmd("CAPA");
        if r.starts_with("-ERR") {
            closed_after = Some(start.elapsed());
            break;
        }
        assert!(r.starts_with("+OK"), "{r:?}");
        raw.multiline();
        std::thread::sleep(Duration::from_millis(200));
    }
    let closed_after = closed_after.expect("a client sending CAPA was never timed out");
    assert!(
        closed_after <= Duration::from_secs(3),
        "a busy unauthenticated client was closed only after {closed_after:?}"
    );
    assert!(raw.rest().is_empty());

    // POP3S: connected, but no TLS handshake ever starts.
    let start = Instant::now();
    let mut silent = TcpStream::connect(server.pop3s).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 64];
    let result = silent.read(&mut buf);
    let waited = start.elapsed();
    assert!(
        matches!(result, Ok(0) | Err(_)),
        "the server sent {result:?} to a client that never started TLS"
    );
    if let Err(e) = &result {
        assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "not closed within 10 s: {e}"
        );
    }
    assert!(
        waited >= Duration::from_millis(900) && waited <= Duration::from_secs(3),
        "closed after {waited:?}, expected about 1 s"
    );

    // A logged-in session is under the autologout timer, not the pre-login one.
    let mut raw = Raw::connect(server.pop3);
    assert!(raw.line().starts_with("+OK"));
    assert!(raw.cmd("USER alice").starts_with("+OK"));
    let r = raw.cmd("PASS secret");
    assert!(r.starts_with("+OK"), "{r:?}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(raw.cmd("NOOP"), "+OK\r\n");
    assert!(raw.cmd("QUIT").starts_with("+OK"));
}

#[test]
fn sni_chooses_the_certificate() {
    let dir = temp_dir("policy-sni");
    let mail_org = write_cert(&dir, "mail-org", &["mail.example.org"]);
    let wild_net = write_cert(&dir, "wild-net", &["*.example.net"]);
    let server = TestServer::start_in(
        dir,
        Options {
            tls_extra: r#"
[[tls.sni]]
domain = "mail.example.org"
cert = "mail-org.pem"
key = "mail-org.key"
[[tls.sni]]
domain = "*.example.net"
cert = "wild-net.pem"
key = "wild-net.key"
"#
            .into(),
            ..alice_only()
        },
    );
    let default = first_cert(&server.cert);
    assert_ne!(default, mail_org);
    assert_ne!(default, wild_net);

    let presented = |name: ServerName<'static>| -> CertificateDer<'static> {
        // A fresh client each time: no resumed session can carry an earlier certificate.
        let p = provider();
        let config = rustls::ClientConfig::builder_with_provider(p.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(p)))
            .with_no_client_auth();
        let mut tls = tls_connect(server.pop3s, Arc::new(config), name.clone());
        let chain = tls
            .get_ref()
            .conn
            .peer_certificates()
            .expect("the server sent no certificate")
            .to_vec();
        // The session works, too.
        assert!(tls_cmd(&mut tls, "NOOP").starts_with("-ERR"));
        assert!(tls_cmd(&mut tls, "QUIT").starts_with("+OK"));
        chain[0].clone().into_owned()
    };
    let dns = |n: &str| ServerName::try_from(n.to_owned()).unwrap();
    let which = |der: &CertificateDer<'_>| {
        if *der == default {
            "default"
        } else if *der == mail_org {
            "mail.example.org"
        } else if *der == wild_net {
            "*.example.net"
        } else {
            "unknown"
        }
    };

    let cases: [(ServerName<'static>, &CertificateDer<'static>); 7] = [
        (dns("mail.example.org"), &mail_org),
        (dns("MAIL.Example.Org"), &mail_org),
        (dns("x.example.net"), &wild_net),
        (dns("localhost"), &default),
        // A wildcard covers one label only, and not the bare parent domain.
        (dns("a.b.example.net"), &default),
        (dns("example.net"), &default),
        // No SNI at all: a client that connects by IP address sends none.
        (
            ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into()),
            &default,
        ),
    ];
    for (name, want) in cases {
        let got = presented(name.clone());
        assert!(
            got == *want,
            "SNI {name:?}: server presented the {} certificate, expected the {} one",
            which(&got),
            which(want)
        );
    }
}

/// Sends `USER user` and `PASS pass` and returns the PASS answer and how long it took.
fn timed_login(raw: &mut Raw, user: &str, pass: &str) -> (String, Duration) {
    assert!(raw.cmd(&format!("USER {user}")).starts_with("+OK"));
    let start = Instant::now();
    let r = raw.cmd(&format!("PASS {pass}"));
    (r, start.elapsed())
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

#[test]
fn failed_logins_cost_the_same_and_double_per_failure() {
    let server = TestServer::start(Options {
        failure_delay: "200ms",
        ..Options::default()
    });
    let base = Duration::from_millis(200);
    let mut attacker = Raw::connect(server.pop3);
    assert!(attacker.line().starts_with("+OK"));

    // First failure: an existing user with a wrong password.
    let (r, existing) = timed_login(&mut attacker, "alice", "wrong");
    assert!(r.starts_with("-ERR [AUTH]"), "{r:?}");

    // The owner logs in from the same address: at once, and the penalty is forgotten.
    let owner_login = |what: &str| {
        let mut owner = Raw::connect(server.pop3);
        assert!(owner.line().starts_with("+OK"));
        let (r, took) = timed_login(&mut owner, "alice", "secret");
        assert!(r.starts_with("+OK"), "{what}: {r:?}");
        assert!(
            took < Duration::from_millis(150),
            "{what}: a correct password after failures took {} ms",
            ms(took)
        );
        assert!(owner.cmd("QUIT").starts_with("+OK"));
        assert!(owner.rest().is_empty());
    };
    owner_login("after one failure");

    // First failure again (the success reset the count): a user that does not exist.
    let (r, missing) = timed_login(&mut attacker, "nobody", "wrong");
    assert_eq!(r, "-ERR [AUTH] Authentication failed.\r\n");
    assert!(
        existing >= base && missing >= base,
        "failures answered too early: existing user {} ms, unknown user {} ms",
        ms(existing),
        ms(missing)
    );
    assert!(
        existing.abs_diff(missing) < Duration::from_millis(150),
        "existing user {} ms vs unknown user {} ms: the timing tells them apart",
        ms(existing),
        ms(missing)
    );

    // Consecutive failures from the same address take longer and longer, up to the cap.
    let (_, second) = timed_login(&mut attacker, "nobody", "wrong");
    let (_, third) = timed_login(&mut attacker, "alice", "wrong");
    let (_, fourth) = timed_login(&mut attacker, "alice", "wrong");
    assert!(
        second >= missing + Duration::from_millis(100),
        "2nd failure {} ms vs 1st {} ms",
        ms(second),
        ms(missing)
    );
    assert!(
        third >= missing * 2,
        "3rd failure {} ms, not at least twice the 1st ({} ms)",
        ms(third),
        ms(missing)
    );
    assert!(
        fourth >= Duration::from_millis(950) && fourth < Duration::from_millis(1500),
        "4th failure {} ms: expected the 1 s cap",
        ms(fourth)
    );

    // A correct login still succeeds at once, and resets the penalty.
    owner_login("after four failures");
    let (r, again) = timed_login(&mut attacker, "alice", "wrong");
    assert!(r.starts_with("-ERR [AUTH]"), "{r:?}");
    assert!(
        again >= base && again < base * 2,
        "the first failure after a success took {} ms: the penalty was not reset",
        ms(again)
    );
    // The attacker's session is still usable.
    let (r, _) = timed_login(&mut attacker, "alice", "secret");
    assert!(r.starts_with("+OK"), "{r:?}");
}

#[test]
fn long_lines_are_refused_and_the_session_goes_on() {
    let server = TestServer::start(Options {
        extra_server: "max_line_length = 100".into(),
        ..Options::default()
    });
    server.deliver("alice", &[b"Subject: x\n\nbody\n".to_vec()]);
    let mut raw = Raw::connect(server.pop3);
    assert!(raw.line().starts_with("+OK"));

    // The limit counts the CRLF: 100 bytes pass, 101 do not.
    let exact = format!("USER {}", "a".repeat(93));
    assert_eq!(exact.len() + 2, 100);
    assert_eq!(raw.cmd(&exact), "+OK\r\n");
    let over = format!("USER {}", "a".repeat(94));
    assert_eq!(raw.cmd(&over), "-ERR Line too long.\r\n");

    // 150 bytes before login, then a normal login.
    let long = format!("USER {}", "b".repeat(143));
    assert_eq!(long.len() + 2, 150);
    assert_eq!(raw.cmd(&long), "-ERR Line too long.\r\n");
    assert!(raw.cmd("USER alice").starts_with("+OK"));
    let r = raw.cmd("PASS secret");
    assert!(r.starts_with("+OK"), "{r:?}");

    // 150 bytes after login, in two writes, answered once; NOOP then works.
    let long = format!("LIST {}", "1".repeat(143));
    raw.send(&long.as_bytes()[..80]);
    raw.writer.flush().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    raw.send(&long.as_bytes()[80..]);
    raw.send(b"\r\nNOOP\r\n");
    assert_eq!(raw.line(), "-ERR Line too long.\r\n");
    assert_eq!(raw.line(), "+OK\r\n");
    assert_eq!(raw.cmd("NOOP"), "+OK\r\n");
    assert!(raw.cmd("STAT").starts_with("+OK 1 "));
    assert!(raw.cmd("QUIT").starts_with("+OK"));
    assert!(raw.rest().is_empty());
}

#[test]
fn tls12_and_tls13_clients_both_work() {
    let server = TestServer::start(Options::default());
    server.deliver("alice", &[b"Subject: v\n\nversions\n".to_vec()]);
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(first_cert(&server.cert)).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = tls_connect(server.pop3s, Arc::new(config), name);
        assert_eq!(
            tls.get_ref().conn.protocol_version(),
            Some(version.version),
            "negotiated version"
        );
        assert!(tls_cmd(&mut tls, "USER alice").starts_with("+OK"));
        let r = tls_cmd(&mut tls, "PASS secret");
        assert!(r.starts_with("+OK"), "{:?}: {r:?}", version.version);
        assert!(tls_cmd(&mut tls, "RETR 1").starts_with("+OK"));
        let mut body = Vec::new();
        loop {
            let line = support::read_line(&mut tls);
            assert!(!line.is_empty(), "connection closed inside RETR");
            if line == ".\r\n" {
                break;
            }
            body.extend_from_slice(line.as_bytes());
        }
        assert_eq!(body, b"Subject: v\r\n\r\nversions\r\n");
        assert!(tls_cmd(&mut tls, "QUIT").starts_with("+OK"));
    }
}
