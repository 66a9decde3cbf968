//! The TRANSACTION and UPDATE states: every command, deleted messages, bad message numbers, and
//! that deletion happens only through a committed QUIT.

use super::*;

fn sizes() -> Vec<u64> {
    listing().messages.iter().map(|&(_, size)| size).collect()
}

fn total(indexes: &[usize]) -> u64 {
    let s = sizes();
    indexes.iter().map(|&i| s[i]).sum()
}

#[test]
fn stat_list_uidl() {
    let mut c = Client::logged_in(open_settings());
    let s = sizes();
    assert_eq!(
        c.send("STAT\r\n"),
        format!("+OK 3 {}\r\n", total(&[0, 1, 2]))
    );
    assert_eq!(
        c.send("LIST\r\n"),
        format!(
            "+OK 3 messages ({} octets)\r\n1 {}\r\n2 {}\r\n3 {}\r\n.\r\n",
            total(&[0, 1, 2]),
            s[0],
            s[1],
            s[2]
        )
    );
    assert_eq!(c.send("LIST 2\r\n"), format!("+OK 2 {}\r\n", s[1]));
    assert_eq!(
        c.send("UIDL\r\n"),
        "+OK\r\n1 0000000165000000\r\n2 0000000265000000\r\n3 0000000365000000\r\n.\r\n"
    );
    assert_eq!(c.send("uidl 3\r\n"), "+OK 3 0000000365000000\r\n");
    assert!(c.events.is_empty());
}

#[test]
fn retr_sends_the_framed_message() {
    let mut c = Client::logged_in(open_settings());
    let s = sizes();
    assert_eq!(
        c.send("RETR 1\r\n"),
        format!(
            "+OK {} octets\r\nSubject: one\r\nFrom: a@example.org\r\n\r\nHello\r\nWorld\r\n.\r\n",
            s[0]
        )
    );
    assert_eq!(
        c.send("RETR 2\r\n"),
        format!(
            "+OK {} octets\r\nSubject: two\r\n\r\n..dot line\r\nsecond\r\n..\r\nlast\r\n.\r\n",
            s[1]
        )
    );
    assert_eq!(
        c.send("RETR 3\r\n"),
        format!(
            "+OK {} octets\r\nSubject: three\r\n\r\nno final line end\r\n.\r\n",
            s[2]
        )
    );
    assert_eq!(c.events, ["retrieve 0", "retrieve 1", "retrieve 2"]);
}

#[test]
fn top_sends_the_header_and_n_lines() {
    let mut c = Client::logged_in(open_settings());
    assert_eq!(
        c.send("TOP 1 0\r\n"),
        "+OK\r\nSubject: one\r\nFrom: a@example.org\r\n\r\n.\r\n"
    );
    assert_eq!(
        c.send("TOP 2 1\r\n"),
        "+OK\r\nSubject: two\r\n\r\n..dot line\r\n.\r\n"
    );
    assert_eq!(
        c.send("TOP 3 100\r\n"),
        "+OK\r\nSubject: three\r\n\r\nno final line end\r\n.\r\n"
    );
    assert_eq!(c.events, ["retrieve 0", "retrieve 1", "retrieve 2"]);
}

#[test]
fn deleted_messages_disappear_until_rset() {
    let mut c = Client::logged_in(open_settings());
    let s = sizes();
    assert_eq!(c.send("DELE 2\r\n"), "+OK Marked to be deleted.\r\n");
    assert_eq!(c.send("STAT\r\n"), format!("+OK 2 {}\r\n", total(&[0, 2])));
    assert_eq!(
        c.send("LIST\r\n"),
        format!(
            "+OK 2 messages ({} octets)\r\n1 {}\r\n3 {}\r\n.\r\n",
            total(&[0, 2]),
            s[0],
            s[2]
        )
    );
    assert_eq!(
        c.send("UIDL\r\n"),
        "+OK\r\n1 0000000165000000\r\n3 0000000365000000\r\n.\r\n"
    );
    let deleted = "-ERR Message is deleted.\r\n";
    for command in ["LIST 2", "UIDL 2", "RETR 2", "TOP 2 0", "DELE 2"] {
        assert_eq!(c.send(&format!("{command}\r\n")), deleted, "{command}");
    }
    assert!(c.events.is_empty());
    assert_eq!(
        c.send("RSET\r\n"),
        format!("+OK 3 messages ({} octets)\r\n", total(&[0, 1, 2]))
    );
    assert_eq!(c.send("LIST 2\r\n"), format!("+OK 2 {}\r\n", s[1]));
    assert_eq!(c.send("QUIT\r\n"), "+OK Logging out.\r\n");
    assert!(c.events.is_empty(), "RSET unmarked everything: no commit");
}

#[test]
fn bad_message_numbers() {
    let mut c = Client::logged_in(open_settings());
    let cases = [
        ("RETR 0", "-ERR There's no message 0."),
        ("RETR 4", "-ERR There's no message 4."),
        (
            "LIST 18446744073709551616",
            "-ERR There's no message 18446744073709551616.",
        ),
        (
            "DELE 99999999999999999999999999",
            "-ERR There's no message 99999999999999999999999999.",
        ),
        ("RETR -1", "-ERR Invalid message number: -1"),
        ("TOP abc 1", "-ERR Invalid message number: abc"),
        ("TOP 1 x", "-ERR Invalid line count: x"),
        ("TOP 1", "-ERR Missing line count."),
        ("UIDL 1.0", "-ERR Invalid message number: 1.0"),
        ("DELE", "-ERR Missing message number."),
        ("RETR", "-ERR Missing message number."),
        ("LIST 1 2", "-ERR Too many arguments for LIST."),
        ("STAT 1", "-ERR Too many arguments for STAT."),
    ];
    for (command, reply) in cases {
        assert_eq!(
            c.send(&format!("{command}\r\n")),
            format!("{reply}\r\n"),
            "{command}"
        );
    }
    assert!(c.events.is_empty());
    assert_eq!(c.send("NOOP\r\n"), "+OK\r\n", "the session goes on");
}

#[test]
fn noop_capa_and_authorization_commands() {
    let mut c = Client::logged_in(Settings {
        expire: Some("30".into()),
        login_delay: Some(60),
        ..open_settings()
    });
    assert_eq!(c.send("NOOP\r\n"), "+OK\r\n");
    assert_eq!(
        c.send("CAPA\r\n"),
        "+OK Capability list follows\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n\
         PIPELINING\r\nEXPIRE 30\r\nLOGIN-DELAY 60\r\nIMPLEMENTATION Postern\r\n.\r\n"
    );
    for command in [
        "USER alice",
        "PASS secret",
        "APOP alice c4c9334bac560ecc979e58001b3e22fb",
        "AUTH",
        "AUTH PLAIN",
        "STLS",
    ] {
        assert_eq!(
            c.send(&format!("{command}\r\n")),
            "-ERR Already logged in.\r\n",
            "{command}"
        );
    }
    assert_eq!(c.send("HELO\r\n"), "-ERR Unknown command: HELO\r\n");
    assert!(c.events.is_empty());
    assert_eq!(c.session.user(), Some("alice"));
}

#[test]
fn quit_without_deletions_needs_no_commit() {
    let mut c = Client::logged_in(open_settings());
    c.send("RETR 1\r\n");
    assert_eq!(c.send("QUIT\r\n"), "+OK Logging out.\r\n");
    assert!(c.session.is_finished());
    assert_eq!(c.events, ["retrieve 0"]);
}

#[test]
fn quit_commits_deletions_in_ascending_order() {
    let mut c = Client::logged_in(open_settings());
    c.send("DELE 3\r\nDELE 1\r\n");
    assert_eq!(
        c.send("QUIT\r\nNOOP\r\n"),
        "+OK Logging out, messages deleted.\r\n"
    );
    assert_eq!(c.events, ["commit [0, 2]"]);
    assert!(c.session.is_finished());
    assert_eq!(
        c.session.user(),
        Some("alice"),
        "still known for the log line"
    );
}

#[test]
fn failed_commit() {
    let mut c = Client::logged_in(open_settings());
    c.commit = Err("Permission denied\r\n".into());
    c.send("DELE 2\r\n");
    assert_eq!(
        c.send("QUIT\r\n"),
        "-ERR [SYS/TEMP] Some deleted messages were not removed: Permission denied??\r\n"
    );
    assert!(c.session.is_finished());
}

#[test]
fn update_state_while_committing() {
    let mut s = Session::new(Arc::new(open_settings()), true, TS.to_owned());
    s.receive(b"USER alice\r\nPASS secret\r\nDELE 1\r\nQUIT\r\nSTAT\r\n");
    assert!(matches!(s.poll(), Some(Event::Login(_))));
    s.on_login(LoginReply::Ok(listing()));
    let Some(Event::Commit { delete }) = s.poll() else {
        panic!("expected a commit");
    };
    assert_eq!(delete, [0]);
    assert_eq!(s.state_name(), "UPDATE");
    assert!(s.poll().is_none());
    assert!(!s.wants_input());
    assert!(!s.is_finished());
    s.on_commit(Ok(()));
    assert!(s.is_finished());
    assert_eq!(s.state_name(), "CLOSED");
    let mut text = Vec::new();
    while let Some(Output::Text(t)) = s.pop_output() {
        text.extend(t);
    }
    let text = String::from_utf8(text).unwrap();
    assert!(text.ends_with("+OK Marked to be deleted.\r\n+OK Logging out, messages deleted.\r\n"));
    assert!(
        !text.contains(" 2 "),
        "STAT after QUIT was not executed: {text}"
    );
}

#[test]
fn a_dropped_connection_deletes_nothing() {
    let mut c = Client::logged_in(open_settings());
    c.send("DELE 1\r\nDELE 2\r\n");
    drop(c.session);
    assert!(c.events.is_empty());
}

#[test]
fn unreadable_message_is_a_temporary_error() {
    let mut c = Client::logged_in(open_settings());
    c.unreadable = Some(1);
    assert_eq!(
        c.send("RETR 2\r\n"),
        "-ERR [SYS/TEMP] Could not read message 2: No such file or directory\r\n"
    );
    assert_eq!(
        c.send("TOP 2 0\r\n"),
        "-ERR [SYS/TEMP] Could not read message 2: No such file or directory\r\n"
    );
    assert!(c.send("RETR 1\r\n").starts_with("+OK "));
}

#[test]
fn message_answers_out_of_turn_are_ignored() {
    let mut s = Session::new(Arc::new(open_settings()), true, TS.to_owned());
    s.pop_output();
    s.on_message(0, Ok(MessageBody::from(&b"x"[..])));
    s.on_commit(Ok(()));
    s.on_login(LoginReply::Ok(listing()));
    assert!(!s.has_output());
    assert_eq!(s.state_name(), "AUTHORIZATION");
    s.receive(b"USER alice\r\nPASS secret\r\nRETR 2\r\n");
    assert!(matches!(s.poll(), Some(Event::Login(_))));
    s.on_login(LoginReply::Ok(listing()));
    assert!(matches!(s.poll(), Some(Event::Retrieve { index: 1 })));
    s.on_message(0, Ok(MessageBody::from(&b"wrong"[..])));
    assert!(s.poll().is_none(), "still waiting for message 2");
    s.on_message(1, Ok(MessageBody::from(MESSAGES[1])));
    let mut items = Vec::new();
    while let Some(item) = s.pop_output() {
        items.push(item);
    }
    assert!(matches!(
        items.last(),
        Some(Output::Message { top_lines: None, body }) if body.as_bytes() == MESSAGES[1]
    ));
}

#[test]
fn empty_maildrop() {
    let mut c = Client::new(open_settings(), true);
    c.login = Box::new(|_| {
        LoginReply::Ok(Listing {
            user: "bob".into(),
            uid_validity: 1,
            messages: Vec::new(),
        })
    });
    c.send("USER bob\r\nPASS x\r\n");
    assert_eq!(c.send("STAT\r\n"), "+OK 0 0\r\n");
    assert_eq!(c.send("LIST\r\n"), "+OK 0 messages (0 octets)\r\n.\r\n");
    assert_eq!(c.send("UIDL\r\n"), "+OK\r\n.\r\n");
    assert_eq!(c.send("RETR 1\r\n"), "-ERR There's no message 1.\r\n");
    assert_eq!(c.send("QUIT\r\n"), "+OK Logging out.\r\n");
}
