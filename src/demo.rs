//! `postern demo`: a complete, self-contained setup in one folder, for trying Postern out.
//!
//! It makes a self-signed certificate for `localhost`, a Dovecot-style passwd-file with two
//! accounts, a Maildir for each with a few dozen varied messages (written the way an MDA
//! writes them: LF line ends, some still in `new/`), and a config file that serves them on
//! high loopback ports, so no root is needed. An existing demo folder is reused as it is, so
//! mail deleted in one run stays deleted in the next.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The demo's ports: POP3, POP3S, IMAP, IMAPS.
pub const POP3_PORT: u16 = 1110;
pub const POP3S_PORT: u16 = 1995;
pub const IMAP_PORT: u16 = 1143;
pub const IMAPS_PORT: u16 = 1993;
/// Both demo accounts use this password.
pub const PASSWORD: &str = "demo";

/// A created (or reused) demo folder.
pub struct Demo {
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub reused: bool,
}

impl Demo {
    /// What to tell the user: where things are and commands that work against the demo.
    pub fn instructions(&self) -> String {
        let dir = self.dir.display();
        let state = if self.reused { "Reusing" } else { "Created" };
        format!(
            "{state} the Postern demo in {dir}
  config:    {config}   (copy it to start your own)
  accounts:  alice and bob, password \"{PASSWORD}\"  ({dir}/users)
  mail:      {dir}/mail/<user>/Maildir
  folders:   INBOX, Sent, Drafts, Trash and Archive (IMAP)
  login:     plaintext-login: passwords only after TLS (STLS/STARTTLS, or ports {POP3S_PORT} and
             {IMAPS_PORT}); APOP and CRAM-MD5 also work without TLS. bob's secret is stored in
             clear, so every mechanism works for him; alice's is an ARGON2ID hash, so she
             needs a mechanism that sends the password (USER/PASS, LOGIN, PLAIN) and so TLS.

Try IMAP:
  curl -k imaps://127.0.0.1:{IMAPS_PORT}/ -u bob:{PASSWORD}                        # list folders
  curl -k 'imaps://127.0.0.1:{IMAPS_PORT}/INBOX;UID=1' -u bob:{PASSWORD}           # read UID 1
  curl -k --ssl-reqd imap://127.0.0.1:{IMAP_PORT}/INBOX -X 'SEARCH UNSEEN' -u alice:{PASSWORD}
  openssl s_client -quiet -connect 127.0.0.1:{IMAPS_PORT}    # then: a LOGIN bob demo, b SELECT INBOX,
                                                        # c FETCH 1:3 (FLAGS ENVELOPE), d LOGOUT
Try POP3:
  curl -k pop3s://127.0.0.1:{POP3S_PORT}/ -u bob:{PASSWORD}                  # list
  curl -k pop3s://127.0.0.1:{POP3S_PORT}/1 -u bob:{PASSWORD}                 # read message 1
  curl -k --ssl-reqd pop3://127.0.0.1:{POP3_PORT}/ -u bob:{PASSWORD}         # via STLS
  curl pop3://127.0.0.1:{POP3_PORT}/ -u bob:{PASSWORD}                       # CRAM-MD5, no TLS
  curl -k --login-options AUTH=PLAIN pop3s://127.0.0.1:{POP3S_PORT}/ -u alice:{PASSWORD}
  openssl s_client -quiet -connect 127.0.0.1:{POP3S_PORT}                   # then: USER alice, PASS {PASSWORD}, LIST, QUIT
  openssl s_client -quiet -starttls pop3 -connect 127.0.0.1:{POP3_PORT}

Administer it (in another terminal):
  postern who --config {config}              # live sessions
  postern kick bob --config {config}         # end bob's sessions
  postern account set bob --imap off --config {config} && postern reload --config {config}
",
            config = self.config_path.display(),
        )
    }
}

/// Creates the demo in `dir`, or reuses the one already there.
pub fn create(dir: &Path) -> io::Result<Demo> {
    let config_path = dir.join("postern.toml");
    if config_path.exists() {
        return Ok(Demo {
            dir: dir.to_owned(),
            config_path,
            reused: true,
        });
    }
    fs::create_dir_all(dir)?;
    let dir = dir.canonicalize()?;
    write_certificate(&dir)?;
    let (uid, gid) = current_ids(&dir.join("cert.pem"));
    let alice_home = dir.join("mail/alice");
    let bob_home = dir.join("mail/bob");
    let users = format!(
        "# Dovecot-compatible passwd-file: user:password:uid:gid:gecos:home:shell:extra\n\
         alice:{alice_secret}:{uid}:{gid}:Alice Demo:{alice}::\n\
         bob:{{PLAIN}}{PASSWORD}:{uid}:{gid}:Bob Demo:{bob}::\n",
        alice_secret = argon2_secret(PASSWORD)?,
        alice = alice_home.display(),
        bob = bob_home.display(),
    );
    fs::write(dir.join("users"), users)?;
    for (home, user, count) in [(&alice_home, "alice", 36), (&bob_home, "bob", 24)] {
        let root = home.join("Maildir");
        write_mailbox(&root, user, count)?;
        write_folders(&root, user)?;
    }
    fs::write(&config_path, demo_config())?;
    Ok(Demo {
        dir,
        config_path,
        reused: false,
    })
}

fn demo_config() -> String {
    format!(
        r#"# Postern demo configuration. Paths are relative to this file.

[server]
# 0 = one worker thread per core.
workers = 0
max_connections = 1000
max_connections_per_ip = 100
max_sessions_per_user = 20
preauth_timeout = "60s"
shutdown_grace = "5s"

[tls]
cert = "cert.pem"
key = "key.pem"

[auth]
passwd_file = "users"
failure_delay = "1s"

[mail]
# %u user, %n local part, %d domain, %h or ~ home.
location = "~/Maildir"

[pop3]
# plaintext | plaintext-login | secure
login_type = "plaintext-login"
idle_timeout = "10m"

[imap]
# plaintext | plaintext-login | secure
login_type = "plaintext-login"

[admin]
# `postern who|kick|reload --config <this file>` talk to the server through it.
socket = "admin.sock"

[[listener]]
kind = "pop3"
address = "127.0.0.1:{POP3_PORT}"

[[listener]]
kind = "pop3s"
address = "127.0.0.1:{POP3S_PORT}"

[[listener]]
kind = "imap"
address = "127.0.0.1:{IMAP_PORT}"

[[listener]]
kind = "imaps"
address = "127.0.0.1:{IMAPS_PORT}"
"#
    )
}

fn write_certificate(dir: &Path) -> io::Result<()> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let cert =
        rcgen::generate_simple_self_signed(names).map_err(|e| io::Error::other(e.to_string()))?;
    fs::write(dir.join("cert.pem"), cert.cert.pem())?;
    let key = dir.join("key.pem");
    fs::write(&key, cert.signing_key.serialize_pem())?;
    set_private(&key)
}

fn set_private(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

fn argon2_secret(password: &str) -> io::Result<String> {
    use argon2::PasswordHasher;
    use argon2::password_hash::SaltString;
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| io::Error::other(e.to_string()))?;
    let hash = argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| io::Error::other(e.to_string()))?;
    Ok(format!("{{ARGON2ID}}{hash}"))
}

/// Our uid and gid, read off a file this process has just created (no `unsafe` needed).
fn current_ids(created: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(created).map_or((0, 0), |m| (m.uid(), m.gid()))
}

/// Writes `count` messages; the last quarter stays in `new/` as if just delivered.
fn write_mailbox(root: &Path, user: &str, count: usize) -> io::Result<()> {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(root.join(sub))?;
    }
    let base_time = 1_767_225_600u64; // 2026-01-01
    for i in 0..count {
        let text = message(user, i);
        let time = base_time + i as u64 * 3_600;
        let name = format!("{time}.M{i}P4242.demo,S={}", text.len());
        let path = if i >= count * 3 / 4 {
            root.join("new").join(&name)
        } else {
            root.join("cur").join(format!("{name}:2,"))
        };
        fs::write(path, text)?;
    }
    Ok(())
}

/// The usual IMAP folders, Maildir++ style (`.Name` beside `cur/`), as Dovecot lays them out,
/// a few messages in Sent and Archive, and all of them subscribed.
fn write_folders(root: &Path, user: &str) -> io::Result<()> {
    let folders = ["Sent", "Drafts", "Trash", "Archive"];
    for (n, folder) in folders.iter().enumerate() {
        let dir = root.join(format!(".{folder}"));
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        fs::write(dir.join("maildirfolder"), b"")?;
        let count = match *folder {
            "Sent" => 3,
            "Archive" => 5,
            _ => 0,
        };
        for i in 0..count {
            let text = message(user, 100 + n * 10 + i);
            let time = 1_767_225_600u64 + (n * 10 + i) as u64 * 86_400;
            let name = format!("{time}.M{n}{i}P4242.demo,S={}:2,S", text.len());
            fs::write(dir.join("cur").join(name), text)?;
        }
    }
    let mut subscriptions = String::from("V\t2\n\n");
    for folder in folders {
        subscriptions.push_str(folder);
        subscriptions.push('\n');
    }
    fs::write(root.join("subscriptions"), subscriptions)
}

const FRIENDS: [(&str, &str); 5] = [
    ("Carol Example", "carol@example.org"),
    ("Dave Example", "dave@example.net"),
    ("Erin Example", "erin@example.com"),
    ("Frank Example", "frank@example.org"),
    ("Grace Example", "grace@example.net"),
];

/// One demo message; the kind cycles through what real mailboxes hold.
fn message(user: &str, i: usize) -> String {
    let (name, addr) = FRIENDS[i % FRIENDS.len()];
    let date = format!(
        "{:02} Jan 2026 {:02}:{:02}:00 +0000",
        1 + i / 24,
        i % 24,
        (i * 7) % 60
    );
    let mut m = format!(
        "Return-Path: <{addr}>\nMessage-ID: <demo-{user}-{i}@example.org>\nDate: Thu, {date}\n\
         From: {name} <{addr}>\nTo: {user} <{user}@localhost>\n"
    );
    match i % 6 {
        0 => {
            let _ = write!(
                m,
                "Subject: Plain note {i}\nContent-Type: text/plain; charset=us-ascii\n\n\
                 Hello {user},\n\nThis is plain message number {i}.\n\nRegards,\n{name}\n"
            );
        }
        1 => {
            let _ = write!(
                m,
                "Subject: Newsletter {i}\nMIME-Version: 1.0\n\
                 Content-Type: multipart/alternative; boundary=\"alt-{i}\"\n\n\
                 --alt-{i}\nContent-Type: text/plain; charset=utf-8\n\n\
                 Issue {i} of the newsletter, in plain text.\n\n\
                 --alt-{i}\nContent-Type: text/html; charset=utf-8\n\n\
                 <html><body><h1>Issue {i}</h1><p>The newsletter, in <b>HTML</b>.</p></body></html>\n\n\
                 --alt-{i}--\n"
            );
        }
        2 => {
            let data: Vec<u8> = (0..3000u32).map(|n| (n * 31 + i as u32) as u8).collect();
            let encoded = base64_lines(&data);
            let _ = write!(
                m,
                "Subject: Report {i} attached\nMIME-Version: 1.0\n\
                 Content-Type: multipart/mixed; boundary=\"mix-{i}\"\n\n\
                 --mix-{i}\nContent-Type: text/plain; charset=us-ascii\n\nThe report is attached.\n\n\
                 --mix-{i}\nContent-Type: application/octet-stream; name=\"report-{i}.bin\"\n\
                 Content-Disposition: attachment; filename=\"report-{i}.bin\"\n\
                 Content-Transfer-Encoding: base64\n\n{encoded}\n--mix-{i}--\n"
            );
        }
        3 => {
            // Lines that start with a dot exercise POP3 dot-stuffing.
            let _ = write!(
                m,
                "Subject: Dots {i}\n\n.hidden line\n..two dots\n.\nend of message {i}\n"
            );
        }
        4 => {
            let _ = write!(
                m,
                "Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?= {i}\nMIME-Version: 1.0\n\
                 Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n\
                 Grüße aus München, Nachricht {i}.\n"
            );
        }
        _ => {
            let _ = write!(m, "Subject: Long read {i}\n\n");
            for line in 0..1500 {
                let _ = writeln!(
                    m,
                    "Line {line} of a long message, number {i}, for download tests."
                );
            }
        }
    }
    m
}

fn base64_lines(data: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(data);
    text.as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_is_complete_and_reusable() {
        let tmp = std::env::temp_dir().join(format!("postern-demo-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        let demo = create(&tmp).unwrap();
        assert!(!demo.reused);
        let config = crate::config::Config::load(&demo.config_path).unwrap();
        crate::check::load_files(&config).unwrap();
        let cur = fs::read_dir(tmp.join("mail/alice/Maildir/cur"))
            .unwrap()
            .count();
        let new = fs::read_dir(tmp.join("mail/alice/Maildir/new"))
            .unwrap()
            .count();
        assert_eq!(cur + new, 36);
        assert!(new > 0);
        assert!(create(&tmp).unwrap().reused);
        assert!(demo.instructions().contains("pop3s://127.0.0.1:1995"));
        fs::remove_dir_all(&tmp).unwrap();
    }
}
