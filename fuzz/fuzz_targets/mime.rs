//! Fuzzes message analysis: any bytes as a stored message, analysed, cut into sections and
//! searched; and any bytes as an index entry for a part tree.
//!
//! Checked: no panic; every part inside the message and inside its parent; the tree
//! survives its own encoding; section ranges inside the message even for a tree decoded
//! from damaged bytes (the first byte of the input chooses how to damage the encoding).

#![no_main]

use libfuzzer_sys::fuzz_target;
use postern::mime::search::{self, Needle};
use postern::mime::{self, PartTree, SectionBytes, SectionText};

fuzz_target!(|data: &[u8]| {
    let [damage, msg @ ..] = data else {
        return;
    };
    let a = mime::analyze(msg);
    let mut encoded = Vec::new();
    a.parts.encode(&mut encoded);
    assert_eq!(PartTree::decode(&encoded).as_ref(), Some(&a.parts));

    let i = usize::from(*damage) % encoded.len();
    encoded[i] ^= damage | 1;
    let tree = PartTree::decode(&encoded).unwrap_or(a.parts.clone());
    // Arbitrary input as an encoding, too.
    let _ = PartTree::decode(msg);

    let names = [b"Subject".to_vec(), b"From".to_vec()];
    let paths: [&[u32]; 5] = [&[], &[1], &[2], &[1, 1], &[2, 1]];
    for part in paths {
        for text in [
            SectionText::Full,
            SectionText::Header,
            SectionText::Text,
            SectionText::Mime,
            SectionText::HeaderFields {
                names: &names,
                not: damage & 1 == 0,
            },
        ] {
            if let SectionBytes::Stored(r) = mime::section(msg, &tree, part, text) {
                assert!(r.start <= r.end && r.end <= msg.len());
            }
        }
    }
    let needle = Needle::new("x");
    let _ = search::text_contains(msg, &a.parts, &needle);
    let _ = search::header_contains(msg, b"subject", &needle);
    let _ = search::sent_date(msg);
});
