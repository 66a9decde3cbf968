//! POP3 RETR framing throughput (LF→CRLF and dot-stuffing) over real messages.
//!
//! Three shapes matter: the shared corpus as it is (mixed line ends, some leading dots), the
//! same messages already in CRLF form (the zero-copy case: one body range, nothing copied),
//! and LF-only mail as most MDAs write it (every line needs a CR, so it is copied).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use postern::pop3::{Chunk, Framer};

#[path = "../tests/common/corpus.rs"]
mod corpus;

fn to_crlf(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len() + m.len() / 16);
    for (i, &b) in m.iter().enumerate() {
        if b == b'\n' && (i == 0 || m[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

fn to_lf(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len());
    for (i, &b) in m.iter().enumerate() {
        if !(b == b'\r' && m.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

/// Frames every message and returns the number of wire bytes, as the server would send them.
fn frame_all(messages: &[Vec<u8>], scratch: &mut Vec<u8>) -> usize {
    let mut total = 0;
    for m in messages {
        let mut framer = Framer::new(None);
        while let Some(chunk) = framer.next(m, scratch, 16 * 1024) {
            total += match chunk {
                Chunk::Body(r) => r.len(),
                Chunk::Scratch => scratch.len(),
            };
        }
    }
    total
}

fn bench(c: &mut Criterion) {
    let original = corpus::bytes();
    let crlf: Vec<Vec<u8>> = original.iter().map(|m| to_crlf(m)).collect();
    let lf: Vec<Vec<u8>> = original.iter().map(|m| to_lf(m)).collect();
    let mut group = c.benchmark_group("pop3_retr_framing");
    for (name, set) in [("corpus", &original), ("crlf", &crlf), ("lf", &lf)] {
        let bytes: usize = set.iter().map(|m| m.len()).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        let mut scratch = Vec::with_capacity(16 * 1024);
        group.bench_function(name, |b| b.iter(|| frame_all(set, &mut scratch)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
