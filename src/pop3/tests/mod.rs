//! Tests of the POP3 protocol driven through the public API, the way the I/O runtime drives it.
//!
//! [`Client`] plays the runtime: it feeds bytes, answers every event from a small in-memory
//! account and mailbox, frames message bodies with the real [`Framer`], and keeps the bytes a
//! client would have received as text, so each test reads like a protocol transcript. Tests
//! that need to see the event sequence itself drive a [`Session`] by hand instead.

mod authorization;
mod framing;
mod limits;
mod pipelining;
mod sasl;
mod stls;
mod transaction;

use std::sync::Arc;

use super::{Chunk, Event, Framer, Listing, LoginReply, Output, Session, Settings};
use crate::auth::{Credentials, Mechanism};
use crate::body::MessageBody;
use crate::policy::LoginType;

/// The APOP timestamp every test session gets.
pub(super) const TS: &str = "<1896.697170952@dbc.mtview.ca.us>";

/// The stored messages of the test mailbox: CRLF, bare-LF with dot lines, and one without a
/// final line end.
pub(super) const MESSAGES: [&[u8]; 3] = [
    b"Subject: one\r\nFrom: a@example.org\r\n\r\nHello\r\nWorld\r\n",
    b"Subject: two\n\n.dot line\nsecond\n.\nlast\n",
    b"Subject: three\r\n\r\nno final line end",
];

/// Settings that allow everything, so each test can take away what it is about.
pub(super) fn open_settings() -> Settings {
    Settings {
        login_type: LoginType::Plaintext,
        stls_offered: true,
        sasl: vec![Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5],
        apop: true,
        ..Settings::default()
    }
}

/// The wire form of a whole message, terminator included.
pub(super) fn framed(body: &[u8], top_lines: Option<u32>, max: usize) -> Vec<u8> {
    let mut framer = Framer::new(top_lines);
    let mut scratch = Vec::new();
    let mut wire = Vec::new();
    while let Some(chunk) = framer.next(body, &mut scratch, max) {
        match chunk {
            Chunk::Body(range) => wire.extend_from_slice(&body[range]),
            Chunk::Scratch => wire.extend_from_slice(&scratch),
        }
    }
    wire
}

/// The listing of [`MESSAGES`]; sizes are wire sizes, as the store reports them.
pub(super) fn listing() -> Listing {
    Listing {
        user: "alice".into(),
        uid_validity: 0x6500_0000,
        messages: MESSAGES
            .iter()
            .enumerate()
            .map(|(i, m)| (i as u32 + 1, framed(m, None, 1 << 20).len() as u64 - 3))
            .collect(),
    }
}

/// A one-line description of credentials, for asserting on what reached the runtime.
pub(super) fn describe(credentials: &Credentials) -> String {
    match credentials {
        Credentials::Password {
            authzid,
            user,
            password,
        } => format!("password {authzid:?} {user}/{password}"),
        Credentials::Apop {
            user,
            timestamp,
            digest,
        } => format!("apop {user} {timestamp} {digest}"),
        Credentials::CramMd5 {
            user,
            challenge,
            digest,
        } => format!("cram-md5 {user} {challenge} {digest}"),
    }
}

type Responder = Box<dyn FnMut(&Credentials) -> LoginReply>;

/// A session with a scripted runtime around it.
pub(super) struct Client {
    pub(super) session: Session,
    /// Everything sent to the client, message bodies in wire form.
    pub(super) transcript: String,
    /// Where the previous [`send`](Self::send) stopped reading the transcript.
    seen: usize,
    /// Every event, described, in the order raised.
    pub(super) events: Vec<String>,
    /// Answers logins; by default alice/secret by password and nothing else.
    pub(super) login: Responder,
    /// Answers RETR/TOP for this index with an error.
    pub(super) unreadable: Option<usize>,
    pub(super) commit: Result<(), String>,
}

impl Client {
    pub(super) fn new(settings: Settings, tls_active: bool) -> Client {
        Client::with_timestamp(settings, tls_active, TS)
    }

    pub(super) fn with_timestamp(settings: Settings, tls_active: bool, ts: &str) -> Client {
        let mut client = Client {
            session: Session::new(Arc::new(settings), tls_active, ts.to_owned()),
            transcript: String::new(),
            seen: 0,
            events: Vec::new(),
            login: Box::new(|c| match c {
                Credentials::Password { user, password, .. }
                    if user == "alice" && password == "secret" =>
                {
                    LoginReply::Ok(listing())
                }
                _ => LoginReply::Failed,
            }),
            unreadable: None,
            commit: Ok(()),
        };
        client.run();
        client
    }

    /// A client logged in with USER/PASS, its transcript read.
    pub(super) fn logged_in(settings: Settings) -> Client {
        let mut client = Client::new(settings, true);
        assert_eq!(
            client.send("USER alice\r\nPASS secret\r\n"),
            "+OK\r\n+OK Logged in.\r\n"
        );
        client.events.clear();
        client
    }

    /// The greeting and anything else not yet read.
    pub(super) fn unread(&mut self) -> String {
        let new = self.transcript[self.seen..].to_owned();
        self.seen = self.transcript.len();
        new
    }

    /// Sends text, runs the session to rest and returns what the client received meanwhile.
    pub(super) fn send(&mut self, text: &str) -> String {
        self.send_bytes(text.as_bytes())
    }

    pub(super) fn send_bytes(&mut self, bytes: &[u8]) -> String {
        self.unread();
        self.session.receive(bytes);
        self.run();
        self.unread()
    }

    /// Polls and answers events until the session makes no more progress.
    pub(super) fn run(&mut self) {
        loop {
            let event = self.session.poll();
            let wrote = self.drain();
            match event {
                Some(event) => self.answer(event),
                None if !wrote => break,
                None => {}
            }
        }
    }

    /// Writes out all queued output; false if there was none.
    fn drain(&mut self) -> bool {
        let mut wrote = false;
        while let Some(item) = self.session.pop_output() {
            wrote = true;
            let bytes = match item {
                Output::Text(text) => text,
                Output::Message { body, top_lines } => framed(body.as_bytes(), top_lines, 64),
            };
            self.transcript.push_str(&String::from_utf8_lossy(&bytes));
        }
        wrote
    }

    fn answer(&mut self, event: Event) {
        match event {
            Event::Login(credentials) => {
                self.events
                    .push(format!("login {}", describe(&credentials)));
                let reply = (self.login)(&credentials);
                self.session.on_login(reply);
            }
            Event::Retrieve { index } => {
                self.events.push(format!("retrieve {index}"));
                let body = if self.unreadable == Some(index) {
                    Err("No such file or directory".to_owned())
                } else {
                    Ok(MessageBody::from(MESSAGES[index]))
                };
                self.session.on_message(index, body);
            }
            Event::Commit { delete } => {
                self.events.push(format!("commit {delete:?}"));
                self.session.on_commit(self.commit.clone());
            }
            Event::StartTls => {
                self.events.push("starttls".to_owned());
                self.session.on_tls_established();
            }
        }
    }
}

#[test]
fn harness_reads_the_greeting() {
    let mut c = Client::new(Settings::default(), false);
    assert_eq!(c.unread(), "+OK Postern ready.\r\n");
    assert_eq!(c.session.state_name(), "AUTHORIZATION");
    assert!(c.session.wants_input());
    assert!(!c.session.is_finished());
    assert!(c.session.user().is_none());
}
