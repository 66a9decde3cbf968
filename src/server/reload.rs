//! Live reload: re-read the configuration, the accounts and the certificates, and apply them
//! without a restart and without dropping a session.
//!
//! A reload is all or nothing. Everything that can fail — parsing the file, loading the
//! passwd-file and the certificates, binding new listeners — happens before anything is
//! changed; any failure leaves the old settings in force and is reported with the same
//! message `postern check-config` would print. Only then is the new state published:
//!
//! - the account database is swapped (logins from now on use it; the success cache is
//!   cleared, so a changed password is never answered from memory);
//! - a new [`Live`] is stored: connections accepted from now on get the new greeting,
//!   capabilities, login type and certificates, and logins from now on the new retrieval
//!   format and mail settings; sessions already open keep the settings they started with;
//! - listeners added to the configuration are opened on every worker, removed ones closed
//!   (sessions they accepted carry on);
//! - with `admin.end_disabled_sessions`, sessions of accounts that lost a protocol are ended.
//!
//! A few settings shape structures built once at start (thread counts, the index layout, the
//! admin socket itself); a change to one of them is reported and waits for a restart.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError};

use super::control::Order;
use super::live::Live;
use super::sessions::Target;
use super::{Shared, listener};
use crate::config::{Config, ConfigError, ListenerConfig, Protocol};

/// Why a reload was refused. The old configuration stays in force.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the server was not started from a configuration file, so it cannot re-read one")]
    NoConfigFile,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Load(#[from] crate::check::LoadError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What a reload did.
#[derive(Debug, Clone)]
pub struct ReloadReport {
    /// Counts reloads since start.
    pub generation: u64,
    pub accounts: usize,
    pub opened: Vec<(ListenerConfig, SocketAddr)>,
    pub closed: Vec<ListenerConfig>,
    /// Sessions ended because their account lost the protocol.
    pub ended: usize,
    /// Changed settings that only a restart applies.
    pub restart_only: Vec<&'static str>,
}

impl std::fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "reloaded (generation {}): {} accounts",
            self.generation, self.accounts
        )?;
        for (l, bound) in &self.opened {
            write!(f, "; opened {} on {bound}", l.kind.name())?;
        }
        for l in &self.closed {
            write!(f, "; closed {} on {}", l.kind.name(), l.address)?;
        }
        if self.ended > 0 {
            write!(f, "; ended {} sessions of disabled accounts", self.ended)?;
        }
        for key in &self.restart_only {
            write!(f, "; {key} changed, applies at the next restart")?;
        }
        Ok(())
    }
}

/// A listener the server has open.
pub(crate) struct Active {
    pub id: u64,
    pub config: ListenerConfig,
    pub bound: SocketAddr,
}

/// What a reload needs to remember between reloads.
pub(crate) struct ReloadState {
    pub path: Option<PathBuf>,
    pub listeners: Vec<Active>,
    pub next_listener: u64,
    pub generation: u64,
}

/// Reloads from the configuration file the server was started with.
pub(crate) fn reload(shared: &Arc<Shared>) -> Result<ReloadReport, ReloadError> {
    // One reload at a time: two at once would race on the listener table.
    let mut state = shared.reload.lock().unwrap_or_else(PoisonError::into_inner);
    let path = state.path.clone().ok_or(ReloadError::NoConfigFile)?;
    super::sdnotify::reloading();
    let result = prepare_and_apply(shared, &mut state, &path);
    match &result {
        Ok(report) => {
            tracing::info!("{}: {report}", path.display());
            super::sdnotify::notify(&format!("READY=1\nSTATUS={report}"));
        }
        Err(e) => {
            tracing::error!("reload refused, the previous configuration stays in force: {e}");
            super::sdnotify::notify(&format!("READY=1\nSTATUS=reload refused: {e}"));
        }
    }
    result
}

fn prepare_and_apply(
    shared: &Arc<Shared>,
    state: &mut ReloadState,
    path: &std::path::Path,
) -> Result<ReloadReport, ReloadError> {
    let mut config = Config::load(path)?;
    let loaded = crate::check::load_files(&config)?;
    let restart_only = keep_restart_only(&shared.boot, &mut config);

    // Bind every new listener before changing anything, so a port in use refuses the
    // whole reload. Dropping `opened` on an error closes what was bound.
    let workers = shared.control.workers();
    let mut opened: Vec<(ListenerConfig, SocketAddr, Vec<std::net::TcpListener>)> = Vec::new();
    for l in &config.listeners {
        if state.listeners.iter().any(|a| a.config == *l) || opened.iter().any(|(c, ..)| c == l) {
            continue;
        }
        let (sockets, bound) =
            listener::bind_reuseport(l.address, workers).map_err(|source| ReloadError::Bind {
                addr: l.address,
                source,
            })?;
        opened.push((l.clone(), bound, sockets));
    }

    // From here on nothing fails.
    let old_db = shared.auth.db();
    state.generation += 1;
    let live = Live::build(
        config,
        loaded.tls,
        loaded.proxy_tls,
        loaded.routes,
        &loaded.accounts,
    );
    let accounts = loaded.accounts.len();
    shared.auth.replace_db(loaded.accounts);
    shared.limits.set(
        live.config.server.max_connections,
        live.config.server.max_connections_per_ip,
    );
    let end_disabled = live.config.admin.end_disabled_sessions;
    let wanted = live.config.listeners.clone();
    shared.set_live(live);

    let mut closed = Vec::new();
    state.listeners.retain(|a| {
        if wanted.contains(&a.config) {
            return true;
        }
        for worker in 0..workers {
            shared.control.send(worker, Order::Unlisten { id: a.id });
        }
        closed.push(a.config.clone());
        false
    });
    let mut report_opened = Vec::new();
    for (config, bound, sockets) in opened {
        let id = state.next_listener;
        state.next_listener += 1;
        let listener = Arc::new(config.clone());
        for (worker, socket) in sockets.into_iter().enumerate() {
            shared.control.send(
                worker,
                Order::Listen {
                    id,
                    listener: listener.clone(),
                    socket,
                },
            );
        }
        state.listeners.push(Active {
            id,
            config: config.clone(),
            bound,
        });
        report_opened.push((config, bound));
    }

    let ended = if end_disabled {
        end_sessions_of_disabled(shared, &old_db)
    } else {
        0
    };
    Ok(ReloadReport {
        generation: state.generation,
        accounts,
        opened: report_opened,
        closed,
        ended,
        restart_only,
    })
}

/// Ends sessions whose account may no longer use their protocol: removed, `nologin`, or
/// switched off. Returns how many were told to end.
fn end_sessions_of_disabled(shared: &Arc<Shared>, old_db: &crate::auth::PasswdDb) -> usize {
    let db = shared.auth.db();
    let mut targets = Vec::new();
    let mut users: Vec<String> = shared
        .sessions
        .list()
        .into_iter()
        .filter_map(|s| s.user)
        .collect();
    users.sort();
    users.dedup();
    for user in users {
        let now = db.lookup(&user);
        for protocol in [Protocol::Pop3, Protocol::Imap] {
            let allowed = now
                .as_ref()
                .is_some_and(|a| !a.nologin && a.enabled(protocol));
            // Only what this reload changed: a session that logged in while the account
            // was already off (impossible today) is not this reload's business.
            let was_allowed = old_db
                .lookup(&user)
                .is_some_and(|a| !a.nologin && a.enabled(protocol));
            if was_allowed && !allowed {
                targets.push(Target::UserProtocol(user.clone(), protocol));
            }
        }
    }
    if targets.is_empty() {
        return 0;
    }
    shared.end_sessions(&targets)
}

/// Settings that structures built at start depend on: a reload keeps the running values and
/// says which ones changed.
fn keep_restart_only(boot: &Config, new: &mut Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    macro_rules! keep {
        ($($field:ident).+, $name:literal) => {
            if new.$($field).+ != boot.$($field).+ {
                changed.push($name);
                new.$($field).+ = boot.$($field).+.clone();
            }
        };
    }
    keep!(server.workers, "server.workers");
    keep!(server.read_buffers, "server.read_buffers");
    keep!(mail.store_threads, "mail.store_threads");
    keep!(auth.hash_threads, "auth.hash_threads");
    keep!(auth.cache_size, "auth.cache_size");
    keep!(auth.cache_ttl, "auth.cache_ttl");
    keep!(auth.failure_delay, "auth.failure_delay");
    keep!(auth.max_failure_delay, "auth.max_failure_delay");
    keep!(imap.cached_headers, "imap.cached_headers");
    keep!(admin.socket, "admin.socket");
    changed
}
