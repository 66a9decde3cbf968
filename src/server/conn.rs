//! What happens to every accepted connection before a protocol takes over: the connection
//! limits, the entry in the table of live sessions, the implicit-TLS handshake, and the
//! hand-off to the protocol driver.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use compio::net::TcpStream;

use super::Shared;
use super::limits::Refusal;
use super::transport::{OutBuf, Transport};
use crate::config::{ListenerKind, Protocol};

/// How long a refused client gets to finish a TLS handshake so it can read why it was refused.
const REFUSAL_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves one accepted connection to the end.
pub(crate) async fn serve(
    worker: usize,
    kind: ListenerKind,
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
) {
    let mut transport = Transport::new(stream);
    let guard = match shared.limits.admit(peer.ip()) {
        Ok(guard) => guard,
        Err(refusal) => {
            tracing::info!(%peer, ?refusal, "connection refused");
            refuse(kind, transport, refusal, &shared).await;
            return;
        }
    };
    let registration = shared.sessions.register(worker, kind, peer);
    let entry = registration.entry();
    if kind.implicit_tls() {
        let live = shared.live();
        let Some(config) = live.tls.clone() else {
            // Possible only in the moment between a reload that removed [tls] together
            // with this listener and the listener's closing: nothing to offer, so close.
            return;
        };
        let preauth = live.config.server.preauth_timeout;
        drop(live);
        let handshake = compio::time::timeout(preauth, transport.start_tls(config));
        match entry.unless_ended(&shared.shutdown, handshake).await {
            Some(Ok(Ok(()))) => {}
            Some(Ok(Err(e))) => {
                tracing::debug!(%peer, "TLS handshake failed: {e}");
                return;
            }
            Some(Err(_)) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
            None => return,
        }
        entry.set_tls();
    }
    tracing::debug!(worker, %peer, kind = kind.name(), sni = transport.sni(), "connected");
    match (kind.protocol(), kind.is_proxy()) {
        (Protocol::Pop3, false) => {
            super::pop3::drive(worker, kind, transport, peer, &shared, entry).await
        }
        (Protocol::Imap, false) => {
            super::imap::drive(worker, kind, transport, peer, &shared, entry).await
        }
        (Protocol::Pop3, true) => {
            super::proxy::pop3::drive(kind, transport, peer, &shared, entry).await
        }
        (Protocol::Imap, true) => {
            super::proxy::imap::drive(kind, transport, peer, &shared, entry).await
        }
    }
    drop(registration);
    drop(guard);
}

/// Tells a client over a limit why it is being turned away, then closes.
async fn refuse(kind: ListenerKind, mut transport: Transport, refusal: Refusal, shared: &Shared) {
    if kind.implicit_tls() {
        let Some(config) = shared.live().tls.clone() else {
            return;
        };
        let handshake = transport.start_tls(config);
        if !matches!(
            compio::time::timeout(REFUSAL_HANDSHAKE_TIMEOUT, handshake).await,
            Ok(Ok(()))
        ) {
            return;
        }
    }
    let text: &[u8] = match (kind.protocol(), refusal) {
        (Protocol::Pop3, Refusal::TooManyTotal) => {
            b"-ERR [SYS/TEMP] Too many connections to this server, try again later.\r\n"
        }
        (Protocol::Pop3, Refusal::TooManyFromIp) => {
            b"-ERR [SYS/TEMP] Too many connections from your IP address.\r\n"
        }
        (Protocol::Imap, Refusal::TooManyTotal) => {
            b"* BYE [UNAVAILABLE] Too many connections to this server, try again later.\r\n"
        }
        (Protocol::Imap, Refusal::TooManyFromIp) => {
            b"* BYE [UNAVAILABLE] Too many connections from your IP address.\r\n"
        }
    };
    let write = transport.write_batch(vec![OutBuf::Bytes(text.to_vec())]);
    let _ = compio::time::timeout(REFUSAL_HANDSHAKE_TIMEOUT, write).await;
    transport.close().await;
}
