//! The IMAP front proxy: Postern's own session until login, then the backend's.
//!
//! The login at the backend follows what Dovecot's own proxy does, so a Dovecot backend
//! treats the session as coming from the client: the greeting, STARTTLS if configured, an
//! `ID` carrying `x-originating-ip`/`x-originating-port` (honoured by Dovecot for proxies in
//! its `login_trusted_networks`), then `AUTHENTICATE PLAIN` with the client's credentials (or
//! a master user's, with the client's name as the authorization identity). The client is then
//! told the backend's own capabilities in the tagged OK, as RFC 3501 allows, because those are
//! what it will be talking to.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::{BackendConn, BackendError, Handoff, Refusal, Routed};
use crate::auth::Credentials;
use crate::config::{ListenerKind, Protocol};
use crate::imap::{CloseReason, LoginReply, Session, SessionEvent as Event};
use crate::proxy::BackendTls;
use crate::server::Shared;
use crate::server::batch::Batch;
use crate::server::limits::UserSlot;
use crate::server::sessions::Entry;
use crate::server::transport::Transport;

/// Runs one proxied IMAP connection up to its login, or to its end if it never logs in.
/// A logged-in session comes back as a [`Handoff`], for a relay task of its own.
pub(crate) async fn drive(
    kind: ListenerKind,
    mut transport: Transport,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    entry: &Arc<Entry>,
) -> Option<Handoff> {
    let live = shared.live();
    let mut session = Session::new(
        live.imap.for_listener(kind),
        transport.is_tls(),
        crate::server::login::challenge(&live.hostname),
    );
    let preauth_deadline = Instant::now() + live.config.server.preauth_timeout;
    let idle = live.config.imap.idle_timeout;
    let mut out = Batch::default();
    let mut attempts = 0u32;
    loop {
        while let Some(event) = session.poll() {
            match event {
                Event::Login(creds) => {
                    attempts += 1;
                    let user = creds.user().to_owned();
                    match login(creds, peer, entry.tls(), attempts, shared).await {
                        Ok((backend, slot)) => {
                            tracing::info!(%peer, user, "imap proxy login");
                            entry.set_user(&user);
                            session.on_login(LoginReply::Proxied {
                                capability: backend.capability.clone(),
                            });
                            if crate::server::imap::flush(
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
                            // `None` if a literal pipelined behind the login was partly
                            // taken apart already.
                            let pipelined = session.take_unread();
                            drop(session);
                            out.release();
                            return super::hand_off(
                                transport,
                                backend.conn,
                                slot,
                                pipelined,
                                b"* BYE [UNAVAILABLE] Commands sent before the login completed cannot be passed on.\r\n",
                                b"* BYE [UNAVAILABLE] Disconnected by the administrator.\r\n",
                            )
                            .await;
                        }
                        Err(reply) => {
                            tracing::info!(%peer, user, reply = ?reply, "imap proxy login failed");
                            session.on_login(reply);
                        }
                    }
                }
                Event::StartTls => {
                    if crate::server::imap::flush(
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
                // Nothing else can come before login: the session answers every other
                // command itself (most with "log in first").
                Event::Request(_) | Event::LoadMessage { .. } | Event::Search(_) => {
                    tracing::error!(%peer, "imap proxy: a mail request before login");
                    return None;
                }
            }
        }
        if crate::server::imap::flush(&mut out, &mut session, &mut transport, idle, shared)
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

/// A logged-in backend session.
struct LoggedIn {
    conn: BackendConn,
    capability: String,
}

/// Checks the password where configured, finds the backend and logs in there.
async fn login(
    creds: Credentials,
    peer: SocketAddr,
    tls: bool,
    attempt: u32,
    shared: &Arc<Shared>,
) -> Result<(LoggedIn, UserSlot), LoginReply> {
    let routed = super::prepare(creds, Protocol::Imap, peer, tls, attempt, shared)
        .await
        .map_err(reply)?;
    match backend_login(&routed, peer).await {
        Ok(LoggedIn { conn, capability }) => {
            let (conn, slot) = super::claim_after_login(routed, conn, shared)
                .await
                .map_err(reply)?;
            Ok((LoggedIn { conn, capability }, slot))
        }
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
        Refusal::Declined(answer) => {
            // `declined` checked that there is a code.
            let (code, text) = answer[1..].split_once(']').unwrap_or(("UNAVAILABLE", ""));
            LoginReply::Refused {
                code: code.to_owned(),
                text: text.trim_start().to_owned(),
            }
        }
        Refusal::TempFail(text) => LoginReply::TempFail(text),
    }
}

/// Connects to the route's backend and logs in there as the client.
async fn backend_login(routed: &Routed, peer: SocketAddr) -> Result<LoggedIn, BackendError> {
    let (route, proxy, tls) = (&routed.route, &routed.proxy, routed.tls.as_ref());
    let mut conn = BackendConn::connect(&route.backend, proxy, tls).await?;
    let greeting = conn.line().await?;
    if !greeting.starts_with("* OK") {
        return Err(BackendError::Protocol(format!("greeted with {greeting:?}")));
    }
    if route.backend.tls == BackendTls::Starttls {
        conn.send(b"P1 STARTTLS\r\n").await?;
        let answer = tagged(&mut conn, "P1", &mut None).await?;
        if !answer.starts_with("OK") {
            return Err(BackendError::Protocol(format!(
                "refused STARTTLS: {answer}"
            )));
        }
        conn.start_tls(&route.backend.host, tls).await?;
    }
    if proxy.forward_client_ip {
        let (ip, port) = super::client_addr(peer);
        let id =
            format!("P2 ID (\"x-originating-ip\" \"{ip}\" \"x-originating-port\" \"{port}\")\r\n");
        conn.send(id.as_bytes()).await?;
        tagged(&mut conn, "P2", &mut None).await?;
    }
    let encoded = super::sasl_plain(routed);
    conn.send(b"P3 AUTHENTICATE PLAIN\r\n").await?;
    let continuation = conn.line().await?;
    if !continuation.starts_with('+') {
        return Err(BackendError::Protocol(format!(
            "refused AUTHENTICATE PLAIN: {continuation}"
        )));
    }
    conn.send(format!("{encoded}\r\n").as_bytes()).await?;
    let mut capability = None;
    let answer = tagged(&mut conn, "P3", &mut capability).await?;
    if let Some(no) = answer.strip_prefix("NO ") {
        return Err(match super::declined(no, &["AUTHENTICATIONFAILED"]) {
            Some(answer) => BackendError::LoginDeclined(answer),
            None => BackendError::LoginRefused,
        });
    }
    if answer.starts_with("NO") || answer.starts_with("BAD") {
        return Err(BackendError::LoginRefused);
    }
    if !answer.starts_with("OK") {
        return Err(BackendError::Protocol(format!(
            "answered the login with {answer}"
        )));
    }
    let capability = match capability.or_else(|| capability_code(&answer)) {
        Some(c) => c,
        None => {
            conn.send(b"P4 CAPABILITY\r\n").await?;
            let mut listed = None;
            tagged(&mut conn, "P4", &mut listed).await?;
            listed.unwrap_or_else(|| "IMAP4rev1".into())
        }
    };
    Ok(LoggedIn { conn, capability })
}

/// Reads up to the tagged answer to `tag`; returns it without the tag (`OK ...`). An
/// untagged CAPABILITY on the way is kept in `capability`.
async fn tagged(
    conn: &mut BackendConn,
    tag: &str,
    capability: &mut Option<String>,
) -> Result<String, BackendError> {
    let prefix = format!("{tag} ");
    loop {
        let line = conn.line().await?;
        if let Some(answer) = line.strip_prefix(&prefix) {
            return Ok(answer.to_owned());
        }
        if let Some(caps) = line.strip_prefix("* CAPABILITY ") {
            *capability = Some(caps.to_owned());
        }
    }
}

/// The capability list in a `[CAPABILITY ...]` response code.
fn capability_code(answer: &str) -> Option<String> {
    let start = answer.find("[CAPABILITY ")? + "[CAPABILITY ".len();
    let end = answer[start..].find(']')? + start;
    Some(answer[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn capability_from_the_response_code() {
        assert_eq!(
            super::capability_code("OK [CAPABILITY IMAP4rev1 IDLE MOVE] Logged in").as_deref(),
            Some("IMAP4rev1 IDLE MOVE")
        );
        assert_eq!(super::capability_code("OK Logged in"), None);
    }
}
