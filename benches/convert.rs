//! Retrieval formats: what converting costs, once per message and format (the first session
//! of a format on a folder pays it, on the store pool), and what serving a converted mailbox
//! costs afterwards, warm, next to serving it as stored.
//!
//! - `convert/<format>`: [`postern::convert::convert`] over the whole shared corpus (bytes
//!   in per second; messages the format leaves alone count too, as they cost a parse).
//! - `retr/<form>`: every corpus message read the way a POP3 RETR of a session of that form
//!   reads it — from the message file (`original`) or from the derived index's map of the
//!   converted bytes (`text-only warm`) — and framed for the wire ([`postern::pop3::Framer`]).
//! - `derived/reload_warm`: loading a folder's derived file and checking it against the
//!   folder (what a login or SELECT after a restart does: no conversion).

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use postern::mailbox::derived::Derived;
use postern::policy::RetrievalFormat;
use postern::pop3::{Chunk, Framer};
use postern::store::{Maildir, MessageMeta, NewFlags, StoreOptions};

#[path = "../tests/common/corpus.rs"]
mod corpus;

fn frame(body: &[u8], scratch: &mut Vec<u8>) -> usize {
    let mut framer = Framer::new(None);
    let mut total = 0;
    while let Some(chunk) = framer.next(body, scratch, 16 * 1024) {
        total += match chunk {
            Chunk::Body(r) => r.len(),
            Chunk::Scratch => scratch.len(),
        };
    }
    total
}

fn maildir(dir: &Path, messages: &[Vec<u8>]) -> Maildir {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let options = StoreOptions {
        fsync: false,
        ..StoreOptions::default()
    };
    let m = Maildir::open(dir, options).unwrap();
    for msg in messages {
        m.append(msg, &NewFlags::default(), None).unwrap();
    }
    m
}

fn bench(c: &mut Criterion) {
    let all = corpus::bytes();
    let bytes: usize = all.iter().map(|m| m.len()).sum();
    let mut group = c.benchmark_group("convert");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(20);
    for format in RetrievalFormat::ALL.into_iter().skip(1) {
        group.bench_function(format.as_str(), |b| {
            b.iter(|| {
                all.iter()
                    .map(|m| postern::convert::convert(m, format).map_or(0, |v| v.len()))
                    .sum::<usize>()
            })
        });
    }
    group.finish();

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let md = maildir(dir, &all);
    let inbox = md.sync().unwrap();
    let metas: Vec<MessageMeta> = inbox.messages.clone();
    let format = RetrievalFormat::TextOnly;
    let derived = Derived::load(dir, format, inbox.uid_validity, 1).update(
        dir,
        inbox.uid_validity,
        1,
        &metas,
        &md,
        &[],
    );
    let mut group = c.benchmark_group("retr");
    group.throughput(Throughput::Elements(metas.len() as u64));
    let mut scratch = Vec::with_capacity(16 * 1024);
    group.bench_function("original", |b| {
        b.iter(|| {
            metas
                .iter()
                .map(|m| frame(md.read(m).unwrap().as_bytes(), &mut scratch))
                .sum::<usize>()
        })
    });
    group.bench_function("text-only warm", |b| {
        b.iter(|| {
            metas
                .iter()
                .map(|m| frame(derived.read(&md, m).unwrap().as_bytes(), &mut scratch))
                .sum::<usize>()
        })
    });
    group.finish();

    let mut group = c.benchmark_group("derived");
    group.bench_function("reload_warm", |b| {
        b.iter(|| {
            Derived::load(dir, format, inbox.uid_validity, 1)
                .update(dir, inbox.uid_validity, 1, &metas, &md, &[])
                .file()
                .len()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
