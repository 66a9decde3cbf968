//! LOGIN, AUTHENTICATE, ENABLE and ID.

use super::*;
use crate::imap::Secret;

fn login(user: &[u8], password: &[u8]) -> CommandBody {
    CommandBody::Login {
        username: user.to_vec(),
        password: Secret(password.to_vec()),
    }
}

#[test]
fn login_takes_two_astrings() {
    assert_eq!(ok("a LOGIN alice secret"), login(b"alice", b"secret"));
    assert_eq!(
        ok(r#"a login "al ice" "p\"w\\d""#),
        login(b"al ice", br#"p"w\d"#)
    );
    assert_eq!(ok(r#"a LOGIN "" """#), login(b"", b""));
    assert_eq!(ok("a LOGIN x]y z"), login(b"x]y", b"z"));
    assert_eq!(
        events(b"a LOGIN {5}\r\nalice {6+}\r\nse cr\xc3\r\n")[1],
        Event::Command(Command {
            tag: "a".into(),
            body: login(b"alice", b"se cr\xc3")
        })
    );
    assert_eq!(bad("a LOGIN"), "a BAD Expected SP\r\n");
    assert_eq!(bad("a LOGIN alice"), "a BAD Expected SP\r\n");
    assert_eq!(bad("a LOGIN alice "), "a BAD Expected password\r\n");
    assert_eq!(bad("a LOGIN (alice) x"), "a BAD Expected user name\r\n");
    assert_eq!(
        bad("a LOGIN alice secret extra"),
        "a BAD Unexpected characters after LOGIN\r\n"
    );
    assert_eq!(
        bad(r#"a LOGIN "alice x"#),
        "a BAD Unterminated quoted string\r\n"
    );
    assert_eq!(
        bad(r#"a LOGIN "a\lice" x"#),
        "a BAD Invalid escape in quoted string\r\n"
    );
    // Passwords stay out of logs.
    assert!(!format!("{:?}", ok("a LOGIN alice secret")).contains("secret"));
}

#[test]
fn authenticate_with_and_without_initial_response() {
    let auth = |mechanism: &str, ir: Option<&str>| CommandBody::Authenticate {
        mechanism: mechanism.into(),
        initial_response: ir.map(|s| Secret(s.to_owned())),
    };
    assert_eq!(ok("a AUTHENTICATE plain"), auth("PLAIN", None));
    assert_eq!(ok("a AUTHENTICATE CRAM-MD5"), auth("CRAM-MD5", None));
    assert_eq!(
        ok("a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA=="),
        auth("PLAIN", Some("AGFsaWNlAHNlY3JldA=="))
    );
    assert_eq!(ok("a AUTHENTICATE PLAIN ="), auth("PLAIN", Some("=")));
    assert_eq!(ok("a AUTHENTICATE X dGVzdA+/"), auth("X", Some("dGVzdA+/")));
    assert_eq!(bad("a AUTHENTICATE"), "a BAD Expected SP\r\n");
    assert_eq!(bad("a AUTHENTICATE "), "a BAD Expected SASL mechanism\r\n");
    assert_eq!(
        bad("a AUTHENTICATE PLAIN "),
        "a BAD Invalid base64 data\r\n"
    );
    assert_eq!(
        bad("a AUTHENTICATE PLAIN abc"),
        "a BAD Invalid base64 data\r\n"
    );
    assert_eq!(
        bad("a AUTHENTICATE PLAIN ab=c"),
        "a BAD Invalid base64 data\r\n"
    );
    assert_eq!(
        bad("a AUTHENTICATE PLAIN a==="),
        "a BAD Invalid base64 data\r\n"
    );
    assert_eq!(
        bad("a AUTHENTICATE PLAIN =="),
        "a BAD Invalid base64 data\r\n"
    );
    assert_eq!(
        bad("a AUTHENTICATE PLAIN dGVz dA=="),
        "a BAD Unexpected characters after AUTHENTICATE\r\n"
    );
    assert_eq!(
        bad("a AUTHENTICATE PLAIN {4+}\r\ndGVz"),
        "a BAD Invalid base64 data\r\n"
    );
}

#[test]
fn enable() {
    assert_eq!(
        ok("a ENABLE CONDSTORE UTF8=ACCEPT"),
        CommandBody::Enable {
            capabilities: vec!["CONDSTORE".into(), "UTF8=ACCEPT".into()]
        }
    );
    assert_eq!(bad("a ENABLE"), "a BAD Expected SP\r\n");
    assert_eq!(bad("a ENABLE "), "a BAD Expected capability name\r\n");
    assert_eq!(bad("a ENABLE A  B"), "a BAD Expected capability name\r\n");
    assert_eq!(bad("a ENABLE (A)"), "a BAD Expected capability name\r\n");
}

#[test]
fn id() {
    assert_eq!(ok("a ID NIL"), CommandBody::Id { parameters: None });
    assert_eq!(ok("a ID nil"), CommandBody::Id { parameters: None });
    assert_eq!(
        ok("a ID ()"),
        CommandBody::Id {
            parameters: Some(vec![])
        }
    );
    assert_eq!(
        ok(r#"a ID ("name" "x")"#),
        CommandBody::Id {
            parameters: Some(vec![(b"name".to_vec(), Some(b"x".to_vec()))])
        }
    );
    assert_eq!(
        events(b"a ID (\"name\" \"Thunderbird\" \"version\" NIL {2}\r\nos {5}\r\nLinux)\r\n")
            .last()
            .unwrap(),
        &Event::Command(Command {
            tag: "a".into(),
            body: CommandBody::Id {
                parameters: Some(vec![
                    (b"name".to_vec(), Some(b"Thunderbird".to_vec())),
                    (b"version".to_vec(), None),
                    (b"os".to_vec(), Some(b"Linux".to_vec())),
                ])
            }
        })
    );
    assert_eq!(bad("a ID"), "a BAD Expected SP\r\n");
    assert_eq!(bad("a ID \"x\""), "a BAD Expected parameter list\r\n");
    assert_eq!(bad("a ID (name \"x\")"), "a BAD Expected field name\r\n");
    assert_eq!(bad("a ID (\"name\")"), "a BAD Expected SP\r\n");
    assert_eq!(bad("a ID (\"name\" x)"), "a BAD Expected field value\r\n");
    assert_eq!(bad("a ID (\"a\" \"b\""), "a BAD Expected SP\r\n");
    assert_eq!(bad("a ID (\"a\" \"b\" )"), "a BAD Expected field name\r\n");
}
