//! Full SASL exchanges as a POP3 or IMAP client would drive them.

use super::*;

const CHALLENGE: &str = "<1896.697170952@postern.example>";

fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

fn password(step: SaslStep) -> (Option<String>, String, String) {
    match step {
        SaslStep::Done(Credentials::Password {
            authzid,
            user,
            password,
        }) => (authzid, user, password),
        other => panic!("expected password credentials, got {other:?}"),
    }
}

fn challenge(step: SaslStep) -> String {
    match step {
        SaslStep::Challenge(c) => c,
        other => panic!("expected a challenge, got {other:?}"),
    }
}

fn malformed(step: SaslStep) -> &'static str {
    match step {
        SaslStep::Malformed(message) => message,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn mechanism_names() {
    assert_eq!(Mechanism::parse("plain"), Some(Mechanism::Plain));
    assert_eq!(Mechanism::parse("LoGiN"), Some(Mechanism::Login));
    assert_eq!(Mechanism::parse("cram-md5"), Some(Mechanism::CramMd5));
    assert_eq!(Mechanism::parse("DIGEST-MD5"), None);
    assert_eq!(Mechanism::parse(""), None);
    for mech in [Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5] {
        assert_eq!(Mechanism::parse(mech.name()), Some(mech));
    }
    assert!(Mechanism::Plain.sends_cleartext() && Mechanism::Login.sends_cleartext());
    assert!(!Mechanism::CramMd5.sends_cleartext());
}

#[test]
fn plain_with_initial_response() {
    let mut sasl = SaslExchange::new(Mechanism::Plain, CHALLENGE);
    let step = sasl.start(Some(&b64(b"\0alice\0s3cr\xc3\xa9t")));
    assert_eq!(
        password(step),
        (None, "alice".into(), "s3cré".to_owned() + "t")
    );
    assert_eq!(
        malformed(sasl.step("AAAA")),
        NOT_IN_PROGRESS,
        "the exchange is over"
    );
}

#[test]
fn plain_after_empty_challenge() {
    let mut sasl = SaslExchange::new(Mechanism::Plain, CHALLENGE);
    assert_eq!(challenge(sasl.start(None)), "");
    let step = sasl.step(&b64(b"alice@example.org\0alice@example.org\0pw"));
    assert_eq!(
        password(step),
        (
            Some("alice@example.org".into()),
            "alice@example.org".into(),
            "pw".into()
        )
    );
}

#[test]
fn plain_unpadded_base64_is_accepted() {
    let mut sasl = SaslExchange::new(Mechanism::Plain, CHALLENGE);
    let encoded = b64(b"\0bob\0pw1");
    let unpadded = encoded.trim_end_matches('=');
    assert_ne!(encoded, unpadded);
    assert_eq!(password(sasl.start(Some(unpadded))).1, "bob");
}

#[test]
fn plain_malformed_inputs() {
    let cases: [(&[u8], &str); 6] = [
        (
            b"alice\0pw",
            "expected authorization id, user name and password separated by NUL",
        ),
        (
            b"\0alice\0pw\0extra",
            "expected authorization id, user name and password separated by NUL",
        ),
        (b"\0\0pw", "empty user name"),
        (b"\0alice\0", "empty password"),
        (b"\0al\xffice\0pw", "credentials are not valid UTF-8"),
        (
            b"",
            "expected authorization id, user name and password separated by NUL",
        ),
    ];
    for (data, message) in cases {
        let mut sasl = SaslExchange::new(Mechanism::Plain, CHALLENGE);
        assert_eq!(malformed(sasl.start(Some(&b64(data)))), message, "{data:?}");
    }
    // "=" is an empty initial response, which PLAIN cannot use.
    let mut sasl = SaslExchange::new(Mechanism::Plain, CHALLENGE);
    assert!(malformed(sasl.start(Some("="))).starts_with("expected"));
    let mut sasl = SaslExchange::new(Mechanism::Plain, CHALLENGE);
    assert_eq!(
        malformed(sasl.start(Some("not base64!"))),
        "invalid base64 data"
    );
}

#[test]
fn login_full_exchange() {
    let mut sasl = SaslExchange::new(Mechanism::Login, CHALLENGE);
    assert_eq!(challenge(sasl.start(None)), "VXNlcm5hbWU6");
    assert_eq!(challenge(sasl.step(&b64(b"carol"))), "UGFzc3dvcmQ6");
    assert_eq!(
        password(sasl.step(&b64(b"pass word"))),
        (None, "carol".into(), "pass word".into())
    );
}

#[test]
fn login_with_initial_user_name() {
    let mut sasl = SaslExchange::new(Mechanism::Login, CHALLENGE);
    assert_eq!(challenge(sasl.start(Some(&b64(b"carol")))), "UGFzc3dvcmQ6");
    // An empty line is an empty password; it reaches the authenticator, which refuses it.
    assert_eq!(
        password(sasl.step("")),
        (None, "carol".into(), String::new())
    );
}

#[test]
fn login_malformed_inputs() {
    let mut sasl = SaslExchange::new(Mechanism::Login, CHALLENGE);
    assert_eq!(malformed(sasl.start(Some("="))), "empty user name");
    let mut sasl = SaslExchange::new(Mechanism::Login, CHALLENGE);
    challenge(sasl.start(None));
    assert_eq!(
        malformed(sasl.step(&b64(b"a\0b"))),
        "user name is not valid UTF-8 or contains NUL"
    );
    let mut sasl = SaslExchange::new(Mechanism::Login, CHALLENGE);
    challenge(sasl.start(None));
    challenge(sasl.step(&b64(b"carol")));
    assert_eq!(malformed(sasl.step("%%%")), "invalid base64 data");
    assert_eq!(malformed(sasl.step(&b64(b"x"))), NOT_IN_PROGRESS);
}

#[test]
fn cram_md5_full_exchange() {
    let mut sasl = SaslExchange::new(Mechanism::CramMd5, CHALLENGE);
    let sent = challenge(sasl.start(None));
    assert_eq!(STANDARD.decode(sent).unwrap(), CHALLENGE.as_bytes());
    // RFC 2195's example response, for a user whose name contains a space.
    let step = sasl.step(&b64(b"tim smith B913A602C7EDA7A495B4E6E7334D3890"));
    match step {
        SaslStep::Done(Credentials::CramMd5 {
            user,
            challenge,
            digest,
        }) => {
            assert_eq!(user, "tim smith");
            assert_eq!(challenge, CHALLENGE);
            assert_eq!(digest, "b913a602c7eda7a495b4e6e7334d3890");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn cram_md5_malformed_inputs() {
    let mut sasl = SaslExchange::new(Mechanism::CramMd5, CHALLENGE);
    assert_eq!(
        malformed(sasl.start(Some(&b64(b"tim 0123")))),
        "CRAM-MD5 does not take an initial response"
    );
    assert_eq!(
        malformed(sasl.step(&b64(b"tim b913a602c7eda7a495b4e6e7334d3890"))),
        NOT_IN_PROGRESS
    );

    let cases: [(&[u8], &str); 4] = [
        (
            b"timb913a602c7eda7a495b4e6e7334d3890",
            "expected a user name, a space and a digest",
        ),
        (b" b913a602c7eda7a495b4e6e7334d3890", "empty user name"),
        (
            b"tim b913a602c7eda7a495b4e6e7334d389",
            "digest must be 32 hex digits",
        ),
        (
            b"tim b913a602c7eda7a495b4e6e7334d389g",
            "digest must be 32 hex digits",
        ),
    ];
    for (data, message) in cases {
        let mut sasl = SaslExchange::new(Mechanism::CramMd5, CHALLENGE);
        challenge(sasl.start(None));
        assert_eq!(malformed(sasl.step(&b64(data))), message, "{data:?}");
    }
}

#[test]
fn star_cancels_at_any_step() {
    for mech in [Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5] {
        let mut sasl = SaslExchange::new(mech, CHALLENGE);
        challenge(sasl.start(None));
        assert!(matches!(sasl.step("*"), SaslStep::Cancelled), "{mech:?}");
        assert_eq!(malformed(sasl.step(&b64(b"\0a\0b"))), NOT_IN_PROGRESS);
    }
    let mut sasl = SaslExchange::new(Mechanism::Login, CHALLENGE);
    challenge(sasl.start(None));
    challenge(sasl.step(&b64(b"carol")));
    assert!(matches!(sasl.step("*"), SaslStep::Cancelled));
}

#[test]
fn start_twice_or_step_first_is_refused() {
    let mut sasl = SaslExchange::new(Mechanism::Plain, CHALLENGE);
    assert_eq!(malformed(sasl.step(&b64(b"\0a\0b"))), NOT_IN_PROGRESS);
    let mut sasl = SaslExchange::new(Mechanism::Plain, CHALLENGE);
    challenge(sasl.start(None));
    assert_eq!(
        malformed(sasl.start(None)),
        "authentication exchange already started"
    );
}
