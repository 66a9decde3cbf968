//! AUTH (RFC 5034): the mechanism list, each mechanism's exchange, cancelling, malformed
//! responses and the login policy per mechanism.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::*;

fn b64(s: &str) -> String {
    B64.encode(s)
}

fn settings(login_type: LoginType) -> Settings {
    Settings {
        login_type,
        ..open_settings()
    }
}

#[test]
fn bare_auth_lists_the_mechanisms_allowed_now() {
    let cases = [
        (
            LoginType::Plaintext,
            false,
            "PLAIN\r\nLOGIN\r\nCRAM-MD5\r\n",
        ),
        (LoginType::PlaintextLogin, false, "CRAM-MD5\r\n"),
        (
            LoginType::PlaintextLogin,
            true,
            "PLAIN\r\nLOGIN\r\nCRAM-MD5\r\n",
        ),
        (LoginType::Secure, false, ""),
        (LoginType::Secure, true, "PLAIN\r\nLOGIN\r\nCRAM-MD5\r\n"),
    ];
    for (login_type, tls, list) in cases {
        let mut c = Client::new(settings(login_type), tls);
        assert_eq!(
            c.send("AUTH\r\n"),
            format!("+OK\r\n{list}.\r\n"),
            "{login_type:?} tls={tls}"
        );
    }
}

#[test]
fn plain_with_initial_response() {
    let mut c = Client::new(open_settings(), false);
    let reply = c.send(&format!("AUTH PLAIN {}\r\n", b64("\0alice\0secret")));
    assert_eq!(reply, "+OK Logged in.\r\n");
    assert_eq!(c.events, ["login password None alice/secret"]);
    assert_eq!(c.session.user(), Some("alice"));
}

#[test]
fn plain_with_authorization_identity() {
    let mut c = Client::new(open_settings(), false);
    c.send(&format!("auth plain {}\r\n", b64("admin\0alice\0secret")));
    assert_eq!(c.events, ["login password Some(\"admin\") alice/secret"]);
}

#[test]
fn plain_without_initial_response_gets_an_empty_challenge() {
    let mut c = Client::new(open_settings(), false);
    assert_eq!(c.send("AUTH PLAIN\r\n"), "+ \r\n");
    assert_eq!(c.session.state_name(), "AUTHORIZATION");
    assert!(c.session.wants_input());
    assert_eq!(
        c.send(&format!("{}\r\n", b64("\0alice\0secret"))),
        "+OK Logged in.\r\n"
    );
}

#[test]
fn plain_with_empty_initial_response_is_not_a_login() {
    let mut c = Client::new(open_settings(), false);
    let reply = c.send("AUTH PLAIN =\r\n");
    assert!(reply.starts_with("-ERR "), "{reply}");
    assert!(c.events.is_empty());
}

#[test]
fn login_is_two_steps() {
    let mut c = Client::new(open_settings(), false);
    let first = c.send("AUTH LOGIN\r\n");
    assert!(
        first.starts_with("+ ") && first.ends_with("\r\n"),
        "{first}"
    );
    let second = c.send(&format!("{}\r\n", b64("alice")));
    assert!(second.starts_with("+ "), "{second}");
    assert!(c.events.is_empty());
    assert_eq!(
        c.send(&format!("{}\r\n", b64("secret"))),
        "+OK Logged in.\r\n"
    );
    assert_eq!(c.events, ["login password None alice/secret"]);
}

#[test]
fn cram_md5_challenges_with_the_timestamp() {
    let mut c = Client::new(settings(LoginType::PlaintextLogin), false);
    c.login = Box::new(|_| LoginReply::Ok(listing()));
    assert_eq!(c.send("AUTH CRAM-MD5\r\n"), format!("+ {}\r\n", b64(TS)));
    let digest = "b913a602c7eda7a495b4e6e7334d3890";
    assert_eq!(
        c.send(&format!("{}\r\n", b64(&format!("tim {digest}")))),
        "+OK Logged in.\r\n"
    );
    assert_eq!(c.events, [format!("login cram-md5 tim {TS} {digest}")]);
}

#[test]
fn cancel_returns_to_authorization() {
    let mut c = Client::new(open_settings(), false);
    c.send("AUTH LOGIN\r\n");
    assert_eq!(c.send("*\r\n"), "-ERR Authentication cancelled.\r\n");
    assert_eq!(c.session.state_name(), "AUTHORIZATION");
    assert!(c.events.is_empty());
    // Lines are commands again.
    assert_eq!(
        c.send("USER alice\r\nPASS secret\r\n"),
        "+OK\r\n+OK Logged in.\r\n"
    );
}

#[test]
fn malformed_responses_end_the_exchange() {
    let mut c = Client::new(open_settings(), false);
    c.send("AUTH PLAIN\r\n");
    let reply = c.send("!!!not base64!!!\r\n");
    assert!(
        reply.starts_with("-ERR Malformed authentication response: "),
        "{reply}"
    );
    assert_eq!(
        c.send("NOOP\r\n"),
        "-ERR NOOP is not allowed before login.\r\n"
    );

    let reply = c.send("AUTH PLAIN !!!\r\n");
    assert!(
        reply.starts_with("-ERR Malformed authentication response: "),
        "{reply}"
    );

    c.send("AUTH PLAIN\r\n");
    let reply = c.send_bytes(b"\xff\xfe\r\n");
    assert_eq!(
        reply,
        "-ERR Malformed authentication response: not base64\r\n"
    );
    c.send("AUTH PLAIN\r\n");
    let reply = c.send_bytes(b"AAAA\0\r\n");
    assert_eq!(
        reply,
        "-ERR Malformed authentication response: not base64\r\n"
    );
    assert!(c.events.is_empty());
}

#[test]
fn failed_sasl_login() {
    let mut c = Client::new(open_settings(), false);
    let reply = c.send(&format!("AUTH PLAIN {}\r\n", b64("\0alice\0wrong")));
    assert_eq!(reply, "-ERR [AUTH] Authentication failed.\r\n");
    assert_eq!(c.session.state_name(), "AUTHORIZATION");
}

#[test]
fn mechanism_not_allowed_by_policy() {
    let mut c = Client::new(settings(LoginType::PlaintextLogin), false);
    let refusal =
        "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n";
    assert_eq!(c.send("AUTH PLAIN\r\n"), refusal);
    assert_eq!(c.send(&format!("AUTH LOGIN {}\r\n", b64("alice"))), refusal);
    assert!(c.send("AUTH CRAM-MD5\r\n").starts_with("+ "));
    assert!(c.events.is_empty());
}

#[test]
fn unknown_or_unconfigured_mechanism() {
    let mut c = Client::new(
        Settings {
            sasl: vec![Mechanism::Plain],
            ..open_settings()
        },
        false,
    );
    let unsupported = "-ERR Unsupported authentication mechanism.\r\n";
    assert_eq!(c.send("AUTH GSSAPI\r\n"), unsupported);
    assert_eq!(c.send("AUTH SCRAM-SHA-256 abcd\r\n"), unsupported);
    assert_eq!(c.send("AUTH CRAM-MD5\r\n"), unsupported);
    assert_eq!(c.send("AUTH LOGIN\r\n"), unsupported);
    assert_eq!(
        c.send("AUTH PLAIN a b\r\n"),
        "-ERR Too many arguments for AUTH.\r\n"
    );
    assert_eq!(c.send("AUTH PLAIN\r\n"), "+ \r\n");
}

#[test]
fn over_long_response_aborts_the_exchange() {
    let mut c = Client::new(open_settings(), false);
    c.send("AUTH PLAIN\r\n");
    let long = format!("{}\r\n", "A".repeat(5000));
    assert_eq!(c.send(&long), "-ERR Line too long.\r\n");
    assert_eq!(
        c.send("USER alice\r\n"),
        "+OK\r\n",
        "lines are commands again"
    );
}

#[test]
fn pipelined_exchange() {
    let mut c = Client::new(open_settings(), false);
    let reply = c.send(&format!(
        "AUTH LOGIN\r\n{}\r\n{}\r\nSTAT\r\n",
        b64("alice"),
        b64("secret")
    ));
    assert!(reply.contains("+OK Logged in.\r\n+OK 3 "), "{reply}");
}
