//! STLS (RFC 2595): the switch to TLS, the policy after it, and that nothing a client pipelined
//! in plaintext after STLS is ever executed (STARTTLS command injection, CVE-2011-0411).

use super::*;

fn secure() -> Settings {
    Settings {
        login_type: LoginType::Secure,
        ..open_settings()
    }
}

#[test]
fn stls_then_login_under_the_tls_policy() {
    let mut c = Client::new(secure(), false);
    assert_eq!(c.send("STLS\r\n"), "+OK Begin TLS negotiation now.\r\n");
    assert_eq!(c.events, ["starttls"]);
    assert_eq!(c.session.state_name(), "AUTHORIZATION");
    let capa = c.send("CAPA\r\n");
    assert!(!capa.contains("STLS"), "{capa}");
    assert!(capa.contains("\r\nUSER\r\n"), "{capa}");
    assert!(capa.contains("\r\nSASL PLAIN LOGIN CRAM-MD5\r\n"), "{capa}");
    assert_eq!(c.send("STLS\r\n"), "-ERR TLS is already active.\r\n");
    assert_eq!(
        c.send("USER alice\r\nPASS secret\r\n"),
        "+OK\r\n+OK Logged in.\r\n"
    );
}

#[test]
fn pipelined_commands_after_stls_are_discarded() {
    let mut s = Session::new(Arc::new(secure()), false, TS.to_owned());
    s.pop_output();
    s.receive(b"CAPA\r\nSTLS\r\nUSER evil\r\nPASS evil\r\nQUIT\r\n");
    assert!(matches!(s.poll(), Some(Event::StartTls)));
    let Some(Output::Text(text)) = s.pop_output() else {
        panic!("expected text");
    };
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.ends_with("\r\n.\r\n+OK Begin TLS negotiation now.\r\n"),
        "{text}"
    );
    assert!(
        s.pop_output().is_none(),
        "the STLS reply is the last output"
    );
    // Nothing is processed or read until the handshake is done...
    assert!(s.poll().is_none());
    assert!(!s.wants_input());
    s.receive(b"USER evil2\r\n");
    assert!(s.poll().is_none());
    assert!(!s.has_output());
    // ...and what was pipelined in plaintext is gone afterwards.
    s.on_tls_established();
    assert!(s.wants_input());
    assert!(s.poll().is_none());
    assert!(!s.has_output());
    assert!(
        !s.is_finished(),
        "the injected QUIT was not executed either"
    );
    s.receive(b"USER alice\r\nPASS secret\r\n");
    assert!(matches!(s.poll(), Some(Event::Login(_))));
}

#[test]
fn injection_through_the_harness_never_reaches_login() {
    let mut c = Client::new(secure(), false);
    assert_eq!(
        c.send("STLS\r\nUSER evil\r\nPASS evil\r\n"),
        "+OK Begin TLS negotiation now.\r\n"
    );
    assert_eq!(c.events, ["starttls"]);
}

#[test]
fn stls_refusals() {
    let mut c = Client::new(
        Settings {
            stls_offered: false,
            ..open_settings()
        },
        false,
    );
    assert_eq!(c.send("STLS\r\n"), "-ERR STLS is not available.\r\n");
    let mut c = Client::new(open_settings(), true);
    assert_eq!(c.send("STLS\r\n"), "-ERR TLS is already active.\r\n");
    let mut c = Client::logged_in(open_settings());
    assert_eq!(c.send("STLS\r\n"), "-ERR Already logged in.\r\n");
    assert!(c.events.is_empty());
}

#[test]
fn stls_forgets_a_user_given_before_it() {
    let mut c = Client::new(open_settings(), false);
    c.send("USER alice\r\nSTLS\r\n");
    assert_eq!(c.send("PASS secret\r\n"), "-ERR No username given.\r\n");
}

#[test]
fn tls_events_out_of_turn_are_ignored() {
    let mut c = Client::new(open_settings(), false);
    c.session.on_tls_established();
    let capa = c.send("CAPA\r\n");
    assert!(capa.contains("STLS"), "no TLS without STLS: {capa}");
}
