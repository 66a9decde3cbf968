//! Every reply parser on random garbage: errors are fine, panics are not. The bytes are drawn
//! mostly from the characters the IMAP and POP3 grammars care about, so the parsers get deep
//! into their paths before the input stops making sense; a fixed seed keeps runs repeatable.

use postern_load::proto::imap::{self, Literal, Response};
use postern_load::proto::pop3;
use postern_load::verify;
use rand::{Rng, SeedableRng};

const ALPHABET: &[u8] =
    b"* +-.0123456789(){}[]<>\"\\ \r\nOKNOBADFETCHUIDRFC822.SIZEBODY[]EXISTSNILERR~:V";

fn garbage(rng: &mut rand_chacha::ChaCha8Rng) -> Vec<u8> {
    let len = rng.random_range(0..80);
    (0..len)
        .map(|_| {
            if rng.random_range(0..10) == 0 {
                rng.random()
            } else {
                ALPHABET[rng.random_range(0..ALPHABET.len())]
            }
        })
        .collect()
}

#[test]
fn parsers_survive_garbage() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20_240_601);
    for round in 0..50_000 {
        let g = garbage(&mut rng);
        // Structured prefixes push the parsers past their first checks.
        let fetch = [b"* 1 FETCH (".as_slice(), &g].concat();
        let lits: Vec<Literal> = (0..rng.random_range(0..3))
            .map(|_| {
                let len = rng.random_range(0..20u64);
                Literal {
                    len,
                    bytes: Some(vec![b'x'; len as usize]),
                }
            })
            .collect();
        for text in [&g, &fetch] {
            let _ = imap::classify(text);
            let _ = imap::literal_at_end(text);
            let _ = imap::code_number(text, b"UIDVALIDITY");
            let _ = imap::capabilities(text);
            let _ = imap::parse_fetch(Response {
                text: text.clone(),
                literals: lits.clone(),
            });
            let _ = pop3::parse_status(text);
            let _ = pop3::parse_stat(text);
            let _ = pop3::parse_list_line(text);
            let _ = pop3::parse_uidl_line(text);
            let _ = pop3::unstuff(text);
            let _ = verify::parse_uidlist(text);
        }
        if round % 1000 == 0 {
            let _ = verify::parse_uidlist(&[b"3 V1 N2\n".as_slice(), &g, b"\n"].concat());
        }
    }
}
