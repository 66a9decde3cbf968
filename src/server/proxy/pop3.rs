//! The POP3 front proxy: Postern's own session until login, then the backend's.
//!
//! At the backend: the greeting, STLS if configured, `XCLIENT ADDR=... PORT=...` when the
//! backend offers it (Dovecot says `[XCLIENT]` in its greeting to proxies in its
//! `login_trusted_networks`; others list it in CAPA), then `AUTH PLAIN` with an initial response (RFC 5034), with
//! the client's credentials or a master user's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::{BackendConn, BackendError, Handoff, Refusal, Routed};
use crate::auth::Credentials;
use crate::config::{ListenerKind, Protocol};
use crate::pop3::{CloseReason, Event, LoginReply, Session};
use crate::proxy::BackendTls;
use crate::server::Shared;
use crate::server::batch::Batch;
use crate::server::limits::UserSlot;
use crate::server::sessions::Entry;
use crate::server::transport::Transport;

/// Runs one proxied POP3 connection up to its login, or to its end if it never logs in.
/// A logged-in session comes back as a [`Handoff`], for a relay task of its own.
pub(crate) async fn drive(
    kind: ListenerKind,
    mut transport: Transport,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    entry: &Arc<Entry>,
) -> Option<Handoff> {
    let live = shared.live();
    // No APOP timestamp: APOP cannot be proxied.
    let mut session = Session::new(
        live.pop3.for_listener(kind),
        transport.is_tls(),
        String::new(),
    );
    let preauth_deadline = Instant::now() + live.config.server.preauth_timeout;
    let idle = live.config.pop3.idle_timeout;
    let mut out = Batch::default();
    let mut attempts = 0u32;
    loop {
        while let Some(event) = session.poll() {
            match event {
                Event::Login(creds) => {
                    attempts += 1;
                    let user = creds.user().to_owned();
                    match login(creds, peer, entry.tls(), attempts, shared).await {
                        Ok((conn, slot)) => {
                            tracing::info!(%peer, user, "pop3 proxy login");
                            entry.set_user(&user);
                            session.on_login(LoginReply::Proxied);
                            let flushed = crate::server::pop3::flush(
                                &mut out,
                                &mut session,
                                &mut transport,
                                idle,
                                shared,
                            )
                            .await;
                            if flushed.is_err() {
                                return None;
                            }
                            // `None` if an over-long line pipelined behind the login was
                            // dropped in part.
                            let pipelined = session.take_unread();
                            drop(session);
                            out.release();
                            return super::hand_off(
                                transport,
                                conn,
                                slot,
                                pipelined,
                                b"-ERR [SYS/TEMP] Commands sent before the login completed cannot be passed on.\r\n",
                                b"-ERR [SYS/TEMP] Disconnected by the administrator.\r\n",
                            )
                            .await;
                        }
                        Err(reply) => {
                            tracing::info!(%peer, user, reply = ?reply, "pop3 proxy login failed");
                            session.on_login(reply);
                        }
                    }
                }
                Event::StartTls => {
                    if crate::server::pop3::flush(
                        &mut out,
                        &mut session,
                        &mut transport,
                        idle,
                        shared,
                    )
                    .await
                    .is_err()
                    {
                        return None;
                    }
                    if !super::client_starttls(
                        &mut transport,
                        live.tls.clone(),
                        preauth_deadline,
                        shared,
                        entry,
                    )
                    .await
                    {
                        return None;
                    }
                    session.on_tls_established();
                }
                // Only a maildrop raises these, and a proxy session never has one.
                Event::Retrieve { .. } | Event::Commit { .. } => {
                    tracing::error!(%peer, "pop3 proxy: a maildrop request before login");
                    return None;
                }
            }
        }
        if crate::server::pop3::flush(&mut out, &mut session, &mut transport, idle, shared)
            .await
            .is_err()
            || session.is_finished()
        {
            break;
        }
        transport.release_buffers();
        out.release();
        let limit = preauth_deadline.saturating_duration_since(Instant::now());
        let read = crate::server::race::timeout(limit, transport.read());
        match entry.unless_ended(&shared.shutdown, read).await {
            Some(Ok(Ok([]))) | Some(Ok(Err(_))) => break,
            Some(Ok(Ok(data))) => session.receive(data),
            Some(Err(_elapsed)) => session.close(CloseReason::IdleTimeout),
            None if entry.was_ended() => session.close(CloseReason::Kicked),
            None => session.close(CloseReason::Shutdown),
        }
    }
    transport.close().await;
    None
}

/// Checks the password where configured, finds the backend and logs in there.
async fn login(
    creds: Credentials,
    peer: SocketAddr,
    tls: bool,
    attempt: u32,
    shared: &Arc<Shared>,
) -> Result<(BackendConn, UserSlot), LoginReply> {
    let routed = super::prepare(creds, Protocol::Pop3, peer, tls, attempt, shared)
        .await
        .map_err(reply)?;
    match backend_login(&routed, peer).await {
        Ok(conn) => super::claim_after_login(routed, conn, shared)
            .await
            .map_err(reply),
        Err(e) => Err(reply(
            super::backend_failure(e, &routed, peer, shared).await,
        )),
    }
}

fn reply(refusal: Refusal) -> LoginReply {
    match refusal {
        Refusal::Failed => LoginReply::Failed,
        Refusal::Rejected { message, close } => LoginReply::Rejected {
            text: message,
            close,
        },
        Refusal::Disabled => LoginReply::Disabled,
        Refusal::TlsRequired => LoginReply::TlsRequired,
        Refusal::TooManySessions => LoginReply::TooManySessions,
        Refusal::Declined(answer) => LoginReply::Refused(answer),
        Refusal::TempFail(text) => LoginReply::TempFail(text),
    }
}

async fn backend_login(routed: &Routed, peer: SocketAddr) -> Result<BackendConn, BackendError> {
    let (route, proxy, tls) = (&routed.route, &routed.proxy, routed.tls.as_ref());
    let mut conn = BackendConn::connect(&route.backend, proxy, tls).await?;
    let greeting = conn.line().await?;
    if !greeting.starts_with("+OK") {
        return Err(BackendError::Protocol(format!("greeted with {greeting:?}")));
    }
    if route.backend.tls == BackendTls::Starttls {
        conn.send(b"STLS\r\n").await?;
        let answer = conn.line().await?;
        if !answer.starts_with("+OK") {
            return Err(BackendError::Protocol(format!("refused STLS: {answer}")));
        }
        conn.start_tls(&route.backend.host, tls).await?;
    }
    if proxy.forward_client_ip {
        // Dovecot says it in its greeting (`+OK [XCLIENT] ...`); others list it in CAPA.
        let mut xclient = greeting.contains("[XCLIENT]");
        if !xclient {
            conn.send(b"CAPA\r\n").await?;
            if conn.line().await?.starts_with("+OK") {
                loop {
                    let line = conn.line().await?;
                    if line == "." {
                        break;
                    }
                    let upper = line.to_ascii_uppercase();
                    xclient |= upper == "XCLIENT" || upper.starts_with("XCLIENT ");
                }
            }
        }
        if xclient {
            let (ip, port) = super::client_addr(peer);
            conn.send(format!("XCLIENT ADDR={ip} PORT={port}\r\n").as_bytes())
                .await?;
            let answer = conn.line().await?;
            if !answer.starts_with("+OK") {
                tracing::warn!("backend refused XCLIENT: {answer}");
            }
        }
    }
    let encoded = super::sasl_plain(routed);
    conn.send(format!("AUTH PLAIN {encoded}\r\n").as_bytes())
        .await?;
    let answer = conn.line().await?;
    if answer.starts_with("+OK") {
        Ok(conn)
    } else if let Some(err) = answer.strip_prefix("-ERR ") {
        // RFC 3206: AUTH is the credentials; IN-USE, LOGIN-DELAY and SYS/* are not.
        Err(match super::declined(err, &["AUTH"]) {
            Some(answer) => BackendError::LoginDeclined(answer),
            None => BackendError::LoginRefused,
        })
    } else if answer.starts_with("-ERR") {
        Err(BackendError::LoginRefused)
    } else {
        Err(BackendError::Protocol(format!(
            "answered the login with {answer}"
        )))
    }
}
