//! The session state machine alone: every command in every state, every error path, with a
//! scripted stand-in for the runtime.

use std::num::NonZeroU32;
use std::sync::Arc;

use super::*;
use crate::auth::Mechanism;
use crate::imap::Limits;
use crate::mailbox::index::{self, IndexFile, Record};
use crate::mailbox::{Flags, Message};
use crate::store::{KeywordSet, SystemFlags};

const NONE: SystemFlags = SystemFlags::empty();
use crate::policy::LoginType;

const MESSAGE: &[u8] = b"From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: Hi\nDate: Tue, 1 Dec 2026 10:00:00 +0000\n\nHello Bob\nsecond line\n";

/// A session plus the runtime's answers, and everything the session wrote.
struct Harness {
    session: Session,
    events: Vec<Event>,
}

fn settings(login_type: LoginType) -> Settings {
    Settings {
        login_type,
        starttls_offered: true,
        sasl: vec![Mechanism::Plain, Mechanism::Login],
        limits: Limits::default(),
        ..Settings::default()
    }
}

impl Harness {
    fn new(login_type: LoginType, tls: bool) -> Harness {
        let session = Session::new(Arc::new(settings(login_type)), tls, "<1.2@host>".into());
        Harness {
            session,
            events: Vec::new(),
        }
    }

    /// Feeds bytes and polls; returns the output so far as text (message slices included).
    fn send(&mut self, input: &str) -> String {
        self.session.receive(input.as_bytes());
        self.pump()
    }

    fn pump(&mut self) -> String {
        // Only one event is outstanding at a time: the test answers it.
        if let Some(e) = self.session.poll() {
            self.events.push(e);
        }
        self.output()
    }

    fn output(&mut self) -> String {
        let mut out = Vec::new();
        while let Some(item) = self.session.pop_output() {
            match item {
                Output::Text(t) => out.extend_from_slice(&t),
                Output::Message { body, mut slice } => {
                    while slice.next_chunk(body.as_bytes(), &mut out, 7) {}
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn take_event(&mut self) -> Event {
        assert!(!self.events.is_empty(), "no event raised");
        self.events.remove(0)
    }

    /// Logs in as alice/secret on a connection where that is allowed.
    fn logged_in() -> Harness {
        let mut h = Harness::new(LoginType::Plaintext, false);
        h.output();
        h.send("a LOGIN alice secret\r\n");
        assert!(matches!(h.take_event(), Event::Login(_)));
        h.session.on_login(LoginReply::Ok {
            user: "alice".into(),
        });
        let out = h.pump();
        assert!(out.starts_with("a OK [CAPABILITY IMAP4rev1 "), "{out}");
        h
    }

    /// Logged in with INBOX selected, holding `snapshot`.
    fn selected(snapshot: Arc<Snapshot>, read_only: bool) -> Harness {
        let mut h = Harness::logged_in();
        h.send(if read_only {
            "s EXAMINE INBOX\r\n"
        } else {
            "s SELECT INBOX\r\n"
        });
        assert!(matches!(
            h.take_event(),
            Event::Request(Request::Select { .. })
        ));
        h.session.on_reply(Reply::Selected(Ok(Selected {
            snapshot,
            recent: vec![],
        })));
        let out = h.pump();
        assert!(out.contains("s OK ["), "{out}");
        h
    }

    fn reply(&mut self, reply: Reply) -> String {
        self.session.on_reply(reply);
        self.pump()
    }
}

fn message(uid: u32, system: SystemFlags) -> Message {
    Message {
        uid,
        flags: Flags {
            system,
            keywords: KeywordSet::empty(),
        },
        wire_size: crate::wire::len(MESSAGE, 0..MESSAGE.len()),
        internal_date: 1_796_162_324,
        slot: None,
    }
}

fn snapshot(generation: u64, msgs: &[(u32, SystemFlags)]) -> Arc<Snapshot> {
    let mut s = Snapshot::empty(1234);
    s.generation = generation;
    s.keywords = Arc::new(vec!["$Forwarded".into()]);
    s.messages = msgs.iter().map(|&(u, f)| message(u, f)).collect();
    s.uid_next = msgs.last().map_or(1, |m| m.0 + 1);
    Arc::new(s)
}

/// A snapshot whose messages have index records (in a temporary directory).
fn indexed_snapshot(dir: &std::path::Path, uids: &[u32]) -> Arc<Snapshot> {
    let analysis = crate::mime::analyze(MESSAGE);
    let mut parts = Vec::new();
    analysis.parts.encode(&mut parts);
    let cached: Vec<String> = Settings::default().cached_headers;
    let names: Vec<&str> = cached.iter().map(String::as_str).collect();
    let records: Vec<Record> = uids
        .iter()
        .map(|&uid| Record {
            uid,
            base: format!("{uid}.M1.host").into_bytes(),
            internal_date: 1_796_162_324,
            stored_size: MESSAGE.len() as u64,
            wire_size: crate::wire::len(MESSAGE, 0..MESSAGE.len()),
            envelope: analysis.envelope.clone(),
            body: analysis.body.clone(),
            bodystructure: analysis.bodystructure.clone(),
            headers: crate::mime::select_header_lines(MESSAGE, &names),
            parts: parts.clone(),
        })
        .collect();
    index::write(
        dir,
        1234,
        9,
        &IndexFile::empty(),
        &|_| true,
        &records,
        false,
    )
    .unwrap();
    let idx = Arc::new(IndexFile::load(dir, 1234, 9).unwrap());
    let mut s = Snapshot::empty(1234);
    s.generation = 1;
    s.messages = uids
        .iter()
        .map(|&uid| Message {
            slot: idx.position(uid).map(|p| p as u32),
            ..message(uid, NONE)
        })
        .collect();
    s.uid_next = uids.last().map_or(1, |u| u + 1);
    s.index = idx;
    Arc::new(s)
}

#[test]
fn greeting_and_capabilities_follow_the_policy() {
    let mut h = Harness::new(LoginType::Secure, false);
    let out = h.output();
    assert!(
        out.starts_with(
            "* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE STARTTLS LOGINDISABLED] "
        ),
        "{out}"
    );
    let out = h.send("a CAPABILITY\r\n");
    assert_eq!(
        out,
        "* CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE STARTTLS LOGINDISABLED\r\na OK Capability completed.\r\n"
    );
    let out = h.send("b LOGIN alice secret\r\n");
    assert!(out.starts_with("b NO [PRIVACYREQUIRED] "), "{out}");
    let out = h.send("c AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    assert!(out.starts_with("c NO [PRIVACYREQUIRED] "), "{out}");
    assert!(h.events.is_empty());

    let mut h = Harness::new(LoginType::Secure, true);
    let out = h.output();
    assert!(out.contains("AUTH=PLAIN AUTH=LOGIN]"), "{out}");
    assert!(
        !out.contains("STARTTLS") && !out.contains("LOGINDISABLED"),
        "{out}"
    );
}

#[test]
fn starttls_discards_pipelined_commands() {
    let mut h = Harness::new(LoginType::Secure, false);
    h.output();
    let out = h.send("a STARTTLS\r\nb LOGIN alice secret\r\n");
    assert_eq!(out, "a OK Begin TLS negotiation now.\r\n");
    assert!(matches!(h.take_event(), Event::StartTls));
    assert!(!h.session.wants_input());
    h.session.on_tls_established();
    assert_eq!(h.pump(), "");
    assert!(h.events.is_empty(), "the injected LOGIN must not run");
    let out = h.send("c STARTTLS\r\n");
    assert_eq!(out, "c BAD TLS is already active.\r\n");
    let out = h.send("d LOGIN alice secret\r\n");
    assert_eq!(out, "");
    assert!(matches!(h.take_event(), Event::Login(_)));
}

#[test]
fn login_outcomes() {
    let mut h = Harness::new(LoginType::Plaintext, false);
    h.output();
    for (reply, expected) in [
        (
            LoginReply::Failed,
            "a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
        ),
        (
            LoginReply::Disabled,
            "a NO [AUTHORIZATIONFAILED] IMAP access is disabled for this account.\r\n",
        ),
        (
            LoginReply::TempFail("Server is busy.".into()),
            "a NO [UNAVAILABLE] Server is busy.\r\n",
        ),
        (
            LoginReply::TooManySessions,
            "a NO [LIMIT] Too many IMAP sessions of this account are open already.\r\n",
        ),
        (
            LoginReply::Refused {
                code: "INUSE".into(),
                text: "Mailbox in use".into(),
            },
            "a NO [INUSE] Mailbox in use\r\n",
        ),
        (
            LoginReply::Rejected {
                text: "Invalid login".into(),
                close: false,
            },
            "a NO [AUTHENTICATIONFAILED] Invalid login\r\n",
        ),
    ] {
        h.send("a LOGIN alice secret\r\n");
        assert!(matches!(h.take_event(), Event::Login(_)));
        h.session.on_login(reply);
        assert_eq!(h.pump(), expected);
    }
    let out = h.send("b LOGIN \"alice\" {6}\r\n");
    assert_eq!(out, "+ Ready for literal data\r\n");
    h.send("secret\r\n");
    match h.take_event() {
        Event::Login(Credentials::Password { user, password, .. }) => {
            assert_eq!((user.as_str(), password.as_str()), ("alice", "secret"));
        }
        other => panic!("{other:?}"),
    }
    // A route source's refusal without leave to retry ends the connection.
    h.session.on_login(LoginReply::Failed);
    h.pump();
    h.send("c LOGIN mallory x\r\n");
    assert!(matches!(h.take_event(), Event::Login(_)));
    h.session.on_login(LoginReply::Rejected {
        text: "Account suspended".into(),
        close: true,
    });
    assert_eq!(
        h.pump(),
        "c NO [AUTHENTICATIONFAILED] Account suspended\r\n* BYE Closing after the failed login.\r\n"
    );
    assert!(h.session.is_finished());
}

#[test]
fn authenticate_with_and_without_initial_response() {
    let mut h = Harness::new(LoginType::Plaintext, false);
    h.output();
    h.send("a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    assert!(matches!(h.take_event(), Event::Login(_)));
    h.session.on_login(LoginReply::Failed);
    h.pump();
    let out = h.send("b AUTHENTICATE LOGIN\r\n");
    assert_eq!(out, "+ VXNlcm5hbWU6\r\n");
    let out = h.send("YWxpY2U=\r\n");
    assert_eq!(out, "+ UGFzc3dvcmQ6\r\n");
    h.send("c2VjcmV0\r\n");
    match h.take_event() {
        Event::Login(creds) => assert_eq!(creds.user(), "alice"),
        other => panic!("{other:?}"),
    }
    h.session.on_login(LoginReply::Failed);
    h.pump();
    let out = h.send("c AUTHENTICATE PLAIN\r\n");
    assert_eq!(out, "+ \r\n");
    assert_eq!(h.send("*\r\n"), "c BAD Authentication cancelled.\r\n");
    h.send("d AUTHENTICATE PLAIN\r\n");
    let out = h.send("!!!\r\n");
    assert!(out.starts_with("d BAD Authentication failed: "), "{out}");
    let out = h.send("e AUTHENTICATE CRAM-MD5\r\n");
    assert_eq!(out, "e NO Unsupported authentication mechanism.\r\n");
}

#[test]
fn commands_outside_their_state() {
    let mut h = Harness::new(LoginType::Plaintext, false);
    h.output();
    assert_eq!(h.send("a SELECT INBOX\r\n"), "a BAD Log in first.\r\n");
    assert_eq!(h.send("b FETCH 1 FLAGS\r\n"), "b BAD Log in first.\r\n");
    assert_eq!(h.send("c NOOP\r\n"), "c OK NOOP completed.\r\n");
    // An APPEND's message literal is refused before the client sends it.
    assert_eq!(
        h.send("d APPEND INBOX {5}\r\n"),
        "d BAD Command not permitted in this state.\r\n"
    );
    let mut h = Harness::logged_in();
    assert_eq!(
        h.send("e FETCH 1 FLAGS\r\n"),
        "e BAD No mailbox selected.\r\n"
    );
    assert_eq!(h.send("f EXPUNGE\r\n"), "f BAD No mailbox selected.\r\n");
    assert_eq!(
        h.send("g LOGIN a b\r\n"),
        "g BAD Already authenticated.\r\n"
    );
    assert_eq!(
        h.send("h NAMESPACE\r\n"),
        "* NAMESPACE ((\"\" \".\")) NIL NIL\r\nh OK Namespace completed.\r\n"
    );
    assert_eq!(
        h.send("i ENABLE CONDSTORE\r\n"),
        "* ENABLED\r\ni OK Enabled.\r\n"
    );
    let out = h.send("j ID (\"name\" \"test\")\r\n");
    assert!(
        out.starts_with("* ID (\"name\" \"Postern\" \"version\" "),
        "{out}"
    );
    assert_eq!(
        h.send("k LIST \"\" \"\"\r\n"),
        "* LIST (\\Noselect) \".\" \"\"\r\nk OK List completed.\r\n"
    );
    assert_eq!(
        h.send("l LOGOUT\r\n"),
        "* BYE Logging out.\r\nl OK Logout completed.\r\n"
    );
    assert!(h.session.is_finished());
}

#[test]
fn bad_commands_in_a_row_end_the_session() {
    let mut h = Harness::new(LoginType::Plaintext, false);
    h.output();
    let mut out = String::new();
    for i in 0..25 {
        out.push_str(&h.send(&format!("t{i} FROB\r\n")));
    }
    assert!(
        out.contains("* BYE Too many invalid commands.\r\n"),
        "{out}"
    );
    assert!(h.session.is_finished());
    assert_eq!(out.matches("BAD").count(), 20);
}

#[test]
fn select_and_examine_answers() {
    let snap = snapshot(1, &[(1, SystemFlags::SEEN), (2, NONE), (5, NONE)]);
    let mut h = Harness::logged_in();
    h.send("s SELECT INBOX\r\n");
    assert!(matches!(
        h.take_event(),
        Event::Request(Request::Select {
            read_only: false,
            ..
        })
    ));
    let out = h.reply(Reply::Selected(Ok(Selected {
        snapshot: snap.clone(),
        recent: vec![5],
    })));
    assert_eq!(
        out,
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded)\r\n\
         * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded \\*)] Flags permitted.\r\n\
         * 3 EXISTS\r\n* 1 RECENT\r\n* OK [UNSEEN 2] First unseen.\r\n\
         * OK [UIDVALIDITY 1234] UIDs valid\r\n* OK [UIDNEXT 6] Predicted next UID\r\n\
         s OK [READ-WRITE] Select completed.\r\n"
    );
    h.send("e EXAMINE Sent\r\n");
    let out = h.reply(Reply::Selected(Ok(Selected {
        snapshot: snap,
        recent: vec![],
    })));
    assert!(out.contains("[PERMANENTFLAGS ()]"), "{out}");
    assert!(
        out.ends_with("e OK [READ-ONLY] Examine completed.\r\n"),
        "{out}"
    );
    h.send("x SELECT Nope\r\n");
    let out = h.reply(Reply::Selected(Err(Failure::new(
        Some("NONEXISTENT"),
        "Mailbox doesn't exist: Nope",
    ))));
    assert_eq!(out, "x NO [NONEXISTENT] Mailbox doesn't exist: Nope\r\n");
    assert!(!h.session.has_selected());
}

#[test]
fn fetch_from_the_snapshot_needs_no_message() {
    let mut h = Harness::selected(snapshot(1, &[(3, SystemFlags::SEEN), (7, NONE)]), false);
    let out = h.send("f FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)\r\n");
    let size = crate::wire::len(MESSAGE, 0..MESSAGE.len());
    assert_eq!(
        out,
        format!(
            "* 1 FETCH (UID 3 FLAGS (\\Seen) RFC822.SIZE {size} INTERNALDATE \"01-Dec-2026 21:58:44 +0000\")\r\n\
             * 2 FETCH (UID 7 FLAGS () RFC822.SIZE {size} INTERNALDATE \"01-Dec-2026 21:58:44 +0000\")\r\n\
             f OK Fetch completed.\r\n"
        )
    );
    assert!(h.events.is_empty());
    let out = h.send("g UID FETCH 7 FLAGS\r\n");
    assert_eq!(
        out,
        "* 2 FETCH (UID 7 FLAGS ())\r\ng OK Fetch completed.\r\n"
    );
    assert_eq!(
        h.send("h FETCH 3 FLAGS\r\n"),
        "h BAD Invalid message set.\r\n"
    );
    assert_eq!(
        h.send("i UID FETCH 100:200 FLAGS\r\n"),
        "i OK Fetch completed.\r\n"
    );
}

#[test]
fn fetch_from_the_index_opens_no_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::selected(indexed_snapshot(dir.path(), &[1, 2]), true);
    let out =
        h.send("f FETCH 1:2 (ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (From Subject)])\r\n");
    assert!(h.events.is_empty(), "no message load: {:?}", h.events);
    assert!(
        out.contains("ENVELOPE (\"Tue, 1 Dec 2026 10:00:00 +0000\" \"Hi\""),
        "{out}"
    );
    assert!(
        out.contains("BODY[HEADER.FIELDS (From Subject)] {48}\r\nFrom: Alice <alice@example.org>\r\nSubject: Hi\r\n\r\n)"),
        "{out}"
    );
    assert!(out.ends_with("f OK Fetch completed.\r\n"));
    // A field the index does not keep needs the message.
    h.send("g FETCH 1 BODY.PEEK[HEADER.FIELDS (X-Spam)]\r\n");
    assert!(matches!(h.take_event(), Event::LoadMessage { uid: 1 }));
}

#[test]
fn body_sections_load_the_message_and_convert_line_ends() {
    let mut h = Harness::selected(snapshot(1, &[(4, SystemFlags::SEEN)]), false);
    h.send("f FETCH 1 (BODY.PEEK[TEXT] BODY.PEEK[]<0.4> RFC822.HEADER)\r\n");
    assert!(matches!(h.take_event(), Event::LoadMessage { uid: 4 }));
    h.session
        .on_message(4, Ok(crate::body::MessageBody::from(MESSAGE)));
    let out = h.pump();
    assert!(
        out.contains("BODY[TEXT] {24}\r\nHello Bob\r\nsecond line\r\n"),
        "{out}"
    );
    assert!(out.contains("BODY[]<0> {4}\r\nFrom"), "{out}");
    assert!(out.contains("RFC822.HEADER {"), "{out}");
    assert!(out.ends_with("f OK Fetch completed.\r\n"), "{out}");
    h.send("g FETCH 1 BODY[]\r\n");
    assert!(matches!(h.take_event(), Event::LoadMessage { uid: 4 }));
    h.session.on_message(4, Err(MessageError::Gone));
    assert_eq!(
        h.pump(),
        "g NO [EXPUNGEISSUED] Some of the requested messages no longer exist.\r\n"
    );
}

#[test]
fn non_peek_fetch_sets_seen_first() {
    let mut h = Harness::selected(snapshot(1, &[(4, NONE)]), false);
    h.send("f FETCH 1 BODY[]\r\n");
    match h.take_event() {
        Event::Request(Request::Store { uids, mode, flags }) => {
            assert_eq!(uids, vec![4]);
            assert_eq!(mode, StoreMode::Add);
            assert_eq!(flags, vec![Flag::Seen]);
        }
        other => panic!("{other:?}"),
    }
    h.session
        .on_update(snapshot(2, &[(4, SystemFlags::SEEN)]), &[]);
    h.session.on_reply(Reply::Done(Ok(())));
    h.pump();
    assert!(matches!(h.take_event(), Event::LoadMessage { uid: 4 }));
    h.session
        .on_message(4, Ok(crate::body::MessageBody::from(MESSAGE)));
    let out = h.pump();
    assert!(
        out.starts_with("* 1 FETCH (FLAGS (\\Seen) BODY[] {"),
        "{out}"
    );
    // The flag change was told with the FETCH, so it is not repeated.
    let out = h.send("n NOOP\r\n");
    assert!(matches!(h.take_event(), Event::Request(Request::Check)));
    let out = out + &h.reply(Reply::Done(Ok(())));
    assert_eq!(out, "n OK NOOP completed.\r\n");
}

#[test]
fn store_echoes_flags_unless_silent() {
    let mut h = Harness::selected(snapshot(1, &[(1, NONE), (2, NONE)]), false);
    h.send("s STORE 1:2 +FLAGS (\\Flagged $Forwarded)\r\n");
    assert!(matches!(
        h.take_event(),
        Event::Request(Request::Store { .. })
    ));
    h.session.on_update(
        snapshot(2, &[(1, SystemFlags::FLAGGED), (2, SystemFlags::FLAGGED)]),
        &[],
    );
    let out = h.reply(Reply::Done(Ok(())));
    assert_eq!(
        out,
        "* 1 FETCH (FLAGS (\\Flagged))\r\n* 2 FETCH (FLAGS (\\Flagged))\r\ns OK Store completed.\r\n"
    );
    h.send("t UID STORE 2 -FLAGS.SILENT (\\Flagged)\r\n");
    h.take_event();
    h.session
        .on_update(snapshot(3, &[(1, SystemFlags::FLAGGED), (2, NONE)]), &[]);
    assert_eq!(h.reply(Reply::Done(Ok(()))), "t OK Store completed.\r\n");
    assert_eq!(
        h.send("u STORE 1 FLAGS (\\Recent)\r\n"),
        "u BAD Invalid system flag \\Recent.\r\n"
    );
    let mut ro = Harness::selected(snapshot(1, &[(1, NONE)]), true);
    assert_eq!(
        ro.send("v STORE 1 +FLAGS (\\Seen)\r\n"),
        "v NO [READ-ONLY] Mailbox is read-only.\r\n"
    );
}

#[test]
fn expunges_wait_for_a_command_that_allows_them() {
    let mut h = Harness::selected(snapshot(1, &[(1, NONE), (2, NONE), (3, NONE)]), false);
    // Another session expunged 2 and delivered 4.
    h.session
        .on_update(snapshot(2, &[(1, NONE), (3, NONE), (4, NONE)]), &[4]);
    // FETCH may not report the expunge; the message is still message 2.
    let out = h.send("f FETCH 2 UID\r\n");
    assert_eq!(out, "* 2 FETCH (UID 2)\r\nf OK Fetch completed.\r\n");
    let out = h.send("n NOOP\r\n");
    assert_eq!(out, "");
    assert!(matches!(h.take_event(), Event::Request(Request::Check)));
    let out = h.reply(Reply::Done(Ok(())));
    assert_eq!(
        out,
        "* 2 EXPUNGE\r\n* 3 EXISTS\r\n* 1 RECENT\r\nn OK NOOP completed.\r\n"
    );
    h.send("x EXPUNGE\r\n");
    assert!(matches!(
        h.take_event(),
        Event::Request(Request::Expunge { uids: None })
    ));
    h.session.on_update(snapshot(3, &[(4, NONE)]), &[]);
    assert_eq!(
        h.reply(Reply::Done(Ok(()))),
        "* 2 EXPUNGE\r\n* 1 EXPUNGE\r\nx OK Expunge completed.\r\n"
    );
    h.send("y UID EXPUNGE 4\r\n");
    assert!(matches!(
        h.take_event(),
        Event::Request(Request::Expunge { uids: Some(u) }) if u == vec![4]
    ));
}

#[test]
fn idle_reports_at_once_and_ends_with_done() {
    let mut h = Harness::selected(snapshot(1, &[(1, NONE)]), false);
    assert_eq!(h.send("i IDLE\r\n"), "+ idling\r\n");
    assert!(h.session.is_idling());
    h.session
        .on_update(snapshot(2, &[(1, NONE), (2, NONE)]), &[2]);
    assert_eq!(h.output(), "* 2 EXISTS\r\n* 1 RECENT\r\n");
    h.session.idle_keepalive();
    assert_eq!(h.output(), "* OK Still here\r\n");
    h.session.on_update(snapshot(3, &[(2, NONE)]), &[]);
    assert_eq!(h.output(), "* 1 EXPUNGE\r\n");
    assert_eq!(h.send("DONE\r\n"), "i OK Idle completed.\r\n");
    assert!(!h.session.is_idling());
    assert_eq!(h.send("j IDLE\r\n"), "+ idling\r\n");
    assert_eq!(h.send("NOPE\r\n"), "j BAD Expected DONE.\r\n");
}

#[test]
fn search_on_flags_runs_at_once() {
    let mut h = Harness::selected(
        snapshot(
            1,
            &[
                (1, SystemFlags::SEEN),
                (2, SystemFlags::DELETED),
                (3, SystemFlags::SEEN.union(SystemFlags::FLAGGED)),
            ],
        ),
        false,
    );
    assert_eq!(
        h.send("a SEARCH SEEN\r\n"),
        "* SEARCH 1 3\r\na OK Search completed.\r\n"
    );
    assert_eq!(
        h.send("b UID SEARCH OR DELETED FLAGGED\r\n"),
        "* SEARCH 2 3\r\nb OK Search completed.\r\n"
    );
    assert_eq!(
        h.send("c SEARCH NOT SEEN 1:2\r\n"),
        "* SEARCH 2\r\nc OK Search completed.\r\n"
    );
    assert_eq!(
        h.send("d SEARCH LARGER 1000000\r\n"),
        "* SEARCH\r\nd OK Search completed.\r\n"
    );
    assert_eq!(
        h.send("e SEARCH CHARSET KOI8-R ALL\r\n"),
        "e NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset.\r\n"
    );
    assert_eq!(
        h.send("f SEARCH SINCE 1-Dec-2026 BEFORE 2-Dec-2026\r\n"),
        "* SEARCH 1 2 3\r\nf OK Search completed.\r\n"
    );
}

struct OneMessage;

impl SearchSource for OneMessage {
    fn message(&self, _uid: u32) -> Result<crate::body::MessageBody, MessageError> {
        Ok(crate::body::MessageBody::from(MESSAGE))
    }
}

#[test]
fn body_search_goes_to_the_runtime() {
    let mut h = Harness::selected(snapshot(1, &[(1, NONE), (2, NONE)]), false);
    h.send("a SEARCH BODY \"SECOND line\"\r\n");
    let Event::Search(job) = h.take_event() else {
        panic!("expected a search job");
    };
    assert!(job.needs_messages());
    let result = job.run(&OneMessage);
    assert_eq!(result, Ok(vec![0, 1]));
    h.session.on_search(result);
    assert_eq!(h.pump(), "* SEARCH 1 2\r\na OK Search completed.\r\n");
}

#[test]
fn header_search_uses_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::selected(indexed_snapshot(dir.path(), &[1, 2]), false);
    assert_eq!(
        h.send("a SEARCH FROM alice SUBJECT hi\r\n"),
        "* SEARCH 1 2\r\na OK Search completed.\r\n"
    );
    assert_eq!(
        h.send("b SEARCH TO carol\r\n"),
        "* SEARCH\r\nb OK Search completed.\r\n"
    );
    assert_eq!(
        h.send("c SEARCH SENTON 1-Dec-2026\r\n"),
        "* SEARCH 1 2\r\nc OK Search completed.\r\n"
    );
}

#[test]
fn copy_and_move_report_copyuid() {
    let mut h = Harness::selected(snapshot(1, &[(1, NONE), (2, NONE), (3, NONE)]), false);
    h.send("c COPY 1:2 Trash\r\n");
    assert!(matches!(
        h.take_event(),
        Event::Request(Request::Copy { moving: false, .. })
    ));
    assert_eq!(
        h.reply(Reply::Copied(Ok((99, vec![1, 2], vec![10, 11])))),
        "c OK [COPYUID 99 1:2 10:11] Copy completed.\r\n"
    );
    h.send("m UID MOVE 3 Trash\r\n");
    assert!(matches!(
        h.take_event(),
        Event::Request(Request::Copy { moving: true, .. })
    ));
    h.session
        .on_update(snapshot(2, &[(1, NONE), (2, NONE)]), &[]);
    assert_eq!(
        h.reply(Reply::Copied(Ok((99, vec![3], vec![12])))),
        "* OK [COPYUID 99 3 12] Moved UIDs.\r\n* 3 EXPUNGE\r\nm OK Move completed.\r\n"
    );
    h.send("n COPY 1 Nope\r\n");
    assert_eq!(
        h.reply(Reply::Copied(Err(Failure::new(
            Some("TRYCREATE"),
            "Mailbox doesn't exist: Nope"
        )))),
        "n NO [TRYCREATE] Mailbox doesn't exist: Nope\r\n"
    );
}

#[test]
fn list_and_lsub_filter_and_attribute() {
    let mut h = Harness::logged_in();
    let folders = vec![
        Folder {
            name: "INBOX".into(),
            selectable: true,
            has_children: false,
        },
        Folder {
            name: "Sent".into(),
            selectable: true,
            has_children: false,
        },
        Folder {
            name: "a".into(),
            selectable: false,
            has_children: true,
        },
        Folder {
            name: "a.b".into(),
            selectable: true,
            has_children: false,
        },
        Folder {
            name: "Sent Messages".into(),
            selectable: true,
            has_children: false,
        },
    ];
    h.send("l LIST \"\" %\r\n");
    assert!(matches!(h.take_event(), Event::Request(Request::List)));
    let out = h.reply(Reply::Folders(Ok((folders.clone(), vec![]))));
    assert_eq!(
        out,
        "* LIST (\\HasNoChildren) \".\" INBOX\r\n* LIST (\\HasNoChildren \\Sent) \".\" Sent\r\n\
         * LIST (\\Noselect \\HasChildren) \".\" a\r\n* LIST (\\HasNoChildren) \".\" \"Sent Messages\"\r\n\
         l OK List completed.\r\n"
    );
    h.send("m LIST a. *\r\n");
    let out = h.reply(Reply::Folders(Ok((folders.clone(), vec![]))));
    assert_eq!(
        out,
        "* LIST (\\HasNoChildren) \".\" a.b\r\nm OK List completed.\r\n"
    );
    h.send("n LSUB \"\" %\r\n");
    let out = h.reply(Reply::Folders(Ok((
        folders,
        vec!["a.b".into(), "Sent".into()],
    ))));
    assert_eq!(
        out,
        "* LSUB (\\Noselect) \".\" a\r\n* LSUB () \".\" Sent\r\nn OK Lsub completed.\r\n"
    );
}

#[test]
fn mailbox_management_replies() {
    let mut h = Harness::logged_in();
    h.send("a CREATE foo.\r\n");
    match h.take_event() {
        Event::Request(Request::Create { mailbox }) => assert_eq!(mailbox.as_str(), "foo"),
        other => panic!("{other:?}"),
    }
    assert_eq!(h.reply(Reply::Done(Ok(()))), "a OK Create completed.\r\n");
    assert_eq!(
        h.send("b CREATE inbox\r\n"),
        "b NO [ALREADYEXISTS] Mailbox already exists.\r\n"
    );
    h.send("c STATUS Sent (UIDNEXT MESSAGES UNSEEN)\r\n");
    assert!(matches!(
        h.take_event(),
        Event::Request(Request::Status { .. })
    ));
    let out = h.reply(Reply::Status(Ok(StatusInfo {
        messages: 4,
        recent: 0,
        uid_next: 9,
        uid_validity: 77,
        unseen: 1,
    })));
    assert_eq!(
        out,
        "* STATUS Sent (UIDNEXT 9 MESSAGES 4 UNSEEN 1)\r\nc OK Status completed.\r\n"
    );
    let out = h.send("d APPEND Sent (\\Seen) {5}\r\n");
    assert_eq!(out, "+ Ready for literal data\r\n");
    h.send("hello\r\n");
    match h.take_event() {
        Event::Request(Request::Append { message, flags, .. }) => {
            assert_eq!(message, b"hello");
            assert_eq!(flags, vec![Flag::Seen]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.reply(Reply::Appended(Ok((77, 9)))),
        "d OK [APPENDUID 77 9] Append completed.\r\n"
    );
    h.send("e RENAME a b\r\n");
    assert!(matches!(
        h.take_event(),
        Event::Request(Request::Rename { .. })
    ));
    assert_eq!(
        h.reply(Reply::Done(Err(Failure::new(
            Some("NONEXISTENT"),
            "No such mailbox."
        )))),
        "e NO [NONEXISTENT] No such mailbox.\r\n"
    );
}

#[test]
fn big_fetches_pause_for_output() {
    let uids: Vec<(u32, SystemFlags)> = (1..=20_000).map(|u| (u, NONE)).collect();
    let mut h = Harness::selected(snapshot(1, &uids), false);
    h.session
        .receive(b"f FETCH 1:* (UID FLAGS RFC822.SIZE)\r\n");
    assert!(h.session.poll().is_none());
    let first = h.output();
    assert!(first.len() >= 256 * 1024, "{}", first.len());
    assert!(!first.contains("f OK"));
    assert!(!h.session.wants_input());
    let mut rest = String::new();
    for _ in 0..100 {
        assert!(h.session.poll().is_none());
        rest.push_str(&h.output());
        if rest.contains("f OK") {
            break;
        }
    }
    assert!(rest.ends_with("f OK Fetch completed.\r\n"));
    let all = first + &rest;
    assert_eq!(all.matches(" FETCH (").count(), 20_000);
}

#[test]
fn uid_sets_compress() {
    assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
    assert_eq!(uid_set(&[5]), "5");
    let _ = NonZeroU32::new(1);
}

#[test]
fn a_replaced_mailbox_ends_the_session() {
    let mut h = Harness::selected(snapshot(1, &[(1, NONE)]), false);
    let mut other = Snapshot::empty(999);
    other.generation = 2;
    h.session.on_update(Arc::new(other), &[]);
    assert_eq!(
        h.output(),
        "* BYE [UNAVAILABLE] The mailbox was replaced (its UIDVALIDITY changed).\r\n"
    );
    assert!(h.session.is_finished());
}
