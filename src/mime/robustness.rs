//! The stable stand-in for `fuzz/fuzz_targets/mime.rs`: a few hundred thousand seeded
//! hostile messages, each analysed, cut into sections and searched, checked to cause no
//! panic and to keep the invariants callers rely on: every part lies inside the message and
//! inside its parent, the tree survives its own encoding, and no damaged encoding decodes.
//!
//! Inputs are runs of MIME-flavoured tokens (header names, boundaries and their `--`
//! forms, line ends of every kind, quotes, comments, encoded words, NUL and 8-bit bytes)
//! assembled into header-and-body shapes, so that the parser's deep paths (nested
//! multiparts, headers cut by boundaries, message/rfc822 chains) are reached often. A
//! failure prints the seed of the input, so it can be replayed.

use super::search::{self, Needle};
use super::*;

/// Inputs per run: a few seconds in a debug build.
const INPUTS: u64 = 200_000;

const TOKENS: &[&[u8]] = &[
    b"\n",
    b"\r\n",
    b"\r",
    b"\n\n",
    b"\r\n\r\n",
    b" ",
    b"\t",
    b"--",
    b"--b",
    b"--b--",
    b"--bb",
    b"--a",
    b"--a--",
    b"Content-Type: multipart/mixed; boundary=b",
    b"Content-Type: multipart/digest; boundary=\"bb\"",
    b"Content-Type: multipart/alternative; boundary=a",
    b"Content-Type: message/rfc822",
    b"Content-Type: text/plain; charset=utf-8",
    b"Content-Type: text",
    b"Content-Type: ;",
    b"Content-Transfer-Encoding: base64",
    b"Content-Transfer-Encoding: quoted-printable",
    b"Content-Disposition: attachment; filename*0*=utf-8''%41; filename*1=b",
    b"Content-Language: en, fr",
    b"MIME-Version: 1.0",
    b"From: ",
    b"To: a@b, Group: c@d;, <@r:x@y>",
    b"Subject: =?utf-8?b?w6k=?= x",
    b"Date: Tue, 7 Apr 2026 10:00:01 +0000",
    b"Date: 31 Feb 99 25:61",
    b"\"",
    b"\\",
    b"(",
    b")",
    b"<",
    b">",
    b"@",
    b",",
    b";",
    b":",
    b"=",
    b"=?",
    b"?=",
    b"\0",
    b"\xff",
    b"\xc3\xa9",
    b"x",
    b"body text",
    b"=20",
    b"AAAA",
];

/// xorshift64*: small, seeded, good enough to spread inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn input(seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut out = Vec::new();
    let pieces = rng.below(48);
    for _ in 0..pieces {
        match rng.below(10) {
            // A raw random byte now and then.
            0 => out.push(rng.next() as u8),
            // Lines, mostly: a token then a line end.
            1..=4 => {
                out.extend_from_slice(TOKENS[rng.below(TOKENS.len())]);
                out.extend_from_slice([&b"\n"[..], b"\r\n"][rng.below(2)]);
            }
            _ => out.extend_from_slice(TOKENS[rng.below(TOKENS.len())]),
        }
    }
    out
}

fn check(seed: u64, msg: &[u8], needle: &Needle) {
    let a = analyze(msg);
    let nodes = &a.parts.nodes;
    assert_eq!(nodes[0].header_start, 0, "seed {seed}");
    assert_eq!(
        nodes[0].end,
        msg.len(),
        "seed {seed}: root must cover the message"
    );
    for n in nodes {
        assert!(
            n.header_start <= n.body_start && n.body_start <= n.end,
            "seed {seed}"
        );
        for &c in &n.children {
            let child = &nodes[c];
            assert!(
                child.header_start >= n.body_start && child.end <= n.end,
                "seed {seed}: part outside its parent"
            );
        }
    }
    let mut encoded = Vec::new();
    a.parts.encode(&mut encoded);
    assert_eq!(
        PartTree::decode(&encoded).as_ref(),
        Some(&a.parts),
        "seed {seed}"
    );
    // Damaged encodings never decode to something that would break `section`.
    let mut rng = Rng(seed | 1);
    let mut damaged = encoded.clone();
    if !damaged.is_empty() {
        let i = rng.below(damaged.len());
        damaged[i] ^= 1 << rng.below(8);
    }
    damaged.truncate(damaged.len() - rng.below(2));
    let tree = PartTree::decode(&damaged).unwrap_or_else(|| a.parts.clone());

    let names = [b"Subject".to_vec(), b"content-type".to_vec()];
    let paths: [&[u32]; 6] = [&[], &[1], &[2], &[1, 1], &[2, 1, 3], &[0]];
    for part in [paths[rng.below(6)], paths[rng.below(6)]] {
        for text in [
            SectionText::Full,
            SectionText::Header,
            SectionText::Text,
            SectionText::Mime,
            SectionText::HeaderFields {
                names: &names,
                not: rng.below(2) == 0,
            },
        ] {
            if let SectionBytes::Stored(r) = section(msg, &tree, part, text) {
                assert!(r.start <= r.end && r.end <= msg.len(), "seed {seed}");
            }
        }
    }
    // Searching normalizes Unicode, which is slow in a debug build: one input in 16.
    if seed.is_multiple_of(16) {
        let _ = search::body_contains(msg, &a.parts, needle);
        let _ = search::text_contains(msg, &a.parts, needle);
        let _ = search::header_contains(msg, b"subject", needle);
    }
    let _ = search::sent_date(msg);
}

#[test]
fn hostile_messages_never_panic() {
    let needle = Needle::new("é x");
    for seed in 0..INPUTS {
        check(seed, &input(seed), &needle);
    }
}

#[test]
fn arbitrary_bytes_never_decode_as_a_tree_that_panics() {
    let mut rng = Rng(7);
    for _ in 0..20_000 {
        let len = rng.below(40);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if let Some(tree) = PartTree::decode(&bytes) {
            let msg = vec![b'x'; rng.below(64)];
            let _ = section(&msg, &tree, &[1, 1], SectionText::Text);
        }
    }
}
