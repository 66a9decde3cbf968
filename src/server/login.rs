//! Checking a client's credentials, the same way for every protocol: the success cache,
//! password hashing on the blocking pool, and the per-IP penalty for failures.
//!
//! What a protocol does after a successful check (open a maildrop, find the mail root) is
//! its own business; what it does after a failure is always the same, and is done here, so
//! POP3 and IMAP cannot differ in how they slow down a guesser.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Shared;
use crate::auth::{Account, AuthResult, Credentials};
use crate::config::Protocol;

/// The outcome of a check.
pub(crate) enum Verified {
    /// The credentials are right.
    Ok(Arc<Account>),
    /// Wrong credentials or no such user; the penalty delay has already been served.
    Failed,
    /// The credentials are right, but the account's own login type does not allow this
    /// mechanism on this connection.
    TlsRequired,
    /// The account database could not answer, or the server is too busy to check now.
    TempFail(&'static str),
}

/// Verifies credentials for a client at `ip`, on a connection of `protocol` that is or is not
/// encrypted. The protocol's own login type was applied before the mechanism ran; here the
/// account's may tighten it.
pub(crate) async fn verify(
    creds: Credentials,
    ip: IpAddr,
    protocol: Protocol,
    tls: bool,
    shared: &Arc<Shared>,
) -> Verified {
    let cleartext = matches!(creds, Credentials::Password { .. });
    let auth = shared.auth.clone();
    let result = match auth.check_cached(&creds) {
        Some(result) => result,
        None => {
            let verifier = auth.clone();
            match shared.pool.run(move || verifier.verify(&creds)).await {
                Ok(result) => result,
                Err(_) => return Verified::TempFail("Server is busy, try again later."),
            }
        }
    };
    match result {
        AuthResult::Success(account) => {
            auth.penalty().record_success(ip);
            let live = shared.live();
            let configured = match protocol {
                Protocol::Pop3 => live.config.pop3.login_type,
                Protocol::Imap => live.config.imap.login_type,
            };
            let login_type = account.login_type(protocol, configured);
            let allowed = if cleartext {
                login_type.allows_cleartext_password(tls)
            } else {
                login_type.allows_challenge_response(tls)
            };
            if allowed {
                Verified::Ok(account)
            } else {
                Verified::TlsRequired
            }
        }
        AuthResult::Failure => {
            let delay = auth.penalty().record_failure(ip);
            compio::time::sleep(delay).await;
            Verified::Failed
        }
        AuthResult::TempFail(reason) => {
            tracing::error!("authentication problem: {reason}");
            Verified::TempFail("Temporary authentication failure.")
        }
    }
}

/// A string unique to this connection, `<pid.counter.nanos@host>`: POP3's APOP timestamp in
/// the greeting, and the CRAM-MD5 challenge of both protocols.
pub(crate) fn challenge(hostname: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("<{}.{n}.{nanos}@{hostname}>", std::process::id())
}
