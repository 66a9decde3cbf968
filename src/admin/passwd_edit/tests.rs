//! The editor: untouched bytes stay untouched, and each edit changes only its own field.

use super::*;
use crate::auth::PasswdDb;

fn set(key: &str, value: &str) -> ExtraEdit {
    ExtraEdit::Set {
        key: key.into(),
        value: value.into(),
    }
}

fn remove(key: &str) -> ExtraEdit {
    ExtraEdit::Remove { key: key.into() }
}

fn switch(key: &str, on: bool) -> ExtraEdit {
    ExtraEdit::Switch {
        key: key.into(),
        on,
    }
}

/// Applies `edits` to `user` in `text`; returns the new text and asserts it still loads.
fn edited(text: &str, user: &str, edits: &[ExtraEdit]) -> String {
    let mut t = PasswdText::parse(text);
    t.edit_extra(user, edits).unwrap();
    let out = t.render();
    PasswdDb::parse(&out, "t").unwrap_or_else(|e| panic!("{e}\n{out}"));
    out
}

const MIXED: &str = "# Accounts for example.org\r\n\
    \n\
    \t  \n\
    alice:{PLAIN}a:1000:1000:Alice, Room 1:/home/alice:/bin/sh:userdb_quota_rule=*:storage=1G mail=maildir:~/Mail\r\n\
    # bob is on leave\n\
    bob:{PLAIN}b\n\
    carol:{PLAIN}c:::::: pop3=off x-provisioned-by=ldap   imap_login_type=secure\n\
    dave:{PLAIN}d";

#[test]
fn render_without_edits_is_the_input() {
    for text in [
        MIXED,
        "",
        "\n",
        "\r\n\r\n",
        "a:{PLAIN}x\r",
        "a:{PLAIN}x",
        "# only a comment",
    ] {
        assert_eq!(PasswdText::parse(text).render(), text, "{text:?}");
    }
}

#[test]
fn accounts_are_the_lines_passwd_db_reads() {
    let t = PasswdText::parse(MIXED);
    let users: Vec<(usize, &str)> = t.accounts().map(|a| (a.number, a.user)).collect();
    assert_eq!(users, [(4, "alice"), (6, "bob"), (7, "carol"), (8, "dave")]);
    let db = PasswdDb::parse(MIXED, "t").unwrap();
    assert_eq!(db.len(), users.len());
}

/// Every line but `changed` (1-based) is byte-for-byte what it was, terminators included.
fn only_line_changed(before: &str, after: &str, changed: usize) {
    let a: Vec<&str> = before.split_inclusive('\n').collect();
    let b: Vec<&str> = after.split_inclusive('\n').collect();
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if i + 1 != changed {
            assert_eq!(x, y, "line {}", i + 1);
        } else {
            assert_ne!(x, y, "line {} should have changed", i + 1);
        }
    }
}

#[test]
fn comments_blank_lines_unknown_fields_and_crlf_survive() {
    let out = edited(MIXED, "alice", &[switch("imap", false)]);
    only_line_changed(MIXED, &out, 4);
    assert!(out.contains(
        "alice:{PLAIN}a:1000:1000:Alice, Room 1:/home/alice:/bin/sh:userdb_quota_rule=*:storage=1G mail=maildir:~/Mail imap=off\r\n"
    ));
}

#[test]
fn colon_in_an_extra_field_is_kept() {
    let line = "erin:{PLAIN}e::::/home/erin::mail=maildir:~/Mail:LAYOUT=fs\n";
    let out = edited(line, "erin", &[set("pop3_retrieval_format", "text-only")]);
    assert_eq!(
        out,
        "erin:{PLAIN}e::::/home/erin::mail=maildir:~/Mail:LAYOUT=fs pop3_retrieval_format=text-only\n"
    );
    let db = PasswdDb::parse(&out, "t").unwrap();
    let erin = db.lookup("erin").unwrap();
    assert_eq!(
        erin.maildir("/x").as_deref(),
        Some(std::path::Path::new("/home/erin/Mail"))
    );
}

#[test]
fn short_lines_are_padded_to_the_extra_field() {
    assert_eq!(
        edited("bob:{PLAIN}b\n", "bob", &[switch("pop3", false)]),
        "bob:{PLAIN}b::::::pop3=off\n"
    );
    assert_eq!(
        edited("bob:{PLAIN}b:1001:100\n", "bob", &[switch("pop3", false)]),
        "bob:{PLAIN}b:1001:100::::pop3=off\n"
    );
    assert_eq!(
        edited(
            "bob:{PLAIN}b::::/home/bob:/bin/sh\n",
            "bob",
            &[switch("imap", false)]
        ),
        "bob:{PLAIN}b::::/home/bob:/bin/sh:imap=off\n"
    );
    // A trailing `:` already opens an empty extra field.
    assert_eq!(
        edited("bob:{PLAIN}b::::::\n", "bob", &[switch("imap", false)]),
        "bob:{PLAIN}b::::::imap=off\n"
    );
    let db = PasswdDb::parse("bob:{PLAIN}b:1001:100::::pop3=off\n", "t").unwrap();
    let bob = db.lookup("bob").unwrap();
    assert_eq!(bob.uid, Some(1001));
    assert!(!bob.pop3_enabled && bob.imap_enabled);
}

#[test]
fn each_edit_kind() {
    let line = "c:{PLAIN}c:::::: pop3=off x-provisioned-by=ldap   imap_login_type=secure\n";
    // Switch on an explicit off: the value changes in place.
    assert_eq!(
        edited(line, "c", &[switch("pop3", true)]),
        "c:{PLAIN}c:::::: pop3=on x-provisioned-by=ldap   imap_login_type=secure\n"
    );
    // Switch to what it already is: nothing changes.
    let mut t = PasswdText::parse(line);
    assert!(
        !t.edit_extra("c", &[switch("pop3", false), switch("imap", true)])
            .unwrap()
    );
    assert_eq!(t.render(), line);
    // Set replaces a value in place and appends a new key at the end.
    assert_eq!(
        edited(
            line,
            "c",
            &[
                set("imap_login_type", "plaintext-login"),
                set("pop3_login_type", "secure")
            ]
        ),
        "c:{PLAIN}c:::::: pop3=off x-provisioned-by=ldap   imap_login_type=plaintext-login pop3_login_type=secure\n"
    );
    // Flags.
    assert_eq!(
        edited(
            "d:{PLAIN}d\n",
            "d",
            &[ExtraEdit::Flag {
                key: "nologin".into(),
                present: true
            }]
        ),
        "d:{PLAIN}d::::::nologin\n"
    );
    assert_eq!(
        edited(
            "d:{PLAIN}d:::::: nologin quota=1\n",
            "d",
            &[ExtraEdit::Flag {
                key: "nologin".into(),
                present: false
            }]
        ),
        "d:{PLAIN}d:::::: quota=1\n"
    );
}

#[test]
fn removing_an_override_leaves_the_others_alone() {
    let line = "c:{PLAIN}c::::::a=1 imap_login_type=secure b=2\n";
    assert_eq!(
        edited(line, "c", &[remove("imap_login_type")]),
        "c:{PLAIN}c::::::a=1 b=2\n"
    );
    assert_eq!(
        edited(line, "c", &[remove("a")]),
        "c:{PLAIN}c::::::imap_login_type=secure b=2\n"
    );
    assert_eq!(
        edited(line, "c", &[remove("b")]),
        "c:{PLAIN}c::::::a=1 imap_login_type=secure\n"
    );
    assert_eq!(
        edited(
            "c:{PLAIN}c::::::imap_login_type=secure\n",
            "c",
            &[remove("imap_login_type")]
        ),
        "c:{PLAIN}c::::::\n"
    );
    // Removing what is not there changes nothing, not even a short line's length.
    let mut t = PasswdText::parse("c:{PLAIN}c\n");
    assert!(!t.edit_extra("c", &[remove("imap_login_type")]).unwrap());
    assert_eq!(t.render(), "c:{PLAIN}c\n");
}

#[test]
fn duplicate_keys_collapse_to_the_value_set() {
    // PasswdDb obeys the last occurrence, so a set must not leave a later one behind.
    let line = "c:{PLAIN}c::::::pop3=off q=1 pop3=on\n";
    let out = edited(line, "c", &[switch("pop3", false)]);
    assert_eq!(out, "c:{PLAIN}c::::::pop3=off q=1\n");
    let db = PasswdDb::parse(&out, "t").unwrap();
    assert!(!db.lookup("c").unwrap().pop3_enabled);
}

#[test]
fn password_add_and_remove() {
    let mut t = PasswdText::parse(MIXED);
    assert!(t.set_password("bob", "{SSHA512}abc").unwrap());
    assert!(!t.set_password("bob", "{SSHA512}abc").unwrap());
    assert_eq!(
        t.set_password("nobody", "{PLAIN}x"),
        Err(EditError::NoSuchUser("nobody".into()))
    );
    assert!(matches!(
        t.set_password("bob", "{PLAIN}a:b"),
        Err(EditError::BadField { .. })
    ));
    let out = t.render();
    only_line_changed(MIXED, &out, 6);
    assert!(out.contains("\nbob:{SSHA512}abc\n"));

    // dave's line had no newline: it gains one (LF, the file's majority) before the new line.
    let mut t = PasswdText::parse(MIXED);
    t.add(&NewAccount {
        user: "erin@example.org".into(),
        password: "{PLAIN}e".into(),
        uid: Some(1005),
        home: "/home/erin".into(),
        extra: vec!["imap=off".into()],
        ..NewAccount::default()
    })
    .unwrap();
    let out = t.render();
    assert_eq!(
        out,
        format!("{MIXED}\nerin@example.org:{{PLAIN}}e:1005:::/home/erin::imap=off\n")
    );
    assert_eq!(
        t.add(&NewAccount {
            user: "alice".into(),
            password: "{PLAIN}x".into(),
            ..NewAccount::default()
        }),
        Err(EditError::UserExists("alice".into()))
    );
    assert!(matches!(
        t.add(&NewAccount {
            user: "x".into(),
            password: "{PLAIN}x".into(),
            gecos: "a:b".into(),
            ..NewAccount::default()
        }),
        Err(EditError::BadField { what: "gecos", .. })
    ));
    // Short form: trailing empty fields are left out.
    let mut t = PasswdText::parse("");
    t.add(&NewAccount {
        user: "f".into(),
        password: "{PLAIN}f".into(),
        ..NewAccount::default()
    })
    .unwrap();
    assert_eq!(t.render(), "f:{PLAIN}f\n");

    // In a CRLF file a new line ends in CRLF too.
    let mut t = PasswdText::parse("a:{PLAIN}a\r\nb:{PLAIN}b\r\n");
    t.add(&NewAccount {
        user: "c".into(),
        password: "{PLAIN}c".into(),
        ..NewAccount::default()
    })
    .unwrap();
    assert_eq!(t.render(), "a:{PLAIN}a\r\nb:{PLAIN}b\r\nc:{PLAIN}c\r\n");

    let mut t = PasswdText::parse(MIXED);
    t.remove("carol").unwrap();
    assert_eq!(
        t.render(),
        MIXED.replace(
            "carol:{PLAIN}c:::::: pop3=off x-provisioned-by=ldap   imap_login_type=secure\n",
            ""
        )
    );
    assert_eq!(
        t.remove("carol"),
        Err(EditError::NoSuchUser("carol".into()))
    );
}

#[test]
fn bulk_edit_counts_matches_and_changes() {
    let mut t = PasswdText::parse(MIXED);
    let (matched, changed) = t
        .edit_extra_where(|u| u != "dave", &[switch("pop3", false)])
        .unwrap();
    // carol already had pop3=off.
    assert_eq!((matched, changed), (3, 2));
    let out = t.render();
    let db = PasswdDb::parse(&out, "t").unwrap();
    for user in ["alice", "bob", "carol"] {
        assert!(!db.lookup(user).unwrap().pop3_enabled, "{user}");
    }
    assert!(db.lookup("dave").unwrap().pop3_enabled);
    assert!(out.ends_with("\ndave:{PLAIN}d"));
}

#[test]
fn bad_edits_are_refused_before_anything_changes() {
    let mut t = PasswdText::parse(MIXED);
    for edit in [
        set("a b", "1"),
        set("", "1"),
        set("k=v", "1"),
        set("k", "two words"),
        set("k", "line\nbreak"),
    ] {
        assert!(
            matches!(
                t.edit_extra_where(|_| true, std::slice::from_ref(&edit)),
                Err(EditError::BadField { .. })
            ),
            "{edit:?}"
        );
    }
    assert_eq!(t.render(), MIXED);
}
