//! The POP3 service: drives a sans-IO [`crate::pop3::Session`] over a [`Transport`] and
//! answers its events with the account database and the Maildir store.
//!
//! Everything slow goes to a blocking pool: password hashing to one, scanning and locking a
//! maildrop and deleting at QUIT to the store's. Reading a message for RETR stays on the loop: it is an `open`
//! and an `mmap`, and the bytes are then paged in by the kernel while it sends them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Shared;
use super::batch::{Batch, SCRATCH_SIZE};
use super::limits::UserSlot;
use super::login::Verified;
use super::sessions::Entry;
use super::transport::{OutBuf, Transport};
use crate::auth::{Credentials, Mechanism, PasswdDb};
use crate::config::{Config, ListenerKind, Protocol};
use crate::mailbox::derived::{Derived, Form};
use crate::policy::RetrievalFormat;
use crate::pop3::{
    Chunk, CloseReason, Event, Framer, Listing, LoginReply, Output, Session, Settings,
};
use crate::store::{Inbox, Maildir, SessionLock, StoreError, StoreOptions};

/// The maildrop lock is re-touched this often so it never looks stale to Dovecot.
const LOCK_REFRESH: Duration = Duration::from_secs(60);

/// POP3 state shared by all POP3 sessions, kept across reloads.
#[derive(Default)]
pub(crate) struct Pop3Service {
    /// Last successful login per user, for LOGIN-DELAY.
    last_login: Mutex<HashMap<String, Instant>>,
}

/// POP3 session settings per kind of listener, derived from one configuration (see
/// [`super::live`]).
pub(crate) type Pop3Settings = super::live::PerListener<Settings>;

impl Pop3Settings {
    pub fn from_config(config: &Config, db: &PasswdDb, tls: bool, hostname: &str) -> Self {
        let mut sasl = vec![Mechanism::Plain, Mechanism::Login];
        if db.any_cram_md5() {
            sasl.push(Mechanism::CramMd5);
        }
        let implementation = Some(config.pop3.implementation.clone()).filter(|s| !s.is_empty());
        let settings = Settings {
            login_type: config.pop3.login_type,
            stls_offered: tls,
            implementation,
            expire: config.pop3.expire.clone(),
            login_delay: config.pop3.login_delay,
            max_line: config.server.max_line_length,
            max_bad_commands: config.pop3.max_bad_commands,
            sasl,
            apop: db.any_apop(),
            hostname: hostname.to_owned(),
        };
        super::live::PerListener::new(
            settings,
            |s| Settings {
                stls_offered: false,
                ..s.clone()
            },
            |s| {
                let mut s = s.clone();
                s.sasl
                    .retain(|m| matches!(m, Mechanism::Plain | Mechanism::Login));
                // APOP proves the password without revealing it: nothing to log in with.
                s.apop = false;
                s
            },
        )
    }
}

impl Pop3Service {
    /// Checks and records a login against LOGIN-DELAY; returns the delay if it is too soon.
    fn login_too_soon(&self, user: &str, delay: Option<u32>) -> Option<u32> {
        let delay = delay?;
        let now = Instant::now();
        let mut map = self.last_login.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(last) = map.get(user)
            && now.duration_since(*last) < Duration::from_secs(delay.into())
        {
            return Some(delay);
        }
        // Keep the table from growing without bound: old entries no longer matter.
        if map.len() > 100_000 {
            map.retain(|_, t| now.duration_since(*t) < Duration::from_secs(delay.into()));
        }
        map.insert(user.to_owned(), now);
        None
    }
}

/// The open maildrop of a logged-in session.
struct Maildrop {
    maildir: Arc<Maildir>,
    inbox: Inbox,
    /// The converted forms, for a session whose retrieval format is not `original`.
    derived: Option<Derived>,
    /// Declared after the maildrop it guards, so it is released last.
    lock: Option<SessionLock>,
    lock_touched: Instant,
    /// This session's place in the per-user count, given back when the session ends.
    _slot: UserSlot,
}

/// Runs one POP3 session to its end.
pub(crate) async fn drive(
    worker: usize,
    kind: ListenerKind,
    mut transport: Transport,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    entry: &Entry,
) {
    let live = shared.live();
    let settings = live.pop3.for_listener(kind);
    let mut session = Session::new(
        settings,
        transport.is_tls(),
        super::login::challenge(&live.hostname),
    );
    let mut maildrop: Option<Maildrop> = None;
    let mut out = Batch::default();
    let idle = live.config.pop3.idle_timeout;
    let preauth_deadline = Instant::now() + live.config.server.preauth_timeout;

    loop {
        // Whether this turn did anything: a guard against a state machine that neither
        // wants input nor produces output, which would otherwise spin.
        let mut progressed = false;
        while let Some(event) = session.poll() {
            progressed = true;
            match event {
                Event::Login(creds) => {
                    let user = creds.user().to_owned();
                    let (reply, opened) = login(creds, peer.ip(), transport.is_tls(), shared).await;
                    match &reply {
                        LoginReply::Ok(_) => {
                            entry.set_user(&user);
                            tracing::info!(worker, %peer, user, "pop3 login")
                        }
                        LoginReply::Failed => tracing::info!(%peer, user, "pop3 login failed"),
                        other => tracing::info!(%peer, user, reply = ?other, "pop3 login refused"),
                    }
                    maildrop = opened;
                    session.on_login(reply);
                }
                Event::Retrieve { index } => {
                    let result = match maildrop.as_mut() {
                        Some(m) => {
                            m.refresh_lock();
                            m.read(index)
                        }
                        None => Err("no maildrop is open".to_owned()),
                    };
                    session.on_message(index, result);
                }
                Event::Commit { delete } => {
                    let result = match maildrop.as_ref() {
                        Some(m) => m.commit(delete, shared).await,
                        None => Err("no maildrop is open".to_owned()),
                    };
                    if let Err(e) = &result {
                        tracing::error!(%peer, "pop3 delete failed: {e}");
                    }
                    session.on_commit(result);
                }
                Event::StartTls => {
                    if flush(&mut out, &mut session, &mut transport, idle, shared)
                        .await
                        .is_err()
                    {
                        return;
                    }
                    // The newest certificate (a reload may have replaced it since this
                    // connection came in); the one STLS was offered with if [tls] is gone.
                    let config = shared
                        .live()
                        .tls
                        .clone()
                        .or_else(|| live.tls.clone())
                        .expect("STLS is only offered with TLS");
                    let timeout = preauth_deadline.saturating_duration_since(Instant::now());
                    let handshake =
                        crate::server::race::timeout(timeout, transport.start_tls(config));
                    match entry.unless_ended(&shared.shutdown, handshake).await {
                        Some(Ok(Ok(()))) => {
                            entry.set_tls();
                            session.on_tls_established()
                        }
                        _ => {
                            tracing::debug!(%peer, "STLS handshake failed");
                            return;
                        }
                    }
                }
            }
        }
        progressed |= session.has_output();
        if session.is_finished() {
            // Release the maildrop lock before the client reads the final answer, so that it
            // can log in again the moment it has it.
            maildrop.take();
        }
        if flush(&mut out, &mut session, &mut transport, idle, shared)
            .await
            .is_err()
        {
            break;
        }
        if session.is_finished() {
            break;
        }
        if !session.wants_input() {
            // Commands are still buffered: the session paused them to let output drain.
            if progressed {
                continue;
            }
            tracing::error!(%peer, state = session.state_name(), "pop3 session stalled");
            break;
        }
        // About to wait for the client, possibly for minutes.
        transport.release_buffers();
        out.release();
        let limit = if maildrop.is_some() {
            idle
        } else {
            preauth_deadline.saturating_duration_since(Instant::now())
        };
        let read = crate::server::race::timeout(limit, transport.read());
        match entry.unless_ended(&shared.shutdown, read).await {
            Some(Ok(Ok(data))) => {
                if data.is_empty() {
                    tracing::debug!(%peer, "client closed the connection");
                    break;
                }
                session.receive(data);
            }
            Some(Ok(Err(e))) => {
                tracing::debug!(%peer, "read failed: {e}");
                break;
            }
            Some(Err(_elapsed)) => session.close(CloseReason::IdleTimeout),
            None if entry.was_ended() => session.close(CloseReason::Kicked),
            None => session.close(CloseReason::Shutdown),
        }
    }
    transport.close().await;
    drop(maildrop);
}

/// Writes all queued session output: protocol text, message bodies straight from their maps,
/// and framed (converted) pieces of bodies, in vectored batches.
pub(super) async fn flush(
    batch: &mut Batch,
    session: &mut Session,
    transport: &mut Transport,
    timeout: Duration,
    shared: &Shared,
) -> Result<(), ()> {
    let write = async {
        while let Some(out) = session.pop_output() {
            match out {
                Output::Text(text) => batch.push(transport, OutBuf::Bytes(text)).await?,
                Output::Message { body, top_lines } => {
                    let mut framer = Framer::new(top_lines);
                    while let Some(chunk) =
                        framer.next(body.as_bytes(), batch.scratch(), SCRATCH_SIZE)
                    {
                        match chunk {
                            Chunk::Body(range) => {
                                batch
                                    .push(transport, OutBuf::Body(body.clone(), range))
                                    .await?
                            }
                            Chunk::Scratch => batch.push_scratch(transport).await?,
                        }
                    }
                }
            }
        }
        batch.write(transport).await
    };
    // Boxed, because the write and its deadlines make a future of about 2 KB (by
    // `-Zprint-type-sizes`), and every session's own future would otherwise be that much
    // bigger for as long as the session lives; this way it exists only during a write.
    Box::pin(super::batch::guarded(shared, timeout, write)).await
}

/// Verifies credentials and opens the maildrop.
async fn login(
    creds: Credentials,
    ip: IpAddr,
    tls: bool,
    shared: &Arc<Shared>,
) -> (LoginReply, Option<Maildrop>) {
    let account = match super::login::verify(creds, ip, Protocol::Pop3, tls, shared).await {
        Verified::Ok(account) => account,
        Verified::Failed => return (LoginReply::Failed, None),
        Verified::TlsRequired => return (LoginReply::TlsRequired, None),
        Verified::TempFail(reason) => return (LoginReply::TempFail(reason.into()), None),
    };
    if !account.pop3_enabled {
        return (LoginReply::Disabled, None);
    }
    let live = shared.live();
    let config = &live.config;
    if let Some(delay) = shared
        .pop3
        .login_too_soon(&account.user, config.pop3.login_delay)
    {
        return (LoginReply::LoginDelay(delay), None);
    }
    let Some(slot) = shared.users.claim(
        Protocol::Pop3,
        &account.user,
        config.server.max_sessions_per_user,
    ) else {
        return (LoginReply::TooManySessions, None);
    };
    let Some(path) = account.maildir(&config.mail.location) else {
        tracing::error!(
            user = account.user,
            "no mail location: the template needs a home"
        );
        return (
            LoginReply::TempFail("No mailbox is configured for this account.".into()),
            None,
        );
    };
    let options = StoreOptions {
        fsync: config.mail.fsync,
        ..StoreOptions::default()
    };
    let lock_session = config.pop3.lock_session;
    let format = account.retrieval_format(Protocol::Pop3, config.pop3.retrieval_format);
    // The same cached header set as IMAP's, so that both keep one derived file per format.
    let cached_headers = shared.imap.registry.options().cached_headers.clone();
    let header_fingerprint = shared.imap.registry.fingerprint();
    let opened = shared
        .store_pool
        .run(move || -> Result<_, StoreError> {
            let maildir = Maildir::open(&path, options)?;
            let lock = if lock_session {
                Some(maildir.lock_pop3_session()?)
            } else {
                None
            };
            let inbox = maildir.sync()?;
            // Converted forms are derived before the client is told any size: LIST and
            // STAT announce what RETR sends.
            let derived = (format != RetrievalFormat::Original).then(|| {
                let names: Vec<&str> = cached_headers.iter().map(String::as_str).collect();
                Derived::load(&path, format, inbox.uid_validity, header_fingerprint).update(
                    &path,
                    inbox.uid_validity,
                    header_fingerprint,
                    &inbox.messages,
                    &maildir,
                    &names,
                )
            });
            Ok((maildir, lock, inbox, derived))
        })
        .await;
    match opened {
        Ok(Ok((maildir, lock, inbox, derived))) => {
            let size = |m: &crate::store::MessageMeta| match derived
                .as_ref()
                .and_then(|d| d.form(m.uid, m.base()))
            {
                Some(Form::Converted { wire_size, .. }) => wire_size,
                _ => m.size,
            };
            let listing = Listing {
                user: account.user.clone(),
                uid_validity: inbox.uid_validity,
                messages: inbox.messages.iter().map(|m| (m.uid, size(m))).collect(),
            };
            let maildrop = Maildrop {
                maildir: Arc::new(maildir),
                inbox,
                derived,
                lock,
                lock_touched: Instant::now(),
                _slot: slot,
            };
            (LoginReply::Ok(listing), Some(maildrop))
        }
        Ok(Err(StoreError::Locked)) => (LoginReply::InUse, None),
        Ok(Err(e)) => {
            tracing::error!(user = account.user, "cannot open maildrop: {e}");
            (
                LoginReply::TempFail("Cannot open the mailbox, try again later.".into()),
                None,
            )
        }
        Err(_) => (
            LoginReply::TempFail("Server is busy, try again later.".into()),
            None,
        ),
    }
}

impl Maildrop {
    fn read(&self, index: usize) -> Result<crate::body::MessageBody, String> {
        let meta = self
            .inbox
            .messages
            .get(index)
            .ok_or_else(|| format!("no message {}", index + 1))?;
        let read = match &self.derived {
            Some(derived) => derived.read(&self.maildir, meta),
            None => self.maildir.read(meta),
        };
        read.map_err(|e| {
            tracing::warn!("cannot read message: {e}");
            match e {
                StoreError::Gone { .. } => {
                    "The message has been deleted by another session.".into()
                }
                _ => "Cannot read the message.".into(),
            }
        })
    }

    fn refresh_lock(&mut self) {
        if let Some(lock) = &self.lock
            && self.lock_touched.elapsed() >= LOCK_REFRESH
        {
            if let Err(e) = lock.refresh() {
                tracing::warn!("cannot refresh the maildrop lock: {e}");
            }
            self.lock_touched = Instant::now();
        }
    }

    async fn commit(&self, delete: Vec<usize>, shared: &Shared) -> Result<(), String> {
        let metas: Vec<_> = delete
            .iter()
            .filter_map(|&i| self.inbox.messages.get(i).cloned())
            .collect();
        let maildir = self.maildir.clone();
        let done = shared
            .store_pool
            .run(move || {
                let refs: Vec<_> = metas.iter().collect();
                maildir.delete(&refs)
            })
            .await;
        match done {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("server is busy".into()),
        }
    }
}
