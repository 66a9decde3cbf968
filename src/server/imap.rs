//! The IMAP service: drives a sans-IO [`crate::imap::Session`] over a [`Transport`] and
//! answers its events with the account database, the Maildir folders and the shared state
//! of open folders.
//!
//! Everything slow goes to a blocking pool: password hashing to one sized for the CPU, and
//! reading and indexing a folder, renaming files for a STORE, expunging, copying and
//! searching message bodies to the store's, which has more threads because its work mostly
//! waits for the disk. Reading
//! a message for FETCH stays on the loop: it is an `open` and an `mmap`, and the kernel
//! pages the bytes in while they are sent.
//!
//! While a session idles (IMAP IDLE) the loop waits for two things at once: the client's
//! next bytes, without taking them (a read that is abandoned could lose them), and a notice
//! that the selected folder changed (see `notify`); the change goes out at once.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::future::{Either, select};

use super::Shared;
use super::batch::{Batch, SCRATCH_SIZE};
use super::limits::UserSlot;
use super::live::Live;
use super::login::Verified;
use super::notify::Notifier;
use super::sessions::Entry;
use super::transport::{OutBuf, Transport};
use crate::auth::{Credentials, Mechanism};
use crate::body::MessageBody;
use crate::config::{Config, ListenerKind, Protocol};
use crate::imap::{
    CloseReason, DateTime, Failure, Flag, Folder, Limits, LoadedMessage, LoginReply, MessageError,
    NonSyncLiterals, Output, Reply, Request, SearchError, SearchJob, SearchSource, Selected,
    Session, SessionEvent as Event, Settings, StatusInfo, StoreMode,
};
use crate::mailbox::{IndexOptions, Registry, SharedMailbox, Watching};
use crate::policy::RetrievalFormat;
use crate::store::{FlagOp, Folders, NewFlags, StoreError, StoreOptions, SystemFlags};

/// How often an idling client is told the server is still there.
const IDLE_KEEPALIVE: Duration = Duration::from_secs(120);
/// How often an idling session looks at a folder the kernel would not let us watch.
const UNWATCHED_POLL: Duration = Duration::from_secs(5);

/// IMAP settings and state shared by all IMAP sessions.
pub(crate) struct ImapService {
    pub(crate) registry: Arc<Registry>,
}

/// IMAP session settings per kind of listener, derived from one configuration (see
/// [`super::live`]).
pub(crate) type ImapSettings = super::live::PerListener<Settings>;

impl ImapService {
    /// The open-folder registry outlives reloads; its index layout (the cached header
    /// fields) is therefore fixed at start.
    pub(crate) fn new(config: &Config, notifier: Arc<Notifier>, workers: usize) -> ImapService {
        let cached_headers = cached_headers(&config.imap);
        let registry = Registry::new(IndexOptions { cached_headers }, notifier, workers);
        ImapService { registry }
    }
}

fn cached_headers(imap: &crate::config::ImapConfig) -> Vec<String> {
    imap.cached_headers
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect()
}

impl ImapSettings {
    pub(crate) fn from_config(
        config: &Config,
        accounts: &crate::auth::PasswdDb,
        tls: bool,
    ) -> ImapSettings {
        let imap = &config.imap;
        let mut sasl = vec![Mechanism::Plain, Mechanism::Login];
        if accounts.any_cram_md5() {
            sasl.push(Mechanism::CramMd5);
        }
        let limits = Limits {
            max_line: imap.max_line_length,
            max_literal: imap.max_literal,
            max_append: imap.max_message_size,
            non_sync: match imap.literals {
                crate::config::Literals::Plus => NonSyncLiterals::Plus,
                crate::config::Literals::Minus => NonSyncLiterals::Minus,
            },
            ..Limits::default()
        };
        let special_use = imap
            .special_use
            .iter()
            .filter_map(|(folder, attr)| {
                let attr = crate::config::ImapConfig::canonical_special_use(attr)?;
                Some((crate::imap::mutf7::encode(folder), attr))
            })
            .collect();
        let cached_headers = cached_headers(imap);
        let settings = Settings {
            login_type: imap.login_type,
            starttls_offered: tls,
            sasl,
            limits,
            max_bad_commands: imap.max_bad_commands,
            cached_headers,
            special_use,
            implementation: Some(("Postern".into(), env!("CARGO_PKG_VERSION").into())),
        };
        super::live::PerListener::new(
            settings,
            |s| Settings {
                starttls_offered: false,
                ..s.clone()
            },
            |s| {
                let mut s = s.clone();
                s.sasl
                    .retain(|m| matches!(m, Mechanism::Plain | Mechanism::Login));
                s
            },
        )
    }
}

/// The account of a logged-in session.
struct Account {
    folders: Arc<Folders>,
    /// The MIME form messages are shown in, decided at login.
    format: RetrievalFormat,
    /// This session's place in the per-user count, given back when the session ends.
    _slot: UserSlot,
}

/// The selected folder, as the runtime holds it.
struct Selection {
    watching: Watching,
    read_only: bool,
    /// The session's retrieval format: which view of the folder it is given.
    format: RetrievalFormat,
    /// The last generation handed to the session.
    generation: u64,
    /// How many messages this session holds `\Recent` for.
    recent: usize,
}

impl Selection {
    fn mailbox(&self) -> &Arc<SharedMailbox> {
        self.watching.mailbox()
    }
}

impl Drop for Selection {
    fn drop(&mut self) {
        self.mailbox().release_recent(self.recent);
    }
}

/// Runs one IMAP session to its end.
pub(crate) async fn drive(
    worker: usize,
    kind: ListenerKind,
    mut transport: Transport,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    entry: &Arc<Entry>,
) {
    let live = shared.live();
    let settings = live.imap.for_listener(kind);
    let mut session = Session::new(
        settings,
        transport.is_tls(),
        super::login::challenge(&live.hostname),
    );
    let idle_timeout = live.config.imap.idle_timeout;
    let preauth_deadline = Instant::now() + live.config.server.preauth_timeout;
    let mut driver = Driver {
        worker,
        peer,
        shared: shared.clone(),
        live,
        entry: entry.clone(),
        account: None,
        selection: None,
    };
    let mut out = Batch::default();

    loop {
        let mut progressed = driver.hand_over_updates(&mut session);
        while let Some(event) = session.poll() {
            progressed = true;
            if let Err(()) = driver
                .answer(
                    event,
                    &mut session,
                    &mut transport,
                    &mut out,
                    preauth_deadline,
                )
                .await
            {
                transport.close().await;
                return;
            }
            driver.hand_over_updates(&mut session);
        }
        progressed |= session.has_output();
        if flush(&mut out, &mut session, &mut transport, idle_timeout, shared)
            .await
            .is_err()
        {
            break;
        }
        if session.is_finished() {
            break;
        }
        if !session.wants_input() {
            if progressed {
                continue;
            }
            tracing::error!(%peer, state = session.state_name(), "imap session stalled");
            break;
        }
        // About to wait for the client, possibly for a long time.
        transport.release_buffers();
        out.release();
        session.release_buffers();
        let limit = if driver.account.is_some() {
            idle_timeout
        } else {
            preauth_deadline.saturating_duration_since(Instant::now())
        };
        match driver.wait(&session, &transport, limit).await {
            Wake::Input => {}
            Wake::Changed => continue,
            Wake::Keepalive => {
                session.idle_keepalive();
                continue;
            }
            Wake::Poll => {
                driver.refresh_selected().await;
                continue;
            }
            Wake::Timeout => {
                session.close(CloseReason::IdleTimeout);
                continue;
            }
            Wake::Shutdown => {
                session.close(CloseReason::Shutdown);
                continue;
            }
            Wake::Ended => {
                session.close(CloseReason::Kicked);
                continue;
            }
        }
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
    // Release the folder before the connection finishes closing.
    driver.selection = None;
    transport.close().await;
}

/// Why the wait for the client ended.
enum Wake {
    Input,
    Changed,
    Keepalive,
    Poll,
    Timeout,
    Shutdown,
    /// An administrator (or a reload) ended the session.
    Ended,
}

/// The session's connection to the rest of the server.
struct Driver {
    worker: usize,
    peer: SocketAddr,
    shared: Arc<Shared>,
    /// The settings the session started with.
    live: Arc<Live>,
    entry: Arc<Entry>,
    account: Option<Account>,
    selection: Option<Selection>,
}

impl Driver {
    /// Gives the session the selected folder's newest snapshot, if it has not seen it.
    fn hand_over_updates(&mut self, session: &mut Session) -> bool {
        let Some(sel) = self.selection.as_mut() else {
            return false;
        };
        let Some(snapshot) = sel.mailbox().newer_than_as(sel.format, sel.generation) else {
            return false;
        };
        sel.generation = snapshot.generation;
        let recent = if sel.read_only {
            sel.mailbox().peek_recent(&snapshot)
        } else {
            let claimed = sel.mailbox().claim_recent(&snapshot);
            sel.recent += claimed.len();
            claimed
        };
        session.on_update(snapshot, &recent);
        true
    }

    /// Waits for the client's next bytes (without reading them), and while the session
    /// idles also for a change of the selected folder and the keep-alive timer.
    async fn wait(&self, session: &Session, transport: &Transport, limit: Duration) -> Wake {
        let idling = session.is_idling();
        let changed = match (&self.selection, idling) {
            (Some(sel), true) => {
                // Listen first, then look: a change in between is not missed.
                let listener = Notifier::listen(sel.mailbox().id());
                if sel.mailbox().newer_than(sel.generation).is_some() {
                    return Wake::Changed;
                }
                listener
            }
            _ => None,
        };
        let (timer, timer_wake) = if idling {
            match &self.selection {
                Some(sel) if !sel.watching.is_watched() => (UNWATCHED_POLL, Wake::Poll),
                _ => (IDLE_KEEPALIVE, Wake::Keepalive),
            }
        } else {
            (limit, Wake::Timeout)
        };
        let readable = pin!(transport.readable());
        let change = pin!(async move {
            match changed {
                Some(listener) => listener.await,
                None => std::future::pending().await,
            }
        });
        let sleep = pin!(compio::time::sleep(timer));
        let waits = select(readable, select(change, sleep));
        match self.entry.unless_ended(&self.shared.shutdown, waits).await {
            None if self.entry.was_ended() => Wake::Ended,
            None => Wake::Shutdown,
            Some(Either::Left((Ok(()), _))) => Wake::Input,
            // A failed poll is the read's business: it reports the error.
            Some(Either::Left((Err(_), _))) => Wake::Input,
            Some(Either::Right((Either::Left(_), _))) => Wake::Changed,
            Some(Either::Right((Either::Right(_), _))) => timer_wake,
        }
    }

    async fn refresh_selected(&self) {
        if let Some(sel) = &self.selection {
            let mailbox = sel.mailbox().clone();
            let _ = self.shared.store_pool.run(move || mailbox.refresh()).await;
        }
    }

    /// Answers one event. `Err` means the connection must close at once.
    async fn answer(
        &mut self,
        event: Event,
        session: &mut Session,
        transport: &mut Transport,
        out: &mut Batch,
        preauth_deadline: Instant,
    ) -> Result<(), ()> {
        match event {
            Event::Login(creds) => {
                let user = creds.user().to_owned();
                let reply = self.login(creds).await;
                match &reply {
                    LoginReply::Ok { .. } => {
                        tracing::info!(worker = self.worker, peer = %self.peer, user, "imap login")
                    }
                    LoginReply::Failed => {
                        tracing::info!(peer = %self.peer, user, "imap login failed")
                    }
                    other => {
                        tracing::info!(peer = %self.peer, user, reply = ?other, "imap login refused")
                    }
                }
                session.on_login(reply);
            }
            Event::StartTls => {
                let idle = self.live.config.imap.idle_timeout;
                flush(out, session, transport, idle, &self.shared).await?;
                // The newest certificate (a reload may have replaced it since this
                // connection came in); the one STARTTLS was offered with if [tls] is gone.
                let config = self
                    .shared
                    .live()
                    .tls
                    .clone()
                    .or_else(|| self.live.tls.clone())
                    .expect("STARTTLS is only offered with TLS");
                let timeout = preauth_deadline.saturating_duration_since(Instant::now());
                let handshake = crate::server::race::timeout(timeout, transport.start_tls(config));
                match self
                    .entry
                    .unless_ended(&self.shared.shutdown, handshake)
                    .await
                {
                    Some(Ok(Ok(()))) => {
                        self.entry.set_tls();
                        session.on_tls_established()
                    }
                    _ => {
                        tracing::debug!(peer = %self.peer, "STARTTLS handshake failed");
                        return Err(());
                    }
                }
            }
            Event::Request(request) => {
                let reply = self.request(request, session).await;
                self.hand_over_updates(session);
                session.on_reply(reply);
            }
            Event::LoadMessage { uid } => {
                let loaded = self.load(uid);
                session.on_message(uid, loaded);
            }
            Event::Search(job) => {
                let result = self.search(job).await;
                self.hand_over_updates(session);
                session.on_search(result);
            }
        }
        Ok(())
    }

    async fn login(&mut self, creds: Credentials) -> LoginReply {
        let tls = self.entry.tls();
        let verified =
            super::login::verify(creds, self.peer.ip(), Protocol::Imap, tls, &self.shared).await;
        let account = match verified {
            Verified::Ok(account) => account,
            Verified::Failed => return LoginReply::Failed,
            Verified::TlsRequired => return LoginReply::TlsRequired,
            Verified::TempFail(reason) => return LoginReply::TempFail(reason.into()),
        };
        if !account.imap_enabled {
            return LoginReply::Disabled;
        }
        // The configuration of this moment, not the session's start: a reload applies to
        // the next login.
        let live = self.shared.live();
        let max = live.config.server.max_sessions_per_user;
        let Some(slot) = self.shared.users.claim(Protocol::Imap, &account.user, max) else {
            return LoginReply::TooManySessions;
        };
        let Some(root) = account.maildir(&live.config.mail.location) else {
            tracing::error!(
                user = account.user,
                "no mail location: the template needs a home"
            );
            return LoginReply::TempFail("No mailbox is configured for this account.".into());
        };
        let store = StoreOptions {
            fsync: live.config.mail.fsync,
            ..StoreOptions::default()
        };
        let opened = self
            .shared
            .store_pool
            .run(move || Folders::open(&root, store))
            .await;
        match opened {
            Ok(Ok(folders)) => {
                self.entry.set_user(&account.user);
                let format =
                    account.retrieval_format(Protocol::Imap, live.config.imap.retrieval_format);
                self.account = Some(Account {
                    folders: Arc::new(folders),
                    format,
                    _slot: slot,
                });
                LoginReply::Ok {
                    user: account.user.clone(),
                }
            }
            Ok(Err(e)) => {
                tracing::error!(user = account.user, "cannot open the mail root: {e}");
                LoginReply::TempFail("Cannot open the mailbox, try again later.".into())
            }
            Err(_) => LoginReply::TempFail("Server is busy, try again later.".into()),
        }
    }

    fn folders(&self) -> Option<Arc<Folders>> {
        self.account.as_ref().map(|a| a.folders.clone())
    }

    fn format(&self) -> RetrievalFormat {
        self.account
            .as_ref()
            .map_or(RetrievalFormat::Original, |a| a.format)
    }

    /// Runs blocking store work on the pool.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, Failure> + Send + 'static,
    ) -> Result<T, Failure> {
        match self.shared.store_pool.run(f).await {
            Ok(result) => result,
            Err(_) => Err(Failure::new(
                Some("UNAVAILABLE"),
                "Server is busy, try again later.",
            )),
        }
    }

    async fn request(&mut self, request: Request, session: &mut Session) -> Reply {
        let Some(folders) = self.folders() else {
            return Reply::Done(Err(Failure::new(Some("SERVERBUG"), "Not logged in.")));
        };
        let registry = self.shared.imap.registry.clone();
        match request {
            Request::Select { mailbox, read_only } => {
                self.selection = None;
                let name = mailbox.as_str().to_owned();
                let format = self.format();
                let opened = self
                    .blocking(move || {
                        let mailbox = open_shared(&registry, &folders, &name).map_err(failure)?;
                        // Converted forms are derived here, on the pool, before the session
                        // is told any size.
                        mailbox.use_format(format);
                        Ok(mailbox)
                    })
                    .await;
                let mailbox = match opened {
                    Ok(m) => m,
                    Err(f) => return Reply::Selected(Err(f)),
                };
                let snapshot = mailbox.snapshot_as(format);
                let recent = if read_only {
                    mailbox.peek_recent(&snapshot)
                } else {
                    mailbox.claim_recent(&snapshot)
                };
                let watching = self.shared.imap.registry.watch(&mailbox, self.worker);
                self.selection = Some(Selection {
                    watching,
                    read_only,
                    format,
                    generation: snapshot.generation,
                    recent: if read_only { 0 } else { recent.len() },
                });
                let _ = session;
                Reply::Selected(Ok(Selected { snapshot, recent }))
            }
            Request::Close { expunge } => {
                if let Some(sel) = self.selection.take()
                    && expunge
                {
                    let mailbox = sel.mailbox().clone();
                    if let Err(f) = self
                        .blocking(move || mailbox.expunge(None).map_err(failure))
                        .await
                    {
                        return Reply::Done(Err(f));
                    }
                }
                Reply::Done(Ok(()))
            }
            Request::Check => {
                self.refresh_selected().await;
                Reply::Done(Ok(()))
            }
            Request::Create { mailbox } => {
                let name = mailbox.as_str().to_owned();
                Reply::Done(
                    self.blocking(move || {
                        let uid_validity = folders.create(&name).map_err(failure)?;
                        // Everything that arrives before the first SELECT is \Recent.
                        let dir = folders.path_of(&name).map_err(failure)?;
                        crate::mailbox::index::set_first_recent(
                            &dir,
                            uid_validity,
                            registry.fingerprint(),
                            1,
                            true,
                        );
                        Ok(())
                    })
                    .await,
                )
            }
            Request::Delete { mailbox } => {
                let name = mailbox.as_str().to_owned();
                Reply::Done(
                    self.blocking(move || folders.delete(&name).map_err(failure))
                        .await,
                )
            }
            Request::Rename { from, to } => {
                let (from, to) = (from.as_str().to_owned(), to.as_str().to_owned());
                Reply::Done(
                    self.blocking(move || folders.rename(&from, &to).map_err(failure))
                        .await,
                )
            }
            Request::Subscribe { mailbox, subscribe } => {
                let name = mailbox.as_str().to_owned();
                Reply::Done(
                    self.blocking(move || {
                        let done = if subscribe {
                            folders.subscribe(&name)
                        } else {
                            folders.unsubscribe(&name)
                        };
                        done.map(|_| ()).map_err(failure)
                    })
                    .await,
                )
            }
            Request::List => Reply::Folders(
                self.blocking(move || {
                    let list = folders
                        .list()
                        .map_err(failure)?
                        .into_iter()
                        .map(|f| Folder {
                            name: f.name,
                            selectable: f.selectable,
                            has_children: f.has_children,
                        })
                        .collect();
                    Ok((list, folders.subscriptions().map_err(failure)?))
                })
                .await,
            ),
            Request::Status { mailbox, .. } => {
                let name = mailbox.as_str().to_owned();
                Reply::Status(
                    self.blocking(move || status(&registry, &folders, &name).map_err(failure))
                        .await,
                )
            }
            Request::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                let name = mailbox.as_str().to_owned();
                let flags = new_flags(&flags);
                let date = date.map(system_time);
                Reply::Appended(
                    self.blocking(move || {
                        append(&registry, &folders, &name, &message, &flags, date)
                    })
                    .await,
                )
            }
            Request::Store { uids, mode, flags } => {
                let Some(sel) = &self.selection else {
                    return Reply::Done(Err(no_selection()));
                };
                let mailbox = sel.mailbox().clone();
                let op = match mode {
                    StoreMode::Replace => FlagOp::Replace,
                    StoreMode::Add => FlagOp::Add,
                    StoreMode::Remove => FlagOp::Remove,
                };
                let flags = new_flags(&flags);
                Reply::Done(
                    self.blocking(move || mailbox.store_flags(&uids, op, flags).map_err(failure))
                        .await,
                )
            }
            Request::Expunge { uids } => {
                let Some(sel) = &self.selection else {
                    return Reply::Done(Err(no_selection()));
                };
                let mailbox = sel.mailbox().clone();
                Reply::Done(
                    self.blocking(move || {
                        mailbox
                            .expunge(uids.as_deref())
                            .map(|_| ())
                            .map_err(failure)
                    })
                    .await,
                )
            }
            Request::Copy {
                uids,
                mailbox,
                moving,
            } => {
                let Some(sel) = &self.selection else {
                    return Reply::Copied(Err(no_selection()));
                };
                let source = sel.mailbox().clone();
                let name = mailbox.as_str().to_owned();
                Reply::Copied(
                    self.blocking(move || copy(&registry, &folders, &source, &uids, &name, moving))
                        .await,
                )
            }
        }
    }

    fn load(&self, uid: u32) -> LoadedMessage {
        let Some(sel) = &self.selection else {
            return Err(MessageError::Failed);
        };
        sel.mailbox().read_as(uid, sel.format).map_err(|e| match e {
            StoreError::Gone { .. } => MessageError::Gone,
            e => {
                tracing::warn!(uid, "cannot read message: {e}");
                MessageError::Failed
            }
        })
    }

    async fn search(&self, job: Box<SearchJob>) -> Result<Vec<usize>, SearchError> {
        let Some(sel) = &self.selection else {
            return Err(SearchError::Unreadable);
        };
        let source = Source(sel.mailbox().clone(), sel.format);
        match self.shared.store_pool.run(move || job.run(&source)).await {
            Ok(result) => result,
            Err(_) => Err(SearchError::Unreadable),
        }
    }
}

/// A folder's messages as the session's format shows them, for a search running on the
/// pool.
struct Source(Arc<SharedMailbox>, RetrievalFormat);

impl SearchSource for Source {
    fn message(&self, uid: u32) -> Result<MessageBody, MessageError> {
        self.0.read_as(uid, self.1).map_err(|e| match e {
            StoreError::Gone { .. } => MessageError::Gone,
            _ => MessageError::Failed,
        })
    }
}

fn no_selection() -> Failure {
    Failure::new(Some("SERVERBUG"), "No mailbox selected.")
}

/// The shared state of an existing folder, opened if nobody has it open.
fn open_shared(
    registry: &Registry,
    folders: &Folders,
    name: &str,
) -> Result<Arc<SharedMailbox>, StoreError> {
    let path = folders.path_of(name)?;
    if !folders.exists(name)? {
        return Err(StoreError::NonExistent {
            name: name.to_owned(),
        });
    }
    registry.open_with(&path, || folders.open_folder(name))
}

fn status(registry: &Registry, folders: &Folders, name: &str) -> Result<StatusInfo, StoreError> {
    let path = folders.path_of(name)?;
    if let Some(open) = registry.find(&path) {
        // Newest figures: what other sessions did may not have been reread yet.
        open.refresh()?;
        let c = open.counts();
        return Ok(StatusInfo {
            messages: c.messages,
            recent: c.recent,
            uid_next: c.uid_next,
            uid_validity: c.uid_validity,
            unseen: c.unseen,
        });
    }
    let maildir = folders.open_folder(name)?;
    let in_new = crate::mailbox::shared::names_in_new(&path);
    let inbox = maildir.sync()?;
    // \Recent: what nobody has been told of since the index last recorded it; without an
    // index, what was still in new/ (and the index then remembers it).
    let first_recent = match crate::mailbox::index::read_first_recent(&path, inbox.uid_validity) {
        Some(uid) => uid,
        None => {
            let uid = crate::mailbox::shared::first_in_new(&inbox.messages, &in_new)
                .unwrap_or(inbox.next_uid);
            crate::mailbox::index::set_first_recent(
                &path,
                inbox.uid_validity,
                registry.fingerprint(),
                uid,
                true,
            );
            uid
        }
    };
    Ok(StatusInfo {
        messages: inbox.messages.len() as u32,
        recent: inbox
            .messages
            .iter()
            .filter(|m| m.uid >= first_recent)
            .count() as u32,
        uid_next: inbox.next_uid,
        uid_validity: inbox.uid_validity,
        unseen: inbox
            .messages
            .iter()
            .filter(|m| !m.flags().system.contains(SystemFlags::SEEN))
            .count() as u32,
    })
}

fn append(
    registry: &Registry,
    folders: &Folders,
    name: &str,
    message: &[u8],
    flags: &NewFlags,
    date: Option<SystemTime>,
) -> Result<(u32, u32), Failure> {
    let path = destination(folders, name)?;
    if let Some(open) = registry.find(&path) {
        return open.append(message, flags, date).map_err(failure);
    }
    let appended = folders
        .open_folder(name)
        .and_then(|f| f.append(message, flags, date))
        .map_err(failure)?;
    // Nobody has seen it: \Recent for the first session that selects the folder.
    crate::mailbox::index::set_first_recent(
        &path,
        appended.uid_validity,
        registry.fingerprint(),
        appended.uid,
        true,
    );
    Ok((appended.uid_validity, appended.uid))
}

fn copy(
    registry: &Registry,
    folders: &Folders,
    source: &SharedMailbox,
    uids: &[u32],
    name: &str,
    moving: bool,
) -> Result<(u32, Vec<u32>, Vec<u32>), Failure> {
    let path = destination(folders, name)?;
    copy_into(registry, folders, source, uids, name, &path, moving).map_err(failure)
}

fn copy_into(
    registry: &Registry,
    folders: &Folders,
    source: &SharedMailbox,
    uids: &[u32],
    name: &str,
    path: &std::path::Path,
    moving: bool,
) -> Result<(u32, Vec<u32>, Vec<u32>), StoreError> {
    let dest_open = registry.find(path);
    let same = dest_open.as_ref().is_some_and(|d| d.id() == source.id());
    let result = match &dest_open {
        Some(dest) => source.copy_to(uids, dest.maildir())?,
        None => source.copy_to(uids, &folders.open_folder(name)?)?,
    };
    if moving {
        // Copied first, removed after: a crash in between leaves the message in both
        // folders, never in neither.
        source.remove_uids(&result.1)?;
    }
    if let Some(dest) = dest_open
        && !same
    {
        dest.refresh()?;
    } else if same {
        source.refresh()?;
    }
    Ok(result)
}

/// The directory of an APPEND or COPY destination; one that does not exist is
/// `[TRYCREATE]` (RFC 3501 section 6.3.11), so the client knows creating it would help.
fn destination(folders: &Folders, name: &str) -> Result<std::path::PathBuf, Failure> {
    let path = folders.path_of(name).map_err(failure)?;
    if !folders.exists(name).map_err(failure)? {
        return Err(Failure::new(
            Some("TRYCREATE"),
            format!("Mailbox doesn't exist: {name}"),
        ));
    }
    Ok(path)
}

/// The answer to a store error.
fn failure(e: StoreError) -> Failure {
    match &e {
        StoreError::NonExistent { name } => Failure::new(
            Some("NONEXISTENT"),
            format!("Mailbox doesn't exist: {name}"),
        ),
        StoreError::AlreadyExists { .. } => {
            Failure::new(Some("ALREADYEXISTS"), "Mailbox already exists.")
        }
        StoreError::InvalidName { reason, .. } => {
            Failure::new(Some("CANNOT"), format!("Invalid mailbox name: {reason}."))
        }
        StoreError::Cannot { reason } => Failure::new(Some("CANNOT"), format!("{reason}.")),
        StoreError::TooManyKeywords => Failure::new(
            Some("LIMIT"),
            "No room for another keyword in this mailbox.",
        ),
        StoreError::InvalidKeyword { .. } => Failure::new(None, "Invalid keyword."),
        StoreError::Gone { .. } => Failure::new(
            Some("EXPUNGEISSUED"),
            "Some of the requested messages no longer exist.",
        ),
        StoreError::Locked | StoreError::LockTimeout { .. } => Failure::new(
            Some("INUSE"),
            "Mailbox is locked by another session, try again later.",
        ),
        StoreError::Corrupt { .. } => {
            tracing::error!("store error: {e}");
            Failure::new(
                Some("CORRUPTION"),
                "The mailbox is damaged, see the server log.",
            )
        }
        StoreError::Io { .. } => {
            tracing::error!("store error: {e}");
            Failure::new(Some("SERVERBUG"), "Internal error, see the server log.")
        }
    }
}

/// IMAP flags as the store takes them.
fn new_flags(flags: &[Flag]) -> NewFlags {
    let mut out = NewFlags::default();
    for flag in flags {
        match flag {
            Flag::Seen => out.system.insert(SystemFlags::SEEN),
            Flag::Answered => out.system.insert(SystemFlags::ANSWERED),
            Flag::Flagged => out.system.insert(SystemFlags::FLAGGED),
            Flag::Deleted => out.system.insert(SystemFlags::DELETED),
            Flag::Draft => out.system.insert(SystemFlags::DRAFT),
            Flag::Keyword(k) => out.keywords.push(k.clone()),
            // Refused by the session before it gets here.
            Flag::Extension(_) => {}
        }
    }
    out
}

/// An APPEND date-time as an instant.
fn system_time(d: DateTime) -> SystemTime {
    let days = crate::imap::date::days_from_civil(
        i64::from(d.date.year),
        i64::from(d.date.month),
        i64::from(d.date.day),
    );
    let secs =
        days * 86_400 + i64::from(d.hour) * 3600 + i64::from(d.minute) * 60 + i64::from(d.second)
            - i64::from(d.zone_minutes) * 60;
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

/// Writes all queued session output: protocol text, message bytes straight from their maps
/// when already in wire form, and converted pieces otherwise, in vectored batches.
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
                Output::Message { body, mut slice } => {
                    if let Some(range) = slice.as_stored(body.as_bytes()) {
                        batch.push(transport, OutBuf::Body(body, range)).await?;
                        continue;
                    }
                    while slice.next_chunk(body.as_bytes(), batch.scratch(), SCRATCH_SIZE) {
                        batch.push_scratch(transport).await?;
                    }
                    batch.push_scratch(transport).await?;
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
