//! The I/O runtime: worker threads, listeners, connections, TLS and shutdown.
//!
//! This is the only part of Postern that touches sockets. It runs one compio (io_uring)
//! runtime per worker thread, each with its own `SO_REUSEPORT` listening sockets, and drives
//! the sans-IO protocol sessions: bytes from the socket go into a session, the session's
//! output and events come back out, and events that need blocking work go to shared, bounded
//! thread pools — one for password hashing, one for the mail store — so no event loop ever
//! stalls.

mod batch;
mod blocking;
mod conn;
mod imap;
mod limits;
mod listener;
mod login;
mod notify;
mod pop3;
mod shutdown;
mod transport;
mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::auth::{AuthSettings, Authenticator};
use crate::config::{Config, ListenerKind};

pub use blocking::BlockingPool;
pub use limits::ConnectionLimits;
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
}

/// State shared by every worker thread.
pub(crate) struct Shared {
    pub config: Config,
    pub auth: Arc<Authenticator>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub limits: Arc<ConnectionLimits>,
    pub shutdown: Shutdown,
    /// Password hashing: CPU-bound, one thread per core.
    pub pool: BlockingPool,
    /// Mail store work: bound by the disk, so more threads than cores.
    pub store_pool: BlockingPool,
    pub hostname: String,
    pub pop3: pop3::Pop3Service,
    pub imap: imap::ImapService,
    pub notifier: Arc<notify::Notifier>,
}

/// A running server.
pub struct ServerHandle {
    shared: Arc<Shared>,
    addrs: Vec<(ListenerKind, SocketAddr)>,
    workers: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    /// The addresses actually bound, in configuration order (ports resolved if 0 was given).
    pub fn addrs(&self) -> &[(ListenerKind, SocketAddr)] {
        &self.addrs
    }

    /// The first bound address of a listener kind.
    pub fn addr(&self, kind: ListenerKind) -> Option<SocketAddr> {
        self.addrs.iter().find(|(k, _)| *k == kind).map(|(_, a)| *a)
    }

    /// Open client connections.
    pub fn connections(&self) -> usize {
        self.shared.limits.total()
    }

    /// Graceful shutdown: stop accepting, let sessions finish for the configured grace
    /// period, then close the rest, and wait for the worker threads.
    pub fn shutdown(self) {
        let grace = self.shared.config.server.shutdown_grace;
        self.shutdown_with_grace(grace);
    }

    /// [`shutdown`](Self::shutdown) with an explicit grace period.
    pub fn shutdown_with_grace(self, grace: Duration) {
        let deadline = Instant::now() + grace;
        self.shared.shutdown.advance(Phase::Draining);
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
    let crate::check::Loaded { tls, accounts: db } = crate::check::load_files(&config)?;
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
    let hostname = if config.server.hostname.is_empty() {
        system_hostname()
    } else {
        config.server.hostname.clone()
    };

    let mut per_worker: Vec<Vec<(ListenerKind, std::net::TcpListener)>> =
        (0..workers).map(|_| Vec::new()).collect();
    let mut addrs = Vec::new();
    for l in &config.listeners {
        let (sockets, bound) =
            listener::bind_reuseport(l.address, workers).map_err(|source| StartError::Bind {
                addr: l.address,
                source,
            })?;
        addrs.push((l.kind, bound));
        for (w, s) in sockets.into_iter().enumerate() {
            per_worker[w].push((l.kind, s));
        }
    }

    let pop3 = pop3::Pop3Service::new(&config, &auth, tls.is_some(), &hostname);
    let notifier = notify::Notifier::new(workers);
    let imap = imap::ImapService::new(
        &config,
        &auth.db(),
        tls.is_some(),
        notifier.clone(),
        workers,
    );
    start_watcher(&imap.registry, &store_pool);
    let shared = Arc::new(Shared {
        limits: ConnectionLimits::new(
            config.server.max_connections,
            config.server.max_connections_per_ip,
        ),
        config,
        auth,
        tls,
        shutdown: Shutdown::default(),
        pool,
        store_pool,
        hostname,
        pop3,
        imap,
        notifier,
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
    Ok(ServerHandle {
        shared,
        addrs,
        workers: threads,
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

fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
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
