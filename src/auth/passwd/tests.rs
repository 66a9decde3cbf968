//! passwd-file parsing: the shapes Dovecot accepts, and errors that name the line.

use super::*;

fn parse(text: &str) -> PasswdDb {
    PasswdDb::parse(text, "users").unwrap_or_else(|e| panic!("{e}"))
}

fn error(text: &str) -> String {
    PasswdDb::parse(text, "users")
        .expect_err("should not load")
        .to_string()
}

#[test]
fn full_line() {
    let db = parse(
        "alice:{PLAIN}secret:1000:100:Alice Liddell:/home/alice:/bin/sh:nologin userdb_mail=maildir:~/Mail quota=1G\n",
    );
    let a = db.lookup("alice").unwrap();
    assert_eq!(a.user, "alice");
    assert_eq!((a.uid, a.gid), (Some(1000), Some(100)));
    assert_eq!(a.gecos, "Alice Liddell");
    assert_eq!(a.home.as_deref(), Some(Path::new("/home/alice")));
    assert_eq!(a.shell, "/bin/sh");
    assert_eq!(
        a.extra,
        vec![
            ("nologin".to_owned(), String::new()),
            ("userdb_mail".to_owned(), "maildir:~/Mail".to_owned()),
            ("quota".to_owned(), "1G".to_owned()),
        ]
    );
    assert!(a.nologin && a.pop3_enabled && a.imap_enabled);
    assert_eq!(a.plaintext_secret(), Some("secret"));
}

#[test]
fn missing_fields_comments_and_blank_lines() {
    let text = "# users\n\n   \nalice:{PLAIN}x\r\nbob:{PLAIN}y:::\n  # indented comment\ncarol:{PLAIN}z::::/home/carol\n";
    let db = parse(text);
    assert_eq!(db.len(), 3);
    assert!(!db.is_empty());
    let alice = db.lookup("alice").unwrap();
    assert_eq!(
        (alice.uid, alice.gid, alice.home.as_ref()),
        (None, None, None)
    );
    assert_eq!(
        alice.plaintext_secret(),
        Some("x"),
        "the \\r of a CRLF line is not part of the secret"
    );
    assert!(alice.extra.is_empty() && !alice.nologin);
    assert_eq!(
        db.lookup("carol").unwrap().home.as_deref(),
        Some(Path::new("/home/carol"))
    );
    assert!(parse("").is_empty());
}

#[test]
fn lookup_is_exact_and_allows_domains() {
    let db = parse("user@example.org:{PLAIN}a\nuser@example.net:{PLAIN}b\nuser:{PLAIN}c\n");
    assert_eq!(
        db.lookup("user@example.org").unwrap().plaintext_secret(),
        Some("a")
    );
    assert_eq!(
        db.lookup("user@example.net").unwrap().plaintext_secret(),
        Some("b")
    );
    assert_eq!(db.lookup("user").unwrap().plaintext_secret(), Some("c"));
    assert!(db.lookup("User@example.org").is_none());
    assert!(db.lookup("user@example.com").is_none());
}

#[test]
fn protocol_switches() {
    let db = parse(
        "a:{PLAIN}x:::::: pop3=off\nb:{PLAIN}x:::::: imap=no pop3=yes\nc:{PLAIN}x:::::: pop3=0 imap=FALSE\nd:{PLAIN}x:::::: imap=1 pop3=True\n",
    );
    let switches = |u: &str| {
        let a = db.lookup(u).unwrap();
        (a.pop3_enabled, a.imap_enabled)
    };
    assert_eq!(switches("a"), (false, true));
    assert_eq!(switches("b"), (true, false));
    assert_eq!(switches("c"), (false, false));
    assert_eq!(switches("d"), (true, true));
}

#[test]
fn mechanism_summaries() {
    let hashed = "h:{SHA256}f7RERuWhObO3oHciFhtpNCnGhD0FNBL7CyE3AkK4vbA=\n";
    let db = parse(hashed);
    assert!(!db.any_apop() && !db.any_cram_md5());
    let db = parse(&format!(
        "{hashed}c:{{CRAM-MD5}}458da499ccc3c888e803711566013a1929ebb210d3e8147b68469ce4a25d3819\n"
    ));
    assert!(!db.any_apop() && db.any_cram_md5());
    let db = parse(&format!("{hashed}p:{{CLEARTEXT}}pw\n"));
    assert!(db.any_apop() && db.any_cram_md5());
}

#[test]
fn malformed_lines_name_file_and_line() {
    let cases = [
        (
            "ok:{PLAIN}x\nbroken\n",
            "users:2: user broken: no password field",
        ),
        (
            "\n\nx:{NOPE}y\n",
            "users:3: user x: unknown password scheme {NOPE}",
        ),
        ("x:{PLAIN}y:abc\n", "users:1: uid \"abc\" is not a number"),
        ("x:{PLAIN}y:1:-5\n", "users:1: gid \"-5\" is not a number"),
        (":{PLAIN}y\n", "users:1: empty user name"),
        (
            "a:{PLAIN}1\n# c\na:{PLAIN}2\n",
            "users:3: user a already defined on line 1",
        ),
        (
            "x:{PLAIN}y:::::: pop3=maybe\n",
            "users:1: extra field pop3=maybe: expected on or off",
        ),
        (
            "x:{PLAIN}y:::::: =v\n",
            "users:1: extra field \"=v\" has no name",
        ),
        (
            "x:{PLAIN}y::::home/x\n",
            "users:1: home directory \"home/x\" is not an absolute path",
        ),
        (
            "x:hunter2\n",
            "users:1: user x: not a supported crypt(3) hash (a cleartext password needs a {PLAIN} prefix)",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(error(text), expected, "{text:?}");
    }
    for name in ["a b", "a/b", "..", "tab\tbed", " lead"] {
        let text = format!("{name}:{{PLAIN}}x\n");
        assert!(
            error(&text).starts_with("users:1: user name"),
            "{name:?}: {}",
            error(&text)
        );
    }
}

#[test]
fn a_damaged_hash_loads_but_is_marked() {
    let db = parse("ok:{PLAIN}x\nbad:{SHA512}%%%\n");
    assert_eq!(db.len(), 2);
    assert!(matches!(
        db.lookup("bad").unwrap().secret.parsed,
        Secret::Malformed { .. }
    ));
}

#[test]
fn load_reads_a_file_and_names_it_in_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let good = dir.join("good");
    std::fs::write(&good, "alice:{PLAIN}x\n").unwrap();
    assert_eq!(PasswdDb::load(&good).unwrap().len(), 1);

    let bad = dir.join("bad");
    std::fs::write(&bad, b"alice:{PLAIN}x\nbob:{PLAIN}\xff\n").unwrap();
    let err = PasswdDb::load(&bad).unwrap_err().to_string();
    assert_eq!(err, format!("{}:2: not valid UTF-8", bad.display()));

    let missing = dir.join("missing");
    let err = PasswdDb::load(&missing).unwrap_err();
    assert!(matches!(err, PasswdError::Io { .. }));
    assert!(err.to_string().contains(&missing.display().to_string()));
}
