//! Front-proxy mode, the runtime side: the connection to a user's backend, the login there
//! on the client's behalf, and the relay of bytes both ways afterwards.
//!
//! Before login the client talks to Postern's own sans-IO session, which answers
//! CAPABILITY/CAPA, ID, STARTTLS/STLS and the login commands under the listener's login-type
//! policy and limits, exactly as when Postern serves mail itself. Its login event is
//! answered here instead of by the mail store: find the user's backend
//! ([`crate::proxy::route`]), connect (plain, STARTTLS/STLS or TLS with certificate
//! verification), tell it the client's real address, log in. A backend that is down or slow
//! is a quick temporary failure for the client, never a hang: connecting and logging in each
//! have a deadline.
//!
//! After login nothing is parsed: bytes are relayed as they come, in both directions, one
//! chunk at a time, so a slow reader on either side stops the proxy reading from the other
//! (backpressure) instead of making it buffer. Between two plain sockets the chunk goes by
//! `splice` through a pipe and never enters user space; with TLS on either side each byte
//! is decrypted once and encrypted once.

pub(crate) mod imap;
pub(crate) mod pop3;

use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use compio::net::TcpStream;
use futures_util::future::{Either, select};

use super::Shared;
use super::limits::UserSlot;
use super::sessions::Entry;
use super::transport::{OutBuf, Pipe, Transport};
use crate::config::{CheckPassword, Protocol, ProxyConfig};
use crate::proxy::{Backend, BackendTls, LookupRequest, Route, RouteError};

/// The most a relay reads at once in one direction. Bigger chunks mean fewer round trips
/// on a busy stream; the buffer exists only while bytes are flowing.
const RELAY_CHUNK: usize = 64 * 1024;

/// Longest backend line the proxy reads during login (greeting, capability, ID answer).
const MAX_BACKEND_LINE: usize = 64 * 1024;

/// Why a backend session could not be set up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BackendError {
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    #[error("{0} did not answer in time")]
    Timeout(String),
    #[error("TLS with {host}: {source}")]
    Tls { host: String, source: io::Error },
    #[error("backend {0}")]
    Protocol(String),
    /// The backend refused the credentials.
    #[error("backend refused the login")]
    LoginRefused,
    /// The backend refused the login for another reason, which its response code names
    /// (a mailbox in use, a limit, maintenance): its answer after `NO `/`-ERR `.
    #[error("backend declined the login: {0}")]
    LoginDeclined(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The user's backend, for `req`, from the configured route source.
///
/// It runs on the blocking pool: a source may read files or ask an HTTP service.
pub(crate) async fn route(shared: &Arc<Shared>, req: LookupRequest) -> Result<Route, RouteError> {
    let Some(routes) = shared.live().routes.clone() else {
        return Err(RouteError::NoRoute);
    };
    match shared.pool.run(move || routes.lookup(&req)).await {
        Ok(result) => result,
        Err(_) => Err(RouteError::Unavailable("the server is busy".into())),
    }
}

/// A connection to a backend during login: a transport and a line buffer.
pub(crate) struct BackendConn {
    pub transport: Transport,
    buf: Vec<u8>,
    deadline: Instant,
    name: String,
}

impl BackendConn {
    /// Connects (and, for [`BackendTls::Tls`], runs the TLS handshake), within the
    /// configured connect timeout; the login timeout then applies to everything after.
    pub async fn connect(
        backend: &Backend,
        proxy: &ProxyConfig,
        tls: Option<&Arc<rustls::ClientConfig>>,
    ) -> Result<BackendConn, BackendError> {
        let addr = format!("{}:{}", backend.host, backend.port);
        let connect = TcpStream::connect(addr.as_str());
        let tcp = match crate::server::race::timeout(proxy.connect_timeout, connect).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(source)) => return Err(BackendError::Connect { addr, source }),
            Err(_) => return Err(BackendError::Timeout(addr)),
        };
        let _ = tcp.set_nodelay(true);
        let mut conn = BackendConn {
            transport: Transport::new(tcp),
            buf: Vec::new(),
            deadline: Instant::now() + proxy.login_timeout,
            name: addr,
        };
        if backend.tls == BackendTls::Tls {
            conn.start_tls(&backend.host, tls).await?;
        }
        Ok(conn)
    }

    /// The client side of a TLS handshake, checking the certificate for `host`.
    pub async fn start_tls(
        &mut self,
        host: &str,
        tls: Option<&Arc<rustls::ClientConfig>>,
    ) -> Result<(), BackendError> {
        let tls_error = |source| BackendError::Tls {
            host: host.to_owned(),
            source,
        };
        let config = tls
            .cloned()
            .ok_or_else(|| tls_error(io::Error::other("no CA certificates to verify it")))?;
        let name = rustls_pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| tls_error(io::Error::other(e)))?;
        let left = self.left();
        match crate::server::race::timeout(left, self.transport.connect_tls(config, name)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(tls_error(e)),
            Err(_) => Err(BackendError::Timeout(self.name.clone())),
        }
    }

    fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), BackendError> {
        let left = self.left();
        let write = self
            .transport
            .write_batch(vec![OutBuf::Bytes(bytes.to_vec())]);
        match crate::server::race::timeout(left, write).await {
            Ok(result) => result.map(drop).map_err(BackendError::Io),
            Err(_) => Err(BackendError::Timeout(self.name.clone())),
        }
    }

    /// The next line from the backend, without its CRLF.
    pub async fn line(&mut self) -> Result<String, BackendError> {
        loop {
            if let Some(lf) = memchr::memchr(b'\n', &self.buf) {
                let mut line: Vec<u8> = self.buf.drain(..=lf).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            if self.buf.len() > MAX_BACKEND_LINE {
                return Err(BackendError::Protocol("sent an over-long line".into()));
            }
            let left = self.left();
            let read = self.transport.read();
            let data = match crate::server::race::timeout(left, read).await {
                Ok(Ok(data)) => data,
                Ok(Err(e)) => return Err(BackendError::Io(e)),
                Err(_) => return Err(BackendError::Timeout(self.name.clone())),
            };
            if data.is_empty() {
                return Err(BackendError::Protocol("closed the connection".into()));
            }
            self.buf.extend_from_slice(data);
        }
    }

    /// The connection for the relay, with whatever the backend sent after its last line.
    pub fn into_parts(self) -> (Transport, Vec<u8>) {
        (self.transport, self.buf)
    }
}

/// What ended a relay.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RelayEnd {
    ClientClosed,
    BackendClosed,
    /// An administrator, a reload or shutdown ended the session.
    Ended,
    Error,
}

/// Relays bytes both ways until one side closes. `to_backend` and `to_client` are bytes
/// already received for the other side (pipelined by the client during login, sent by the
/// backend after its login answer).
pub(crate) async fn relay(
    client: &mut Transport,
    backend: &mut Transport,
    to_backend: Vec<u8>,
    to_client: Vec<u8>,
    shared: &Shared,
    entry: &Entry,
) -> RelayEnd {
    if !to_backend.is_empty()
        && backend
            .write_batch(vec![OutBuf::Bytes(to_backend)])
            .await
            .is_err()
    {
        return RelayEnd::Error;
    }
    if !to_client.is_empty()
        && client
            .write_batch(vec![OutBuf::Bytes(to_client)])
            .await
            .is_err()
    {
        return RelayEnd::Error;
    }
    loop {
        // Wait for either side without reading, so that nothing is lost when the other side
        // wins; an idle relay holds no buffers.
        client.release_buffers();
        backend.release_buffers();
        let woken = {
            let client_ready = pin!(client.readable());
            let backend_ready = pin!(backend.readable());
            let ready = select(client_ready, backend_ready);
            let woken = entry.unless_ended(&shared.shutdown, ready).await;
            woken.map(|w| matches!(w, Either::Left(_)))
        };
        let Some(from_client) = woken else {
            return RelayEnd::Ended;
        };
        let (from, to) = if from_client {
            (&mut *client, &mut *backend)
        } else {
            (&mut *backend, &mut *client)
        };
        // One chunk per wake-up, moved whole, before looking at both sides again: never
        // more than RELAY_CHUNK in flight, so a slow writer stops the reading, and a sender
        // that pauses never keeps the other direction waiting.
        let moved = if from.can_splice_to(to) {
            splice_chunk(from, to).await
        } else {
            copy_chunk(from, to).await
        };
        match moved {
            Ok(0) if from_client => return RelayEnd::ClientClosed,
            Ok(0) => return RelayEnd::BackendClosed,
            Ok(_) => {}
            Err(_) => return RelayEnd::Error,
        }
    }
}

/// Bytes relayed through user space and by splice, since start.
pub(crate) static COPIED: AtomicU64 = AtomicU64::new(0);
pub(crate) static SPLICED: AtomicU64 = AtomicU64::new(0);

/// One chunk through user space (TLS on either side): decrypted once, encrypted once.
async fn copy_chunk(from: &mut Transport, to: &mut Transport) -> io::Result<usize> {
    let (read, buf) = from.read_owned(Vec::with_capacity(RELAY_CHUNK)).await;
    read?;
    let n = buf.len();
    if n > 0 {
        to.write_owned(buf).await.0?;
        COPIED.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(n)
}

/// One chunk socket to pipe to socket, the bytes never entering user space. The pipe is
/// borrowed from the worker's pool for the transfer only, so a worker needs as many pipes
/// as it has transfers in flight at once, not one per session.
async fn splice_chunk(from: &Transport, to: &Transport) -> io::Result<usize> {
    let pipe = match PIPES.with(|p| p.borrow_mut().pop()) {
        Some(pipe) => pipe,
        None => Pipe::new()?,
    };
    let n = from.splice_in(&pipe, RELAY_CHUNK).await?;
    if n > 0 {
        to.splice_out(&pipe, n).await?;
        SPLICED.fetch_add(n as u64, Ordering::Relaxed);
    }
    // Only an empty pipe goes back; one left with bytes in it after an error is dropped.
    PIPES.with(|p| {
        let mut pool = p.borrow_mut();
        if pool.len() < PIPE_POOL {
            pool.push(pipe);
        }
    });
    Ok(n)
}

/// Idle pipes a worker keeps for splicing.
const PIPE_POOL: usize = 64;

thread_local! {
    static PIPES: std::cell::RefCell<Vec<Pipe>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Why a proxied login was refused, whatever the protocol; each protocol says it its way.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Wrong credentials, or no route for the user.
    Failed,
    /// The route source refused with a message for the client (nginx's `Auth-Status`);
    /// `close`: it did not say to wait and let the client try again (no `Auth-Wait`), so
    /// the connection ends after the message, as nginx ends it.
    Rejected { message: String, close: bool },
    /// The account may not use this protocol (local password check).
    Disabled,
    /// The account's login type wants TLS (local password check).
    TlsRequired,
    /// The user has `max_sessions_per_user` sessions of this protocol open already.
    TooManySessions,
    /// The backend declined for a reason of its own, with a response code: its answer
    /// (`[CODE] text`), to be passed on as it is, since it is the backend that knows why.
    Declined(String),
    /// Try again later; the text is for the client.
    TempFail(String),
}

/// What a login needs once the route is known.
pub(crate) struct Routed {
    pub route: Route,
    pub proxy: ProxyConfig,
    /// The password to log in to the backend with.
    pub password: String,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The session's place in the per-user count, held until the relay ends. Claimed
    /// before the backend is asked when Postern checked the password, so that a user over
    /// the limit costs the backend nothing; otherwise only once the backend has accepted
    /// the password (see [`claim_after_login`]), so that the limit tells a guesser nothing.
    pub slot: Option<UserSlot>,
    protocol: Protocol,
}

/// The steps of a proxied login before the backend: the password check where it is
/// Postern's, and the route.
pub(crate) async fn prepare(
    creds: crate::auth::Credentials,
    protocol: Protocol,
    peer: SocketAddr,
    tls: bool,
    attempt: u32,
    shared: &Arc<Shared>,
) -> Result<Routed, Refusal> {
    use crate::server::login::Verified;
    let crate::auth::Credentials::Password { user, password, .. } = creds.clone() else {
        // Only password mechanisms are offered on proxy listeners.
        return Err(Refusal::Failed);
    };
    let live = shared.live();
    let proxy = live.config.proxy.clone().ok_or(Refusal::TempFail(
        "This listener has no proxy configuration.".into(),
    ))?;
    if proxy.check_password == CheckPassword::Local {
        match crate::server::login::verify(creds, peer.ip(), protocol, tls, shared).await {
            Verified::Ok(account) if account.enabled(protocol) => {}
            Verified::Ok(_) => return Err(Refusal::Disabled),
            Verified::Failed => return Err(Refusal::Failed),
            Verified::TlsRequired => return Err(Refusal::TlsRequired),
            Verified::TempFail(reason) => return Err(Refusal::TempFail(reason.into())),
        }
    }
    let request = LookupRequest {
        protocol,
        user: user.clone(),
        password: password.clone(),
        client_ip: peer.ip(),
        client_port: peer.port(),
        secure: tls,
        attempt,
    };
    let route = match route(shared, request).await {
        Ok(route) => route,
        Err(RouteError::Refused { message, wait }) => {
            if let Some(wait) = wait {
                compio::time::sleep(wait).await;
            }
            tracing::info!(user, "route source refused: {message}");
            return Err(Refusal::Rejected {
                message,
                close: wait.is_none(),
            });
        }
        Err(RouteError::NoRoute) => return Err(Refusal::Failed),
        Err(RouteError::Unavailable(why)) => {
            tracing::warn!(user, "route source unavailable: {why}");
            return Err(Refusal::TempFail(
                "The mail service is unavailable, try again later.".into(),
            ));
        }
    };
    let slot = match proxy.check_password {
        CheckPassword::Local => Some(claim(shared, protocol, &route.user)?),
        CheckPassword::Backend => None,
    };
    Ok(Routed {
        password: route.password.clone().unwrap_or(password),
        route,
        proxy,
        tls: live.proxy_tls.clone(),
        slot,
        protocol,
    })
}

/// A place in the per-user count for one more session of `user`.
fn claim(shared: &Shared, protocol: Protocol, user: &str) -> Result<UserSlot, Refusal> {
    let max = shared.live().config.server.max_sessions_per_user;
    shared.users.claim(protocol, user, max).ok_or_else(|| {
        tracing::info!(user, "proxy login refused: too many sessions");
        Refusal::TooManySessions
    })
}

/// The session's place in the per-user count once the backend has accepted the login:
/// claimed already if Postern checked the password, claimed now if the backend did. Over
/// the limit, the backend session is closed again.
pub(crate) async fn claim_after_login(
    routed: Routed,
    backend: BackendConn,
    shared: &Shared,
) -> Result<(BackendConn, UserSlot), Refusal> {
    let claimed = match routed.slot {
        Some(slot) => Ok(slot),
        None => claim(shared, routed.protocol, &routed.route.user),
    };
    match claimed {
        Ok(slot) => Ok((backend, slot)),
        Err(refusal) => {
            backend.transport.close().await;
            Err(refusal)
        }
    }
}

/// A failed backend login as the client should hear of it. A refusal by the backend costs
/// the penalty delay when the backend was the judge of the password, as a wrong password
/// checked here would.
pub(crate) async fn backend_failure(
    e: BackendError,
    routed: &Routed,
    peer: SocketAddr,
    shared: &Shared,
) -> Refusal {
    match e {
        BackendError::LoginRefused => {
            if routed.proxy.check_password == CheckPassword::Backend {
                let delay = shared.auth.penalty().record_failure(peer.ip());
                compio::time::sleep(delay).await;
            }
            Refusal::Failed
        }
        BackendError::LoginDeclined(answer) => {
            tracing::info!(
                backend = routed.route.backend.host,
                "backend declined: {answer}"
            );
            Refusal::Declined(answer)
        }
        e => {
            tracing::warn!(backend = routed.route.backend.host, "backend: {e}");
            Refusal::TempFail("The mail server is unavailable, try again later.".into())
        }
    }
}

/// A logged-in proxy session, as its login hands it over to the relay.
///
/// The relay runs as a task of its own (see [`crate::server::conn`]) so that an idle
/// proxied session holds only what relaying needs: the login's state machine, with its
/// session, buffers and backend dialogue, is several kilobytes of future that would
/// otherwise stay allocated for as long as the client stays connected.
pub(crate) struct Handoff {
    pub client: Transport,
    pub backend: BackendConn,
    /// The user's place in the per-user count, given back when the relay ends.
    pub slot: UserSlot,
    /// What the client sent after its login command.
    pub pipelined: Vec<u8>,
    /// What the client is told if an administrator (or shutdown) ends the session.
    pub goodbye: &'static [u8],
}

/// After the client was told it is logged in: the session as the relay takes it over, with
/// what the client pipelined behind its login. `None` pipelined means those bytes cannot be
/// handed on intact (the session had started taking them apart): the client is told
/// `cannot_pass_on` and the connection closes, rather than half its commands reaching the
/// backend. `goodbye` is what the client is told if the relay is ended by an administrator.
pub(crate) async fn hand_off(
    mut client: Transport,
    backend: BackendConn,
    slot: UserSlot,
    pipelined: Option<Vec<u8>>,
    cannot_pass_on: &[u8],
    goodbye: &'static [u8],
) -> Option<Handoff> {
    let Some(pipelined) = pipelined else {
        tracing::info!("commands pipelined across the login cannot be handed on: closing");
        let _ = client
            .write_batch(vec![OutBuf::Bytes(cannot_pass_on.to_vec())])
            .await;
        client.close().await;
        return None;
    };
    Some(Handoff {
        client,
        backend,
        slot,
        pipelined,
        goodbye,
    })
}

/// Relays until one side ends, then closes both.
pub(crate) async fn relay_to_the_end(handoff: Handoff, shared: &Shared, entry: &Entry) {
    let Handoff {
        mut client,
        backend,
        slot,
        pipelined,
        goodbye,
    } = handoff;
    let (mut backend, early) = backend.into_parts();
    let end = relay(&mut client, &mut backend, pipelined, early, shared, entry).await;
    tracing::debug!(user = entry.user(), ?end, "relay ended");
    drop(slot);
    // Boxed: the goodbye and the two closes are bigger futures than the relay itself, and
    // unboxed they would size every idle relay's task.
    Box::pin(close_both(
        client,
        backend,
        (end == RelayEnd::Ended).then_some(goodbye),
    ))
    .await;
}

async fn close_both(mut client: Transport, backend: Transport, goodbye: Option<&[u8]>) {
    if let Some(goodbye) = goodbye {
        let _ = client
            .write_batch(vec![OutBuf::Bytes(goodbye.to_vec())])
            .await;
    }
    backend.close().await;
    client.close().await;
}

/// The client's STARTTLS/STLS handshake, with the newest certificate (a reload may have
/// replaced it since the connection came in; the one the upgrade was offered with if [tls]
/// is gone). False if it failed: close the connection.
pub(crate) async fn client_starttls(
    transport: &mut Transport,
    offered: Option<Arc<rustls::ServerConfig>>,
    deadline: Instant,
    shared: &Shared,
    entry: &Entry,
) -> bool {
    let Some(config) = shared.live().tls.clone().or(offered) else {
        return false;
    };
    let timeout = deadline.saturating_duration_since(Instant::now());
    let handshake = crate::server::race::timeout(timeout, transport.start_tls(config));
    let done = matches!(
        entry.unless_ended(&shared.shutdown, handshake).await,
        Some(Ok(Ok(())))
    );
    if done {
        entry.set_tls();
    }
    done
}

/// The SASL PLAIN response (base64) that logs in to the backend: as the client, or as the
/// master user on the client's behalf.
pub(crate) fn sasl_plain(routed: &Routed) -> String {
    use base64::Engine;
    let proxy = &routed.proxy;
    let plain = match (&proxy.master_user, &proxy.master_password) {
        (Some(master), Some(secret)) => {
            format!("{}\0{master}\0{}", routed.route.user, secret.expose())
        }
        _ => format!("\0{}\0{}", routed.route.user, routed.password),
    };
    base64::engine::general_purpose::STANDARD.encode(plain)
}

/// A backend's refusal of a login, `[CODE ...] text` after its `NO `/`-ERR `: `None` if it
/// says the credentials were wrong (no code, or one of `wrong`); else the answer made safe
/// to pass on (a printable code, no control characters, at most 300 characters).
pub(crate) fn declined(answer: &str, wrong: &[&str]) -> Option<String> {
    let rest = answer.strip_prefix('[')?;
    let end = rest.find(']')?;
    let code = &rest[..end];
    let name = code.split(' ').next().unwrap_or_default();
    if name.is_empty()
        || wrong.iter().any(|w| name.eq_ignore_ascii_case(w))
        || !code
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'[')
    {
        return None;
    }
    let safe = answer
        .chars()
        .take(300)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Some(safe)
}

/// The client's address, as the backend should hear of it.
pub(crate) fn client_addr(peer: SocketAddr) -> (String, u16) {
    (peer.ip().to_string(), peer.port())
}

#[cfg(test)]
mod tests {
    use super::declined;

    #[test]
    fn a_refusal_with_a_code_other_than_bad_credentials_is_passed_on() {
        let imap = ["AUTHENTICATIONFAILED"];
        assert_eq!(
            declined("[AUTHENTICATIONFAILED] Authentication failed.", &imap),
            None
        );
        assert_eq!(declined("Authentication failed.", &imap), None);
        assert_eq!(
            declined("[LIMIT] Too many connections", &imap).as_deref(),
            Some("[LIMIT] Too many connections")
        );
        let pop3 = ["AUTH"];
        assert_eq!(declined("[AUTH] Authentication failed.", &pop3), None);
        assert_eq!(declined("[auth] no", &pop3), None);
        assert_eq!(
            declined("[IN-USE] Mailbox is locked\rby another", &pop3).as_deref(),
            Some("[IN-USE] Mailbox is locked by another")
        );
        assert_eq!(
            declined("[SYS/TEMP] x", &pop3).as_deref(),
            Some("[SYS/TEMP] x")
        );
        // Not a well-formed code: treated as a plain refusal.
        assert_eq!(declined("[] x", &pop3), None);
        assert_eq!(declined("[IN-USE x", &pop3), None);
        assert_eq!(declined("[A[B] x", &pop3), None);
        assert_eq!(declined("[A\u{7}] x", &pop3), None);
        let long = format!("[SYS/TEMP] {}", "x".repeat(1000));
        assert_eq!(declined(&long, &pop3).unwrap().len(), 300);
    }
}
