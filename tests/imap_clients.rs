//! Real IMAP clients against the real server: Python's imaplib and a raw-socket client
//! (every command and extension, over plain, STARTTLS and implicit TLS), mbsync (a full
//! two-way sync of a multi-folder account, a second sync that moves nothing, flag changes
//! both ways) and curl (imap, imaps, STARTTLS). The client scripts live in `tests/clients/`
//! and check protocol semantics against the RFCs; they were written against Dovecot first.

mod support;

use std::path::Path;

use support::imap::Client;
use support::{Options, TestServer, python, temp_dir};

/// Runs a client script against `server` in `mode`, with extra arguments; returns stdout.
fn run(server: &TestServer, script: &str, mode: &str, extra: &[&str]) -> String {
    let port = server.imap.port().to_string();
    let tls_port = server.imaps.port().to_string();
    let cafile = server.cert.to_str().unwrap().to_owned();
    let mut args: Vec<&str> = extra.to_vec();
    args.extend_from_slice(&[
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--tls-port",
        &tls_port,
        "--mode",
        mode,
        "--cafile",
        &cafile,
        "--user",
        "alice",
        "--password",
        "secret",
    ]);
    python(script, &args)
}

const SCENARIOS: &[&[&str]] = &[
    &["capability"],
    &["login"],
    &["authenticate", "--mech", "PLAIN"],
    &["authenticate", "--mech", "LOGIN"],
    &["authenticate", "--mech", "CRAM-MD5"],
    &["mailboxes", "--special-use"],
    &["append-fetch"],
    &["store"],
    &["search"],
    &["copy-move"],
    &["expunge"],
    &["idle", "--within", "1"],
    &["two-sessions"],
    &["id-enable"],
    &["bad-input"],
];

fn every_scenario(mode: &str) {
    let server = TestServer::start(Options::default());
    // The folders the server marks with SPECIAL-USE attributes by default.
    let (mut c, _) = Client::connect(server.imap);
    c.login("alice", "secret");
    for folder in ["Sent", "Drafts", "Trash", "Junk"] {
        c.ok(&format!("CREATE {folder}"));
    }
    c.ok("LOGOUT");
    for scenario in SCENARIOS {
        let out = run(&server, "imap_client.py", mode, scenario);
        assert!(
            out.contains(&format!("ok scenario {}", scenario[0])),
            "{scenario:?} over {mode}:\n{out}"
        );
    }
}

#[test]
fn imaplib_and_raw_scenarios_over_plain() {
    every_scenario("plain");
}

#[test]
fn imaplib_and_raw_scenarios_over_starttls() {
    every_scenario("starttls");
    let server = TestServer::start(Options::default());
    let out = run(&server, "imap_client.py", "plain", &["starttls-injection"]);
    assert!(out.contains("ok scenario starttls-injection"), "{out}");
}

#[test]
fn imaplib_and_raw_scenarios_over_tls() {
    every_scenario("tls");
}

#[test]
fn corpus_round_trips_over_tls() {
    let server = TestServer::start(Options::default());
    let out = run(&server, "imap_client.py", "tls", &["corpus"]);
    assert!(out.contains("ok scenario corpus"), "{out}");
}

#[test]
fn login_types_shape_what_is_offered() {
    // secure: nothing before TLS, LOGINDISABLED and no AUTH= on the plain port.
    let server = TestServer::start(Options {
        imap_login_type: "secure",
        ..Options::default()
    });
    let out = run(
        &server,
        "imap_client.py",
        "plain",
        &[
            "capability",
            "--expect-cap",
            "pre:LOGINDISABLED",
            "--expect-cap",
            "pre:STARTTLS",
            "--expect-no-cap",
            "pre:AUTH=PLAIN",
            "--expect-no-cap",
            "pre:AUTH=CRAM-MD5",
        ],
    );
    assert!(out.contains("ok scenario capability"), "{out}");
    for mode in ["starttls", "tls"] {
        let out = run(
            &server,
            "imap_client.py",
            mode,
            &[
                "capability",
                "--expect-no-cap",
                "login:LOGINDISABLED",
                "--expect-cap",
                "login:AUTH=PLAIN",
                "--expect-no-cap",
                "auth:STARTTLS",
            ],
        );
        assert!(out.contains("ok scenario capability"), "{mode}: {out}");
        let out = run(&server, "imap_client.py", mode, &["login"]);
        assert!(out.contains("ok scenario login"), "{mode}: {out}");
    }
    let (mut c, greeting) = Client::connect(server.imap);
    assert!(greeting.contains("LOGINDISABLED"), "{greeting}");
    let (_, tagged) = c.command("LOGIN alice secret");
    assert!(tagged.contains("NO [PRIVACYREQUIRED]"), "{tagged}");
    let (_, tagged) = c.command("AUTHENTICATE CRAM-MD5");
    assert!(tagged.contains("NO [PRIVACYREQUIRED]"), "{tagged}");

    // plaintext-login: only CRAM-MD5 before TLS.
    let server = TestServer::start(Options {
        imap_login_type: "plaintext-login",
        ..Options::default()
    });
    let out = run(
        &server,
        "imap_client.py",
        "plain",
        &[
            "capability",
            "--expect-cap",
            "pre:LOGINDISABLED",
            "--expect-cap",
            "pre:AUTH=CRAM-MD5",
            "--expect-no-cap",
            "pre:AUTH=PLAIN",
        ],
    );
    assert!(out.contains("ok scenario capability"), "{out}");
    let out = run(
        &server,
        "imap_client.py",
        "plain",
        &["authenticate", "--mech", "CRAM-MD5"],
    );
    assert!(out.contains("ok scenario authenticate"), "{out}");
}

#[test]
fn switched_off_account_is_told_only_after_a_right_password() {
    let server = TestServer::start(Options {
        accounts: vec![
            ("alice".into(), "{PLAIN}secret".into(), "imap=off".into()),
            ("bob".into(), "{PLAIN}hunter2".into(), "pop3=off".into()),
        ],
        ..Options::default()
    });
    let (mut c, _) = Client::connect(server.imap);
    let (_, wrong) = c.command("LOGIN alice nope");
    assert!(wrong.contains("NO [AUTHENTICATIONFAILED]"), "{wrong}");
    let (_, right) = c.command("LOGIN alice secret");
    assert!(right.contains("NO [AUTHORIZATIONFAILED]"), "{right}");
    // POP3 off does not touch IMAP.
    c.ok("LOGIN bob hunter2");
}

#[test]
fn mbsync_two_way_sync_of_a_multi_folder_account() {
    let server = TestServer::start(Options::default());
    for (mode, layout) in [("tls", "maildir++"), ("starttls", "verbatim")] {
        let scratch = temp_dir("mbsync");
        let scratch_s = scratch.to_str().unwrap().to_owned();
        let out = run(
            &server,
            "mbsync_sync.py",
            mode,
            &["--scratch", &scratch_s, "--layout", layout],
        );
        assert!(
            out.contains("ok second mbsync -a: nothing propagated"),
            "{out}"
        );
        assert!(out.contains("ok flag changes propagate both ways"), "{out}");
        assert!(
            out.contains(&format!("ok mbsync_sync {mode} {layout}")),
            "{out}"
        );
        let _ = std::fs::remove_dir_all(Path::new(&scratch));
    }
}

#[test]
fn curl_over_imap_imaps_and_starttls() {
    let server = TestServer::start(Options::default());
    for mode in ["plain", "starttls", "tls"] {
        let out = run(&server, "curl_imap.py", mode, &[]);
        assert!(out.contains(&format!("ok curl_imap {mode}")), "{out}");
    }
}
