//! The AUTHORIZATION state: greeting, CAPA, USER/PASS, APOP, the login policy and every
//! TRANSACTION command tried too early.

use super::*;

fn settings(login_type: LoginType) -> Settings {
    Settings {
        login_type,
        ..open_settings()
    }
}

#[test]
fn greeting_shows_the_apop_timestamp_only_when_apop_can_succeed() {
    let with_ts = format!("+OK Postern ready. {TS}\r\n");
    let without = "+OK Postern ready.\r\n";
    let cases = [
        (LoginType::Plaintext, false, true),
        (LoginType::Plaintext, true, true),
        (LoginType::PlaintextLogin, false, true),
        (LoginType::PlaintextLogin, true, true),
        (LoginType::Secure, false, false),
        (LoginType::Secure, true, true),
    ];
    for (login_type, tls, shown) in cases {
        let mut c = Client::new(settings(login_type), tls);
        let expected = if shown { with_ts.as_str() } else { without };
        assert_eq!(c.unread(), expected, "{login_type:?} tls={tls}");
        let mut no_apop = Client::new(
            Settings {
                apop: false,
                ..settings(login_type)
            },
            tls,
        );
        assert_eq!(
            no_apop.unread(),
            without,
            "{login_type:?} tls={tls} apop off"
        );
    }
    let mut c = Client::with_timestamp(open_settings(), false, "");
    assert_eq!(c.unread(), without, "an empty timestamp cannot be offered");
}

fn capa(c: &mut Client) -> Vec<String> {
    let reply = c.send("CAPA\r\n");
    assert!(
        reply.starts_with("+OK Capability list follows\r\n"),
        "{reply}"
    );
    assert!(reply.ends_with("\r\n.\r\n"), "{reply}");
    reply
        .lines()
        .skip(1)
        .take_while(|l| *l != ".")
        .map(str::to_owned)
        .collect()
}

#[test]
fn capa_exact_list_for_plaintext_without_tls() {
    let mut c = Client::new(
        Settings {
            expire: Some("NEVER".into()),
            login_delay: Some(300),
            ..open_settings()
        },
        false,
    );
    assert_eq!(
        capa(&mut c),
        [
            "CAPA",
            "TOP",
            "UIDL",
            "RESP-CODES",
            "AUTH-RESP-CODE",
            "PIPELINING",
            "USER",
            "SASL PLAIN LOGIN CRAM-MD5",
            "STLS",
            "EXPIRE NEVER",
            "LOGIN-DELAY 300",
            "IMPLEMENTATION Postern",
        ]
    );
}

#[test]
fn capa_per_login_type_and_tls() {
    // (login type, tls, USER, SASL line, STLS)
    let cases = [
        (
            LoginType::Plaintext,
            false,
            true,
            Some("SASL PLAIN LOGIN CRAM-MD5"),
            true,
        ),
        (
            LoginType::Plaintext,
            true,
            true,
            Some("SASL PLAIN LOGIN CRAM-MD5"),
            false,
        ),
        (
            LoginType::PlaintextLogin,
            false,
            false,
            Some("SASL CRAM-MD5"),
            true,
        ),
        (
            LoginType::PlaintextLogin,
            true,
            true,
            Some("SASL PLAIN LOGIN CRAM-MD5"),
            false,
        ),
        (LoginType::Secure, false, false, None, true),
        (
            LoginType::Secure,
            true,
            true,
            Some("SASL PLAIN LOGIN CRAM-MD5"),
            false,
        ),
    ];
    for (login_type, tls, user, sasl, stls) in cases {
        let lines = capa(&mut Client::new(settings(login_type), tls));
        let has = |l: &str| lines.iter().any(|x| x == l);
        let what = format!("{login_type:?} tls={tls}: {lines:?}");
        assert_eq!(has("USER"), user, "{what}");
        assert_eq!(has("STLS"), stls, "{what}");
        let sasl_lines: Vec<_> = lines.iter().filter(|l| l.starts_with("SASL")).collect();
        match sasl {
            Some(s) => assert_eq!(sasl_lines, [s], "{what}"),
            None => assert!(sasl_lines.is_empty(), "{what}"),
        }
        for always in ["CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING"] {
            assert!(has(always), "{what}");
        }
    }
}

#[test]
fn capa_leaves_out_what_is_not_configured() {
    let mut c = Client::new(
        Settings {
            stls_offered: false,
            implementation: None,
            sasl: vec![Mechanism::Plain],
            ..open_settings()
        },
        false,
    );
    let lines = capa(&mut c);
    assert!(lines.contains(&"SASL PLAIN".to_owned()));
    for absent in ["STLS", "IMPLEMENTATION", "EXPIRE", "LOGIN-DELAY"] {
        assert!(!lines.iter().any(|l| l.starts_with(absent)), "{lines:?}");
    }
}

#[test]
fn user_pass_success() {
    let mut c = Client::new(open_settings(), false);
    assert_eq!(c.send("USER alice\r\n"), "+OK\r\n");
    assert!(
        c.events.is_empty(),
        "USER alone reaches no account database"
    );
    assert_eq!(c.send("PASS secret\r\n"), "+OK Logged in.\r\n");
    assert_eq!(c.events, ["login password None alice/secret"]);
    assert_eq!(c.session.state_name(), "TRANSACTION");
    assert_eq!(c.session.user(), Some("alice"));
}

#[test]
fn pass_keeps_spaces_and_user_names_case() {
    let mut c = Client::new(open_settings(), false);
    c.send("user Alice.Smith\r\npass  pass phrase \r\n");
    assert_eq!(c.events, ["login password None Alice.Smith/ pass phrase "]);
}

#[test]
fn user_pass_failure_needs_user_again() {
    let mut c = Client::new(open_settings(), false);
    assert_eq!(
        c.send("USER alice\r\nPASS wrong\r\n"),
        "+OK\r\n-ERR [AUTH] Authentication failed.\r\n"
    );
    assert_eq!(c.session.state_name(), "AUTHORIZATION");
    assert_eq!(c.send("PASS secret\r\n"), "-ERR No username given.\r\n");
    assert_eq!(
        c.send("USER alice\r\nPASS secret\r\n"),
        "+OK\r\n+OK Logged in.\r\n"
    );
}

#[test]
fn login_replies_have_their_texts_and_codes() {
    let cases: [(LoginReply, &str); 9] = [
        (LoginReply::Failed, "-ERR [AUTH] Authentication failed.\r\n"),
        (
            LoginReply::Disabled,
            "-ERR [AUTH] POP3 access is disabled for this account.\r\n",
        ),
        (
            LoginReply::InUse,
            "-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n",
        ),
        (
            LoginReply::LoginDelay(900),
            "-ERR [LOGIN-DELAY] Logging in too often: wait 900 seconds between logins.\r\n",
        ),
        (
            LoginReply::TempFail("Account database unavailable\r\n+OK fake".into()),
            "-ERR [SYS/TEMP] Account database unavailable??+OK fake\r\n",
        ),
        (
            LoginReply::TempFail(String::new()),
            "-ERR [SYS/TEMP] Temporary server failure, try again later.\r\n",
        ),
        (
            LoginReply::TooManySessions,
            "-ERR [IN-USE] Too many POP3 sessions of this account are open already.\r\n",
        ),
        (
            LoginReply::Refused("[IN-USE] Locked\rby another".into()),
            "-ERR [IN-USE] Locked?by another\r\n",
        ),
        (
            LoginReply::Rejected {
                text: "Invalid login".into(),
                close: false,
            },
            "-ERR [AUTH] Invalid login\r\n",
        ),
    ];
    for (reply, text) in cases {
        let mut c = Client::new(open_settings(), false);
        let mut reply = Some(reply);
        c.login = Box::new(move |_| reply.take().expect("one login"));
        assert_eq!(
            c.send("USER alice\r\nPASS secret\r\n"),
            format!("+OK\r\n{text}")
        );
        assert_eq!(c.session.state_name(), "AUTHORIZATION");
        assert!(c.session.user().is_none());
    }
}

#[test]
fn cleartext_refused_without_tls_under_plaintext_login() {
    let mut c = Client::new(settings(LoginType::PlaintextLogin), false);
    let refusal =
        "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n";
    assert_eq!(c.send("USER alice\r\n"), refusal);
    assert_eq!(c.send("PASS secret\r\n"), refusal);
    assert!(c.events.is_empty());
    // The same client after TLS may use it.
    let mut c = Client::new(settings(LoginType::PlaintextLogin), true);
    assert_eq!(
        c.send("USER alice\r\nPASS secret\r\n"),
        "+OK\r\n+OK Logged in.\r\n"
    );
}

#[test]
fn secure_without_tls_says_tls_is_required() {
    let mut c = Client::new(settings(LoginType::Secure), false);
    let with_stls = "-ERR [AUTH] Authentication requires TLS: use STLS or port 995.\r\n";
    assert_eq!(c.send("USER alice\r\n"), with_stls);
    assert_eq!(c.send("PASS secret\r\n"), with_stls);
    assert_eq!(
        c.send(&format!("APOP alice {}\r\n", "0".repeat(32))),
        with_stls
    );
    assert_eq!(c.send("AUTH PLAIN\r\n"), with_stls);
    assert_eq!(c.send("AUTH CRAM-MD5\r\n"), with_stls);
    assert!(c.events.is_empty());

    let mut c = Client::new(
        Settings {
            stls_offered: false,
            ..settings(LoginType::Secure)
        },
        false,
    );
    assert_eq!(
        c.send("USER alice\r\n"),
        "-ERR [AUTH] Authentication requires TLS: use port 995.\r\n"
    );
}

#[test]
fn apop_passes_the_timestamp_and_a_lowercase_digest() {
    let mut c = Client::new(settings(LoginType::PlaintextLogin), false);
    c.login = Box::new(|_| LoginReply::Ok(listing()));
    assert_eq!(
        c.send("APOP mrose C4C9334BAC560ECC979E58001B3E22FB\r\n"),
        "+OK Logged in.\r\n"
    );
    assert_eq!(
        c.events,
        [format!(
            "login apop mrose {TS} c4c9334bac560ecc979e58001b3e22fb"
        )]
    );
}

#[test]
fn apop_failure_and_syntax() {
    let mut c = Client::new(open_settings(), false);
    assert_eq!(
        c.send("APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"),
        "-ERR [AUTH] Authentication failed.\r\n"
    );
    assert_eq!(
        c.send("APOP mrose\r\n"),
        "-ERR Missing user name or digest.\r\n"
    );
    assert_eq!(
        c.send("APOP mrose nothex\r\n"),
        "-ERR Invalid APOP digest: nothex\r\n"
    );
    assert_eq!(c.events.len(), 1);
}

#[test]
fn apop_unavailable_without_a_timestamp_in_the_greeting() {
    let digest = "c4c9334bac560ecc979e58001b3e22fb";
    let mut c = Client::new(
        Settings {
            apop: false,
            ..open_settings()
        },
        false,
    );
    assert_eq!(
        c.send(&format!("APOP mrose {digest}\r\n")),
        "-ERR APOP is not available.\r\n"
    );
    // Secure: the plaintext greeting had no timestamp, so APOP stays off after STLS too.
    let mut c = Client::new(settings(LoginType::Secure), false);
    c.send("STLS\r\n");
    assert_eq!(
        c.send(&format!("APOP mrose {digest}\r\n")),
        "-ERR APOP is not available.\r\n"
    );
    assert_eq!(c.events, ["starttls"]);
}

#[test]
fn transaction_commands_before_login() {
    let mut c = Client::new(open_settings(), false);
    for (command, name) in [
        ("STAT", "STAT"),
        ("LIST", "LIST"),
        ("LIST 1", "LIST"),
        ("RETR 1", "RETR"),
        ("DELE 1", "DELE"),
        ("NOOP", "NOOP"),
        ("RSET", "RSET"),
        ("TOP 1 1", "TOP"),
        ("UIDL", "UIDL"),
        ("uidl 1", "UIDL"),
    ] {
        assert_eq!(
            c.send(&format!("{command}\r\n")),
            format!("-ERR {name} is not allowed before login.\r\n")
        );
    }
    assert!(c.events.is_empty());
    assert_eq!(c.session.state_name(), "AUTHORIZATION");
}

#[test]
fn quit_in_authorization() {
    let mut c = Client::new(open_settings(), false);
    assert_eq!(
        c.send("USER alice\r\nQUIT\r\nPASS secret\r\n"),
        "+OK\r\n+OK Logging out.\r\n"
    );
    assert!(c.session.is_finished());
    assert_eq!(c.session.state_name(), "CLOSED");
    assert!(!c.session.wants_input());
    assert!(c.events.is_empty(), "nothing after QUIT is executed");
    assert_eq!(
        c.send("USER alice\r\n"),
        "",
        "input after the end is ignored"
    );
}

#[test]
fn bad_input_in_authorization() {
    let mut c = Client::new(open_settings(), false);
    assert_eq!(c.send("XYZZY\r\n"), "-ERR Unknown command: XYZZY\r\n");
    assert_eq!(c.send("\r\n"), "-ERR Empty command.\r\n");
    assert_eq!(c.send("   \n"), "-ERR Empty command.\r\n");
    assert_eq!(
        c.send_bytes(b"US\0ER x\r\n"),
        "-ERR Command contains a NUL byte.\r\n"
    );
    assert_eq!(
        c.send_bytes(b"USER \xff\xfe\r\n"),
        "-ERR Command is not valid UTF-8.\r\n"
    );
    assert_eq!(
        c.send_bytes(b"\x16\x03\x01\x02\x00\x01\r\n"),
        "-ERR Command contains a NUL byte.\r\n"
    );
    assert_eq!(c.send("USER\r\n"), "-ERR Missing user name.\r\n");
    assert_eq!(c.send("PASS\r\n"), "-ERR Missing password.\r\n");
    assert_eq!(
        c.send("QUIT now\r\n"),
        "-ERR Too many arguments for QUIT.\r\n"
    );
    // Still usable, with a bare LF as line end.
    assert_eq!(
        c.send("USER alice\nPASS secret\n"),
        "+OK\r\n+OK Logged in.\r\n"
    );
}

#[test]
fn a_later_user_replaces_an_earlier_one() {
    let mut c = Client::new(open_settings(), false);
    c.send("USER bob\r\nUSER alice\r\nPASS secret\r\n");
    assert_eq!(c.events, ["login password None alice/secret"]);
}
