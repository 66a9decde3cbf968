//! Real POP3 clients against the real server: Python's poplib (every login mechanism and
//! transport, every login type, the per-account switch), curl, fetchmail and getmail6.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::{Options, TestServer, crlf, python, temp_dir};

fn sample_messages() -> Vec<Vec<u8>> {
    (0..12)
        .map(|i| {
            format!(
                "From: Sender {i} <s{i}@example.org>\nTo: alice@example.org\n\
                 Subject: sample {i}\nMessage-ID: <sample-{i}@example.org>\n\n\
                 Body of sample {i}.\n.leading dot\n{}\n",
                "x".repeat(i * 100)
            )
            .into_bytes()
        })
        .collect()
}

struct Client<'a> {
    server: &'a TestServer,
    mode: &'a str,
    auth: &'a str,
    user: &'a str,
    password: &'a str,
}

impl Client<'_> {
    fn run(&self, action: &str, out: Option<&Path>) -> Value {
        let port = match self.mode {
            "ssl" => self.server.pop3s.port(),
            _ => self.server.pop3.port(),
        }
        .to_string();
        let cafile = self.server.cert.to_str().unwrap().to_owned();
        let out_s = out.map(|p| p.to_str().unwrap().to_owned());
        let mut args = vec![
            "--host",
            "localhost",
            "--port",
            &port,
            "--mode",
            self.mode,
            "--cafile",
            &cafile,
            "--auth",
            self.auth,
            "--user",
            self.user,
            "--password",
            self.password,
            "--action",
            action,
        ];
        if let Some(o) = &out_s {
            args.push("--out");
            args.push(o);
        }
        serde_json::from_str(&python("pop3_client.py", &args)).unwrap()
    }
}

fn client<'a>(server: &'a TestServer, mode: &'a str, auth: &'a str) -> Client<'a> {
    Client {
        server,
        mode,
        auth,
        user: "alice",
        password: "secret",
    }
}

#[test]
fn poplib_downloads_everything_over_every_transport_and_mechanism() {
    let server = TestServer::start(Options::default());
    let messages = sample_messages();
    server.deliver("alice", &messages);
    let mut first_uidl: Option<Value> = None;
    for (mode, auth) in [
        ("plain", "user"),
        ("plain", "apop"),
        ("plain", "plain"),
        ("plain", "plain-continue"),
        ("plain", "login"),
        ("plain", "cram"),
        ("stls", "user"),
        ("stls", "plain"),
        ("ssl", "user"),
        ("ssl", "cram"),
    ] {
        let out = temp_dir("poplib");
        let report = client(&server, mode, auth).run("retr-all", Some(&out));
        assert!(
            report.get("login_error").is_none(),
            "{mode}/{auth}: {report}"
        );
        assert_eq!(report["stat"][0], messages.len(), "{mode}/{auth}");
        for (i, m) in messages.iter().enumerate() {
            let got = fs::read(out.join(format!("{}.eml", i + 1))).unwrap();
            assert_eq!(got, crlf(m), "{mode}/{auth}: message {}", i + 1);
            assert_eq!(report["list"][i], crlf(m).len(), "{mode}/{auth}: LIST size");
        }
        // UIDLs are stable across sessions, transports and mechanisms.
        match &first_uidl {
            None => first_uidl = Some(report["uidl"].clone()),
            Some(u) => assert_eq!(&report["uidl"], u, "{mode}/{auth}"),
        }
        fs::remove_dir_all(out).unwrap();
    }
}

#[test]
fn login_types_allow_and_refuse_exactly() {
    // (login type, mode, mechanism, allowed)
    let cases = [
        ("plaintext", "plain", "user", true),
        ("plaintext", "plain", "plain", true),
        ("plaintext", "plain", "apop", true),
        ("plaintext-login", "plain", "user", false),
        ("plaintext-login", "plain", "plain", false),
        ("plaintext-login", "plain", "login", false),
        ("plaintext-login", "plain", "apop", true),
        ("plaintext-login", "plain", "cram", true),
        ("plaintext-login", "stls", "user", true),
        ("plaintext-login", "ssl", "plain", true),
        ("secure", "plain", "user", false),
        ("secure", "plain", "apop", false),
        ("secure", "plain", "cram", false),
        ("secure", "stls", "user", true),
        ("secure", "stls", "cram", true),
        ("secure", "ssl", "login", true),
    ];
    for login_type in ["plaintext", "plaintext-login", "secure"] {
        let server = TestServer::start(Options {
            login_type,
            ..Options::default()
        });
        server.deliver("alice", &sample_messages()[..2]);
        for (lt, mode, auth, allowed) in cases.iter().filter(|c| c.0 == login_type) {
            let report = client(&server, mode, auth).run("stat", None);
            let refused = report.get("login_error");
            assert_eq!(refused.is_none(), *allowed, "{lt} {mode} {auth}: {report}");
            if let Some(err) = refused {
                let err = err.as_str().unwrap();
                // APOP is refused by the client itself when the greeting has no timestamp.
                if *auth != "apop" {
                    assert!(err.contains("[AUTH]") || err.contains("-ERR"), "{err}");
                }
            }
            // CAPA before login lists only what is allowed now.
            let capa = &report["capa_before"];
            let tls_now = *mode != "plain";
            let cleartext_ok = tls_now || *lt == "plaintext";
            assert_eq!(
                capa.get("USER").is_some(),
                cleartext_ok,
                "{lt} {mode}: {capa}"
            );
            let sasl: Vec<&str> = capa
                .get("SASL")
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
                .unwrap_or_default();
            assert_eq!(sasl.contains(&"PLAIN"), cleartext_ok, "{lt} {mode}: {capa}");
            let challenge_ok = tls_now || *lt != "secure";
            assert_eq!(
                sasl.contains(&"CRAM-MD5"),
                challenge_ok,
                "{lt} {mode}: {capa}"
            );
            assert_eq!(
                capa.get("STLS").is_some(),
                *mode == "plain",
                "{lt} {mode}: {capa}"
            );
            let greeting = report["greeting"].as_str().unwrap();
            // The APOP timestamp is in the greeting only if APOP could succeed at that moment.
            let apop_at_greeting = *mode == "ssl" || *lt != "secure";
            assert_eq!(
                greeting.contains('<'),
                apop_at_greeting,
                "{lt} {mode}: {greeting}"
            );
        }
    }
}

#[test]
fn per_account_switch_is_told_only_after_the_right_password() {
    let server = TestServer::start(Options {
        accounts: vec![
            ("alice".into(), "{PLAIN}secret".into(), String::new()),
            ("carol".into(), "{PLAIN}pw".into(), "pop3=off".into()),
            ("dave".into(), "{PLAIN}pw".into(), "imap=off".into()),
        ],
        ..Options::default()
    });
    let run = |user: &str, password: &str| {
        Client {
            server: &server,
            mode: "plain",
            auth: "user",
            user,
            password,
        }
        .run("stat", None)
    };
    let disabled = run("carol", "pw");
    let err = disabled["login_error"].as_str().unwrap();
    assert!(
        err.contains("[AUTH]") && err.to_lowercase().contains("disabled"),
        "{err}"
    );
    // Wrong password for the disabled account: the same answer as for anyone else.
    let wrong = run("carol", "nope");
    let wrong_nobody = run("nobody", "nope");
    let e1 = wrong["login_error"].as_str().unwrap();
    let e2 = wrong_nobody["login_error"].as_str().unwrap();
    assert_eq!(e1, e2);
    assert!(!e1.to_lowercase().contains("disabled"));
    // IMAP off does not touch POP3.
    assert!(run("dave", "pw").get("login_error").is_none());
}

#[test]
fn curl_lists_and_retrieves_over_pop3_and_pop3s() {
    let server = TestServer::start(Options::default());
    let messages = sample_messages();
    server.deliver("alice", &messages);
    let cert = server.cert.to_str().unwrap();
    let pop3 = format!("pop3://localhost:{}", server.pop3.port());
    let pop3s = format!("pop3s://localhost:{}", server.pop3s.port());
    for (base, extra) in [
        (pop3.as_str(), vec![]),
        (pop3s.as_str(), vec!["--cacert", cert]),
    ] {
        let list = curl(&[&["-u", "alice:secret", &format!("{base}/")], &extra[..]].concat());
        assert_eq!(
            String::from_utf8(list).unwrap().lines().count(),
            messages.len(),
            "{base}"
        );
        for i in [1, 7, 12] {
            let got = curl(&[&["-u", "alice:secret", &format!("{base}/{i}")], &extra[..]].concat());
            let mut want = crlf(&messages[i - 1]);
            // curl leaves the stuffed dots undone and the final CRLF in place.
            if !want.ends_with(b"\r\n") {
                want.extend_from_slice(b"\r\n");
            }
            assert_eq!(got, want, "{base}/{i}");
        }
    }
    // STLS with curl.
    let list = curl(&[
        "--ssl-reqd",
        "--cacert",
        cert,
        "-u",
        "alice:secret",
        &format!("{pop3}/"),
    ]);
    assert_eq!(
        String::from_utf8(list).unwrap().lines().count(),
        messages.len()
    );
}

fn curl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30"])
        .args(args)
        .output()
        .expect("curl must be installed");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Line ends folded to LF, for comparing what a client stored with what was delivered.
fn lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        if !(b == b'\r' && bytes.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

/// Asserts that a mail client run succeeded and stored every delivered message in `out`.
fn assert_client_stored(
    result: &std::process::Output,
    out: &Path,
    messages: &[Vec<u8>],
    who: &str,
) {
    assert!(
        result.status.success(),
        "{who} failed: {}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    let stored: Vec<Vec<u8>> = fs::read_dir(out)
        .unwrap()
        .map(|e| fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert_all_stored(&stored, messages, who);
}

/// Asserts each delivered message appears, whole, in one of the files a client stored
/// (clients add their own trace headers at the top).
fn assert_all_stored(stored: &[Vec<u8>], messages: &[Vec<u8>], who: &str) {
    assert_eq!(
        stored.len(),
        messages.len(),
        "{who}: number of messages stored"
    );
    for m in messages {
        let want = lf(m);
        assert!(
            stored.iter().any(|s| lf(s).ends_with(&want)),
            "{who}: a message was not stored intact:\n{}",
            String::from_utf8_lossy(m)
        );
    }
}

#[test]
fn fetchmail_downloads_a_whole_mailbox() {
    let server = TestServer::start(Options::default());
    let messages = sample_messages();
    server.deliver("alice", &messages);
    for (name, port, tls) in [
        ("plain", server.pop3.port(), "sslproto ''"),
        (
            "stls",
            server.pop3.port(),
            "sslproto 'tls1.2+' sslcertck sslcertfile",
        ),
        ("ssl", server.pop3s.port(), "ssl sslcertck sslcertfile"),
    ] {
        let dir = temp_dir("fetchmail");
        let out = dir.join("out");
        fs::create_dir_all(&out).unwrap();
        let tls = if !tls.contains("sslcertfile") {
            tls.to_owned()
        } else {
            format!("{tls} \"{}\"", server.cert.display())
        };
        let rc = format!(
            "set no bouncemail\nset no syslog\n\
             poll localhost with proto POP3 port {port} uidl no dns\n  \
             user \"alice\" there with password \"secret\" is \"tester\" here\n  \
             {tls} keep fetchall\n  \
             mda \"/bin/sh -c 'cat > {out}/$$.$(date +%s%N)'\"\n",
            out = out.display()
        );
        let rcfile = dir.join("fetchmailrc");
        fs::write(&rcfile, rc).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&rcfile, fs::Permissions::from_mode(0o600)).unwrap();
        let result = Command::new("fetchmail")
            .args(["--nodetach", "-f"])
            .arg(&rcfile)
            .env("HOME", &dir)
            .env("FETCHMAILHOME", &dir)
            .output()
            .expect("fetchmail must be installed");
        assert_client_stored(&result, &out, &messages, &format!("fetchmail {name}"));
        fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn getmail_downloads_a_whole_mailbox() {
    let server = TestServer::start(Options::default());
    let messages = sample_messages();
    server.deliver("alice", &messages);
    for (name, retriever, port) in [
        ("plain", "SimplePOP3Retriever", server.pop3.port()),
        ("ssl", "SimplePOP3SSLRetriever", server.pop3s.port()),
    ] {
        let dir = temp_dir("getmail");
        let out = dir.join("out");
        fs::create_dir_all(&out).unwrap();
        let ssl = if retriever.contains("SSL") {
            format!("ca_certs = {}\n", server.cert.display())
        } else {
            String::new()
        };
        // An external MDA rather than getmail's Maildir destination, which refuses to deliver
        // as root (CI runs as root).
        let rc = format!(
            "[retriever]\ntype = {retriever}\nserver = localhost\nport = {port}\n\
             username = alice\npassword = secret\n{ssl}\n\
             [destination]\ntype = MDA_external\npath = /bin/sh\n\
             arguments = (\"-c\", \"cat > {}/$$.$(date +%s%N)\")\n\
             allow_root_commands = true\n\n\
             [options]\nread_all = true\ndelete = false\nverbose = 0\n",
            out.display()
        );
        fs::write(dir.join("getmailrc"), rc).unwrap();
        let result = Command::new("getmail")
            .arg("--rcfile")
            .arg(dir.join("getmailrc"))
            .arg("--getmaildir")
            .arg(&dir)
            .output()
            .expect("getmail (getmail6) must be installed");
        assert_client_stored(&result, &out, &messages, &format!("getmail {name}"));
        fs::remove_dir_all(dir).unwrap();
    }
}
