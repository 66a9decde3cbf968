//! `login-storm`: connect, (TLS,) authenticate, log out, over and over.
//!
//! This is the cost of a session itself — accept, TLS handshake, password check, process or
//! state set-up and tear-down — without any mail traffic: what a server faces when thousands
//! of phones reconnect at once after a network outage.

use tokio::time::Instant;

use super::{Ctx, Protocol, SessionError};
use crate::metrics::Step;

pub(super) async fn session(ctx: &Ctx, user: &str, pass: &str) -> Result<(), SessionError> {
    match ctx.cfg.login_protocol {
        Protocol::Pop3 => {
            let mut pop = ctx.pop3_login(user, pass).await?;
            let t = Instant::now();
            pop.quit().await?;
            ctx.rec.record(Step::Logout, t.elapsed());
        }
        Protocol::Imap => {
            let mut imap = ctx.imap_login(user, pass).await?;
            let t = Instant::now();
            imap.logout().await?;
            ctx.rec.record(Step::Logout, t.elapsed());
        }
    }
    Ok(())
}
