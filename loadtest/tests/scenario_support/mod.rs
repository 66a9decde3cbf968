//! Shared by the scenario tests: test mail, Maildirs, a run configuration, a real Postern
//! started in-process, a real Dovecot started unprivileged, and a tiny fake POP3 server whose
//! answers can be made wrong on purpose.
//!
//! Each test crate uses only some of these helpers.
#![allow(dead_code)]

use std::fs;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use postern_load::scenario::{Kind, LinkProfile, Protocol, RunConfig, Transport};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Messages with the shapes that break naive clients and servers: dot lines, bare LF, CRLF,
/// no final line end, a long line, 8-bit bytes, and a big one.
pub fn edge_messages() -> Vec<Vec<u8>> {
    let mut big = b"From: big@example.org\nTo: you@example.org\nSubject: big\n\n".to_vec();
    for i in 0..3000 {
        big.extend_from_slice(
            format!("line {i} of a larger message, with some padding text\n").as_bytes(),
        );
        if i % 500 == 0 {
            big.extend_from_slice(b".a line starting with a dot\n");
        }
    }
    let mut long = b"Subject: long line\n\n".to_vec();
    long.extend(std::iter::repeat_n(b'x', 20_000));
    long.push(b'\n');
    vec![
        b"From: a@example.org\nTo: b@example.org\nSubject: dots\nMessage-ID: <1@test>\n\n.\n..\n.x\nend\n".to_vec(),
        b"From: a@example.org\r\nSubject: crlf\r\n\r\nbody\r\n".to_vec(),
        b"From: a@example.org\nSubject: no final newline\n\nlast line".to_vec(),
        b"From: a@example.org\nSubject: 8bit\n\ncaf\xc3\xa9 \xff\xfe\n".to_vec(),
        long,
        big,
    ]
}

/// Up to `n` messages of the project's shared corpus (real mail), if it is there.
pub fn corpus(n: usize) -> Vec<Vec<u8>> {
    let roots = [
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"),
        PathBuf::from("/work/shared/corpus"),
    ];
    let Some(root) = roots.iter().find(|r| r.is_dir()) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if name != "LICENSES" {
                    stack.push(p);
                }
            } else if name != "SOURCES.tsv" {
                files.push(p);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .take(n)
        .filter_map(|p| fs::read(p).ok())
        .collect()
}

/// Writes `messages` into a Maildir (`cur/`, already seen) and returns the file paths in
/// delivery order.
pub fn fill_maildir(dir: &Path, messages: &[Vec<u8>]) -> Vec<PathBuf> {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let p = dir
                .join("cur")
                .join(format!("{}.M{i}P1.loadtest:2,", 1_700_000_000 + i));
            fs::write(&p, m).unwrap();
            p
        })
        .collect()
}

/// A run of `kind` against 127.0.0.1:`port` with small, test-sized limits.
pub fn run_config(kind: Kind, port: u16, users: &[(&str, &str)]) -> RunConfig {
    RunConfig {
        kind,
        host: "127.0.0.1".into(),
        port,
        pop3_port: port,
        imap_port: port,
        login_protocol: Protocol::Pop3,
        transport: Transport::Plain,
        sni: String::new(),
        insecure: false,
        cafile: None,
        users: users
            .iter()
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect(),
        connections: 2,
        sessions: Some(4),
        duration: Duration::from_secs(60),
        link: LinkProfile::preset("unlimited").unwrap(),
        source_ips: Vec::new(),
        maildir_template: None,
        verify_sample: 0.0,
        timeout: Duration::from_secs(10),
    }
}

/// Prints what a run recorded (shown when a test fails).
pub fn describe(snap: &postern_load::metrics::Snapshot) -> String {
    let steps: Vec<String> = snap
        .recorded_steps()
        .map(|s| format!("{s}={}", snap.count(s)))
        .collect();
    format!(
        "sessions={} bytes={} errors={:?} steps=[{}]",
        snap.sessions,
        snap.bytes,
        snap.errors,
        steps.join(" ")
    )
}

// ---------------------------------------------------------------------------------------
// Postern, in-process

/// A Postern server on ephemeral ports over a temporary directory.
pub struct Postern {
    handle: Option<postern::server::ServerHandle>,
    pub dir: tempfile::TempDir,
    pub pop3: SocketAddr,
    pub pop3s: SocketAddr,
    pub cert: PathBuf,
}

impl Postern {
    /// `accounts`: (user, password). Mail is at `<dir>/home/<user>/Maildir`.
    pub fn start(accounts: &[(&str, &str)]) -> Postern {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        fs::write(d.join("cert.pem"), cert.cert.pem()).unwrap();
        fs::write(d.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
        let mut users = String::new();
        for (user, pass) in accounts {
            let home = d.join("home").join(user);
            fs::create_dir_all(&home).unwrap();
            users.push_str(&format!(
                "{user}:{{PLAIN}}{pass}:::{user}:{}::\n",
                home.display()
            ));
        }
        fs::write(d.join("users"), users).unwrap();
        let config = r#"
[server]
workers = 2
preauth_timeout = "30s"
shutdown_grace = "2s"
[tls]
cert = "cert.pem"
key = "key.pem"
[auth]
passwd_file = "users"
failure_delay = "100ms"
max_failure_delay = "1s"
[mail]
location = "~/Maildir"
fsync = false
[pop3]
login_type = "plaintext"
lock_session = false
[[listener]]
kind = "pop3"
address = "127.0.0.1:0"
[[listener]]
kind = "pop3s"
address = "127.0.0.1:0"
"#;
        fs::write(d.join("postern.toml"), config).unwrap();
        let config = postern::config::Config::load(&d.join("postern.toml")).unwrap();
        let handle = postern::server::start(config).unwrap();
        let pop3 = handle.addr(postern::config::ListenerKind::Pop3).unwrap();
        let pop3s = handle.addr(postern::config::ListenerKind::Pop3s).unwrap();
        Postern {
            handle: Some(handle),
            pop3,
            pop3s,
            cert: d.join("cert.pem"),
            dir,
        }
    }

    /// The `--maildir-template` for this server's accounts.
    pub fn template(&self) -> String {
        format!("{}/home/%u/Maildir", self.dir.path().display())
    }

    pub fn maildir(&self, user: &str) -> PathBuf {
        self.dir.path().join("home").join(user).join("Maildir")
    }
}

impl Drop for Postern {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            // From a fresh thread: the server's runtime must not be woken from a thread
            // that is unwinding (a failed assertion) or from inside the test's runtime.
            let _ =
                std::thread::spawn(move || h.shutdown_with_grace(Duration::from_secs(2))).join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Dovecot, unprivileged (after tests/common/dovecot.rs of the server crate)

/// A running Dovecot 2.3 serving one Maildir as the INBOX of every account.
pub struct Dovecot {
    child: Child,
    dir: tempfile::TempDir,
    ports: Vec<(String, u16)>,
    mail_owner: Option<(u32, u32)>,
}

fn id(args: &[&str]) -> String {
    let out = Command::new("id")
        .args(args)
        .output()
        .expect("cannot run `id`");
    assert!(out.status.success(), "id {args:?} failed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `chown -R uid:gid path`.
pub fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    if fs::symlink_metadata(path).unwrap().is_dir() {
        for entry in fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid, gid);
        }
    }
}

/// Lets `nobody` reach `path`: opens the search bit of its ancestors inside the system
/// temporary directory.
fn open_path_to(path: &Path) {
    let tmp = std::env::temp_dir();
    for dir in path.ancestors().skip(1) {
        if dir == tmp || !dir.starts_with(&tmp) {
            break;
        }
        let mode = fs::metadata(dir).unwrap().permissions().mode();
        fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o711)).unwrap();
    }
}

impl Dovecot {
    /// Starts Dovecot with `maildir` (which must be under the system temporary directory) as
    /// the INBOX of `accounts`, for `protocols` ("pop3", "imap"). Dovecot refuses to read mail
    /// as root, so as root its processes run as `nobody` and the Maildir is handed over.
    pub fn start(maildir: &Path, accounts: &[(&str, &str)], protocols: &[&str]) -> Dovecot {
        Dovecot::start_with(maildir, accounts, protocols, false)
    }

    /// Like [`start`](Self::start); with `tls`, also STARTTLS/STLS and implicit-TLS ports
    /// (`imaps`, `pop3s`) with a fresh self-signed certificate for "localhost", whose path
    /// is [`cert`](Self::cert).
    pub fn start_with(
        maildir: &Path,
        accounts: &[(&str, &str)],
        protocols: &[&str],
        tls: bool,
    ) -> Dovecot {
        let version = Command::new("dovecot")
            .arg("--version")
            .output()
            .or_else(|_| Command::new("/usr/sbin/dovecot").arg("--version").output())
            .expect("Dovecot 2.3 must be installed (dovecot-imapd, dovecot-pop3d)");
        let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
        assert!(
            version.starts_with("2.3"),
            "need Dovecot 2.3, found {version:?}"
        );

        let root = id(&["-u"]) == "0";
        let who: &[&str] = if root { &["nobody"] } else { &[] };
        let with = |flag: &str| {
            let mut args = vec![flag];
            args.extend_from_slice(who);
            id(&args)
        };
        let (user_name, group_name) = (with("-un"), with("-gn"));
        let uid: u32 = with("-u").parse().unwrap();
        let gid: u32 = with("-g").parse().unwrap();

        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let d = dir.path().display();
        let mail_owner = root.then_some((uid, gid));
        if let Some((uid, gid)) = mail_owner {
            fs::create_dir_all(maildir).unwrap();
            chown_tree(maildir, uid, gid);
            open_path_to(maildir);
        }

        let mut ports = Vec::new();
        let mut services = String::new();
        for &proto in protocols {
            let port = free_port();
            ports.push((proto.to_owned(), port));
            let tls_port = if tls { free_port() } else { 0 };
            if tls {
                ports.push((format!("{proto}s"), tls_port));
            }
            services.push_str(&format!(
                "service {proto}-login {{\n  chroot =\n  inet_listener {proto} {{\n    \
                 address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener {proto}s {{\n    \
                 address = 127.0.0.1\n    port = {tls_port}\n  }}\n}}\n"
            ));
        }
        let ssl = if tls {
            let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
            fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
            fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
            format!("ssl = yes\nssl_cert = <{d}/cert.pem\nssl_key = <{d}/key.pem\n")
        } else {
            "ssl = no\n".to_owned()
        };
        let config = format!(
            "base_dir = {d}/run\n\
             state_dir = {d}/state\n\
             log_path = {d}/dovecot.log\n\
             {ssl}\
             disable_plaintext_auth = no\n\
             auth_mechanisms = plain login\n\
             protocols = {protocols}\n\
             listen = 127.0.0.1\n\
             mail_location = maildir:{maildir}\n\
             default_internal_user = {user_name}\n\
             default_internal_group = {group_name}\n\
             default_login_user = {user_name}\n\
             mail_uid = {uid}\n\
             mail_gid = {gid}\n\
             first_valid_uid = {uid}\n\
             first_valid_gid = {gid}\n\
             passdb {{\n  driver = passwd-file\n  args = {d}/passwd\n}}\n\
             userdb {{\n  driver = passwd-file\n  args = {d}/passwd\n}}\n\
             {services}\
             {unchrooted}",
            unchrooted = ["anvil", "ipc", "old-stats", "aggregator"]
                .iter()
                .map(|s| format!("service {s} {{\n  chroot =\n}}\n"))
                .collect::<String>(),
            protocols = protocols.join(" "),
            maildir = maildir.display(),
        );
        fs::write(dir.path().join("dovecot.conf"), config).unwrap();
        let passwd: String = accounts
            .iter()
            .map(|(u, p)| format!("{u}:{{PLAIN}}{p}:::::\n"))
            .collect();
        fs::write(dir.path().join("passwd"), passwd).unwrap();

        let child = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(dir.path().join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .or_else(|_| {
                Command::new("/usr/sbin/dovecot")
                    .arg("-F")
                    .arg("-c")
                    .arg(dir.path().join("dovecot.conf"))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
            })
            .expect("cannot start dovecot");
        let mut server = Dovecot {
            child,
            dir,
            ports,
            mail_owner,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        for (proto, port) in server.ports.clone() {
            while StdStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = server.child.try_wait() {
                    panic!(
                        "dovecot exited ({status}) before listening for {proto}:\n{}",
                        server.log()
                    );
                }
                assert!(
                    Instant::now() < deadline,
                    "dovecot is not listening for {proto}:\n{}",
                    server.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        server
    }

    pub fn port(&self, protocol: &str) -> u16 {
        self.ports
            .iter()
            .find(|(p, _)| p == protocol)
            .map(|&(_, port)| port)
            .unwrap()
    }

    /// The certificate of a server started with TLS.
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// Hands a file or tree the test created to the user Dovecot reads mail as.
    pub fn give_to_mail_user(&self, path: &Path) {
        if let Some((uid, gid)) = self.mail_owner {
            chown_tree(path, uid, gid);
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its children; SIGKILL would orphan them.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// A fake POP3 server

/// What the fake server serves, and how it lies.
#[derive(Clone, Default)]
pub struct FakePop3 {
    /// Message bodies as they should go on the wire (CRLF), before dot-stuffing.
    pub messages: Vec<Vec<u8>>,
    /// Sizes LIST and STAT report (default: the true sizes).
    pub listed: Option<Vec<u64>>,
    /// Unique ids (default: Dovecot-style from `uid_validity` and UID = position + 1).
    pub uidls: Option<Vec<String>>,
    pub uid_validity: u32,
}

impl FakePop3 {
    /// Serves on 127.0.0.1 until the test's runtime ends; returns the port.
    pub async fn spawn(self) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = Arc::new(self);
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let me = me.clone();
                tokio::spawn(async move {
                    let _ = me.session(sock).await;
                });
            }
        });
        port
    }

    async fn session(&self, sock: tokio::net::TcpStream) -> std::io::Result<()> {
        let (r, mut w) = sock.into_split();
        let mut r = BufReader::new(r);
        let sizes: Vec<u64> = self
            .listed
            .clone()
            .unwrap_or_else(|| self.messages.iter().map(|m| m.len() as u64).collect());
        let uidls: Vec<String> = self.uidls.clone().unwrap_or_else(|| {
            (1..=self.messages.len())
                .map(|uid| format!("{uid:08x}{:08x}", self.uid_validity))
                .collect()
        });
        w.write_all(b"+OK fake POP3 ready\r\n").await?;
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let cmd = line.trim_end().to_ascii_uppercase();
            let mut out = Vec::new();
            let arg = |c: &str| -> Option<usize> { c.split(' ').nth(1)?.parse().ok() };
            if cmd.starts_with("USER") || cmd.starts_with("PASS") || cmd == "RSET" || cmd == "NOOP"
            {
                out.extend_from_slice(b"+OK\r\n");
            } else if cmd == "STAT" {
                let total: u64 = sizes.iter().sum();
                out.extend_from_slice(format!("+OK {} {total}\r\n", sizes.len()).as_bytes());
            } else if cmd == "LIST" {
                out.extend_from_slice(b"+OK\r\n");
                for (i, s) in sizes.iter().enumerate() {
                    out.extend_from_slice(format!("{} {s}\r\n", i + 1).as_bytes());
                }
                out.extend_from_slice(b".\r\n");
            } else if cmd == "UIDL" {
                out.extend_from_slice(b"+OK\r\n");
                for (i, u) in uidls.iter().enumerate() {
                    out.extend_from_slice(format!("{} {u}\r\n", i + 1).as_bytes());
                }
                out.extend_from_slice(b".\r\n");
            } else if cmd.starts_with("RETR") {
                match arg(&cmd).and_then(|n| self.messages.get(n.wrapping_sub(1))) {
                    None => out.extend_from_slice(b"-ERR no such message\r\n"),
                    Some(m) => {
                        out.extend_from_slice(b"+OK\r\n");
                        for l in m.split_inclusive(|&b| b == b'\n') {
                            if l.first() == Some(&b'.') {
                                out.push(b'.');
                            }
                            out.extend_from_slice(l);
                        }
                        if !m.ends_with(b"\n") {
                            out.extend_from_slice(b"\r\n");
                        }
                        out.extend_from_slice(b".\r\n");
                    }
                }
            } else if cmd == "QUIT" {
                w.write_all(b"+OK bye\r\n").await?;
                return Ok(());
            } else {
                out.extend_from_slice(b"-ERR unknown command\r\n");
            }
            w.write_all(&out).await?;
        }
    }
}

/// A `dovecot-uidlist` (version 3) for files named by [`fill_maildir`].
pub fn write_uidlist(dir: &Path, uid_validity: u32, files: &[PathBuf]) {
    let mut s = format!(
        "3 V{uid_validity} N{} G0123456789abcdef0123456789abcdef\n",
        files.len() + 1
    );
    for (i, f) in files.iter().enumerate() {
        let name = f.file_name().unwrap().to_string_lossy();
        let base = name.split(':').next().unwrap();
        s.push_str(&format!("{} :{base}\n", i + 1));
    }
    fs::write(dir.join("dovecot-uidlist"), s).unwrap();
}
