//! The slow-link emulation paces traffic as configured: 8 kB at 64 kbit/s takes about a
//! second in each direction, a round-trip delay delays every answer, data passes intact,
//! and an unshaped link adds nothing. Bounds are generous: the machine may be busy.

use std::time::{Duration, Instant};

use postern_load::net::slowlink::{Shape, SlowLink};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server that echoes everything back, until the client closes.
async fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = sock.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

async fn shaped(addr: std::net::SocketAddr, bits: Option<u64>, rtt_ms: u64) -> SlowLink<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    SlowLink::new(
        tcp,
        Shape {
            bits_per_sec: bits,
            rtt: Duration::from_millis(rtt_ms),
        },
    )
}

#[tokio::test]
async fn bandwidth_paces_each_direction() {
    let addr = echo_server().await;
    let mut link = shaped(addr, Some(64_000), 0).await;
    let data: Vec<u8> = (0..8000u32).map(|i| (i * 7 % 251) as u8).collect();

    let t = Instant::now();
    link.write_all(&data).await.unwrap();
    link.flush().await.unwrap();
    let up = t.elapsed();
    // 8000 bytes * 8 / 64000 bit/s = 1 s on the way up...
    assert!(up >= Duration::from_millis(900), "upload took only {up:?}");
    assert!(up < Duration::from_secs(5), "upload took {up:?}");

    let mut back = vec![0u8; data.len()];
    link.read_exact(&mut back).await.unwrap();
    let total = t.elapsed();
    // ...and as long again on the way down (the echo starts as the first bytes arrive, so
    // the two overlap by at most one segment).
    assert!(
        total >= Duration::from_millis(1800),
        "round trip took only {total:?}"
    );
    assert!(total < Duration::from_secs(8), "round trip took {total:?}");
    assert_eq!(back, data);
}

#[tokio::test]
async fn delay_is_added_to_every_round_trip() {
    let addr = echo_server().await;
    let mut link = shaped(addr, None, 300).await;
    for _ in 0..3 {
        let t = Instant::now();
        link.write_all(b"ping\r\n").await.unwrap();
        link.flush().await.unwrap();
        let mut buf = [0u8; 6];
        link.read_exact(&mut buf).await.unwrap();
        let rtt = t.elapsed();
        assert_eq!(&buf, b"ping\r\n");
        assert!(rtt >= Duration::from_millis(290), "round trip {rtt:?}");
        assert!(rtt < Duration::from_secs(3), "round trip {rtt:?}");
    }
}

#[tokio::test]
async fn writes_without_flush_still_go_out_while_reading() {
    let addr = echo_server().await;
    let mut link = shaped(addr, Some(1_000_000), 100).await;
    let t = Instant::now();
    // No flush: the read must push the queued command out by itself.
    link.write_all(b"hello\r\n").await.unwrap();
    let mut buf = [0u8; 7];
    tokio::time::timeout(Duration::from_secs(5), link.read_exact(&mut buf))
        .await
        .expect("read hung: queued write never sent")
        .unwrap();
    assert_eq!(&buf, b"hello\r\n");
    assert!(t.elapsed() >= Duration::from_millis(95));
}

#[tokio::test]
async fn large_transfers_arrive_intact() {
    let addr = echo_server().await;
    let mut link = shaped(addr, Some(50_000_000), 20).await;
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let (mut r, mut w) = tokio::io::split(&mut link);
    let expected = data.clone();
    let reader = async move {
        let mut got = vec![0u8; expected.len()];
        r.read_exact(&mut got).await.unwrap();
        assert!(got == expected, "data corrupted in the link");
    };
    let writer = async move {
        w.write_all(&data).await.unwrap();
        w.flush().await.unwrap();
    };
    let t = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(reader, writer)
    })
    .await
    .expect("transfer hung");
    // 1 MB at 50 Mbit/s is 160 ms each way.
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn an_open_link_adds_nothing() {
    let addr = echo_server().await;
    let mut link = shaped(addr, None, 0).await;
    let t = Instant::now();
    for _ in 0..20 {
        link.write_all(b"x").await.unwrap();
        link.flush().await.unwrap();
        let mut b = [0u8; 1];
        link.read_exact(&mut b).await.unwrap();
    }
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[tokio::test]
async fn the_server_closing_is_seen_after_the_delay() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        sock.write_all(b"bye\r\n").await.unwrap();
        // Dropped: closed.
    });
    let mut link = shaped(addr, None, 200).await;
    let t = Instant::now();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), link.read_to_end(&mut all))
        .await
        .expect("EOF never delivered")
        .unwrap();
    assert_eq!(all, b"bye\r\n");
    assert!(
        t.elapsed() >= Duration::from_millis(95),
        "{:?}",
        t.elapsed()
    );
}
