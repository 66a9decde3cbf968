//! The POP3 server state machine: RFC 1939 with CAPA and response codes (RFC 2449), AUTH
//! (RFC 5034) and STLS (RFC 2595).
//!
//! A [`Session`] is sans-IO, like quinn-proto or rustls: it never touches a socket, a clock, a
//! file or the account database. The runtime feeds it the client's bytes, takes its output, and
//! answers the [`Event`]s it raises when a command needs the outside world (checking a password,
//! reading a message, deleting at QUIT, the TLS handshake). Keeping every protocol decision here
//! makes the whole dialogue testable byte for byte, and keeps the I/O layer free of POP3.
//!
//! The runtime's loop, in outline:
//!
//! ```text
//! send greeting (pop_output)
//! loop {
//!     while let Some(event) = session.poll() { answer it later via on_login/on_message/... }
//!     write everything pop_output() yields (frame Output::Message with a Framer)
//!     if session.is_finished() { close }
//!     if session.wants_input() { read; session.receive(bytes) }
//! }
//! ```
//!
//! Commands are processed strictly in order, one outstanding event at a time, which is what
//! RFC 2449 PIPELINING asks for; processing pauses whenever enough output is queued, so a
//! client that pipelines a thousand RETRs without reading gets back-pressure instead of a
//! thousand messages in memory.

use std::sync::Arc;

use super::capa::Offer;
use super::command::{self, Command, MessageNumber};
use super::input::{Line, LineReader};
use super::maildrop::{Listing, LookupError, Maildrop};
use super::output::{Output, OutputQueue};
use super::response;
use super::settings::Settings;
use crate::auth::{Credentials, Mechanism, SaslExchange, SaslStep};
use crate::body::MessageBody;

/// Something the session needs from the runtime before it can go on.
#[derive(Debug)]
pub enum Event {
    /// Verify the credentials and open the maildrop; answer with [`Session::on_login`].
    /// USER/PASS, APOP and AUTH all end here.
    Login(Credentials),
    /// Load message `index` (0-based into the listing) for RETR or TOP; answer with
    /// [`Session::on_message`].
    Retrieve { index: usize },
    /// QUIT with messages marked deleted: remove them (0-based, ascending) and answer with
    /// [`Session::on_commit`]. Deletion happens only here: a session that ends any other way
    /// deletes nothing.
    Commit { delete: Vec<usize> },
    /// `+OK Begin TLS negotiation now.` is the last queued output: flush it, do the TLS
    /// handshake, then call [`Session::on_tls_established`]. Whatever the client had sent
    /// after STLS in plaintext has been discarded, never executed (the STARTTLS command
    /// injection of CVE-2011-0411).
    StartTls,
}

/// The runtime's answer to [`Event::Login`].
#[derive(Debug)]
pub enum LoginReply {
    /// Authenticated and the maildrop is open.
    Ok(Listing),
    /// Proxy mode: the backend accepted the login. The client gets `+OK` and the session
    /// hands the connection over (see [`Session::take_unread`]).
    Proxied,
    /// Wrong credentials or no such user.
    Failed,
    /// Proxy mode: the route source refused the login with a message of its own (nginx's
    /// `Auth-Status`), shown after `-ERR [AUTH]`; with `close`, the connection ends after it.
    Rejected { text: String, close: bool },
    /// The credentials were right but POP3 access is turned off for the account. Only ever
    /// sent after a correct password, so it reveals nothing to a guesser.
    Disabled,
    /// The credentials were right but this account's own login type forbids the mechanism on
    /// this connection (it must use TLS). Also only sent after a correct password.
    TlsRequired,
    /// Another POP3 session holds the maildrop.
    InUse,
    /// The account has as many POP3 sessions open as `max_sessions_per_user` allows
    /// (possible in proxy mode, where the backend decides about locking).
    TooManySessions,
    /// Proxy mode: the backend refused with a response code other than AUTH (RFC 3206);
    /// its answer, `[CODE] text`, is passed on after `-ERR `.
    Refused(String),
    /// The user logged in less than this many seconds ago.
    LoginDelay(u32),
    /// A temporary failure, such as an unreachable account database; the text is shown.
    TempFail(String),
}

/// Why the runtime ends a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    IdleTimeout,
    Shutdown,
    Kicked,
}

enum State {
    /// RFC 1939 AUTHORIZATION; `user` is the name given by USER, waiting for PASS.
    Authorization {
        user: Option<String>,
    },
    /// AUTHORIZATION in the middle of an AUTH exchange: client lines are SASL responses.
    Sasl(Box<SaslExchange>),
    Transaction(Maildrop),
    /// QUIT is committing the deletions.
    Update,
    Closed,
}

/// The event raised and not yet answered.
#[derive(Clone, Copy)]
enum Awaiting {
    Login,
    Message {
        index: usize,
        top_lines: Option<u32>,
    },
    Commit,
    Tls,
}

/// One POP3 connection's protocol state.
pub struct Session {
    settings: Arc<Settings>,
    tls_active: bool,
    /// Shown in the greeting when APOP is offered; also the CRAM-MD5 challenge.
    apop_timestamp: String,
    /// The greeting carried the timestamp. Decided once: a client that did not see it cannot
    /// use APOP, even if TLS later makes APOP allowed.
    apop_offered: bool,
    state: State,
    awaiting: Option<Awaiting>,
    user: Option<String>,
    /// Failed commands in a row.
    bad_commands: u32,
    input: LineReader,
    output: OutputQueue,
}

impl Session {
    /// A new session, with the greeting queued. `tls_active`: the connection came in on an
    /// implicit-TLS listener. `apop_timestamp`: a unique `<pid.nanos@host>` string; the
    /// greeting shows it only if APOP can succeed on this connection.
    pub fn new(settings: Arc<Settings>, tls_active: bool, apop_timestamp: String) -> Session {
        let apop_offered = !apop_timestamp.is_empty() && Offer::new(&settings, tls_active).apop();
        let mut output = OutputQueue::default();
        if apop_offered {
            output.line(format_args!("+OK {} {apop_timestamp}", response::GREETING));
        } else {
            output.line(format_args!("+OK {}", response::GREETING));
        }
        Session {
            input: LineReader::new(settings.max_line),
            settings,
            tls_active,
            apop_timestamp,
            apop_offered,
            state: State::Authorization { user: None },
            awaiting: None,
            user: None,
            bad_commands: 0,
            output,
        }
    }

    /// Bytes from the client, already decrypted. Ignored once the session is finished and
    /// between STLS and the end of the handshake.
    pub fn receive(&mut self, data: &[u8]) {
        if !self.is_finished() && !matches!(self.awaiting, Some(Awaiting::Tls)) {
            self.input.push(data);
        }
    }

    /// Processes buffered commands until one needs the runtime (its event is returned), the
    /// output should be flushed first, or the input runs out. Returns `None` without doing
    /// anything while an event is unanswered.
    pub fn poll(&mut self) -> Option<Event> {
        while self.awaiting.is_none() && !self.is_finished() && !self.output.needs_flush() {
            let line = self.input.pop()?;
            if let Some(event) = self.handle(line) {
                return Some(event);
            }
        }
        None
    }

    /// The next output item, oldest first.
    pub fn pop_output(&mut self) -> Option<Output> {
        self.output.pop()
    }

    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    /// Should the runtime read more? False while a complete command is still buffered, an
    /// event is unanswered, or the session is finished.
    pub fn wants_input(&self) -> bool {
        !self.is_finished() && self.awaiting.is_none() && !self.input.has_line()
    }

    /// The session has ended; once its output is written the connection is closed.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// After [`LoginReply::Proxied`]: the client's bytes not yet read as commands, which
    /// belong to the backend. `None` if some were lost to an over-long line.
    pub fn take_unread(&mut self) -> Option<Vec<u8>> {
        self.input.take_raw()
    }

    /// The RFC 1939 state, for logs.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Authorization { .. } | State::Sasl(_) => "AUTHORIZATION",
            State::Transaction(_) => "TRANSACTION",
            State::Update => "UPDATE",
            State::Closed => "CLOSED",
        }
    }

    /// The authenticated user, once logged in.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Answers [`Event::Login`]. Ignored if no login is outstanding.
    pub fn on_login(&mut self, reply: LoginReply) {
        if !matches!(self.awaiting, Some(Awaiting::Login)) {
            return;
        }
        self.awaiting = None;
        match reply {
            LoginReply::Ok(listing) => {
                self.user = Some(listing.user.clone());
                self.state = State::Transaction(Maildrop::new(listing));
                self.ok(response::LOGGED_IN);
            }
            LoginReply::Proxied => {
                self.ok(response::LOGGED_IN);
                // Keep the input: whatever the client pipelined is the backend's now.
                self.state = State::Closed;
                self.awaiting = None;
            }
            LoginReply::Failed => self.fail(response::AUTH_FAILED),
            LoginReply::Rejected { text, close } => {
                self.fail(&response::rejected(&text));
                if close {
                    self.finish();
                }
            }
            LoginReply::Disabled => self.fail(response::ACCOUNT_DISABLED),
            LoginReply::TlsRequired => self.fail(response::ACCOUNT_NEEDS_TLS),
            LoginReply::InUse => self.fail(response::IN_USE),
            LoginReply::TooManySessions => self.fail(response::TOO_MANY_SESSIONS),
            LoginReply::Refused(answer) => self.fail(&response::refused(&answer)),
            LoginReply::LoginDelay(seconds) => self.fail(&response::login_delay(seconds)),
            LoginReply::TempFail(reason) => self.fail(&response::temporary_failure(&reason)),
        }
    }

    /// Answers [`Event::Retrieve`] with the message's stored bytes, or why they could not be
    /// read. Ignored unless that message is outstanding (the session may have been closed in
    /// the meantime).
    pub fn on_message(&mut self, index: usize, body: Result<MessageBody, String>) {
        let Some(Awaiting::Message {
            index: expected,
            top_lines,
        }) = self.awaiting
        else {
            return;
        };
        if index != expected {
            return;
        }
        self.awaiting = None;
        let State::Transaction(maildrop) = &self.state else {
            return;
        };
        match body {
            Ok(body) => {
                match top_lines {
                    None => self.ok(&format!("{} octets", maildrop.size(index))),
                    Some(_) => self.ok(""),
                }
                self.output.message(body, top_lines);
            }
            Err(reason) => self.fail(&response::unreadable_message(index + 1, &reason)),
        }
    }

    /// Answers [`Event::Commit`]; the session is finished either way.
    pub fn on_commit(&mut self, result: Result<(), String>) {
        if !matches!(self.awaiting, Some(Awaiting::Commit)) {
            return;
        }
        match result {
            Ok(()) => self
                .output
                .line(format_args!("+OK {}", response::LOGGING_OUT_DELETED)),
            Err(reason) => self
                .output
                .line(format_args!("-ERR {}", response::commit_failed(&reason))),
        }
        self.finish();
    }

    /// The TLS handshake after [`Event::StartTls`] has finished. The session is back in
    /// AUTHORIZATION, with the policy for TLS connections and no new greeting (RFC 2595).
    pub fn on_tls_established(&mut self) {
        if !matches!(self.awaiting, Some(Awaiting::Tls)) {
            return;
        }
        self.awaiting = None;
        self.tls_active = true;
        self.state = State::Authorization { user: None };
    }

    /// The runtime ends the session: the reason is queued as a last `-ERR` line.
    pub fn close(&mut self, reason: CloseReason) {
        if self.is_finished() {
            return;
        }
        let text = match reason {
            CloseReason::IdleTimeout => response::IDLE_TIMEOUT,
            CloseReason::Shutdown => response::SHUTTING_DOWN,
            CloseReason::Kicked => response::KICKED,
        };
        self.output.line(format_args!("-ERR {text}"));
        self.finish();
    }

    fn finish(&mut self) {
        self.state = State::Closed;
        self.awaiting = None;
        self.input.clear();
    }

    /// Queues a `+OK` reply. After login a successful command ends a run of bad ones; before
    /// it only a successful login does, or a guesser could reset the count with a USER or a
    /// CAPA between wrong passwords.
    fn ok(&mut self, text: &str) {
        if matches!(self.state, State::Transaction(_)) {
            self.bad_commands = 0;
        }
        if text.is_empty() {
            self.output.line("+OK");
        } else {
            self.output.line(format_args!("+OK {text}"));
        }
    }

    /// Queues a `-ERR` reply, and ends the session after too many in a row.
    fn fail(&mut self, text: &str) {
        self.output.line(format_args!("-ERR {text}"));
        self.bad_commands = self.bad_commands.saturating_add(1);
        let max = self.settings.max_bad_commands;
        if max > 0 && self.bad_commands >= max {
            self.output
                .line(format_args!("-ERR {}", response::TOO_MANY_BAD_COMMANDS));
            self.finish();
        }
    }

    /// Records the event about to be returned as outstanding.
    fn raise(&mut self, awaiting: Awaiting, event: Event) -> Option<Event> {
        self.awaiting = Some(awaiting);
        Some(event)
    }

    fn handle(&mut self, line: Line) -> Option<Event> {
        let bytes = match line {
            Line::TooLong => {
                // Also ends an AUTH exchange: the response it was waiting for is lost.
                if matches!(self.state, State::Sasl(_)) {
                    self.state = State::Authorization { user: None };
                }
                self.fail(response::LINE_TOO_LONG);
                return None;
            }
            Line::Complete(bytes) => bytes,
        };
        if matches!(self.state, State::Sasl(_)) {
            return self.sasl_response(&bytes);
        }
        let command = match command::parse(&bytes) {
            Ok(command) => command,
            Err(error) => {
                self.fail(&error.to_string());
                return None;
            }
        };
        match self.state {
            State::Authorization { .. } => self.authorization(command),
            State::Transaction(_) => self.transaction(command),
            // Never reached: poll processes nothing while a commit is outstanding or after
            // the end.
            State::Sasl(_) | State::Update | State::Closed => None,
        }
    }

    fn authorization(&mut self, command: Command<'_>) -> Option<Event> {
        let settings = Arc::clone(&self.settings);
        let offer = Offer::new(&settings, self.tls_active);
        match command {
            Command::Capa => offer.write_capa(&mut self.output, true),
            Command::Quit => {
                self.ok(response::LOGGING_OUT);
                self.finish();
            }
            Command::User(name) => match offer.refusal(true) {
                Some(refusal) => self.fail(refusal),
                None => {
                    self.state = State::Authorization {
                        user: Some(name.to_owned()),
                    };
                    self.ok("");
                }
            },
            Command::Pass(password) => {
                if let Some(refusal) = offer.refusal(true) {
                    self.fail(refusal);
                    return None;
                }
                let user = match &mut self.state {
                    State::Authorization { user } => user.take(),
                    _ => None,
                };
                match user {
                    Some(user) => {
                        return self.login(Credentials::Password {
                            authzid: None,
                            user,
                            password: password.to_owned(),
                        });
                    }
                    None => self.fail(response::NO_USERNAME),
                }
            }
            Command::Apop { user, digest } => {
                if let Some(refusal) = offer.refusal(false) {
                    self.fail(refusal);
                } else if !self.apop_offered {
                    self.fail(response::APOP_UNAVAILABLE);
                } else {
                    return self.login(Credentials::Apop {
                        user: user.to_owned(),
                        timestamp: self.apop_timestamp.clone(),
                        digest: digest.to_ascii_lowercase(),
                    });
                }
            }
            Command::Auth {
                mechanism: None, ..
            } => {
                self.ok("");
                for mechanism in offer.mechanisms() {
                    self.output.line(mechanism.name());
                }
                self.output.line(".");
            }
            Command::Auth {
                mechanism: Some(name),
                initial_response,
            } => return self.start_sasl(offer, name, initial_response),
            Command::Stls => return self.start_tls(),
            other => self.fail(&response::needs_login(other.name())),
        }
        None
    }

    /// Starts a login attempt; whatever its outcome, a new one starts from scratch (USER
    /// again).
    fn login(&mut self, credentials: Credentials) -> Option<Event> {
        self.state = State::Authorization { user: None };
        self.raise(Awaiting::Login, Event::Login(credentials))
    }

    fn start_sasl(
        &mut self,
        offer: Offer<'_>,
        name: &str,
        initial_response: Option<&str>,
    ) -> Option<Event> {
        self.state = State::Authorization { user: None };
        // When nothing at all may be used, say so (TLS first) before judging the mechanism.
        if let Some(refusal) = offer.refusal(false) {
            self.fail(refusal);
            return None;
        }
        let Some(mechanism) = Mechanism::parse(name).filter(|m| self.settings.sasl.contains(m))
        else {
            self.fail(response::UNSUPPORTED_MECHANISM);
            return None;
        };
        if let Some(refusal) = offer.refusal(mechanism.sends_cleartext()) {
            self.fail(refusal);
            return None;
        }
        let mut exchange = Box::new(SaslExchange::new(mechanism, &self.apop_timestamp));
        let step = exchange.start(initial_response);
        self.sasl_step(exchange, step)
    }

    fn sasl_response(&mut self, line: &[u8]) -> Option<Event> {
        let idle = State::Authorization { user: None };
        let State::Sasl(mut exchange) = std::mem::replace(&mut self.state, idle) else {
            return None;
        };
        // SASL responses are base64: anything that is not text cannot be one.
        let step = match std::str::from_utf8(line) {
            Ok(line) if !line.contains('\0') => exchange.step(line),
            _ => SaslStep::Malformed("not base64"),
        };
        self.sasl_step(exchange, step)
    }

    fn sasl_step(&mut self, exchange: Box<SaslExchange>, step: SaslStep) -> Option<Event> {
        match step {
            SaslStep::Challenge(challenge) => {
                self.output.line(format_args!("+ {challenge}"));
                self.state = State::Sasl(exchange);
                None
            }
            SaslStep::Done(credentials) => self.login(credentials),
            SaslStep::Cancelled => {
                self.fail(response::AUTH_CANCELLED);
                None
            }
            SaslStep::Malformed(why) => {
                self.fail(&response::malformed_sasl(why));
                None
            }
        }
    }

    fn start_tls(&mut self) -> Option<Event> {
        if self.tls_active {
            self.fail(response::TLS_ALREADY_ACTIVE);
            return None;
        }
        if !self.settings.stls_offered {
            self.fail(response::STLS_UNAVAILABLE);
            return None;
        }
        self.ok(response::BEGIN_TLS);
        // Anything pipelined after STLS arrived in plaintext and must not be executed once
        // the connection is secure.
        self.input.clear();
        self.state = State::Authorization { user: None };
        self.raise(Awaiting::Tls, Event::StartTls)
    }

    fn transaction(&mut self, command: Command<'_>) -> Option<Event> {
        let State::Transaction(maildrop) = &mut self.state else {
            return None;
        };
        let offer = Offer::new(&self.settings, self.tls_active);
        match transaction_command(maildrop, &mut self.output, offer, command) {
            Ok(Next::Replied) => {
                self.bad_commands = 0;
                None
            }
            Ok(Next::Raise(awaiting, event)) => self.raise(awaiting, event),
            Ok(Next::Quit) => self.quit_transaction(),
            Err(text) => {
                self.fail(&text);
                None
            }
        }
    }

    fn quit_transaction(&mut self) -> Option<Event> {
        let State::Transaction(maildrop) = &self.state else {
            return None;
        };
        let delete = maildrop.deleted();
        if delete.is_empty() {
            self.ok(response::LOGGING_OUT);
            self.finish();
            return None;
        }
        self.state = State::Update;
        self.raise(Awaiting::Commit, Event::Commit { delete })
    }
}

/// What a TRANSACTION command needs after [`transaction_command`].
enum Next {
    /// The `+OK` reply is queued.
    Replied,
    /// The reply waits for the runtime's answer to this event.
    Raise(Awaiting, Event),
    /// QUIT: leave the state, which needs the whole session.
    Quit,
}

/// Runs a TRANSACTION command on the maildrop. `Err` is the text of the `-ERR` reply.
fn transaction_command(
    maildrop: &mut Maildrop,
    out: &mut OutputQueue,
    offer: Offer<'_>,
    command: Command<'_>,
) -> Result<Next, String> {
    match command {
        Command::Stat => {
            let (count, octets) = maildrop.stat();
            out.line(format_args!("+OK {count} {octets}"));
        }
        Command::List(None) => {
            let (count, octets) = maildrop.stat();
            out.line(format_args!("+OK {count} messages ({octets} octets)"));
            for index in maildrop.visible() {
                out.line(format_args!("{} {}", index + 1, maildrop.size(index)));
            }
            out.line(".");
        }
        Command::List(Some(number)) => {
            let index = lookup(maildrop, number)?;
            out.line(format_args!("+OK {} {}", index + 1, maildrop.size(index)));
        }
        Command::Uidl(None) => {
            out.line("+OK");
            for index in maildrop.visible() {
                out.line(format_args!("{} {}", index + 1, maildrop.uidl(index)));
            }
            out.line(".");
        }
        Command::Uidl(Some(number)) => {
            let index = lookup(maildrop, number)?;
            out.line(format_args!("+OK {} {}", index + 1, maildrop.uidl(index)));
        }
        Command::Retr(number) => {
            let index = lookup(maildrop, number)?;
            let awaiting = Awaiting::Message {
                index,
                top_lines: None,
            };
            return Ok(Next::Raise(awaiting, Event::Retrieve { index }));
        }
        Command::Top(number, lines) => {
            let index = lookup(maildrop, number)?;
            let awaiting = Awaiting::Message {
                index,
                top_lines: Some(lines),
            };
            return Ok(Next::Raise(awaiting, Event::Retrieve { index }));
        }
        Command::Dele(number) => {
            let index = lookup(maildrop, number)?;
            maildrop.delete(index);
            out.line(format_args!("+OK {}", response::MARKED_DELETED));
        }
        Command::Noop => out.line("+OK"),
        Command::Rset => {
            maildrop.reset();
            let (count, octets) = maildrop.stat();
            out.line(format_args!("+OK {count} messages ({octets} octets)"));
        }
        Command::Capa => offer.write_capa(out, false),
        Command::Quit => return Ok(Next::Quit),
        Command::User(_)
        | Command::Pass(_)
        | Command::Apop { .. }
        | Command::Auth { .. }
        | Command::Stls => return Err(response::ALREADY_LOGGED_IN.to_owned()),
    }
    Ok(Next::Replied)
}

fn lookup(maildrop: &Maildrop, number: MessageNumber<'_>) -> Result<usize, String> {
    maildrop.lookup(number).map_err(|error| match error {
        LookupError::NoSuchMessage => response::no_such_message(number.0),
        LookupError::Deleted => response::MESSAGE_DELETED.to_owned(),
    })
}
