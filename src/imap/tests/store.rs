//! STORE and UID STORE, and flags.

use super::*;
use crate::imap::{Flag, StoreMode};

fn store(line: &str) -> (bool, StoreMode, bool, Vec<Flag>) {
    match ok(line) {
        CommandBody::Store {
            uid,
            mode,
            silent,
            flags,
            ..
        } => (uid, mode, silent, flags),
        other => panic!("{other:?}"),
    }
}

#[test]
fn store_modes() {
    assert_eq!(
        store("a STORE 2:4 +FLAGS (\\Deleted)"),
        (false, StoreMode::Add, false, vec![Flag::Deleted])
    );
    assert_eq!(
        store("a STORE 1 -flags.silent \\seen \\ANSWERED"),
        (
            false,
            StoreMode::Remove,
            true,
            vec![Flag::Seen, Flag::Answered]
        )
    );
    assert_eq!(
        store("a UID STORE 1 FLAGS ()"),
        (true, StoreMode::Replace, false, vec![])
    );
    assert_eq!(
        store("a STORE 1 FLAGS.SILENT (\\Flagged \\Draft $Label1 \\Recent Junk)"),
        (
            false,
            StoreMode::Replace,
            true,
            vec![
                Flag::Flagged,
                Flag::Draft,
                Flag::Keyword("$Label1".into()),
                Flag::Extension("Recent".into()),
                Flag::Keyword("Junk".into())
            ]
        )
    );
}

#[test]
fn store_errors() {
    assert_eq!(bad("a STORE 1"), "a BAD Expected SP\r\n");
    assert_eq!(bad("a STORE 1 "), "a BAD Expected FLAGS\r\n");
    assert_eq!(bad("a STORE 1 LABELS (x)"), "a BAD Expected FLAGS\r\n");
    assert_eq!(bad("a STORE 1 +FLAGS.LOUD (x)"), "a BAD Expected FLAGS\r\n");
    assert_eq!(bad("a STORE 1 *FLAGS (x)"), "a BAD Expected FLAGS\r\n");
    assert_eq!(bad("a STORE 1 FLAGS"), "a BAD Expected SP\r\n");
    assert_eq!(bad("a STORE 1 FLAGS "), "a BAD Expected flag\r\n");
    assert_eq!(bad("a STORE 1 FLAGS (\\Seen"), "a BAD Expected SP\r\n");
    assert_eq!(
        bad("a STORE 1 FLAGS (\\Seen))"),
        "a BAD Unexpected characters after STORE\r\n"
    );
    assert_eq!(bad("a STORE 1 FLAGS (\\Seen )"), "a BAD Expected flag\r\n");
    assert_eq!(bad("a STORE 1 FLAGS \\"), "a BAD Expected flag\r\n");
    assert_eq!(bad("a STORE 1 FLAGS \\*"), "a BAD Expected flag\r\n");
    assert_eq!(bad("a STORE 1 FLAGS \"x\""), "a BAD Expected flag\r\n");
    assert_eq!(bad("a STORE 1 FLAGS ((x))"), "a BAD Expected flag\r\n");
    assert_eq!(bad("a STORE * FLAGS x y "), "a BAD Expected flag\r\n");
}
