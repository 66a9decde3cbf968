//! Hostile and broken clients: over-long lines, runs of bad commands, binary garbage, and the
//! runtime closing a session.

use super::*;
use crate::pop3::CloseReason;

#[test]
fn over_long_line_is_refused_and_the_session_goes_on() {
    let mut c = Client::new(open_settings(), false);
    let reply = c.send(&format!("USER {}\r\nNOOP\r\n", "a".repeat(2000)));
    assert_eq!(
        reply,
        "-ERR Line too long.\r\n-ERR NOOP is not allowed before login.\r\n"
    );
    // The limit counts the CRLF: 1022 characters + CRLF fit the default 1024.
    let name = "b".repeat(1022 - "USER ".len());
    assert_eq!(c.send(&format!("USER {name}\r\n")), "+OK\r\n");
    assert_eq!(
        c.send(&format!("USER {name}x\r\n")),
        "-ERR Line too long.\r\n"
    );
}

#[test]
fn over_long_line_arriving_in_pieces() {
    let mut c = Client::logged_in(Settings {
        max_line: 64,
        ..open_settings()
    });
    assert_eq!(c.send(&"X".repeat(63)), "");
    assert_eq!(
        c.send("XX"),
        "-ERR Line too long.\r\n",
        "reported as soon as known"
    );
    for _ in 0..100 {
        assert_eq!(c.send(&"X".repeat(1000)), "");
    }
    assert_eq!(c.send("XXX\r\nNOOP\r\n"), "+OK\r\n");
}

#[test]
fn too_many_bad_commands_in_a_row() {
    let mut c = Client::new(open_settings(), false);
    for _ in 0..19 {
        assert_eq!(c.send("BAD\r\n"), "-ERR Unknown command: BAD\r\n");
    }
    assert_eq!(
        c.send("BAD\r\nUSER alice\r\n"),
        "-ERR Unknown command: BAD\r\n-ERR Too many bad commands.\r\n"
    );
    assert!(c.session.is_finished());
}

#[test]
fn after_login_a_good_command_resets_the_count() {
    let mut c = Client::logged_in(Settings {
        max_bad_commands: 3,
        ..open_settings()
    });
    for _ in 0..10 {
        c.send("BAD\r\nRETR 0\r\nNOOP\r\n");
    }
    assert!(!c.session.is_finished());
    assert_eq!(
        c.send("\r\n\0\r\nX\r\nNOOP\r\n"),
        "-ERR Empty command.\r\n-ERR Command contains a NUL byte.\r\n\
         -ERR Unknown command: X\r\n-ERR Too many bad commands.\r\n"
    );
    assert!(c.session.is_finished());
}

#[test]
fn before_login_only_a_login_resets_the_count() {
    let mut c = Client::new(
        Settings {
            max_bad_commands: 3,
            ..open_settings()
        },
        false,
    );
    c.send("BAD\r\nCAPA\r\nAUTH\r\nUSER alice\r\nSTAT\r\n");
    assert!(!c.session.is_finished());
    assert!(
        c.send("PASS secret\r\nBAD\r\nBAD\r\n")
            .starts_with("+OK Logged in.")
    );
    assert!(!c.session.is_finished());
    let mut c = Client::new(
        Settings {
            max_bad_commands: 3,
            ..open_settings()
        },
        false,
    );
    c.send("BAD\r\nCAPA\r\nBAD\r\nUSER alice\r\n");
    assert_eq!(
        c.send("NOOP\r\n"),
        "-ERR NOOP is not allowed before login.\r\n-ERR Too many bad commands.\r\n"
    );
}

#[test]
fn failed_logins_count_as_bad_commands() {
    let mut c = Client::new(
        Settings {
            max_bad_commands: 5,
            ..open_settings()
        },
        false,
    );
    for _ in 0..4 {
        c.send("USER alice\r\nPASS guess\r\n");
    }
    assert!(!c.session.is_finished());
    let last = c.send("USER alice\r\nPASS guess\r\nUSER alice\r\n");
    assert_eq!(
        last,
        "+OK\r\n-ERR [AUTH] Authentication failed.\r\n-ERR Too many bad commands.\r\n"
    );
    assert!(c.session.is_finished());
    assert_eq!(c.events.len(), 5);
}

#[test]
fn bad_command_limit_zero_never_closes() {
    let mut c = Client::new(
        Settings {
            max_bad_commands: 0,
            ..open_settings()
        },
        false,
    );
    for _ in 0..100 {
        c.send("BAD\r\n");
    }
    assert!(!c.session.is_finished());
}

#[test]
fn binary_garbage_never_panics() {
    // A fixed xorshift stream: reproducible, no dependency.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..200 {
        let mut c = Client::new(
            Settings {
                max_line: 128,
                max_bad_commands: 0,
                ..open_settings()
            },
            round % 2 == 0,
        );
        if round % 3 == 0 {
            c.send("USER alice\r\nPASS secret\r\n");
        }
        if round % 5 == 0 {
            c.send("AUTH PLAIN\r\n");
        }
        for _ in 0..20 {
            let len = (next() % 300) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let b = next() as u8;
                    // Plenty of line ends and command letters so whole lines get parsed.
                    match b % 8 {
                        0 => b'\n',
                        1 => b' ',
                        2 => b"RETRTOPLISTDELEUIDLQUITAUTHUSER0123"[(b as usize) % 35],
                        _ => b,
                    }
                })
                .collect();
            let reply = c.send_bytes(&bytes);
            for line in reply.split_terminator("\r\n") {
                assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
            }
            if c.session.is_finished() {
                break;
            }
        }
    }
}

#[test]
fn close_reasons() {
    let cases = [
        (
            CloseReason::IdleTimeout,
            "-ERR Disconnected for inactivity.\r\n",
        ),
        (
            CloseReason::Shutdown,
            "-ERR [SYS/TEMP] Server shutting down.\r\n",
        ),
        (
            CloseReason::Kicked,
            "-ERR [SYS/TEMP] Disconnected by the administrator.\r\n",
        ),
    ];
    for (reason, text) in cases {
        let mut c = Client::new(open_settings(), false);
        c.unread();
        c.session.close(reason);
        assert!(c.session.is_finished());
        assert!(!c.session.wants_input());
        c.run();
        assert_eq!(c.unread(), text);
        c.session.close(CloseReason::Shutdown);
        assert!(!c.session.has_output(), "closing twice says nothing more");
        assert_eq!(c.send("USER alice\r\n"), "");
    }
}

#[test]
fn close_while_a_message_is_outstanding() {
    let mut s = Session::new(Arc::new(open_settings()), true, TS.to_owned());
    s.receive(b"USER alice\r\nPASS secret\r\nDELE 2\r\nRETR 1\r\n");
    assert!(matches!(s.poll(), Some(Event::Login(_))));
    s.on_login(LoginReply::Ok(listing()));
    assert!(matches!(s.poll(), Some(Event::Retrieve { index: 0 })));
    s.close(CloseReason::Kicked);
    s.on_message(0, Ok(MessageBody::from(MESSAGES[0])));
    let mut out = Vec::new();
    while let Some(item) = s.pop_output() {
        match item {
            Output::Text(t) => out.extend(t),
            Output::Message { .. } => panic!("no body after the close"),
        }
    }
    let out = String::from_utf8(out).unwrap();
    assert!(out.ends_with("-ERR [SYS/TEMP] Disconnected by the administrator.\r\n"));
    assert!(s.poll().is_none());
}
