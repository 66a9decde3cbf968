//! PROXY protocol listeners against a real server: the client address a v1 or v2 header
//! names (IPv4 and IPv6) becomes the session's, over POP3 and IMAP, plain and implicit TLS;
//! bytes in the same packet as the header are not lost; LOCAL and UNKNOWN headers keep the
//! socket's address; the per-IP connection limit counts the header's address; connections
//! from outside `proxy_from`, malformed headers, a header of a version the listener does not
//! take, and a missing header are refused; a listener without `proxy_protocol` takes
//! `PROXY ...` for an ordinary (bad) command.

mod support;

use std::io::{BufReader, Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use postern::config::ListenerKind;
use postern::server::SessionInfo;
use support::imap::Client;
use support::{Options, Raw, TestServer, read_line, tls_cmd};

/// The PROXY listeners every test server has, in this order after the standard four.
const LISTENERS: &str = r#"
[[listener]]
kind = "pop3"
address = "127.0.0.1:0"
proxy_protocol = "any"
proxy_from = ["127.0.0.1"]
[[listener]]
kind = "imap"
address = "127.0.0.1:0"
proxy_protocol = "any"
proxy_from = ["10.0.0.0/8", "127.0.0.0/8"]
[[listener]]
kind = "pop3s"
address = "127.0.0.1:0"
proxy_protocol = "v2"
proxy_from = ["127.0.0.1"]
[[listener]]
kind = "imaps"
address = "127.0.0.1:0"
proxy_protocol = "v1"
proxy_from = ["::1", "127.0.0.1/32"]
[[listener]]
kind = "pop3"
address = "127.0.0.1:0"
proxy_protocol = "any"
proxy_from = ["10.9.9.9", "::1"]
"#;

struct Proxied {
    server: TestServer,
    pop3: SocketAddr,
    imap: SocketAddr,
    pop3s: SocketAddr,
    imaps: SocketAddr,
    untrusted: SocketAddr,
}

fn start(opts: Options) -> Proxied {
    let server = TestServer::start(Options {
        extra_listeners: LISTENERS.into(),
        ..opts
    });
    let a = server.extra_addrs();
    assert_eq!(a.len(), 5);
    Proxied {
        pop3: a[0],
        imap: a[1],
        pop3s: a[2],
        imaps: a[3],
        untrusted: a[4],
        server,
    }
}

fn v1(src: &str, dst: &str) -> Vec<u8> {
    let (src, dst): (SocketAddr, SocketAddr) = (src.parse().unwrap(), dst.parse().unwrap());
    let family = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {family} {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    )
    .into_bytes()
}

/// A v2 PROXY (command 1) or LOCAL (0) header; `tlvs` are appended after the addresses.
fn v2(command: u8, src: &str, dst: &str, tlvs: &[u8]) -> Vec<u8> {
    let (src, dst): (SocketAddr, SocketAddr) = (src.parse().unwrap(), dst.parse().unwrap());
    let mut addresses = Vec::new();
    let family = match (src, dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            addresses.extend_from_slice(&s.ip().octets());
            addresses.extend_from_slice(&d.ip().octets());
            0x11
        }
        (SocketAddr::V6(s), SocketAddr::V6(d)) => {
            addresses.extend_from_slice(&s.ip().octets());
            addresses.extend_from_slice(&d.ip().octets());
            0x21
        }
        _ => panic!("mixed families"),
    };
    addresses.extend_from_slice(&src.port().to_be_bytes());
    addresses.extend_from_slice(&dst.port().to_be_bytes());
    addresses.extend_from_slice(tlvs);
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.push(0x20 | command);
    h.push(family);
    h.extend_from_slice(&(addresses.len() as u16).to_be_bytes());
    h.extend_from_slice(&addresses);
    h
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// A raw line client that sent `first` as its first packet.
fn raw_after(addr: SocketAddr, first: &[u8]) -> Raw {
    let mut s = connect(addr);
    s.write_all(first).unwrap();
    Raw {
        reader: BufReader::new(s.try_clone().unwrap()),
        writer: s,
    }
}

/// Waits (briefly) for a session matching `pred`, and returns it.
fn session(p: &Proxied, pred: impl Fn(&SessionInfo) -> bool) -> SessionInfo {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let sessions = p.server.handle.as_ref().unwrap().sessions();
        if let Some(s) = sessions.iter().find(|s| pred(s)) {
            return s.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no such session in {sessions:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn peer(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The server closes the connection without sending a byte.
fn refused(mut stream: TcpStream) {
    let mut got = Vec::new();
    match stream.read_to_end(&mut got) {
        Ok(_) => assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got)),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
}

#[test]
fn pop3_v1_ipv4_then_login() {
    let p = start(Options::default());
    let mut c = raw_after(p.pop3, &v1("192.0.2.7:56324", "198.51.100.1:110"));
    assert!(c.line().starts_with("+OK"));
    let s = session(&p, |s| s.peer == peer("192.0.2.7:56324"));
    assert_eq!(s.kind, ListenerKind::Pop3);
    assert!(!s.tls);
    assert!(c.cmd("USER alice").starts_with("+OK"));
    assert!(c.cmd("PASS secret").starts_with("+OK"));
    session(&p, |s| {
        s.peer == peer("192.0.2.7:56324") && s.user.as_deref() == Some("alice")
    });
    assert!(c.cmd("QUIT").starts_with("+OK"));
}

#[test]
fn pop3_v2_ipv6_with_the_first_command_in_the_same_packet() {
    let p = start(Options::default());
    let mut first = v2(1, "[2001:db8::7]:40000", "[2001:db8::1]:110", &[]);
    first.extend_from_slice(b"CAPA\r\n");
    let mut c = raw_after(p.pop3, &first);
    assert!(c.line().starts_with("+OK"), "greeting");
    assert!(c.line().starts_with("+OK"), "CAPA answered");
    let capa = c.multiline();
    assert!(String::from_utf8_lossy(&capa).contains("USER"));
    session(&p, |s| s.peer == peer("[2001:db8::7]:40000"));
}

#[test]
fn imap_v1_ipv6_and_v2_ipv4_with_tlvs_and_a_pipelined_command() {
    let p = start(Options::default());
    let mut s = connect(p.imap);
    s.write_all(&v1("[2001:db8::9]:1234", "[2001:db8::1]:143"))
        .unwrap();
    let (mut a, greeting) = Client::over(Box::new(s));
    assert!(greeting.starts_with("* OK"), "{greeting}");
    a.login("alice", "secret");
    let found = session(&p, |s| s.user.as_deref() == Some("alice"));
    assert_eq!(found.peer, peer("[2001:db8::9]:1234"));
    assert_eq!(found.kind, ListenerKind::Imap);

    // ALPN and NOOP TLVs, then a command, all in one packet; an IPv4-mapped address.
    let tlvs = [0x01, 0x00, 0x04, b'i', b'm', b'a', b'p', 0x04, 0x00, 0x00];
    let mut first = v2(1, "10.1.2.3:5000", "10.0.0.1:143", &tlvs);
    first.extend_from_slice(b"p1 CAPABILITY\r\n");
    let mut s = connect(p.imap);
    s.write_all(&first).unwrap();
    let (mut b, greeting) = Client::over(Box::new(s));
    assert!(greeting.starts_with("* OK"), "{greeting}");
    let (untagged, tagged) = b.until_tagged("p1");
    assert!(tagged.starts_with("p1 OK"), "{tagged}");
    assert!(String::from_utf8_lossy(&untagged[0]).starts_with("* CAPABILITY"));
    session(&p, |s| s.peer == peer("10.1.2.3:5000"));

    let mapped: Ipv6Addr = "::ffff:10.4.5.6".parse().unwrap();
    let mut s = connect(p.imap);
    s.write_all(&v1(&format!("[{mapped}]:7"), "[::1]:143"))
        .unwrap();
    let (_c, greeting) = Client::over(Box::new(s));
    assert!(greeting.starts_with("* OK"), "{greeting}");
    // Counted, listed and kicked as the IPv4 address it carries.
    session(&p, |s| s.peer == peer("10.4.5.6:7"));
}

#[test]
fn pop3s_v2_header_and_client_hello_in_one_packet() {
    let p = start(Options::default());
    let name = rustls_pki_types::ServerName::try_from("localhost".to_owned()).unwrap();
    let mut tls = rustls::ClientConnection::new(support::client_tls(&p.server.cert), name).unwrap();
    let mut first = v2(1, "203.0.113.5:61000", "198.51.100.1:995", &[]);
    tls.write_tls(&mut first).unwrap();
    let mut s = connect(p.pop3s);
    s.write_all(&first).unwrap();
    let mut c = BufReader::new(rustls::StreamOwned::new(tls, s));
    assert!(read_line(&mut c).starts_with("+OK"));
    let found = session(&p, |s| s.peer == peer("203.0.113.5:61000"));
    assert!(found.tls);
    assert_eq!(found.kind, ListenerKind::Pop3s);
    assert!(tls_cmd(&mut c, "USER bob@example.org").starts_with("+OK"));
    assert!(tls_cmd(&mut c, "PASS hunter2").starts_with("+OK"));
    session(&p, |s| {
        s.user.as_deref() == Some("bob@example.org") && s.tls
    });
}

#[test]
fn imaps_v1_header_before_the_handshake() {
    let p = start(Options::default());
    let mut s = connect(p.imaps);
    s.write_all(&v1("198.18.0.1:4444", "198.51.100.1:993"))
        .unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost".to_owned()).unwrap();
    let tls = rustls::ClientConnection::new(support::client_tls(&p.server.cert), name).unwrap();
    let (mut c, greeting) = Client::over(Box::new(rustls::StreamOwned::new(tls, s)));
    assert!(greeting.starts_with("* OK"), "{greeting}");
    c.login("alice", "secret");
    let found = session(&p, |s| s.user.as_deref() == Some("alice"));
    assert_eq!(found.peer, peer("198.18.0.1:4444"));
    assert!(found.tls);
}

#[test]
fn local_and_unknown_keep_the_socket_address() {
    let p = start(Options::default());
    let mut local = v2(0, "192.0.2.99:1", "192.0.2.98:2", &[]);
    local.extend_from_slice(b"CAPA\r\n");
    let mut a = raw_after(p.pop3, &local);
    assert!(a.line().starts_with("+OK"));
    assert!(a.line().starts_with("+OK"), "CAPA after a LOCAL header");
    let own = a.writer.local_addr().unwrap();
    session(&p, |s| s.peer == own);

    let mut b = raw_after(p.pop3, b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n");
    assert!(b.line().starts_with("+OK"));
    let own = b.writer.local_addr().unwrap();
    session(&p, |s| s.peer == own);
    assert!(
        !p.server
            .handle
            .as_ref()
            .unwrap()
            .sessions()
            .iter()
            .any(|s| s.peer.ip() == peer("192.0.2.99:1").ip()),
        "a LOCAL header's addresses are ignored"
    );
}

#[test]
fn per_ip_limit_counts_the_client_not_the_proxy() {
    let p = start(Options {
        extra_server: "max_connections_per_ip = 2".into(),
        ..Options::default()
    });
    let header = v1("192.0.2.50:1000", "198.51.100.1:110");
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut c = raw_after(p.pop3, &header);
        assert!(c.line().starts_with("+OK"));
        open.push(c);
    }
    let mut third = raw_after(p.pop3, &header);
    assert_eq!(
        third.line(),
        "-ERR [SYS/TEMP] Too many connections from your IP address.\r\n"
    );
    // Other clients behind the same proxy are not affected.
    for n in 0..3 {
        let mut c = raw_after(
            p.pop3,
            &v1(&format!("192.0.2.{n}:1000"), "198.51.100.1:110"),
        );
        assert!(c.line().starts_with("+OK"));
        open.push(c);
    }
}

#[test]
fn refused_connections() {
    let p = start(Options::default());
    // From an address outside proxy_from, even with a good header.
    let mut s = connect(p.untrusted);
    let _ = s.write_all(&v1("192.0.2.7:1", "192.0.2.8:2"));
    refused(s);
    // Malformed headers, or none.
    let bad: Vec<Vec<u8>> = vec![
        b"PROXY TCP4 192.0.2.7 192.0.2.8 1\r\n".to_vec(),
        b"PROXY TCP4 ::1 ::1 1 2\r\n".to_vec(),
        b"PROXY TCP4 192.0.2.7 192.0.2.8 1 2\n".to_vec(),
        b"CAPA\r\n".to_vec(),
        format!("PROXY UNKNOWN {}\r\n", "x".repeat(100)).into_bytes(),
        {
            let mut h = v2(1, "192.0.2.7:1", "192.0.2.8:2", &[]);
            h[15] = 8; // too short for two IPv4 addresses
            h.truncate(24);
            h
        },
        {
            let mut h = v2(1, "192.0.2.7:1", "192.0.2.8:2", &[0x01, 0x00, 0x09, b'x']);
            h.extend_from_slice(b"CAPA\r\n");
            h
        },
    ];
    for header in &bad {
        let mut s = connect(p.pop3);
        s.write_all(header).unwrap();
        refused(s);
    }
    // A header of a version the listener does not take: v1 on pop3s (v2 only), v2 on
    // imaps (v1 only).
    let mut s = connect(p.pop3s);
    s.write_all(&v1("192.0.2.7:1", "192.0.2.8:2")).unwrap();
    refused(s);
    let mut s = connect(p.imaps);
    s.write_all(&v2(1, "192.0.2.7:1", "192.0.2.8:2", &[]))
        .unwrap();
    refused(s);
    // A header that ends with the connection.
    let mut s = connect(p.imap);
    s.write_all(b"PROXY TCP4 192.0.2.7").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    refused(s);
    std::thread::sleep(Duration::from_millis(100));
    assert!(p.server.handle.as_ref().unwrap().sessions().is_empty());
}

#[test]
fn a_header_that_never_ends_times_out() {
    let p = start(Options {
        preauth_timeout: "1s",
        ..Options::default()
    });
    let started = Instant::now();
    let mut s = connect(p.pop3);
    s.write_all(b"PROXY TCP4 192.0.2.7 ").unwrap();
    refused(s);
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn without_proxy_protocol_a_header_is_a_bad_command() {
    let p = start(Options::default());
    let header = v1("192.0.2.7:56324", "198.51.100.1:110");
    let mut c = Raw::connect(p.server.pop3);
    assert!(c.line().starts_with("+OK"));
    c.send(&header);
    assert!(c.line().starts_with("-ERR"));
    let own = c.writer.local_addr().unwrap();
    session(&p, |s| s.peer == own);

    let (mut i, greeting) = Client::connect(p.server.imap);
    assert!(greeting.starts_with("* OK"));
    i.send(&header);
    let answer = String::from_utf8_lossy(&i.response()).into_owned();
    assert!(answer.starts_with("PROXY BAD"), "{answer}");
    assert!(
        !p.server
            .handle
            .as_ref()
            .unwrap()
            .sessions()
            .iter()
            .any(|s| s.peer == peer("192.0.2.7:56324"))
    );
}

#[test]
fn a_reload_that_changes_proxy_from_reopens_the_listener() {
    let p = start(Options::default());
    let handle = p.server.handle.as_ref().unwrap();
    let path = p.server.dir.join("postern.toml");
    handle.set_config_path(&path);
    let text = std::fs::read_to_string(&path).unwrap();
    let from = r#"proxy_from = ["10.9.9.9", "::1"]"#;
    assert!(text.contains(from));
    // (Not the same as another listener's settings: on port 0 that would be the same
    // listener, already open.)
    let to = r#"proxy_from = ["10.9.9.9", "127.0.0.1"]"#;
    std::fs::write(&path, text.replace(from, to)).unwrap();
    let report = handle.reload().unwrap();
    assert_eq!(report.closed.len(), 1, "{report}");
    assert_eq!(report.opened.len(), 1, "{report}");
    let (config, bound) = &report.opened[0];
    assert!(config.proxy_trusted("127.0.0.1".parse().unwrap()));
    let mut c = raw_after(*bound, &v1("192.0.2.77:9", "198.51.100.1:110"));
    assert!(c.line().starts_with("+OK"));
    session(&p, |s| s.peer == peer("192.0.2.77:9"));
}
