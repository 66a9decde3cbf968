//! The real POP3 server on loopback, spoken to byte by byte: the corpus byte-exact, TOP,
//! deletion only at QUIT, pipelining, STLS injection, limits, bad input and concurrency.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::{Options, Raw, TestServer, corpus, crlf};

fn login(raw: &mut Raw, user: &str, pass: &str) {
    assert!(raw.line().starts_with("+OK"));
    assert!(raw.cmd(&format!("USER {user}")).starts_with("+OK"));
    let r = raw.cmd(&format!("PASS {pass}"));
    assert!(r.starts_with("+OK"), "{r}");
}

fn stat(raw: &mut Raw) -> (usize, u64) {
    let r = raw.cmd("STAT");
    let mut it = r.split_whitespace().skip(1);
    (
        it.next().unwrap().parse().unwrap(),
        it.next().unwrap().parse().unwrap(),
    )
}

#[test]
fn corpus_is_retrieved_byte_exact_and_top_is_right() {
    let server = TestServer::start(Options::default());
    let corpus = corpus();
    let messages: Vec<Vec<u8>> = corpus.iter().map(|(_, b)| b.clone()).collect();
    server.deliver("alice", &messages);
    let mut raw = Raw::connect(server.pop3);
    login(&mut raw, "alice", "secret");
    let (count, total) = stat(&mut raw);
    assert_eq!(count, messages.len());
    // Delivered in name order = the order the store assigns UIDs.
    let expected_total: u64 = messages.iter().map(|m| crlf(m).len() as u64).sum();
    assert_eq!(total, expected_total);
    assert!(raw.cmd("LIST").starts_with("+OK"));
    let list = raw.multiline();
    let sizes: Vec<u64> = String::from_utf8(list)
        .unwrap()
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    for (i, m) in messages.iter().enumerate() {
        let r = raw.cmd(&format!("RETR {}", i + 1));
        assert!(r.starts_with("+OK"), "{r}");
        let got = raw.multiline();
        let mut want = crlf(m);
        assert_eq!(
            sizes[i],
            want.len() as u64,
            "LIST size of {:?}",
            corpus[i].0
        );
        if !want.ends_with(b"\r\n") {
            want.extend_from_slice(b"\r\n");
        }
        assert!(got == want, "RETR {} differs for {:?}", i + 1, corpus[i].0);

        // TOP n 2: the header, the blank line, two body lines.
        let r = raw.cmd(&format!("TOP {} 2", i + 1));
        assert!(r.starts_with("+OK"), "{r}");
        let top = raw.multiline();
        let want = crlf(m);
        let header_end = find(&want, b"\r\n\r\n").map(|p| p + 4);
        let expected = match header_end {
            Some(h) => {
                let mut end = h;
                for _ in 0..2 {
                    match find(&want[end..], b"\r\n") {
                        Some(p) => end += p + 2,
                        None => end = want.len(),
                    }
                }
                want[..end].to_vec()
            }
            None => want.clone(),
        };
        let mut expected = expected;
        if !expected.ends_with(b"\r\n") {
            expected.extend_from_slice(b"\r\n");
        }
        assert!(
            top == expected,
            "TOP {} 2 differs for {:?}",
            i + 1,
            corpus[i].0
        );
    }
    assert!(raw.cmd("QUIT").starts_with("+OK"));
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn deletions_happen_only_at_quit() {
    let server = TestServer::start(Options::default());
    let files = server.deliver(
        "alice",
        &[
            b"Subject: a\n\none\n".to_vec(),
            b"Subject: b\n\ntwo\n".to_vec(),
        ],
    );
    assert_eq!(files.len(), 2);
    let count_files = || {
        std::fs::read_dir(server.maildir("alice").join("cur"))
            .unwrap()
            .count()
    };

    // A dropped connection deletes nothing.
    let mut raw = Raw::connect(server.pop3);
    login(&mut raw, "alice", "secret");
    assert!(raw.cmd("DELE 1").starts_with("+OK"));
    assert!(raw.cmd("RETR 1").starts_with("-ERR"));
    drop(raw);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(count_files(), 2);

    // RSET undoes DELE.
    let mut raw = Raw::connect(server.pop3);
    login(&mut raw, "alice", "secret");
    assert!(raw.cmd("DELE 1").starts_with("+OK"));
    assert!(raw.cmd("RSET").starts_with("+OK"));
    assert_eq!(stat(&mut raw).0, 2);
    assert!(raw.cmd("DELE 2").starts_with("+OK"));
    assert_eq!(stat(&mut raw).0, 1);
    assert!(raw.cmd("QUIT").starts_with("+OK"));
    assert_eq!(count_files(), 1);

    // The UIDL of the survivor is unchanged in the next session.
    let mut raw = Raw::connect(server.pop3);
    login(&mut raw, "alice", "secret");
    assert_eq!(stat(&mut raw).0, 1);
    assert!(raw.cmd("QUIT").starts_with("+OK"));
}

#[test]
fn second_session_gets_in_use() {
    let server = TestServer::start(Options::default());
    server.deliver("alice", &[b"Subject: x\n\nbody\n".to_vec()]);
    let mut first = Raw::connect(server.pop3);
    login(&mut first, "alice", "secret");
    let mut second = Raw::connect(server.pop3);
    assert!(second.line().starts_with("+OK"));
    second.cmd("USER alice");
    let r = second.cmd("PASS secret");
    assert!(r.starts_with("-ERR [IN-USE]"), "{r}");
    assert!(first.cmd("QUIT").starts_with("+OK"));
    // Released at QUIT.
    let mut third = Raw::connect(server.pop3);
    login(&mut third, "alice", "secret");
}

#[test]
fn a_thousand_pipelined_retrs() {
    let server = TestServer::start(Options::default());
    let messages: Vec<Vec<u8>> = (0..10)
        .map(|i| format!("Subject: m{i}\n\n.dot line\nbody {i}\n").into_bytes())
        .collect();
    server.deliver("alice", &messages);
    let mut raw = Raw::connect(server.pop3);
    login(&mut raw, "alice", "secret");
    let mut batch = String::new();
    for i in 0..1000 {
        batch.push_str(&format!("RETR {}\r\n", i % 10 + 1));
    }
    raw.send(batch.as_bytes());
    for i in 0..1000 {
        let r = raw.line();
        assert!(r.starts_with("+OK"), "reply {i}: {r}");
        let body = raw.multiline();
        let mut want = crlf(&messages[i % 10]);
        if !want.ends_with(b"\r\n") {
            want.extend_from_slice(b"\r\n");
        }
        assert_eq!(body, want);
    }
    assert!(raw.cmd("QUIT").starts_with("+OK"));
}

#[test]
fn bad_input_gets_errors_and_the_session_goes_on() {
    let server = TestServer::start(Options::default());
    server.deliver("alice", &[b"Subject: x\n\nbody\n".to_vec()]);
    let mut raw = Raw::connect(server.pop3);
    assert!(raw.line().starts_with("+OK"));
    assert!(raw.cmd("FROB").starts_with("-ERR"));
    assert!(raw.cmd("STAT").starts_with("-ERR"), "STAT before login");
    assert!(raw.cmd("PASS x").starts_with("-ERR"), "PASS before USER");
    let long = "USER ".to_owned() + &"a".repeat(5000);
    let r = raw.cmd(&long);
    assert!(r.starts_with("-ERR"), "{r}");
    raw.send(b"\x00\xff\xfe garbage \x01\x02\r\n");
    assert!(raw.line().starts_with("-ERR"));
    login_after_greeting(&mut raw);
    for bad in [
        "RETR 0",
        "RETR -1",
        "RETR 99",
        "RETR x",
        "RETR 99999999999999999999",
        "TOP 1",
        "DELE",
        "LIST 7",
    ] {
        let r = raw.cmd(bad);
        assert!(r.starts_with("-ERR"), "{bad}: {r}");
    }
    assert!(raw.cmd("NOOP").starts_with("+OK"));
    assert!(raw.cmd("QUIT").starts_with("+OK"));
}

fn login_after_greeting(raw: &mut Raw) {
    assert!(raw.cmd("USER alice").starts_with("+OK"));
    assert!(raw.cmd("PASS secret").starts_with("+OK"));
}

#[test]
fn too_many_bad_commands_close_the_session() {
    let server = TestServer::start(Options::default());
    let mut raw = Raw::connect(server.pop3);
    assert!(raw.line().starts_with("+OK"));
    let mut closed = false;
    for _ in 0..40 {
        // Once the server has closed, the next command may meet a reset instead of EOF.
        let r = match raw.try_cmd("BOGUS") {
            Ok(r) if !r.is_empty() => r,
            _ => {
                closed = true;
                break;
            }
        };
        assert!(r.starts_with("-ERR"), "{r}");
    }
    assert!(closed, "the session should end after too many bad commands");
}

#[test]
fn disconnect_mid_retr_loses_nothing() {
    let server = TestServer::start(Options::default());
    let big: Vec<u8> = (0..200_000)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    let mut message = b"Subject: big\n\n".to_vec();
    message.extend_from_slice(&big);
    server.deliver("alice", &[message.clone(), message]);
    let mut raw = Raw::connect(server.pop3);
    login(&mut raw, "alice", "secret");
    raw.cmd("DELE 2");
    raw.send(b"RETR 1\r\n");
    let mut some = [0u8; 1000];
    raw.reader.read_exact(&mut some).unwrap();
    raw.writer.shutdown(std::net::Shutdown::Both).unwrap();
    drop(raw);
    std::thread::sleep(Duration::from_millis(300));
    // The lock was released and both messages are still there.
    let mut raw = Raw::connect(server.pop3);
    login(&mut raw, "alice", "secret");
    assert_eq!(stat(&mut raw).0, 2);
}

#[test]
fn stls_discards_pipelined_plaintext() {
    let server = TestServer::start(Options {
        login_type: "secure",
        ..Options::default()
    });
    let stream = TcpStream::connect(server.pop3).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut plain = std::io::BufReader::new(stream.try_clone().unwrap());
    assert!(support::read_line(&mut plain).starts_with("+OK"));
    // An attacker's injection rides in the same packet as STLS.
    (&stream)
        .write_all(b"STLS\r\nUSER alice\r\nPASS secret\r\n")
        .unwrap();
    let r = support::read_line(&mut plain);
    assert!(r.starts_with("+OK"), "{r}");
    assert_eq!(plain.buffer().len(), 0, "nothing after the STLS answer");
    let mut tls = support::tls_wrap(stream, &server.cert, "localhost");
    // Had the injected USER/PASS run, this session would be logged in already.
    let r = support::tls_cmd(&mut tls, "STAT");
    assert!(r.starts_with("-ERR"), "{r}");
    assert!(support::tls_cmd(&mut tls, "USER alice").starts_with("+OK"));
    assert!(support::tls_cmd(&mut tls, "PASS secret").starts_with("+OK"));
    assert!(support::tls_cmd(&mut tls, "STLS").starts_with("-ERR"));
    assert!(support::tls_cmd(&mut tls, "QUIT").starts_with("+OK"));
}

#[test]
fn connection_limit_per_ip_says_why() {
    let server = TestServer::start(Options {
        extra_server: "max_connections_per_ip = 3".into(),
        ..Options::default()
    });
    let mut held: Vec<Raw> = (0..3).map(|_| Raw::connect(server.pop3)).collect();
    for r in &mut held {
        assert!(r.line().starts_with("+OK"));
    }
    let mut over = Raw::connect(server.pop3);
    let r = over.line();
    assert!(r.starts_with("-ERR [SYS/TEMP]"), "{r}");
    assert!(over.rest().is_empty());
    drop(held.pop());
    std::thread::sleep(Duration::from_millis(200));
    let mut again = Raw::connect(server.pop3);
    assert!(again.line().starts_with("+OK"));
}

#[test]
fn a_thousand_concurrent_sessions() {
    const SESSIONS: usize = 1000;
    const THREADS: usize = 10;
    let server = TestServer::start(Options {
        lock_session: false,
        extra_server: "max_connections_per_ip = 5000".into(),
        ..Options::default()
    });
    let messages: Vec<Vec<u8>> = (0..5)
        .map(|i| format!("Subject: m{i}\n\nhello {i}\n").into_bytes())
        .collect();
    server.deliver("alice", &messages);
    let addr = server.pop3;
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let messages = messages.clone();
            std::thread::spawn(move || {
                // Every session of this thread is open at the same time.
                let mut conns: Vec<Raw> = (0..SESSIONS / THREADS)
                    .map(|_| Raw::connect(addr))
                    .collect();
                for c in &mut conns {
                    assert!(c.line().starts_with("+OK"));
                }
                for c in &mut conns {
                    c.send(b"USER alice\r\nPASS secret\r\nSTAT\r\nRETR 3\r\n");
                }
                for c in &mut conns {
                    assert!(c.line().starts_with("+OK"));
                    let r = c.line();
                    assert!(r.starts_with("+OK"), "{r}");
                    assert!(c.line().starts_with("+OK 5 "));
                    assert!(c.line().starts_with("+OK"));
                    assert_eq!(c.multiline(), crlf(&messages[2]));
                }
                for c in &mut conns {
                    assert!(c.cmd("QUIT").starts_with("+OK"));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn login_delay_and_expire_are_advertised_and_enforced() {
    let server = TestServer::start(Options {
        extra_pop3: "login_delay = 300\nexpire = \"NEVER\"".into(),
        ..Options::default()
    });
    server.deliver("alice", &[b"Subject: x\n\nbody\n".to_vec()]);
    let mut raw = Raw::connect(server.pop3);
    assert!(raw.line().starts_with("+OK"));
    assert!(raw.cmd("CAPA").starts_with("+OK"));
    let capa = String::from_utf8(raw.multiline()).unwrap();
    assert!(capa.contains("LOGIN-DELAY 300\r\n"), "{capa}");
    assert!(capa.contains("EXPIRE NEVER\r\n"), "{capa}");
    login_after_greeting(&mut raw);
    assert!(raw.cmd("QUIT").starts_with("+OK"));
    // A second login within the delay is refused with the RFC 2449 response code.
    let mut again = Raw::connect(server.pop3);
    assert!(again.line().starts_with("+OK"));
    again.cmd("USER alice");
    let r = again.cmd("PASS secret");
    assert!(r.starts_with("-ERR [LOGIN-DELAY]"), "{r}");
}

#[test]
fn corpus_is_retrieved_byte_exact_over_tls() {
    use std::io::BufRead;
    let server = TestServer::start(Options::default());
    let messages: Vec<Vec<u8>> = corpus().into_iter().map(|(_, b)| b).collect();
    server.deliver("alice", &messages);
    let stream = TcpStream::connect(server.pop3s).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut tls = support::tls_wrap(stream, &server.cert, "localhost");
    assert!(support::read_line(&mut tls).starts_with("+OK"));
    assert!(support::tls_cmd(&mut tls, "USER alice").starts_with("+OK"));
    assert!(support::tls_cmd(&mut tls, "PASS secret").starts_with("+OK"));
    // All RETRs pipelined in one write: the server streams a few megabytes through TLS.
    let mut batch = String::new();
    for i in 1..=messages.len() {
        batch.push_str(&format!("RETR {i}\r\n"));
    }
    tls.get_mut().write_all(batch.as_bytes()).unwrap();
    tls.get_mut().flush().unwrap();
    for (i, m) in messages.iter().enumerate() {
        assert!(
            support::read_line(&mut tls).starts_with("+OK"),
            "RETR {}",
            i + 1
        );
        let mut got = Vec::new();
        loop {
            let mut l = Vec::new();
            tls.read_until(b'\n', &mut l).unwrap();
            assert!(!l.is_empty(), "closed inside message {}", i + 1);
            if l == b".\r\n" {
                break;
            }
            got.extend_from_slice(if l.starts_with(b"..") { &l[1..] } else { &l });
        }
        let mut want = crlf(m);
        if !want.ends_with(b"\r\n") {
            want.extend_from_slice(b"\r\n");
        }
        assert!(got == want, "message {} differs over TLS", i + 1);
    }
    assert!(support::tls_cmd(&mut tls, "QUIT").starts_with("+OK"));
}

#[test]
fn reads_fall_back_when_the_buffer_ring_is_empty() {
    // A ring of one buffer per worker: hundreds of connections receiving at the same moment
    // must borrow in turn or fall back to their own buffers, and lose nothing either way.
    let server = TestServer::start(Options {
        lock_session: false,
        extra_server: "read_buffers = 1\nmax_connections_per_ip = 5000".into(),
        ..Options::default()
    });
    let message = b"Subject: ring\n\nbody\n".to_vec();
    server.deliver("alice", std::slice::from_ref(&message));
    let mut conns: Vec<Raw> = (0..300).map(|_| Raw::connect(server.pop3)).collect();
    for c in &mut conns {
        assert!(c.line().starts_with("+OK"));
    }
    for c in &mut conns {
        c.send(b"USER alice\r\nPASS secret\r\nRETR 1\r\nQUIT\r\n");
    }
    for c in &mut conns {
        assert!(c.line().starts_with("+OK"));
        assert!(c.line().starts_with("+OK"));
        assert!(c.line().starts_with("+OK"));
        assert_eq!(c.multiline(), crlf(&message));
        assert!(c.line().starts_with("+OK"));
    }
}

#[test]
fn shutdown_with_thousands_of_sessions_is_prompt() {
    // Closing wakes every session; with thousands of them this once spun forever on the
    // runtime's full cross-thread queue. Each worker now relays the phase to its own sessions.
    let mut server = TestServer::start(Options {
        extra_server: "max_connections_per_ip = 10000".into(),
        ..Options::default()
    });
    let mut conns: Vec<Raw> = (0..3000).map(|_| Raw::connect(server.pop3)).collect();
    for c in &mut conns {
        assert!(c.line().starts_with("+OK"));
    }
    let handle = server.handle.take().unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        handle.shutdown_with_grace(Duration::from_millis(200));
        let _ = done_tx.send(());
    });
    assert!(
        done_rx.recv_timeout(Duration::from_secs(30)).is_ok(),
        "shutdown with 3000 sessions did not finish"
    );
    for c in &mut conns {
        assert_eq!(c.line(), "-ERR [SYS/TEMP] Server shutting down.\r\n");
    }
}
