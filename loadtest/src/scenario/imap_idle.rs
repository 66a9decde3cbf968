//! `imap-idle`: many clients sitting in IDLE (or polling with NOOP), and how long new mail
//! takes to reach them.
//!
//! Push mail is what keeps most IMAP connections open, so the cost of idle sessions and the
//! speed of their wake-up decide how many phones a server can hold. The scenario delivers
//! the mail itself, as an MDA would (written to `tmp/`, then renamed into `new/`), notes the
//! instant of each delivery, and each session records the time from that instant to the
//! `* n EXISTS` that announces it (`IdleWakeup`).
//!
//! Two modes:
//! * As the run's kind (central): every slot holds one session. Once all are logged in and
//!   idle, the run delivers one message to every user, waits until every session has seen
//!   its user's message (or the timeout), and repeats for each delivery round. This measures
//!   the fan-out: N sessions woken at once.
//! * Inside a mix (self-delivering): a session, once idle, delivers to its own user and waits
//!   to be told, as many times as asked.
//!
//! New messages are matched to deliveries by count and time: when EXISTS grows by k, the
//! next k deliveries to that user made before the EXISTS arrived are the ones announced.
//! (Two sessions of one user delivering in the same instant may swap which delivery an
//! announcement is attributed to; the latencies stay of the right size.) A session that is
//! not told of a delivery within the timeout fails with `timeout`. A delivery that cannot be
//! written counts as a `deliver` error (central mode) or fails the session as `setup`.
//!
//! Delivered messages stay in the mailbox (a real MDA's would too): every delivery adds one
//! message to what later sessions of that user list and download.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Ctx, SessionError};
use crate::metrics::Step;
use crate::proto::ProtoError;
use crate::proto::imap::{IdleEvent, Imap};
use crate::verify::expand_template;

/// How often an idle session looks up from the socket to check for overdue deliveries and
/// the end of the run. Cheap: one timer per session per slice.
const SLICE: Duration = Duration::from_secs(1);

/// Delivery bookkeeping shared by all sessions of a run.
#[derive(Default)]
pub(crate) struct Board {
    /// Per user, the instant of each delivery, in delivery order.
    times: Mutex<HashMap<String, Vec<Instant>>>,
    /// Signalled whenever a session settles or finishes a round.
    changed: Notify,
    /// Central mode: sessions that are idle (or gone).
    settled: AtomicUsize,
    /// Central mode: per round, sessions that saw their delivery (or are gone).
    rounds_done: Mutex<Vec<usize>>,
    /// Central mode: no more deliveries will come.
    finished: AtomicBool,
}

impl Board {
    fn times(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Instant>>> {
        // Every update is a single push; a panic cannot leave the map inconsistent.
        self.times.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn count(&self, user: &str) -> usize {
        self.times().get(user).map_or(0, Vec::len)
    }

    fn time(&self, user: &str, idx: usize) -> Option<Instant> {
        self.times().get(user).and_then(|v| v.get(idx).copied())
    }

    fn push(&self, user: &str, at: Instant) -> usize {
        let mut times = self.times();
        let v = times.entry(user.to_owned()).or_default();
        v.push(at);
        v.len() - 1
    }

    fn rounds(&self) -> std::sync::MutexGuard<'_, Vec<usize>> {
        self.rounds_done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits (woken by changes, at most `SLICE` between looks) until `cond` holds or the
    /// deadline passes; returns whether it holds.
    async fn wait_until(&self, deadline: Instant, cond: impl Fn(&Board) -> bool) -> bool {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if cond(self) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let _ = tokio::time::timeout_at(deadline.min(now + SLICE), notified).await;
        }
    }
}

/// A central-mode session's part in the rounds. Dropping it (session over, failed or cut
/// short) counts it as done for everything it had not done, so the deliverer never waits
/// for a session that is gone.
struct Participant<'a> {
    board: &'a Board,
    settled: bool,
    rounds: usize,
}

impl Participant<'_> {
    fn settle(&mut self) {
        if !self.settled {
            self.settled = true;
            self.board.settled.fetch_add(1, Ordering::AcqRel);
            self.board.changed.notify_waiters();
        }
    }

    /// Rounds up to and including `round` are done for this session.
    fn done_through(&mut self, round: usize) {
        let mut rounds = self.board.rounds();
        while self.rounds <= round && self.rounds < rounds.len() {
            rounds[self.rounds] += 1;
            self.rounds += 1;
        }
        drop(rounds);
        self.board.changed.notify_waiters();
    }
}

impl Drop for Participant<'_> {
    fn drop(&mut self) {
        self.settle();
        self.done_through(usize::MAX - 1);
    }
}

/// Matches announcements to deliveries for one session.
struct Watch<'a> {
    ctx: &'a Ctx,
    user: &'a str,
    /// Index of the next delivery to this user the session has not been told of.
    next: usize,
    /// Message count as last announced.
    known: u32,
}

impl Watch<'_> {
    /// A new EXISTS count, seen at `at`: records the wake-up of each delivery it announces
    /// and returns the index of the last one, if any.
    fn exists(&mut self, n: u32, at: Instant) -> Option<usize> {
        let new = n.saturating_sub(self.known);
        self.known = n;
        let mut last = None;
        for _ in 0..new {
            match self.ctx.board.time(self.user, self.next) {
                Some(t) if t <= at => {
                    self.ctx.rec.record(Step::IdleWakeup, at - t);
                    last = Some(self.next);
                    self.next += 1;
                }
                // Mail that did not come from us (or came before we were watching).
                _ => break,
            }
        }
        last
    }

    /// Fails if the oldest delivery not yet announced is older than the timeout.
    fn check_overdue(&self) -> Result<(), SessionError> {
        match self.ctx.board.time(self.user, self.next) {
            Some(t) if t.elapsed() > self.ctx.cfg.timeout => {
                Err(ProtoError::Timeout("IDLE wake-up after a delivery").into())
            }
            _ => Ok(()),
        }
    }

    /// Waits up to `limit` for news: in IDLE by reading, in polling mode by sleeping until
    /// the next NOOP is due (but no longer than `limit`) and sending it.
    async fn poll(
        &mut self,
        imap: &mut Imap,
        noop_every: Option<Duration>,
        last_noop: &mut Instant,
        limit: Duration,
    ) -> Result<Option<usize>, SessionError> {
        match noop_every {
            None => match imap.idle_wait(limit).await? {
                IdleEvent::Exists(n) => Ok(self.exists(n, Instant::now())),
                IdleEvent::Quiet => Ok(None),
            },
            Some(every) => {
                let due = *last_noop + every;
                if due > Instant::now() + limit {
                    tokio::time::sleep(limit).await;
                    return Ok(None);
                }
                tokio::time::sleep_until(due).await;
                let t = Instant::now();
                *last_noop = t;
                let exists = imap.noop().await?;
                self.ctx.rec.record(Step::Noop, t.elapsed());
                Ok(exists.and_then(|n| self.exists(n, Instant::now())))
            }
        }
    }
}

/// Logs in, selects INBOX and starts IDLE (unless polling). Returns the IDLE tag and the
/// watch, positioned after every delivery made so far.
async fn enter<'a>(
    ctx: &'a Ctx,
    user: &'a str,
    pass: &str,
    noop_every: Option<Duration>,
) -> Result<(Imap, Option<String>, Watch<'a>), SessionError> {
    let mut imap = ctx.imap_login(user, pass).await?;
    let t = Instant::now();
    let sel = imap.select("INBOX").await?;
    ctx.rec.record(Step::Select, t.elapsed());
    let tag = match noop_every {
        None => Some(imap.idle_start().await?),
        Some(_) => None,
    };
    let watch = Watch {
        ctx,
        user,
        next: ctx.board.count(user),
        known: imap.exists.unwrap_or(sel.exists),
    };
    Ok((imap, tag, watch))
}

async fn leave(ctx: &Ctx, mut imap: Imap, tag: Option<String>) -> Result<(), SessionError> {
    if let Some(tag) = tag {
        imap.idle_done(&tag).await?;
    }
    let t = Instant::now();
    imap.logout().await?;
    ctx.rec.record(Step::Logout, t.elapsed());
    Ok(())
}

/// Central mode (see the module docs): the whole run.
pub(super) async fn run_central(
    ctx: Arc<Ctx>,
    noop_every: Option<Duration>,
    deliveries: u32,
) -> anyhow::Result<()> {
    let cfg = ctx.cfg.clone();
    let n = cfg.sessions.map_or(cfg.connections, |s| {
        cfg.connections
            .min(usize::try_from(s).unwrap_or(usize::MAX))
    });
    let rounds = deliveries as usize;
    *ctx.board.rounds() = vec![0; rounds];

    let mut sessions = tokio::task::JoinSet::new();
    for i in 0..n {
        let ctx = ctx.clone();
        sessions.spawn(async move {
            let (user, pass) = &ctx.cfg.users[i % ctx.cfg.users.len()];
            let mut part = Participant {
                board: &ctx.board,
                settled: false,
                rounds: 0,
            };
            let start = Instant::now();
            let outcome = tokio::select! {
                r = central_session(&ctx, user, pass, noop_every, deliveries, &mut part) => Some(r),
                _ = tokio::time::sleep_until(ctx.deadline) => None,
            };
            drop(part);
            match outcome {
                None => {}
                Some(Ok(())) => {
                    ctx.rec.record(Step::Session, start.elapsed());
                    ctx.rec.session_done();
                }
                Some(Err(e)) => ctx.rec.error(e.kind()),
            }
        });
    }

    // The users of the sessions, each delivered to once per round.
    let mut users: Vec<&str> = (0..n)
        .map(|i| cfg.users[i % cfg.users.len()].0.as_str())
        .collect();
    users.sort_unstable();
    users.dedup();
    let template = cfg.maildir_template.clone().unwrap_or_default();
    let targets: Arc<Vec<(String, std::path::PathBuf)>> = Arc::new(
        users
            .iter()
            .map(|u| (u.to_string(), expand_template(&template, u)))
            .collect(),
    );

    for round in 0..rounds {
        let everyone_idle = ctx
            .board
            .wait_until(ctx.deadline, |b| b.settled.load(Ordering::Acquire) >= n)
            .await;
        if !everyone_idle {
            break;
        }
        let ctx2 = ctx.clone();
        let targets2 = targets.clone();
        let failures = tokio::task::spawn_blocking(move || {
            let mut failures = 0u64;
            for (user, dir) in targets2.iter() {
                if deliver(dir, &ctx2.board, user).is_err() {
                    failures += 1;
                }
            }
            failures
        })
        .await
        .unwrap_or(targets.len() as u64);
        for _ in 0..failures {
            ctx.rec.error("deliver");
        }
        let limit = (Instant::now() + cfg.timeout + SLICE * 2).min(ctx.deadline);
        ctx.board
            .wait_until(limit, |b| b.rounds().get(round).is_some_and(|&d| d >= n))
            .await;
    }
    ctx.board.finished.store(true, Ordering::Release);
    ctx.board.changed.notify_waiters();

    while let Some(r) = sessions.join_next().await {
        if let Err(e) = r {
            anyhow::bail!("an IDLE session panicked: {e}");
        }
    }
    Ok(())
}

async fn central_session(
    ctx: &Ctx,
    user: &str,
    pass: &str,
    noop_every: Option<Duration>,
    deliveries: u32,
    part: &mut Participant<'_>,
) -> Result<(), SessionError> {
    let (mut imap, tag, mut watch) = enter(ctx, user, pass, noop_every).await?;
    part.settle();
    let mut seen = 0u32;
    let mut last_noop = Instant::now();
    loop {
        if seen >= deliveries {
            break;
        }
        let finished = ctx.board.finished.load(Ordering::Acquire);
        if finished && ctx.board.time(user, watch.next).is_none() {
            break;
        }
        watch.check_overdue()?;
        if let Some(last) = watch
            .poll(&mut imap, noop_every, &mut last_noop, SLICE)
            .await?
        {
            seen = u32::try_from(last + 1).unwrap_or(u32::MAX);
            part.done_through(last);
        }
    }
    leave(ctx, imap, tag).await
}

/// Self-delivering mode (inside a mix): one session.
pub(super) async fn self_delivering(
    ctx: &Ctx,
    user: &str,
    pass: &str,
    noop_every: Option<Duration>,
    deliveries: u32,
) -> Result<(), SessionError> {
    let template = ctx
        .cfg
        .maildir_template
        .as_deref()
        .ok_or_else(|| SessionError::Setup("imap-idle needs the Maildir template".into()))?;
    let dir = expand_template(template, user);
    let (mut imap, tag, mut watch) = enter(ctx, user, pass, noop_every).await?;
    let mut last_noop = Instant::now();
    for _ in 0..deliveries {
        let (tmp, new) = deliver_prepare(&dir, user)
            .await
            .map_err(|e| SessionError::Setup(format!("delivery into {}: {e}", dir.display())))?;
        let mine = ctx.board.push(user, Instant::now());
        // The rename is one quick system call; doing it right here (not via the blocking
        // pool) keeps the noted instant exact.
        std::fs::rename(&tmp, &new)
            .map_err(|e| SessionError::Setup(format!("delivery into {}: {e}", dir.display())))?;
        let due = Instant::now() + ctx.cfg.timeout;
        while watch.next <= mine {
            let left = due.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ProtoError::Timeout("IDLE wake-up after a delivery").into());
            }
            watch
                .poll(&mut imap, noop_every, &mut last_noop, left.min(SLICE))
                .await?;
        }
    }
    leave(ctx, imap, tag).await
}

static DELIVERY_SEQ: AtomicU64 = AtomicU64::new(0);

/// A Maildir-style unique name: time, process and a counter.
fn unique_name() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let q = DELIVERY_SEQ.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}.M{}P{}Q{q}.postern-load",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id()
    )
}

fn message(user: &str, name: &str) -> Vec<u8> {
    format!(
        "From: postern-load <postern-load@localhost>\n\
         To: <{user}>\n\
         Subject: postern-load IDLE probe\n\
         Message-ID: <{name}@postern-load>\n\
         \n\
         Delivered by postern-load to measure how fast IDLE sessions learn of new mail.\n"
    )
    .into_bytes()
}

/// Writes a new message to `tmp/`; returns (tmp path, new path).
fn write_tmp(dir: &Path, user: &str) -> io::Result<(std::path::PathBuf, std::path::PathBuf)> {
    let name = unique_name();
    let tmp = dir.join("tmp").join(&name);
    let new = dir.join("new").join(&name);
    let body = message(user, &name);
    if let Err(e) = std::fs::write(&tmp, &body) {
        if e.kind() != io::ErrorKind::NotFound {
            return Err(e);
        }
        // A Maildir nobody has used yet.
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        std::fs::write(&tmp, &body)?;
    }
    Ok((tmp, new))
}

/// Delivers one message (blocking): written to `tmp/`, its instant noted on the board, then
/// renamed into `new/` where servers look. The instant is noted before the rename so that
/// no announcement can arrive before it is known.
fn deliver(dir: &Path, board: &Board, user: &str) -> io::Result<usize> {
    let (tmp, new) = write_tmp(dir, user)?;
    let idx = board.push(user, Instant::now());
    std::fs::rename(&tmp, &new)?;
    Ok(idx)
}

async fn deliver_prepare(
    dir: &Path,
    user: &str,
) -> io::Result<(std::path::PathBuf, std::path::PathBuf)> {
    let dir = dir.to_path_buf();
    let user = user.to_owned();
    tokio::task::spawn_blocking(move || write_tmp(&dir, &user))
        .await
        .map_err(io::Error::other)?
}
