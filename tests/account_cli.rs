//! `postern account …` as an administrator runs it, the real binary on temporary passwd-files:
//! every subcommand, passwords that the server's own verification accepts (and Dovecot's
//! `doveadm pw -t`), typing a password on a pseudo-terminal without echo, bulk changes of
//! 10,000 accounts that leave every other byte alone, refusal of broken files, concurrent
//! commands that lose nothing, and the file's mode and owner kept.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use postern::auth::{AuthResult, AuthSettings, Authenticator, Credentials, PasswdDb};

const BIN: &str = env!("CARGO_BIN_EXE_postern");

/// `postern account --passwd-file FILE ARGS`, with `stdin` fed in (or none).
fn account(file: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .arg("account")
        .arg("--passwd-file")
        .arg(file)
        .args(args)
        .env("POSTERN_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start postern");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs and insists on success; returns stdout.
fn ok(file: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let out = account(file, args, stdin);
    assert!(
        out.status.success(),
        "postern account {args:?} failed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// Runs and insists on failure; returns stderr.
fn fails(file: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let out = account(file, args, stdin);
    assert!(
        !out.status.success(),
        "postern account {args:?} should have failed:\n{}",
        stdout(&out)
    );
    stderr(&out)
}

fn login(file: &Path, user: &str, password: &str) -> bool {
    let db = PasswdDb::load(file).unwrap_or_else(|e| panic!("{e}"));
    let auth = Authenticator::new(db, AuthSettings::default());
    let creds = Credentials::Password {
        authzid: None,
        user: user.to_owned(),
        password: password.to_owned(),
    };
    match auth.verify(&creds) {
        AuthResult::Success(account) => {
            assert_eq!(account.user, user);
            true
        }
        AuthResult::Failure => false,
        AuthResult::TempFail(reason) => panic!("{user}: {reason}"),
    }
}

fn users_file(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("users");
    fs::write(&path, text).unwrap();
    path
}

/// The password field of `user`'s line.
fn password_field(file: &Path, user: &str) -> String {
    let text = fs::read_to_string(file).unwrap();
    let line = text
        .lines()
        .find(|l| l.split(':').next() == Some(user))
        .unwrap_or_else(|| panic!("no {user} in\n{text}"));
    line.split(':').nth(1).unwrap().to_owned()
}

#[test]
fn add_show_list_remove() {
    let dir = tempfile::tempdir().unwrap();
    let file = users_file(&dir, "# site accounts\nold:{PLAIN}oldsecret\n");
    let before = fs::read_to_string(&file).unwrap();

    let out = ok(
        &file,
        &["add", "alice@example.org", "--password-stdin"],
        Some("Tr0ub4dor&3\n"),
    );
    assert!(out.contains("added alice@example.org (ARGON2ID)"), "{out}");
    ok(
        &file,
        &[
            "add",
            "bob@example.net",
            "--password-stdin",
            "--scheme",
            "SHA512-CRYPT",
            "--home",
            "/home/bob",
            "--uid",
            "1001",
            "--gid",
            "100",
            "--gecos",
            "Bob B.",
            "--imap",
            "off",
            "--login-type",
            "pop3=secure",
            "--retrieval-format",
            "text-only",
            "--extra",
            "userdb_mail=maildir:~/Mail",
        ],
        Some("hunter2\r\n"),
    );
    ok(
        &file,
        &["add", "carol", "--password-stdin", "--scheme", "BLF-CRYPT"],
        Some("carol pw"),
    );

    let text = fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with(&before),
        "existing lines untouched:\n{text}"
    );
    assert!(password_field(&file, "alice@example.org").starts_with("{ARGON2ID}$argon2id$v=19$"));
    assert!(password_field(&file, "bob@example.net").starts_with("{SHA512-CRYPT}$6$rounds="));
    assert!(password_field(&file, "carol").starts_with("{BLF-CRYPT}$2y$"));
    assert!(
        text.contains(
            ":1001:100:Bob B.:/home/bob::userdb_mail=maildir:~/Mail imap=off pop3_login_type=secure \
             pop3_retrieval_format=text-only imap_retrieval_format=text-only\n"
        ),
        "{text}"
    );

    // The server's own verification accepts what was written.
    assert!(login(&file, "alice@example.org", "Tr0ub4dor&3"));
    assert!(!login(&file, "alice@example.org", "Tr0ub4dor&4"));
    assert!(login(&file, "bob@example.net", "hunter2"));
    assert!(login(&file, "carol", "carol pw"));
    assert!(login(&file, "old", "oldsecret"));

    // An existing user is refused before a password is even read, and nothing changes.
    let text = fs::read_to_string(&file).unwrap();
    let err = fails(&file, &["add", "carol", "--password-stdin"], Some("x\n"));
    assert!(err.contains("already exists"), "{err}");
    let err = fails(&file, &["add", "dave", "--password-stdin"], Some("\n"));
    assert!(err.contains("empty password"), "{err}");
    let err = fails(&file, &["add", "d:ve", "--password-stdin"], Some("x\n"));
    assert!(err.contains("':'"), "{err}");
    let err = fails(&file, &["add", "../etc", "--password-stdin"], Some("x\n"));
    assert!(err.contains("not written"), "{err}");
    assert_eq!(fs::read_to_string(&file).unwrap(), text);

    let list = ok(&file, &["list"], None);
    let rows: Vec<Vec<&str>> = list
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec![
                "USER",
                "POP3",
                "IMAP",
                "POP3-LOGIN",
                "IMAP-LOGIN",
                "POP3-FORMAT",
                "IMAP-FORMAT",
                "NOLOGIN"
            ],
            vec![
                "old", "on", "on", "default", "default", "default", "default", "no"
            ],
            vec![
                "alice@example.org",
                "on",
                "on",
                "default",
                "default",
                "default",
                "default",
                "no"
            ],
            vec![
                "bob@example.net",
                "on",
                "off",
                "secure",
                "default",
                "text-only",
                "text-only",
                "no"
            ],
            vec![
                "carol", "on", "on", "default", "default", "default", "default", "no"
            ],
        ]
    );
    let list = ok(&file, &["list", "*@example.???"], None);
    let users: Vec<&str> = list
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(users, ["alice@example.org", "bob@example.net"]);

    let show = ok(&file, &["show", "bob@example.net"], None);
    for expected in [
        "user:                  bob@example.net",
        "password scheme:       SHA512-CRYPT",
        "uid:                   1001",
        "gid:                   100",
        "gecos:                 Bob B.",
        "home:                  /home/bob",
        "pop3:                  on",
        "imap:                  off",
        "pop3 login type:       secure",
        "imap login type:       default",
        "pop3 retrieval format: text-only",
        "imap retrieval format: text-only",
        "nologin:               no",
        "extra fields:          userdb_mail=maildir:~/Mail imap=off pop3_login_type=secure",
    ] {
        assert!(show.contains(expected), "{expected:?} in\n{show}");
    }
    let hash = password_field(&file, "bob@example.net");
    let hash_part = hash.rsplit('$').next().unwrap();
    assert!(
        !show.contains(hash_part),
        "the hash must not be shown:\n{show}"
    );
    let show = ok(&file, &["show", "old"], None);
    assert!(show.contains("password scheme:       PLAIN"), "{show}");
    assert!(!show.contains("oldsecret"), "{show}");
    let err = fails(&file, &["show", "nobody"], None);
    assert!(err.contains("no account \"nobody\""), "{err}");

    let out = ok(&file, &["remove", "alice@example.org"], None);
    assert!(out.contains("removed alice@example.org"), "{out}");
    let text = fs::read_to_string(&file).unwrap();
    assert!(!text.contains("alice@"), "{text}");
    assert!(text.starts_with(&before));
    let err = fails(&file, &["remove", "alice@example.org"], None);
    assert!(err.contains("no account"), "{err}");
}

#[test]
fn add_creates_a_missing_file_privately() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("new-users");
    ok(
        &file,
        &["add", "u", "--password-stdin", "--scheme", "PLAIN"],
        Some("pw\n"),
    );
    assert_eq!(fs::read_to_string(&file).unwrap(), "u:{PLAIN}pw\n");
    assert_eq!(fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
    // Only add creates; everything else needs the file.
    let err = fails(
        &dir.path().join("absent"),
        &["set", "--all", "--pop3", "off"],
        None,
    );
    assert!(err.contains("No such file"), "{err}");
}

#[test]
fn passwd_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let file = users_file(
        &dir,
        "a:{PLAIN}old:1000:1000::/home/a::quota=1G\r\nb:{PLAIN}b\r\n",
    );
    let out = ok(
        &file,
        &["passwd", "a", "--password-stdin"],
        Some("new one\n"),
    );
    assert!(out.contains("password of a changed (ARGON2ID)"), "{out}");
    assert!(login(&file, "a", "new one"));
    assert!(!login(&file, "a", "old"));
    let text = fs::read_to_string(&file).unwrap();
    // Only the password field of a's line changed; its CRLF and the rest stay.
    let field = password_field(&file, "a");
    assert_eq!(
        text,
        format!("a:{field}:1000:1000::/home/a::quota=1G\r\nb:{{PLAIN}}b\r\n")
    );

    ok(
        &file,
        &["passwd", "b", "--password-stdin", "--scheme", "ssha512"],
        Some("x:y\n"),
    );
    assert!(login(&file, "b", "x:y"));

    let text = fs::read_to_string(&file).unwrap();
    let err = fails(&file, &["passwd", "a", "--password-stdin"], Some(""));
    assert!(err.contains("empty password"), "{err}");
    let err = fails(
        &file,
        &["passwd", "a", "--password-stdin", "--scheme", "PLAIN"],
        Some("a:b\n"),
    );
    assert!(err.contains("':'"), "{err}");
    let err = fails(
        &file,
        &["passwd", "a", "--password-stdin", "--scheme", "DES"],
        None,
    );
    assert!(err.contains("DES"), "{err}");
    let err = fails(&file, &["passwd", "zed", "--password-stdin"], Some("x\n"));
    assert!(err.contains("no account \"zed\""), "{err}");
    // Without --password-stdin and without a terminal there is nobody to ask.
    let err = fails(&file, &["passwd", "a"], None);
    assert!(err.contains("--password-stdin"), "{err}");
    assert_eq!(fs::read_to_string(&file).unwrap(), text);
}

/// Runs `postern account passwd USER` on a pseudo-terminal (Python's `pty`), answering the two
/// prompts with `first` and `second`; returns (exit code, everything the terminal showed).
fn passwd_on_pty(file: &Path, user: &str, first: &str, second: &str) -> (i32, String) {
    let script = r#"
import os, pty, select, sys, termios
bin, file, user, first, second = sys.argv[1:6]
pid, fd = pty.fork()
if pid == 0:
    os.environ["POSTERN_LOG"] = "warn"
    os.environ["RUST_BACKTRACE"] = "0"
    os.execv(bin, [bin, "account", "--passwd-file", file, "passwd", user, "--scheme", "SHA256-CRYPT"])
seen = b""
def wait_for(needle):
    global seen
    while needle not in seen:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            sys.stderr.write("timed out waiting for %r, saw %r\n" % (needle, seen))
            sys.exit(99)
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            sys.stderr.write("EOF waiting for %r, saw %r\n" % (needle, seen))
            sys.exit(98)
        seen += chunk
wait_for(b"New password for " + user.encode() + b": ")
if first == "^C":
    # What the terminal's echo is now (it must be off), then Ctrl-C.
    echo_during = termios.tcgetattr(fd)[3] & termios.ECHO
    os.write(fd, b"\x03")
else:
    os.write(fd, first.encode() + b"\n")
    wait_for(b"Retype the new password: ")
    os.write(fd, second.encode() + b"\n")
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
_, status = os.waitpid(pid, 0)
if first == "^C":
    echo_after = termios.tcgetattr(fd)[3] & termios.ECHO
    seen += b"\n[echo during prompt: %d, after: %d]" % (bool(echo_during), bool(echo_after))
sys.stdout.buffer.write(seen)
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let out = Command::new("python3")
        .args(["-c", script, BIN])
        .arg(file)
        .args([user, first, second])
        .output()
        .expect("python3 is needed for the pseudo-terminal test");
    assert!(
        out.status.code().is_some_and(|c| c != 98 && c != 99),
        "pty driver failed: {}",
        stderr(&out)
    );
    (out.status.code().unwrap(), stdout(&out))
}

#[test]
fn passwd_on_a_terminal_does_not_echo() {
    let dir = tempfile::tempdir().unwrap();
    let file = users_file(&dir, "tess:{PLAIN}old\n");
    let (code, screen) = passwd_on_pty(&file, "tess", "s3cret-on-tty", "s3cret-on-tty");
    assert_eq!(code, 0, "{screen}");
    assert!(
        !screen.contains("s3cret"),
        "the password was echoed:\n{screen}"
    );
    assert!(screen.contains("password of tess changed"), "{screen}");
    assert!(password_field(&file, "tess").starts_with("{SHA256-CRYPT}$5$"));
    assert!(login(&file, "tess", "s3cret-on-tty"));

    // Two different answers change nothing.
    let before = fs::read_to_string(&file).unwrap();
    let (code, screen) = passwd_on_pty(&file, "tess", "one-thing", "another");
    assert_ne!(code, 0, "{screen}");
    assert!(screen.contains("do not match"), "{screen}");
    assert!(
        !screen.contains("one-thing") && !screen.contains("another"),
        "{screen}"
    );
    assert_eq!(fs::read_to_string(&file).unwrap(), before);

    // Ctrl-C at the prompt: the echo is turned back on before the process ends.
    let (code, screen) = passwd_on_pty(&file, "tess", "^C", "");
    assert_ne!(code, 0, "{screen}");
    assert!(
        screen.contains("[echo during prompt: 0, after: 1]"),
        "{screen}"
    );
    assert_eq!(fs::read_to_string(&file).unwrap(), before);
}

#[test]
fn doveadm_accepts_the_argon2id_hash() {
    let dir = tempfile::tempdir().unwrap();
    let file = users_file(&dir, "");
    ok(&file, &["add", "d", "--password-stdin"], Some("dove pw\n"));
    let field = password_field(&file, "d");
    assert!(field.starts_with("{ARGON2ID}"), "{field}");
    assert!(login(&file, "d", "dove pw"));
    let check = |password: &str| {
        Command::new("doveadm")
            .args(["pw", "-t", &field, "-p", password])
            .output()
    };
    let out = match check("dove pw") {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("doveadm is not installed; skipping the Dovecot half of this test");
            return;
        }
        Err(e) => panic!("running doveadm: {e}"),
    };
    assert!(
        out.status.success() && stdout(&out).contains("(verified)"),
        "doveadm pw -t: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = check("dove px").unwrap();
    assert!(!out.status.success(), "doveadm accepted a wrong password");
}

#[test]
fn set_one_account() {
    let dir = tempfile::tempdir().unwrap();
    let original = "# c\nbob:{PLAIN}b\nkim:{PLAIN}k:::::: quota=1G mail=maildir:~/Mail pop3=off\n";
    let file = users_file(&dir, original);
    let out = ok(
        &file,
        &[
            "set",
            "bob",
            "--pop3",
            "off",
            "--imap",
            "off",
            "--login-type",
            "secure",
            "--retrieval-format",
            "imap=best",
            "--nologin",
            "on",
        ],
        None,
    );
    assert_eq!(out, "1 of 1 account changed\n");
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "# c\nbob:{PLAIN}b::::::pop3=off imap=off pop3_login_type=secure imap_login_type=secure \
         imap_retrieval_format=best nologin\n\
         kim:{PLAIN}k:::::: quota=1G mail=maildir:~/Mail pop3=off\n"
    );
    // `default` takes overrides away again, without touching their neighbours.
    ok(
        &file,
        &[
            "set",
            "bob",
            "--login-type",
            "pop3=default",
            "--retrieval-format",
            "default",
            "--pop3",
            "on",
            "--nologin",
            "off",
        ],
        None,
    );
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "# c\nbob:{PLAIN}b::::::pop3=on imap=off imap_login_type=secure\n\
         kim:{PLAIN}k:::::: quota=1G mail=maildir:~/Mail pop3=off\n"
    );
    // Asking for what already is so rewrites nothing.
    let inode = fs::metadata(&file).unwrap().ino();
    let out = ok(
        &file,
        &["set", "kim", "--pop3", "off", "--imap", "on"],
        None,
    );
    assert_eq!(out, "0 of 1 account changed\n");
    assert_eq!(fs::metadata(&file).unwrap().ino(), inode);

    let db = PasswdDb::load(&file).unwrap();
    let bob = db.lookup("bob").unwrap();
    assert!(bob.pop3_enabled && !bob.imap_enabled && !bob.nologin);
    assert_eq!(bob.pop3_login_type, None);
    assert_eq!(
        bob.imap_login_type,
        Some(postern::policy::LoginType::Secure)
    );

    let before = fs::read_to_string(&file).unwrap();
    for (args, needle) in [
        (&["set", "bob"][..], "nothing to set"),
        (&["set", "--pop3", "off"][..], "required"),
        (
            &["set", "bob", "--all", "--pop3", "off"][..],
            "cannot be used",
        ),
        (
            &["set", "bob", "--login-type", "open"][..],
            "plaintext-login",
        ),
        (
            &["set", "bob", "--login-type", "smtp=secure"][..],
            "pop3= or imap=",
        ),
        (
            &["set", "bob", "--retrieval-format", "html"][..],
            "html-only",
        ),
        (&["set", "bob", "--pop3", "maybe"][..], "maybe"),
        (
            &["set", "nobody", "--pop3", "off"][..],
            "no account \"nobody\"",
        ),
        (
            &["set", "--match", "x*", "--pop3", "off"][..],
            "no account matches",
        ),
    ] {
        let err = fails(&file, args, None);
        assert!(err.contains(needle), "{args:?}: {needle:?} in {err}");
    }
    assert_eq!(fs::read_to_string(&file).unwrap(), before);
}

#[test]
fn config_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = users_file(&dir, "a:{PLAIN}a\n");
    let config = dir.path().join("postern.toml");
    fs::write(
        &config,
        "[[listener]]\nkind = \"pop3\"\naddress = \"127.0.0.1:0\"\n\n[pop3]\n\
         login_type = \"plaintext\"\n\n[auth]\npasswd_file = \"users\"\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("account")
            .args(args)
            .env("POSTERN_LOG", "warn")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(&[
        "set",
        "a",
        "--imap",
        "off",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "a:{PLAIN}a::::::imap=off\n"
    );
    let out = run(&["-c", config.to_str().unwrap(), "list"]);
    assert!(stdout(&out).contains("\na  "), "{}", stdout(&out));
    let out = run(&[
        "list",
        "--config",
        dir.path().join("missing.toml").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));
}

/// A 10,000-account file with everything an administrator's file has: comments, blank lines,
/// CRLF lines, short lines, unknown extra fields, `:` inside extra fields.
fn big_file() -> String {
    let mut text = String::from("# Generated accounts\n#\n\n");
    for i in 0..10_000 {
        if i % 100 == 0 {
            text.push_str(&format!("# --- block {} ---\n", i / 100));
        }
        if i % 250 == 0 {
            text.push_str("   \n");
        }
        let domain = if i % 2 == 0 {
            "example.org"
        } else {
            "example.net"
        };
        let user = format!("user{i}@{domain}");
        let end = if i % 7 == 0 { "\r\n" } else { "\n" };
        let line = match i % 4 {
            0 => format!("{user}:{{PLAIN}}pw{i}"),
            1 => format!(
                "{user}:{{PLAIN}}pw{i}:{}:100:User {i}:/home/u{i}:/bin/false:x-billing-id={i} \
                 userdb_quota_rule=*:storage=1G",
                10_000 + i
            ),
            2 => format!("{user}:{{PLAIN}}pw{i}::::/home/u{i}::mail=maildir:~/Mail:LAYOUT=fs"),
            _ => format!("{user}:{{PLAIN}}pw{i}:::::: pop3=off   x-note=keep"),
        };
        text.push_str(&line);
        text.push_str(end);
    }
    text.push_str("# end");
    text
}

/// What a line becomes when `token` is appended to its extra fields (the independent model
/// the editor is checked against).
fn with_extra(line: &str, token: &str) -> String {
    let (body, end) = if let Some(body) = line.strip_suffix("\r\n") {
        (body, "\r\n")
    } else if let Some(body) = line.strip_suffix('\n') {
        (body, "\n")
    } else {
        (line, "")
    };
    let fields: Vec<&str> = body.splitn(8, ':').collect();
    let mut fields: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
    fields.resize(8, String::new());
    let extra = &mut fields[7];
    if !extra.is_empty() && !extra.ends_with(' ') {
        extra.push(' ');
    }
    extra.push_str(token);
    format!("{}{end}", fields.join(":"))
}

fn is_account(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

#[test]
fn bulk_set_on_10000_accounts_keeps_every_other_byte() {
    let dir = tempfile::tempdir().unwrap();
    let original = big_file();
    let file = users_file(&dir, &original);

    let out = ok(&file, &["set", "--all", "--imap", "off"], None);
    assert_eq!(out, "10000 of 10000 accounts changed\n");
    let after_all = fs::read_to_string(&file).unwrap();
    let old: Vec<&str> = original.split_inclusive('\n').collect();
    let new: Vec<&str> = after_all.split_inclusive('\n').collect();
    assert_eq!(old.len(), new.len());
    for (n, (a, b)) in old.iter().zip(&new).enumerate() {
        if is_account(a) {
            assert_eq!(*b, with_extra(a, "imap=off"), "line {}", n + 1);
        } else {
            assert_eq!(a, b, "line {} is not an account and must not change", n + 1);
        }
    }

    // Only the .net half, one protocol.
    let out = ok(
        &file,
        &[
            "set",
            "--match",
            "*@example.net",
            "--login-type",
            "pop3=secure",
        ],
        None,
    );
    assert_eq!(out, "5000 of 5000 accounts changed\n");
    let after_match = fs::read_to_string(&file).unwrap();
    let newer: Vec<&str> = after_match.split_inclusive('\n').collect();
    assert_eq!(new.len(), newer.len());
    for (n, (a, b)) in new.iter().zip(&newer).enumerate() {
        if is_account(a) && a.split(':').next().unwrap().ends_with("@example.net") {
            assert_eq!(
                *b,
                with_extra(a, "pop3_login_type=secure"),
                "line {}",
                n + 1
            );
        } else {
            assert_eq!(a, b, "line {} must not change", n + 1);
        }
    }

    let db = PasswdDb::load(&file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(db.len(), 10_000);
    let a = db.lookup("user3@example.net").unwrap();
    assert!(!a.pop3_enabled && !a.imap_enabled);
    assert_eq!(a.pop3_login_type, Some(postern::policy::LoginType::Secure));
    let a = db.lookup("user2@example.org").unwrap();
    assert_eq!(a.pop3_login_type, None);
    assert_eq!(a.maildir("/x").as_deref(), Some(Path::new("/home/u2/Mail")));
    assert!(login(&file, "user9999@example.net", "pw9999"));

    // Removing the override again gives back the file as it was after the first change.
    let out = ok(
        &file,
        &["set", "--all", "--login-type", "pop3=default"],
        None,
    );
    assert_eq!(out, "5000 of 10000 accounts changed\n");
    assert_eq!(fs::read_to_string(&file).unwrap(), after_all);
}

#[test]
fn broken_files_are_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let text = "# ok so far\na:{PLAIN}a\r\nb:{FOO}b\nc:{PLAIN}c:x\n";
    let file = users_file(&dir, text);
    fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
    let meta = fs::metadata(&file).unwrap();
    for args in [
        &["set", "--all", "--pop3", "off"][..],
        &["set", "a", "--pop3", "off"][..],
        &["remove", "a"][..],
        &["passwd", "a", "--password-stdin"][..],
        &["add", "z", "--password-stdin"][..],
        &["list"][..],
        &["show", "a"][..],
    ] {
        let err = fails(&file, args, Some("pw\n"));
        let location = format!(
            "{}:3: user b: unknown password scheme {{FOO}}",
            file.display()
        );
        assert!(err.contains(&location), "{args:?}: {location:?} in {err}");
    }
    let after = fs::metadata(&file).unwrap();
    assert_eq!(fs::read_to_string(&file).unwrap(), text);
    assert_eq!(
        (after.ino(), after.mtime(), after.mtime_nsec(), after.mode()),
        (meta.ino(), meta.mtime(), meta.mtime_nsec(), meta.mode())
    );
    assert_no_temporary_files(dir.path());
}

fn assert_no_temporary_files(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "left behind: {name}");
    }
}

#[test]
fn concurrent_sets_lose_no_change() {
    let dir = tempfile::tempdir().unwrap();
    // Big enough that each command takes a while, so the runs really overlap.
    let mut text = String::new();
    for i in 0..3000 {
        text.push_str(&format!("u{i}:{{PLAIN}}p{i}:::::: x-keep={i}\n"));
    }
    let file = users_file(&dir, &text);
    let children: Vec<_> = (0..12)
        .map(|k| {
            let user = format!("u{}", k * 250);
            let format = ["text-only", "html-only", "best"][k % 3];
            Command::new(BIN)
                .args(["account", "--passwd-file"])
                .arg(&file)
                .args(["set", &user, "--pop3", "off", "--retrieval-format"])
                .arg(format!("imap={format}"))
                .env("POSTERN_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out), "1 of 1 account changed\n");
    }
    let db = PasswdDb::load(&file).unwrap();
    for k in 0..12 {
        let a = db.lookup(&format!("u{}", k * 250)).unwrap();
        assert!(!a.pop3_enabled, "{}: change lost", a.user);
        assert!(a.imap_retrieval_format.is_some(), "{}: change lost", a.user);
    }
    let changed = fs::read_to_string(&file)
        .unwrap()
        .lines()
        .filter(|l| l.contains("pop3=off"))
        .count();
    assert_eq!(changed, 12);
    assert_no_temporary_files(dir.path());
}

#[test]
fn mode_and_owner_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let file = users_file(&dir, "a:{PLAIN}a\n");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
    let root = fs::metadata(&file).unwrap().uid() == 0;
    if root {
        // As root the owner can be anyone, and must stay who it was.
        std::os::unix::fs::chown(&file, Some(4321), Some(4322)).unwrap();
    }
    let before = fs::metadata(&file).unwrap();
    ok(&file, &["set", "a", "--pop3", "off"], None);
    let after = fs::metadata(&file).unwrap();
    assert_ne!(
        after.ino(),
        before.ino(),
        "replaced, not rewritten in place"
    );
    assert_eq!(after.mode() & 0o7777, 0o640);
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
    ok(
        &file,
        &["passwd", "a", "--password-stdin", "--scheme", "PLAIN"],
        Some("b\n"),
    );
    let after = fs::metadata(&file).unwrap();
    assert_eq!(after.mode() & 0o7777, 0o640);
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "a:{PLAIN}b::::::pop3=off\n"
    );
}
