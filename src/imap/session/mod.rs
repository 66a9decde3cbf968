//! The IMAP4rev1 server state machine (RFC 3501) with IDLE, UIDPLUS, MOVE, NAMESPACE,
//! ENABLE, ID, UNSELECT, CHILDREN, LITERAL+, SASL-IR and SPECIAL-USE.
//!
//! A [`Session`] is sans-IO, like the POP3 one: it never touches a socket, a clock, a file or
//! the account database. The runtime feeds it the client's bytes, takes its [`Output`], and
//! answers the [`Event`]s it raises when a command needs the outside world — checking a
//! password, a TLS handshake, a folder operation, a message's bytes, a search over message
//! bodies. Everything the protocol decides is decided here, so the whole dialogue is testable
//! byte for byte without a network.
//!
//! The runtime's loop, in outline:
//!
//! ```text
//! send greeting (pop_output)
//! loop {
//!     hand over a newer snapshot of the selected folder, if any (on_update)
//!     while let Some(event) = session.poll() { answer it (on_login, on_reply, on_message, ...) }
//!     write everything pop_output() yields
//!     if session.is_finished() { close }
//!     wait for client bytes (receive) — and, while the session is idling, for folder changes
//! }
//! ```
//!
//! Commands run strictly one at a time, in order, with at most one event outstanding. A
//! command that produces a lot (a FETCH of ten thousand messages) pauses whenever enough
//! output is queued and resumes on the next `poll`, so a client that pipelines without
//! reading gets back-pressure instead of a server holding its answers in memory.
//!
//! Layout, one command family per file: `auth` (not-authenticated state), `mailboxes`
//! (folder management, LIST/LSUB/STATUS/APPEND), `selected` (SELECT/EXAMINE, CLOSE, UNSELECT,
//! EXPUNGE, CHECK, NOOP), `fetch`, `store`, `search`, `copy` (COPY/MOVE), `idle`; this file
//! holds the state, the dispatch and the answers shared by all.

mod auth;
mod copy;
mod fetch;
mod idle;
mod mailboxes;
mod search;
mod selected;
mod store;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::auth::{Credentials, SaslExchange};
use crate::body::MessageBody;
use crate::imap::capability::Offer;
use crate::imap::output::{Output, OutputQueue};
use crate::imap::settings::Settings;
use crate::imap::view::View;
use crate::imap::{
    Command, CommandBody, CommandReader, DateTime, Error, Event as ReaderEvent, Flag, Mailbox,
    StatusItem, StoreMode,
};
use crate::mailbox::Snapshot;

pub use search::{SearchError, SearchJob, SearchSource};

/// Something the session needs from the runtime before it can go on. At most one is
/// outstanding; the session does nothing else until it is answered.
#[derive(Debug)]
pub enum Event {
    /// Verify the credentials and open the account; answer with [`Session::on_login`].
    Login(Credentials),
    /// `tag OK Begin TLS negotiation now.` is the last queued output: flush it, do the
    /// handshake, then call [`Session::on_tls_established`]. Whatever the client pipelined
    /// after STARTTLS has been thrown away (RFC 3501 section 6.2.1).
    StartTls,
    /// A folder operation; answer with [`Session::on_reply`].
    Request(Request),
    /// The stored bytes of a message of the selected folder, for FETCH; answer with
    /// [`Session::on_message`].
    LoadMessage { uid: u32 },
    /// A SEARCH that reads message bodies or headers not in the index: run it where reading
    /// many messages does not stall other sessions, and answer with [`Session::on_search`].
    Search(Box<SearchJob>),
}

/// Folder operations, answered with the [`Reply`] named on each.
#[derive(Debug)]
pub enum Request {
    /// Open a folder, closing any selected one → [`Reply::Selected`]. The runtime keeps it
    /// open and hands newer snapshots to [`Session::on_update`] until `Close` or the next
    /// `Select`. On failure no folder is selected.
    Select {
        mailbox: Mailbox,
        read_only: bool,
    },
    /// The selected folder is no longer selected, after its `\Deleted` messages are
    /// expunged when `expunge` (CLOSE in a read-write folder) → [`Reply::Done`].
    Close {
        expunge: bool,
    },
    /// Look at the selected folder on disk for changes another server or an MDA made
    /// (NOOP, CHECK) → [`Reply::Done`], after an [`Session::on_update`] if anything changed.
    Check,
    Create {
        mailbox: Mailbox,
    },
    Delete {
        mailbox: Mailbox,
    },
    Rename {
        from: Mailbox,
        to: Mailbox,
    },
    Subscribe {
        mailbox: Mailbox,
        subscribe: bool,
    },
    /// Every folder and every subscription → [`Reply::Folders`]. The session filters.
    List,
    Status {
        mailbox: Mailbox,
        items: Vec<StatusItem>,
    },
    Append {
        mailbox: Mailbox,
        flags: Vec<Flag>,
        date: Option<DateTime>,
        message: Vec<u8>,
    },
    /// Change flags of messages of the selected folder → [`Reply::Done`] after an update.
    Store {
        uids: Vec<u32>,
        mode: StoreMode,
        flags: Vec<Flag>,
    },
    /// Expunge the `\Deleted` messages of the selected folder, only those in `uids` when
    /// given (UID EXPUNGE) → [`Reply::Done`] after an update.
    Expunge {
        uids: Option<Vec<u32>>,
    },
    /// Copy (or move) messages of the selected folder → [`Reply::Copied`]; for a move, after
    /// an update that no longer has them.
    Copy {
        uids: Vec<u32>,
        mailbox: Mailbox,
        moving: bool,
    },
}

/// A request that could not be carried out: an RFC 5530 response code and a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: Option<&'static str>,
    pub text: String,
}

impl Failure {
    pub fn new(code: Option<&'static str>, text: impl Into<String>) -> Failure {
        Failure {
            code,
            text: text.into(),
        }
    }
}

/// One folder, as LIST shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// Wire form (modified UTF-7), `INBOX` for the inbox.
    pub name: String,
    /// False for a level that exists only as the parent of others (`\Noselect`).
    pub selectable: bool,
    pub has_children: bool,
}

/// STATUS data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusInfo {
    pub messages: u32,
    pub recent: u32,
    pub uid_next: u32,
    pub uid_validity: u32,
    pub unseen: u32,
}

/// What opening a folder gives the session.
#[derive(Debug)]
pub struct Selected {
    pub snapshot: Arc<Snapshot>,
    /// UIDs this session holds `\Recent` for.
    pub recent: Vec<u32>,
}

/// The runtime's answer to a [`Request`].
#[derive(Debug)]
pub enum Reply {
    Selected(Result<Selected, Failure>),
    Done(Result<(), Failure>),
    Folders(Result<(Vec<Folder>, Vec<String>), Failure>),
    Status(Result<StatusInfo, Failure>),
    Appended(Result<(u32, u32), Failure>),
    /// UIDVALIDITY of the destination, source UIDs, destination UIDs.
    Copied(Result<(u32, Vec<u32>, Vec<u32>), Failure>),
}

/// The runtime's answer to [`Event::Login`].
#[derive(Debug)]
pub enum LoginReply {
    /// Authenticated, and the account's mail is reachable.
    Ok { user: String },
    /// Proxy mode: the backend accepted the login. The client is told the backend's
    /// capabilities and the session hands the connection over (see
    /// [`Session::take_unread`]): from here on bytes are relayed, not parsed.
    Proxied { capability: String },
    /// Wrong credentials or no such user.
    Failed,
    /// Proxy mode: the route source refused the login with a message of its own (nginx's
    /// `Auth-Status`), shown to the client; with `close`, the connection ends after it.
    Rejected { text: String, close: bool },
    /// The password was right but IMAP is switched off for this account. Only ever sent
    /// after a correct password, so it tells a guesser nothing.
    Disabled,
    /// The password was right but this account's own login type forbids the mechanism on
    /// this connection (it must use TLS). Also only sent after a correct password.
    TlsRequired,
    /// The account has as many IMAP sessions open as `max_sessions_per_user` allows.
    TooManySessions,
    /// Proxy mode: the backend refused with a response code other than
    /// AUTHENTICATIONFAILED; passed on as `NO [code] text`.
    Refused { code: String, text: String },
    /// A temporary failure (the account database or the mail store is unreachable).
    TempFail(String),
}

/// Why the runtime could not load a message for FETCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageError {
    /// Expunged by someone else since the client last heard.
    Gone,
    /// Anything else; the text is logged by the runtime, not shown.
    Failed,
}

/// Why the runtime ends a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    IdleTimeout,
    Shutdown,
    Kicked,
}

enum Phase {
    NotAuthenticated,
    Authenticated,
    Logout,
}

/// A command in progress.
enum Pending {
    /// AUTHENTICATE, waiting for the client's next response line.
    Sasl {
        tag: String,
        exchange: Box<SaslExchange>,
    },
    /// IDLE, waiting for DONE.
    Idle { tag: String },
    /// Waiting for the answer to the event just raised.
    Reply { tag: String, wait: Wait },
    /// Waiting for the TLS handshake.
    Tls,
    /// A FETCH producing output.
    Fetch(Box<fetch::FetchJob>),
}

/// What a command that raised an event does with the answer.
enum Wait {
    Login,
    Select {
        read_only: bool,
    },
    Close {
        text: &'static str,
    },
    Noop,
    Check,
    Simple {
        what: &'static str,
    },
    Create,
    Delete,
    Rename,
    List(mailboxes::ListQuery),
    Status {
        mailbox: Mailbox,
        items: Vec<StatusItem>,
    },
    Append,
    Store(store::StoreCommand),
    Expunge {
        uid: bool,
    },
    Copy {
        moving: bool,
        uid_command: bool,
    },
    Search(search::SearchCommand),
    /// The implicit `\Seen` of a non-PEEK FETCH, before the FETCH itself runs.
    FetchSeen(Box<fetch::FetchJob>),
}

/// One IMAP connection's protocol state.
pub struct Session {
    settings: Arc<Settings>,
    tls_active: bool,
    /// The CRAM-MD5 challenge, unique to this connection.
    challenge: String,
    reader: CommandReader,
    output: OutputQueue,
    phase: Phase,
    user: Option<String>,
    selected: Option<View>,
    pending: Option<Pending>,
    /// Failed commands in a row.
    bad_commands: u32,
    finished: bool,
}

impl Session {
    /// A new session with its greeting queued. `tls_active`: the connection came in on an
    /// implicit-TLS listener. `challenge`: a unique `<...@host>` string for CRAM-MD5.
    pub fn new(settings: Arc<Settings>, tls_active: bool, challenge: String) -> Session {
        let mut output = OutputQueue::default();
        let caps = Offer::new(&settings, tls_active).capabilities(false);
        output.line(format_args!("* OK [CAPABILITY {caps}] Postern ready."));
        Session {
            reader: CommandReader::new(settings.limits.clone()),
            settings,
            tls_active,
            challenge,
            output,
            phase: Phase::NotAuthenticated,
            user: None,
            selected: None,
            pending: None,
            bad_commands: 0,
            finished: false,
        }
    }

    /// Bytes from the client, already decrypted. Ignored once the session is finished and
    /// between STARTTLS and the end of the handshake.
    pub fn receive(&mut self, data: &[u8]) {
        if !self.finished && !matches!(self.pending, Some(Pending::Tls)) {
            self.reader.feed(data);
        }
    }

    /// Processes buffered commands until one needs the runtime (its event is returned), the
    /// output should be written first, or the input runs out. Returns `None` without doing
    /// anything while an event is outstanding.
    pub fn poll(&mut self) -> Option<Event> {
        loop {
            if self.finished || self.output.needs_flush() {
                return None;
            }
            match self.pending.take() {
                Some(Pending::Fetch(job)) => {
                    if let Some(event) = self.step_fetch(job) {
                        return Some(event);
                    }
                    continue;
                }
                Some(p @ (Pending::Reply { .. } | Pending::Tls)) => {
                    self.pending = Some(p);
                    return None;
                }
                other => self.pending = other,
            }
            let event = self.reader.next_event()?;
            if let Some(event) = self.handle_input(event) {
                return Some(event);
            }
        }
    }

    /// The next output item, oldest first.
    pub fn pop_output(&mut self) -> Option<Output> {
        self.output.pop()
    }

    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    /// Should the runtime read more? False while an event is outstanding, a command is
    /// still producing output, or the session is finished.
    pub fn wants_input(&self) -> bool {
        !self.finished
            && !matches!(
                self.pending,
                Some(Pending::Reply { .. } | Pending::Tls | Pending::Fetch(_))
            )
    }

    /// The session has ended; once its output is written the connection is closed.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// In IDLE: folder changes should be handed over as they happen, not at the next command.
    pub fn is_idling(&self) -> bool {
        matches!(self.pending, Some(Pending::Idle { .. }))
    }

    /// Whether a folder is selected.
    pub fn has_selected(&self) -> bool {
        self.selected.is_some()
    }

    /// The RFC 3501 state, for logs.
    pub fn state_name(&self) -> &'static str {
        match (&self.phase, &self.selected) {
            (Phase::NotAuthenticated, _) => "not authenticated",
            (Phase::Authenticated, None) => "authenticated",
            (Phase::Authenticated, Some(_)) => "selected",
            (Phase::Logout, _) => "logout",
        }
    }

    /// A newer snapshot of the selected folder, and the UIDs this session now holds
    /// `\Recent` for. While idling the changes go out at once; otherwise at the next moment
    /// RFC 3501 allows.
    pub fn on_update(&mut self, snapshot: Arc<Snapshot>, recent: &[u32]) {
        let Some(view) = self.selected.as_mut() else {
            return;
        };
        if snapshot.uid_validity != view.told().uid_validity {
            // The folder was deleted and made again: every UID and sequence number the
            // client holds is void, and inside a selected folder IMAP has no way to say so
            // but to end the session (RFC 3501 section 2.3.1.1; Dovecot does the same).
            self.output
                .line("* BYE [UNAVAILABLE] The mailbox was replaced (its UIDVALIDITY changed).");
            self.finish();
            return;
        }
        view.update(snapshot, recent);
        if self.is_idling() {
            self.report_updates(true);
        }
    }

    /// While idling: a keep-alive line, so NAT boxes and clients do not give up on a quiet
    /// connection (Dovecot sends the same every two minutes).
    pub fn idle_keepalive(&mut self) {
        if self.is_idling() {
            self.output.line("* OK Still here");
        }
    }

    /// The TLS handshake after [`Event::StartTls`] has finished; the session is still not
    /// authenticated, now with the policy for TLS connections.
    pub fn on_tls_established(&mut self) {
        if matches!(self.pending, Some(Pending::Tls)) {
            self.pending = None;
            self.tls_active = true;
        }
    }

    /// The runtime ends the session: `* BYE` with the reason is queued as the last line.
    pub fn close(&mut self, reason: CloseReason) {
        if self.finished {
            return;
        }
        let text = match reason {
            CloseReason::IdleTimeout => "Disconnected for inactivity.",
            CloseReason::Shutdown => "[UNAVAILABLE] Server shutting down.",
            CloseReason::Kicked => "[UNAVAILABLE] Disconnected by the administrator.",
        };
        self.output.line(format_args!("* BYE {text}"));
        self.finish();
    }

    fn finish(&mut self) {
        self.finished = true;
        self.phase = Phase::Logout;
        self.pending = None;
        self.reader.clear();
    }

    /// After [`LoginReply::Proxied`]: the client's bytes received but not yet read as
    /// commands (pipelined after the login), which belong to the backend now. `None` if the
    /// reader is inside a literal it has already partly taken apart, which cannot be handed
    /// on intact; the connection must then be closed.
    pub fn take_unread(&mut self) -> Option<Vec<u8>> {
        self.reader.take_raw()
    }

    /// Frees what an idle session does not need.
    pub fn release_buffers(&mut self) {
        self.output.release();
        self.reader.release();
    }

    fn offer(&self) -> Offer<'_> {
        Offer::new(&self.settings, self.tls_active)
    }

    fn handle_input(&mut self, event: ReaderEvent) -> Option<Event> {
        match event {
            ReaderEvent::Command(command) => self.command(command),
            ReaderEvent::NeedContinuation { tag, message, .. } => {
                if message && !matches!(self.phase, Phase::Authenticated) {
                    self.reader.refuse_literal();
                    self.bad(&tag, "Command not permitted in this state.");
                } else {
                    self.output.line("+ Ready for literal data");
                }
                None
            }
            ReaderEvent::Line(line) => self.line(line),
            ReaderEvent::Error(error) => {
                self.refused(&error);
                None
            }
        }
    }

    /// A plain line: an AUTHENTICATE response or IDLE's DONE.
    fn line(&mut self, line: Vec<u8>) -> Option<Event> {
        match self.pending.take() {
            Some(Pending::Sasl { tag, exchange }) => self.sasl_response(tag, exchange, &line),
            Some(Pending::Idle { tag }) => {
                self.idle_line(&tag, &line);
                None
            }
            other => {
                self.pending = other;
                None
            }
        }
    }

    /// A command the reader refused.
    fn refused(&mut self, error: &Error) {
        // An AUTHENTICATE exchange or an IDLE waiting for its line is over too: the line it
        // waited for is what was refused.
        if let Some(Pending::Sasl { tag, .. } | Pending::Idle { tag }) = self.pending.take() {
            self.output.line(format_args!("{tag} BAD Line too long."));
        }
        let text = error.response();
        self.output.raw(text.as_bytes());
        self.count_bad();
    }

    fn command(&mut self, cmd: Command) -> Option<Event> {
        let Command { tag, body } = cmd;
        use CommandBody as C;
        // Commands valid in every state.
        match body {
            C::Capability => {
                let caps = self.offer().capabilities(self.user.is_some());
                self.output.line(format_args!("* CAPABILITY {caps}"));
                self.ok(&tag, "Capability completed.");
                None
            }
            C::Noop => self.noop(tag),
            C::Logout => {
                self.output.line("* BYE Logging out.");
                self.ok(&tag, "Logout completed.");
                self.selected = None;
                self.finish();
                None
            }
            C::Id { parameters } => {
                self.id(&tag, parameters.as_ref());
                None
            }
            body if matches!(self.phase, Phase::NotAuthenticated) => {
                self.not_authenticated(tag, body)
            }
            body => self.authenticated(tag, body),
        }
    }

    fn authenticated(&mut self, tag: String, body: CommandBody) -> Option<Event> {
        use CommandBody as C;
        match body {
            C::StartTls | C::Authenticate { .. } | C::Login { .. } => {
                self.bad(&tag, "Already authenticated.");
                None
            }
            C::Select { mailbox } => self.select(tag, mailbox, false),
            C::Examine { mailbox } => self.select(tag, mailbox, true),
            C::Create { mailbox } => self.create(tag, mailbox),
            C::Delete { mailbox } => self.request(tag, Wait::Delete, Request::Delete { mailbox }),
            C::Rename { from, to } => self.request(tag, Wait::Rename, Request::Rename { from, to }),
            C::Subscribe { mailbox } => self.request(
                tag,
                Wait::Simple {
                    what: "Subscribe completed.",
                },
                Request::Subscribe {
                    mailbox,
                    subscribe: true,
                },
            ),
            C::Unsubscribe { mailbox } => self.request(
                tag,
                Wait::Simple {
                    what: "Unsubscribe completed.",
                },
                Request::Subscribe {
                    mailbox,
                    subscribe: false,
                },
            ),
            C::List { reference, pattern } => self.list(tag, &reference, &pattern, false),
            C::Lsub { reference, pattern } => self.list(tag, &reference, &pattern, true),
            C::Status { mailbox, items } => self.request(
                tag,
                Wait::Status {
                    mailbox: mailbox.clone(),
                    items: items.clone(),
                },
                Request::Status { mailbox, items },
            ),
            C::Append {
                mailbox,
                flags,
                date,
                message,
            } => self.append(tag, mailbox, flags, date, message),
            C::Namespace => {
                self.output.line("* NAMESPACE ((\"\" \".\")) NIL NIL");
                self.ok(&tag, "Namespace completed.");
                None
            }
            C::Enable { .. } => {
                // None of the extensions offered is one that ENABLE switches on.
                self.output.line("* ENABLED");
                self.ok(&tag, "Enabled.");
                None
            }
            C::Idle => self.idle(tag),
            body if self.selected.is_none() => {
                let _ = body;
                self.bad(&tag, "No mailbox selected.");
                None
            }
            C::Check => self.request(tag, Wait::Check, Request::Check),
            C::Close => self.close_mailbox(tag, true),
            C::Unselect => self.close_mailbox(tag, false),
            C::Expunge => self.expunge(tag, None),
            C::UidExpunge { set } => self.expunge(tag, Some(set)),
            C::Search {
                uid,
                charset,
                criteria,
            } => self.search(tag, uid, charset, criteria),
            C::Fetch { uid, set, items } => self.fetch(tag, uid, &set, items),
            C::Store {
                uid,
                set,
                mode,
                silent,
                flags,
            } => self.store(tag, uid, &set, mode, silent, flags),
            C::Copy { uid, set, mailbox } => self.copy(tag, uid, &set, mailbox, false),
            C::Move { uid, set, mailbox } => self.copy(tag, uid, &set, mailbox, true),
            C::Capability | C::Noop | C::Logout | C::Id { .. } => {
                unreachable!("handled for every state in `command`")
            }
        }
    }

    /// Raises `request`, remembering how to finish the command.
    fn request(&mut self, tag: String, wait: Wait, request: Request) -> Option<Event> {
        self.pending = Some(Pending::Reply { tag, wait });
        Some(Event::Request(request))
    }

    /// Answers [`Event::Request`]. Ignored when no request is outstanding.
    pub fn on_reply(&mut self, reply: Reply) {
        let Some(Pending::Reply { tag, wait }) = self.pending.take() else {
            return;
        };
        self.finish_request(tag, wait, reply);
    }

    fn finish_request(&mut self, tag: String, wait: Wait, reply: Reply) {
        match (wait, reply) {
            (Wait::Select { read_only }, Reply::Selected(result)) => {
                self.selected_reply(&tag, read_only, result)
            }
            (Wait::Close { text }, Reply::Done(result)) => self.done(&tag, result, text),
            (Wait::Noop, Reply::Done(_)) => {
                self.report_updates(true);
                self.ok(&tag, "NOOP completed.");
            }
            (Wait::Check, Reply::Done(result)) => {
                self.report_updates(true);
                self.done(&tag, result, "Check completed.");
            }
            (Wait::Simple { what }, Reply::Done(result)) => {
                self.report_updates(true);
                self.done(&tag, result, what);
            }
            (Wait::Create, Reply::Done(result)) => self.done(&tag, result, "Create completed."),
            (Wait::Delete, Reply::Done(result)) => self.done(&tag, result, "Delete completed."),
            (Wait::Rename, Reply::Done(result)) => self.done(&tag, result, "Rename completed."),
            (Wait::List(query), Reply::Folders(result)) => self.list_reply(&tag, &query, result),
            (Wait::Status { mailbox, items }, Reply::Status(result)) => {
                self.status_reply(&tag, &mailbox, &items, result)
            }
            (Wait::Append, Reply::Appended(result)) => self.append_reply(&tag, result),
            (Wait::Store(cmd), Reply::Done(result)) => self.store_reply(&tag, cmd, result),
            (Wait::Expunge { uid }, Reply::Done(result)) => self.expunge_reply(&tag, uid, result),
            (
                Wait::Copy {
                    moving,
                    uid_command,
                },
                Reply::Copied(result),
            ) => self.copy_reply(&tag, moving, uid_command, result),
            (Wait::FetchSeen(job), Reply::Done(result)) => {
                // A failure to set \Seen does not stop the FETCH: the client gets its data
                // either way, and the flags it is shown are the ones that stuck.
                let _ = result;
                self.pending = Some(Pending::Fetch(job));
            }
            (Wait::Login | Wait::Search(_), _) | (_, _) => {
                self.no(&tag, Some("SERVERBUG"), "Internal error: unexpected reply.");
            }
        }
    }

    /// Sends the selected folder's pending updates.
    fn report_updates(&mut self, expunges: bool) {
        if let Some(view) = self.selected.as_mut() {
            let buf = self.output.buffer();
            let before = buf.len();
            view.report(buf, expunges);
            let added = buf.len() - before;
            self.output.added(added);
        }
    }

    fn noop(&mut self, tag: String) -> Option<Event> {
        if self.selected.is_some() {
            return self.request(tag, Wait::Noop, Request::Check);
        }
        self.ok(&tag, "NOOP completed.");
        None
    }

    fn id(&mut self, tag: &str, parameters: Option<&crate::imap::IdParameters>) {
        let _ = parameters;
        match &self.settings.implementation {
            Some((name, version)) => {
                let mut line = b"* ID (\"name\" ".to_vec();
                crate::imap::syntax::string(&mut line, name.as_bytes());
                line.extend_from_slice(b" \"version\" ");
                crate::imap::syntax::string(&mut line, version.as_bytes());
                line.extend_from_slice(b")\r\n");
                self.output.raw(&line);
            }
            None => self.output.line("* ID NIL"),
        }
        self.ok(tag, "ID completed.");
    }

    /// `tag OK text`. A successful command ends a run of bad ones — after login only, or a
    /// guesser could reset the count with a CAPABILITY between wrong passwords.
    fn ok(&mut self, tag: &str, text: &str) {
        if matches!(self.phase, Phase::Authenticated) {
            self.bad_commands = 0;
        }
        self.output.line(format_args!("{tag} OK {text}"));
    }

    /// `tag OK [CODE] text`.
    fn ok_code(&mut self, tag: &str, code: &str, text: &str) {
        if matches!(self.phase, Phase::Authenticated) {
            self.bad_commands = 0;
        }
        self.output.line(format_args!("{tag} OK [{code}] {text}"));
    }

    /// `tag NO [CODE] text`: the command was understood and failed. Does not count as a bad
    /// command after login; before login a failed LOGIN does (see `count_bad`).
    fn no(&mut self, tag: &str, code: Option<&str>, text: &str) {
        let text = crate::quote::quote(text.as_bytes(), 300);
        match code {
            Some(code) => self.output.line(format_args!("{tag} NO [{code}] {text}")),
            None => self.output.line(format_args!("{tag} NO {text}")),
        }
    }

    /// `tag BAD text`: the command was wrong; counts towards `max_bad_commands`.
    fn bad(&mut self, tag: &str, text: &str) {
        self.output.line(format_args!("{tag} BAD {text}"));
        self.count_bad();
    }

    fn failure(&mut self, tag: &str, failure: &Failure) {
        self.no(tag, failure.code, &failure.text);
    }

    /// `OK` or the failure.
    fn done(&mut self, tag: &str, result: Result<(), Failure>, text: &str) {
        match result {
            Ok(()) => self.ok(tag, text),
            Err(f) => self.failure(tag, &f),
        }
    }

    fn count_bad(&mut self) {
        self.bad_commands = self.bad_commands.saturating_add(1);
        let max = self.settings.max_bad_commands;
        if max > 0 && self.bad_commands >= max && !self.finished {
            self.output.line("* BYE Too many invalid commands.");
            self.finish();
        }
    }
}

impl Session {
    /// The positions a message set names in the selected folder, or `None` after answering
    /// `BAD` for a set that does not fit it.
    fn positions(
        &mut self,
        tag: &str,
        set: &crate::imap::SequenceSet,
        uid: bool,
    ) -> Option<Vec<usize>> {
        let resolved = self.selected.as_ref()?.resolve(set, uid);
        match resolved {
            Ok(positions) => Some(positions),
            Err(_) => {
                self.bad(tag, "Invalid message set.");
                None
            }
        }
    }
}

/// The UIDs of told-snapshot positions.
fn uids_of(view: &View, positions: &[usize]) -> Vec<u32> {
    positions
        .iter()
        .map(|&p| view.told().messages[p].uid)
        .collect()
}

/// An IMAP sequence-set of UIDs, compressed into ranges: `1:3,7,9:12`.
fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// The body of a message the runtime loaded for FETCH.
pub type LoadedMessage = Result<MessageBody, MessageError>;
