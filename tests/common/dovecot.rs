//! A real Dovecot 2.3 for tests to compare Postern against: started unprivileged-style on
//! ephemeral 127.0.0.1 ports over a given Maildir, with a one-user passwd-file, stopped when
//! dropped.
//!
//! Dovecot refuses to read mail as root. When the tests run as root (as in CI), its mail and
//! login processes therefore run as `nobody`, and the maildir is handed to `nobody`; the
//! test process, still root, can read and write everything. As any other user, everything
//! runs as that user. Dovecot missing or of the wrong version is a test failure, not a
//! skip: CI installs it, and these tests are the proof of compatibility.

use std::fs;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Dovecot.
pub struct DovecotServer {
    child: Child,
    dir: tempfile::TempDir,
    ports: Vec<(String, u16)>,
    /// uid/gid Dovecot reads mail as, when that differs from ours (we are root).
    mail_owner: Option<(u32, u32)>,
}

/// The identity Dovecot's processes run as.
struct Identity {
    user: String,
    group: String,
    uid: u32,
    gid: u32,
}

fn id(args: &[&str]) -> String {
    let out = Command::new("id")
        .args(args)
        .output()
        .expect("cannot run `id`");
    assert!(out.status.success(), "id {args:?} failed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn identity() -> (Identity, bool) {
    let root = id(&["-u"]) == "0";
    // Dovecot will not touch mail as root, so as root it works as `nobody`.
    let who: &[&str] = if root { &["nobody"] } else { &[] };
    let with = |flag: &str| {
        let mut args = vec![flag];
        args.extend_from_slice(who);
        id(&args)
    };
    let identity = Identity {
        user: with("-un"),
        group: with("-gn"),
        uid: with("-u").parse().unwrap(),
        gid: with("-g").parse().unwrap(),
    };
    (identity, root)
}

/// The `dovecot` binary, checked to be version 2.3.
fn dovecot_binary() -> PathBuf {
    let candidates = [PathBuf::from("dovecot"), PathBuf::from("/usr/sbin/dovecot")];
    for bin in candidates {
        if let Ok(out) = Command::new(&bin).arg("--version").output() {
            let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            assert!(
                version.starts_with("2.3"),
                "these tests need Dovecot 2.3 (its uidlist and UIDL formats), found {version:?}"
            );
            return bin;
        }
    }
    panic!(
        "Dovecot is not installed (no `dovecot` in PATH or /usr/sbin): install the Debian \
         packages dovecot-core, dovecot-pop3d and dovecot-imapd (.ci/run does)"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("cannot bind an ephemeral port")
        .port()
}

/// Lets `nobody` reach the maildir: opens the search bit of its ancestors inside the
/// system temporary directory (test directories are created 0700).
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

/// `chown -R uid:gid path`.
pub fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    if fs::symlink_metadata(path).unwrap().is_dir() {
        for entry in fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid, gid);
        }
    }
}

impl DovecotServer {
    /// Starts Dovecot serving `maildir_root` as the INBOX of `user`/`password`, listening on
    /// 127.0.0.1 for each of `protocols` ("pop3", "imap"). Returns once every port accepts.
    pub fn start(
        maildir_root: &Path,
        user: &str,
        password: &str,
        protocols: &[&str],
    ) -> DovecotServer {
        DovecotServer::start_with(maildir_root, user, password, protocols, None, "")
    }

    /// [`start`](Self::start) with TLS (`cert`/`key` PEM files: `ssl = yes`, and the
    /// implicit-TLS ports `imaps`/`pop3s` listen too) and `extra` configuration lines.
    pub fn start_with(
        maildir_root: &Path,
        user: &str,
        password: &str,
        protocols: &[&str],
        tls: Option<(&Path, &Path)>,
        extra: &str,
    ) -> DovecotServer {
        let bin = dovecot_binary();
        let (who, root) = identity();
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let d = dir.path().display();

        let mail_owner = root.then_some((who.uid, who.gid));
        if let Some((uid, gid)) = mail_owner {
            fs::create_dir_all(maildir_root).unwrap();
            chown_tree(maildir_root, uid, gid);
            open_path_to(maildir_root);
        }

        // Only root may chroot, so no service does: the same configuration then works for
        // root and for any other user.
        let mut ports = Vec::new();
        let mut services = String::new();
        for &proto in protocols {
            let port = free_port();
            ports.push((proto.to_owned(), port));
            let tls_port = match tls {
                Some(_) => {
                    let p = free_port();
                    ports.push((format!("{proto}s"), p));
                    p
                }
                None => 0,
            };
            services.push_str(&format!(
                "service {proto}-login {{\n  chroot =\n  inet_listener {proto} {{\n    \
                 address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener {proto}s {{\n    \
                 address = 127.0.0.1\n    port = {tls_port}\n  }}\n}}\n"
            ));
        }
        let ssl = match tls {
            Some((cert, key)) => format!(
                "ssl = yes\nssl_cert = <{}\nssl_key = <{}\n",
                cert.display(),
                key.display()
            ),
            None => "ssl = no\n".to_owned(),
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
             pop3_lock_session = yes\n\
             passdb {{\n  driver = passwd-file\n  args = {d}/passwd\n}}\n\
             userdb {{\n  driver = passwd-file\n  args = {d}/passwd\n}}\n\
             {services}\
             {unchrooted}\
             {extra}\n",
            unchrooted = ["anvil", "ipc", "old-stats", "aggregator"]
                .iter()
                .map(|s| format!("service {s} {{\n  chroot =\n}}\n"))
                .collect::<String>(),
            protocols = protocols.join(" "),
            maildir = maildir_root.display(),
            user_name = who.user,
            group_name = who.group,
            uid = who.uid,
            gid = who.gid,
        );
        fs::write(dir.path().join("dovecot.conf"), config).unwrap();
        fs::write(
            dir.path().join("passwd"),
            format!("{user}:{{PLAIN}}{password}:::::\n"),
        )
        .unwrap();

        let child = Command::new(bin)
            .arg("-F")
            .arg("-c")
            .arg(dir.path().join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start dovecot");
        let mut server = DovecotServer {
            child,
            dir,
            ports,
            mail_owner,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        for (proto, port) in self.ports.clone() {
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break;
                }
                if let Ok(Some(status)) = self.child.try_wait() {
                    let mut err = String::new();
                    if let Some(mut e) = self.child.stderr.take() {
                        let _ = e.read_to_string(&mut err);
                    }
                    panic!(
                        "dovecot exited ({status}) before listening for {proto}: {err}\n{}",
                        self.log()
                    );
                }
                assert!(
                    Instant::now() < deadline,
                    "dovecot does not accept {proto} connections on port {port}\n{}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The port for a protocol passed to [`start`](Self::start).
    pub fn port(&self, protocol: &str) -> u16 {
        self.ports
            .iter()
            .find(|(p, _)| p == protocol)
            .map(|&(_, port)| port)
            .unwrap_or_else(|| panic!("dovecot was not started for {protocol}"))
    }

    /// Dovecot's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// Hands a file or tree the test created to the user Dovecot reads mail as (a no-op
    /// unless the tests run as root), as an MDA delivering for that user would.
    pub fn give_to_mail_user(&self, path: &Path) {
        if let Some((uid, gid)) = self.mail_owner {
            chown_tree(path, uid, gid);
        }
    }
}

impl Drop for DovecotServer {
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
