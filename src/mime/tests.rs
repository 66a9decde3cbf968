//! Unit tests of the whole analysis: structures and envelopes of small messages whose
//! Dovecot answers are known.

use super::*;

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn single_part_defaults() {
    let a = analyze(b"Subject: hi\n\nhello\nworld\n");
    assert_eq!(
        s(&a.body),
        "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 2)"
    );
    assert_eq!(
        s(&a.envelope),
        "(NIL \"hi\" NIL NIL NIL NIL NIL NIL NIL NIL)"
    );
}
