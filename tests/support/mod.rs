//! Test harness: a real Postern server (POP3, POP3S, IMAP and IMAPS) on ephemeral loopback
//! ports over a temporary Maildir, passwd-file and self-signed certificate, started
//! in-process.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use postern::config::{Config, ListenerKind};
use postern::server::ServerHandle;

pub mod imap;

/// What a test server should look like.
#[derive(Clone)]
pub struct Options {
    pub login_type: &'static str,
    /// passwd-file lines after the user name and password: e.g. `("carol", "{PLAIN}pw", "pop3=off")`.
    pub accounts: Vec<(String, String, String)>,
    pub lock_session: bool,
    pub workers: usize,
    pub extra_server: String,
    pub extra_pop3: String,
    pub failure_delay: &'static str,
    pub preauth_timeout: &'static str,
    /// Extra lines in `[tls]`, e.g. `[[tls.sni]]` entries (paths relative to the server dir).
    pub tls_extra: String,
    pub imap_login_type: &'static str,
    pub extra_imap: String,
    /// More `[[listener]]` entries, after the four standard ones (see
    /// [`TestServer::extra_addrs`]).
    pub extra_listeners: String,
    /// Appended to the config file: more `[[listener]]`s, a `[proxy]` table.
    pub extra_config: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            login_type: "plaintext",
            accounts: vec![
                ("alice".into(), "{PLAIN}secret".into(), String::new()),
                (
                    "bob@example.org".into(),
                    "{PLAIN}hunter2".into(),
                    String::new(),
                ),
            ],
            lock_session: true,
            workers: 2,
            extra_server: String::new(),
            extra_pop3: String::new(),
            failure_delay: "100ms",
            preauth_timeout: "30s",
            tls_extra: String::new(),
            imap_login_type: "plaintext",
            extra_imap: String::new(),
            extra_listeners: String::new(),
            extra_config: String::new(),
        }
    }
}

pub struct TestServer {
    pub handle: Option<ServerHandle>,
    pub dir: PathBuf,
    pub pop3: SocketAddr,
    pub pop3s: SocketAddr,
    pub imap: SocketAddr,
    pub imaps: SocketAddr,
    pub cert: PathBuf,
}

static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A fresh directory under the target dir (not /tmp, which may be small), removed on success.
pub fn temp_dir(name: &str) -> PathBuf {
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

impl TestServer {
    pub fn start(opts: Options) -> TestServer {
        TestServer::start_in(temp_dir("postern"), opts)
    }

    /// Starts a server whose files live in `dir` (which may already hold files the
    /// configuration refers to, such as SNI certificates).
    pub fn start_in(dir: PathBuf, opts: Options) -> TestServer {
        let path = write_setup(&dir, &opts);
        let config = Config::load(&path).unwrap();
        let handle = postern::server::start(config).unwrap();
        let pop3 = handle.addr(ListenerKind::Pop3).unwrap();
        let pop3s = handle.addr(ListenerKind::Pop3s).unwrap();
        let imap = handle.addr(ListenerKind::Imap).unwrap();
        let imaps = handle.addr(ListenerKind::Imaps).unwrap();
        TestServer {
            handle: Some(handle),
            pop3,
            pop3s,
            imap,
            imaps,
            cert: dir.join("cert.pem"),
            dir,
        }
    }

    /// The addresses of the listeners from [`Options::extra_listeners`], in order.
    pub fn extra_addrs(&self) -> Vec<SocketAddr> {
        let handle = self.handle.as_ref().expect("running");
        handle.addrs().into_iter().skip(4).map(|(_, a)| a).collect()
    }

    /// The Maildir of `user` (created on first login; tests may fill it before).
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.dir.join("home").join(user).join("Maildir")
    }

    /// Puts messages into `user`'s Maildir `new/` (as an MDA would), returns the file paths.
    pub fn deliver(&self, user: &str, messages: &[Vec<u8>]) -> Vec<PathBuf> {
        let md = self.maildir(user);
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(md.join(sub)).unwrap();
        }
        let mut paths = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = md
                .join("new")
                .join(format!("{}.M{i}P{n}.test", 1_700_000_000 + i));
            fs::write(&p, m).unwrap();
            paths.push(p);
        }
        paths
    }

    /// Stops the server and starts it again over the same files (on new ports).
    pub fn restart(&mut self) {
        self.stop();
        let config = Config::load(&self.dir.join("postern.toml")).unwrap();
        let handle = postern::server::start(config).unwrap();
        self.pop3 = handle.addr(ListenerKind::Pop3).unwrap();
        self.pop3s = handle.addr(ListenerKind::Pop3s).unwrap();
        self.imap = handle.addr(ListenerKind::Imap).unwrap();
        self.imaps = handle.addr(ListenerKind::Imaps).unwrap();
        self.handle = Some(handle);
    }

    pub fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            // From a fresh thread: compio aborts the process if a cross-thread wake-up is sent
            // from a thread that is unwinding, which is what a failed assertion's drop is.
            std::thread::spawn(move || h.shutdown_with_grace(Duration::from_secs(2)))
                .join()
                .unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

#[path = "../common/corpus.rs"]
mod shared_corpus;

/// Every message file of the shared corpus, by path, sorted.
pub fn corpus() -> Vec<(PathBuf, Vec<u8>)> {
    shared_corpus::messages()
        .into_iter()
        .map(|(path, bytes)| (shared_corpus::dir().join(path), bytes))
        .collect()
}

/// The wire form of a stored message: every bare LF becomes CRLF.
pub fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 20);
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Writes a complete server setup into `dir` — a self-signed certificate for localhost, the
/// passwd-file with the accounts and their homes, and `postern.toml` with POP3 and POP3S
/// listeners on ephemeral loopback ports — and returns the config path.
pub fn write_setup(dir: &Path, opts: &Options) -> PathBuf {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let cert = rcgen::generate_simple_self_signed(names).unwrap();
    fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let mut users = String::from("# test accounts\n");
    for (user, secret, extra) in &opts.accounts {
        let home = dir.join("home").join(user);
        fs::create_dir_all(&home).unwrap();
        users.push_str(&format!(
            "{user}:{secret}:::{user}:{}::{extra}\n",
            home.display()
        ));
    }
    fs::write(dir.join("users"), users).unwrap();
    let config = format!(
        r#"
[server]
workers = {workers}
preauth_timeout = "{preauth}"
shutdown_grace = "2s"
{extra_server}
[tls]
cert = "cert.pem"
key = "key.pem"
{tls_extra}
[auth]
passwd_file = "users"
failure_delay = "{failure_delay}"
max_failure_delay = "1s"
[mail]
location = "~/Maildir"
fsync = false
[pop3]
login_type = "{login_type}"
lock_session = {lock}
{extra_pop3}
[imap]
login_type = "{imap_login_type}"
{extra_imap}
[[listener]]
kind = "pop3"
address = "127.0.0.1:0"
[[listener]]
kind = "pop3s"
address = "127.0.0.1:0"
[[listener]]
kind = "imap"
address = "127.0.0.1:0"
[[listener]]
kind = "imaps"
address = "127.0.0.1:0"
{extra_listeners}
{extra_config}
"#,
        workers = opts.workers,
        extra_server = opts.extra_server,
        failure_delay = opts.failure_delay,
        login_type = opts.login_type,
        lock = opts.lock_session,
        extra_pop3 = opts.extra_pop3,
        preauth = opts.preauth_timeout,
        tls_extra = opts.tls_extra,
        imap_login_type = opts.imap_login_type,
        extra_imap = opts.extra_imap,
        extra_listeners = opts.extra_listeners,
        extra_config = opts.extra_config,
    );
    let path = dir.join("postern.toml");
    fs::write(&path, config).unwrap();
    path
}

/// A minimal line-oriented POP3 client over plain TCP, for raw protocol tests.
pub struct Raw {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Raw {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    pub fn line(&mut self) -> String {
        let mut l = String::new();
        self.reader.read_line(&mut l).unwrap();
        l
    }

    pub fn send(&mut self, data: &[u8]) {
        self.writer.write_all(data).unwrap();
    }

    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.line()
    }

    /// [`cmd`](Self::cmd) for a connection the server may have closed: a reset (the server
    /// closed before reading the command) is an error, not a panic; a clean close is "".
    pub fn try_cmd(&mut self, line: &str) -> std::io::Result<String> {
        self.writer.write_all(format!("{line}\r\n").as_bytes())?;
        let mut l = String::new();
        self.reader.read_line(&mut l)?;
        Ok(l)
    }

    /// Reads a multi-line body up to the terminating ".", un-dot-stuffed, CRLF kept.
    pub fn multiline(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let mut l = Vec::new();
            self.reader.read_until(b'\n', &mut l).unwrap();
            assert!(!l.is_empty(), "connection closed inside a multi-line reply");
            if l == b".\r\n" {
                return out;
            }
            if l.starts_with(b"..") {
                out.extend_from_slice(&l[1..]);
            } else {
                out.extend_from_slice(&l);
            }
        }
    }

    /// Reads until the server closes the connection.
    pub fn rest(&mut self) -> Vec<u8> {
        let mut v = Vec::new();
        let _ = self.reader.read_to_end(&mut v);
        v
    }
}

/// Runs a Python client script from tests/clients with arguments; returns stdout.
pub fn python(script: &str, args: &[&str]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let out = std::process::Command::new("python3")
        .arg(&path)
        .args(args)
        .output()
        .expect("python3 must be installed");
    assert!(
        out.status.success(),
        "{script} {args:?} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A rustls client configuration that trusts the test server's self-signed certificate.
pub fn client_tls(cert: &Path) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A blocking TLS client stream.
pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Wraps a connected socket in TLS (for STLS after the "+OK", or for POP3S at once).
pub fn tls_wrap(stream: TcpStream, cert: &Path, sni: &str) -> BufReader<TlsStream> {
    let name = rustls_pki_types::ServerName::try_from(sni.to_owned()).unwrap();
    let conn = rustls::ClientConnection::new(client_tls(cert), name).unwrap();
    BufReader::new(rustls::StreamOwned::new(conn, stream))
}

/// Reads one line from any buffered reader.
pub fn read_line<R: BufRead>(r: &mut R) -> String {
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l
}

/// Sends a command line on a TLS stream and reads the one-line answer.
pub fn tls_cmd(r: &mut BufReader<TlsStream>, line: &str) -> String {
    r.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .unwrap();
    r.get_mut().flush().unwrap();
    read_line(r)
}
