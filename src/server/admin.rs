//! The administration socket: a Unix socket on which `postern who`, `postern kick` and
//! `postern reload` reach the running server.
//!
//! The socket is created with mode 0600 (bound under a temporary name, restricted, then
//! renamed into place, so it is never reachable with looser permissions), and every
//! connection's peer credentials are checked as well: only root and the server's own user
//! are answered, whatever the file's mode becomes later.
//!
//! The protocol is one request line and a text answer, so it can be driven by hand with
//! `socat`: the answer's lines are what the command prints (on a refusal, the reason, which
//! may span lines, as TOML syntax errors do), and its last line is `OK` or `ERR`. Requests are `who`, `kick user NAME`, `kick ip ADDRESS` and `reload`. The
//! socket is served by one ordinary thread: administration is rare, and a reload blocks on
//! file reads that have no business on an event loop.

use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::Shared;
use super::sessions::{SessionInfo, Target};
use super::shutdown::Phase;

/// Longest request accepted; requests are a few words.
const MAX_REQUEST: u64 = 4096;

/// The running socket; removes its file when dropped.
pub(crate) struct AdminSocket {
    path: PathBuf,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AdminSocket {
    /// Creates the socket at `path` (replacing a stale one) and serves it on a thread.
    pub fn start(path: &Path, shared: Arc<Shared>) -> std::io::Result<AdminSocket> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temp = path.with_extension(format!("tmp.{}", std::process::id()));
        let _ = std::fs::remove_file(&temp);
        let listener = UnixListener::bind(&temp)?;
        std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o600))?;
        // A socket left by a server that died is replaced; a live server's is too, which is
        // what a second `serve` of the same config should do to the admin channel.
        std::fs::rename(&temp, path)?;
        let thread = std::thread::Builder::new()
            .name("postern-admin".into())
            .spawn(move || serve(listener, shared))?;
        Ok(AdminSocket {
            path: path.to_owned(),
            thread: Some(thread),
        })
    }

    /// Stops serving and removes the socket file. Called after shutdown has begun.
    pub fn stop(mut self) {
        // The thread is blocked in accept; a connection wakes it to see the phase.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(listener: UnixListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.shutdown.phase() != Phase::Running {
            return;
        }
        match stream {
            Ok(stream) => {
                if let Err(e) = answer(stream, &shared) {
                    tracing::debug!("admin connection failed: {e}");
                }
            }
            Err(e) => {
                tracing::warn!("admin socket accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn answer(stream: UnixStream, shared: &Arc<Shared>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut writer = stream.try_clone()?;
    // The request is read even from a peer that is refused, so that its write never fails
    // before it can read why.
    let mut line = String::new();
    BufReader::new(std::io::Read::take(&stream, MAX_REQUEST)).read_line(&mut line)?;
    let reply = if !peer_allowed(&stream) {
        "permission denied: only root and the server's own user may ask\nERR\n".to_owned()
    } else {
        match execute(line.trim(), shared) {
            Ok(text) => format!("{text}OK\n"),
            Err(reason) => format!("{}\nERR\n", reason.trim_end()),
        }
    };
    writer.write_all(reply.as_bytes())
}

/// Root, or the user the server runs as.
fn peer_allowed(stream: &UnixStream) -> bool {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    match getsockopt(stream, PeerCredentials) {
        Ok(cred) => cred.uid() == 0 || cred.uid() == nix::unistd::geteuid().as_raw(),
        Err(_) => false,
    }
}

/// Runs one request; the text returned ends with a newline if it is not empty.
fn execute(request: &str, shared: &Arc<Shared>) -> Result<String, String> {
    let words: Vec<&str> = request.split_ascii_whitespace().collect();
    match words.as_slice() {
        ["who"] => Ok(who(&shared.sessions.list(), SystemTime::now())),
        ["kick", "user", user] => Ok(kicked(
            shared.end_sessions(&[Target::User((*user).to_owned())]),
        )),
        ["kick", "ip", ip] => {
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| format!("{ip:?} is not an IP address"))?;
            Ok(kicked(shared.end_sessions(&[Target::Ip(ip)])))
        }
        ["reload"] => super::reload::reload(shared)
            .map(|report| format!("{report}\n"))
            .map_err(|e| format!("reload refused, the previous configuration stays in force: {e}")),
        _ => Err(format!(
            "unknown request {request:?}; expected who, kick user NAME, kick ip ADDRESS or reload"
        )),
    }
}

fn kicked(n: usize) -> String {
    format!("ended {n} session{}\n", if n == 1 { "" } else { "s" })
}

/// The `who` table: one line per session, a header first.
fn who(sessions: &[SessionInfo], now: SystemTime) -> String {
    let mut out = String::from("USER\tPROTOCOL\tCLIENT\tTLS\tSINCE\tFOR\tWORKER\n");
    for s in sessions {
        let since = s
            .since
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| rfc3339_utc(d.as_secs() as i64))
            .unwrap_or_default();
        let age = now.duration_since(s.since).unwrap_or_default().as_secs();
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{since}\t{}\t{}\n",
            s.user.as_deref().unwrap_or("-"),
            s.kind.name(),
            s.peer,
            if s.tls { "yes" } else { "no" },
            duration(age),
            s.worker,
        ));
    }
    out
}

/// `2023-11-14T22:13:20Z`.
fn rfc3339_utc(secs: i64) -> String {
    let (y, m, d) = crate::imap::date::civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// `1h02m03s`, `4m05s`, `6s`.
fn duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ListenerKind;

    #[test]
    fn who_table() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let sessions = [SessionInfo {
            id: 1,
            worker: 1,
            kind: ListenerKind::Imaps,
            peer: "192.0.2.7:5555".parse().unwrap(),
            tls: true,
            user: Some("alice".into()),
            since: start,
        }];
        let table = who(&sessions, start + Duration::from_secs(3723));
        assert_eq!(
            table,
            "USER\tPROTOCOL\tCLIENT\tTLS\tSINCE\tFOR\tWORKER\n\
             alice\timaps\t192.0.2.7:5555\tyes\t2023-11-14T22:13:20Z\t1h02m03s\t1\n"
        );
        assert_eq!(duration(65), "1m05s");
        assert_eq!(duration(5), "5s");
    }
}
