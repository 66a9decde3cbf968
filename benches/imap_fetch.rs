//! IMAP FETCH encoding: how fast the session turns a header-only FETCH of a 10,000-message
//! folder into response bytes, straight from a mapped index — the protocol-side cost of a
//! mail client listing a big mailbox (the runtime then writes the bytes in large batches).
//!
//! Two requests: what a client's message list asks for (flags, size, date and a few header
//! fields), and the same plus ENVELOPE and BODYSTRUCTURE. The folder's messages are varied
//! (the shared corpus, repeated), so the cached lines and structures have real sizes.

use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use postern::imap::{Output, Reply, Selected, Session, SessionEvent, Settings};
use postern::mailbox::index::{self, IndexFile, Record};
use postern::mailbox::{Message, Snapshot};
use postern::policy::LoginType;
use postern::store::Flags;

const MESSAGES: u32 = 10_000;

#[path = "../tests/common/corpus.rs"]
mod corpus;

/// A snapshot of a folder with an index holding every message.
fn folder(dir: &Path, settings: &Settings) -> Arc<Snapshot> {
    let corpus = corpus::bytes();
    let names: Vec<&str> = settings.cached_headers.iter().map(String::as_str).collect();
    let records: Vec<Record> = (1..=MESSAGES)
        .map(|uid| {
            let m = &corpus[uid as usize % corpus.len()];
            let a = postern::mime::analyze(m);
            let mut parts = Vec::new();
            a.parts.encode(&mut parts);
            Record {
                uid,
                base: format!("{uid}.M1P1.bench").into_bytes(),
                internal_date: 1_700_000_000 + i64::from(uid),
                stored_size: m.len() as u64,
                wire_size: postern::wire::len(m, 0..m.len()),
                envelope: a.envelope,
                body: a.body,
                bodystructure: a.bodystructure,
                headers: postern::mime::select_header_lines(m, &names),
                parts,
            }
        })
        .collect();
    index::write(dir, 1, 1, &IndexFile::empty(), &|_| true, &records, true).unwrap();
    let index = Arc::new(IndexFile::load(dir, 1, 1).unwrap());
    let mut snapshot = Snapshot::empty(1);
    snapshot.generation = 1;
    snapshot.uid_next = MESSAGES + 1;
    snapshot.messages = records
        .iter()
        .map(|r| Message {
            uid: r.uid,
            flags: Flags::empty(),
            wire_size: r.wire_size,
            internal_date: r.internal_date,
            slot: index.position(r.uid).map(|p| p as u32),
        })
        .collect();
    snapshot.index = index;
    Arc::new(snapshot)
}

/// A logged-in session with the folder selected.
fn selected(settings: &Arc<Settings>, snapshot: &Arc<Snapshot>) -> Session {
    let mut s = Session::new(settings.clone(), true, "<1@bench>".into());
    s.receive(b"a LOGIN u p\r\nb SELECT INBOX\r\n");
    assert!(matches!(s.poll(), Some(SessionEvent::Login(_))));
    s.on_login(postern::imap::LoginReply::Ok { user: "u".into() });
    assert!(matches!(s.poll(), Some(SessionEvent::Request(_))));
    s.on_reply(Reply::Selected(Ok(Selected {
        snapshot: snapshot.clone(),
        recent: vec![],
    })));
    assert!(s.poll().is_none());
    while s.pop_output().is_some() {}
    s
}

/// Runs one FETCH to its tagged OK; returns the bytes produced.
fn fetch(s: &mut Session, command: &[u8]) -> usize {
    s.receive(command);
    let mut bytes = 0;
    loop {
        assert!(
            s.poll().is_none(),
            "a header-only FETCH must not need the runtime"
        );
        let mut done = false;
        while let Some(out) = s.pop_output() {
            if let Output::Text(t) = out {
                done |= t.ends_with(b"OK Fetch completed.\r\n");
                bytes += t.len();
            }
        }
        if done {
            return bytes;
        }
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let settings = Arc::new(Settings {
        login_type: LoginType::Plaintext,
        ..Settings::default()
    });
    let snapshot = folder(dir.path(), &settings);
    let mut group = c.benchmark_group("imap_fetch_10k");
    group.sample_size(20);
    for (name, command) in [
        (
            "message_list",
            &b"f UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID REFERENCES)])\r\n"[..],
        ),
        (
            "with_envelope_and_bodystructure",
            &b"f UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID REFERENCES)])\r\n"[..],
        ),
    ] {
        let mut session = selected(&settings, &snapshot);
        let bytes = fetch(&mut session, command);
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(name, |b| b.iter(|| fetch(&mut session, command)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
