//! The whole session, not just the reader, under random and hostile traffic: thousands of
//! seeded sessions, each fed generated commands (valid ones, damaged ones, raw token soup)
//! in random pieces, with a scripted runtime that answers every event — sometimes with a
//! failure, sometimes with a folder that changed meanwhile — and other sessions' changes
//! arriving at random moments. Nothing may panic, the session must keep answering, and its
//! output must stay line-framed.

use std::sync::Arc;

use super::generator::{Generator, Rng};
use crate::body::MessageBody;
use crate::imap::{
    Failure, Folder, LoginReply, MessageError, Output, Reply, Request, SearchSource, Selected,
    Session, SessionEvent, Settings, StatusInfo,
};
use crate::mailbox::{Flags, Message, Snapshot};
use crate::policy::LoginType;
use crate::store::{KeywordSet, SystemFlags};

/// Sessions per run, each with up to `COMMANDS` inputs: a few seconds in a debug build.
const SESSIONS: u64 = 8_000;
const COMMANDS: u64 = 40;

const MESSAGE: &[u8] = b"From: a@b\nSubject: s\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nhello\n--x\nContent-Type: message/rfc822\n\nSubject: inner\n\nbody\n--x--\n";

const HOSTILE: &[&[u8]] = &[
    b"a FETCH 1:* (BODY[1.2.3.MIME]<5.10> RFC822 BODYSTRUCTURE)\r\n",
    b"a UID FETCH 4294967295:* FLAGS\r\n",
    b"a STORE 1:* +FLAGS (\\Deleted $x)\r\n",
    b"a EXPUNGE\r\n",
    b"a SEARCH OR (NOT SEEN BODY hi) (UID 1:* TEXT \"x\")\r\n",
    b"a SEARCH CHARSET UTF-8 SUBJECT \"\xc3\xa9\"\r\n",
    b"a IDLE\r\n",
    b"DONE\r\n",
    b"a SELECT INBOX\r\na2 EXAMINE x\r\n",
    b"a AUTHENTICATE PLAIN\r\n",
    b"AGEAYg==\r\n",
    b"*\r\n",
    b"a APPEND INBOX {5}\r\n",
    b"hello\r\n",
    b"a APPEND INBOX {3+}\r\nx\0y\r\n",
    b"a LOGIN a b\r\n",
    b"a STARTTLS\r\n",
    b"a CLOSE\r\n",
    b"a UNSELECT\r\n",
    b"a MOVE 1:3 Trash\r\n",
    b"a COPY 2 Trash\r\n",
    b"a LIST \"\" *\r\n",
    b"a LSUB \"\" %\r\n",
    b"a STATUS INBOX (MESSAGES UNSEEN)\r\n",
    b"a LOGOUT\r\n",
    b"\r\n",
    b"((((((((((\r\n",
    b"a FETCH 1 BODY[\r\n",
    b"\xff\xfe\0\r\n",
];

fn snapshot(rng: &mut Rng, generation: u64) -> Arc<Snapshot> {
    let mut s = Snapshot::empty(9);
    s.generation = generation;
    s.keywords = Arc::new(vec!["$x".into(), "NonJunk".into()]);
    let mut uid = 0;
    for _ in 0..rng.below(8) {
        uid += rng.range(1, 4) as u32;
        let mut keywords = KeywordSet::empty();
        if rng.one_in(3) {
            keywords.insert(rng.below(3) as u8);
        }
        let system = [
            SystemFlags::empty(),
            SystemFlags::SEEN,
            SystemFlags::DELETED,
            SystemFlags::FLAGGED.union(SystemFlags::SEEN),
        ][rng.below(4) as usize];
        s.messages.push(Message {
            uid,
            flags: Flags { system, keywords },
            wire_size: crate::wire::len(MESSAGE, 0..MESSAGE.len()),
            internal_date: rng.below(2_000_000_000) as i64,
            slot: None,
        });
    }
    s.uid_next = uid + 1;
    Arc::new(s)
}

struct Source;

impl SearchSource for Source {
    fn message(&self, _uid: u32) -> Result<MessageBody, MessageError> {
        Ok(MessageBody::from(MESSAGE))
    }
}

/// Answers an event the way some runtime might.
fn answer(s: &mut Session, event: SessionEvent, rng: &mut Rng, generation: &mut u64) {
    let fail = || Failure::new(Some("NONEXISTENT"), "No such mailbox.");
    let mut update = |s: &mut Session, rng: &mut Rng| {
        *generation += 1;
        let snap = snapshot(rng, *generation);
        let recent: Vec<u32> = snap.messages.iter().map(|m| m.uid).take(1).collect();
        s.on_update(snap, &recent);
    };
    match event {
        SessionEvent::Login(_) => s.on_login(match rng.below(4) {
            0 => LoginReply::Failed,
            1 => LoginReply::Disabled,
            _ => LoginReply::Ok { user: "u".into() },
        }),
        SessionEvent::StartTls => s.on_tls_established(),
        SessionEvent::LoadMessage { uid } => s.on_message(
            uid,
            if rng.one_in(5) {
                Err(MessageError::Gone)
            } else {
                Ok(MessageBody::from(MESSAGE))
            },
        ),
        SessionEvent::Search(job) => {
            let result = job.run(&Source);
            s.on_search(result);
        }
        SessionEvent::Request(request) => {
            let failing = rng.one_in(6);
            let reply = match request {
                Request::Select { .. } => {
                    *generation += 1;
                    Reply::Selected(if failing {
                        Err(fail())
                    } else {
                        Ok(Selected {
                            snapshot: snapshot(rng, *generation),
                            recent: vec![1],
                        })
                    })
                }
                Request::List => Reply::Folders(Ok((
                    vec![Folder {
                        name: "INBOX".into(),
                        selectable: true,
                        has_children: false,
                    }],
                    vec!["INBOX".into()],
                ))),
                Request::Status { .. } => Reply::Status(Ok(StatusInfo::default())),
                Request::Append { .. } => Reply::Appended(Ok((9, 7))),
                Request::Copy { moving, .. } => {
                    if moving {
                        update(s, rng);
                    }
                    Reply::Copied(if failing {
                        Err(fail())
                    } else {
                        Ok((9, vec![1, 2], vec![5, 6]))
                    })
                }
                Request::Store { .. } | Request::Expunge { .. } | Request::Check => {
                    update(s, rng);
                    Reply::Done(Ok(()))
                }
                _ => Reply::Done(if failing { Err(fail()) } else { Ok(()) }),
            };
            s.on_reply(reply);
        }
    }
}

fn input(generator: &mut Generator) -> Vec<u8> {
    match generator.rng.below(4) {
        0 => generator.rng.pick(HOSTILE).to_vec(),
        1 => {
            let mut c = generator.command();
            // Damage it somewhere.
            for _ in 0..generator.rng.range(1, 3) {
                let at = generator.rng.below(c.len() as u64) as usize;
                c[at] = *generator.rng.pick(b"{}()\"\\\r\n \0*%[]<>+9");
            }
            c
        }
        _ => generator.command(),
    }
}

#[test]
fn random_sessions_never_panic_and_keep_answering() {
    let settings = Arc::new(Settings {
        login_type: LoginType::Plaintext,
        starttls_offered: true,
        max_bad_commands: 0,
        ..Settings::default()
    });
    // What the traffic reached, so that a generator gone stale cannot pass by testing little.
    let (mut fetched, mut searched, mut idled, mut bodies) = (0, 0, 0, 0);
    for seed in 0..SESSIONS {
        let mut generator = Generator::new(seed);
        let mut rng = Rng::new(seed ^ 0x5eed);
        let mut generation = 0;
        let mut s = Session::new(settings.clone(), false, "<1@h>".into());
        let mut out = Vec::new();
        // Most sessions log in first, so that the authenticated commands get exercised.
        if !rng.one_in(4) {
            s.receive(b"l LOGIN u p\r\ns SELECT INBOX\r\n");
        }
        for _ in 0..COMMANDS {
            let bytes = input(&mut generator);
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let n = (rng.range(1, 64) as usize).min(rest.len());
                s.receive(&rest[..n]);
                rest = &rest[n..];
                let mut turns = 0;
                loop {
                    turns += 1;
                    assert!(turns < 100_000, "seed {seed}: session does not settle");
                    if let Some(event) = s.poll() {
                        answer(&mut s, event, &mut rng, &mut generation);
                        continue;
                    }
                    let mut wrote = false;
                    while let Some(o) = s.pop_output() {
                        wrote = true;
                        match o {
                            Output::Text(t) => out.extend_from_slice(&t),
                            Output::Message { body, mut slice } => {
                                while slice.next_chunk(body.as_bytes(), &mut out, 4096) {}
                            }
                        }
                    }
                    if !wrote && (s.wants_input() || s.is_finished()) {
                        break;
                    }
                }
                if rng.one_in(20) {
                    generation += 1;
                    let snap = snapshot(&mut rng, generation);
                    s.on_update(snap, &[]);
                    s.idle_keepalive();
                }
            }
            if s.is_finished() {
                break;
            }
        }
        let text = String::from_utf8_lossy(&out);
        fetched += text.matches(" FETCH (").count();
        searched += text.matches("* SEARCH").count();
        idled += text.matches("+ idling").count();
        bodies += text.matches("BODY[").count();
        assert!(
            out.is_empty() || out.ends_with(b"\r\n"),
            "seed {seed}: output does not end a line: {:?}",
            String::from_utf8_lossy(&out[out.len().saturating_sub(200)..])
        );
    }
    assert!(
        fetched > 1000 && searched > 100 && idled > 100 && bodies > 100,
        "too little reached: {fetched} FETCH, {searched} SEARCH, {idled} IDLE, {bodies} BODY[]"
    );
}
