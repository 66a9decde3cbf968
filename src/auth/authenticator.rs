//! The one object protocol code asks "is this client who it claims to be?".
//!
//! It ties together the account database (swappable at run time for live reloads), the
//! success cache (so repeat logins skip the expensive hash), the decoy verification (so unknown
//! users cost as much as known ones), and the per-address failure penalty. It is shared by all
//! worker threads through an `Arc`; verification itself is synchronous and CPU-bound, which is
//! why the cheap [`Authenticator::check_cached`] is separate from [`Authenticator::verify`].

use super::cache::SuccessCache;
use super::credentials::Credentials;
use super::decoy;
use super::passwd::{Account, PasswdDb};
use super::penalty::Penalty;
use super::scheme::{Secret, Verdict};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// The outcome of an authentication attempt.
#[derive(Debug, Clone)]
pub enum AuthResult {
    Success(Arc<Account>),
    /// Unknown user, wrong password, a mechanism the stored secret cannot serve (e.g. APOP
    /// against a hashed secret), an authzid different from the user, or `nologin`: all
    /// indistinguishable to the client.
    Failure,
    /// Something broke on our side (e.g. a malformed hash in the passwd-file for this user).
    /// The message is for logs.
    TempFail(String),
}

/// Tuning for the [`Authenticator`].
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Maximum entries in the success cache (0 disables it).
    pub cache_size: usize,
    /// How long a successful verification may be reused.
    pub cache_ttl: Duration,
    /// First failure penalty delay (Dovecot: 2 s).
    pub failure_delay: Duration,
    /// Cap on the failure penalty delay (Dovecot's anvil: 15 s).
    pub max_failure_delay: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            cache_size: 1024,
            cache_ttl: Duration::from_secs(3600),
            failure_delay: Duration::from_secs(2),
            max_failure_delay: Duration::from_secs(15),
        }
    }
}

/// The database together with the decoys built for it.
struct Loaded {
    db: Arc<PasswdDb>,
    /// Verified for unknown users' passwords; costs what this database's accounts cost.
    decoy: Secret,
    /// Verified for unknown users' APOP and CRAM-MD5, which real accounts answer cheaply.
    cheap_decoy: Secret,
}

impl Loaded {
    fn new(db: PasswdDb) -> Self {
        let decoy = decoy::decoy_for(&db);
        let random: [u8; 16] = rand::random();
        let cheap_decoy = Secret::Plain(random.iter().map(|b| format!("{b:02x}")).collect());
        Loaded {
            db: Arc::new(db),
            decoy,
            cheap_decoy,
        }
    }
}

/// Verifies credentials against the passwd-file. Thread-safe (Send + Sync).
pub struct Authenticator {
    loaded: RwLock<Arc<Loaded>>,
    cache: SuccessCache,
    cache_enabled: bool,
    penalty: Penalty,
    /// How many decoy verifications ran; lets tests prove unknown users are not short-cut.
    decoy_runs: AtomicU64,
}

impl Authenticator {
    pub fn new(db: PasswdDb, settings: AuthSettings) -> Self {
        Authenticator {
            loaded: RwLock::new(Arc::new(Loaded::new(db))),
            cache: SuccessCache::new(settings.cache_size, settings.cache_ttl),
            cache_enabled: settings.cache_size > 0 && !settings.cache_ttl.is_zero(),
            penalty: Penalty::new(settings.failure_delay, settings.max_failure_delay),
            decoy_runs: AtomicU64::new(0),
        }
    }

    /// Swaps in a re-read passwd-file (live reload) and clears the success cache. Logins
    /// already being verified finish against the database they started with.
    pub fn replace_db(&self, db: PasswdDb) {
        let loaded = Arc::new(Loaded::new(db));
        *self.loaded.write().unwrap_or_else(PoisonError::into_inner) = loaded;
        self.cache.clear();
    }

    /// The current database.
    pub fn db(&self) -> Arc<PasswdDb> {
        Arc::clone(&self.current().db)
    }

    /// The fast path, cheap enough for an event loop (one SHA-256, no password hashing):
    /// `Some(Success)` if this exact user, password and stored secret verified recently.
    /// `None` means "ask [`Authenticator::verify`] on a blocking thread"; it never answers
    /// `Failure`, so a miss reveals nothing.
    pub fn check_cached(&self, creds: &Credentials) -> Option<AuthResult> {
        let Credentials::Password {
            authzid,
            user,
            password,
        } = creds
        else {
            return None;
        };
        if !self.cache_enabled || password.is_empty() || authzid_differs(authzid, user) {
            return None;
        }
        let account = self.current().db.lookup(user)?;
        if account.nologin {
            return None;
        }
        let key = self.cache.key(user, password, &account.secret.fingerprint);
        self.cache
            .contains(&key, Instant::now())
            .then_some(AuthResult::Success(account))
    }

    /// The slow path, for a blocking thread: full verification. Unknown users are verified
    /// against a decoy of realistic cost so the time taken does not reveal whether the user
    /// exists. Successful password verifications are remembered for
    /// [`Authenticator::check_cached`].
    pub fn verify(&self, creds: &Credentials) -> AuthResult {
        let loaded = self.current();
        let user = creds.user();
        if let Credentials::Password { authzid, user, .. } = creds
            && authzid_differs(authzid, user)
        {
            // Refused whatever the password; answering early reveals nothing about the user.
            tracing::debug!(
                user,
                authzid = authzid.as_deref(),
                "authzid differs from user"
            );
            return AuthResult::Failure;
        }
        let Some(account) = loaded.db.lookup(user) else {
            self.run_decoy(&loaded, creds);
            tracing::debug!(user, "unknown user");
            return AuthResult::Failure;
        };
        let secret = &account.secret.parsed;
        if secret.never_matches() {
            // An instant refusal would set these accounts apart from real ones.
            self.run_decoy(&loaded, creds);
        }
        let verdict = match creds {
            Credentials::Password { password, .. } => secret.verify_password(password),
            Credentials::Apop {
                timestamp, digest, ..
            } => secret.verify_apop(timestamp, digest),
            Credentials::CramMd5 {
                challenge, digest, ..
            } => secret.verify_cram(challenge, digest),
        };
        match verdict {
            Verdict::Match if account.nologin => {
                tracing::debug!(user, "login refused: nologin");
                AuthResult::Failure
            }
            Verdict::Match => {
                if let Credentials::Password { password, .. } = creds
                    && self.cache_enabled
                {
                    let key = self.cache.key(user, password, &account.secret.fingerprint);
                    self.cache.insert(key, Instant::now());
                }
                AuthResult::Success(account)
            }
            Verdict::Mismatch => {
                tracing::debug!(user, scheme = secret.name(), "wrong credentials");
                AuthResult::Failure
            }
            Verdict::Unusable => {
                tracing::debug!(
                    user,
                    scheme = secret.name(),
                    "stored scheme cannot serve this mechanism"
                );
                AuthResult::Failure
            }
            Verdict::Broken(reason) => {
                tracing::warn!(user, "cannot verify: {reason}");
                AuthResult::TempFail(format!("user {user}: {reason}"))
            }
        }
    }

    /// The per-address failure penalty.
    pub fn penalty(&self) -> &Penalty {
        &self.penalty
    }

    fn current(&self) -> Arc<Loaded> {
        // Only ever replaced whole, so a poisoned lock still holds a consistent value.
        Arc::clone(&self.loaded.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn run_decoy(&self, loaded: &Loaded, creds: &Credentials) {
        self.decoy_runs.fetch_add(1, Ordering::Relaxed);
        // The decoy matches nothing, only the work matters; black_box keeps the optimiser from
        // deciding the unused verdict need not be computed.
        std::hint::black_box(match creds {
            Credentials::Password { password, .. } => loaded.decoy.verify_password(password),
            Credentials::Apop {
                timestamp, digest, ..
            } => loaded.cheap_decoy.verify_apop(timestamp, digest),
            Credentials::CramMd5 {
                challenge, digest, ..
            } => loaded.cheap_decoy.verify_cram(challenge, digest),
        });
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("db", &self.current().db)
            .field("cached", &self.cache.len())
            .field("penalty", &self.penalty)
            .finish()
    }
}

/// SASL PLAIN lets a client ask to act as someone else; we never allow that.
fn authzid_differs(authzid: &Option<String>, user: &str) -> bool {
    authzid.as_deref().is_some_and(|z| z != user)
}

#[cfg(test)]
mod tests;
