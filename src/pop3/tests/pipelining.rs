//! PIPELINING (RFC 2449): commands sent without waiting are processed strictly in order, one
//! outstanding event at a time, with processing paused whenever output should be flushed.

use super::*;

fn logged_in_session(listing: Listing) -> Session {
    let mut s = Session::new(Arc::new(open_settings()), true, TS.to_owned());
    s.receive(b"USER alice\r\nPASS secret\r\n");
    assert!(matches!(s.poll(), Some(Event::Login(_))));
    s.on_login(LoginReply::Ok(listing));
    while s.pop_output().is_some() {}
    s
}

#[test]
fn a_thousand_pipelined_retrs() {
    let mut s = logged_in_session(listing());
    let mut burst = String::new();
    for i in 0..1000 {
        burst.push_str(&format!("RETR {}\r\n", i % 3 + 1));
    }
    s.receive(burst.as_bytes());
    let sizes: Vec<u64> = listing().messages.iter().map(|m| m.1).collect();
    let mut retrieved = Vec::new();
    loop {
        let Some(event) = s.poll() else {
            assert!(!s.has_output());
            break;
        };
        let Event::Retrieve { index } = event else {
            panic!("unexpected {event:?}");
        };
        retrieved.push(index);
        assert!(s.poll().is_none(), "one event at a time");
        assert!(!s.wants_input());
        s.on_message(index, Ok(MessageBody::from(MESSAGES[index])));
        // The body is queued: nothing more is processed until it has been written.
        assert!(s.poll().is_none());
        let Some(Output::Text(status)) = s.pop_output() else {
            panic!("expected the status line");
        };
        assert_eq!(
            status,
            format!("+OK {} octets\r\n", sizes[index]).into_bytes()
        );
        let Some(Output::Message { body, top_lines }) = s.pop_output() else {
            panic!("expected the body");
        };
        assert_eq!(body.as_bytes(), MESSAGES[index]);
        assert_eq!(top_lines, None);
        assert!(s.pop_output().is_none());
    }
    let expected: Vec<usize> = (0..1000).map(|i| i % 3).collect();
    assert_eq!(retrieved, expected);
    assert!(s.wants_input());
}

#[test]
fn large_text_output_pauses_processing() {
    let many = Listing {
        user: "alice".into(),
        uid_validity: 7,
        messages: (1..=20_000)
            .map(|uid| (uid, 1000 + u64::from(uid)))
            .collect(),
    };
    let mut s = logged_in_session(many);
    s.receive(b"UIDL\r\nSTAT\r\nNOOP\r\n");
    assert!(s.poll().is_none());
    assert!(!s.wants_input(), "STAT and NOOP are still buffered");
    let Some(Output::Text(listing)) = s.pop_output() else {
        panic!("expected the UIDL listing");
    };
    assert!(listing.len() > 64 * 1024);
    assert!(listing.ends_with(b"20000 00004e2000000007\r\n.\r\n"));
    assert!(s.pop_output().is_none(), "STAT waited for the flush");
    assert!(s.poll().is_none());
    let Some(Output::Text(rest)) = s.pop_output() else {
        panic!("expected STAT and NOOP replies");
    };
    let total: u64 = (1..=20_000u64).map(|uid| 1000 + uid).sum();
    assert_eq!(rest, format!("+OK 20000 {total}\r\n+OK\r\n").into_bytes());
    assert!(s.wants_input());
}

#[test]
fn small_replies_are_coalesced() {
    let mut s = logged_in_session(listing());
    s.receive(b"NOOP\r\nNOOP\r\nUIDL 1\r\nBOGUS\r\n");
    assert!(s.poll().is_none());
    let Some(Output::Text(all)) = s.pop_output() else {
        panic!("expected text");
    };
    assert_eq!(
        String::from_utf8(all).unwrap(),
        "+OK\r\n+OK\r\n+OK 1 0000000165000000\r\n-ERR Unknown command: BOGUS\r\n"
    );
    assert!(s.pop_output().is_none());
}

#[test]
fn nothing_is_processed_while_a_login_is_outstanding() {
    let mut s = Session::new(Arc::new(open_settings()), true, TS.to_owned());
    while s.pop_output().is_some() {}
    s.receive(b"USER alice\r\nPASS secret\r\nSTAT\r\nQUIT\r\n");
    assert!(matches!(s.poll(), Some(Event::Login(_))));
    assert!(s.poll().is_none());
    assert!(!s.wants_input());
    let Some(Output::Text(t)) = s.pop_output() else {
        panic!("expected USER's reply");
    };
    assert_eq!(t, b"+OK\r\n");
    s.on_login(LoginReply::Ok(listing()));
    assert!(s.poll().is_none());
    assert!(s.is_finished());
    let Some(Output::Text(t)) = s.pop_output() else {
        panic!("expected replies");
    };
    let t = String::from_utf8(t).unwrap();
    assert!(t.starts_with("+OK Logged in.\r\n+OK 3 "), "{t}");
    assert!(t.ends_with("+OK Logging out.\r\n"), "{t}");
}

#[test]
fn commands_split_across_receives() {
    let mut c = Client::logged_in(open_settings());
    assert_eq!(c.send("NO"), "");
    assert!(c.session.wants_input());
    assert_eq!(c.send("OP\r"), "");
    assert_eq!(c.send("\nST"), "+OK\r\n");
    assert_eq!(c.send("AT\r\n").split(' ').next(), Some("+OK"));
}
