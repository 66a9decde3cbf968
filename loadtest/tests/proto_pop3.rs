//! The POP3 client against scripted servers over an in-memory pipe: dot-unstuffing and very
//! long lines in RETR, listings, and broken servers, which must give errors, never panics
//! or hangs.

use std::time::Duration;

use postern_load::proto::Wire;
use postern_load::proto::pop3::Pop3;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A peer that answers each expected client line (checked) with canned bytes.
fn scripted(greeting: &[u8], script: Vec<(&'static str, Vec<u8>)>) -> Wire {
    let (client, server) = tokio::io::duplex(1 << 20);
    let greeting = greeting.to_vec();
    tokio::spawn(async move {
        let (r, mut w) = tokio::io::split(server);
        let mut r = BufReader::new(r);
        w.write_all(&greeting).await.unwrap();
        for (expect, reply) in script {
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            assert_eq!(line.trim_end(), expect);
            w.write_all(&reply).await.unwrap();
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    Wire::new(Box::new(client), Duration::from_secs(2))
}

#[tokio::test]
async fn a_session_with_tricky_bodies() {
    let mut long = b"+OK 100010 octets\r\n".to_vec();
    long.extend(std::iter::repeat_n(b'y', 100_000));
    long.extend_from_slice(b"\r\n..\r\n.\r\n");
    let wire = scripted(
        b"+OK Dovecot (Debian) ready.\r\n",
        vec![
            ("USER carol", b"+OK\r\n".to_vec()),
            ("PASS pw", b"+OK Logged in.\r\n".to_vec()),
            ("STAT", b"+OK 2 100032\r\n".to_vec()),
            (
                "LIST",
                b"+OK 2 messages:\r\n1 22\r\n2 100006\r\n.\r\n".to_vec(),
            ),
            (
                "UIDL",
                b"+OK\r\n1 000000016b09d1c3\r\n2 000000026b09d1c3\r\n.\r\n".to_vec(),
            ),
            (
                "RETR 1",
                b"+OK 22 octets\r\n..\r\n...x\r\nend.\r\n.\r\n".to_vec(),
            ),
            ("RETR 2", long),
            ("RSET", b"+OK\r\n".to_vec()),
            ("QUIT", b"+OK Logging out.\r\n".to_vec()),
        ],
    );
    let mut pop = Pop3::greet(wire).await.unwrap();
    assert_eq!(pop.greeting, "Dovecot (Debian) ready.");
    pop.user_pass("carol", "pw").await.unwrap();
    assert_eq!(pop.stat().await.unwrap(), (2, 100_032));
    assert_eq!(pop.list().await.unwrap(), vec![(1, 22), (2, 100_006)]);
    assert_eq!(pop.uidl().await.unwrap()[1].1, "000000026b09d1c3");
    let one = pop.retr(1, true).await.unwrap();
    // ".." → ".", "...x" → "..x", a dot later in a line stays; ".\r\n" alone ends it.
    assert_eq!(one.bytes.as_deref(), Some(&b".\r\n..x\r\nend.\r\n"[..]));
    assert_eq!(one.len, 14);
    let two = pop.retr(2, false).await.unwrap();
    assert_eq!(two.len, 100_000 + 2 + 3);
    assert!(two.bytes.is_none());
    pop.rset().await.unwrap();
    pop.quit().await.unwrap();
}

#[tokio::test]
async fn broken_servers_give_errors() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"+OK\r\nbody\r\n".to_vec(), "timeout"),
        (b"-ERR no such message\r\n".to_vec(), "protocol"),
        (b"OK\r\n".to_vec(), "protocol"),
        (b"+OKAY\r\n".to_vec(), "protocol"),
    ];
    for (reply, kind) in cases {
        let wire = scripted(b"+OK ready\r\n", vec![("RETR 1", reply.clone())]);
        let mut pop = Pop3::greet(wire).await.unwrap();
        let e = tokio::time::timeout(Duration::from_secs(5), pop.retr(1, true))
            .await
            .expect("client hung")
            .unwrap_err();
        assert_eq!(e.kind(), kind, "{:?}: {e}", String::from_utf8_lossy(&reply));
    }
    for (reply, kind) in [
        (&b"+OK\r\n1 2\r\nnonsense\r\n.\r\n"[..], "protocol"),
        (b"+OK\r\n1 has space\r\n.\r\n", "protocol"),
    ] {
        let wire = scripted(b"+OK ready\r\n", vec![("UIDL", reply.to_vec())]);
        let mut pop = Pop3::greet(wire).await.unwrap();
        let e = pop.uidl().await.unwrap_err();
        assert_eq!(e.kind(), kind, "{e}");
    }
}

#[tokio::test]
async fn a_connection_closed_mid_message_is_an_io_error() {
    let (client, mut server) = tokio::io::duplex(1024);
    server
        .write_all(b"+OK ready\r\n+OK\r\nhalf a mess")
        .await
        .unwrap();
    let mut pop = Pop3::greet(Wire::new(Box::new(client), Duration::from_secs(2)))
        .await
        .unwrap();
    let reader = tokio::spawn(async move { pop.retr(1, true).await });
    // Swallow the command, then close.
    let mut buf = [0u8; 64];
    let _ = tokio::io::AsyncReadExt::read(&mut server, &mut buf).await;
    drop(server);
    let e = reader.await.unwrap().unwrap_err();
    assert_eq!(e.kind(), "io", "{e}");
}

#[tokio::test]
async fn wrong_passwords_are_login_errors() {
    let wire = scripted(
        b"+OK ready\r\n",
        vec![
            ("USER carol", b"+OK\r\n".to_vec()),
            (
                "PASS bad",
                b"-ERR [AUTH] Authentication failed.\r\n".to_vec(),
            ),
        ],
    );
    let mut pop = Pop3::greet(wire).await.unwrap();
    assert_eq!(
        pop.user_pass("carol", "bad").await.unwrap_err().kind(),
        "login"
    );
}
