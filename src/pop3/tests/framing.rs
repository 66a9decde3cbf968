//! The RETR/TOP framer: exact wire forms for the awkward cases, the shape of the chunks (long
//! zero-copy ranges, no floods of tiny ones), an exhaustive comparison with a naive reference
//! on short inputs, and a round trip over every message of the shared corpus.

use std::path::PathBuf;

use super::*;

/// Frames `body` and returns the wire bytes and the chunks (scratch chunks as their length).
fn chunks(
    body: &[u8],
    top: Option<u32>,
    max: usize,
) -> (Vec<u8>, Vec<Result<std::ops::Range<usize>, usize>>) {
    let mut framer = Framer::new(top);
    let mut scratch = Vec::new();
    let mut wire = Vec::new();
    let mut shape = Vec::new();
    while let Some(chunk) = framer.next(body, &mut scratch, max) {
        match chunk {
            Chunk::Body(range) => {
                assert!(!range.is_empty(), "empty body range");
                wire.extend_from_slice(&body[range.clone()]);
                shape.push(Ok(range));
            }
            Chunk::Scratch => {
                assert!(!scratch.is_empty(), "empty scratch chunk");
                wire.extend_from_slice(&scratch);
                shape.push(Err(scratch.len()));
            }
        }
    }
    assert!(framer.next(body, &mut scratch, max).is_none(), "stays done");
    (wire, shape)
}

fn wire(body: &[u8], top: Option<u32>) -> String {
    String::from_utf8(framed(body, top, 16 * 1024)).unwrap()
}

/// The wire form computed the slow, obvious way: split into lines, cut for TOP, normalize each
/// line end to CRLF, stuff dots, terminate.
fn reference(body: &[u8], top: Option<u32>) -> Vec<u8> {
    let mut lines: Vec<&[u8]> = body.split_inclusive(|&b| b == b'\n').collect();
    if let Some(n) = top
        && let Some(blank) = lines.iter().position(|l| *l == b"\n" || *l == b"\r\n")
    {
        lines.truncate((blank + 1 + n as usize).min(lines.len()));
    }
    let mut out = Vec::new();
    for line in lines {
        if line.starts_with(b".") {
            out.push(b'.');
        }
        let content = match line.strip_suffix(b"\n") {
            Some(content) => content.strip_suffix(b"\r").unwrap_or(content),
            None => line,
        };
        out.extend_from_slice(content);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Undoes the framing: checks the terminator and that no line is a lone "." before it,
/// then removes the stuffed dots.
fn unframe(wire: &[u8]) -> Vec<u8> {
    let content = wire.strip_suffix(b".\r\n").expect("terminated by .CRLF");
    assert!(
        content.is_empty() || content.ends_with(b"\r\n"),
        "terminator on its own line"
    );
    let mut out = Vec::with_capacity(content.len());
    let mut line_start = true;
    for (i, &b) in content.iter().enumerate() {
        if b == b'\n' {
            assert!(i > 0 && content[i - 1] == b'\r', "bare LF at {i}");
        }
        if line_start && b == b'.' {
            assert!(content.get(i + 1) == Some(&b'.'), "unstuffed dot at {i}");
            line_start = false;
            continue;
        }
        out.push(b);
        line_start = b == b'\n';
    }
    out
}

/// Bare LFs become CRLF, and a final CRLF is added to a non-empty message without one.
fn crlf_normalized(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 32 + 2);
    for (i, &b) in body.iter().enumerate() {
        if b == b'\n' && (i == 0 || body[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[test]
fn lf_only() {
    assert_eq!(wire(b"a\nb\n", None), "a\r\nb\r\n.\r\n");
    assert_eq!(wire(b"\n\n", None), "\r\n\r\n.\r\n");
}

#[test]
fn crlf_unchanged() {
    assert_eq!(wire(b"a\r\nb\r\n", None), "a\r\nb\r\n.\r\n");
}

#[test]
fn mixed_line_ends() {
    assert_eq!(wire(b"a\r\nb\nc\r\nd\n", None), "a\r\nb\r\nc\r\nd\r\n.\r\n");
}

#[test]
fn bare_cr_is_left_alone() {
    assert_eq!(wire(b"a\rb\r\n", None), "a\rb\r\n.\r\n");
    assert_eq!(wire(b"a\r\r\n", None), "a\r\r\n.\r\n");
    assert_eq!(wire(b"end\r", None), "end\r\r\n.\r\n");
    assert_eq!(
        wire(b"\r.x\n", None),
        "\r.x\r\n.\r\n",
        "a dot after CR does not start a line"
    );
}

#[test]
fn leading_dots_are_stuffed() {
    assert_eq!(wire(b".\r\n", None), "..\r\n.\r\n");
    assert_eq!(wire(b"..\r\n", None), "...\r\n.\r\n");
    assert_eq!(wire(b".", None), "..\r\n.\r\n");
    assert_eq!(
        wire(b".Header: x\r\n\r\n.body\r\n.\r\nx.y\r\n", None),
        "..Header: x\r\n\r\n..body\r\n..\r\nx.y\r\n.\r\n"
    );
    assert_eq!(wire(b"a\n.\n.b\n", None), "a\r\n..\r\n..b\r\n.\r\n");
}

#[test]
fn missing_final_line_end_is_added() {
    assert_eq!(wire(b"a\r\nb", None), "a\r\nb\r\n.\r\n");
    assert_eq!(wire(b"x", None), "x\r\n.\r\n");
}

#[test]
fn empty_message() {
    assert_eq!(wire(b"", None), ".\r\n");
    assert_eq!(wire(b"", Some(0)), ".\r\n");
    assert_eq!(chunks(b"", None, 10).1, [Err(3)]);
}

#[test]
fn top() {
    let m = b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n.l3\r\nl4";
    assert_eq!(wire(m, Some(0)), "A: 1\r\nB: 2\r\n\r\n.\r\n");
    assert_eq!(wire(m, Some(1)), "A: 1\r\nB: 2\r\n\r\nl1\r\n.\r\n");
    assert_eq!(
        wire(m, Some(3)),
        "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n..l3\r\n.\r\n"
    );
    assert_eq!(
        wire(m, Some(4)),
        "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n..l3\r\nl4\r\n.\r\n"
    );
    assert_eq!(wire(m, Some(u32::MAX)), wire(m, None));
    let lf = b"A: 1\n\nl1\nl2\n";
    assert_eq!(wire(lf, Some(0)), "A: 1\r\n\r\n.\r\n");
    assert_eq!(wire(lf, Some(1)), "A: 1\r\n\r\nl1\r\n.\r\n");
    assert_eq!(
        wire(b"\r\nbody\r\n", Some(0)),
        "\r\n.\r\n",
        "no header at all"
    );
}

#[test]
fn top_of_a_headers_only_message_sends_it_all() {
    assert_eq!(wire(b"A: 1\r\nB: 2\r\n", Some(0)), "A: 1\r\nB: 2\r\n.\r\n");
    assert_eq!(wire(b"A: 1\nB: 2", Some(5)), "A: 1\r\nB: 2\r\n.\r\n");
}

#[test]
fn clean_crlf_message_is_one_body_range() {
    for body in [
        &b"a\r\n"[..],
        b"Subject: x\r\n\r\nbody line\r\n",
        &b"y\r\n".repeat(100_000),
    ] {
        for max in [1, 64, 16 * 1024] {
            let (_, shape) = chunks(body, None, max);
            assert_eq!(shape, [Ok(0..body.len()), Err(3)], "max={max}");
        }
    }
    let no_end = b"Subject: x\r\n\r\nbody";
    assert_eq!(chunks(no_end, None, 100).1, [Ok(0..no_end.len()), Err(5)]);
    let top = b"Subject: x\r\n\r\nl1\r\nl2\r\n";
    assert_eq!(chunks(top, Some(1), 100).1, [Ok(0..18), Err(3)]);
}

#[test]
fn sparse_insertions_keep_long_body_ranges() {
    // A large CRLF message with a dot line every ~100 KB.
    let mut body = Vec::new();
    for _ in 0..10 {
        body.extend_from_slice(&b"0123456789012345678901234567890123456789\r\n".repeat(2500));
        body.extend_from_slice(b".dot\r\n");
    }
    let (wire, shape) = chunks(&body, None, 16 * 1024);
    assert_eq!(wire, reference(&body, None));
    let body_bytes: usize = shape
        .iter()
        .filter_map(|c| c.clone().ok())
        .map(|r| r.len())
        .sum();
    assert!(body_bytes > body.len() * 99 / 100, "{shape:?}");
    assert!(shape.len() <= 25, "{} chunks", shape.len());
}

#[test]
fn dense_insertions_are_copied_not_flooded() {
    // Bare-LF short lines: every line needs a CR.
    let body = b"short line\n".repeat(10_000);
    let max = 16 * 1024;
    let (wire, shape) = chunks(&body, None, max);
    assert_eq!(wire, reference(&body, None));
    assert!(shape.iter().all(Result::is_err), "no tiny body ranges");
    let n = shape.len();
    for c in &shape[..n - 1] {
        let len = *c.as_ref().unwrap_err();
        assert!(len >= max && len <= max + 8, "scratch chunk of {len}");
    }
    assert!(n <= body.len() * 12 / 10 / max + 2);
}

#[test]
fn tiny_max_still_progresses() {
    for max in [0, 1, 2] {
        for body in [&b"a\nb"[..], b".\n.\n", b"\n", b"x\r\n.."] {
            let (wire, _) = chunks(body, None, max);
            assert_eq!(wire, reference(body, None), "{body:?} max={max}");
        }
    }
}

#[test]
fn exhaustive_short_inputs_match_the_reference() {
    let alphabet = [b'a', b'.', b'\r', b'\n'];
    let mut inputs: Vec<Vec<u8>> = vec![Vec::new()];
    let mut layer: Vec<Vec<u8>> = vec![Vec::new()];
    for _ in 0..7 {
        layer = layer
            .iter()
            .flat_map(|prefix| {
                alphabet.iter().map(move |&b| {
                    let mut v = prefix.clone();
                    v.push(b);
                    v
                })
            })
            .collect();
        inputs.extend(layer.iter().cloned());
    }
    for body in &inputs {
        for top in [None, Some(0), Some(1), Some(2)] {
            let expected = reference(body, top);
            for max in [1, 2, 3, 5, 4096] {
                let (wire, _) = chunks(body, top, max);
                assert_eq!(wire, expected, "{body:?} top={top:?} max={max}");
            }
        }
    }
}

fn corpus_files() -> Vec<(PathBuf, Vec<u8>)> {
    crate::test_corpus::messages()
}

#[test]
fn corpus_round_trips() {
    for (path, body) in corpus_files() {
        let expected = crlf_normalized(&body);
        for max in [7, 512, 16 * 1024, 1 << 20] {
            let (wire, shape) = chunks(&body, None, max);
            assert_eq!(unframe(&wire), expected, "{} max={max}", path.display());
            if max >= 16 * 1024 {
                assert_eq!(wire, reference(&body, None), "{}", path.display());
            }
            let clean = !body.is_empty()
                && body.ends_with(b"\r\n")
                && expected == body
                && !body.starts_with(b".")
                && !body.windows(2).any(|w| w == b"\n.");
            if clean {
                assert_eq!(shape, [Ok(0..body.len()), Err(3)], "{}", path.display());
            }
        }
        for top in [0, 1, 10] {
            let (wire, _) = chunks(&body, Some(top), 4096);
            assert_eq!(
                wire,
                reference(&body, Some(top)),
                "{} TOP {top}",
                path.display()
            );
        }
    }
}
