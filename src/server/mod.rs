//! The I/O runtime: worker threads, listeners, connections, TLS and shutdown.
//!
//! This is the only part of Postern that touches sockets. It runs one compio (io_uring)
//! runtime per worker thread, each with its own `SO_REUSEPORT` listening sockets, and drives
//! the sans-IO protocol sessions: bytes from the socket go into a session, the session's
//! output and events come back out, and events that need blocking work go to shared, bounded
//! thread pools — one for password hashing, one for the mail store — so no event loop ever
//! stalls.

mod admin;
mod batch;
mod blocking;
mod conn;
mod control;
mod imap;
mod inbox;
pub(crate) mod limits;
mod listener;
mod live;
mod login;
mod notify;
mod pop3;
mod proxy;
mod race;
mod reload;
pub mod sdnotify;
mod sessions;
mod shutdown;
mod transport;
mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::auth::{AuthSettings, Authenticator};
use crate::config::{Config, ListenerKind};

pub use blocking::BlockingPool;
pub use limits::ConnectionLimits;
pub use reload::{ReloadError, ReloadReport};
pub use sessions::{SessionInfo, Target};
pub use shutdown::{Phase, Shutdown};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Load(#[from] crate::check::LoadError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    #[error("cannot create the admin socket {}: {source}", path.display())]
    Admin {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// State shared by every worker thread.
pub(crate) struct Shared {
    /// The configuration the server started with, for what only a restart changes.
    pub boot: Config,
    /// What a reload replaces (see [`live`]).
    live: ArcSwap<live::Live>,
    pub auth: Arc<Authenticator>,
    pub limits: Arc<ConnectionLimits>,
    pub users: Arc<limits::UserSessions>,
    pub shutdown: Shutdown,
    /// Password hashing: CPU-bound, one thread per core.
    pub pool: BlockingPool,
    /// Mail store work: bound by the disk, so more threads than cores.
    pub store_pool: BlockingPool,
    pub pop3: pop3::Pop3Service,
    pub imap: imap::ImapService,
    pub notifier: Arc<notify::Notifier>,
    pub control: Arc<control::Control>,
    pub sessions: Arc<sessions::Sessions>,
    pub reload: std::sync::Mutex<reload::ReloadState>,
}

impl Shared {
    /// The current reloadable settings.
    pub fn live(&self) -> Arc<live::Live> {
        self.live.load_full()
    }

    fn set_live(&self, live: live::Live) {
        self.live.store(Arc::new(live));
    }

    /// Marks the sessions matching `targets` ended and has their workers wake them; returns
    /// how many there were.
    pub fn end_sessions(&self, targets: &[Target]) -> usize {
        let per_worker = self.sessions.mark(targets);
        let mut n = 0;
        for (worker, entries) in per_worker.into_iter().enumerate() {
            n += entries.len();
            if !entries.is_empty() {
                self.control.send(worker, control::Order::Wake(entries));
            }
        }
        n
    }
}

/// A running server.
pub struct ServerHandle {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    admin: Option<admin::AdminSocket>,
}

impl ServerHandle {
    /// The addresses bound now, in configuration order (ports resolved if 0 was given).
    pub fn addrs(&self) -> Vec<(ListenerKind, SocketAddr)> {
        let state = self
            .shared
            .reload
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state
            .listeners
            .iter()
            .map(|a| (a.config.kind, a.bound))
            .collect()
    }

    /// The first bound address of a listener kind.
    pub fn addr(&self, kind: ListenerKind) -> Option<SocketAddr> {
        self.addrs()
            .into_iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, a)| a)
    }

    /// Remembers the file the configuration came from, so [`reload`](Self::reload) (and
    /// SIGHUP, and `postern reload`) can read it again.
    pub fn set_config_path(&self, path: &std::path::Path) {
        let mut state = self
            .shared
            .reload
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.path = Some(path.to_owned());
    }

    /// Re-reads the configuration file, the accounts and the certificates and applies them
    /// to new connections and logins, without dropping a session (see the reload module).
    pub fn reload(&self) -> Result<ReloadReport, ReloadError> {
        reload::reload(&self.shared)
    }

    /// Bytes the proxy has relayed since start: (through user space, by splice).
    pub fn relayed_bytes(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (proxy::COPIED.load(Relaxed), proxy::SPLICED.load(Relaxed))
    }

    /// The live sessions, oldest first.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.shared.sessions.list()
    }

    /// Ends the sessions matching `targets` (each says goodbye in its protocol); returns how
    /// many were told to end.
    pub fn end_sessions(&self, targets: &[Target]) -> usize {
        self.shared.end_sessions(targets)
    }

    /// Open client connections.
    pub fn connections(&self) -> usize {
        self.shared.limits.total()
    }

    /// The configured grace period for [`shutdown`](Self::shutdown).
    pub fn shutdown_grace(&self) -> Duration {
        self.shared.live().config.server.shutdown_grace
    }

    /// Graceful shutdown: stop accepting, let sessions finish for the configured grace
    /// period, then close the rest, and wait for the worker threads.
    pub fn shutdown(self) {
        let grace = self.shared.live().config.server.shutdown_grace;
        self.shutdown_with_grace(grace);
    }

    /// [`shutdown`](Self::shutdown) with an explicit grace period.
    pub fn shutdown_with_grace(mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        self.shared.shutdown.advance(Phase::Draining);
        if let Some(admin) = self.admin.take() {
            admin.stop();
        }
        while self.shared.limits.total() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.shared.shutdown.advance(Phase::Closing);
        for w in self.workers {
            let _ = w.join();
        }
    }
}

/// Loads accounts and certificates, binds every listener on every worker and starts serving.
pub fn start(config: Config) -> Result<ServerHandle, StartError> {
    let crate::check::Loaded {
        tls,
        proxy_tls,
        routes,
        accounts: db,
    } = crate::check::load_files(&config)?;
    let auth = Arc::new(Authenticator::new(
        db,
        AuthSettings {
            cache_size: config.auth.cache_size,
            cache_ttl: config.auth.cache_ttl,
            failure_delay: config.auth.failure_delay,
            max_failure_delay: config.auth.max_failure_delay,
        },
    ));
    let workers = config.worker_count();
    raise_fd_limit(config.server.max_connections);
    let hash_threads = match config.auth.hash_threads {
        0 => workers,
        n => n,
    };
    // Room for a login from every admitted connection at once: a storm queues, it is not
    // refused (each queued job is a closure of a few hundred bytes).
    let queue = config.server.max_connections.max(4096);
    let pool = BlockingPool::new(hash_threads, queue).map_err(StartError::Thread)?;
    let store_threads = match config.mail.store_threads {
        0 => (4 * workers).max(8),
        n => n,
    };
    let store_pool = BlockingPool::new(store_threads, queue).map_err(StartError::Thread)?;

    let mut per_worker: Vec<
        Vec<(
            u64,
            Arc<crate::config::ListenerConfig>,
            std::net::TcpListener,
        )>,
    > = (0..workers).map(|_| Vec::new()).collect();
    let mut active = Vec::new();
    for (id, l) in config.listeners.iter().enumerate() {
        let (sockets, bound) =
            listener::bind_reuseport(l.address, workers).map_err(|source| StartError::Bind {
                addr: l.address,
                source,
            })?;
        active.push(reload::Active {
            id: id as u64,
            config: l.clone(),
            bound,
        });
        let shared_config = Arc::new(l.clone());
        for (w, s) in sockets.into_iter().enumerate() {
            per_worker[w].push((id as u64, shared_config.clone(), s));
        }
    }

    let notifier = notify::Notifier::new(workers);
    let imap = imap::ImapService::new(&config, notifier.clone(), workers);
    start_watcher(&imap.registry, &store_pool);
    let live = live::Live::build(config.clone(), tls, proxy_tls, routes, &auth.db());
    let addrs: Vec<_> = active.iter().map(|a| (a.config.kind, a.bound)).collect();
    let shared = Arc::new(Shared {
        limits: ConnectionLimits::new(
            config.server.max_connections,
            config.server.max_connections_per_ip,
        ),
        users: limits::UserSessions::new(),
        reload: std::sync::Mutex::new(reload::ReloadState {
            path: None,
            next_listener: active.len() as u64,
            listeners: active,
            generation: 0,
        }),
        boot: config,
        live: ArcSwap::from_pointee(live),
        auth,
        shutdown: Shutdown::default(),
        pool,
        store_pool,
        pop3: pop3::Pop3Service::default(),
        imap,
        notifier,
        control: control::Control::new(workers),
        sessions: sessions::Sessions::new(workers),
    });
    let mut threads = Vec::new();
    for (index, listeners) in per_worker.into_iter().enumerate() {
        let shared = shared.clone();
        let t = std::thread::Builder::new()
            .name(format!("postern-worker-{index}"))
            .spawn(move || worker::run(index, shared, listeners))
            .map_err(StartError::Thread)?;
        threads.push(t);
    }
    for (kind, addr) in &addrs {
        tracing::info!(kind = kind.name(), %addr, workers, "listening");
    }
    let admin = match shared.boot.admin.socket.clone() {
        Some(path) => Some(
            admin::AdminSocket::start(&path, shared.clone())
                .map_err(|source| StartError::Admin { path, source })?,
        ),
        None => None,
    };
    Ok(ServerHandle {
        shared,
        workers: threads,
        admin,
    })
}

/// Starts the inotify watcher that refreshes folders changed behind our back (an MDA
/// delivering, Dovecot changing flags). Without it IMAP still works, only IDLE notices
/// changes more slowly.
fn start_watcher(registry: &Arc<crate::mailbox::Registry>, pool: &BlockingPool) {
    let pool = pool.clone();
    let on_change: crate::mailbox::watch::OnChange = Arc::new(move |mailbox| {
        let refresh = move || {
            if let Err(e) = mailbox.refresh() {
                tracing::warn!(dir = %mailbox.dir().display(), "cannot refresh folder: {e}");
            }
        };
        if pool.spawn(refresh).is_err() {
            tracing::warn!("blocking pool is full; a folder change is seen at the next command");
        }
    });
    match crate::mailbox::watch::Watcher::start(on_change) {
        Ok(watcher) => registry.set_watcher(watcher),
        Err(e) => tracing::warn!("cannot start inotify; IDLE falls back to polling: {e}"),
    }
}

/// Raises the soft open-file limit to the hard limit: each connection is a descriptor, and the
/// usual soft default (1024) would cap a mail server at a few hundred clients.
fn raise_fd_limit(max_connections: usize) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if (limit as usize) < max_connections + 64 => tracing::warn!(
            limit,
            max_connections,
            "the open-file limit is below server.max_connections; raise `nofile` (see tuning/)"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot raise the open-file limit: {e}"),
    }
}
