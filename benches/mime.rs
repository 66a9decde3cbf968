//! Message analysis throughput: `analyze` (structure, ENVELOPE, BODY, BODYSTRUCTURE) over
//! the shared corpus, and HEADER.FIELDS answered from the lines an index keeps.
//!
//! `analyze` runs once per message when it is first fetched, so its cost is per delivered
//! message; the corpus is measured as it is and without its one 1 MB message, which
//! otherwise dominates the byte count. HEADER.FIELDS from cached lines is the per-FETCH
//! cost of a client listing a mailbox (`BODY.PEEK[HEADER.FIELDS (From To Subject Date)]`).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use postern::mime;

#[path = "../tests/common/corpus.rs"]
mod corpus;

fn bench(c: &mut Criterion) {
    let all = corpus::bytes();
    let small: Vec<Vec<u8>> = all
        .iter()
        .filter(|m| m.len() < 512 * 1024)
        .cloned()
        .collect();
    let mut group = c.benchmark_group("mime_analyze");
    for (name, set) in [("corpus", &all), ("corpus_without_1mb", &small)] {
        let bytes: usize = set.iter().map(|m| m.len()).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                set.iter()
                    .map(|m| mime::analyze(m).bodystructure.len())
                    .sum::<usize>()
            })
        });
    }
    group.finish();

    let cached_names = [
        "From",
        "To",
        "Cc",
        "Subject",
        "Date",
        "Message-ID",
        "Content-Type",
    ];
    let cached: Vec<Vec<u8>> = all
        .iter()
        .map(|m| mime::select_header_lines(m, &cached_names))
        .collect();
    let request: Vec<Vec<u8>> = ["FROM", "TO", "SUBJECT", "DATE"]
        .iter()
        .map(|n| n.as_bytes().to_vec())
        .collect();
    let mut group = c.benchmark_group("mime_header_fields");
    group.throughput(Throughput::Elements(cached.len() as u64));
    group.bench_function("cached_lines", |b| {
        b.iter(|| {
            cached
                .iter()
                .map(|lines| mime::header_fields(lines, &request, false).len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
