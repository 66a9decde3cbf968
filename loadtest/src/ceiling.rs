//! `postern-load ceiling`: what this machine can do at all, with no mail server involved.
//!
//! Three measurements, each over loopback inside this one process and bounded by the same
//! duration: raw TCP throughput (clients push bytes into a sink server), raw TLS throughput
//! (the same through rustls with an in-memory self-signed certificate) and full TLS handshakes
//! per second (connect, handshake, close; no resumption). A server's results are best read as
//! a fraction of these: 400 MB/s of POP3 RETR over TLS means little alone, but 80 % of the
//! machine's TLS ceiling says the server adds almost nothing.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Size of each write: one full TLS record, so TLS is not penalised by partial records.
const CHUNK: usize = 16 * 1024;

/// Why a ceiling measurement failed.
#[derive(Debug, thiserror::Error)]
pub enum CeilingError {
    #[error("loopback socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("making the self-signed certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("{what}: no client got through ({first_error})")]
    NothingWorked {
        what: &'static str,
        first_error: String,
    },
}

/// How long and how wide to measure.
#[derive(Clone, Debug)]
pub struct CeilingConfig {
    /// Length of each of the three measurements.
    pub duration: Duration,
    /// Concurrent client connections in each measurement.
    pub connections: usize,
}

impl Default for CeilingConfig {
    fn default() -> Self {
        CeilingConfig {
            duration: Duration::from_secs(5),
            connections: 4,
        }
    }
}

/// The machine's limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CeilingReport {
    pub duration_secs: f64,
    pub connections: usize,
    pub cores: usize,
    pub tcp_mb_per_sec: f64,
    pub tls_mb_per_sec: f64,
    pub tls_handshakes_per_sec: f64,
    /// Protocol version and cipher suite the TLS measurements negotiated.
    pub tls_version: String,
    pub tls_cipher_suite: String,
    /// The certificate key used for handshakes.
    pub tls_key: String,
}

impl CeilingReport {
    /// The report for people.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "machine ceiling over loopback ({} connections, {:.1} s each, {} cores):",
            self.connections, self.duration_secs, self.cores
        );
        let _ = writeln!(
            out,
            "  TCP throughput      {:>10.1} MB/s",
            self.tcp_mb_per_sec
        );
        let _ = writeln!(
            out,
            "  TLS throughput      {:>10.1} MB/s   ({}, {})",
            self.tls_mb_per_sec, self.tls_version, self.tls_cipher_suite
        );
        let _ = writeln!(
            out,
            "  TLS handshakes      {:>10.1} /s     (full handshakes, {} certificate)",
            self.tls_handshakes_per_sec, self.tls_key
        );
        out
    }
}

/// TLS configurations for both ends, trusting one in-memory self-signed certificate.
struct TlsPair {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
}

fn tls_pair(tickets: bool) -> Result<TlsPair, CeilingError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)?;
    if !tickets {
        // Handshake clients never resume, so tickets would only be extra work per handshake.
        server.send_tls13_tickets = 0;
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert)?;
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // Every handshake must be a full one: that is the cost a storm of new clients causes.
    client.resumption = rustls::client::Resumption::disabled();
    Ok(TlsPair {
        acceptor: TlsAcceptor::from(Arc::new(server)),
        connector: TlsConnector::from(Arc::new(client)),
    })
}

fn server_name() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("constant name is valid")
}

/// Reads and discards until EOF or error, counting into `received` while `counting` holds.
async fn sink<S: AsyncRead + Unpin>(mut stream: S, received: Arc<AtomicU64>) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        received.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Writes `CHUNK`s until `stop` is set or the peer goes away.
async fn push<S: AsyncWrite + Unpin>(mut stream: S, stop: Arc<AtomicBool>) {
    let chunk = vec![0x5au8; CHUNK];
    while !stop.load(Ordering::Relaxed) {
        if stream.write_all(&chunk).await.is_err() {
            break;
        }
    }
}

/// Bytes per second through `connections` loopback streams, optionally over TLS. Returns
/// MB/s and, for TLS, the negotiated version and suite.
async fn throughput(
    cfg: &CeilingConfig,
    tls: Option<&TlsPair>,
) -> Result<(f64, Option<(String, String)>), CeilingError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let received = Arc::new(AtomicU64::new(0));
    let acceptor = tls.map(|t| t.acceptor.clone());
    let accept_received = received.clone();
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let received = accept_received.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                match acceptor {
                    Some(acceptor) => {
                        if let Ok(tls) = acceptor.accept(stream).await {
                            sink(tls, received).await;
                        }
                    }
                    None => sink(stream, received).await,
                }
            });
        }
    });

    // Connect (and handshake) everyone first, so the timed part is pure data transfer.
    let mut negotiated = None;
    let mut tcp_streams = Vec::new();
    let mut tls_streams = Vec::new();
    for _ in 0..cfg.connections.max(1) {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        match tls {
            Some(pair) => {
                let stream = pair.connector.connect(server_name(), stream).await?;
                let (_, conn) = stream.get_ref();
                negotiated = Some((
                    conn.protocol_version()
                        .map_or("?".to_owned(), |v| format!("{v:?}")),
                    conn.negotiated_cipher_suite()
                        .map_or("?".to_owned(), |s| format!("{:?}", s.suite())),
                ));
                tls_streams.push(stream);
            }
            None => tcp_streams.push(stream),
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let mut pushers = Vec::new();
    for stream in tcp_streams {
        pushers.push(tokio::spawn(push(stream, stop.clone())));
    }
    for stream in tls_streams {
        pushers.push(tokio::spawn(push(stream, stop.clone())));
    }
    // Let the pipes fill before counting, so start-up does not dilute the rate.
    tokio::time::sleep(Duration::from_millis(100).min(cfg.duration / 10)).await;
    let start_bytes = received.load(Ordering::Relaxed);
    let start = Instant::now();
    tokio::time::sleep(cfg.duration).await;
    let bytes = received.load(Ordering::Relaxed) - start_bytes;
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    for pusher in pushers {
        // A pusher blocked on a full pipe would wait for the sink; aborting ends it at once.
        pusher.abort();
    }
    server.abort();
    Ok((
        crate::report::rate(bytes, elapsed) / crate::report::MB,
        negotiated,
    ))
}

/// Full TLS handshakes per second by `connections` clients in a loop.
async fn handshakes(cfg: &CeilingConfig, pair: &TlsPair) -> Result<f64, CeilingError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let completed = Arc::new(AtomicU64::new(0));
    let acceptor = pair.acceptor.clone();
    let server_completed = completed.clone();
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let completed = server_completed.clone();
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                // Counted on the server: only then has the client's Finished been checked too.
                if let Ok(mut tls) = acceptor.accept(stream).await {
                    completed.fetch_add(1, Ordering::Relaxed);
                    let _ = tls.shutdown().await;
                }
            });
        }
    });

    let deadline = Instant::now() + cfg.duration;
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let start = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..cfg.connections.max(1) {
        let connector = pair.connector.clone();
        let first_error = first_error.clone();
        clients.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let attempt = async {
                    let stream = TcpStream::connect(addr).await?;
                    stream.set_nodelay(true)?;
                    let mut tls = connector.connect(server_name(), stream).await?;
                    // Wait for the server's close so the handshake is finished on both ends
                    // before the next one starts; otherwise clients run ahead of the server.
                    let mut buf = [0u8; 64];
                    while tls.read(&mut buf).await? > 0 {}
                    Ok::<(), std::io::Error>(())
                };
                let remaining = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(remaining + Duration::from_secs(1), attempt).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        first_error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert_with(|| e.to_string());
                        // A failing loop would spin; pause before the next try.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err(_) => break,
                }
            }
        }));
    }
    for client in clients {
        let _ = client.await;
    }
    let elapsed = start.elapsed();
    let done = completed.load(Ordering::Relaxed);
    server.abort();
    if done == 0 {
        let first_error = first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| "no error seen".to_owned());
        return Err(CeilingError::NothingWorked {
            what: "TLS handshakes",
            first_error,
        });
    }
    Ok(crate::report::rate(done, elapsed))
}

/// Runs the three measurements one after the other.
pub async fn run(cfg: &CeilingConfig) -> Result<CeilingReport, CeilingError> {
    let (tcp, _) = throughput(cfg, None).await?;
    let streaming = tls_pair(true)?;
    let (tls, negotiated) = throughput(cfg, Some(&streaming)).await?;
    let (tls_version, tls_cipher_suite) = negotiated.unwrap_or_default();
    let handshaking = tls_pair(false)?;
    let per_sec = handshakes(cfg, &handshaking).await?;
    Ok(CeilingReport {
        duration_secs: cfg.duration.as_secs_f64(),
        connections: cfg.connections.max(1),
        cores: crate::procstat::available_cores(),
        tcp_mb_per_sec: tcp,
        tls_mb_per_sec: tls,
        tls_handshakes_per_sec: per_sec,
        tls_version,
        tls_cipher_suite,
        tls_key: "ECDSA P-256".to_owned(),
    })
}
