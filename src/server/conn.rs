//! What happens to every accepted connection before a protocol takes over: on a PROXY
//! protocol listener the load balancer's header (which says who the client is), the
//! connection limits, the entry in the table of live sessions, the implicit-TLS handshake,
//! and the hand-off to the protocol driver; on a proxy listener, after login, the hand-off
//! to a relay task.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use compio::net::TcpStream;
use futures_util::future::{Either, select};

use super::Shared;
use super::limits::{ConnectionGuard, Refusal};
use super::proxy::Handoff;
use super::sessions::Registration;
use super::shutdown::Phase;
use super::transport::{OutBuf, Transport};
use crate::config::{ListenerConfig, ListenerKind, Protocol};
use crate::proxy_header::{self, Accept, HeaderError, Parsed};

/// How long a refused client gets to finish a TLS handshake so it can read why it was refused.
const REFUSAL_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves one accepted connection to the end, or, on a proxy listener, to its login: what
/// is left then is a [`Relay`], for the caller to run as a task of its own. `peer` is the
/// socket's peer address; behind a PROXY protocol header it is replaced by the client's
/// address for everything after.
pub(crate) async fn serve(
    worker: usize,
    listener: &ListenerConfig,
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
) -> Option<Relay> {
    let kind = listener.kind;
    let mut transport = Transport::new(stream);
    let peer = match listener.proxy_protocol {
        None => peer,
        Some(accept) => match proxied_peer(listener, accept, &mut transport, peer, &shared).await {
            Some(client) => client,
            None => {
                transport.close().await;
                return None;
            }
        },
    };
    let guard = match shared.limits.admit(peer.ip()) {
        Ok(guard) => guard,
        Err(refusal) => {
            tracing::info!(%peer, ?refusal, "connection refused");
            refuse(kind, transport, refusal, &shared).await;
            return None;
        }
    };
    let registration = shared.sessions.register(worker, kind, peer);
    let entry = registration.entry();
    if kind.implicit_tls() {
        let live = shared.live();
        let Some(config) = live.tls.clone() else {
            // Possible only in the moment between a reload that removed [tls] together
            // with this listener and the listener's closing: nothing to offer, so close.
            return None;
        };
        let preauth = live.config.server.preauth_timeout;
        drop(live);
        let handshake = crate::server::race::timeout(preauth, transport.start_tls(config));
        match entry.unless_ended(&shared.shutdown, handshake).await {
            Some(Ok(Ok(()))) => {}
            Some(Ok(Err(e))) => {
                tracing::debug!(%peer, "TLS handshake failed: {e}");
                return None;
            }
            Some(Err(_)) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return None;
            }
            None => return None,
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
        // Boxed: a proxy login is a bigger future than a whole mail session, and this
        // function's state is sized for the biggest of the four.
        (Protocol::Pop3, true) => {
            let login = super::proxy::pop3::drive(kind, transport, peer, &shared, entry);
            let handoff = Box::pin(login).await;
            return handoff.map(|handoff| Relay::new(handoff, shared, registration, guard));
        }
        (Protocol::Imap, true) => {
            let login = super::proxy::imap::drive(kind, transport, peer, &shared, entry);
            let handoff = Box::pin(login).await;
            return handoff.map(|handoff| Relay::new(handoff, shared, registration, guard));
        }
    }
    drop(registration);
    drop(guard);
    None
}

/// A logged-in proxy session with everything that must live as long as it does: its entry
/// in the session table and its place in the connection limits.
pub(crate) struct Relay {
    handoff: Handoff,
    shared: Arc<Shared>,
    registration: Registration,
    _guard: ConnectionGuard,
}

impl Relay {
    fn new(
        handoff: Handoff,
        shared: Arc<Shared>,
        registration: Registration,
        guard: ConnectionGuard,
    ) -> Relay {
        Relay {
            handoff,
            shared,
            registration,
            _guard: guard,
        }
    }

    /// Relays to the end; the session leaves the table and the limits after.
    pub async fn run(self) {
        let Relay {
            handoff,
            shared,
            registration,
            _guard,
        } = self;
        super::proxy::relay_to_the_end(handoff, &shared, registration.entry()).await;
    }
}

/// Why no client address came out of a PROXY protocol header.
#[derive(Debug, thiserror::Error)]
enum HeaderFailure {
    #[error("read failed: {0}")]
    Io(std::io::Error),
    #[error("the proxy closed the connection before the end of the header")]
    Closed,
    #[error(transparent)]
    Invalid(HeaderError),
}

/// On a PROXY protocol listener: checks that the connection comes from a trusted proxy,
/// reads its header (within the pre-login timeout) and returns the client address it names,
/// or the socket's peer for a LOCAL or UNKNOWN header. `None`: close the connection.
async fn proxied_peer(
    listener: &ListenerConfig,
    accept: Accept,
    transport: &mut Transport,
    proxy: SocketAddr,
    shared: &Shared,
) -> Option<SocketAddr> {
    if !listener.proxy_trusted(proxy.ip()) {
        tracing::info!(
            %proxy,
            listener = %listener.address,
            "connection refused: not from a proxy in proxy_from"
        );
        return None;
    }
    let preauth = shared.live().config.server.preauth_timeout;
    let read = pin!(crate::server::race::timeout(
        preauth,
        read_proxy_header(transport, accept)
    ));
    let closing = pin!(shared.shutdown.reached(Phase::Closing));
    match select(read, closing).await {
        Either::Left((Ok(Ok(source)), _)) => {
            // An IPv4 client relayed by a proxy listening on IPv6 comes as ::ffff:a.b.c.d;
            // it is the IPv4 address for the limits, `who` and `kick`.
            let client = source.map_or(proxy, |s| SocketAddr::new(s.ip().to_canonical(), s.port()));
            tracing::debug!(%proxy, %client, "PROXY protocol header");
            Some(client)
        }
        Either::Left((Ok(Err(e)), _)) => {
            tracing::info!(%proxy, "connection refused: PROXY protocol header: {e}");
            None
        }
        Either::Left((Err(_), _)) => {
            tracing::info!(%proxy, "connection refused: no PROXY protocol header in time");
            None
        }
        Either::Right(_) => None,
    }
}

/// Reads a PROXY protocol header and nothing more: what came in the same packets after it
/// is handed back to the transport, for the TLS handshake or the protocol to read.
async fn read_proxy_header(
    transport: &mut Transport,
    accept: Accept,
) -> Result<Option<SocketAddr>, HeaderFailure> {
    let mut received = Vec::new();
    loop {
        let bytes = transport.read().await.map_err(HeaderFailure::Io)?;
        if bytes.is_empty() {
            return Err(HeaderFailure::Closed);
        }
        received.extend_from_slice(bytes);
        match proxy_header::parse(&received, accept).map_err(HeaderFailure::Invalid)? {
            Parsed::NeedMore => {}
            Parsed::Done {
                header_len, source, ..
            } => {
                if header_len < received.len() {
                    transport.unread(&received[header_len..]);
                }
                return Ok(source);
            }
        }
    }
}

/// Tells a client over a limit why it is being turned away, then closes.
async fn refuse(kind: ListenerKind, mut transport: Transport, refusal: Refusal, shared: &Shared) {
    if kind.implicit_tls() {
        let Some(config) = shared.live().tls.clone() else {
            return;
        };
        let handshake = transport.start_tls(config);
        if !matches!(
            crate::server::race::timeout(REFUSAL_HANDSHAKE_TIMEOUT, handshake).await,
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
    let _ = crate::server::race::timeout(REFUSAL_HANDSHAKE_TIMEOUT, write).await;
    transport.close().await;
}
