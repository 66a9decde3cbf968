//! Turning the client's byte stream into commands, sans-IO: [`CommandReader`].
//!
//! The runtime feeds whatever bytes arrive ([`CommandReader::feed`]); the session takes
//! [`Event`]s out one at a time ([`CommandReader::next_event`]). Parsing happens when an event
//! is asked for, not when bytes arrive, so the session can change how the next bytes are read
//! between two events: after AUTHENTICATE or IDLE it asks for a plain line
//! ([`CommandReader::expect_line`]), and the line is never mistaken for a command.
//!
//! The reader frames a command by its line ends and literal announcements (see [`scan`]) and
//! keeps its bytes in one buffer, literal data in place, until the final line end; then the
//! parser reads the command straight from that buffer. Two kinds of bytes never enter it: the
//! APPEND message, which goes into its own `Vec` as it arrives and becomes
//! [`crate::imap::CommandBody::Append`]'s `message` without another copy, and the bytes of a refused
//! command, which are counted and dropped as they arrive.
//!
//! Literals, synchronizing (`{n}`) and not (`{n+}`, RFC 7888):
//! - A synchronizing literal within the limits yields [`Event::NeedContinuation`]: the session
//!   sends `+ Ready for literal data` (or refuses it with [`CommandReader::refuse_literal`] and
//!   a tagged NO of its own). Before that the command so far is parsed, so a command that is
//!   already wrong is answered with BAD instead of asking the client for data it would waste.
//! - One over a limit yields an [`Error`] at once. The client has not sent the data and will
//!   not continue the command, so the reader goes on with the next command.
//! - A non-synchronizing literal within the limits is simply read. One that is over a limit,
//!   over 4096 octets under LITERAL-, or sent when neither LITERAL+ nor LITERAL- is offered,
//!   yields the error as soon as it is announced (RFC 7888 section 4 allows answering before
//!   the data); its data and the rest of its command are then skipped as they arrive.
//!
//! A command line over `max_line` yields an error as soon as the limit is passed, and the rest
//! of the command is skipped the same way. Nothing here allocates more than the limits allow,
//! whatever the client announces: a 1 GB literal is a number, not a buffer. (What `feed` is
//! given is kept until `next_event` has worked through it, so the runtime drains events after
//! each read.)

mod scan;

use self::scan::{Quote, Suffix, announcement, line_end};
use crate::imap::command::Command;
use crate::imap::error::{Error, ErrorKind, Syntax};
use crate::imap::limits::{LITERAL_MINUS_MAX, Limits, NonSyncLiterals};
use crate::imap::parser::{self, leading_tag};

/// What the session does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete, valid command.
    Command(Command),
    /// The client announced a synchronizing literal and waits: send `+ Ready for literal
    /// data`, or call [`CommandReader::refuse_literal`] and answer `tag NO ...`. `message` is
    /// true for the APPEND message (so quota can be checked against `size` first).
    NeedContinuation {
        tag: String,
        size: u64,
        message: bool,
    },
    /// The line asked for with [`CommandReader::expect_line`], without its line end.
    Line(Vec<u8>),
    /// A refused command; [`Error::response`] is the answer. The session goes on.
    Error(Error),
}

/// What the reader is in the middle of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the text of a line of the current command (or of a plain line).
    Line,
    /// Reading literal data; the APPEND message goes to `Progress::message`.
    Literal { remaining: u64, message: bool },
    /// Dropping the data of a refused non-synchronizing literal, then the rest of its command.
    Skip { remaining: u64 },
    /// Dropping the rest of a refused command, up to a line that announces no literal.
    Discard(Suffix),
    /// Dropping the rest of an over-long plain line.
    DiscardLine,
}

/// The current command, in `buf[head..head + scanned]`. Offsets are relative to `head`.
#[derive(Debug, Default)]
struct Progress {
    /// Bytes looked at and kept.
    scanned: usize,
    /// Where the line being read starts.
    line_start: usize,
    quote: Quote,
    /// Bytes of the command's finished lines, line ends included.
    line_bytes: usize,
    literals: usize,
    /// The APPEND message: where its data would begin, and the data so far.
    message: Option<(usize, Vec<u8>)>,
    /// Bytes that checks of incomplete commands may still re-read (see `check_prefix`).
    check_budget: usize,
}

/// Re-parsing the command at each synchronizing literal is an optimisation (an early BAD), so
/// it stops after this many bytes per command: a command of many literals must not cost time
/// quadratic in its length.
const CHECK_BUDGET: usize = 256 * 1024;

/// The APPEND message buffer starts at most this big and grows once, to the announced size,
/// when more data arrives: a client that announces a big message and sends nothing pins little.
const MESSAGE_FIRST_CAPACITY: usize = 1024 * 1024;

/// Above this the buffer is shrunk between commands, so one big command does not leave a
/// connection holding its memory.
const BUF_KEEP: usize = 64 * 1024;

/// Reads IMAP commands out of a byte stream. See the module documentation.
#[derive(Debug)]
pub struct CommandReader {
    limits: Limits,
    buf: Vec<u8>,
    /// `buf[..head]` has been dealt with.
    head: usize,
    state: State,
    cmd: Progress,
    /// The next unit of input is a plain line.
    line_mode: bool,
    /// The last event was `NeedContinuation`: `refuse_literal` applies.
    continuation_pending: bool,
}

impl CommandReader {
    pub fn new(limits: Limits) -> Self {
        CommandReader {
            limits,
            buf: Vec::new(),
            head: 0,
            state: State::Line,
            cmd: Progress {
                check_budget: CHECK_BUDGET,
                ..Progress::default()
            },
            line_mode: false,
            continuation_pending: false,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Adds received bytes. Literal data the reader drops, and APPEND message data, go where
    /// they belong at once instead of through the buffer.
    pub fn feed(&mut self, mut data: &[u8]) {
        if self.head > 0 {
            self.buf.drain(..self.head);
            self.head = 0;
            if self.buf.capacity() > BUF_KEEP && self.buf.len() < BUF_KEEP / 2 {
                self.buf.shrink_to(BUF_KEEP / 2);
            }
        }
        // Only when nothing is waiting to be looked at (so the order of bytes is kept), and not
        // while the session may still refuse the literal just announced (so a refused
        // literal's bytes, should a client send them anyway, are read the same way however
        // they arrive).
        if self.buf.len() == self.cmd.scanned && !self.continuation_pending {
            match self.state {
                State::Skip { remaining } => {
                    let take = clamp(remaining, data.len());
                    data = &data[take..];
                    self.state = self.after_skip(remaining - take as u64);
                }
                State::Literal {
                    remaining,
                    message: true,
                } => {
                    let take = clamp(remaining, data.len());
                    append_message(&mut self.cmd, &data[..take], remaining);
                    data = &data[take..];
                    self.state = self.after_literal(remaining - take as u64, true);
                }
                _ => {}
            }
        }
        self.buf.extend_from_slice(data);
    }

    /// The next event, or `None` until more bytes are fed.
    pub fn next_event(&mut self) -> Option<Event> {
        self.continuation_pending = false;
        loop {
            let step = match self.state {
                State::Line if self.line_mode && self.cmd.scanned == 0 => self.plain_line(),
                State::Line => self.command_line(),
                State::Literal { remaining, message } => self.literal(remaining, message),
                State::Skip { remaining } => self.skip(remaining),
                State::Discard(suffix) => self.discard(suffix),
                State::DiscardLine => self.discard_line(),
            };
            match step {
                Step::Event(event) => return Some(event),
                Step::Continue => {}
                Step::NeedInput => return None,
            }
        }
    }

    /// Reads the next line as a plain [`Event::Line`] instead of a command: the client's
    /// response in an AUTHENTICATE exchange, or `DONE` after IDLE. Call it right after the
    /// event that makes the line expected; it holds for one line.
    pub fn expect_line(&mut self) {
        self.line_mode = true;
    }

    /// Refuses the synchronizing literal just announced by [`Event::NeedContinuation`]: the
    /// client, answered with a tagged NO or BAD instead of `+`, will not send it, so the
    /// command is dropped. Returns false (and does nothing) if the last event was not a
    /// `NeedContinuation`.
    pub fn refuse_literal(&mut self) -> bool {
        if !std::mem::take(&mut self.continuation_pending) {
            return false;
        }
        self.drop_command();
        self.state = State::Line;
        true
    }

    /// Forgets all buffered input and any command in progress, as after STARTTLS, where bytes
    /// sent before the handshake must not be acted on (RFC 3501 section 6.2.1).
    pub fn clear(&mut self) {
        *self = CommandReader::new(self.limits.clone());
    }

    /// The raw bytes not yet consumed as commands, for a proxy that hands the connection to a
    /// backend. `None` where bytes already went elsewhere: an APPEND message being
    /// collected, or input being skipped.
    pub fn take_raw(&mut self) -> Option<Vec<u8>> {
        let intact = matches!(
            self.state,
            State::Line | State::Literal { message: false, .. }
        );
        if !intact || self.cmd.message.is_some() {
            return None;
        }
        let raw = self.buf[self.head..].to_vec();
        *self = CommandReader::new(self.limits.clone());
        Some(raw)
    }

    /// Frees the buffer when it holds nothing still to be read: an idle connection keeps no
    /// input buffer of its own.
    pub fn release(&mut self) {
        if self.head == self.buf.len() && self.buf.capacity() > 0 {
            self.buf = Vec::new();
            self.head = 0;
            self.cmd.scanned = 0;
            self.cmd.line_start = 0;
        }
    }

    /// Bytes held for commands not yet complete: the buffer plus the APPEND message so far.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.head + self.cmd.message.as_ref().map_or(0, |(_, m)| m.len())
    }

    /// Is part of a command (or line) waiting for more bytes?
    pub fn in_command(&self) -> bool {
        self.cmd.scanned > 0 || self.state != State::Line || self.buf.len() > self.head
    }

    fn unscanned(&self) -> &[u8] {
        &self.buf[self.head + self.cmd.scanned..]
    }

    fn kept(&self) -> &[u8] {
        &self.buf[self.head..self.head + self.cmd.scanned]
    }

    /// Forgets the current command's bytes and bookkeeping.
    fn drop_command(&mut self) {
        self.head += self.cmd.scanned;
        self.cmd = Progress {
            check_budget: CHECK_BUDGET,
            ..Progress::default()
        };
    }

    /// Reads on in a command line.
    fn command_line(&mut self) -> Step {
        let used = self.cmd.line_bytes + (self.cmd.scanned - self.cmd.line_start);
        // A line end within `room` bytes keeps the command within the limit; the byte after
        // them is the one that passes it, whatever it is.
        let room = self.limits.max_line.saturating_sub(used);
        let available = self.unscanned().len();
        let window = available.min(room);
        let start = self.head + self.cmd.scanned;
        match line_end(&self.buf[start..start + window], &mut self.cmd.quote) {
            Some(lf) => {
                self.cmd.scanned += lf + 1;
                self.line_finished()
            }
            None if available > room => {
                self.cmd.scanned += window;
                self.too_long()
            }
            None => {
                self.cmd.scanned += window;
                Step::NeedInput
            }
        }
    }

    /// The current line passed `max_line`: answer now, drop the rest of the command.
    fn too_long(&mut self) -> Step {
        let tag = leading_tag(self.kept());
        let mut suffix = Suffix::new(Quote::Outside);
        let line = &self.buf[self.head + self.cmd.line_start..self.head + self.cmd.scanned];
        line.iter().for_each(|&b| suffix.push(b));
        self.drop_command();
        self.state = State::Discard(suffix);
        error(tag, ErrorKind::LineTooLong)
    }

    /// A line of the command has ended with the LF at `scanned - 1`.
    fn line_finished(&mut self) -> Step {
        let lf = self.cmd.scanned - 1;
        let line = &self.buf[self.head + self.cmd.line_start..self.head + lf];
        let announced = match self.cmd.quote {
            Quote::Outside => announcement(line),
            // A quoted string that runs into the line end: the parser reports it.
            Quote::Inside | Quote::Escaped => None,
        };
        match announced {
            Some(a) => {
                let open = self.cmd.line_start + a.open;
                self.literal_announced(a.size, a.non_sync, open)
            }
            None => self.command_finished(lf),
        }
    }

    /// The command is complete: parse it.
    fn command_finished(&mut self, lf: usize) -> Step {
        let end = if lf > self.cmd.line_start && self.buf[self.head + lf - 1] == b'\r' {
            lf - 1
        } else {
            lf
        };
        let bytes = &self.buf[self.head..self.head + end];
        let result = parser::parse(bytes, self.cmd.message.take(), self.limits.max_depth);
        self.drop_command();
        Step::Event(match result {
            Ok(command) => Event::Command(command),
            Err(e) => Event::Error(e),
        })
    }

    /// The line just read announces a literal whose `{` is at `open`.
    fn literal_announced(&mut self, size: u64, non_sync: bool, open: usize) -> Step {
        let tag = leading_tag(self.kept());
        let message = self.is_append_message(open);
        let refusal = if non_sync && self.limits.non_sync == NonSyncLiterals::Refused {
            Some(ErrorKind::Bad(Syntax::NonSyncLiteral))
        } else if non_sync
            && self.limits.non_sync == NonSyncLiterals::Minus
            && size > LITERAL_MINUS_MAX
        {
            Some(too_big(size, LITERAL_MINUS_MAX, message, true))
        } else if message && size > self.limits.max_append {
            Some(too_big(size, self.limits.max_append, true, false))
        } else if !message && size > self.limits.max_literal {
            Some(too_big(size, self.limits.max_literal, false, false))
        } else if !message
            && (self.cmd.scanned as u64).saturating_add(size) > self.limits.max_command as u64
        {
            Some(too_big(size, self.limits.max_command as u64, false, false))
        } else {
            None
        };
        if let Some(kind) = refusal {
            self.drop_command();
            // The client sends a non-synchronizing literal and the rest of its command without
            // waiting; after a refused synchronizing one it sends nothing more of it.
            self.state = if non_sync {
                self.after_skip(size)
            } else {
                State::Line
            };
            return error(tag, kind);
        }

        self.cmd.line_bytes += self.cmd.scanned - self.cmd.line_start;
        self.cmd.literals += 1;
        if message {
            let capacity = clamp(size, MESSAGE_FIRST_CAPACITY);
            self.cmd.message = Some((self.cmd.scanned, Vec::with_capacity(capacity)));
        }
        self.state = self.after_literal(size, message);
        if non_sync {
            return Step::Continue;
        }
        if let Err(e) = self.check_prefix() {
            self.drop_command();
            self.state = State::Line;
            return Step::Event(Event::Error(e));
        }
        self.continuation_pending = true;
        Step::Event(Event::NeedContinuation {
            tag: tag.unwrap_or_default(),
            size,
            message,
        })
    }

    /// Parses the command up to the literal just announced, while the budget lasts.
    fn check_prefix(&mut self) -> Result<(), Error> {
        let len = self.cmd.scanned;
        if len > self.cmd.check_budget {
            return Ok(());
        }
        self.cmd.check_budget -= len;
        let message_at = self.cmd.message.as_ref().map(|(at, _)| *at);
        // The message literal just announced is what the parser is to stop at, not a message
        // that was set aside.
        let message_at = message_at.filter(|&at| at != len);
        parser::check_prefix(self.kept(), message_at, self.limits.max_depth)
    }

    /// Is the literal whose `{` is at `open` the message of an APPEND? It is if the command is
    /// APPEND, no message has been seen, and the literal is not the mailbox name (the only
    /// other argument that can be one: flags are atoms and the date is quoted).
    fn is_append_message(&self, open: usize) -> bool {
        let kept = self.kept();
        let Some(tag) = leading_tag(kept) else {
            return false;
        };
        let after_tag = &kept[tag.len() + 1..];
        let name = b"APPEND ";
        if after_tag.len() < name.len() || !after_tag[..name.len()].eq_ignore_ascii_case(name) {
            return false;
        }
        let mailbox_at = tag.len() + 1 + name.len();
        if self.cmd.message.is_some() {
            return false;
        }
        match self.cmd.literals {
            0 => open != mailbox_at,
            1 => kept.get(mailbox_at) == Some(&b'{'),
            _ => false,
        }
    }

    /// The state after `remaining` more bytes of literal data.
    fn after_literal(&mut self, remaining: u64, message: bool) -> State {
        if remaining > 0 {
            return State::Literal { remaining, message };
        }
        self.cmd.line_start = self.cmd.scanned;
        State::Line
    }

    fn after_skip(&self, remaining: u64) -> State {
        if remaining > 0 {
            State::Skip { remaining }
        } else {
            State::Discard(Suffix::new(Quote::Outside))
        }
    }

    fn literal(&mut self, remaining: u64, message: bool) -> Step {
        let take = clamp(remaining, self.unscanned().len());
        if take == 0 {
            return Step::NeedInput;
        }
        let start = self.head + self.cmd.scanned;
        if message {
            append_message(&mut self.cmd, &self.buf[start..start + take], remaining);
            self.buf.drain(start..start + take);
        } else {
            self.cmd.scanned += take;
        }
        self.state = self.after_literal(remaining - take as u64, message);
        Step::Continue
    }

    fn skip(&mut self, remaining: u64) -> Step {
        let take = clamp(remaining, self.buf.len() - self.head);
        if take == 0 {
            return Step::NeedInput;
        }
        self.head += take;
        self.state = self.after_skip(remaining - take as u64);
        Step::Continue
    }

    /// Drops bytes up to the end of the line, then follows its literal, if any.
    fn discard(&mut self, mut suffix: Suffix) -> Step {
        let bytes = &self.buf[self.head..];
        let lf = memchr::memchr(b'\n', bytes);
        let line = &bytes[..lf.unwrap_or(bytes.len())];
        line.iter().for_each(|&b| suffix.push(b));
        match lf {
            None => {
                self.head = self.buf.len();
                self.state = State::Discard(suffix);
                Step::NeedInput
            }
            Some(lf) => {
                self.head += lf + 1;
                self.state = match suffix.at_line_end() {
                    Some((size, true)) => self.after_skip(size),
                    // A synchronizing literal waits for a `+` that is not coming.
                    _ => State::Line,
                };
                Step::Continue
            }
        }
    }

    /// A plain line, for AUTHENTICATE and IDLE: no literals, no quotes.
    fn plain_line(&mut self) -> Step {
        let room = self.limits.max_line;
        let bytes = &self.buf[self.head..];
        let window = &bytes[..bytes.len().min(room)];
        match memchr::memchr(b'\n', window) {
            Some(lf) => {
                let line = window[..lf].strip_suffix(b"\r").unwrap_or(&window[..lf]);
                let line = line.to_vec();
                self.head += lf + 1;
                self.line_mode = false;
                Step::Event(Event::Line(line))
            }
            None if bytes.len() > room => {
                self.head += room;
                self.line_mode = false;
                self.state = State::DiscardLine;
                error(None, ErrorKind::LineTooLong)
            }
            None => Step::NeedInput,
        }
    }

    fn discard_line(&mut self) -> Step {
        match memchr::memchr(b'\n', &self.buf[self.head..]) {
            Some(lf) => {
                self.head += lf + 1;
                self.state = State::Line;
                Step::Continue
            }
            None => {
                self.head = self.buf.len();
                Step::NeedInput
            }
        }
    }
}

/// What one step of the reader came to.
enum Step {
    Event(Event),
    Continue,
    NeedInput,
}

fn error(tag: Option<String>, kind: ErrorKind) -> Step {
    Step::Event(Event::Error(Error { tag, kind }))
}

fn too_big(size: u64, limit: u64, message: bool, literal_minus: bool) -> ErrorKind {
    ErrorKind::TooBig {
        size,
        limit,
        message,
        literal_minus,
    }
}

/// Appends to the APPEND message; `remaining` is what the literal still lacks, `data`
/// included.
fn append_message(cmd: &mut Progress, data: &[u8], remaining: u64) {
    let Some((_, message)) = cmd.message.as_mut() else {
        return;
    };
    if message.capacity() - message.len() < data.len() {
        // The client is really sending it: make room for the rest at once, so the message is
        // moved at most once, while it is still small.
        message.reserve_exact(clamp(remaining, usize::MAX));
    }
    message.extend_from_slice(data);
}

/// `min(a, b)` for a 64-bit count and a buffer length.
fn clamp(a: u64, b: usize) -> usize {
    usize::try_from(a).map_or(b, |a| a.min(b))
}

/// Is this line (from [`Event::Line`]) the `DONE` that ends IDLE (RFC 2177)? Any case.
pub fn is_idle_done(line: &[u8]) -> bool {
    line.eq_ignore_ascii_case(b"DONE")
}

#[cfg(test)]
mod tests;
