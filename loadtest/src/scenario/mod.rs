//! The load scenarios and the engine that runs them: what each emulated client does, how many
//! run at once, and when the run stops.
//!
//! A run has `connections` slots, each a tokio task running sessions back to back, until
//! the session cap is reached or the run's duration is over. At the deadline, sessions still
//! in progress are dropped (their connections closed) and count neither as done nor as
//! errors: they were cut short by the run, not failed by the server. Every network read
//! and write has the per-step timeout, so no session can hang a run.
//!
//! Scenarios (each also works against Dovecot or a proxy, nothing is Postern-specific):
//! `pop3-download`, `imap-sync`, `imap-idle`, `login-storm` and a weighted `mixed`; see
//! their modules. Steps are recorded as they complete; a session counts as done (and its
//! whole duration is recorded) only if nothing went wrong in it, verification included: a
//! fast wrong answer must not look like a fast right one.
//!
//! Step mapping: `Connect` is the TCP handshake, `TlsHandshake` the TLS handshake (implicit
//! or after STARTTLS/STLS), `Login` the authentication command(s), `Select` IMAP SELECT or
//! POP3 STAT, `Fetch` an IMAP FETCH (the header listing and each message body) or a POP3
//! listing command (LIST, UIDL), `Retr` a POP3 RETR, `Noop` a NOOP, `IdleWakeup` delivery to
//! notification, `Logout` LOGOUT/QUIT.

mod imap_idle;
mod imap_sync;
mod login_storm;
mod mixed;
mod pop3_download;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use rustls_pki_types::ServerName;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use crate::metrics::{Recorder, Step};
use crate::net::slowlink::{Shape, SlowLink};
use crate::net::{BoxIo, connect, tls};
use crate::proto::imap::Imap;
use crate::proto::pop3::Pop3;
use crate::proto::{ProtoError, Wire};
use crate::verify::{self, MaildirView, VerifyError};

/// Mail access protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Pop3,
    Imap,
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// No TLS at all.
    Plain,
    /// Plain connect, then STLS (POP3) / STARTTLS (IMAP) before logging in.
    StartTls,
    /// TLS from the first byte (POP3S, IMAPS).
    Tls,
}

/// An emulated network link: bandwidth per direction (`None` = unlimited) and round-trip
/// delay, applied to every connection of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkProfile {
    pub bits_per_sec: Option<u64>,
    pub rtt: Duration,
}

impl LinkProfile {
    /// Named presets: `mobile` (64 kbit/s, 300 ms), `1mbit` (1 Mbit/s, 100 ms), `10mbit`
    /// (10 Mbit/s, 40 ms), `unlimited`.
    pub fn preset(name: &str) -> Option<LinkProfile> {
        let (bits, ms) = match name.to_ascii_lowercase().as_str() {
            "mobile" => (Some(64_000), 300),
            "1mbit" => (Some(1_000_000), 100),
            "10mbit" => (Some(10_000_000), 40),
            "unlimited" => (None, 0),
            _ => return None,
        };
        Some(LinkProfile {
            bits_per_sec: bits,
            rtt: Duration::from_millis(ms),
        })
    }

    /// A preset name, or a bandwidth and/or a delay separated by a comma: `256kbit,200ms`,
    /// `2mbit`, `50ms`, `unlimited,20ms`. Bandwidth units: `bit`, `kbit`, `mbit`, `gbit`
    /// (powers of 1000, per second); delay units: `us`, `ms`, `s`.
    pub fn parse(s: &str) -> Result<LinkProfile, String> {
        let s = s.trim();
        if let Some(p) = LinkProfile::preset(s) {
            return Ok(p);
        }
        let mut link = LinkProfile {
            bits_per_sec: None,
            rtt: Duration::ZERO,
        };
        let (mut saw_bw, mut saw_rtt) = (false, false);
        for part in s.split(',').map(str::trim) {
            let lower = part.to_ascii_lowercase();
            if let Some(bits) = parse_bandwidth(&lower) {
                if saw_bw {
                    return Err(format!("link {s:?}: bandwidth given twice"));
                }
                saw_bw = true;
                link.bits_per_sec = bits;
            } else if let Some(rtt) = parse_delay(&lower) {
                if saw_rtt {
                    return Err(format!("link {s:?}: delay given twice"));
                }
                saw_rtt = true;
                link.rtt = rtt;
            } else {
                return Err(format!(
                    "link {s:?}: {part:?} is neither a preset (mobile, 1mbit, 10mbit, \
                     unlimited), a bandwidth (e.g. 256kbit) nor a delay (e.g. 200ms)"
                ));
            }
        }
        Ok(link)
    }

    fn shape(&self) -> Shape {
        Shape {
            bits_per_sec: self.bits_per_sec,
            rtt: self.rtt,
        }
    }
}

/// `Some(None)` for "unlimited", `Some(Some(bps))` for a bandwidth, `None` if not one.
fn parse_bandwidth(s: &str) -> Option<Option<u64>> {
    if s == "unlimited" {
        return Some(None);
    }
    let units: [(&str, u64); 4] = [
        ("gbit", 1_000_000_000),
        ("mbit", 1_000_000),
        ("kbit", 1_000),
        ("bit", 1),
    ];
    for (unit, factor) in units {
        if let Some(num) = s
            .strip_suffix(unit)
            .and_then(|n| n.strip_suffix("/s").or(Some(n)))
        {
            let v: f64 = num.trim().parse().ok()?;
            if !(v.is_finite() && v > 0.0) {
                return None;
            }
            return Some(Some(((v * factor as f64) as u64).max(1)));
        }
    }
    None
}

fn parse_delay(s: &str) -> Option<Duration> {
    let (num, factor) = if let Some(n) = s.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if s == "0" {
        ("0", 1.0)
    } else {
        return None;
    };
    let v: f64 = num.trim().parse().ok()?;
    if !(v.is_finite() && (0.0..3600.0).contains(&v)) {
        return None;
    }
    Some(Duration::from_secs_f64(v * factor))
}

/// What each session does.
#[derive(Debug, Clone)]
pub enum Kind {
    /// POP3: login, STAT, LIST, UIDL, RETR every message, then RSET+QUIT, or DELE each
    /// message and QUIT if `delete`.
    Pop3Download { delete: bool },
    /// IMAP: login, SELECT INBOX, header listing of every message, BODY[] of the `newest`
    /// messages, LOGOUT.
    ImapSync { newest: usize },
    /// IMAP: sessions held in IDLE (or polling with NOOP every `noop_every`), measuring how
    /// long each of `deliveries` new messages takes to be announced. As the run's kind, each
    /// of `connections` slots (at most `sessions`) holds one session through all delivery
    /// rounds; in a mix, each such session delivers to its own user.
    ImapIdle {
        noop_every: Option<Duration>,
        deliveries: u32,
    },
    /// Connect, (TLS,) authenticate, log out, with `RunConfig::login_protocol`.
    LoginStorm,
    /// A weighted mix of the other kinds, one drawn per session.
    Mixed(Vec<(Kind, u32)>),
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub kind: Kind,
    pub host: String,
    /// The port for a single-protocol kind (LoginStorm included: its protocol is
    /// `login_protocol`). 0 means "use `pop3_port`/`imap_port`".
    pub port: u16,
    /// Ports used by `Mixed` (and when `port` is 0).
    pub pop3_port: u16,
    pub imap_port: u16,
    /// Protocol of `LoginStorm` sessions.
    pub login_protocol: Protocol,
    pub transport: Transport,
    /// TLS server name; empty means `host`.
    pub sni: String,
    pub insecure: bool,
    pub cafile: Option<PathBuf>,
    /// (user, password); sessions take them round-robin.
    pub users: Vec<(String, String)>,
    /// Concurrent sessions.
    pub connections: usize,
    /// Total sessions cap (`None`: until the duration ends).
    pub sessions: Option<u64>,
    /// Hard time cap for the whole run.
    pub duration: Duration,
    pub link: LinkProfile,
    /// Client bind addresses, round-robin per connection; empty = the OS chooses.
    pub source_ips: Vec<IpAddr>,
    /// Maildir of a user, `%u` the user name (`%n` local part, `%d` domain): enables byte
    /// verification and is where imap-idle delivers.
    pub maildir_template: Option<String>,
    /// Fraction (0..=1) of retrieved messages compared byte for byte with their files.
    pub verify_sample: f64,
    /// Timeout of every network read, write, connect and handshake.
    pub timeout: Duration,
}

/// Why a session failed. [`kind`](SessionError::kind) is what the report counts.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("connect: {0}")]
    Connect(String),
    #[error(transparent)]
    Proto(#[from] ProtoError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error("{0}")]
    Setup(String),
}

impl SessionError {
    pub fn kind(&self) -> &'static str {
        match self {
            SessionError::Connect(_) => "connect",
            SessionError::Proto(e) => e.kind(),
            SessionError::Verify(e) => e.kind(),
            SessionError::Setup(_) => "setup",
        }
    }
}

/// State shared by every session of a run.
pub(crate) struct Ctx {
    pub cfg: Arc<RunConfig>,
    pub rec: Recorder,
    pub tls: Option<(TlsConnector, ServerName<'static>)>,
    pub pop3_addr: SocketAddr,
    pub imap_addr: SocketAddr,
    pub deadline: Instant,
    shape: Shape,
    next_connection: AtomicU64,
    next_session: AtomicU64,
    /// Delivery times for imap-idle sessions.
    pub board: imap_idle::Board,
}

impl Ctx {
    fn source(&self) -> Option<IpAddr> {
        if self.cfg.source_ips.is_empty() {
            return None;
        }
        let i = self.next_connection.fetch_add(1, Ordering::Relaxed);
        let n = self.cfg.source_ips.len() as u64;
        Some(self.cfg.source_ips[(i % n) as usize])
    }

    /// Opens a connection for `protocol`: TCP (timed as `Connect`), the slow link, and for
    /// implicit TLS the handshake (timed as `TlsHandshake`).
    pub async fn open(&self, protocol: Protocol) -> Result<Wire, SessionError> {
        let addr = match protocol {
            Protocol::Pop3 => self.pop3_addr,
            Protocol::Imap => self.imap_addr,
        };
        let timeout = self.cfg.timeout;
        let shaped = !self.shape.is_transparent();
        let start = Instant::now();
        let tcp = match tokio::time::timeout(timeout, connect::connect(addr, self.source(), shaped))
            .await
        {
            Err(_) => return Err(SessionError::Connect(format!("{addr}: timed out"))),
            Ok(Err(e)) => return Err(SessionError::Connect(format!("{addr}: {e}"))),
            Ok(Ok(s)) => s,
        };
        self.rec.record(Step::Connect, start.elapsed());
        let io: BoxIo = if shaped {
            Box::new(SlowLink::new(tcp, self.shape))
        } else {
            Box::new(tcp)
        };
        let mut wire = Wire::new(io, timeout);
        if self.cfg.transport == Transport::Tls {
            self.handshake(&mut wire).await?;
        }
        Ok(wire)
    }

    /// The TLS client side, for implicit TLS and for STARTTLS/STLS alike.
    fn tls(&self) -> Result<(&TlsConnector, ServerName<'static>), SessionError> {
        self.tls
            .as_ref()
            .map(|(connector, name)| (connector, name.clone()))
            .ok_or_else(|| SessionError::Setup("TLS is not configured".into()))
    }

    async fn handshake(&self, wire: &mut Wire) -> Result<(), SessionError> {
        let (connector, name) = self.tls()?;
        let start = Instant::now();
        wire.start_tls(connector, name).await?;
        self.rec.record(Step::TlsHandshake, start.elapsed());
        Ok(())
    }

    /// A POP3 session up to and including login.
    pub async fn pop3_login(&self, user: &str, pass: &str) -> Result<Pop3, SessionError> {
        let wire = self.open(Protocol::Pop3).await?;
        let mut pop = Pop3::greet(wire).await?;
        if self.cfg.transport == Transport::StartTls {
            let (connector, name) = self.tls()?;
            let start = Instant::now();
            pop.stls(connector, name).await?;
            self.rec.record(Step::TlsHandshake, start.elapsed());
        }
        let start = Instant::now();
        pop.user_pass(user, pass).await?;
        self.rec.record(Step::Login, start.elapsed());
        Ok(pop)
    }

    /// An IMAP session up to and including login.
    pub async fn imap_login(&self, user: &str, pass: &str) -> Result<Imap, SessionError> {
        let wire = self.open(Protocol::Imap).await?;
        let mut imap = Imap::greet(wire).await?;
        if self.cfg.transport == Transport::StartTls {
            let (connector, name) = self.tls()?;
            let start = Instant::now();
            imap.starttls(connector, name).await?;
            self.rec.record(Step::TlsHandshake, start.elapsed());
        }
        let start = Instant::now();
        imap.login(user, pass).await?;
        self.rec.record(Step::Login, start.elapsed());
        Ok(imap)
    }
}

/// Per-session verification state: errors found so far (they do not stop the session, so
/// one session can report several), and the user's Maildir as last read.
pub(crate) struct Checks {
    pub errors: Vec<VerifyError>,
    maildir: Option<PathBuf>,
    view: Option<MaildirView>,
    sample: f64,
}

/// How a message's file is found.
pub(crate) enum Locate<'a> {
    /// POP3 message at 0-based position `pos`, with its UIDL.
    Pop3 { pos: usize, uidl: &'a str },
    /// IMAP message by UID in a mailbox with this UIDVALIDITY.
    Imap { uid: u32, uid_validity: Option<u32> },
}

impl Checks {
    fn new(cfg: &RunConfig, user: &str) -> Checks {
        let maildir = cfg
            .maildir_template
            .as_deref()
            .map(|t| verify::expand_template(t, user));
        Checks {
            errors: Vec::new(),
            sample: if maildir.is_some() {
                cfg.verify_sample.clamp(0.0, 1.0)
            } else {
                0.0
            },
            maildir,
            view: None,
        }
    }

    /// Records a check's outcome; `true` if it passed.
    pub fn check(&mut self, r: Result<(), VerifyError>) -> bool {
        match r {
            Ok(()) => true,
            Err(e) => {
                self.errors.push(e);
                false
            }
        }
    }

    /// Whether this message should be compared byte for byte.
    pub fn sample(&self) -> bool {
        self.sample >= 1.0 || (self.sample > 0.0 && rand::random::<f64>() < self.sample)
    }

    /// Compares `received` with the stored file of the message at `at`.
    pub async fn compare(
        &mut self,
        at: Locate<'_>,
        received: &[u8],
        what: &str,
    ) -> Result<(), VerifyError> {
        let Some(dir) = self.maildir.clone() else {
            return Ok(());
        };
        // The Maildir is read once per session, and again if a file moved (new/ → cur/,
        // flag changes) or the listing is newer than what was read.
        for attempt in 0..2 {
            if self.view.is_none() || attempt == 1 {
                self.view = Some(MaildirView::load_async(dir.clone()).await?);
            }
            let Some(view) = self.view.as_ref() else {
                continue;
            };
            let path = match &at {
                Locate::Pop3 { pos, uidl } => match view.uid_from_uidl(uidl) {
                    Some(uid) => view.file_for_uid(uid),
                    None => view.file_at(*pos),
                },
                Locate::Imap { uid, uid_validity } => {
                    if uid_validity.is_some_and(|v| v != view.uid_validity) {
                        if attempt == 0 {
                            continue;
                        }
                        return Err(VerifyError::Setup(format!(
                            "UIDVALIDITY {} from the server is not the Maildir's {}",
                            uid_validity.unwrap_or(0),
                            view.uid_validity
                        )));
                    }
                    view.file_for_uid(*uid)
                }
            };
            let Some(path) = path.map(|p| p.to_path_buf()) else {
                continue;
            };
            match tokio::fs::read(&path).await {
                Ok(file) => {
                    return verify::compare(
                        what,
                        received,
                        &file,
                        matches!(at, Locate::Pop3 { .. }),
                    );
                }
                // Renamed between the scan and the read: scan again.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(VerifyError::Setup(format!(
                        "cannot read {}: {e}",
                        path.display()
                    )));
                }
            }
        }
        Err(VerifyError::Bytes(format!(
            "{what}: the server sent a message the Maildir {} has no file for",
            dir.display()
        )))
    }
}

/// Records the verification errors of a session; `true` if there were none.
fn report_checks(rec: &Recorder, checks: &Checks) -> bool {
    for e in &checks.errors {
        rec.error(e.kind());
    }
    checks.errors.is_empty()
}

/// Runs the scenario to its end (session cap reached or duration over), recording into
/// `rec`. Never panics on server misbehaviour: everything is an error kind. Fails only on
/// a configuration that cannot run (no users, unresolvable host, unreadable CA file, ...).
pub async fn run(cfg: Arc<RunConfig>, rec: Recorder) -> anyhow::Result<()> {
    validate(&cfg)?;
    let start = Instant::now();
    let deadline = start + cfg.duration;
    let single = !matches!(cfg.kind, Kind::Mixed(_));
    let port_for = |p: Protocol| {
        let own = match p {
            Protocol::Pop3 => cfg.pop3_port,
            Protocol::Imap => cfg.imap_port,
        };
        if single && cfg.port != 0 {
            cfg.port
        } else {
            own
        }
    };
    let pop3_addr = resolve(&cfg, port_for(Protocol::Pop3)).await?;
    let imap_addr = resolve(&cfg, port_for(Protocol::Imap)).await?;
    let tls = if cfg.transport == Transport::Plain {
        None
    } else {
        let connector = tls::connector(cfg.insecure, cfg.cafile.as_deref())?;
        let sni = if cfg.sni.is_empty() {
            &cfg.host
        } else {
            &cfg.sni
        };
        Some((connector, tls::server_name(sni)?))
    };
    let ctx = Arc::new(Ctx {
        shape: cfg.link.shape(),
        board: imap_idle::Board::default(),
        cfg: cfg.clone(),
        rec,
        tls,
        pop3_addr,
        imap_addr,
        deadline,
        next_connection: AtomicU64::new(0),
        next_session: AtomicU64::new(0),
    });
    match &cfg.kind {
        Kind::ImapIdle {
            noop_every,
            deliveries,
        } => imap_idle::run_central(ctx, *noop_every, *deliveries).await,
        _ => {
            let mut slots = tokio::task::JoinSet::new();
            for _ in 0..cfg.connections {
                slots.spawn(slot(ctx.clone()));
            }
            while let Some(r) = slots.join_next().await {
                r.context("a session slot panicked")?;
            }
            Ok(())
        }
    }
}

fn validate(cfg: &RunConfig) -> anyhow::Result<()> {
    if cfg.users.is_empty() {
        bail!("no users to log in as");
    }
    if cfg.connections == 0 {
        bail!("zero connections");
    }
    if cfg.timeout.is_zero() {
        bail!("the per-step timeout must be above zero");
    }
    if !(0.0..=1.0).contains(&cfg.verify_sample) {
        bail!("--verify-sample must be between 0 and 1");
    }
    mixed::validate(&cfg.kind, cfg.maildir_template.is_some(), true)
}

async fn resolve(cfg: &RunConfig, port: u16) -> anyhow::Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((cfg.host.as_str(), port))
        .await
        .with_context(|| format!("cannot resolve {}", cfg.host))?
        .collect();
    // With source addresses given, the server address must be of their family.
    let want_v4 = cfg.source_ips.first().map(IpAddr::is_ipv4);
    addrs
        .iter()
        .find(|a| want_v4.is_none_or(|v4| a.is_ipv4() == v4))
        .or(addrs.first())
        .copied()
        .with_context(|| format!("{} has no address", cfg.host))
}

/// One connection slot: sessions back to back until the cap or the deadline.
async fn slot(ctx: Arc<Ctx>) {
    let cfg = &ctx.cfg;
    loop {
        if Instant::now() >= ctx.deadline {
            return;
        }
        let n = ctx.next_session.fetch_add(1, Ordering::Relaxed);
        if cfg.sessions.is_some_and(|cap| n >= cap) {
            return;
        }
        let kind = mixed::pick(&cfg.kind);
        let (user, pass) = &cfg.users[(n % cfg.users.len() as u64) as usize];
        let mut checks = Checks::new(cfg, user);
        let start = Instant::now();
        let outcome = tokio::select! {
            r = one_session(&ctx, kind, user, pass, &mut checks) => Some(r),
            _ = tokio::time::sleep_until(ctx.deadline) => None,
        };
        let clean = report_checks(&ctx.rec, &checks);
        match outcome {
            // Cut short by the end of the run: neither done nor failed.
            None => return,
            Some(Ok(())) if clean => {
                ctx.rec.record(Step::Session, start.elapsed());
                ctx.rec.session_done();
            }
            Some(Ok(())) => {}
            Some(Err(e)) => {
                ctx.rec.error(e.kind());
                // A server refusing everything must not turn the run into a busy loop.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn one_session(
    ctx: &Ctx,
    kind: &Kind,
    user: &str,
    pass: &str,
    checks: &mut Checks,
) -> Result<(), SessionError> {
    match kind {
        Kind::Pop3Download { delete } => {
            pop3_download::session(ctx, user, pass, *delete, checks).await
        }
        Kind::ImapSync { newest } => imap_sync::session(ctx, user, pass, *newest, checks).await,
        Kind::ImapIdle {
            noop_every,
            deliveries,
        } => imap_idle::self_delivering(ctx, user, pass, *noop_every, *deliveries).await,
        Kind::LoginStorm => login_storm::session(ctx, user, pass).await,
        // `mixed::pick` never returns a mix, and validation refuses nested mixes.
        Kind::Mixed(_) => Err(SessionError::Setup("nested mixes are not supported".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_profiles() {
        assert_eq!(
            LinkProfile::parse("mobile").unwrap(),
            LinkProfile {
                bits_per_sec: Some(64_000),
                rtt: Duration::from_millis(300)
            }
        );
        assert_eq!(LinkProfile::preset("unlimited").unwrap().bits_per_sec, None);
        assert_eq!(
            LinkProfile::parse("256kbit,200ms").unwrap(),
            LinkProfile {
                bits_per_sec: Some(256_000),
                rtt: Duration::from_millis(200)
            }
        );
        assert_eq!(
            LinkProfile::parse("1.5mbit").unwrap().bits_per_sec,
            Some(1_500_000)
        );
        assert_eq!(
            LinkProfile::parse("50ms").unwrap(),
            LinkProfile {
                bits_per_sec: None,
                rtt: Duration::from_millis(50)
            }
        );
        assert_eq!(
            LinkProfile::parse("unlimited, 1s").unwrap().rtt,
            Duration::from_secs(1)
        );
        for bad in [
            "",
            "fast",
            "10kbit,10kbit",
            "-3kbit",
            "5ms,6ms",
            "0kbit",
            "kbit",
        ] {
            assert!(LinkProfile::parse(bad).is_err(), "{bad}");
        }
    }
}
